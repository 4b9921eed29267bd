// RequestQueue: a client's requests in order with their bytes, what was sent and what is in
// flight, local replies among them, and the one rebuild after a lost link.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "proxy/session/request_queue.h"

using sp::proxy::Answer;
using sp::proxy::Request;
using sp::proxy::RequestQueue;

namespace {

Request owed(bool resendable = true) {
    Request r;
    r.resendable = resendable;
    return r;
}

Request with(Answer a) {
    Request r;
    r.answer = a;
    return r;
}

}  // namespace

TEST_CASE("request queue sends in order and pops answered requests", "[request_queue]") {
    RequestQueue q;
    q.push("*1\r\n$4\r\nPING\r\n", owed());
    q.push_local("+OK\r\n", with(Answer::local));
    q.push("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", owed());
    CHECK(q.size() == 3);
    CHECK(q.unsent() == 3);
    CHECK(q.owed() == 2);
    CHECK(q.has_unsent_for_redis());
    CHECK(q.backlog_bytes() == q.unsent_bytes());

    CHECK(q.next_bytes() == "*1\r\n$4\r\nPING\r\n");
    q.mark_sent(true);
    CHECK(q.next().local());
    q.mark_sent(false);
    CHECK(q.next_bytes() == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    q.mark_sent(true);
    CHECK(q.unsent() == 0);
    CHECK(q.in_flight() == 2);
    CHECK_FALSE(q.has_unsent_for_redis());
    CHECK(q.unsent_bytes() == 0);

    CHECK(q.front_bytes() == "*1\r\n$4\r\nPING\r\n");
    CHECK_FALSE(q.pop_answered());  // GET still in flight
    REQUIRE(q.front().local());
    CHECK(q.local_reply() == "+OK\r\n");
    q.pop_local();
    CHECK(q.front_bytes() == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    CHECK(q.pop_answered());  // the last one in flight
    CHECK(q.empty());
    CHECK(q.backlog_bytes() == 0);
    q.release_if_empty();
    CHECK(q.heap_bytes() == 0);
}

TEST_CASE("request queue counts only the client's requests as owed", "[request_queue]") {
    RequestQueue q;
    q.push("a", with(Answer::setup));
    q.push("b", with(Answer::setup_critical));
    q.push("c", with(Answer::fence));
    q.push("d", owed());
    q.push_local("x", with(Answer::local_change));
    CHECK(q.owed() == 1);
    CHECK(q.unsent_owed() == 1);
    q.mark_sent(true);
    q.mark_sent(true);
    CHECK(q.unsent_owed() == 1);
}

TEST_CASE("request queue resendability of what is in flight", "[request_queue]") {
    RequestQueue q;
    q.push("w", owed(false));         // a write
    CHECK(q.in_flight_resendable());  // not sent: nothing in flight
    q.mark_sent(true);
    CHECK_FALSE(q.in_flight_resendable());
    RequestQueue t;
    Request queued = owed(false);
    queued.in_tx = true;  // queued in MULTI: replayed on a new link
    t.push("q", queued);
    t.push("s", with(Answer::setup));
    t.mark_sent(true);
    t.mark_sent(true);
    CHECK(t.in_flight_resendable());
}

TEST_CASE("request queue after a lost link: unsend, forget the set-up", "[request_queue]") {
    RequestQueue q;
    q.push("AUTH", with(Answer::setup_critical));
    q.push("GET", owed());
    q.push_local("+OK", with(Answer::local));
    q.mark_sent(true);
    q.mark_sent(true);
    q.mark_sent(false);
    CHECK(q.unsend_all() == 1);
    CHECK(q.sent() == 0);
    CHECK(q.in_flight() == 0);
    CHECK(q.next_bytes() == "AUTH");
    q.forget_setup();
    REQUIRE(q.size() == 2);
    CHECK(q.next_bytes() == "GET");
    CHECK(q[1].local());
    q.mark_sent(true);
    CHECK(q.pop_answered());
    CHECK(q.local_reply() == "+OK");
}

TEST_CASE("request queue reissue: set-up first, old set-up dropped, fence kept",
          "[request_queue]") {
    RequestQueue q;
    q.push("OLDAUTH", with(Answer::setup_critical));
    q.push("SWAPDB", with(Answer::fence));
    q.push("WAIT", owed());
    q.push_local("+L", with(Answer::local));
    Request resub = with(Answer::resubscribe);
    q.push("RESUB", resub);
    q.mark_sent(true);
    q.mark_sent(true);
    q.next().issued_ms = 5;
    q.mark_sent(true);
    q.pop_answered();  // OLDAUTH answered

    RequestQueue setup;
    setup.push("NEWAUTH", with(Answer::setup_critical));
    q.reissue_after(std::move(setup), 100, "*-1\r\n");
    CHECK(q.sent() == 0);
    CHECK(q.in_flight() == 0);
    REQUIRE(q.size() == 4);  // NEWAUTH, SWAPDB, WAIT, local (RESUB dropped)
    CHECK(q.next_bytes() == "NEWAUTH");
    q.mark_sent(true);
    CHECK(q.next_bytes() == "SWAPDB");
    q.mark_sent(true);
    CHECK(q.next_bytes() == "WAIT");
    CHECK(q.next().issued_ms == 0);  // timed again from its new sending
    q.mark_sent(true);
    CHECK(q.next().local());
    q.pop_answered();
    q.pop_answered();
    q.pop_answered();
    CHECK(q.local_reply() == "+L");
}

TEST_CASE("request queue reissue: blocking commands get the time they have left",
          "[request_queue]") {
    using sp::protocol::TimeoutArg;
    auto blpop = [](const char* timeout) {
        Request r;
        r.flags = sp::protocol::kBlocking;
        r.timeout = TimeoutArg::last_seconds;
        r.issued_ms = 1000;
        r.args = std::make_shared<const std::vector<std::string>>(
            std::vector<std::string>{"BLPOP", "k", timeout});
        return r;
    };
    RequestQueue q;
    q.push("old-blpop-1", blpop("5"));
    q.push("old-blpop-2", blpop("1"));
    q.push("old-blpop-0", blpop("0"));
    q.mark_sent(true);
    q.mark_sent(true);
    q.mark_sent(true);
    q.reissue_after(RequestQueue(), 3000, "*-1\r\n");  // 2 s later
    REQUIRE(q.size() == 3);
    CHECK(q.next_bytes() == "*3\r\n$5\r\nBLPOP\r\n$1\r\nk\r\n$5\r\n3.000\r\n");
    q.mark_sent(true);
    CHECK(q.next().local());  // 1 s ran out while the master was away: a null
    q.mark_sent(false);
    CHECK(q.next_bytes() == "*3\r\n$5\r\nBLPOP\r\n$1\r\nk\r\n$1\r\n0\r\n");  // 0 = forever
    q.mark_sent(true);
    CHECK(q.pop_answered() == false);
    CHECK(q.local_reply() == "*-1\r\n");
}

TEST_CASE("request queue reissue: a partly confirmed SUBSCRIBE keeps the rest", "[request_queue]") {
    Request sub;
    sub.kind = sp::protocol::CommandKind::subscribe;
    sub.expect = 1;  // two of three confirmed
    sub.args = std::make_shared<const std::vector<std::string>>(
        std::vector<std::string>{"SUBSCRIBE", "a", "b", "c"});
    RequestQueue q;
    q.push("whole", sub);
    q.mark_sent(true);
    q.reissue_after(RequestQueue(), 0, "");
    REQUIRE(q.size() == 1);
    CHECK(q.next_bytes() == "*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\nc\r\n");
    REQUIRE(q.next().args->size() == 2);
}

TEST_CASE("request queue streamed request is sent and in flight at once", "[request_queue]") {
    RequestQueue q;
    Request s;
    s.streamed = true;
    q.push_streamed(s);
    CHECK(q.unsent() == 0);
    CHECK(q.in_flight() == 1);
    CHECK(q.streamed_in_flight());
    CHECK(q.pop_answered());
}

TEST_CASE("request queue compacts its log behind a deep pipeline", "[request_queue]") {
    RequestQueue q;
    const std::string big(40 * 1024, 'x');
    for (int i = 0; i < 4; ++i) q.push(big, owed());
    for (int i = 0; i < 4; ++i) q.mark_sent(true);
    q.pop_answered();
    q.pop_answered();  // head past 64 KiB and past half: compacted
    CHECK(q.backlog_bytes() == 2 * big.size());
    CHECK(q.front_bytes() == big);
    q.pop_answered();
    CHECK(q.pop_answered());
    CHECK(q.backlog_bytes() == 0);
}
