// Why a client's socket is not read now. Each reason is set and cleared by the part that
// has it; reading resumes only when no reason is left.
#pragma once

#include <cstdint>

namespace sp::proxy {

class ReadPauses {
  public:
    enum Reason : std::uint8_t {
        backpressure = 1,  // its unsent commands are many (check_backpressure)
        hold = 2,          // at a limits.max_held_* bound while no master is verified
        stream_wait = 4,   // a big bulk waits to stream (the link, replies owed first)
        stream_queue = 8,  // the streamed bytes queued for Redis are many
    };
    bool has(Reason r) const { return (reasons_ & r) != 0; }
    bool any() const { return reasons_ != 0; }
    void set(Reason r) { reasons_ = static_cast<std::uint8_t>(reasons_ | r); }
    void clear(Reason r) { reasons_ = static_cast<std::uint8_t>(reasons_ & ~r); }

  private:
    std::uint8_t reasons_ = 0;
};

}  // namespace sp::proxy
