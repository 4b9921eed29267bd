#include "proxy/backend/backend_link.h"

#include <cstring>

#include "proxy/net/resolver.h"
#include "proxy/net/stream_factory.h"
#include "proxy/net/tcp_listen.h"

namespace sp::proxy {

namespace {
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kSharedReadSize = 64 * 1024;

// One read buffer per loop thread, shared by every link: reads are handled to the end
// before the next one starts.
char* shared_read_buffer() {
    thread_local std::unique_ptr<char[]> buf(new char[kSharedReadSize]);
    return buf.get();
}
}  // namespace

BackendLink::BackendLink(uv_loop_t* loop, Owner& owner, NodeAddress address,
                         std::uint32_t connect_timeout_ms)
    : loop_(loop),
      owner_(owner),
      address_(std::move(address)),
      connect_timeout_ms_(connect_timeout_ms ? connect_timeout_ms : 2000),
      connect_timer_(loop, [this] { die("connect to " + address_.str() + " timed out"); }) {}

BackendLink::~BackendLink() {
    *alive_ = false;
    if (stream_) stream_->close();
}

void BackendLink::connect() {
    connect_timer_.start(connect_timeout_ms_);
    // IP literals skip the resolver (it runs on libuv's thread pool).
    sockaddr_storage literal;
    if (ip_literal(address_.host, address_.port, literal)) {
        connect_to(reinterpret_cast<const sockaddr*>(&literal));
        return;
    }
    int rc = resolve_host(loop_, address_.host, address_.port, alive_,
                          [this](int status, const addrinfo* res) {
                              if (status != 0 || !res) {
                                  die("resolve " + address_.host + ": " + uv_strerror(status));
                                  return;
                              }
                              connect_to(res->ai_addr);
                          });
    if (rc != 0) {
        // Report from the loop, never from inside connect(): the owner may be mid-setup.
        connect_timer_.start(0);
    }
}

void BackendLink::connect_to(const sockaddr* addr) {
    state_ = State::connecting;
    stream_ = StreamFactory::connect(loop_, addr, TlsSide::redis, address_.host, this);
    if (!stream_) connect_timer_.start(0);
}

void BackendLink::on_connected(int status) {
    if (status != 0) {
        die("connect to " + address_.str() + ": " + uv_strerror(status));
        return;
    }
    connect_timer_.stop();
    state_ = State::connected;
    if (!paused_) stream_->start_reading();
    auto alive = alive_;
    owner_.on_backend_connected(*this);
    if (!*alive) return;
    flush();
}

void BackendLink::flush() {
    if (state_ != State::connected || out_.empty()) return;
    if (stream_->out().empty())
        stream_->out().swap(out_);
    else
        stream_->out().append(out_);
    out_.clear();
    stream_->flush();
}

std::size_t BackendLink::pending_write_bytes() const {
    return out_.size() + (stream_ ? stream_->pending_bytes() : 0);
}

bool BackendLink::end_output() {
    if (state_ != State::connected) return false;
    flush();
    stream_->end_output();
    return true;
}

void BackendLink::pause_reading() {
    paused_ = true;
    if (stream_ && state_ == State::connected) stream_->stop_reading();
}

void BackendLink::resume_reading() {
    paused_ = false;
    if (stream_ && state_ == State::connected) stream_->start_reading();
}

uv_buf_t BackendLink::on_alloc(std::size_t) {
    // Between frames, read into the loop's shared buffer: an idle link then owns no read
    // memory at all. Only a partial frame is copied into the link's own buffer.
    if (rlen_ == 0) {
        reading_shared_ = true;
        return uv_buf_init(shared_read_buffer(), kSharedReadSize);
    }
    reading_shared_ = false;
    if (rbuf_.size() < rlen_ + kReadChunk) rbuf_.resize(rlen_ + kReadChunk);
    return uv_buf_init(rbuf_.data() + rlen_, kReadChunk);
}

void BackendLink::on_read(std::size_t n) {
    char* base = reading_shared_ ? shared_read_buffer() : rbuf_.data();
    std::size_t len = reading_shared_ ? n : rlen_ + n;
    auto alive = alive_;
    while (scan_pos_ < len) {
        std::size_t consumed = 0;
        protocol::FrameInfo info;
        auto st = framer_.feed(base + scan_pos_, len - scan_pos_, consumed, info);
        scan_pos_ += consumed;
        if (st == protocol::ReplyFramer::Status::error) {
            die("protocol error from " + address_.str() + ": " + framer_.error_text());
            return;
        }
        if (st == protocol::ReplyFramer::Status::incomplete) break;
        std::string_view frame(base + frame_start_, scan_pos_ - frame_start_);
        frame_start_ = scan_pos_;
        owner_.on_backend_frame(*this, info, frame);
        if (!*alive || state_ == State::dead) return;
    }
    // Keep only the partial frame, in the link's own buffer.
    std::size_t partial = len - frame_start_;
    if (partial == 0) {
        rlen_ = frame_start_ = scan_pos_ = 0;
        if (!rbuf_.empty()) std::string().swap(rbuf_);
    } else if (reading_shared_) {
        rbuf_.assign(base + frame_start_, partial);
        rlen_ = partial;
        scan_pos_ -= frame_start_;
        frame_start_ = 0;
    } else if (frame_start_ > 0) {
        std::memmove(rbuf_.data(), rbuf_.data() + frame_start_, partial);
        rlen_ = partial;
        scan_pos_ -= frame_start_;
        frame_start_ = 0;
    } else {
        rlen_ = len;
    }
    owner_.on_backend_read_done(*this);
}

void BackendLink::on_closed(int status) {
    stream_ = nullptr;
    die(status == 0 ? "connection closed by " + address_.str()
                    : "connection to " + address_.str() + " lost: " + uv_strerror(status));
}

void BackendLink::on_drained() {
    owner_.on_backend_drained(*this);
}

void BackendLink::die(const std::string& why) {
    if (state_ == State::dead) return;
    state_ = State::dead;
    connect_timer_.stop();
    if (stream_) stream_->close();
    stream_ = nullptr;
    owner_.on_backend_closed(*this, why);
}

}  // namespace sp::proxy
