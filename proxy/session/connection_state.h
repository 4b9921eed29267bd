// What one client told its Redis connection, and so what any new backend connection must
// be told again before the client's commands go out: credentials, protocol version, name
// and library, database, subscriptions, client flags (NO-EVICT, NO-TOUCH), and an open
// MULTI with what it queued. WATCH cannot be replayed (the watched values are gone with
// the old connection): it is marked broken, so EXEC answers nil as if a watched key had
// changed. CLIENT TRACKING, MONITOR and a known CLIENT ID cannot be replayed either: they
// bind the client to its connection (bound_to_link), which the session then closes with
// it, as Redis does. CLIENT REPLY OFF|SKIP is kept here, not on Redis (reply_visible).
// Pure, unit-tested; the session applies each state command once its reply says it
// succeeded, and one queued in MULTI once EXEC's reply says it ran.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "protocol/command_policy.h"
#include "protocol/reply_writer.h"
#include "proxy/backend/credentials.h"
#include "proxy/session/transaction_state.h"

namespace sp::proxy {

// One command the proxy sends on a new link on the client's behalf; its reply is swallowed.
struct ReplayStep {
    std::vector<std::string> argv;
    bool critical = false;  // an error reply means the link cannot serve this client
    protocol::CommandKind kind = protocol::CommandKind::normal;
    protocol::SubFamily family = protocol::SubFamily::channel;
    std::int32_t expect = 1;  // reply frames (one per channel for re-subscriptions)
};

// One state command queued inside MULTI (+QUEUED): it changes the state only if EXEC's
// reply says it ran.
struct QueuedChange {
    std::uint32_t index = 0;  // its element in EXEC's reply
    protocol::CommandKind kind = protocol::CommandKind::normal;
    protocol::SubFamily family = protocol::SubFamily::channel;
    std::vector<std::string> argv;
};

class ConnectionState {
  public:
    // Applies a state command that succeeded (EXEC and DISCARD: whatever their reply).
    // `argv` is the command as framed, name first.
    void apply(protocol::CommandKind kind, protocol::SubFamily family,
               const std::vector<std::string>& argv);
    // Inside MULTI, a queued command's bytes are kept to be replayed with the MULTI;
    // `queued`: Redis answered +QUEUED (it has an element in EXEC's reply). A state
    // command (`kind` not normal) then waits for EXEC's reply (exec_ran).
    void queued_in_transaction(std::string_view raw, bool queued = true,
                               protocol::CommandKind kind = protocol::CommandKind::normal,
                               protocol::SubFamily family = protocol::SubFamily::channel,
                               const std::vector<std::string>* argv = nullptr);
    // State commands queued in the open MULTI: EXEC's reply must be read element by element.
    bool has_queued_changes() const { return !queued_changes_.empty(); }
    // EXEC answered: `element_ok[i]` says whether its i-th element is not an error (empty
    // when EXEC ran nothing: nil, EXECABORT). Applies the queued state commands that ran;
    // apply(exec) then closes the transaction.
    void exec_ran(const std::vector<bool>& element_ok);
    // Whether the client is sent the reply of a command that completes now (in client
    // order, after the state commands before it applied). CLIENT REPLY OFF|SKIP reach
    // Redis as CLIENT REPLY ON, so Redis always replies and the proxy drops what Redis
    // would not have sent: a lost link then has no reply mode to restore.
    bool reply_visible(protocol::CommandKind kind, const std::vector<std::string>* argv,
                       bool success);
    // The connection mode a new link cannot restore: the client must be closed with its
    // link (nullptr: none).
    const char* bound_to_link() const;
    // The link the WATCH ran on is gone.
    void link_lost() {
        if (tx_.watching()) watch_broken_ = true;
    }
    // RESET: back to a new connection's state (Redis 7 `resetCommand`).
    void reset();

    // Commands to send first on a new backend link, in order.
    std::vector<ReplayStep> replay(const BackendCredentials& proxy_credentials) const;
    // The raw bytes of the open MULTI and its queued commands, with each one's length.
    const std::string& transaction_bytes() const { return tx_log_; }
    const std::vector<std::uint32_t>& transaction_lengths() const { return tx_lens_; }

    protocol::RespVersion proto() const { return proto_; }
    void set_proto(protocol::RespVersion v) { proto_ = v; }
    long long db() const { return db_; }
    const std::string& client_name() const { return client_name_; }
    bool has_client_auth() const { return client_auth_.has_value(); }
    bool subscribed() const {
        return !channels_.empty() || !patterns_.empty() || !shard_channels_.empty();
    }
    const std::set<std::string>& subscriptions(protocol::SubFamily family) const;
    bool in_multi() const { return tx_.in_multi(); }
    bool watching() const { return tx_.watching(); }
    const TransactionState& transaction() const { return tx_; }
    bool watch_broken() const { return watch_broken_; }
    // A command must not go over a shared link in this state (read from Redis's replies;
    // the session's guess from the requests may be behind).
    bool needs_own_link() const {
        return tx_.in_multi() || tx_.watching() || db_ != 0 || subscribed() || bound_to_link() ||
               !client_flags_.empty() || reply_mode_ != ReplyMode::on;
    }

  private:
    std::set<std::string>& subscriptions_mut(protocol::SubFamily family);

    protocol::RespVersion proto_ = protocol::RespVersion::resp2;
    long long db_ = 0;
    std::string client_name_;
    std::string lib_name_, lib_ver_;
    std::optional<std::pair<std::string, std::string>> client_auth_;  // user (may be ""), pass
    std::set<std::string> channels_, patterns_, shard_channels_;
    TransactionState tx_;  // MULTI answered +OK (EXEC/DISCARD not yet), WATCH
    std::string tx_log_;
    std::vector<std::uint32_t> tx_lens_;
    bool watch_broken_ = false;
    std::uint32_t queued_count_ = 0;  // commands answered +QUEUED in the open MULTI
    std::vector<QueuedChange> queued_changes_;
    enum class ReplyMode : std::uint8_t { on, off, skip };
    ReplyMode reply_mode_ = ReplyMode::on;
    bool tracking_ = false;
    bool monitor_ = false;
    bool id_known_ = false;
    std::set<std::string> client_flags_;  // "NO-EVICT", "NO-TOUCH" switched on
};

}  // namespace sp::proxy
