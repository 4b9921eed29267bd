#include "proxy/net/tcp_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace sp::proxy {

namespace {

// TCP keepalive on every client and backend socket, so a peer that vanished without a RST
// (a node gone in Kubernetes, a cut network) is noticed in about 60 + 3 x 10 s instead of
// never: idle time, probe interval, probes.
constexpr int kKeepaliveIdleS = 60;
constexpr int kKeepaliveIntervalS = 10;
constexpr int kKeepaliveProbes = 3;

void set_socket_options(uv_tcp_t* tcp) {
    uv_tcp_nodelay(tcp, 1);
    uv_tcp_keepalive(tcp, 1, kKeepaliveIdleS);
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(tcp), &fd) == 0) {
        int interval = kKeepaliveIntervalS, probes = kKeepaliveProbes;
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
    }
}

}  // namespace

TcpStream::TcpStream(uv_loop_t* loop, Handler* handler) : handler_(handler) {
    uv_tcp_init(loop, &tcp_);
    tcp_.data = this;
}

TcpStream* TcpStream::accept(uv_loop_t* loop, uv_stream_t* server, Handler* handler) {
    auto* s = new TcpStream(loop, handler);
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&s->tcp_)) != 0) {
        s->handler_ = nullptr;
        s->close();
        return nullptr;
    }
    set_socket_options(&s->tcp_);
    return s;
}

TcpStream* TcpStream::adopt(uv_loop_t* loop, int fd, Handler* handler) {
    auto* s = new TcpStream(loop, handler);
    if (uv_tcp_open(&s->tcp_, fd) != 0) {
        ::close(fd);
        s->handler_ = nullptr;
        s->close();
        return nullptr;
    }
    set_socket_options(&s->tcp_);
    return s;
}

TcpStream* TcpStream::connect(uv_loop_t* loop, const sockaddr* addr, Handler* handler) {
    auto* s = new TcpStream(loop, handler);
    auto* req = new uv_connect_t;
    req->data = s;
    int rc = uv_tcp_connect(req, &s->tcp_, addr, connect_cb);
    if (rc != 0) delete req;  // never started: no callback will come
    // The socket exists once uv_tcp_connect created it.
    if (rc == 0) set_socket_options(&s->tcp_);
    if (rc != 0) {
        // Report asynchronously-looking failure synchronously: the caller handles both.
        s->handler_ = nullptr;
        s->close();
        return nullptr;
    }
    return s;
}

void TcpStream::connect_cb(uv_connect_t* req, int status) {
    // libuv calls this (UV_ECANCELED if closed meanwhile) before the close callback frees s.
    auto* s = static_cast<TcpStream*>(req->data);
    delete req;
    if (s->closing_ || !s->handler_) return;
    s->handler_->on_connected(status);
}

void TcpStream::start_reading() {
    if (reading_ || closing_ || input_ended_) return;
    if (uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), alloc_cb, read_cb) == 0)
        reading_ = true;
}

void TcpStream::stop_reading() {
    if (!reading_ || closing_) return;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
}

void TcpStream::alloc_cb(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) {
    auto* s = static_cast<TcpStream*>(h->data);
    if (s->closing_ || !s->handler_) {
        *buf = uv_buf_init(nullptr, 0);
        return;
    }
    *buf = s->handler_->on_alloc(suggested);
}

void TcpStream::read_cb(uv_stream_t* st, ssize_t nread, const uv_buf_t*) {
    auto* s = static_cast<TcpStream*>(st->data);
    if (s->closing_ || !s->handler_) return;
    if (nread > 0) {
        s->handler_->on_read(static_cast<std::size_t>(nread));
    } else if (nread == UV_EOF) {
        // libuv stopped reading at EOF; the socket can still be written.
        s->reading_ = false;
        s->input_ended_ = true;
        if (!s->handler_->on_end_of_input()) s->fail(0);
    } else if (nread < 0) {
        s->fail(static_cast<int>(nread));
    }
}

bool TcpStream::peer_hung_up() const {
    if (input_ended_) return true;
    uv_os_fd_t fd;
    if (closing_ || uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) return false;
    // A FIN is seen even behind unread bytes; a reset or error too.
    pollfd p{fd, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

void TcpStream::fail(int status) {
    Handler* h = handler_;
    handler_ = nullptr;
    close();
    if (h) h->on_closed(status);
}

void TcpStream::flush() {
    if (writing_ || closing_ || next_.empty()) return;
    // Fast path: most writes complete at once. uv_try_write needs no request and no
    // completion callback, and spares libuv's per-write epoll_ctl (uv__drain re-arms the
    // watcher after every uv_write). Errors are left to uv_write below, which reports them
    // from the loop, never from inside the caller.
    uv_buf_t first = uv_buf_init(next_.data(), static_cast<unsigned>(next_.size()));
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &first, 1);
    if (n > 0) {
        if (static_cast<std::size_t>(n) == next_.size()) {
            next_.clear();
            if (next_.capacity() > (16u << 10)) std::string().swap(next_);
            if (close_when_drained_) close();
            shut_write_if_drained();
            return;
        }
        next_.erase(0, static_cast<std::size_t>(n));
    }
    in_flight_.swap(next_);
    next_.clear();
    uv_buf_t buf = uv_buf_init(in_flight_.data(), static_cast<unsigned>(in_flight_.size()));
    if (!write_req_) write_req_ = new uv_write_t;
    write_req_->data = this;
    int rc = uv_write(write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, write_cb);
    if (rc != 0) {
        fail(rc);
        return;
    }
    writing_ = true;
}

void TcpStream::release_buffers() {
    if (next_.empty()) std::string().swap(next_);
    if (writing_)
        release_in_flight_ = true;
    else
        std::string().swap(in_flight_);
}

void TcpStream::write_cb(uv_write_t* req, int status) {
    auto* s = static_cast<TcpStream*>(req->data);
    s->writing_ = false;
    s->in_flight_.clear();
    // Keep big buffers from lingering on idle connections.
    if (s->release_in_flight_ || s->in_flight_.capacity() > (16u << 10)) {
        std::string().swap(s->in_flight_);
        s->release_in_flight_ = false;
    }
    if (s->closing_) return;
    if (status != 0) {
        s->fail(status);
        return;
    }
    if (!s->next_.empty()) {
        s->flush();
        // flush() may write it all at once (uv_try_write), with no callback to come: the
        // queue is drained now, and on_drained must not be lost (backpressure waits on it).
        if (s->writing_ || s->closing_ || !s->next_.empty()) return;
    }
    if (s->close_when_drained_) {
        s->handler_ = nullptr;
        s->close();
        return;
    }
    s->shut_write_if_drained();
    if (s->handler_) s->handler_->on_drained();
}

void TcpStream::close() {
    if (closing_) return;
    closing_ = true;
    handler_ = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_),
             [](uv_handle_t* h) { delete static_cast<TcpStream*>(h->data); });
}

void TcpStream::close_after_flush() {
    if (closing_) return;
    handler_ = nullptr;
    stop_reading();
    if (!writing_ && next_.empty()) {
        close();
        return;
    }
    close_when_drained_ = true;
    flush();
}

void TcpStream::end_output() {
    if (closing_ || output_ending_) return;
    output_ending_ = true;
    flush();
    shut_write_if_drained();
}

// A plain shutdown(2) on libuv's socket: nothing is queued or in flight (a uv_shutdown
// request would wait for that too, at the cost of a request and a callback).
void TcpStream::shut_write_if_drained() {
    if (!output_ending_ || output_ended_ || closing_ || writing_ || !next_.empty()) return;
    output_ended_ = true;
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) == 0) ::shutdown(fd, SHUT_WR);
}

std::string TcpStream::peer() const {
    sockaddr_storage ss{};
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
    char ip[INET6_ADDRSTRLEN] = {};
    int port = 0;
    if (ss.ss_family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    }
    return std::string(ip) + ":" + std::to_string(port);
}

Timer::~Timer() {
    // A closing timer never fires again; fn is destroyed with Impl in the close callback,
    // so a callback that destroys this Timer's owner does not destroy itself mid-call.
    uv_close(reinterpret_cast<uv_handle_t*>(&impl_->timer),
             [](uv_handle_t* h) { delete static_cast<Impl*>(h->data); });
}

void Timer::start(std::uint64_t timeout_ms, std::uint64_t repeat_ms) {
    uv_timer_start(
        &impl_->timer,
        [](uv_timer_t* t) {
            auto* impl = static_cast<Impl*>(t->data);
            if (impl->fn) impl->fn();
        },
        timeout_ms, repeat_ms);
}

void Timer::stop() {
    uv_timer_stop(&impl_->timer);
}

bool Timer::active() const {
    return uv_is_active(reinterpret_cast<const uv_handle_t*>(&impl_->timer)) != 0;
}

std::uint64_t now_ms(uv_loop_t* loop) {
    return uv_now(loop);
}

}  // namespace sp::proxy
