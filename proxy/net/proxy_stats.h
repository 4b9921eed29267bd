// What one pool's loop counts: counters and fixed-bucket histograms bumped on the data path
// without locks or allocation. The metrics exporter reads them at scrape time and hands the
// increase since the previous scrape to the Prometheus registry, so no Prometheus call (its
// histograms take a mutex) ever runs per command or per byte. The scrape may run on another
// thread than the loop (the control loop reading a worker's stats): every field is a
// LoopCounter (loop_counter.h), written by the loop's thread only, readable from any.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "proxy/net/loop_counter.h"

namespace sp::proxy {

// Bucket bounds in milliseconds, chosen for what each histogram measures.
// Holds last from a few ms (a planned failover) to the hold window (10 s by default, up to
// minutes): dense between 1 s and 5 s, where an unplanned failover's holds fall, so a
// 1.1 s hold reads as 1.1 s at p99, not as 4.96 s.
inline constexpr std::array<double, 16> kHoldBoundsMs = {
    50, 100, 250, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 10000, 15000, 30000};
// Backend latency is measured in microseconds (uv_hrtime): a Redis on the same host or
// network answers in 50 us to 1 ms, so most of the buckets are below one millisecond.
inline constexpr std::array<double, 17> kLatencyBoundsMs = {
    0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000, 5000};

// Milliseconds, cumulative buckets as Prometheus wants them (le = upper bound).
template <const auto& Bounds>
struct LoopHistogram {
    static constexpr const auto& kBoundsMs = Bounds;
    std::array<LoopCounter, Bounds.size() + 1> counts{};  // last: +Inf
    LoopSum sum_ms = 0;

    void observe_ms(double ms) {
        std::size_t i = 0;
        while (i < kBoundsMs.size() && ms > kBoundsMs[i]) ++i;
        ++counts[i];
        sum_ms += ms;
    }
};

using HoldHistogram = LoopHistogram<kHoldBoundsMs>;
using LatencyHistogram = LoopHistogram<kLatencyBoundsMs>;

struct ProxyStats {
    LoopCounter connections_total = 0;
    LoopCounter connections_rejected = 0;      // max_clients, or out of file descriptors
    LoopCounter accept_failures = 0;           // accept() failed, any reason
    LoopCounter accept_failures_fd_limit = 0;  // of which EMFILE/ENFILE/ENOBUFS/ENOMEM
    LoopCounter commands_forwarded = 0;
    LoopCounter commands_forwarded_replica = 0;  // part of commands_forwarded
    LoopCounter commands_forwarded_shared = 0;   // part of commands_forwarded
    LoopCounter commands_held = 0;
    LoopCounter commands_resent = 0;
    LoopCounter commands_failed = 0;  // lost with their connection (hold timeout, unknown outcome)
    LoopCounter clients_closed_unknown_outcome = 0;
    LoopCounter clients_closed_hold_timeout = 0;
    LoopCounter failovers_seen = 0;    // the verified master changed to another node
    LoopCounter bytes_in = 0;          // from clients
    LoopCounter bytes_out = 0;         // to clients
    HoldHistogram hold_wait;           // how long sessions held commands for a master
    LatencyHistogram backend_latency;  // command sent -> reply (non-blocking commands)
    // Clients closed at limits.query_buffer_limit, and at limits.output_*.
    LoopCounter clients_closed_query_buffer = 0;
    LoopCounter clients_closed_output_buffer = 0;
    LoopCounter commands_streamed = 0;  // part of commands_forwarded (limits.stream_bulk_len)
};

}  // namespace sp::proxy
