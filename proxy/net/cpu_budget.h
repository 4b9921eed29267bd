// How many CPUs this process may use: the number of worker loops proxy.threads = "auto"
// starts (issue 24). The smaller of the CPUs in the affinity mask (taskset, cpuset) and
// the cgroup CPU quota rounded up, so a pod with limits.cpu: 2 on a 64-CPU node gets 2,
// not 64. Reading is best effort: a file missing or unreadable means no limit from it.
#pragma once

#include <string>

namespace sp::proxy {

struct CpuBudget {
    unsigned cpus = 1;  // at least 1
    std::string why;    // one line for the start-up log: the sources and what each allows
};

// The running process: sched_getaffinity, /proc/self/cgroup and /sys/fs/cgroup.
CpuBudget cpu_budget();

// The testable core. `proc_self_cgroup_text` is /proc/self/cgroup's content; the
// hierarchies are looked up under `cgroup_mount_root` (normally /sys/fs/cgroup): cgroup v2
// at the root itself or at unified/ (a hybrid host), cgroup v1's cpu controller at
// cpu,cpuacct/ or cpu/. Each cgroup from the process's own up to the root is read (a
// parent's quota caps its children), and directories that do not exist are skipped: in a
// container the mount root is the container's own cgroup, whatever the path says.
CpuBudget cpu_budget_from(unsigned affinity_cpus, const std::string& proc_self_cgroup_text,
                          const std::string& cgroup_mount_root);

}  // namespace sp::proxy
