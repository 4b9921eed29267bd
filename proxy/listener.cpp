#include "proxy/listener.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "proxy/client_session.h"

namespace sp::proxy {

namespace {
// Writes the refusal, then closes: the stream frees itself.
class Refusal : public TcpStream::Handler {
  public:
    uv_buf_t on_alloc(std::size_t) override { return uv_buf_init(buf_, sizeof(buf_)); }
    void on_read(std::size_t) override {}
    void on_closed(int) override {}
    char buf_[64];
};
Refusal g_refusal;
}  // namespace

Listener::Listener(uv_loop_t* loop, Router& router) : loop_(loop), router_(router) {}

Listener::~Listener() {
    stop();
}

void Listener::start(const std::vector<config::HostPort>& addresses) {
    for (const auto& hp : addresses) {
        sockaddr_storage ss{};
        if (uv_ip4_addr(hp.host.c_str(), hp.port, reinterpret_cast<sockaddr_in*>(&ss)) != 0 &&
            uv_ip6_addr(hp.host.c_str(), hp.port, reinterpret_cast<sockaddr_in6*>(&ss)) != 0) {
            throw std::runtime_error("listen address " + hp.str() + ": not an IP address");
        }
        auto* tcp = new uv_tcp_t;
        uv_tcp_init(loop_, tcp);
        tcp->data = this;
        int rc = uv_tcp_bind(tcp, reinterpret_cast<sockaddr*>(&ss), 0);
        if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), 511, on_connection);
        if (rc != 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(tcp),
                     [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
            throw std::runtime_error("cannot listen on " + hp.str() + ": " + uv_strerror(rc));
        }
        sockets_.push_back(tcp);
        spdlog::info("listening on {}", hp.str());
    }
}

void Listener::stop() {
    for (uv_tcp_t* tcp : sockets_)
        uv_close(reinterpret_cast<uv_handle_t*>(tcp),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    sockets_.clear();
}

void Listener::on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<Listener*>(server->data);
    if (status != 0) {
        spdlog::warn("accept failed: {}", uv_strerror(status));
        return;
    }
    Router& router = self->router_;
    if (router.sessions() >= router.config().max_clients) {
        router.stats().connections_rejected++;
        TcpStream* s = TcpStream::accept(self->loop_, server, &g_refusal);
        if (!s) return;
        s->append("-ERR max number of clients reached\r\n");
        s->close_after_flush();
        return;
    }
    auto* session_stream = TcpStream::accept(self->loop_, server, nullptr);
    if (!session_stream) return;
    router.stats().connections_total++;
    auto* session = new ClientSession(router, session_stream);
    session_stream->set_handler(session->as_handler());
    router.add(session);
    session->start();
}

}  // namespace sp::proxy
