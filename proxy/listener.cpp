#include "proxy/listener.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "proxy/client_session.h"
#include "proxy/tcp_listen.h"

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
        uv_tcp_t* tcp = listen_tcp(loop_, hp, 511, this, on_connection, "");
        sockets_.push_back(tcp);
        spdlog::info("listening on {}", hp.str());
    }
}

void Listener::stop() {
    for (uv_tcp_t* tcp : sockets_) close_listener(tcp);
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
