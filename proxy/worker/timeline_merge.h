// One failover_timeline line per failover, however many worker loops saw it: each worker's
// FailoverTimeline hands its marks to the control loop, which merges them (the earliest
// hold and verification, the last release, sessions added up, the longest hold) and logs
// once every worker reported, or 2 s after the first one did.
#pragma once

#include <uv.h>

#include <cstddef>
#include <optional>
#include <string>

#include "proxy/net/tcp_stream.h"
#include "proxy/session/failover_timeline.h"

namespace sp::proxy {

class TimelineMerge {
  public:
    TimelineMerge(uv_loop_t* loop, std::string pool_name, std::string master_name);
    void expect(std::size_t workers) { workers_ = workers; }
    // One worker's marks (on the control loop).
    void add(const FailoverMarks& marks);

  private:
    void flush();

    std::string pool_name_;
    std::string master_name_;
    std::size_t workers_ = 1;
    std::optional<FailoverMarks> merged_;
    std::size_t reported_ = 0;
    Timer timer_;
};

}  // namespace sp::proxy
