// proxy/net/cpu_budget: the CPUs proxy.threads = "auto" uses, from the affinity count and
// fake cgroup trees (v2 cpu.max, v1 cpu.cfs_quota_us) in a temporary directory; and the
// running process against nproc.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "proxy/net/cpu_budget.h"

using Catch::Contains;
using sp::proxy::cpu_budget;
using sp::proxy::cpu_budget_from;
using sp::proxy::CpuBudget;

namespace {

// A fake /sys/fs/cgroup, removed at the end of the test.
class FakeCgroupRoot {
  public:
    FakeCgroupRoot() {
        static int counter = 0;
        root_ = std::filesystem::temp_directory_path() /
                ("sp-cpu-budget-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
        std::filesystem::create_directories(root_);
    }
    ~FakeCgroupRoot() { std::filesystem::remove_all(root_); }

    // Writes `text` to root/relative, creating the directories on the way.
    void write(const std::string& relative, const std::string& text) const {
        const std::filesystem::path path = root_ / relative;
        std::filesystem::create_directories(path.parent_path());
        std::ofstream(path) << text;
    }
    void mkdir(const std::string& relative) const {
        std::filesystem::create_directories(root_ / relative);
    }
    std::string path() const { return root_.string(); }

  private:
    std::filesystem::path root_;
};

const char* kV2Pod = "0::/kubepods/pod1/ctr\n";

}  // namespace

TEST_CASE("cpu budget: cgroup v2 without a limit is the affinity count", "[cpu_budget]") {
    FakeCgroupRoot root;
    root.write("kubepods/pod1/ctr/cpu.max", "max 100000\n");
    root.write("kubepods/pod1/cpu.max", "max 100000\n");
    CpuBudget budget = cpu_budget_from(64, kV2Pod, root.path());
    CHECK(budget.cpus == 64);
    CHECK(budget.why == "64 CPUs: sched_getaffinity allows 64, no cgroup CPU quota");
}

TEST_CASE("cpu budget: cgroup v2 limit of 2 CPUs on a 64-CPU node", "[cpu_budget]") {
    FakeCgroupRoot root;
    root.write("kubepods/pod1/ctr/cpu.max", "200000 100000\n");
    CpuBudget budget = cpu_budget_from(64, kV2Pod, root.path());
    CHECK(budget.cpus == 2);
    CHECK(budget.why ==
          "2 of 64 CPUs: sched_getaffinity allows 64, cgroup cpu.max 200000 100000 (" +
              root.path() + "/kubepods/pod1/ctr) allows 2");
}

TEST_CASE("cpu budget: a fractional quota rounds up (limits.cpu: 1.5 gets 2)", "[cpu_budget]") {
    FakeCgroupRoot root;
    root.write("kubepods/pod1/ctr/cpu.max", "150000 100000\n");
    CHECK(cpu_budget_from(64, kV2Pod, root.path()).cpus == 2);
    root.write("kubepods/pod1/ctr/cpu.max", "10000 100000\n");  // 0.1 CPU: still one loop
    CHECK(cpu_budget_from(64, kV2Pod, root.path()).cpus == 1);
    root.write("kubepods/pod1/ctr/cpu.max", "300000\n");  // period left out: 100000
    CHECK(cpu_budget_from(64, kV2Pod, root.path()).cpus == 3);
}

TEST_CASE("cpu budget: a parent's stricter quota caps its children", "[cpu_budget]") {
    FakeCgroupRoot root;
    root.write("kubepods/pod1/ctr/cpu.max", "400000 100000\n");
    root.write("kubepods/pod1/cpu.max", "100000 50000\n");  // 2 CPUs, another period
    root.write("kubepods/cpu.max", "max 100000\n");
    CpuBudget budget = cpu_budget_from(64, kV2Pod, root.path());
    CHECK(budget.cpus == 2);
    CHECK_THAT(budget.why, Contains("cpu.max 100000 50000 (" + root.path() + "/kubepods/pod1)"));
    // The mount root given with a trailing slash, or as "/" itself.
    CHECK(cpu_budget_from(64, kV2Pod, root.path() + "//").cpus == 2);
    CHECK(cpu_budget_from(64, "0::" + root.path() + "/kubepods/pod1/ctr\n", "/").cpus == 2);
    // The other way round: the child is the stricter one.
    root.write("kubepods/pod1/ctr/cpu.max", "100000 100000\n");
    CHECK(cpu_budget_from(64, kV2Pod, root.path()).cpus == 1);
}

TEST_CASE("cpu budget: in a container the limit is at the mount root", "[cpu_budget]") {
    FakeCgroupRoot root;
    root.write("cpu.max", "300000 100000\n");
    // With a cgroup namespace the process sees itself at the root ...
    CHECK(cpu_budget_from(16, "0::/\n", root.path()).cpus == 3);
    // ... without one it sees the host's path, which does not exist under the container's
    // mount: the mount root is the container's own cgroup.
    CHECK(cpu_budget_from(16, "0::/system.slice/docker-abc.scope\n", root.path()).cpus == 3);
}

TEST_CASE("cpu budget: cgroup v1 cfs quota, and -1 for none", "[cpu_budget]") {
    FakeCgroupRoot root;
    const std::string proc =
        "12:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n";
    root.write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000\n");
    root.write("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    CpuBudget budget = cpu_budget_from(8, proc, root.path());
    CHECK(budget.cpus == 3);
    CHECK_THAT(budget.why, Contains("cgroup cpu.cfs_quota_us 250000 cpu.cfs_period_us 100000 (" +
                                    root.path() + "/cpu,cpuacct/docker/abc) allows 3"));
    root.write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
    budget = cpu_budget_from(8, proc, root.path());
    CHECK(budget.cpus == 8);
    CHECK_THAT(budget.why, Contains("no cgroup CPU quota"));
    // Mounted as cpu/ alone (this machine's layout), on a hybrid host with cgroup v2 too.
    FakeCgroupRoot hybrid;
    hybrid.write("cpu/cpu.cfs_quota_us", "100000\n");
    hybrid.write("cpu/cpu.cfs_period_us", "100000\n");
    hybrid.mkdir("unified");
    CHECK(cpu_budget_from(8, "2:cpuacct:/\n1:cpu:/\n0::/\n", hybrid.path()).cpus == 1);
}

TEST_CASE("cpu budget: a quota bigger than the affinity mask leaves the mask", "[cpu_budget]") {
    FakeCgroupRoot root;
    root.write("kubepods/pod1/ctr/cpu.max", "800000 100000\n");
    CpuBudget budget = cpu_budget_from(4, kV2Pod, root.path());
    CHECK(budget.cpus == 4);
    CHECK_THAT(budget.why, Contains("4 CPUs: sched_getaffinity allows 4, cgroup cpu.max") &&
                               Contains("allows 8"));
    CHECK(cpu_budget_from(0, "", root.path()).cpus == 1);  // never below one loop
}

TEST_CASE("cpu budget: garbage and missing files are no limit, never an error", "[cpu_budget]") {
    FakeCgroupRoot root;
    for (const char* garbage :
         {"", "\n", "two hundred 100000\n", "200000 0\n", "0 100000\n", "-5 100000\n",
          "200000 100000 7\n", "200000x 100000\n", "99999999999999999999999 100000\n"}) {
        root.write("kubepods/pod1/ctr/cpu.max", garbage);
        INFO(garbage);
        CHECK(cpu_budget_from(6, kV2Pod, root.path()).cpus == 6);
    }
    root.write("cpu/docker/abc/cpu.cfs_quota_us", "lots\n");
    root.write("cpu/docker/abc/cpu.cfs_period_us", "100000\n");
    CHECK(cpu_budget_from(6, "3:cpu:/docker/abc\n", root.path()).cpus == 6);
    root.write("cpu/docker/abc/cpu.cfs_quota_us", "100000\n");
    root.write("cpu/docker/abc/cpu.cfs_period_us", "\n");
    CHECK(cpu_budget_from(6, "3:cpu:/docker/abc\n", root.path()).cpus == 6);

    // No files at all, a root that does not exist, and a /proc/self/cgroup of nonsense.
    FakeCgroupRoot empty;
    CHECK(cpu_budget_from(6, kV2Pod, empty.path()).cpus == 6);
    CHECK(cpu_budget_from(6, kV2Pod, empty.path() + "/nowhere").cpus == 6);
    CHECK(cpu_budget_from(6, "garbage\n::\n7\n:cpu\n", root.path()).cpus == 6);
}

TEST_CASE("cpu budget: this process, against nproc", "[cpu_budget]") {
    CpuBudget budget = cpu_budget();
    CHECK(budget.cpus >= 1);
    // nproc counts the affinity mask, as sched_getaffinity does; a quota may only lower it.
    FILE* pipe = ::popen("nproc", "r");
    REQUIRE(pipe != nullptr);
    unsigned nproc = 0;
    REQUIRE(std::fscanf(pipe, "%u", &nproc) == 1);
    ::pclose(pipe);
    INFO(budget.why);
    CHECK_THAT(budget.why, Contains("sched_getaffinity allows " + std::to_string(nproc) + ","));
    if (budget.why.find("no cgroup CPU quota") != std::string::npos) {
        CHECK(budget.cpus == nproc);
    } else {
        CHECK(budget.cpus <= nproc);
    }
}
