// What the commands a client sent so far will have made of its connection, decided as each
// is framed (the ConnectionState follows Redis's replies later): whether the next command
// may go over a shared link, the protocol its local replies use, the proxy login, and
// whether WAIT needs a fence. When every request is answered, what Redis did wins (settle).
#pragma once

#include "protocol/command_policy.h"
#include "protocol/hello_options.h"
#include "protocol/reply_writer.h"
#include "protocol/request_parser.h"
#include "proxy/session/transaction_state.h"

namespace sp::proxy {

class ConnectionState;

class ParseTimeState {
  public:
    // Follows `cmd` (its HELLO options in `hello`, parsed once by the caller): true when it
    // may go over a shared link, that is when the client is in the default state before and
    // after it. `own_credentials`: an AUTH/HELLO AUTH with the proxy's own Redis login.
    bool route(const protocol::Command& cmd, const protocol::CommandPolicy& policy,
               const protocol::HelloOptions* hello, bool own_credentials, bool shared_links);
    // Every request answered: Redis's replies say what the connection is.
    void settle(const ConnectionState& state);

    bool multi_open() const { return tx_.in_multi(); }
    bool watching() const { return tx_.watching(); }
    bool sticky() const { return sticky_pin_; }
    protocol::RespVersion proto() const { return proto_; }

    // The client password (client_password): logged in to the proxy.
    bool authenticated() const { return authenticated_; }
    void set_authenticated(bool yes) { authenticated_ = yes; }

    // A write went over a shared link; a WAIT after it needs a fence first (true once).
    void note_shared_write() { writes_unfenced_ = true; }
    bool take_unfenced_writes() {
        const bool was = writes_unfenced_;
        writes_unfenced_ = false;
        return was;
    }

  private:
    bool pinned() const { return sticky_pin_ || tx_.in_multi() || tx_.watching() || db_nonzero_; }

    bool authenticated_ = false;
    TransactionState tx_;  // MULTI/WATCH, as predicted from the commands
    bool db_nonzero_ = false;
    bool sticky_pin_ = false;       // subscriptions, blocking, MONITOR, own AUTH...: stays
    bool writes_unfenced_ = false;  // a write went over a shared link since the last WAIT
    protocol::RespVersion proto_ = protocol::RespVersion::resp2;
};

}  // namespace sp::proxy
