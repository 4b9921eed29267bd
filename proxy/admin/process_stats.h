// The process's own resource figures for the standard process_* metrics (open and
// maximum file descriptors, resident memory, CPU time, start time), read from /proc and
// getrusage at scrape time. Nothing here runs on the data path.
#pragma once

#include <cstdint>

namespace sp::proxy {

struct ProcessSample {
    double open_fds = 0;
    double max_fds = 0;         // soft RLIMIT_NOFILE
    double resident_bytes = 0;  // VmRSS
    double cpu_seconds = 0;     // user + system
};

ProcessSample sample_process();

// Wall-clock seconds since the epoch, and when this process started (boot time plus the
// process's start tick, from /proc; falls back to the first call's time).
double wall_seconds();
double process_start_seconds();

}  // namespace sp::proxy
