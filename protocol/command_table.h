// The one place that knows what each Redis command is: write, read-only, blocking,
// pub/sub, transaction, connection state, scripting, admin. Built in for Redis 7 and
// refreshable from a server's COMMAND reply, so commands this table has never seen are
// still classified. Whether a row was reviewed (built in) or only learned from the server
// matters to command_policy: only reviewed rows may share a link on the table's word alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sp::protocol {

enum CommandFlag : std::uint32_t {
    kWrite = 1u << 0,
    kReadOnly = 1u << 1,
    kBlocking = 1u << 2,         // may block the connection (BLPOP, XREAD BLOCK, WAIT...)
    kPubSub = 1u << 3,           // SUBSCRIBE family and PUBLISH
    kSubscribe = 1u << 4,        // enters/changes subscribed state: (P|S)(UN)SUBSCRIBE
    kTransaction = 1u << 5,      // MULTI EXEC DISCARD WATCH UNWATCH
    kConnectionState = 1u << 6,  // SELECT HELLO AUTH CLIENT SETNAME/SETINFO RESET QUIT
    kScripting = 1u << 7,        // EVAL EVALSHA FCALL SCRIPT FUNCTION
    kAdmin = 1u << 8,            // CONFIG, SHUTDOWN, DEBUG, REPLICAOF, ...
    kNoScript = 1u << 9,         // server flag "noscript"
    kUnknown = 1u << 31,         // nobody knows it: goes to the master
};

// Where a blocking command keeps its timeout, so the proxy can re-issue it with the
// remaining time after a failover.
enum class TimeoutArg : std::uint8_t {
    none,
    last_seconds,     // BLPOP k1 k2 timeout, BRPOPLPUSH, BLMOVE, BZPOPMIN...
    first_seconds,    // BLMPOP timeout numkeys ..., BZMPOP timeout numkeys ...
    block_option_ms,  // XREAD/XREADGROUP ... BLOCK ms ...
};

struct CommandInfo {
    std::uint32_t flags = kUnknown;
    int arity = 0;  // Redis convention: negative means "at least -arity"
    TimeoutArg timeout = TimeoutArg::none;
    bool container = false;  // has "name|sub" entries (CLIENT, CONFIG, ACL, XINFO...)
    // A built-in row: its connection semantics were reviewed for this table. Commands
    // learned only from a server's COMMAND reply, and sub-commands the table does not
    // have (classified as their parent), are not.
    bool reviewed = false;

    bool is(std::uint32_t f) const { return (flags & f) != 0; }
};

class CommandTable {
  public:
    // The built-in Redis 7 table.
    CommandTable();

    // Classifies a command by lower-cased name and, for container commands (CLIENT,
    // CONFIG, ACL, XINFO... : those with "name|sub" entries), its first argument in any
    // case. Other commands cost one lookup whatever `sub` is, so callers may always pass
    // argv[1]. Never fails: an unknown command gets {kUnknown}; a sub-command the table
    // does not have gets its parent's flags, not reviewed.
    CommandInfo classify(std::string_view lower_name, std::string_view lower_sub = {}) const;

    // Learns from the raw RESP2 bytes of a `COMMAND` (or `COMMAND INFO ...`) reply: each
    // entry's name and flags (write, readonly, blocking, pubsub, noscript, admin,
    // loading...) and subcommands. Returns the number of entries learned; malformed
    // input returns 0 and changes nothing.
    std::size_t refresh_from_command_reply(std::string_view raw_reply);

    std::size_t size() const { return table_.size(); }

  private:
    void mark_containers();

    // Transparent hashing: classify() looks names up without building a std::string.
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, CommandInfo, NameHash, std::equal_to<>>
        table_;  // "name" or "name|sub"
};

}  // namespace sp::protocol
