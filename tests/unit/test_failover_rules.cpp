// proxy/session/failover_rules: re-send, hold or close, one rule at a time, as a client
// connected to Redis directly would see it.
#include <catch2/catch.hpp>

#include "proxy/session/failover_rules.h"

using namespace sp::proxy;
using failover_rules::Action;

namespace {

// A request sent at 1000 ms, answered by `who`.
Request sent_command(bool resendable, Answer who = Answer::redis) {
    Request r;
    r.resendable = resendable;
    r.answer = who;
    r.issued_ms = 1000;
    return r;
}

Request with(Answer who) {
    return sent_command(false, who);
}

}  // namespace

TEST_CASE("failover rules: which requests in flight may be sent again", "[failover_rules]") {
    CHECK(failover_rules::may_resend(sent_command(true)));         // GET, PING...
    CHECK_FALSE(failover_rules::may_resend(sent_command(false)));  // INCR, SET...
    // The proxy's own requests and its local answers: nothing of the client ran.
    for (Answer a : {Answer::local, Answer::local_change, Answer::local_getname, Answer::setup,
                     Answer::setup_critical, Answer::resubscribe, Answer::fence})
        CHECK(failover_rules::may_resend(with(a)));
    // Queued in MULTI: it answered +QUEUED, nothing ran; the transaction is replayed.
    Request queued = sent_command(false);
    queued.in_tx = true;
    CHECK(failover_rules::may_resend(queued));
}

TEST_CASE("failover rules: error replies that mean the command did not run", "[failover_rules]") {
    const Request write = sent_command(false);
    // A demoted master: READONLY, or Redis's own -UNBLOCKED of a blocked client at a demotion.
    CHECK(failover_rules::after_error_reply(write,
                                            "READONLY You can't write against a read "
                                            "only replica.",
                                            false) == Action::resend_on_new_master);
    CHECK(failover_rules::after_error_reply(
              write,
              "UNBLOCKED force unblock from blocking operation, instance state changed "
              "(master -> replica?)",
              false) == Action::resend_on_new_master);
    // -UNBLOCKED from CLIENT UNBLOCK ... ERROR (or a deleted stream) is the client's answer.
    CHECK(failover_rules::after_error_reply(write, "UNBLOCKED client unblocked via CLIENT UNBLOCK",
                                            false) == Action::none);
    CHECK(failover_rules::after_error_reply(write, "UNBLOCKED the stream key no longer exists",
                                            false) == Action::none);
    // A streamed command cannot be sent again: its READONLY goes to the client.
    Request streamed = write;
    streamed.streamed = true;
    CHECK(failover_rules::after_error_reply(streamed, "READONLY You can't write", false) ==
          Action::none);
    // A replica loading or cut from its master: the read goes to the master.
    Request read = sent_command(true);
    read.replica_read = true;
    CHECK(failover_rules::after_error_reply(read, "LOADING Redis is loading", true) ==
          Action::resend_from_master);
    CHECK(failover_rules::after_error_reply(read, "MASTERDOWN Link with MASTER is down", true) ==
          Action::resend_from_master);
    // The same from a master is the client's answer, as direct.
    CHECK(failover_rules::after_error_reply(read, "LOADING Redis is loading", false) ==
          Action::none);
    CHECK(failover_rules::after_error_reply(read, "ERR unknown command", false) == Action::none);
    // The proxy's own set-up has its own rules (a refused AUTH closes the session).
    CHECK(failover_rules::after_error_reply(with(Answer::setup_critical), "READONLY x", false) ==
          Action::none);
    CHECK(failover_rules::after_error_reply(with(Answer::fence), "LOADING x", true) ==
          Action::none);
}

TEST_CASE("failover rules: a lost link", "[failover_rules]") {
    CHECK(failover_rules::after_link_lost(false, true) == Action::resend);
    CHECK(failover_rules::after_link_lost(false, false) == Action::close_unknown_outcome);
    // Only reads go to a replica: the master answers them, whatever they are.
    CHECK(failover_rules::after_link_lost(true, true) == Action::resend_from_master);
    CHECK(failover_rules::after_link_lost(true, false) == Action::resend_from_master);
}

TEST_CASE("failover rules: the master changed", "[failover_rules]") {
    // Nothing connected, or already on the new master: nothing to decide.
    CHECK(failover_rules::after_master_changed(false, false, false, false) == Action::none);
    CHECK(failover_rules::after_master_changed(true, false, true, false) == Action::none);
    // Reads in flight on a replica finish there.
    CHECK(failover_rules::after_master_changed(true, true, false, false) == Action::none);
    // On the old master: re-sent if harmless, else the write's outcome is unknown.
    CHECK(failover_rules::after_master_changed(true, false, false, true) == Action::resend);
    CHECK(failover_rules::after_master_changed(true, false, false, false) ==
          Action::close_unknown_outcome);
}

TEST_CASE("failover rules: the command timeout", "[failover_rules]") {
    const Request get = sent_command(true);
    CHECK_FALSE(failover_rules::timed_out(get, 1000 + 4999, 5000));
    CHECK(failover_rules::timed_out(get, 1000 + 5000, 5000));
    Request unsent = get;
    unsent.issued_ms = 0;
    CHECK_FALSE(failover_rules::timed_out(unsent, 1'000'000, 5000));
    Request blocking = get;
    blocking.flags |= sp::protocol::kBlocking;
    CHECK_FALSE(failover_rules::timed_out(blocking, 1'000'000, 5000));
    Request subscribe = get;
    subscribe.kind = sp::protocol::CommandKind::subscribe;
    CHECK_FALSE(failover_rules::timed_out(subscribe, 1'000'000, 5000));
    CHECK_FALSE(failover_rules::timed_out(with(Answer::local), 1'000'000, 5000));
}

TEST_CASE("failover rules: an avoided master", "[failover_rules]") {
    failover_rules::Avoided none;
    CHECK(failover_rules::may_send_to_master(none, 3, 100));
    // Demoted (READONLY): avoided until a new snapshot.
    failover_rules::Avoided demoted{true, true, 3, 0};
    CHECK_FALSE(failover_rules::may_send_to_master(demoted, 3, 1'000'000));
    CHECK(failover_rules::may_send_to_master(demoted, 4, 100));
    // Lost link: avoided for a short while, then tried again.
    failover_rules::Avoided lost{true, true, 3, 200};
    CHECK_FALSE(failover_rules::may_send_to_master(lost, 3, 199));
    CHECK(failover_rules::may_send_to_master(lost, 3, 200));
    // Another node avoided: this master is fine.
    failover_rules::Avoided other{true, false, 3, 0};
    CHECK(failover_rules::may_send_to_master(other, 3, 100));
}

TEST_CASE("failover rules: holding for a master", "[failover_rules]") {
    failover_rules::HoldView v;
    v.may_send = true;
    CHECK_FALSE(failover_rules::holding(v));  // idle, master known
    v.unsent_for_redis = true;
    CHECK_FALSE(failover_rules::holding(v));
    v.may_send = false;  // no master verified (or avoided): held, and counted
    CHECK(failover_rules::holding(v));
    CHECK(failover_rules::hold_counts(v));

    failover_rules::HoldView connecting;
    connecting.may_send = true;
    // A new link to a verified master: held, not counted.
    connecting.in_flight_link_connecting = true;
    CHECK(failover_rules::holding(connecting));
    CHECK_FALSE(failover_rules::hold_counts(connecting));

    failover_rules::HoldView paused;
    paused.paused_at_hold_limit = true;
    CHECK(failover_rules::holding(paused));
    paused.may_send = true;
    CHECK_FALSE(failover_rules::holding(paused));

    failover_rules::HoldView subscriber;
    subscriber.may_send = true;
    subscriber.subscriber_without_link = true;  // its dedicated link is not there yet
    CHECK(failover_rules::holding(subscriber));
    subscriber.subscriber_without_link = false;
    CHECK_FALSE(failover_rules::holding(subscriber));

    failover_rules::HoldView replica_wait;
    replica_wait.may_send = true;
    replica_wait.replica_waiting = true;  // read_from = replica, none eligible
    CHECK(failover_rules::holding(replica_wait));
    CHECK(failover_rules::hold_counts(replica_wait));
}
