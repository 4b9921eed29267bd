// ParseTimeState: where each command goes as it is framed (a shared link only while the
// client is in the default state before and after it), and what Redis's replies settle.
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "protocol/command_policy.h"
#include "protocol/hello_options.h"
#include "protocol/reply_writer.h"
#include "proxy/session/connection_state.h"
#include "proxy/session/parse_time_state.h"

using namespace sp::protocol;
using sp::proxy::ParseTimeState;

namespace {

// Frames `args` with the real parser and routes it, as a session does (HELLO parsed once).
bool route(ParseTimeState& s, std::vector<std::string> args, bool own_credentials = false) {
    static const CommandTable table;
    RequestParser parser;
    parser.feed(sp::protocol::reply::command(args));
    Command cmd;
    REQUIRE(parser.next(cmd) == RequestParser::Status::command);
    std::optional<sp::protocol::HelloOptions> hello;
    if (cmd.name == "hello") hello = sp::protocol::parse_hello(cmd.argv);
    return s.route(cmd, sp::protocol::decide(table, cmd), hello ? &*hello : nullptr,
                   own_credentials, true);
}

}  // namespace

TEST_CASE("parse-time state: default-state commands go shared", "[parse_time_state]") {
    ParseTimeState s;
    CHECK(route(s, {"GET", "k"}));
    CHECK(route(s, {"SET", "k", "v"}));
    CHECK(route(s, {"SELECT", "0"}));
    CHECK_FALSE(s.multi_open());
}

TEST_CASE("parse-time state: MULTI pins until EXEC, WATCH until UNWATCH", "[parse_time_state]") {
    ParseTimeState s;
    CHECK_FALSE(route(s, {"MULTI"}));
    CHECK(s.multi_open());
    CHECK_FALSE(route(s, {"SET", "k", "v"}));
    CHECK_FALSE(route(s, {"EXEC"}));  // the transaction's own link: its reply comes there
    CHECK_FALSE(s.multi_open());
    CHECK(route(s, {"GET", "k"}));
    CHECK_FALSE(route(s, {"WATCH", "k"}));
    CHECK(s.watching());
    CHECK_FALSE(route(s, {"UNWATCH"}));
    CHECK(route(s, {"GET", "k"}));
}

TEST_CASE("parse-time state: SELECT n pins, SELECT 0 inside MULTI keeps it pinned",
          "[parse_time_state]") {
    ParseTimeState s;
    CHECK_FALSE(route(s, {"SELECT", "3"}));
    CHECK_FALSE(route(s, {"MULTI"}));
    CHECK_FALSE(route(s, {"SELECT", "0"}));  // may be discarded: still db 3 until EXEC
    CHECK_FALSE(route(s, {"DISCARD"}));
    sp::proxy::ConnectionState redis_says;  // every reply in: db 0, no MULTI
    s.settle(redis_says);
    CHECK(route(s, {"GET", "k"}));
}

TEST_CASE("parse-time state: sticky pins stay until RESET, HELLO sets the protocol",
          "[parse_time_state]") {
    ParseTimeState s;
    CHECK_FALSE(route(s, {"BLPOP", "q", "0"}));
    CHECK(s.sticky());
    CHECK_FALSE(route(s, {"GET", "k"}));
    CHECK_FALSE(route(s, {"RESET"}));  // it leaves the dedicated link's state behind
    CHECK(route(s, {"GET", "k"}));
    route(s, {"HELLO", "3"});
    CHECK(s.proto() == RespVersion::resp3);
    route(s, {"HELLO", "9"});  // refused by Redis: the protocol stays
    CHECK(s.proto() == RespVersion::resp3);
    CHECK_FALSE(route(s, {"AUTH", "someone", "else"}));  // another login pins
    CHECK(s.sticky());
    ParseTimeState t;
    CHECK(route(t, {"AUTH", "proxy-user", "proxy-pass"}, true));  // the proxy's own login
}

TEST_CASE("parse-time state: WAIT's fence is taken once per shared write", "[parse_time_state]") {
    ParseTimeState s;
    CHECK_FALSE(s.take_unfenced_writes());
    s.note_shared_write();
    CHECK(s.take_unfenced_writes());
    CHECK_FALSE(s.take_unfenced_writes());
}
