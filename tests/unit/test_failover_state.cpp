// The sentinel watcher's failover state machine (issue 23): what each Sentinel event means
// for our master, and when the master being failed over may be trusted again.
#include <catch2/catch.hpp>

#include "proxy/sentinel/failover_state.h"

using namespace sp::proxy;
using Kind = FailoverEvent::Kind;
using Verdict = FailoverState::Verdict;

namespace {
const NodeAddress kOld{"127.0.0.1", 6379};
const NodeAddress kNew{"127.0.0.1", 6380};
}  // namespace

TEST_CASE("failover event: a master event names the master", "[failover_state]") {
    auto ev =
        read_failover_event("mymaster", "+odown", "master mymaster 127.0.0.1 6379 #quorum 2/2");
    CHECK(ev.kind == Kind::progress);
    CHECK(ev.master == kOld);
    CHECK_FALSE(ev.replica);
}

TEST_CASE("failover event: +selected-slave names the replica and its master", "[failover_state]") {
    auto ev = read_failover_event("mymaster", "+selected-slave",
                                  "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379");
    CHECK(ev.kind == Kind::progress);
    CHECK(ev.master == kOld);
    CHECK(ev.replica == kNew);
    auto wait =
        read_failover_event("mymaster", "+failover-state-wait-promotion",
                            "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379");
    CHECK(wait.kind == Kind::progress);
    CHECK(wait.replica == kNew);
}

TEST_CASE("failover event: +switch-master names the old master", "[failover_state]") {
    auto ev =
        read_failover_event("mymaster", "+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 6380");
    CHECK(ev.kind == Kind::progress);
    CHECK(ev.master == kOld);
}

TEST_CASE("failover event: aborts, rechecks, sentinels and other masters", "[failover_state]") {
    CHECK(read_failover_event("mymaster", "-failover-abort-not-elected",
                              "master mymaster 127.0.0.1 6379")
              .kind == Kind::aborted);
    CHECK(read_failover_event("mymaster", "+failover-end-for-timeout",
                              "master mymaster 127.0.0.1 6379")
              .kind == Kind::aborted);
    CHECK(read_failover_event("mymaster", "+sdown", "master mymaster 127.0.0.1 6379").kind ==
          Kind::recheck);
    CHECK(read_failover_event("mymaster", "+sentinel",
                              "sentinel abc 127.0.0.1 26380 @ mymaster 127.0.0.1 6379")
              .kind == Kind::sentinel_added);
    CHECK(read_failover_event("other", "+odown", "master mymaster 127.0.0.1 6379").kind ==
          Kind::ignored);
    CHECK(read_failover_event("mymaster", "+odown", "master othermaster 127.0.0.1 6379").kind ==
          Kind::ignored);
    CHECK(read_failover_event("mymaster", "+switch-master", "").kind == Kind::ignored);
}

TEST_CASE("failover state: the old master is held until the failover ends or gives up",
          "[failover_state]") {
    FailoverState f;
    CHECK(f.judge(kOld, 0) == Verdict::trust);
    CHECK(f.begin(kOld, 1000));
    CHECK_FALSE(f.begin(kOld, 1100));  // already known
    CHECK(f.failing_over(kOld));
    CHECK(f.judge(kOld, 2000) == Verdict::hold);
    CHECK(f.judge(kNew, 2000) == Verdict::trust);
    CHECK(f.judge(kOld, 1000 + FailoverState::kGiveUpMs) == Verdict::gave_up);
    CHECK_FALSE(f.failing_over(kOld));
    CHECK(f.judge(kOld, 1000 + FailoverState::kGiveUpMs) == Verdict::trust);
}

TEST_CASE("failover state: an abort trusts the old master again", "[failover_state]") {
    FailoverState f;
    f.begin(kOld, 0);
    f.end();
    CHECK(f.judge(kOld, 10) == Verdict::trust);
}

TEST_CASE("failover state: the hold clock", "[failover_state]") {
    FailoverState f;
    CHECK(f.hold_since_ms() == 0);
    f.hold_started(500);
    CHECK(f.hold_since_ms() == 500);
    f.hold_ended();
    CHECK(f.hold_since_ms() == 0);
}

// --- Following the promotion (issue 25)

TEST_CASE("failover event: +new-epoch carries the epoch alone", "[failover_state]") {
    auto ev = read_failover_event("mymaster", "+new-epoch", "7");
    CHECK(ev.epoch == 7u);
    CHECK(ev.kind == Kind::ignored);
    CHECK(read_failover_event("mymaster", "+try-failover", "master mymaster 127.0.0.1 6379")
              .try_failover);
}

TEST_CASE("follow promotion: released only once the replica is master with the old offset",
          "[failover_state]") {
    FailoverState f;
    f.master_offset(kOld, 1000);  // a round's ROLE before the failover
    REQUIRE(f.begin(kOld, 0));
    CHECK(f.bar() == 1000u);
    f.master_offset(kOld, 1500);  // read at the hold's start: raises the bar
    CHECK(f.bar() == 1500u);
    CHECK_FALSE(f.covers(true, 5000));  // nothing selected yet
    REQUIRE(f.select(kNew, "s1"));
    CHECK_FALSE(f.select(kNew, "s1"));  // the same selection again
    CHECK(f.selected() == kNew);
    CHECK(f.leader() == "s1");
    CHECK_FALSE(f.covers(false, 5000));  // still a replica
    CHECK_FALSE(f.covers(true, 1499));   // a master without every acknowledged write
    CHECK(f.covers(true, 1500));
    f.hold_started(100);
    f.count_release(true, 320);
    f.released_early(320);
    CHECK(f.early());
    CHECK(f.releases().early == 1);
    CHECK(f.releases().last_hold_ms == 220);
    CHECK(std::string(f.releases().last_path) == "early_promotion");
    f.count_confirmation(1300);
    CHECK(f.releases().last_early_window_ms == 980);
}

TEST_CASE("follow promotion: without the old master's offset nothing is released",
          "[failover_state]") {
    FailoverState f;
    f.master_offset(kOld, 1000);
    f.begin(NodeAddress{"127.0.0.1", 7000}, 0);  // another master: its offset is unknown
    f.select(kNew, "s1");
    CHECK_FALSE(f.covers(true, 1'000'000));
}

TEST_CASE("follow promotion: a fence holds again and ends following for this failover",
          "[failover_state]") {
    FailoverState f;
    f.begin(kOld, 0);
    f.master_offset(kOld, 10);
    f.select(kNew, "s1");
    f.released_early(50);
    CHECK(f.fence());  // was released early: the caller holds again
    CHECK_FALSE(f.early());
    CHECK_FALSE(f.selected());
    CHECK_FALSE(f.select(kNew, "s1"));  // not again in this failover
    CHECK_FALSE(f.covers(true, 100));
    CHECK_FALSE(f.fence());  // nothing was released
    // The next failover may be followed again.
    f.end();
    f.begin(kNew, 1000);
    CHECK(f.select(kOld, "s2"));
}

TEST_CASE("follow promotion: a newer epoch is another attempt", "[failover_state]") {
    FailoverState f;
    f.begin(kOld, 0);
    CHECK_FALSE(f.epoch_announced("s1", 5));
    f.failover_tried("s1");
    f.select(kNew, "s1");
    CHECK_FALSE(f.epoch_announced("s2", 5));  // another sentinel catching up: same failover
    CHECK(f.epoch_announced("s3", 6));
}

TEST_CASE("follow promotion: the majority path counts its releases", "[failover_state]") {
    FailoverState f;
    f.hold_started(1000);
    f.count_release(false, 2100);
    CHECK(f.releases().majority == 1);
    CHECK(f.releases().last_hold_ms == 1100);
    CHECK(std::string(f.releases().last_path) == "majority");
}
