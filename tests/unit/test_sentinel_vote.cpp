// The sentinel majority rule (issue 10, defect 1): a majority of all known sentinels,
// each counted once, is needed to name a master; answering sentinels alone are not enough.
#include <catch2/catch.hpp>

#include "proxy/sentinel/sentinel_vote.h"

using sp::proxy::count_votes;
using sp::proxy::majority_stopped_listing;
using sp::proxy::NodeAddress;
using sp::proxy::SentinelBallot;
using Kind = sp::proxy::VoteOutcome::Kind;

namespace {
const NodeAddress kReal{"127.0.0.1", 6379};
const NodeAddress kRogue{"127.0.0.1", 7000};
}  // namespace

TEST_CASE("sentinel vote: all answering and agreeing is a majority", "[sentinel_vote]") {
    auto v = count_votes({{"a", true, kReal}, {"b", true, kReal}, {"c", true, kReal}});
    CHECK(v.kind == Kind::majority);
    CHECK(v.master == kReal);
    CHECK(v.votes == 3);
    CHECK(v.known == 3);
    CHECK(v.needed == 2);
}

TEST_CASE("sentinel vote: a lone answering rogue among four known is a minority",
          "[sentinel_vote]") {
    // Three real sentinels frozen, the fourth names another Redis under the same name.
    auto v = count_votes(
        {{"a", false, {}}, {"b", false, {}}, {"c", false, {}}, {"rogue", true, kRogue}});
    CHECK(v.kind == Kind::minority);
    CHECK_FALSE(v.master);
    CHECK(v.answering == 1);
    CHECK(v.known == 4);
    CHECK(v.needed == 3);
}

TEST_CASE("sentinel vote: at start-up one of two configured is not enough", "[sentinel_vote]") {
    auto v = count_votes({{"addr 127.0.0.1:1", false, {}}, {"rogue", true, kRogue}});
    CHECK(v.kind == Kind::minority);
    CHECK(v.needed == 2);
}

TEST_CASE("sentinel vote: 3 of 4 known name the real master", "[sentinel_vote]") {
    auto v = count_votes(
        {{"a", true, kReal}, {"b", true, kReal}, {"c", true, kReal}, {"rogue", true, kRogue}});
    CHECK(v.kind == Kind::majority);
    CHECK(v.master == kReal);
    CHECK(v.votes == 3);
}

TEST_CASE("sentinel vote: a majority answering but split is disagreement", "[sentinel_vote]") {
    auto v = count_votes({{"a", true, kReal}, {"b", true, kRogue}, {"c", false, {}}});
    CHECK(v.kind == Kind::disagree);
    CHECK_FALSE(v.master);
}

TEST_CASE("sentinel vote: one sentinel under two addresses counts once", "[sentinel_vote]") {
    // "svc" and "a" are one sentinel (same run id): it must not outvote the others.
    auto v =
        count_votes({{"a", true, kRogue}, {"a", true, kRogue}, {"b", false, {}}, {"c", false, {}}});
    CHECK(v.known == 3);
    CHECK(v.answering == 1);
    CHECK(v.kind == Kind::minority);
}

TEST_CASE("sentinel vote: nobody answering", "[sentinel_vote]") {
    auto v = count_votes({{"a", false, {}}, {"b", false, {}}});
    CHECK(v.kind == Kind::none_answering);
    CHECK(v.describe() == "0 of 2 known sentinels answering, a majority is 2");
}

TEST_CASE("sentinel vote: answering without naming a master is no vote", "[sentinel_vote]") {
    auto v = count_votes({{"a", true, {}}, {"b", true, {}}, {"c", true, kReal}});
    CHECK(v.kind == Kind::disagree);
}

TEST_CASE("sentinel vote: a learned sentinel is forgotten only by a majority", "[sentinel_vote]") {
    CHECK_FALSE(majority_stopped_listing(1, 3));
    CHECK(majority_stopped_listing(2, 3));
    CHECK_FALSE(majority_stopped_listing(2, 4));
    CHECK_FALSE(majority_stopped_listing(0, 0));
}
