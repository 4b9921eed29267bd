#include "proxy/sentinel/failover_state.h"

#include <cstdlib>

#include "proxy/sentinel/sentinel_replies.h"

namespace sp::proxy {

using namespace sentinel_reply;

namespace {

NodeAddress address(const std::string& host, const std::string& port) {
    return NodeAddress{host, static_cast<std::uint16_t>(std::atoi(port.c_str()))};
}

bool names_replica(const std::string& channel) {
    return channel == "+selected-slave" || channel == "+failover-state-wait-promotion" ||
           channel == "+promoted-slave";
}

}  // namespace

FailoverEvent read_failover_event(const std::string& master_name, const std::string& channel,
                                  const std::string& payload) {
    FailoverEvent ev;
    auto t = split(payload);
    // Does this event concern our master name? Base payload: "<type> <name> <ip> <port>
    // [@ <master> <mip> <mport>]"; +switch-master: "<name> <oldip> <oldport> <newip> <newport>".
    bool ours = false;
    if (channel == "+new-epoch") {
        if (t.size() == 1) ev.epoch = std::strtoull(t[0].c_str(), nullptr, 10);
        return ev;
    }
    if (channel == "+switch-master") {
        ours = !t.empty() && t[0] == master_name;
        if (ours && t.size() >= 3) ev.master = address(t[1], t[2]);
    } else if (t.size() >= 4 && t[0] == "master" && t[1] == master_name) {
        ours = true;
        ev.master = address(t[2], t[3]);
    } else if (t.size() >= 8 && t[4] == "@" && t[5] == master_name) {
        ours = true;
        ev.master = address(t[6], t[7]);
        if (t[0] == "slave" && names_replica(channel)) ev.replica = address(t[2], t[3]);
    }
    if (!ours) return ev;
    using Kind = FailoverEvent::Kind;
    ev.try_failover = channel == "+try-failover";
    if (is_failover_progress(channel))
        ev.kind = Kind::progress;
    else if (channel.rfind("-failover-abort", 0) == 0 || channel == "+failover-end-for-timeout")
        ev.kind = Kind::aborted;
    else if (channel == "+failover-end" || channel == "+sdown" || channel == "-odown" ||
             channel == "+convert-to-slave" || channel == "+reboot" || channel == "+slave" ||
             channel == "-sdown" || channel == "+config-update-from")
        ev.kind = Kind::recheck;
    else if (channel == "+sentinel")
        ev.kind = Kind::sentinel_added;
    return ev;
}

bool FailoverState::begin(const NodeAddress& from, std::uint64_t now_ms) {
    if (failing_over(from)) return false;
    forget_selection();
    fenced_ = false;
    failover_epoch_ = 0;
    from_ = from;
    since_ms_ = now_ms;
    bar_.reset();
    if (last_master_ && *last_master_ == from) bar_ = last_master_offset_;
    return true;
}

void FailoverState::end() {
    from_.reset();
    forget_selection();
    fenced_ = false;
}

void FailoverState::master_offset(const NodeAddress& master, std::uint64_t offset) {
    if (failing_over(master)) {
        // Read after the hold began: everything acknowledged before it is in there.
        if (!bar_ || offset > *bar_) bar_ = offset;
        return;
    }
    last_master_ = master;
    last_master_offset_ = offset;
}

bool FailoverState::epoch_announced(const std::string& sentinel, std::uint64_t epoch) {
    epochs_[sentinel] = epoch;
    return selected_ && failover_epoch_ && epoch > failover_epoch_;
}

void FailoverState::failover_tried(const std::string& sentinel) {
    auto it = epochs_.find(sentinel);
    if (from_ && it != epochs_.end() && it->second > failover_epoch_) {
        // A second +try-failover with a newer epoch is a new attempt: the old selection goes.
        if (failover_epoch_ && selected_) fence();
        failover_epoch_ = it->second;
    }
}

bool FailoverState::select(const NodeAddress& replica, const std::string& sentinel) {
    if (!from_ || fenced_ || replica == *from_) return false;
    if (selected_ && *selected_ == replica && leader_ == sentinel) return false;
    if (selected_) {
        // The leader (or its choice) changed under us: not the failover we were following.
        fence();
        return false;
    }
    selected_ = replica;
    leader_ = sentinel;
    if (!failover_epoch_) {
        auto it = epochs_.find(sentinel);
        if (it != epochs_.end()) failover_epoch_ = it->second;
    }
    return true;
}

bool FailoverState::covers(bool is_master, std::uint64_t offset) const {
    return selected_ && !fenced_ && is_master && bar_ && offset >= *bar_;
}

bool FailoverState::fence() {
    const bool was_early = early();
    forget_selection();
    fenced_ = true;
    return was_early;
}

void FailoverState::forget_selection() {
    selected_.reset();
    leader_.clear();
    early_since_ms_ = 0;
}

void FailoverState::count_release(bool early_path, std::uint64_t now_ms) {
    ++(early_path ? releases_.early : releases_.majority);
    releases_.last_path = early_path ? "early_promotion" : "majority";
    releases_.last_hold_ms = hold_since_ms_ ? now_ms - hold_since_ms_ : 0;
}

void FailoverState::count_confirmation(std::uint64_t now_ms) {
    releases_.last_early_window_ms = early() ? now_ms - early_since_ms_ : 0;
}

FailoverState::Verdict FailoverState::judge(const NodeAddress& candidate, std::uint64_t now_ms) {
    if (!failing_over(candidate)) return Verdict::trust;
    if (now_ms - since_ms_ < kGiveUpMs) return Verdict::hold;
    end();
    return Verdict::gave_up;
}

}  // namespace sp::proxy
