// proxy/session/stream_rules: which commands with a big bulk may be forwarded as it arrives.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "protocol/command_policy.h"
#include "protocol/reply_writer.h"
#include "proxy/session/stream_rules.h"

using sp::protocol::Command;
using sp::protocol::CommandTable;
using sp::protocol::RequestParser;

namespace {

// The head the parser hands over when the last argument is the big bulk: every argument
// before it (the policy is decided from those alone, as in ClientSession::stream_decision).
bool may_stream(std::vector<std::string> head) {
    static const CommandTable table;
    head.push_back("<the big bulk>");
    RequestParser parser;
    parser.feed(sp::protocol::reply::command(head));
    Command cmd;
    REQUIRE(parser.next(cmd) == RequestParser::Status::command);
    cmd.argv = cmd.argv.first(cmd.argv.size() - 1);
    return sp::proxy::stream_rules::may_stream(sp::protocol::decide(table, cmd), cmd.name);
}

}  // namespace

TEST_CASE("stream rules: plain data writes stream", "[stream_rules]") {
    CHECK(may_stream({"SET", "k"}));
    CHECK(may_stream({"APPEND", "k"}));
    CHECK(may_stream({"HSET", "h", "f"}));
    CHECK(may_stream({"RPUSH", "l"}));
}

TEST_CASE("stream rules: what needs its bytes again does not", "[stream_rules]") {
    CHECK_FALSE(may_stream({"GET"}));                    // not a write
    CHECK_FALSE(may_stream({"CLIENT", "SETNAME"}));      // connection state
    CHECK_FALSE(may_stream({"XREAD", "STREAMS", "s"}));  // may block (BLOCK after it)
    CHECK_FALSE(may_stream({"XREADGROUP", "GROUP", "g"}));
    CHECK_FALSE(may_stream({"PUBLISH", "ch"}));  // pub/sub
    CHECK_FALSE(may_stream({"EVAL"}));           // a script: not a plain write
    CHECK_FALSE(may_stream({"MULTI"}));
    CHECK_FALSE(may_stream({"CONFIG", "SET", "x"}));  // admin
    CHECK_FALSE(may_stream({"NOSUCHCOMMAND", "k"}));  // unknown
}
