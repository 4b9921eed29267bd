// The sentinel majority rule (issue 10, defect 1): a majority of all known sentinels,
// each counted once, is needed to name a master; answering sentinels alone are not enough.
#include <catch2/catch.hpp>

#include "proxy/sentinel/sentinel_vote.h"

using namespace sp::proxy;  // the vote's functions and types
using Kind = VoteOutcome::Kind;

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
    // Issue 20: a sentinel that monitors no master of that name (restarted with an empty
    // config) abstains. It neither completes a majority nor makes a disagreement: with
    // only one real answer this is a minority (keep the verified master), not "disagree"
    // (hold everything).
    auto v = count_votes({{"a", true, {}}, {"b", true, {}}, {"c", true, kReal}});
    CHECK(v.kind == Kind::minority);
    CHECK(v.answering == 1);
    CHECK(v.abstaining == 2);
    CHECK(v.known == 3);
    CHECK(v.describe() ==
          "1 of 3 known sentinels answering, a majority is 2; 2 monitor no such master");
}

TEST_CASE("sentinel vote: a restarted empty sentinel does not stop two agreeing ones",
          "[sentinel_vote]") {
    auto v = count_votes({{"a", true, kReal}, {"b", true, kReal}, {"c", true, {}}});
    CHECK(v.kind == Kind::majority);
    CHECK(v.master == kReal);
    CHECK(v.votes == 2);
    // and with one of the two others down, the abstainer makes no disagreement
    auto w = count_votes({{"a", true, kReal}, {"b", false, {}}, {"c", true, {}}});
    CHECK(w.kind == Kind::minority);
}

TEST_CASE("sentinel vote: a learned sentinel is forgotten only by a majority", "[sentinel_vote]") {
    CHECK_FALSE(majority_stopped_listing(1, 3));
    CHECK(majority_stopped_listing(2, 3));
    CHECK_FALSE(majority_stopped_listing(2, 4));
    CHECK_FALSE(majority_stopped_listing(0, 0));
}

// Issue 20: identity. One address is one sentinel, however it is learned.
TEST_CASE("sentinel identity: a configured sentinel down at start is the one listed there",
          "[sentinel_vote]") {
    // Configured a, b, c; c is down and never answered MYID. a and b list c's run id at
    // c's address: that is one sentinel, not two (it was 4 known, a majority 3).
    std::vector<SentinelLinkView> links{
        {"127.0.0.1:1", "127.0.0.1:1", "A", true, kReal},
        {"127.0.0.1:2", "127.0.0.1:2", "B", true, kReal},
        {"127.0.0.1:3", "", "", false, {}},
    };
    SentinelDirectory dir{{"127.0.0.1:1", "A"}, {"127.0.0.1:2", "B"}, {"127.0.0.1:3", "C"}};
    auto v = count_votes(ballots_for(links, dir));
    CHECK(v.known == 3);
    CHECK(v.kind == Kind::majority);
    CHECK(v.master == kReal);
}

TEST_CASE("sentinel identity: a configured host name matches its resolved listed address",
          "[sentinel_vote]") {
    std::vector<SentinelLinkView> links{
        {"127.0.0.1:1", "127.0.0.1:1", "A", true, kReal},
        {"127.0.0.1:2", "127.0.0.1:2", "B", true, kReal},
        {"localhost:3", "127.0.0.1:3", "", false, {}},
    };
    SentinelDirectory dir{{"127.0.0.1:3", "C"}};
    auto v = count_votes(ballots_for(links, dir));
    CHECK(v.known == 3);
    CHECK(v.kind == Kind::majority);
}

TEST_CASE("sentinel identity: a new run id at a known address replaces the old one",
          "[sentinel_vote]") {
    // c restarted with an empty config: MYID says C2, the others still list C there.
    std::vector<SentinelLinkView> links{
        {"127.0.0.1:1", "127.0.0.1:1", "A", true, kReal},
        {"127.0.0.1:2", "127.0.0.1:2", "B", true, kReal},
        {"127.0.0.1:3", "127.0.0.1:3", "C2", true, {}},
    };
    SentinelDirectory dir{{"127.0.0.1:1", "A"}, {"127.0.0.1:2", "B"}, {"127.0.0.1:3", "C"}};
    auto ballots = ballots_for(links, dir);
    CHECK(ballots.size() == 3);
    auto v = count_votes(ballots);
    CHECK(v.known == 3);
    CHECK(v.kind == Kind::majority);
    CHECK(v.votes == 2);
}

TEST_CASE("sentinel identity: a Service address is the sentinel whose MYID it returned",
          "[sentinel_vote]") {
    std::vector<SentinelLinkView> links{
        {"sentinel.svc:26379", "10.0.0.9:26379", "A", true, kReal},
    };
    SentinelDirectory dir{
        {"10.0.1.1:26379", "A"}, {"10.0.1.2:26379", "B"}, {"10.0.1.3:26379", "C"}};
    auto v = count_votes(ballots_for(links, dir));
    CHECK(v.known == 3);
    CHECK(v.answering == 1);
    CHECK(v.kind == Kind::minority);
}

TEST_CASE("sentinel identity: a listed sentinel nobody links to still counts as known",
          "[sentinel_vote]") {
    std::vector<SentinelLinkView> links{{"127.0.0.1:1", "127.0.0.1:1", "A", true, kRogue}};
    SentinelDirectory dir{{"127.0.0.1:2", "B"}, {"127.0.0.1:3", "C"}};
    auto v = count_votes(ballots_for(links, dir));
    CHECK(v.known == 3);
    CHECK(v.kind == Kind::minority);
}
