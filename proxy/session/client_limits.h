// One client's share of the per-client and proxy-wide limits, as Redis has them: the query
// buffer (limits.query_buffer_limit), the output buffer by class (limits.output_normal_*,
// limits.output_pubsub_*: hard, and soft for a time), its share of limits.memory_budget and
// of limits.max_held_*. It decides and counts; the session acts (pauses, or closes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sp::proxy {

class ClientSession;
class LoopContext;
class SessionServices;

class ClientLimits {
  public:
    // Unsent commands of a pipelining client beyond these pause its reads.
    static constexpr std::size_t kMaxPendingBytes = 32u << 20;
    static constexpr std::size_t kMaxPendingCommands = 1u << 20;

    // Counts `bytes` (what the client holds now) against limits.memory_budget; false when
    // all clients together are past it and this one holds 1 MiB or more.
    bool charge_memory(LoopContext& ctx, std::uint64_t bytes);
    std::uint64_t charged() const { return charged_; }
    // The limit `query_bytes` (sent, not yet forwarded) is over; 0 when within.
    static std::uint64_t query_buffer_over(const LoopContext& ctx, std::uint64_t query_bytes);
    // Where a pipelining client's reads pause (well before its query buffer limit).
    static std::size_t backlog_pause_at(const LoopContext& ctx);
    // The output limit `used` bytes owed to `who` broke (closed at once at `hard`, or after
    // `soft` for its time), in words; empty while within. A client over its soft limit is
    // watched by the output sweep (SessionSweeps) so it is closed on time without more output.
    std::string output_over(SessionServices& services, ClientSession* who, std::uint64_t now_ms,
                            std::size_t used, bool pubsub);
    // limits.max_held_*: a client at its own bound, or one that would add to a full total,
    // is not read while no master is verified.
    static bool hold_full(const LoopContext& ctx, std::size_t held);
    // The commands this client holds now (0 once a master is verified or it closed).
    void charge_held(LoopContext& ctx, std::size_t held);
    // The client closes: nothing of it counts any more.
    void release(LoopContext& ctx);

  private:
    std::uint64_t charged_ = 0;        // what this client counts against limits.memory_budget
    std::uint64_t soft_since_ms_ = 0;  // output at its class's soft limit since (0: below)
    std::size_t held_charged_ = 0;     // what this client counts in LoopContext::held_total
};

}  // namespace sp::proxy
