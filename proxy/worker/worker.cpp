#include "proxy/worker/worker.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <string>

#include "proxy/net/log_event.h"

namespace sp::proxy {

Worker::Worker(unsigned id) : id_(id) {}

Worker::~Worker() {
    if (thread_.joinable()) {
        if (finished_.load())
            thread_.join();
        else
            thread_.detach();
    }
}

void Worker::start(const std::vector<ShardPlan>& plans, bool reuse_port) {
    std::promise<void> started;  // set once every shard listens, or to what failed
    std::future<void> listening = started.get_future();
    thread_ =
        std::thread([this, &plans, reuse_port, &started] { run(&plans, reuse_port, &started); });
    // The start-up is short (bind and listen): wait for it, so a wrong address is the
    // same exit as with one loop.
    try {
        listening.get();
    } catch (...) {
        thread_.join();
        throw;
    }
}

void Worker::run(const std::vector<ShardPlan>* plans, bool reuse_port,
                 std::promise<void>* started) {
    // Named for top -H, perf and /proc/<pid>/task/*/comm (15 characters at most).
    const std::string name = "sp-worker-" + std::to_string(id_);
    pthread_setname_np(pthread_self(), name.c_str());
    // Several workers share their ports (reuse_port): their log lines say which one logs.
    if (reuse_port) log_worker = static_cast<int>(id_);
    uv_loop_init(&loop_);
    inbox_ = std::make_unique<LoopInbox>(&loop_);
    try {
        for (const ShardPlan& plan : *plans) {
            shards_.push_back(std::make_unique<PoolShard>(&loop_, plan));
            shards_.back()->start(reuse_port);
        }
    } catch (...) {
        // What was built is released here, on its own loop's thread.
        shards_.clear();
        inbox_->close();
        uv_run(&loop_, UV_RUN_NOWAIT);
        finished_ = true;
        started->set_exception(std::current_exception());
        return;
    }
    started->set_value();
    uv_run(&loop_, UV_RUN_DEFAULT);
    // Posts from now on are refused. The process exits after the loops stop (as it did
    // with one loop): sessions and links are not torn down one by one.
    stop_timer_.reset();
    inbox_->close();
    uv_run(&loop_, UV_RUN_NOWAIT);  // the closed handles' callbacks free them
    if (shards_.empty()) uv_loop_close(&loop_);
    finished_ = true;
}

bool Worker::post(std::function<void(Worker&)> fn) {
    if (!inbox_) return false;
    return inbox_->post([this, fn = std::move(fn)] { fn(*this); });
}

std::vector<ShardReport> Worker::report() const {
    std::vector<ShardReport> out;
    out.reserve(shards_.size());
    for (const auto& shard : shards_) out.push_back(shard->report());
    return out;
}

void Worker::stop(std::uint64_t flush_ms) {
    post([flush_ms](Worker& w) {
        w.stop_timer_ = std::make_unique<Timer>(w.loop(), [&w] { uv_stop(w.loop()); });
        w.stop_timer_->start(flush_ms);
    });
}

bool Worker::join(std::uint64_t timeout_ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!finished_.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!finished_.load()) return false;
    if (thread_.joinable()) thread_.join();
    return true;
}

}  // namespace sp::proxy
