// The built-in Redis 7 command table, plus learning from a server's COMMAND reply. The
// built-in rows carry what the server's flags do not say (transactions, connection
// state, scripting, subscribe, where a blocking command keeps its timeout); the server's
// reply adds commands this table has never heard of (modules, newer versions).
#include "protocol/command_table.h"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <cctype>
#include <cstring>
#include <iterator>
#include <memory>
#include <vector>

namespace sp::protocol {

namespace {

struct Row {
    const char* name;
    int arity;
    std::uint32_t flags;
    TimeoutArg timeout = TimeoutArg::none;
};

constexpr std::uint32_t W = kWrite, R = kReadOnly, B = kBlocking, P = kPubSub, S = kSubscribe,
                        T = kTransaction, C = kConnectionState, X = kScripting, A = kAdmin,
                        N = kNoScript;
constexpr TimeoutArg kLast = TimeoutArg::last_seconds, kFirst = TimeoutArg::first_seconds,
                     kBlockMs = TimeoutArg::block_option_ms;

// clang-format off
const Row kBuiltin[] = {
    // strings
    {"append", 3, W}, {"decr", 2, W}, {"decrby", 3, W}, {"get", 2, R}, {"getdel", 2, W},
    {"getex", -2, W}, {"getrange", 4, R}, {"getset", 3, W}, {"incr", 2, W}, {"incrby", 3, W},
    {"incrbyfloat", 3, W}, {"lcs", -3, R}, {"mget", -2, R}, {"mset", -3, W}, {"msetnx", -3, W},
    {"psetex", 4, W}, {"set", -3, W}, {"setex", 4, W}, {"setnx", 3, W}, {"setrange", 4, W},
    {"strlen", 2, R}, {"substr", 4, R},
    // bitmaps
    {"bitcount", -2, R}, {"bitfield", -2, W}, {"bitfield_ro", -2, R}, {"bitop", -4, W},
    {"bitpos", -3, R}, {"getbit", 3, R}, {"setbit", 4, W},
    // lists
    {"blmove", 6, W | B | N, kLast}, {"blmpop", -5, W | B, kFirst}, {"blpop", -3, W | B | N, kLast},
    {"brpop", -3, W | B | N, kLast}, {"brpoplpush", 4, W | B | N, kLast}, {"lindex", 3, R},
    {"linsert", 5, W}, {"llen", 2, R}, {"lmove", 5, W}, {"lmpop", -4, W}, {"lpop", -2, W},
    {"lpos", -3, R}, {"lpush", -3, W}, {"lpushx", -3, W}, {"lrange", 4, R}, {"lrem", 4, W},
    {"lset", 4, W}, {"ltrim", 4, W}, {"rpop", -2, W}, {"rpoplpush", 3, W}, {"rpush", -3, W},
    {"rpushx", -3, W},
    // sets
    {"sadd", -3, W}, {"scard", 2, R}, {"sdiff", -2, R}, {"sdiffstore", -3, W}, {"sinter", -2, R},
    {"sintercard", -3, R}, {"sinterstore", -3, W}, {"sismember", 3, R}, {"smembers", 2, R},
    {"smismember", -3, R}, {"smove", 4, W}, {"spop", -2, W}, {"srandmember", -2, R},
    {"srem", -3, W}, {"sscan", -3, R}, {"sunion", -2, R}, {"sunionstore", -3, W},
    // sorted sets
    {"bzmpop", -5, W | B, kFirst}, {"bzpopmax", -3, W | B | N, kLast},
    {"bzpopmin", -3, W | B | N, kLast}, {"zadd", -4, W}, {"zcard", 2, R}, {"zcount", 4, R},
    {"zdiff", -3, R}, {"zdiffstore", -4, W}, {"zincrby", 4, W}, {"zinter", -3, R},
    {"zintercard", -3, R}, {"zinterstore", -4, W}, {"zlexcount", 4, R}, {"zmpop", -4, W},
    {"zmscore", -3, R}, {"zpopmax", -2, W}, {"zpopmin", -2, W}, {"zrandmember", -2, R},
    {"zrange", -4, R}, {"zrangebylex", -4, R}, {"zrangebyscore", -4, R}, {"zrangestore", -5, W},
    {"zrank", -3, R}, {"zrem", -3, W}, {"zremrangebylex", 4, W}, {"zremrangebyrank", 4, W},
    {"zremrangebyscore", 4, W}, {"zrevrange", -4, R}, {"zrevrangebylex", -4, R},
    {"zrevrangebyscore", -4, R}, {"zrevrank", -3, R}, {"zscan", -3, R}, {"zscore", 3, R},
    {"zunion", -3, R}, {"zunionstore", -4, W},
    // hashes
    {"hdel", -3, W}, {"hexists", 3, R}, {"hget", 3, R}, {"hgetall", 2, R}, {"hincrby", 4, W},
    {"hincrbyfloat", 4, W}, {"hkeys", 2, R}, {"hlen", 2, R}, {"hmget", -3, R}, {"hmset", -4, W},
    {"hrandfield", -2, R}, {"hscan", -3, R}, {"hset", -4, W}, {"hsetnx", 4, W},
    {"hstrlen", 3, R}, {"hvals", 2, R},
    // hyperloglog
    {"pfadd", -2, W}, {"pfcount", -2, R}, {"pfdebug", 3, W | A}, {"pfmerge", -2, W},
    {"pfselftest", 1, A},
    // geo
    {"geoadd", -5, W}, {"geodist", -4, R}, {"geohash", -2, R}, {"geopos", -2, R},
    {"georadius", -6, W}, {"georadius_ro", -6, R}, {"georadiusbymember", -5, W},
    {"georadiusbymember_ro", -5, R}, {"geosearch", -7, R}, {"geosearchstore", -8, W},
    // streams (XREAD/XREADGROUP block only with BLOCK: the proxy checks the option)
    {"xack", -4, W}, {"xadd", -5, W}, {"xautoclaim", -6, W}, {"xclaim", -6, W}, {"xdel", -3, W},
    {"xgroup", -2, 0}, {"xgroup|create", -5, W}, {"xgroup|createconsumer", 5, W},
    {"xgroup|delconsumer", 5, W}, {"xgroup|destroy", 4, W}, {"xgroup|setid", -5, W},
    {"xgroup|help", 2, 0},
    {"xinfo", -2, 0}, {"xinfo|consumers", 4, R}, {"xinfo|groups", 3, R}, {"xinfo|stream", -3, R},
    {"xinfo|help", 2, 0},
    {"xlen", 2, R}, {"xpending", -3, R}, {"xrange", -4, R}, {"xread", -4, R | B, kBlockMs},
    {"xreadgroup", -7, W | B, kBlockMs}, {"xrevrange", -4, R}, {"xsetid", -3, W},
    {"xtrim", -4, W},
    // keyspace
    {"copy", -3, W}, {"del", -2, W}, {"dump", 2, R}, {"exists", -2, R}, {"expire", -3, W},
    {"expireat", -3, W}, {"expiretime", 2, R}, {"keys", 2, R}, {"migrate", -6, W},
    {"move", 3, W}, {"object", -2, 0}, {"object|encoding", 3, R}, {"object|freq", 3, R},
    {"object|idletime", 3, R}, {"object|refcount", 3, R}, {"object|help", 2, 0},
    {"persist", 2, W}, {"pexpire", -3, W}, {"pexpireat", -3, W}, {"pexpiretime", 2, R},
    {"pttl", 2, R}, {"randomkey", 1, R}, {"rename", 3, W}, {"renamenx", 3, W},
    {"restore", -4, W}, {"restore-asking", -4, W | A}, {"scan", -2, R}, {"sort", -2, W},
    {"sort_ro", -2, R}, {"touch", -2, R}, {"ttl", 2, R}, {"type", 2, R}, {"unlink", -2, W},
    {"wait", 3, B | N}, {"waitaof", 4, B | N},
    // pub/sub
    {"psubscribe", -2, P | S | N}, {"publish", 3, P}, {"punsubscribe", -1, P | S | N},
    {"spublish", 3, P}, {"ssubscribe", -2, P | S | N}, {"subscribe", -2, P | S | N},
    {"sunsubscribe", -1, P | S | N}, {"unsubscribe", -1, P | S | N},
    {"pubsub", -2, 0}, {"pubsub|channels", -2, P}, {"pubsub|numpat", 2, P},
    {"pubsub|numsub", -2, P}, {"pubsub|shardchannels", -2, P}, {"pubsub|shardnumsub", -2, P},
    {"pubsub|help", 2, 0},
    // transactions
    {"discard", 1, T | N}, {"exec", 1, T | N}, {"multi", 1, T | N}, {"unwatch", 1, T | N},
    {"watch", -2, T | N},
    // scripting and functions
    {"eval", -3, X | N}, {"eval_ro", -3, X | R | N}, {"evalsha", -3, X | N},
    {"evalsha_ro", -3, X | R | N}, {"fcall", -3, X | N}, {"fcall_ro", -3, X | R | N},
    {"function", -2, X | N}, {"function|delete", 3, W | X | N}, {"function|dump", 2, X | N},
    {"function|flush", -2, W | X | N}, {"function|kill", 2, X | N},
    {"function|list", -2, X | N}, {"function|load", -3, W | X | N},
    {"function|restore", -3, W | X | N}, {"function|stats", 2, X | N},
    {"function|help", 2, X},
    {"script", -2, X | N}, {"script|debug", 3, X | N}, {"script|exists", -3, X | N},
    {"script|flush", -2, X | N}, {"script|kill", 2, X | N}, {"script|load", 3, X | N},
    {"script|help", 2, X},
    // connection
    {"auth", -2, C | N}, {"echo", 2, 0}, {"hello", -1, C | N}, {"ping", -1, 0},
    {"quit", -1, C | N}, {"reset", 1, C | N}, {"select", 2, C}, {"readonly", 1, C},
    {"readwrite", 1, C}, {"asking", 1, 0},
    {"client", -2, A | N}, {"client|caching", 3, C | N}, {"client|getname", 2, N},
    {"client|getredir", 2, N}, {"client|id", 2, N}, {"client|info", 2, N},
    {"client|kill", -3, A | N}, {"client|list", -2, A | N}, {"client|no-evict", 3, A | N},
    {"client|no-touch", 3, N}, {"client|pause", -3, A | N}, {"client|reply", 3, C | N},
    {"client|setinfo", 4, C | N}, {"client|setname", 3, C | N},
    {"client|tracking", -3, C | N}, {"client|trackinginfo", 2, N},
    {"client|unblock", -3, A | N}, {"client|unpause", 2, A | N}, {"client|help", 2, 0},
    // server
    {"acl", -2, 0}, {"acl|cat", -2, N}, {"acl|deluser", -3, A | N}, {"acl|dryrun", -4, A | N},
    {"acl|genpass", -2, N}, {"acl|getuser", 3, A | N}, {"acl|list", 2, A | N},
    {"acl|load", 2, A | N}, {"acl|log", -2, A | N}, {"acl|save", 2, A | N},
    {"acl|setuser", -3, A | N}, {"acl|users", 2, A | N}, {"acl|whoami", 2, N},
    {"acl|help", 2, 0},
    {"bgrewriteaof", 1, A | N}, {"bgsave", -1, A | N},
    {"command", -1, 0}, {"command|count", 2, 0}, {"command|docs", -2, 0},
    {"command|getkeys", -3, 0}, {"command|getkeysandflags", -3, 0}, {"command|info", -2, 0},
    {"command|list", -2, 0}, {"command|help", 2, 0},
    {"config", -2, A | N}, {"config|get", -3, A | N}, {"config|set", -4, A | N},
    {"config|resetstat", 2, A | N}, {"config|rewrite", 2, A | N}, {"config|help", 2, 0},
    {"dbsize", 1, R}, {"debug", -2, A | N}, {"failover", -1, A | N}, {"flushall", -1, W},
    {"flushdb", -1, W}, {"info", -1, 0}, {"lastsave", 1, 0},
    {"latency", -2, A | N}, {"latency|doctor", 2, A | N}, {"latency|graph", 3, A | N},
    {"latency|histogram", -2, A | N}, {"latency|history", 3, A | N},
    {"latency|latest", 2, A | N}, {"latency|reset", -2, A | N}, {"latency|help", 2, 0},
    {"lolwut", -1, R},
    {"memory", -2, 0}, {"memory|doctor", 2, 0}, {"memory|malloc-stats", 2, 0},
    {"memory|purge", 2, 0}, {"memory|stats", 2, 0}, {"memory|usage", -3, R},
    {"memory|help", 2, 0},
    {"module", -2, A | N}, {"module|list", 2, A | N}, {"module|load", -3, A | N},
    {"module|loadex", -3, A | N}, {"module|unload", 3, A | N}, {"module|help", 2, 0},
    {"monitor", 1, A | N}, {"psync", -3, A | N}, {"replconf", -1, A | N},
    {"replicaof", 3, A | N}, {"role", 1, N}, {"save", 1, A | N}, {"shutdown", -1, A | N},
    {"slaveof", 3, A | N},
    {"slowlog", -2, A}, {"slowlog|get", -2, A}, {"slowlog|len", 2, A}, {"slowlog|reset", 2, A},
    {"slowlog|help", 2, 0},
    {"swapdb", 3, W}, {"sync", 1, A | N}, {"time", 1, 0},
    // cluster
    {"cluster", -2, 0}, {"cluster|addslots", -3, A}, {"cluster|addslotsrange", -4, A},
    {"cluster|bumpepoch", 2, A}, {"cluster|count-failure-reports", 3, A},
    {"cluster|countkeysinslot", 3, 0}, {"cluster|delslots", -3, A},
    {"cluster|delslotsrange", -4, A}, {"cluster|failover", -2, A}, {"cluster|flushslots", 2, A},
    {"cluster|forget", 3, A}, {"cluster|getkeysinslot", 4, 0}, {"cluster|info", 2, 0},
    {"cluster|keyslot", 3, 0}, {"cluster|links", 2, 0}, {"cluster|meet", -4, A},
    {"cluster|myid", 2, 0}, {"cluster|myshardid", 2, 0}, {"cluster|nodes", 2, 0},
    {"cluster|replicas", 3, A}, {"cluster|replicate", 3, A}, {"cluster|reset", -2, A},
    {"cluster|saveconfig", 2, A}, {"cluster|set-config-epoch", 3, A}, {"cluster|setslot", -4, A},
    {"cluster|shards", 2, 0}, {"cluster|slaves", 3, A}, {"cluster|slots", 2, 0},
    {"cluster|help", 2, 0},
    // sentinel (when talking to a sentinel)
    {"sentinel", -2, A},
};
// clang-format on

// Server flag names (COMMAND reply, status strings) that map onto ours.
std::uint32_t flag_from_server(std::string_view f) {
    if (f == "write") return kWrite;
    if (f == "readonly") return kReadOnly;
    if (f == "blocking") return kBlocking;
    if (f == "pubsub") return kPubSub;
    if (f == "noscript") return kNoScript;
    if (f == "admin") return kAdmin;
    return 0;
}

std::string lower_copy(const char* s, std::size_t n) {
    std::string out(s, n);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    return out;
}

struct Learned {
    std::string name;
    int arity;
    std::uint32_t flags;
};

// One COMMAND entry: [name, arity, [flags...], first, last, step, (acl categories, tips,
// key specs, subcommands)]. Returns false when it does not look like one.
bool learn_entry(const redisReply* e, std::vector<Learned>& out, int depth) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3) return false;
    const redisReply* name = e->element[0];
    const redisReply* arity = e->element[1];
    const redisReply* flags = e->element[2];
    if ((name->type != REDIS_REPLY_STRING && name->type != REDIS_REPLY_STATUS) || name->len == 0)
        return false;
    if (arity->type != REDIS_REPLY_INTEGER || flags->type != REDIS_REPLY_ARRAY) return false;
    Learned l{lower_copy(name->str, name->len), static_cast<int>(arity->integer), 0};
    for (std::size_t i = 0; i < flags->elements; ++i) {
        const redisReply* f = flags->element[i];
        if (f->type != REDIS_REPLY_STATUS && f->type != REDIS_REPLY_STRING) return false;
        l.flags |= flag_from_server(std::string_view(f->str, f->len));
    }
    out.push_back(std::move(l));
    // Redis 7: element 9 holds the subcommands, entries of the same shape.
    if (e->elements >= 10 && depth == 0) {
        const redisReply* subs = e->element[9];
        if (subs->type != REDIS_REPLY_ARRAY) return false;
        for (std::size_t i = 0; i < subs->elements; ++i) {
            if (!learn_entry(subs->element[i], out, depth + 1)) return false;
        }
    }
    return true;
}

}  // namespace

CommandTable::CommandTable() {
    table_.reserve(std::size(kBuiltin) * 2);
    for (const Row& row : kBuiltin) {
        CommandInfo info{row.flags, row.arity, row.timeout};
        info.reviewed = true;
        table_.emplace(row.name, info);
    }
    mark_containers();
}

CommandInfo CommandTable::classify(std::string_view lower_name, std::string_view sub) const {
    auto it = table_.find(lower_name);
    if (it == table_.end()) return CommandInfo{};
    if (!it->second.container || sub.empty()) return it->second;
    char key[128];
    const std::size_t n = lower_name.size() + 1 + sub.size();
    if (n > sizeof(key)) {
        CommandInfo parent = it->second;
        parent.reviewed = false;
        return parent;
    }
    std::memcpy(key, lower_name.data(), lower_name.size());
    key[lower_name.size()] = '|';
    for (std::size_t i = 0; i < sub.size(); ++i)
        key[lower_name.size() + 1 + i] =
            static_cast<char>(std::tolower(static_cast<unsigned char>(sub[i])));
    auto sub_it = table_.find(std::string_view(key, n));
    if (sub_it != table_.end()) return sub_it->second;
    CommandInfo parent = it->second;
    parent.reviewed = false;
    return parent;
}

// A name with "name|sub" entries is a container: classify() then looks at its first
// argument. A sub-command learned without its parent gets a parent entry (unknown flags).
void CommandTable::mark_containers() {
    std::vector<std::string> parents;
    for (const auto& [name, info] : table_) {
        auto bar = name.find('|');
        if (bar != std::string::npos) parents.push_back(name.substr(0, bar));
    }
    for (std::string& parent : parents) table_[std::move(parent)].container = true;
}

std::size_t CommandTable::refresh_from_command_reply(std::string_view raw_reply) {
    std::unique_ptr<redisReader, void (*)(redisReader*)> reader(redisReaderCreate(),
                                                                &redisReaderFree);
    if (!reader || raw_reply.empty()) return 0;
    if (redisReaderFeed(reader.get(), raw_reply.data(), raw_reply.size()) != REDIS_OK) return 0;
    void* obj = nullptr;
    if (redisReaderGetReply(reader.get(), &obj) != REDIS_OK || obj == nullptr) return 0;
    std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(obj),
                                                       &freeReplyObject);
    if (reply->type != REDIS_REPLY_ARRAY) return 0;

    std::vector<Learned> learned;
    for (std::size_t i = 0; i < reply->elements; ++i) {
        const redisReply* e = reply->element[i];
        if (e->type == REDIS_REPLY_NIL) continue;  // COMMAND INFO of an unknown name
        if (!learn_entry(e, learned, 0)) return 0;
    }
    for (Learned& l : learned) {
        auto it = table_.find(std::string_view(l.name));
        if (it != table_.end()) {
            it->second.flags = (it->second.flags & ~static_cast<std::uint32_t>(kUnknown)) | l.flags;
            it->second.arity = l.arity;
        } else {
            table_.emplace(std::move(l.name), CommandInfo{l.flags, l.arity, TimeoutArg::none});
        }
    }
    mark_containers();
    return learned.size();
}

}  // namespace sp::protocol
