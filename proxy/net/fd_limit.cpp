#include "proxy/net/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace sp::proxy {

namespace {
std::uint64_t as_u64(rlim_t value) {
    return value == RLIM_INFINITY ? UINT64_MAX : static_cast<std::uint64_t>(value);
}

// The kernel's ceiling for RLIMIT_NOFILE when the hard limit is "unlimited".
rlim_t nr_open() {
    std::ifstream in("/proc/sys/fs/nr_open");
    unsigned long long value = 0;
    if (in >> value && value > 0) return static_cast<rlim_t>(value);
    return 1 << 20;
}
}  // namespace

FdLimit raise_fd_limit() {
    FdLimit out;
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        out.error = std::string("getrlimit: ") + std::strerror(errno);
        return out;
    }
    out.soft_before = out.soft = as_u64(lim.rlim_cur);
    out.hard = as_u64(lim.rlim_max);
    rlim_t target = lim.rlim_max == RLIM_INFINITY ? nr_open() : lim.rlim_max;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < target) {
        rlimit raised = lim;
        raised.rlim_cur = target;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            out.soft = as_u64(target);
        } else {
            out.error = std::string("setrlimit: ") + std::strerror(errno);
        }
    }
    return out;
}

std::uint64_t fd_soft_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return UINT64_MAX;
    return as_u64(lim.rlim_cur);
}

std::size_t open_fd_count() {
    std::error_code ec;
    std::size_t count = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++count;
    // The iterator's own descriptor was counted.
    return count > 0 ? count - 1 : 0;
}

std::size_t client_capacity(std::uint64_t limit, std::size_t in_use, std::size_t reserve) {
    const std::uint64_t taken = static_cast<std::uint64_t>(in_use) + reserve;
    if (limit <= taken) return 0;
    return static_cast<std::size_t>((limit - taken) / kFdsPerClient);
}

}  // namespace sp::proxy
