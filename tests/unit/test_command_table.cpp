// CommandTable: the built-in Redis 7 table, and learning from real COMMAND replies
// captured from redis-server 7.0 (tests/unit/fixtures/redis7_command*.resp).
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "protocol/command_table.h"

using namespace sp::protocol;

namespace {

std::string fixture(const char* name) {
    std::string dir = __FILE__;
    dir = dir.substr(0, dir.find_last_of('/'));
    std::ifstream in(dir + "/fixtures/" + name, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct ServerEntry {
    std::string name;  // "get" or "client|setname"
    std::set<std::string> flags;
};

void collect(const redisReply* e, std::vector<ServerEntry>& out) {
    ServerEntry s{std::string(e->element[0]->str, e->element[0]->len), {}};
    for (std::size_t i = 0; i < e->element[2]->elements; ++i) {
        s.flags.emplace(e->element[2]->element[i]->str, e->element[2]->element[i]->len);
    }
    out.push_back(s);
    if (e->elements >= 10) {
        for (std::size_t i = 0; i < e->element[9]->elements; ++i)
            collect(e->element[9]->element[i], out);
    }
}

std::vector<ServerEntry> server_entries(const std::string& raw) {
    redisReader* r = redisReaderCreate();
    redisReaderFeed(r, raw.data(), raw.size());
    void* obj = nullptr;
    REQUIRE(redisReaderGetReply(r, &obj) == REDIS_OK);
    REQUIRE(obj != nullptr);
    auto* reply = static_cast<redisReply*>(obj);
    std::vector<ServerEntry> out;
    for (std::size_t i = 0; i < reply->elements; ++i) {
        if (reply->element[i]->type == REDIS_REPLY_ARRAY) collect(reply->element[i], out);
    }
    freeReplyObject(reply);
    redisReaderFree(r);
    return out;
}

CommandInfo classify_full(const CommandTable& t, const std::string& name) {
    auto bar = name.find('|');
    if (bar == std::string::npos) return t.classify(name);
    return t.classify(name.substr(0, bar), name.substr(bar + 1));
}

}  // namespace

TEST_CASE("built-in table classifies data commands", "[command_table]") {
    CommandTable t;
    CHECK(t.classify("get").is(kReadOnly));
    CHECK_FALSE(t.classify("get").is(kWrite));
    CHECK(t.classify("set").is(kWrite));
    CHECK(t.classify("set").arity == -3);
    for (const char* w : {"del", "hset", "zadd", "xadd", "sadd", "lpush", "pfadd", "geoadd",
                          "setbit", "sort", "flushall", "flushdb", "copy", "move", "restore",
                          "xreadgroup", "lmpop", "getdel", "swapdb"}) {
        INFO(w);
        CHECK(t.classify(w).is(kWrite));
    }
    for (const char* r :
         {"mget", "hgetall", "zrange", "xrange", "smembers", "pfcount", "keys", "scan", "type",
          "dump", "sort_ro", "bitfield_ro", "georadius_ro", "lcs", "object", "xread"}) {
        INFO(r);
        CHECK(t.classify(r, r == std::string("object") ? "encoding" : "").is(kReadOnly));
    }
    CHECK_FALSE(t.classify("publish").is(kWrite));
    CHECK(t.classify("publish").is(kPubSub));
    CHECK(t.classify("spublish").is(kPubSub));
}

TEST_CASE("built-in table knows blocking commands and their timeouts", "[command_table]") {
    CommandTable t;
    for (const char* name : {"blpop", "brpop", "brpoplpush", "blmove", "bzpopmin", "bzpopmax"}) {
        INFO(name);
        CHECK(t.classify(name).is(kBlocking));
        CHECK(t.classify(name).timeout == TimeoutArg::last_seconds);
    }
    for (const char* name : {"blmpop", "bzmpop"}) {
        INFO(name);
        CHECK(t.classify(name).is(kBlocking));
        CHECK(t.classify(name).timeout == TimeoutArg::first_seconds);
    }
    CHECK(t.classify("xread").is(kBlocking));
    CHECK(t.classify("xread").timeout == TimeoutArg::block_option_ms);
    CHECK(t.classify("xreadgroup").timeout == TimeoutArg::block_option_ms);
    CHECK(t.classify("wait").is(kBlocking));
    CHECK(t.classify("wait").timeout == TimeoutArg::none);
    CHECK_FALSE(t.classify("lpop").is(kBlocking));
}

TEST_CASE("built-in table knows pub/sub, transactions, connection state, scripting",
          "[command_table]") {
    CommandTable t;
    for (const char* name :
         {"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe"}) {
        INFO(name);
        CHECK(t.classify(name).is(kPubSub));
        CHECK(t.classify(name).is(kSubscribe));
    }
    CHECK_FALSE(t.classify("publish").is(kSubscribe));
    for (const char* name : {"multi", "exec", "discard", "watch", "unwatch"}) {
        INFO(name);
        CHECK(t.classify(name).is(kTransaction));
    }
    for (const char* name : {"select", "hello", "auth", "reset", "quit"}) {
        INFO(name);
        CHECK(t.classify(name).is(kConnectionState));
    }
    CHECK(t.classify("client", "setname").is(kConnectionState));
    CHECK(t.classify("client", "setinfo").is(kConnectionState));
    CHECK(t.classify("client", "list").is(kAdmin));
    CHECK_FALSE(t.classify("client", "list").is(kConnectionState));
    CHECK(t.classify("client").is(kAdmin));
    CHECK(t.classify("client", "no-such-sub").is(kAdmin));  // falls back to "client"
    for (const char* name : {"eval", "evalsha", "fcall", "script", "function"}) {
        INFO(name);
        CHECK(t.classify(name).is(kScripting));
        CHECK_FALSE(t.classify(name).is(kReadOnly));
    }
    for (const char* name : {"eval_ro", "evalsha_ro", "fcall_ro"}) {
        INFO(name);
        CHECK(t.classify(name).is(kScripting));
        CHECK(t.classify(name).is(kReadOnly));
    }
    CHECK(t.classify("script", "load").is(kScripting));
    CHECK(t.classify("function", "load").is(kWrite));
    for (const char* name : {"config", "debug", "shutdown", "replicaof", "slaveof", "monitor",
                             "save", "bgsave", "failover"}) {
        INFO(name);
        CHECK(t.classify(name).is(kAdmin));
    }
    CHECK(t.classify("config", "get").is(kAdmin));
    CHECK(t.classify("xinfo", "stream").is(kReadOnly));
    CHECK(t.classify("xgroup", "create").is(kWrite));
    CHECK(t.classify("cluster", "nodes").flags == 0);
}

TEST_CASE("unknown commands are kUnknown", "[command_table]") {
    CommandTable t;
    CHECK(t.classify("no.such.command").is(kUnknown));
    CHECK(t.classify("no.such.command").flags == kUnknown);
    CHECK(t.classify("").is(kUnknown));
    CHECK(t.classify("GET").is(kUnknown));  // names must be lower-cased by the caller
    std::string long_sub(300, 'x');
    CHECK(t.classify("client", long_sub).is(kAdmin));
}

TEST_CASE("built-in table covers every Redis 7.0 command and agrees on flags", "[command_table]") {
    CommandTable t;
    const auto entries = server_entries(fixture("redis7_command.resp"));
    REQUIRE(entries.size() > 350);
    std::vector<std::string> missing, disagree;
    for (const auto& e : entries) {
        CommandInfo info = classify_full(t, e.name);
        if (info.is(kUnknown)) {
            missing.push_back(e.name);
            continue;
        }
        if (info.is(kWrite) != (e.flags.count("write") > 0) ||
            info.is(kReadOnly) != (e.flags.count("readonly") > 0) ||
            (e.flags.count("blocking") > 0 && !info.is(kBlocking)) ||
            (e.flags.count("pubsub") > 0 && !info.is(kPubSub)) ||
            (e.flags.count("admin") > 0 && !info.is(kAdmin))) {
            disagree.push_back(e.name);
        }
    }
    INFO("missing: " << Catch::Detail::stringify(missing));
    INFO("disagree: " << Catch::Detail::stringify(disagree));
    CHECK(missing.empty());
    CHECK(disagree.empty());
}

TEST_CASE("refresh learns from a captured COMMAND INFO reply", "[command_table]") {
    CommandTable t;
    const std::string raw = fixture("redis7_command_info.resp");
    const std::size_t before = t.size();
    const std::size_t learned = t.refresh_from_command_reply(raw);
    // get set blpop client(+ its subcommands) publish xread eval_ro; nosuchcmd is nil.
    CHECK(learned > 7);
    CHECK(t.size() == before);  // all known already
    CHECK(t.classify("get").is(kReadOnly));
    CHECK(t.classify("blpop").is(kBlocking));
    CHECK(t.classify("blpop").timeout == TimeoutArg::last_seconds);  // built-in knowledge kept
    CHECK(t.classify("client", "setname").is(kConnectionState));
    CHECK(t.classify("client", "kill").is(kAdmin));
    CHECK(t.classify("eval_ro").is(kScripting));
    CHECK(t.classify("publish").is(kPubSub));
}

TEST_CASE("refresh learns unknown commands with exactly the server's flags", "[command_table]") {
    CommandTable t;
    const std::string reply =
        "*3\r\n"
        "*6\r\n$9\r\nMYMOD.SET\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:1\r\n:1\r\n"
        "*6\r\n$9\r\nmymod.get\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"
        "*10\r\n$5\r\nmymod\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n"
        "*1\r\n*10\r\n$10\r\nmymod|wait\r\n:3\r\n*3\r\n+blocking\r\n+admin\r\n+noscript\r\n"
        ":0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n*0\r\n";
    CHECK(t.refresh_from_command_reply(reply) == 4);
    CHECK(t.classify("mymod.set").flags == kWrite);
    CHECK(t.classify("mymod.set").arity == -3);
    CHECK(t.classify("mymod.get").flags == kReadOnly);
    CHECK(t.classify("mymod").flags == 0);
    CHECK(t.classify("mymod", "wait").flags == (kBlocking | kAdmin | kNoScript));
}

TEST_CASE("refresh from a full COMMAND reply keeps built-in knowledge", "[command_table]") {
    CommandTable t;
    const std::size_t learned = t.refresh_from_command_reply(fixture("redis7_command.resp"));
    CHECK(learned > 350);
    CHECK(t.classify("multi").is(kTransaction));
    CHECK(t.classify("subscribe").is(kSubscribe));
    CHECK(t.classify("bzmpop").timeout == TimeoutArg::first_seconds);
    CHECK(t.classify("set").is(kWrite));
    CHECK_FALSE(t.classify("set").is(kUnknown));
}

TEST_CASE("refresh ignores malformed replies", "[command_table]") {
    CommandTable t;
    const auto before = t.classify("get").flags;
    const std::size_t size = t.size();
    for (const char* bad :
         {"", "+OK\r\n", "-ERR unknown\r\n", "*1\r\n:1\r\n", "*1\r\n*2\r\n$3\r\nfoo\r\n:1\r\n",
          "*2\r\n*3\r\n$3\r\nnew\r\n:1\r\n*0\r\n", "*1\r\n*3\r\n$3\r\nget\r\n$1\r\n1\r\n*0\r\n",
          "*1\r\n*3\r\n$3\r\nget\r\n:1\r\n*1\r\n:5\r\n"}) {
        INFO(bad);
        CHECK(t.refresh_from_command_reply(bad) == 0);
    }
    // A good entry followed by a bad one changes nothing.
    CHECK(t.refresh_from_command_reply("*2\r\n*3\r\n$6\r\nnewcmd\r\n:1\r\n*0\r\n:5\r\n") == 0);
    CHECK(t.size() == size);
    CHECK(t.classify("get").flags == before);
    CHECK(t.classify("newcmd").is(kUnknown));
}

TEST_CASE("container commands read their sub-command in any case; others ignore argv[1]",
          "[command_table]") {
    CommandTable t;
    CHECK(t.classify("client", "SetName").is(kConnectionState));
    CHECK(t.classify("memory", "USAGE").is(kReadOnly));
    CHECK(t.classify("acl", "whoami").flags == t.classify("acl|whoami").flags);
    // A key that happens to look like a sub-command changes nothing for a plain command.
    CHECK(t.classify("get", "setname").flags == t.classify("get").flags);
    // An unknown sub-command falls back to the container's own entry.
    CHECK(t.classify("client", "no-such-sub").flags == t.classify("client").flags);
}
