// What one client told its Redis connection, and so what any new backend connection must
// be told again before the client's commands go out: credentials, protocol version, name
// and library, database, subscriptions, and an open MULTI with what it queued. WATCH
// cannot be replayed (the watched values are gone with the old connection): it is marked
// broken, so EXEC answers nil as if a watched key had changed. Pure, unit-tested; the
// session applies each state command once its reply says it succeeded.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "protocol/command_policy.h"
#include "protocol/reply_writer.h"

namespace sp::proxy {

// One command the proxy sends on a new link on the client's behalf; its reply is swallowed.
struct ReplayStep {
    std::vector<std::string> argv;
    bool critical = false;  // an error reply means the link cannot serve this client
    protocol::CommandKind kind = protocol::CommandKind::normal;
    protocol::SubFamily family = protocol::SubFamily::channel;
    std::int32_t expect = 1;  // reply frames (one per channel for re-subscriptions)
};

// The proxy's own credentials for Redis, used when the client gave none.
struct BackendCredentials {
    std::string user;
    std::string password;
};

class ConnectionState {
  public:
    // Applies a state command that succeeded (EXEC and DISCARD: whatever their reply).
    // `argv` is the command as framed, name first.
    void apply(protocol::CommandKind kind, protocol::SubFamily family,
               const std::vector<std::string>& argv);
    // Inside MULTI, a queued command's bytes are kept to be replayed with the MULTI.
    void queued_in_transaction(std::string_view raw);
    // The link the WATCH ran on is gone.
    void link_lost() {
        if (watching_) watch_broken_ = true;
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
    bool in_multi() const { return in_multi_; }
    bool watching() const { return watching_; }
    bool watch_broken() const { return watch_broken_; }

  private:
    std::set<std::string>& subscriptions_mut(protocol::SubFamily family);

    protocol::RespVersion proto_ = protocol::RespVersion::resp2;
    long long db_ = 0;
    std::string client_name_;
    std::string lib_name_, lib_ver_;
    std::optional<std::pair<std::string, std::string>> client_auth_;  // user (may be ""), pass
    std::set<std::string> channels_, patterns_, shard_channels_;
    bool in_multi_ = false;  // MULTI answered +OK, EXEC/DISCARD not yet
    std::string tx_log_;
    std::vector<std::uint32_t> tx_lens_;
    bool watching_ = false;
    bool watch_broken_ = false;
};

}  // namespace sp::proxy
