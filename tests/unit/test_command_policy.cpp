// command_policy: what each framed command means to the proxy, decided once.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "protocol/command_policy.h"

using namespace sp::protocol;

namespace {

// Frames `args` with the real parser, so the policy sees exactly what a session would.
CommandPolicy policy_of(std::vector<std::string> args) {
    static const CommandTable table;
    std::string wire = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) wire += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    RequestParser parser;
    parser.feed(wire);
    Command cmd;
    REQUIRE(parser.next(cmd) == RequestParser::Status::command);
    return decide(table, cmd);
}

}  // namespace

TEST_CASE("command policy: ordinary reads and writes", "[command_policy]") {
    auto get = policy_of({"GET", "k"});
    CHECK(get.kind == CommandKind::normal);
    CHECK(get.resendable);
    CHECK(get.pins == PinReason::none);
    auto set = policy_of({"set", "k", "v"});
    CHECK_FALSE(set.resendable);
    CHECK(set.pins == PinReason::none);
    CHECK(policy_of({"EVAL", "return 1", "0"}).resendable == false);
    CHECK(policy_of({"EVAL_RO", "return 1", "0"}).resendable);
}

TEST_CASE("command policy: unknown commands go to the master and are not re-sent",
          "[command_policy]") {
    auto p = policy_of({"NOSUCHCMD", "x"});
    CHECK(p.is(kUnknown));
    CHECK(p.kind == CommandKind::normal);
    CHECK_FALSE(p.resendable);
}

TEST_CASE("command policy: connection state kinds", "[command_policy]") {
    CHECK(policy_of({"PING"}).kind == CommandKind::ping);
    CHECK(policy_of({"echo", "x"}).kind == CommandKind::ping);
    CHECK(policy_of({"SELECT", "2"}).kind == CommandKind::select);
    CHECK(policy_of({"SELECT", "2"}).pins == PinReason::select);
    CHECK(policy_of({"SELECT", "0"}).pins == PinReason::none);
    CHECK(policy_of({"HELLO", "3"}).kind == CommandKind::hello);
    CHECK(policy_of({"HELLO", "3"}).pins == PinReason::none);
    CHECK(policy_of({"HELLO", "3", "AUTH", "u", "p"}).pins == PinReason::identity);
    // SETNAME's value "auth" is not the AUTH option
    CHECK(policy_of({"HELLO", "3", "SETNAME", "auth"}).pins == PinReason::none);
    CHECK(policy_of({"AUTH", "pw"}).pins == PinReason::identity);
    CHECK(policy_of({"CLIENT", "SETNAME", "n"}).kind == CommandKind::client_setname);
    CHECK(policy_of({"client", "setinfo", "LIB-NAME", "x"}).kind == CommandKind::client_setinfo);
    CHECK(policy_of({"CLIENT", "LIST"}).kind == CommandKind::normal);
    CHECK(policy_of({"RESET"}).kind == CommandKind::reset);
    CHECK(policy_of({"QUIT"}).kind == CommandKind::quit);
}

TEST_CASE("command policy: transactions pin and EXEC is never re-sent", "[command_policy]") {
    CHECK(policy_of({"MULTI"}).pins == PinReason::transaction);
    CHECK(policy_of({"WATCH", "k"}).pins == PinReason::transaction);
    CHECK(policy_of({"EXEC"}).kind == CommandKind::exec);
    CHECK_FALSE(policy_of({"EXEC"}).resendable);
    CHECK(policy_of({"DISCARD"}).kind == CommandKind::discard);
    CHECK(policy_of({"UNWATCH"}).kind == CommandKind::unwatch);
}

TEST_CASE("command policy: blocking commands and their timeouts", "[command_policy]") {
    auto blpop = policy_of({"BLPOP", "a", "b", "0"});
    CHECK(blpop.is(kBlocking));
    CHECK(blpop.timeout == TimeoutArg::last_seconds);
    CHECK(blpop.pins == PinReason::blocking);
    CHECK(blpop.resendable);
    CHECK(policy_of({"BLMPOP", "1", "1", "k", "LEFT"}).timeout == TimeoutArg::first_seconds);
    auto xread = policy_of({"XREAD", "STREAMS", "s", "0"});
    CHECK_FALSE(xread.is(kBlocking));
    CHECK(xread.pins == PinReason::none);
    auto xblock = policy_of({"XREAD", "block", "100", "STREAMS", "s", "$"});
    CHECK(xblock.is(kBlocking));
    CHECK(xblock.timeout == TimeoutArg::block_option_ms);
}

TEST_CASE("command policy: pub/sub families and confirmations", "[command_policy]") {
    auto sub = policy_of({"SUBSCRIBE", "a", "b"});
    CHECK(sub.kind == CommandKind::subscribe);
    CHECK(sub.family == SubFamily::channel);
    CHECK(sub.expect == 2);
    CHECK(sub.pins == PinReason::subscribed);
    CHECK(policy_of({"PSUBSCRIBE", "a*"}).family == SubFamily::pattern);
    CHECK(policy_of({"SSUBSCRIBE", "a"}).family == SubFamily::shard);
    auto unsub_all = policy_of({"PUNSUBSCRIBE"});
    CHECK(unsub_all.kind == CommandKind::unsubscribe);
    CHECK(unsub_all.family == SubFamily::pattern);
    CHECK(unsub_all.expect == -1);
    CHECK(policy_of({"SUNSUBSCRIBE", "a"}).family == SubFamily::shard);
    CHECK(unsub_all.pins == PinReason::subscribed);
}

TEST_CASE("command policy: per-connection modes pin", "[command_policy]") {
    CHECK(policy_of({"MONITOR"}).pins == PinReason::monitor);
    CHECK(policy_of({"CLIENT", "REPLY", "OFF"}).pins == PinReason::client_reply);
    CHECK(policy_of({"CLIENT", "REPLY", "ON"}).pins == PinReason::none);
    CHECK(policy_of({"CLIENT", "TRACKING", "on"}).pins == PinReason::tracking);
    CHECK(policy_of({"WAIT", "1", "0"}).pins == PinReason::blocking);
    // issue 21: the id must name the client's own connection; connection flags pin
    CHECK(policy_of({"CLIENT", "ID"}).pins == PinReason::client_id);
    CHECK(policy_of({"CLIENT", "NO-EVICT", "on"}).pins == PinReason::client_flag);
    CHECK(policy_of({"client", "no-touch", "ON"}).pins == PinReason::client_flag);
    CHECK(policy_of({"CLIENT", "NO-EVICT", "off"}).pins == PinReason::none);
}

TEST_CASE("command policy: modes followed from Redis's replies have a kind (issue 21)",
          "[command_policy]") {
    CHECK(policy_of({"CLIENT", "REPLY", "SKIP"}).kind == CommandKind::client_reply);
    CHECK(policy_of({"CLIENT", "TRACKING", "on", "BCAST"}).kind == CommandKind::client_tracking);
    CHECK(policy_of({"CLIENT", "ID"}).kind == CommandKind::client_id);
    CHECK(policy_of({"CLIENT", "NO-EVICT", "on"}).kind == CommandKind::client_flag);
    CHECK(policy_of({"MONITOR"}).kind == CommandKind::monitor);
    CHECK(policy_of({"CLIENT", "INFO"}).kind == CommandKind::normal);
    // harmless to send again on a new link: none runs anything
    CHECK(policy_of({"CLIENT", "ID"}).resendable);
    CHECK(policy_of({"CLIENT", "REPLY", "OFF"}).resendable);
}

TEST_CASE("command policy: what may be read from a replica", "[command_policy]") {
    for (std::vector<std::string> ok : std::vector<std::vector<std::string>>{
             {"GET", "k"},
             {"mget", "a", "b"},
             {"HGETALL", "h"},
             {"EXISTS", "k"},
             {"ZRANGE", "z", "0", "-1"},
             {"XRANGE", "s", "-", "+"},
             {"XREAD", "STREAMS", "s", "0"},  // without BLOCK it does not block
             {"EVAL_RO", "return 1", "0"},
             {"EVALSHA_RO", "abc", "0"},
             {"FCALL_RO", "f", "0"},
             {"SORT_RO", "l"},
             {"KEYS", "*"}}) {
        INFO(ok[0]);
        CHECK(policy_of(ok).replica_ok);
    }
    for (std::vector<std::string> no :
         std::vector<std::vector<std::string>>{{"SET", "k", "v"},
                                               {"INCR", "k"},
                                               {"SORT", "l"},  // may STORE
                                               {"EVAL", "return 1", "0"},
                                               {"FCALL", "f", "0"},
                                               {"BLPOP", "l", "0"},
                                               {"XREAD", "BLOCK", "0", "STREAMS", "s", "$"},
                                               {"WAIT", "1", "0"},
                                               {"SUBSCRIBE", "c"},
                                               {"PUBLISH", "c", "m"},
                                               {"MULTI"},
                                               {"EXEC"},
                                               {"WATCH", "k"},
                                               {"SELECT", "0"},
                                               {"PING"},
                                               {"CLIENT", "LIST"},
                                               {"CONFIG", "GET", "x"},
                                               {"INFO"},
                                               {"SCAN", "0"},
                                               {"SSCAN", "s", "0"},
                                               {"HSCAN", "h", "0"},
                                               {"ZSCAN", "z", "0"},
                                               {"TOUCH", "k"},
                                               {"NOSUCHCMD"}}) {
        INFO(no[0]);
        CHECK_FALSE(policy_of(no).replica_ok);
    }
}
