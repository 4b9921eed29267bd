#include "proxy/admin/process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "proxy/net/fd_limit.h"

namespace sp::proxy {

namespace {
double timeval_seconds(const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

// Field 22 of /proc/self/stat (starttime, in clock ticks since boot) and btime from
// /proc/stat; 0 when either cannot be read.
double start_from_proc() {
    std::ifstream stat("/proc/self/stat");
    std::string line;
    if (!std::getline(stat, line)) return 0;
    auto paren = line.rfind(')');  // the command name may hold spaces
    if (paren == std::string::npos) return 0;
    std::istringstream rest(line.substr(paren + 2));
    std::string field;
    unsigned long long start_ticks = 0;
    for (int i = 3; i <= 22 && rest >> field; ++i)
        if (i == 22) start_ticks = std::stoull(field);
    std::ifstream proc_stat("/proc/stat");
    unsigned long long boot = 0;
    while (std::getline(proc_stat, line))
        if (line.rfind("btime ", 0) == 0) boot = std::stoull(line.substr(6));
    const long ticks = sysconf(_SC_CLK_TCK);
    if (boot == 0 || start_ticks == 0 || ticks <= 0) return 0;
    return static_cast<double>(boot) +
           static_cast<double>(start_ticks) / static_cast<double>(ticks);
}
}  // namespace

ProcessSample sample_process() {
    ProcessSample s;
    s.open_fds = static_cast<double>(open_fd_count());
    const std::uint64_t limit = fd_soft_limit();
    s.max_fds = limit == UINT64_MAX ? -1 : static_cast<double>(limit);
    std::ifstream statm("/proc/self/statm");
    unsigned long long size = 0, resident = 0;
    if (statm >> size >> resident)
        s.resident_bytes =
            static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) == 0)
        s.cpu_seconds = timeval_seconds(usage.ru_utime) + timeval_seconds(usage.ru_stime);
    return s;
}

double wall_seconds() {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

double process_start_seconds() {
    static const double start = [] {
        double from_proc = start_from_proc();
        return from_proc > 0 ? from_proc : wall_seconds();
    }();
    return start;
}

}  // namespace sp::proxy
