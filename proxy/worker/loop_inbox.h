// Work handed to a loop from another thread: any thread posts a closure, the loop's own
// thread runs it on its next turn. This is the only way anything crosses between the control
// loop and the worker loops (topology snapshots, reloads, drains, reports), so the data path
// itself never takes a lock: the mutex here is held for a push or a swap, per message, never
// per request.
#pragma once

#include <uv.h>

#include <functional>
#include <mutex>
#include <vector>

namespace sp::proxy {

class LoopInbox {
  public:
    // On the loop's thread, before or while the loop runs.
    explicit LoopInbox(uv_loop_t* loop);
    // Closes the handle if still open (on the loop's thread).
    ~LoopInbox();
    LoopInbox(const LoopInbox&) = delete;
    LoopInbox& operator=(const LoopInbox&) = delete;

    // Any thread. Runs `fn` on the loop's thread, in posting order. After close() it is
    // dropped: false.
    bool post(std::function<void()> fn);
    // On the loop's thread: takes no more posts; what is queued is dropped. The handle is
    // freed by its close callback.
    void close();

  private:
    static void on_async(uv_async_t* handle);
    void run_queued();

    std::mutex mutex_;
    std::vector<std::function<void()>> queue_;    // guarded by mutex_
    uv_async_t* async_ = nullptr;                 // null once closed (guarded by mutex_)
    std::vector<std::function<void()>> running_;  // the loop thread's batch
};

}  // namespace sp::proxy
