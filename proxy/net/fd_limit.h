// The process's file-descriptor budget: RLIMIT_NOFILE raised to its hard limit at start,
// and how many clients that leaves room for. Each client costs up to 2 descriptors today
// (its socket and its own backend link), so a limit far below 2 x max_clients means
// clients fail at accept time instead of getting "max number of clients reached".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace sp::proxy {

inline constexpr std::size_t kFdsPerClient = 2;

struct FdLimit {
    std::uint64_t soft_before = 0;  // the soft limit we were started with
    std::uint64_t soft = 0;         // the soft limit now
    std::uint64_t hard = 0;         // RLIM_INFINITY reported as UINT64_MAX
    std::string error;              // why raising failed, if it did ("" otherwise)
};

// Raises the soft RLIMIT_NOFILE to the hard limit (to fs.nr_open when the hard limit is
// unlimited). Never throws; on failure `error` says why and the limit is unchanged.
FdLimit raise_fd_limit();

// The soft RLIMIT_NOFILE now (UINT64_MAX if unlimited or unreadable).
std::uint64_t fd_soft_limit();

// Descriptors open in this process now (/proc/self/fd); 0 if it cannot be read.
std::size_t open_fd_count();

// How many clients fit in `limit` with `in_use` descriptors open and `reserve` more kept
// for sentinel links, admin requests and reconnects.
std::size_t client_capacity(std::uint64_t limit, std::size_t in_use, std::size_t reserve);

// Process-wide, shared by every pool's listener: how many clients the descriptor limit
// holds. Counting sessions matters because a client's backend link is opened only after
// its first command, so a burst of accepts could otherwise fill the table with client
// sockets that then cannot reach Redis.
// Read by every worker loop's listener; the capacity is set once on the control loop after
// the listeners opened (hence atomic), clients_open must read only atomics.
struct ClientBudget {
    std::atomic<std::size_t> capacity{SIZE_MAX};
    std::function<std::size_t()> clients_open;  // every pool's sessions, every worker
    bool full() const {
        return clients_open && clients_open() >= capacity.load(std::memory_order_relaxed);
    }
};

}  // namespace sp::proxy
