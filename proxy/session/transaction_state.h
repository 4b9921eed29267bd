// MULTI/WATCH as Redis runs them, the one place their rules live: MULTI opens a
// transaction; EXEC or DISCARD inside one ends it and the WATCH with it (without one both are
// errors after which Redis keeps the WATCH); WATCH and UNWATCH; RESET ends both.
// ParseTimeState follows it as commands are framed (a prediction), ConnectionState as
// Redis's replies say they ran.
#pragma once

#include "protocol/command_policy.h"

namespace sp::proxy {

class TransactionState {
  public:
    // Follows a command of `kind`; true when it ended an open transaction (EXEC or DISCARD
    // after MULTI), whatever EXEC answered (array, nil, EXECABORT).
    bool follow(protocol::CommandKind kind) {
        using K = protocol::CommandKind;
        switch (kind) {
            case K::multi:
                multi_ = true;
                return false;
            case K::exec:
            case K::discard:
                if (!multi_) return false;
                multi_ = watch_ = false;
                return true;
            case K::watch:
                watch_ = true;
                return false;
            case K::unwatch:
                watch_ = false;
                return false;
            case K::reset:
                multi_ = watch_ = false;
                return false;
            default:
                return false;
        }
    }
    bool in_multi() const { return multi_; }
    bool watching() const { return watch_; }
    // What Redis's replies say (a prediction gives way to them).
    void assume(const TransactionState& other) { *this = other; }

  private:
    bool multi_ = false;  // MULTI, and no EXEC/DISCARD yet
    bool watch_ = false;  // WATCH, and no UNWATCH, EXEC or DISCARD after MULTI, or RESET yet
};

}  // namespace sp::proxy
