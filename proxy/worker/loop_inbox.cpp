#include "proxy/worker/loop_inbox.h"

namespace sp::proxy {

LoopInbox::LoopInbox(uv_loop_t* loop) : async_(new uv_async_t) {
    uv_async_init(loop, async_, &LoopInbox::on_async);
    async_->data = this;
}

LoopInbox::~LoopInbox() {
    close();
}

bool LoopInbox::post(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!async_) return false;
    queue_.push_back(std::move(fn));
    // Sent under the lock: close() cannot free the handle between the check and the send.
    // Several sends before the loop wakes coalesce into one callback.
    if (queue_.size() == 1) uv_async_send(async_);
    return true;
}

void LoopInbox::close() {
    uv_async_t* handle = nullptr;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        handle = async_;
        async_ = nullptr;
        queue_.clear();
    }
    if (!handle) return;
    uv_close(reinterpret_cast<uv_handle_t*>(handle),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

void LoopInbox::on_async(uv_async_t* handle) {
    static_cast<LoopInbox*>(handle->data)->run_queued();
}

void LoopInbox::run_queued() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        running_.swap(queue_);
    }
    // A closure may post again (or close the inbox): it lands in queue_, for the next turn.
    for (auto& fn : running_) fn();
    running_.clear();
}

}  // namespace sp::proxy
