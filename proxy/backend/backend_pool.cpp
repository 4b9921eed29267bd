#include "proxy/backend/backend_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace sp::proxy {

namespace {
// How long a link to a replaced master may wait for its last replies.
constexpr std::uint64_t kRetiredLingerMs = 30'000;
}  // namespace

BackendPool::BackendPool(uv_loop_t* loop, std::uint32_t links_per_master,
                         BackendCredentials credentials, std::uint32_t connect_timeout_ms)
    : loop_(loop),
      links_per_master_(links_per_master ? links_per_master : 1),
      credentials_(std::move(credentials)),
      connect_timeout_ms_(connect_timeout_ms),
      check_(new uv_check_t),
      reap_timer_(loop, [this] { reap(); }) {
    uv_check_init(loop_, check_);
    check_->data = this;
    uv_check_start(check_, &BackendPool::on_check);
    // The check handle alone must not keep the loop alive.
    uv_unref(reinterpret_cast<uv_handle_t*>(check_));
}

BackendPool::~BackendPool() {
    uv_check_stop(check_);
    check_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(check_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
}

void BackendPool::on_check(uv_check_t* handle) {
    if (auto* self = static_cast<BackendPool*>(handle->data)) self->flush_dirty();
}

void BackendPool::flush_dirty() {
    if (dirty_.empty()) return;
    flushing_.swap(dirty_);  // both keep their capacity: no allocation per loop turn
    ++batches_;
    batched_links_ += flushing_.size();
    for (SharedLink* l : flushing_) l->flush();
    flushing_.clear();
}

SharedLink& BackendPool::link_for(const NodeAddress& master, protocol::RespVersion proto) {
    SharedLink* best = nullptr;
    std::size_t count = 0;
    for (auto& l : links_) {
        if (l->dead() || l->retiring() || l->proto() != proto || !(l->address() == master))
            continue;
        ++count;
        if (!best || l->in_flight() < best->in_flight()) best = l.get();
    }
    if (best && (count >= links_per_master_ || best->in_flight() == 0)) return *best;
    auto link = std::make_unique<SharedLink>(
        loop_, master, proto, credentials_, connect_timeout_ms_,
        [this](SharedLink& l) { dirty_.push_back(&l); },
        [this](SharedLink& l) {
            std::erase(dirty_, &l);
            reap_timer_.start(0);
        });
    spdlog::debug("shared link {} to {} ({})", links_.size() + 1, master.str(),
                  proto == protocol::RespVersion::resp3 ? "RESP3" : "RESP2");
    links_.push_back(std::move(link));
    return *links_.back();
}

void BackendPool::on_master(const std::optional<NodeAddress>& master,
                            const std::vector<NodeAddress>& replicas) {
    // No master (a hold) retires nothing: sessions send nothing meanwhile, and the same
    // master is often verified again.
    if (!master) return;
    for (auto& l : links_) {
        if (l->retiring() || l->address() == *master) continue;
        if (std::find(replicas.begin(), replicas.end(), l->address()) != replicas.end()) continue;
        l->retire(uv_now(loop_));
    }
    reap_timer_.start(0);
}

std::size_t BackendPool::in_flight(const NodeAddress& address, protocol::RespVersion proto) const {
    std::size_t n = 0;
    for (const auto& l : links_)
        if (!l->dead() && !l->retiring() && l->proto() == proto && l->address() == address)
            n += l->in_flight();
    return n;
}

void BackendPool::reap() {
    // A link to a replaced master that never answered (frozen) is closed: its clients are
    // told, as if it had died. Told first, erased after: they may open new links.
    std::vector<SharedLink*> expired;
    for (auto& l : links_)
        if (l->retiring() && !l->dead() && l->in_flight() > 0 &&
            uv_now(loop_) - l->retired_ms() > kRetiredLingerMs)
            expired.push_back(l.get());
    for (SharedLink* l : expired)
        l->close("no reply from the replaced master " + l->address().str());
    bool more = false;
    std::erase_if(links_, [&](const std::unique_ptr<SharedLink>& l) {
        bool gone = l->dead() || (l->retiring() && l->in_flight() == 0);
        if (gone) std::erase(dirty_, l.get());
        if (!gone && l->retiring()) more = true;
        return gone;
    });
    if (more) reap_timer_.start(100);
}

}  // namespace sp::proxy
