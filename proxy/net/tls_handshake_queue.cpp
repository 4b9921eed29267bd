#include "proxy/net/tls_handshake_queue.h"

#include <algorithm>
#include <vector>

namespace sp::proxy {

namespace {
// The queues of this thread's loops (one, but tests run several loops in turn).
thread_local std::vector<TlsHandshakeQueue*> t_queues;
}  // namespace

TlsHandshakeQueue::Entry::~Entry() {
    TlsHandshakeQueue::remove(this);
}

TlsHandshakeQueue::TlsHandshakeQueue(uv_loop_t* loop) : loop_(loop), idle_(new uv_idle_t) {
    uv_idle_init(loop, idle_);
    idle_->data = this;
    uv_idle_start(idle_,
                  [](uv_idle_t* h) { static_cast<TlsHandshakeQueue*>(h->data)->run_turn(); });
    t_queues.push_back(this);
}

TlsHandshakeQueue* TlsHandshakeQueue::find(uv_loop_t* loop) {
    for (TlsHandshakeQueue* q : t_queues)
        if (q->loop_ == loop) return q;
    return nullptr;
}

void TlsHandshakeQueue::push(uv_loop_t* loop, Entry* entry, bool started) {
    if (entry->queued()) return;
    TlsHandshakeQueue* q = find(loop);
    if (!q) q = new TlsHandshakeQueue(loop);
    entry->started_ = started;
    q->link(entry);
}

void TlsHandshakeQueue::remove(Entry* entry) {
    TlsHandshakeQueue* q = entry->queue_;
    if (!q) return;
    q->unlink(entry);
    q->close_if_empty();
}

std::size_t TlsHandshakeQueue::size(uv_loop_t* loop) {
    const TlsHandshakeQueue* q = find(loop);
    return q ? q->size_ : 0;
}

void TlsHandshakeQueue::link(Entry* entry) {
    List& list = entry->started_ ? started_ : fresh_;
    entry->queue_ = this;
    entry->prev_ = list.tail;
    entry->next_ = nullptr;
    (list.tail ? list.tail->next_ : list.head) = entry;
    list.tail = entry;
    ++size_;
}

void TlsHandshakeQueue::unlink(Entry* entry) {
    List& list = entry->started_ ? started_ : fresh_;
    (entry->prev_ ? entry->prev_->next_ : list.head) = entry->next_;
    (entry->next_ ? entry->next_->prev_ : list.tail) = entry->prev_;
    entry->queue_ = nullptr;
    entry->prev_ = entry->next_ = nullptr;
    --size_;
}

// One slice: steps until the budget is spent, started handshakes first. An entry leaves the
// queue before its step runs, so a step may close any stream, its own included.
void TlsHandshakeQueue::run_turn() {
    running_ = true;
    const std::uint64_t start = uv_hrtime();
    do {
        Entry* entry = started_.head ? started_.head : fresh_.head;
        if (!entry) break;
        unlink(entry);
        entry->run_handshake_step();
    } while (uv_hrtime() - start < kTurnBudgetNs);
    running_ = false;
    close_if_empty();
}

void TlsHandshakeQueue::close_if_empty() {
    if (size_ != 0 || running_) return;
    t_queues.erase(std::find(t_queues.begin(), t_queues.end(), this));
    uv_close(reinterpret_cast<uv_handle_t*>(idle_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
    delete this;
}

}  // namespace sp::proxy
