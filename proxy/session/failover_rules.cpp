#include "proxy/session/failover_rules.h"

namespace sp::proxy::failover_rules {

namespace {

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}

}  // namespace

bool may_resend(const Request& r) {
    if (r.local() || r.silent() || r.in_tx) return true;
    return r.resendable;
}

Action after_error_reply(const Request& front, std::string_view head, bool on_replica) {
    if (front.silent()) return Action::none;  // the proxy's own: its own rules (set-up)
    if (on_replica && (starts_with(head, "LOADING") || starts_with(head, "MASTERDOWN")))
        return Action::resend_from_master;
    // Only Redis's own demotion text: an -UNBLOCKED from CLIENT UNBLOCK ... ERROR, or for a
    // deleted stream, is the client's answer, as direct. A streamed command cannot be
    // re-sent: its READONLY goes to the client as it came.
    if (!front.streamed && (starts_with(head, "READONLY") ||
                            starts_with(head, "UNBLOCKED force unblock from blocking operation")))
        return Action::resend_on_new_master;
    return Action::none;
}

Action after_link_lost(bool replica_link, bool in_flight_resendable) {
    if (replica_link) return Action::resend_from_master;  // only reads were there
    return in_flight_resendable ? Action::resend : Action::close_unknown_outcome;
}

Action after_master_changed(bool has_upstream, bool upstream_is_replica, bool upstream_is_master,
                            bool in_flight_resendable) {
    // Reads in flight on a replica were valid when sent: they finish there; the next
    // command chooses again against the new master.
    if (!has_upstream || upstream_is_replica || upstream_is_master) return Action::none;
    return in_flight_resendable ? Action::resend : Action::close_unknown_outcome;
}

bool timed_out(const Request& front, std::uint64_t now_ms, std::uint32_t timeout_ms) {
    if (front.local() || front.issued_ms == 0 || (front.flags & protocol::kBlocking) ||
        front.subscription())
        return false;
    return now_ms - front.issued_ms >= timeout_ms;
}

bool may_send_to_master(const Avoided& avoided, std::uint64_t generation, std::uint64_t now_ms) {
    return !(avoided.any && avoided.is_master && avoided.generation == generation &&
             (avoided.until_ms == 0 || now_ms < avoided.until_ms));
}

bool holding(const HoldView& v) {
    if (v.replica_waiting) return true;  // read_from = replica: held the same way
    if (v.paused_at_hold_limit && !v.may_send) return true;  // not read at limits.max_held_*
    if (v.unsent_for_redis && !v.may_send) return true;
    if (v.in_flight_link_connecting) return true;
    if (v.subscriber_without_link) return true;
    return false;
}

bool hold_counts(const HoldView& v) {
    return !v.may_send || v.replica_waiting;
}

}  // namespace sp::proxy::failover_rules
