#include "proxy/backend/shared_link.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocol/reply_writer.h"

namespace sp::proxy {

namespace {
// Numbers the reads of every shared link on this thread (see ReplySink::told_in_read_).
thread_local std::uint64_t t_read_id = 1;
}  // namespace

SharedLink::SharedLink(uv_loop_t* loop, NodeAddress address, protocol::RespVersion proto,
                       const BackendCredentials& credentials, std::uint32_t connect_timeout_ms,
                       std::function<void(SharedLink&)> on_dirty,
                       std::function<void(SharedLink&)> on_dead)
    : address_(std::move(address)),
      proto_(proto),
      on_dirty_(std::move(on_dirty)),
      on_dead_(std::move(on_dead)) {
    BackendLink::Owner& owner = *this;
    link_ = std::make_unique<BackendLink>(loop, owner, address_, connect_timeout_ms);
    // The link's own set-up: the proxy's credentials and the protocol of its clients.
    std::string& out = link_->out();
    if (!credentials.password.empty()) {
        if (credentials.user.empty())
            protocol::reply::command(out, {"AUTH", credentials.password});
        else
            protocol::reply::command(out, {"AUTH", credentials.user, credentials.password});
        fifo_.push_back(nullptr);
        ++handshake_left_;
    }
    if (proto_ == protocol::RespVersion::resp3) {
        protocol::reply::command(out, {"HELLO", "3"});
        fifo_.push_back(nullptr);
        ++handshake_left_;
    }
    // Named, so that an operator's CLIENT LIST tells shared links from clients' own.
    protocol::reply::command(out, {"CLIENT", "SETNAME", kSharedLinkName});
    fifo_.push_back(nullptr);
    ++handshake_left_;
    link_->connect();
}

SharedLink::~SharedLink() = default;

void SharedLink::send(ReplySink* sink, std::string_view bytes) {
    link_->out().append(bytes);
    fifo_.push_back(sink);
    if (!dirty_) {
        dirty_ = true;
        on_dirty_(*this);
    }
}

void SharedLink::cancel(ReplySink* sink) {
    std::replace(fifo_.begin(), fifo_.end(), sink, static_cast<ReplySink*>(nullptr));
    std::erase(touched_, sink);
}

void SharedLink::flush() {
    dirty_ = false;
    if (link_ && !dead_) link_->flush();
}

void SharedLink::on_backend_connected(BackendLink&) {
    ready_ = true;
}

void SharedLink::on_backend_frame(BackendLink&, const protocol::FrameInfo& info,
                                  std::string_view bytes) {
    if (info.push) return;  // no request of a default-state client asks for pushes
    if (fifo_.empty()) {
        die("unexpected reply from " + address_.str());
        return;
    }
    ReplySink* sink = fifo_.front();
    fifo_.pop_front();
    if (handshake_left_ > 0) {
        --handshake_left_;
        if (info.error) {
            spdlog::error("shared link to {}: connection set-up refused: {}", address_.str(),
                          std::string(info.head_view()));
            die("connection set-up refused");
        }
        return;
    }
    if (!sink) return;                  // its client went away: dropped
    if (touched_.empty()) ++t_read_id;  // the first frame of a read (reads never nest)
    if (sink->told_in_read_ != t_read_id) {
        sink->told_in_read_ = t_read_id;
        touched_.push_back(sink);
    }
    sink->on_shared_reply(*this, info, bytes);
}

void SharedLink::on_backend_read_done(BackendLink&) {
    // Sessions are destroyed only on a later loop turn, so every pointer here is valid
    // even if one of them closed while an earlier one was told.
    telling_.swap(touched_);
    for (ReplySink* s : telling_) s->on_shared_read_done(*this);
    telling_.clear();
}

void SharedLink::on_backend_closed(BackendLink&, const std::string& why) {
    die(why);
}

void SharedLink::die(const std::string& why) {
    if (dead_) return;
    dead_ = true;
    ready_ = false;
    std::vector<ReplySink*> owed;
    for (ReplySink* s : fifo_)
        if (s && std::find(owed.begin(), owed.end(), s) == owed.end()) owed.push_back(s);
    fifo_.clear();
    touched_.clear();
    handshake_left_ = 0;
    if (!owed.empty())
        spdlog::info("shared link to {} lost with requests of {} clients in flight: {}",
                     address_.str(), owed.size(), why);
    // Each sink may cancel others' entries or open new links: the list is ours now.
    for (ReplySink* s : owed) s->on_shared_link_lost(*this, why);
    on_dead_(*this);
}

}  // namespace sp::proxy
