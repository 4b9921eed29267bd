// command_policy: what each framed command means to the proxy, decided once.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "protocol/command_policy.h"

using namespace sp::protocol;

namespace {

// Frames `args` with the real parser, so the policy sees exactly what a session would.
CommandPolicy policy_with(const CommandTable& table, std::vector<std::string> args) {
    std::string wire = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) wire += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    RequestParser parser;
    parser.feed(wire);
    Command cmd;
    REQUIRE(parser.next(cmd) == RequestParser::Status::command);
    return decide(table, cmd);
}

CommandPolicy policy_of(std::vector<std::string> args) {
    static const CommandTable table;
    return policy_with(table, std::move(args));
}

using Args = std::vector<std::vector<std::string>>;

// Forwarded on a shared link by a client in the default state: no pin, no refusal.
void check_shared(const Args& all) {
    for (const auto& args : all) {
        INFO(args[0] << (args.size() > 1 ? " " + args[1] : std::string()));
        const CommandPolicy p = policy_of(args);
        CHECK(p.pins == PinReason::none);
        CHECK(p.refusal.empty());
        CHECK_FALSE(p.is(kUnknown));
    }
}

void check_pins(const Args& all, PinReason why) {
    for (const auto& args : all) {
        INFO(args[0] << (args.size() > 1 ? " " + args[1] : std::string()));
        const CommandPolicy p = policy_of(args);
        CHECK(p.pins == why);
        CHECK(p.refusal.empty());
    }
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
    // every form of the connection flags pins (the reviewed row, "connection flags pin")
    CHECK(policy_of({"CLIENT", "NO-EVICT", "on"}).pins == PinReason::connection);
    CHECK(policy_of({"client", "no-touch", "ON"}).pins == PinReason::connection);
    CHECK(policy_of({"CLIENT", "NO-EVICT", "off"}).pins == PinReason::connection);
    CHECK(sticky(PinReason::client_id));
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

// ---------------------------------------------------------------------------------------
// The sharing table of docs/architecture.md ("Shared and dedicated links: every decision"),
// one test per row, in the table's order.

TEST_CASE("sharing row: data commands are forwarded", "[command_policy][sharing]") {
    check_shared({{"GET", "k"},
                  {"SET", "k", "v"},
                  {"HGETALL", "h"},
                  {"XADD", "s", "*", "f", "v"},
                  {"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"},
                  {"EVAL", "return 1", "0"},
                  {"FCALL", "f", "0"},
                  {"PUBLISH", "c", "m"},
                  {"FLUSHDB"}});
}

TEST_CASE("sharing row: server-wide commands with one reply are forwarded",
          "[command_policy][sharing]") {
    check_shared({{"PING"},
                  {"ECHO", "x"},
                  {"INFO"},
                  {"TIME"},
                  {"COMMAND", "DOCS", "get"},
                  {"CONFIG", "SET", "maxmemory", "0"},
                  {"CLIENT", "LIST"},
                  {"CLIENT", "KILL", "ID", "7"},
                  {"CLIENT", "PAUSE", "10"},
                  {"CLIENT", "UNBLOCK", "7", "ERROR"},
                  {"SLOWLOG", "GET"},
                  {"MEMORY", "USAGE", "k"},
                  {"ACL", "SETUSER", "u"},
                  {"DEBUG", "SLEEP", "0"},
                  {"ROLE"},
                  {"SCRIPT", "LOAD", "return 1"},
                  {"FUNCTION", "LIST"}});
}

TEST_CASE("sharing row: commands that describe the connection are forwarded",
          "[command_policy][sharing]") {
    // (CLIENT ID pins instead: the id a client hands to TRACKING ... REDIRECT must be its
    // own connection's; see "per-connection modes pin".)
    check_shared({{"CLIENT", "INFO"},
                  {"CLIENT", "GETREDIR"},
                  {"CLIENT", "TRACKINGINFO"},
                  {"ACL", "WHOAMI"}});
}

TEST_CASE("sharing row: SELECT 0 shares, SELECT n pins", "[command_policy][sharing]") {
    CHECK(policy_of({"SELECT", "0"}).pins == PinReason::none);
    CHECK(policy_of({"SELECT", "3"}).pins == PinReason::select);
    CHECK_FALSE(sticky(PinReason::select));
}

TEST_CASE("sharing row: MULTI and WATCH pin while open", "[command_policy][sharing]") {
    check_pins({{"MULTI"}, {"WATCH", "k"}}, PinReason::transaction);
    CHECK_FALSE(sticky(PinReason::transaction));
}

TEST_CASE("sharing row: blocking commands pin for good", "[command_policy][sharing]") {
    check_pins({{"BLPOP", "l", "0"},
                {"BRPOPLPUSH", "a", "b", "1"},
                {"BZMPOP", "1", "1", "z", "MIN"},
                {"XREAD", "BLOCK", "0", "STREAMS", "s", "$"},
                {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "5", "STREAMS", "s", ">"}},
               PinReason::blocking);
    CHECK(sticky(PinReason::blocking));
}

TEST_CASE("sharing row: WAIT and WAITAOF pin and count the client's own writes",
          "[command_policy][sharing]") {
    for (const auto& args : Args{{"WAIT", "1", "100"}, {"WAITAOF", "0", "1", "100"}}) {
        INFO(args[0]);
        const CommandPolicy p = policy_of(args);
        CHECK(p.pins == PinReason::blocking);
        CHECK(p.counts_own_writes);
    }
    CHECK_FALSE(policy_of({"SET", "k", "v"}).counts_own_writes);
}

TEST_CASE("sharing row: subscriptions and MONITOR pin for good", "[command_policy][sharing]") {
    check_pins({{"SUBSCRIBE", "c"}, {"PSUBSCRIBE", "p*"}, {"SSUBSCRIBE", "s"}, {"UNSUBSCRIBE"}},
               PinReason::subscribed);
    check_pins({{"MONITOR"}}, PinReason::monitor);
    CHECK(sticky(PinReason::subscribed));
    CHECK(sticky(PinReason::monitor));
}

TEST_CASE("sharing row: CLIENT REPLY OFF|SKIP and CLIENT TRACKING ON pin for good",
          "[command_policy][sharing]") {
    check_pins({{"CLIENT", "REPLY", "OFF"}, {"client", "reply", "skip"}}, PinReason::client_reply);
    check_pins({{"CLIENT", "TRACKING", "ON"}, {"CLIENT", "TRACKING", "on", "BCAST"}},
               PinReason::tracking);
    // turning them off on a link where they are off changes nothing
    check_shared({{"CLIENT", "REPLY", "ON"}, {"CLIENT", "TRACKING", "OFF"}});
    CHECK(sticky(PinReason::client_reply));
    CHECK(sticky(PinReason::tracking));
}

TEST_CASE("sharing row: connection flags pin for good", "[command_policy][sharing]") {
    check_pins({{"CLIENT", "NO-EVICT", "ON"},
                {"CLIENT", "NO-TOUCH", "ON"},
                {"CLIENT", "CACHING", "YES"},
                {"READONLY"},
                {"READWRITE"},
                {"ASKING"}},
               PinReason::connection);
    CHECK(sticky(PinReason::connection));
}

TEST_CASE("sharing row: logging in as a Redis user pins", "[command_policy][sharing]") {
    check_pins({{"AUTH", "pw"}, {"AUTH", "user", "pw"}, {"HELLO", "3", "AUTH", "u", "p"}},
               PinReason::identity);
}

TEST_CASE("sharing row: HELLO, CLIENT SETNAME/GETNAME/SETINFO, RESET, QUIT are the proxy's",
          "[command_policy][sharing]") {
    // The session answers these itself (or forwards SETINFO): the policy names their kind
    // and pins nothing.
    CHECK(policy_of({"HELLO", "3"}).kind == CommandKind::hello);
    CHECK(policy_of({"HELLO", "2", "SETNAME", "n"}).pins == PinReason::none);
    CHECK(policy_of({"CLIENT", "SETNAME", "n"}).kind == CommandKind::client_setname);
    CHECK(policy_of({"CLIENT", "SETINFO", "LIB-NAME", "x"}).kind == CommandKind::client_setinfo);
    CHECK(policy_of({"RESET"}).kind == CommandKind::reset);
    CHECK(policy_of({"QUIT"}).kind == CommandKind::quit);
    check_shared({{"HELLO", "3"},
                  {"CLIENT", "SETNAME", "n"},
                  {"CLIENT", "GETNAME"},
                  {"CLIENT", "SETINFO", "LIB-VER", "1"},
                  {"RESET"},
                  {"QUIT"}});
}

TEST_CASE("sharing row: SCRIPT KILL, FUNCTION KILL and SHUTDOWN go on a link of their own",
          "[command_policy][sharing]") {
    check_pins({{"SCRIPT", "KILL"}, {"function", "kill"}, {"SHUTDOWN", "NOSAVE"}, {"SHUTDOWN"}},
               PinReason::out_of_band);
    CHECK_FALSE(sticky(PinReason::out_of_band));
    // the other SCRIPT and FUNCTION sub-commands share
    check_shared({{"SCRIPT", "EXISTS", "abc"}, {"FUNCTION", "STATS"}});
}

TEST_CASE("sharing row: replication commands are refused", "[command_policy][sharing]") {
    for (const auto& args : Args{{"REPLCONF", "ACK", "0"},
                                 {"REPLCONF", "GETACK", "*"},
                                 {"replconf", "listening-port", "6380"},
                                 {"SYNC"},
                                 {"PSYNC", "?", "-1"}}) {
        INFO(args[0] << " " << (args.size() > 1 ? args[1] : std::string()));
        const CommandPolicy p = policy_of(args);
        CHECK(p.refusal.starts_with("ERR "));
        CHECK(p.refusal.find("not supported through sentinel-proxy") != std::string_view::npos);
    }
    CHECK(policy_of({"REPLCONF", "ACK", "0"}).refusal.starts_with("ERR REPLCONF "));
    CHECK(policy_of({"PSYNC", "?", "-1"}).refusal.starts_with("ERR PSYNC "));
}

TEST_CASE("sharing row: SCRIPT DEBUG is refused", "[command_policy][sharing]") {
    for (const char* mode : {"YES", "SYNC", "NO", "yes"}) {
        INFO(mode);
        CHECK(policy_of({"SCRIPT", "DEBUG", mode}).refusal.starts_with("ERR SCRIPT DEBUG "));
    }
}

TEST_CASE("sharing row: CLIENT MAINT_NOTIFICATIONS is refused", "[command_policy][sharing]") {
    CHECK(policy_of({"CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", "internal-ip"})
              .refusal.starts_with("ERR CLIENT MAINT_NOTIFICATIONS "));
}

TEST_CASE("sharing row: commands the proxy does not know pin for good",
          "[command_policy][sharing]") {
    check_pins({{"NOSUCHCMD", "x"}, {"CLIENT", "NOSUCHSUB"}, {"CONFIG", "NOSUCHSUB", "x"}},
               PinReason::unknown);
    CHECK(sticky(PinReason::unknown));
}

TEST_CASE("sharing row: commands known only from the server's COMMAND reply",
          "[command_policy][sharing]") {
    CommandTable table;
    // A module's commands, as COMMAND describes them: plain data commands share; the rest
    // (no data flag, admin, pub/sub) pin; a blocking one pins as blocking.
    const std::string reply =
        "*5\r\n"
        "*6\r\n$9\r\nmymod.set\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:1\r\n:1\r\n"
        "*6\r\n$9\r\nmymod.get\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"
        "*6\r\n$11\r\nmymod.state\r\n:2\r\n*1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n"
        "*6\r\n$11\r\nmymod.admin\r\n:2\r\n*2\r\n+write\r\n+admin\r\n:0\r\n:0\r\n:0\r\n"
        "*6\r\n$10\r\nmymod.bpop\r\n:3\r\n*2\r\n+write\r\n+blocking\r\n:1\r\n:1\r\n:1\r\n";
    REQUIRE(table.refresh_from_command_reply(reply) == 5);
    CHECK(policy_with(table, {"MYMOD.SET", "k", "v"}).pins == PinReason::none);
    CHECK(policy_with(table, {"mymod.get", "k"}).pins == PinReason::none);
    CHECK(policy_with(table, {"mymod.state", "x"}).pins == PinReason::unknown);
    CHECK(policy_with(table, {"mymod.admin", "x"}).pins == PinReason::unknown);
    CHECK(policy_with(table, {"mymod.bpop", "k", "0"}).pins == PinReason::blocking);
    // what the built-in table reviewed keeps its decision after a refresh
    CHECK(policy_with(table, {"PING"}).pins == PinReason::none);
}
