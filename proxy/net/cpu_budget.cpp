// The CPUs this process may use: its affinity mask, capped by the strictest cgroup CPU
// quota (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us) on its cgroup or any
// ancestor, rounded up to whole CPUs.
#include "proxy/net/cpu_budget.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

namespace sp::proxy {
namespace {

// A CPU quota: `quota` microseconds of CPU time per `period`, i.e. quota/period CPUs.
struct Quota {
    std::uint64_t quota = 0;
    std::uint64_t period = 1;
    std::string source;  // "cgroup cpu.max 200000 100000 (/sys/fs/cgroup/kubepods/pod1)"

    // Rounded up: a pod with limits.cpu: 1.5 keeps two loops busy part of the time.
    std::uint64_t cpus() const { return quota / period + (quota % period != 0 ? 1 : 0); }
    bool stricter_than(const Quota& other) const {
        return static_cast<long double>(quota) / static_cast<long double>(period) <
               static_cast<long double>(other.quota) / static_cast<long double>(other.period);
    }
};

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return text.str();
}

std::vector<std::string_view> words(std::string_view text) {
    std::vector<std::string_view> out;
    while (true) {
        const auto first = text.find_first_not_of(" \t\r\n");
        if (first == std::string_view::npos) return out;
        text.remove_prefix(first);
        const auto end = std::min(text.find_first_of(" \t\r\n"), text.size());
        out.push_back(text.substr(0, end));
        text.remove_prefix(end);
    }
}

// A whole word as a decimal integer, or nothing (signs allowed: v1 writes "-1").
std::optional<std::int64_t> integer(std::string_view word) {
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
    if (word.empty() || error != std::errc() || end != word.data() + word.size()) {
        return std::nullopt;
    }
    return value;
}

// cgroup v2: "max 100000" (no limit) or "200000 100000"; the period may be left out
// (the kernel's default, 100000 us).
std::optional<Quota> read_cpu_max(const std::string& dir) {
    const std::optional<std::string> text = read_file(dir + "/cpu.max");
    if (!text) return std::nullopt;
    const std::vector<std::string_view> fields = words(*text);
    if (fields.empty() || fields.size() > 2 || fields[0] == "max") return std::nullopt;
    const std::optional<std::int64_t> quota = integer(fields[0]);
    const std::optional<std::int64_t> period =
        fields.size() == 2 ? integer(fields[1]) : std::optional<std::int64_t>(100000);
    if (!quota || !period || *quota <= 0 || *period <= 0) return std::nullopt;
    return Quota{static_cast<std::uint64_t>(*quota), static_cast<std::uint64_t>(*period),
                 "cgroup cpu.max " + std::to_string(*quota) + " " + std::to_string(*period) + " (" +
                     dir + ")"};
}

// cgroup v1: cpu.cfs_quota_us (-1: no limit) per cpu.cfs_period_us.
std::optional<Quota> read_cfs_quota(const std::string& dir) {
    const std::optional<std::string> quota_text = read_file(dir + "/cpu.cfs_quota_us");
    const std::optional<std::string> period_text = read_file(dir + "/cpu.cfs_period_us");
    if (!quota_text || !period_text) return std::nullopt;
    const std::vector<std::string_view> quota_words = words(*quota_text);
    const std::vector<std::string_view> period_words = words(*period_text);
    if (quota_words.size() != 1 || period_words.size() != 1) return std::nullopt;
    const std::optional<std::int64_t> quota = integer(quota_words[0]);
    const std::optional<std::int64_t> period = integer(period_words[0]);
    if (!quota || !period || *quota <= 0 || *period <= 0) return std::nullopt;
    return Quota{static_cast<std::uint64_t>(*quota), static_cast<std::uint64_t>(*period),
                 "cgroup cpu.cfs_quota_us " + std::to_string(*quota) + " cpu.cfs_period_us " +
                     std::to_string(*period) + " (" + dir + ")"};
}

// "/a/b" -> "/a/b", "/a", "": the cgroup and each ancestor, relative to the hierarchy's
// root ("" is the root itself).
std::vector<std::string> self_and_ancestors(std::string path) {
    std::vector<std::string> out;
    while (!path.empty() && path.back() == '/') path.pop_back();
    while (true) {
        out.push_back(path);
        if (path.empty()) return out;
        const auto slash = path.rfind('/');
        path = slash == std::string::npos ? std::string() : path.substr(0, slash);
    }
}

bool is_directory(const std::string& path) {
    std::error_code error;
    return std::filesystem::is_directory(path, error);
}

// The strictest quota on `path` or an ancestor in the hierarchy mounted at `hierarchy`.
template <typename Reader>
void strictest_in(const std::string& hierarchy, const std::string& path, Reader read,
                  std::optional<Quota>& strictest) {
    if (!is_directory(hierarchy)) return;
    for (const std::string& cgroup : self_and_ancestors(path)) {
        const std::string dir = hierarchy + cgroup;
        if (!is_directory(dir)) continue;  // above the container's own cgroup (see the header)
        std::optional<Quota> quota = read(dir);
        if (quota && (!strictest || quota->stricter_than(*strictest))) strictest = quota;
    }
}

std::string cpus_text(std::uint64_t count) {
    return std::to_string(count) + (count == 1 ? " CPU" : " CPUs");
}

}  // namespace

CpuBudget cpu_budget_from(unsigned affinity_cpus, const std::string& proc_self_cgroup_text,
                          const std::string& cgroup_mount_root) {
    std::string root = cgroup_mount_root;  // without a trailing slash, but "/" stays
    while (root.size() > 1 && root.back() == '/') root.pop_back();

    // Lines of /proc/self/cgroup: "hierarchy-id:controller-list:path"; cgroup v2 is
    // "0::path", a v1 hierarchy names its controllers ("4:cpu,cpuacct:/docker/abc").
    std::optional<Quota> strictest;
    std::istringstream lines(proc_self_cgroup_text);
    for (std::string line; std::getline(lines, line);) {
        const auto first = line.find(':');
        const auto second = first == std::string::npos ? first : line.find(':', first + 1);
        if (second == std::string::npos) continue;
        const std::string controllers = line.substr(first + 1, second - first - 1);
        const std::string path = line.substr(second + 1);
        if (line.substr(0, first) == "0" && controllers.empty()) {
            strictest_in(root, path, read_cpu_max, strictest);
            strictest_in(root + "/unified", path, read_cpu_max, strictest);  // a hybrid host
            continue;
        }
        std::vector<std::string_view> names;
        for (std::string_view rest = controllers;;) {
            const auto comma = rest.find(',');
            names.push_back(rest.substr(0, comma));
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
        if (std::find(names.begin(), names.end(), "cpu") == names.end()) continue;
        const std::string hierarchy =
            is_directory(root + "/" + controllers) ? root + "/" + controllers : root + "/cpu";
        strictest_in(hierarchy, path, read_cfs_quota, strictest);
    }

    const unsigned allowed = std::max(affinity_cpus, 1u);
    CpuBudget budget;
    budget.cpus = strictest
                      ? static_cast<unsigned>(std::min<std::uint64_t>(allowed, strictest->cpus()))
                      : allowed;
    budget.why =
        (budget.cpus == allowed ? cpus_text(budget.cpus)
                                : std::to_string(budget.cpus) + " of " + cpus_text(allowed)) +
        ": sched_getaffinity allows " + std::to_string(allowed) + ", " +
        (strictest ? strictest->source + " allows " + std::to_string(strictest->cpus())
                   : std::string("no cgroup CPU quota"));
    return budget;
}

CpuBudget cpu_budget() {
    // A mask for more CPUs than cpu_set_t holds (1024) needs a bigger set: grow on EINVAL.
    int error = 0;
    for (int size = CPU_SETSIZE; size <= (1 << 20); size *= 2) {
        cpu_set_t* set = CPU_ALLOC(size);
        if (set == nullptr) break;
        const std::size_t bytes = CPU_ALLOC_SIZE(size);
        CPU_ZERO_S(bytes, set);
        const int result = sched_getaffinity(0, bytes, set);
        error = errno;
        const int count = result == 0 ? CPU_COUNT_S(bytes, set) : 0;
        CPU_FREE(set);
        if (result == 0) {
            return cpu_budget_from(static_cast<unsigned>(count),
                                   read_file("/proc/self/cgroup").value_or(""), "/sys/fs/cgroup");
        }
        if (error != EINVAL) break;
    }
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    CpuBudget budget =
        cpu_budget_from(online > 0 ? static_cast<unsigned>(online) : 1u,
                        read_file("/proc/self/cgroup").value_or(""), "/sys/fs/cgroup");
    budget.why += " (sched_getaffinity failed: " + std::string(std::strerror(error)) +
                  "; counted the online CPUs instead)";
    return budget;
}

}  // namespace sp::proxy
