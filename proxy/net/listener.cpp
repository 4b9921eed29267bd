#include "proxy/net/listener.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "proxy/net/fd_limit.h"
#include "proxy/net/stream_factory.h"
#include "proxy/net/tcp_listen.h"
#include "proxy/net/tls_stats.h"

namespace sp::proxy {

namespace {
constexpr char kMaxClients[] = "-ERR max number of clients reached\r\n";
// Accepts per readable event: other handles get the loop in between.
constexpr int kAcceptBatch = 64;
// Out of descriptors: how long to leave the listener alone before trying again.
constexpr std::uint64_t kFdBackoffMs = 100;
// At most one accept-failure warning per this long (with the count since the last one).
constexpr std::uint64_t kFailureLogMs = 5000;
// A client is taken only if this many descriptors stay free above its socket: its own
// backend link, plus slack for sentinel reconnects and admin requests.
constexpr std::uint64_t kFdHeadroom = kFdsPerClient + 8;
// A TLS refusal holds its socket for a handshake: only while this many descriptors stay
// free above it, so refusals cannot take the last ones a served client's link needs.
constexpr std::uint64_t kTlsRefusalHeadroom = kFdsPerClient + 2;
// /readyz stays 503 this long after the last failure, so a probe sees it.
constexpr std::uint64_t kShortOfFdsMs = 5000;

// Writes the refusal, then closes: the stream frees itself. One per thread: the read
// buffer is scratch, but worker loops on several threads must not write into the same one.
class Refusal : public Stream::Handler {
  public:
    uv_buf_t on_alloc(std::size_t) override { return uv_buf_init(buf_, sizeof(buf_)); }
    void on_read(std::size_t) override {}
    void on_closed(int) override {}
    char buf_[64];
};
thread_local Refusal t_refusal;

// Answers and closes an accepted socket without a stream. What the client already sent is
// read first: closing with unread input would send a reset that can destroy the answer.
void refuse(int fd) {
    [[maybe_unused]] ssize_t n = ::send(fd, kMaxClients, sizeof kMaxClients - 1, MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    char scratch[4096];
    for (int i = 0; i < 16 && ::recv(fd, scratch, sizeof scratch, 0) > 0; ++i) {
    }
    ::close(fd);
}

int open_spare() {
    return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}
}  // namespace

struct Listener::Socket {
    uv_poll_t poll;
    int fd = -1;
    Listener* owner = nullptr;
    std::string address;
    bool tls = false;
};

Listener::Listener(uv_loop_t* loop, const config::Config& config, ProxyStats& stats,
                   Clients clients)
    : loop_(loop),
      config_(config),
      stats_(stats),
      clients_(std::move(clients)),
      backoff_(loop, [this] { resume(); }) {}

Listener::~Listener() {
    stop();
    if (spare_fd_ >= 0) ::close(spare_fd_);
}

void Listener::start(const std::vector<config::HostPort>& addresses,
                     const std::vector<config::HostPort>& tls_addresses, PortSharing sharing) {
    if (spare_fd_ < 0) spare_fd_ = open_spare();
    for (std::size_t i = 0; i < addresses.size() + tls_addresses.size(); ++i) {
        const bool tls = i >= addresses.size();
        const config::HostPort& hp = tls ? tls_addresses[i - addresses.size()] : addresses[i];
        const int fd = listen_socket(hp, 511, sharing);  // throws before anything is owned
        auto* s = new Socket;
        s->tls = tls;
        s->fd = fd;
        s->owner = this;
        s->address = hp.str();
        uv_poll_init_socket(loop_, &s->poll, s->fd);
        s->poll.data = s;
        uv_poll_start(&s->poll, UV_READABLE, on_readable);
        sockets_.push_back(s);
        spdlog::info("listening on {}{}", hp.str(), tls ? " (TLS)" : "");
    }
}

void Listener::stop() {
    backoff_.stop();
    for (Socket* s : sockets_) {
        // The descriptor is closed only after libuv has let go of it.
        uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), [](uv_handle_t* h) {
            auto* socket = static_cast<Socket*>(h->data);
            ::close(socket->fd);
            delete socket;
        });
    }
    sockets_.clear();
}

bool Listener::fd_shortage() const {
    return last_fd_failure_ms_ != 0 && uv_now(loop_) - last_fd_failure_ms_ < kShortOfFdsMs;
}

void Listener::on_readable(uv_poll_t* poll, int status, int) {
    auto* s = static_cast<Socket*>(poll->data);
    if (status != 0) {
        spdlog::warn("listener {}: poll failed: {}", s->address, uv_strerror(status));
        return;
    }
    s->owner->accept_pending(*s);
}

void Listener::accept_pending(Socket& socket) {
    for (int i = 0; i < kAcceptBatch; ++i) {
        int fd = ::accept4(socket.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            // The kernel hands out the lowest free descriptor, so a high number means the
            // table is nearly full: refuse now rather than fail the backend link later.
            const bool no_room = static_cast<std::uint64_t>(fd) + kFdHeadroom >= fd_soft_limit();
            if (no_room || (budget_ && budget_->full())) {
                stats_.connections_rejected++;
                // On a TLS address the refusal goes inside TLS, as at max_clients, while a
                // few descriptors remain for the handshake (a plaintext -ERR there is only
                // "wrong version number" to the client); else the socket is just closed.
                if (socket.tls)
                    refuse_tls(
                        fd, static_cast<std::uint64_t>(fd) + kTlsRefusalHeadroom < fd_soft_limit());
                else
                    refuse(fd);
                short_of_fds(socket, no_room ? "too few file descriptors left for a client and "
                                               "its backend link"
                                             : "the file-descriptor limit's client capacity is "
                                               "reached");
                continue;
            }
            take(fd, socket.tls);
            continue;
        }
        const int error = errno;
        if (error == EAGAIN || error == EWOULDBLOCK) return;
        if (error == EINTR || error == ECONNABORTED || error == EPROTO) continue;
        if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
            refuse_with_spare(socket.fd, socket.tls);
            short_of_fds(socket, std::strerror(error));
            back_off();
            return;
        }
        stats_.accept_failures++;
        spdlog::warn("listener {}: accept failed: {}", socket.address, std::strerror(error));
        return;
    }
}

bool Listener::handshakes_full(int fd) {
    if (tls_stats().begin_client_handshake(config_.tls_max_handshakes)) return false;
    ::close(fd);
    const std::uint64_t now = uv_now(loop_);
    ++handshakes_unlogged_;
    if (last_handshake_log_ms_ == 0 || now - last_handshake_log_ms_ >= kFailureLogMs) {
        spdlog::warn(
            "listener: {} TLS handshakes in progress (tls.max_handshakes): closing new TLS "
            "connections until some finish or time out (tls.handshake_timeout_ms {} ms); {} "
            "closed since the last warning",
            tls_stats().client_handshakes_in_progress.load(std::memory_order_relaxed),
            config_.tls_handshake_timeout_ms, handshakes_unlogged_);
        handshakes_unlogged_ = 0;
        last_handshake_log_ms_ = now == 0 ? 1 : now;
    }
    return true;
}

// "-ERR max number of clients reached" inside TLS: sent once the handshake is done, the
// connection then closed. The handshake counts against tls.max_handshakes like a client's.
void Listener::refuse_tls(int fd, bool may_hold_fd) {
    if (!may_hold_fd) {
        ::close(fd);
        return;
    }
    if (handshakes_full(fd)) return;
    Stream* s = StreamFactory::adopt_client(loop_, fd, true, &t_refusal);
    if (!s) return;
    s->append(kMaxClients);
    s->close_after_flush();
}

void Listener::take(int fd, bool tls) {
    if (!clients_.seats->take(config_.max_clients)) {
        stats_.connections_rejected++;
        if (tls)
            refuse_tls(fd, true);
        else
            refuse(fd);
        return;
    }
    if (tls && handshakes_full(fd)) {
        clients_.seats->give_back();
        return;
    }
    Stream* stream = StreamFactory::adopt_client(loop_, fd, tls, nullptr);
    if (!stream) {
        clients_.seats->give_back();
        return;
    }
    stats_.connections_total++;
    clients_.accept(stream);
}

// The spare descriptor makes room to accept the waiting clients one at a time just to
// tell each why it cannot be served; a fresh socket's send buffer always takes these
// few bytes.
void Listener::refuse_with_spare(int listen_fd, bool tls) {
    if (spare_fd_ < 0) return;
    ::close(spare_fd_);
    spare_fd_ = -1;
    for (int i = 0; i < kAcceptBatch; ++i) {
        int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        stats_.connections_rejected++;
        // No descriptor to spare for a TLS handshake: a TLS client gets a plain close
        // rather than plaintext it cannot read.
        if (tls)
            ::close(fd);
        else
            refuse(fd);
    }
    spare_fd_ = open_spare();
}

void Listener::short_of_fds(Socket& socket, const char* why) {
    stats_.accept_failures++;
    stats_.accept_failures_fd_limit++;
    const std::uint64_t now = uv_now(loop_);
    last_fd_failure_ms_ = now == 0 ? 1 : now;
    ++failures_unlogged_;
    if (last_log_ms_ != 0 && now - last_log_ms_ < kFailureLogMs) return;
    spdlog::warn(
        "listener {}: cannot accept client connections: {} (fd limit {}, {} clients open, {} "
        "refusal(s) since the last warning); refusing with \"max number of clients reached\". "
        "Raise the file-descriptor limit or lower proxy.max_clients",
        socket.address, why, fd_soft_limit(), clients_.seats->taken(), failures_unlogged_);
    failures_unlogged_ = 0;
    last_log_ms_ = now;
}

void Listener::back_off() {
    for (Socket* s : sockets_) uv_poll_stop(&s->poll);
    backoff_.start(kFdBackoffMs);
}

void Listener::resume() {
    for (Socket* s : sockets_) uv_poll_start(&s->poll, UV_READABLE, on_readable);
}

}  // namespace sp::proxy
