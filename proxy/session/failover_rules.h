// The failover rules, as pure functions: given a request (or what is in flight) and what
// happened to its link (an error reply, the link lost, the master changed, no reply in
// time), whether the session passes the reply on, re-sends, holds, or closes the client
// because a write's outcome is unknown. They decide only; ClientSession acts. Each rule is
// what a client connected to Redis directly would see: a command is re-sent only when it
// provably did not run, or running it twice is harmless.
#pragma once

#include <cstdint>
#include <string_view>

#include "proxy/session/request.h"

namespace sp::proxy::failover_rules {

// What to do about the requests in flight.
enum class Action : std::uint8_t {
    none,                   // not a failover matter: the reply goes to the client as it came
    resend_from_master,     // a replica could not serve: the reads go to the master
    resend_on_new_master,   // the node is no longer master: everything unanswered goes to
                            // the next master (the node avoided until a new snapshot)
    resend,                 // the link is gone, nothing in flight is lost: send it again
    close_unknown_outcome,  // a write was in flight: its outcome is unknown
};

// Whether `r`, sent and not answered, may be sent again on another link: the proxy's own
// requests, local replies and commands queued in a MULTI (replayed with it) always may.
bool may_resend(const Request& r);

// An error reply `head` (its first line without the '-') to `front`, the oldest request in
// flight, which went to a replica when `on_replica`. LOADING or MASTERDOWN from a replica:
// the read did not run, the master answers it. READONLY, or Redis's own -UNBLOCKED of a
// demotion: the node is no longer master and the command did not run. Everything else
// (a -UNBLOCKED from CLIENT UNBLOCK ... ERROR, a streamed command's READONLY that cannot be
// re-sent, any error to the proxy's own requests) is not a failover matter.
Action after_error_reply(const Request& front, std::string_view head, bool on_replica);

// The link carrying the requests in flight was lost (`replica_link`: the shared link to the
// replica those reads went to); `in_flight_resendable`: every request in flight may_resend.
Action after_link_lost(bool replica_link, bool in_flight_resendable);

// A new master was published while the session's requests in flight went to `upstream`
// (none: nothing connected). Reads in flight on a replica finish there; requests to another
// master are re-sent if they may be, else the client is closed.
Action after_master_changed(bool has_upstream, bool upstream_is_replica, bool upstream_is_master,
                            bool in_flight_resendable);

// `front`, sent at issued_ms, has no reply after `timeout_ms`: its master hangs, the client is
// closed. Blocking commands, subscriptions, local replies and unsent requests never time out.
bool timed_out(const Request& front, std::uint64_t now_ms, std::uint32_t timeout_ms);

// A master the session lost or was told is demoted, avoided for a while: until a new snapshot
// (`until_ms` 0), or until `until_ms` on the loop's clock for a lost link.
struct Avoided {
    bool any = false;
    bool is_master = false;        // the avoided node is the snapshot's master
    std::uint64_t generation = 0;  // the snapshot generation when it was avoided
    std::uint64_t until_ms = 0;
};
// Whether the session may send to the snapshot's master (generation `generation`) now.
bool may_send_to_master(const Avoided& avoided, std::uint64_t generation, std::uint64_t now_ms);

// What the session knows when it asks whether it is holding (waiting for a master).
struct HoldView {
    bool replica_waiting = false;  // read_from = replica and no eligible replica
    bool paused_at_hold_limit = false;
    bool unsent_for_redis = false;           // requests Redis must answer, not sent yet
    bool in_flight_link_connecting = false;  // requests in flight on a link still connecting
    bool subscriber_without_link = false;    // subscribed, its dedicated link not connected
    // may_send_to_master (and a master is known); the session fills it in only when one of
    // the fields above is set: otherwise holding() is false whatever it says.
    bool may_send = false;
};
// Whether the session's requests wait for a master, bounded by the hold window.
bool holding(const HoldView& v);
// Whether a hold counts in the metrics as one (a wait for a master, not a new link to a
// verified one still connecting).
bool hold_counts(const HoldView& v);

}  // namespace sp::proxy::failover_rules
