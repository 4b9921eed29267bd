// The failover state machine of one master name, as the sentinel watcher follows it. It
// reads Sentinel's events (what each one means for our master) and remembers which master
// is being failed over, since when, and since when commands have been held, so that the
// watcher never trusts the old master again while the failover runs (until it aborts, or
// gives up after kFailoverGiveUpMs). Pure: the caller passes the loop time; unit-tested.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "proxy/net/node_address.h"

namespace sp::proxy {

// One Sentinel event as it concerns our master name.
struct FailoverEvent {
    enum class Kind {
        ignored,         // another master name, or an event that changes nothing for us
        progress,        // a failover of `master` is under way (+odown ... +switch-master)
        aborted,         // -failover-abort-*, +failover-end-for-timeout
        recheck,         // something changed (+sdown, +slave, +failover-end...): ask again
        sentinel_added,  // +sentinel: learn the sentinels again
    };
    Kind kind = Kind::ignored;
    // The master the event is about (+switch-master: the old one).
    std::optional<NodeAddress> master;
    // +selected-slave, +failover-state-wait-promotion, +promoted-slave: the replica the
    // leader chose.
    std::optional<NodeAddress> replica;
    // +new-epoch (its payload is the epoch alone, for every master name).
    std::optional<std::uint64_t> epoch;
    bool try_failover = false;  // +try-failover: its sender just announced the failover's epoch
};

FailoverEvent read_failover_event(const std::string& master_name, const std::string& channel,
                                  const std::string& payload);

class FailoverState {
  public:
    // A failover that neither finishes nor aborts within this time is treated as over: if
    // the majority still names the old master and it answers ROLE master, it is trusted again.
    static constexpr std::uint64_t kGiveUpMs = 30'000;

    // The first sign that `from` is being failed over. False when already known.
    bool begin(const NodeAddress& from, std::uint64_t now_ms);
    // The failover aborted (or finished): the old master may be trusted again.
    void end();
    // Is `addr` the master being failed over?
    bool failing_over(const NodeAddress& addr) const { return from_ && *from_ == addr; }
    const std::optional<NodeAddress>& from() const { return from_; }

    enum class Verdict { trust, hold, gave_up };
    // Whether a majority's `candidate` may be probed: held while it is the master being
    // failed over, unless the failover has run longer than kGiveUpMs (then it ends here).
    Verdict judge(const NodeAddress& candidate, std::uint64_t now_ms);

    // The hold clock: when commands started to be held (0: not holding).
    void hold_started(std::uint64_t now_ms) { hold_since_ms_ = now_ms; }
    void hold_ended() { hold_since_ms_ = 0; }
    std::uint64_t hold_since_ms() const { return hold_since_ms_; }

    // --- Following the promotion (failover.follow_promotion).
    // The replication offset `master` answered ROLE with: the last one read before a
    // failover of it starts is the bar (raised by a read at the hold's start).
    void master_offset(const NodeAddress& master, std::uint64_t offset);
    // A sentinel announced an epoch (+new-epoch). True when it is newer than the epoch of
    // the failover whose selection is being followed: another attempt has begun (fence).
    bool epoch_announced(const std::string& sentinel, std::uint64_t epoch);
    // +try-failover from `sentinel`: the epoch it announced just before is this failover's.
    void failover_tried(const std::string& sentinel);
    // The leader (`sentinel`) selected `replica` for the failover under way. True when this
    // starts following it (not fenced in this failover, not already followed).
    bool select(const NodeAddress& replica, const std::string& sentinel);
    const std::optional<NodeAddress>& selected() const { return selected_; }
    const std::string& leader() const { return leader_; }
    const std::optional<std::uint64_t>& bar() const { return bar_; }
    // What the selected replica answered ROLE with: true when the held commands may go to
    // it, as it is a master and holds every write the old master had acknowledged.
    bool covers(bool is_master, std::uint64_t offset) const;
    // The hold ended on the selected replica before the sentinels switched.
    void released_early(std::uint64_t now_ms) { early_since_ms_ = now_ms; }
    bool early() const { return early_since_ms_ != 0; }
    std::uint64_t early_since_ms() const { return early_since_ms_; }
    // Stop following the selection; nothing is released early again in this failover.
    // True when the hold had been released early (the caller must hold again at once).
    bool fence();

    // Which path ended the holds, and how long the last one lasted (metrics, logs).
    struct Releases {
        std::uint64_t early = 0;
        std::uint64_t majority = 0;
        std::uint64_t last_hold_ms = 0;
        const char* last_path = "";
        // From the early release to the majority naming that master (the risk window).
        std::uint64_t last_early_window_ms = 0;
    };
    void count_release(bool early_path, std::uint64_t now_ms);
    void count_confirmation(std::uint64_t now_ms);
    const Releases& releases() const { return releases_; }

  private:
    void forget_selection();

    std::optional<NodeAddress> from_;
    std::uint64_t since_ms_ = 0;
    std::uint64_t hold_since_ms_ = 0;
    std::optional<NodeAddress> last_master_;
    std::uint64_t last_master_offset_ = 0;
    std::optional<std::uint64_t> bar_;
    std::map<std::string, std::uint64_t> epochs_;  // last +new-epoch per sentinel
    std::uint64_t failover_epoch_ = 0;             // 0: unknown
    std::optional<NodeAddress> selected_;
    std::string leader_;
    bool fenced_ = false;
    std::uint64_t early_since_ms_ = 0;
    Releases releases_;
};

}  // namespace sp::proxy
