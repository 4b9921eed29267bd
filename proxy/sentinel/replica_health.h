// Whether one replica may serve reads, judged from what the proxy itself measured (pure,
// unit-tested): the fields of its INFO (replication + persistence), our verified master's
// replication offsets sampled over time, and the configured lag bound. Lag is measured
// from offsets, not from Sentinel (whose view refreshes every 10 s): a replica's lag is
// how long ago the master first had data the replica still lacks.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace sp::proxy {

// Why a replica is not read from (none: eligible). Order is the metrics label order.
enum class SkipReason : std::uint8_t {
    none,
    no_reply,        // no INFO answer lately (dead, stopped, unreachable)
    not_replica,     // role master: promoted, or the new master itself
    other_master,    // replicates someone else than our verified master
    link_down,       // master_link_status not up
    syncing,         // master_sync_in_progress:1
    loading,         // loading:1
    lagging,         // lag above routing.max_replica_lag_ms, or unknown
    master_unknown,  // our master's offset is not measured (yet)
    failing,         // a session saw it fail a read (LOADING, MASTERDOWN, link lost)
};
inline constexpr std::size_t kSkipReasons = 10;
const char* skip_reason_name(SkipReason r);

struct ReplicaInfo {
    bool parsed = false;
    bool is_replica = false;  // role:slave
    std::string master_host;
    std::uint16_t master_port = 0;
    bool link_up = false;
    bool syncing = false;
    bool loading = false;
    std::int64_t offset = -1;  // slave_repl_offset (a master: master_repl_offset)
    std::string replid;        // master_replid: the replication history it follows
};

// Calls fn(key, value) for each "key:value" line of an INFO reply's text.
template <class F>
void for_each_info_field(std::string_view text, F&& fn) {
    while (!text.empty()) {
        std::size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        std::size_t colon = line.find(':');
        if (line.empty() || line[0] == '#' || colon == std::string_view::npos) continue;
        fn(line.substr(0, colon), line.substr(colon + 1));
    }
}

// Reads the fields above from an INFO reply's text ("key:value" lines).
ReplicaInfo parse_info(std::string_view text);

// The master's replication offset over time: (when the INFO was sent, offset).
class MasterHistory {
  public:
    struct Sample {
        std::uint64_t at_ns = 0;
        std::int64_t offset = 0;
    };
    explicit MasterHistory(std::uint64_t window_ns = 5'000'000'000ull) : window_ns_(window_ns) {}
    void set_window(std::uint64_t window_ns) { window_ns_ = window_ns; }
    void add(std::uint64_t at_ns, std::int64_t offset);
    void clear() { samples_.clear(); }
    bool empty() const { return samples_.empty(); }
    std::uint64_t first_at_ns() const { return samples_.empty() ? 0 : samples_.front().at_ns; }
    // The offset of the first sample taken strictly after `fence_ns` (read-your-writes:
    // it includes every write answered before the fence); none yet: nullopt.
    std::optional<std::int64_t> offset_after(std::uint64_t fence_ns) const;
    // now − the time of the oldest sample whose offset is above `replica_offset` (0 when
    // caught up); nullopt when the replica is behind every sample kept (lag unknown).
    std::optional<std::uint64_t> lag_ns(std::int64_t replica_offset, std::uint64_t now_ns) const;

  private:
    std::deque<Sample> samples_;
    std::uint64_t window_ns_;
};

struct Assessment {
    SkipReason reason = SkipReason::none;
    std::uint64_t lag_ms = 0;
};

// Decides eligibility. `master_host/port/replid`: our verified master as measured;
// `fresh`: the replica answered INFO recently.
Assessment assess(const ReplicaInfo& info, bool fresh, std::string_view master_host,
                  std::uint16_t master_port, std::string_view master_replid,
                  const MasterHistory& history, std::uint64_t now_ns, std::uint32_t max_lag_ms);

}  // namespace sp::proxy
