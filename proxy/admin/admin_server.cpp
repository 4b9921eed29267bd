#include "proxy/admin/admin_server.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <stdexcept>

#include "proxy/net/stream_factory.h"
#include "proxy/net/tcp_listen.h"
#include "proxy/net/tcp_stream.h"

namespace sp::proxy {

namespace {

constexpr std::size_t kMaxRequestHead = 8 * 1024;
constexpr std::uint64_t kRequestTimeoutMs = 10'000;

const char* reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 503:
            return "Service Unavailable";
        default:
            return "Status";
    }
}

std::string render(const HttpResponse& r, bool head_only) {
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) +
                      "\r\nContent-Type: " + r.content_type +
                      "\r\nContent-Length: " + std::to_string(r.body.size()) +
                      "\r\nCache-Control: no-store\r\nConnection: close\r\n";
    if (r.status == 405) out += "Allow: GET, HEAD\r\n";
    out += "\r\n";
    if (!head_only) out += r.body;
    return out;
}

// One admin connection: reads the request head, writes the response, closes. It owns
// itself: deleted once the response is queued (the stream then frees itself after the
// write) or when the peer goes away first.
class AdminConnection : public Stream::Handler {
  public:
    AdminConnection(uv_loop_t* loop, const AdminServer& server, Stream* stream)
        : server_(server), stream_(stream), timeout_(loop, [this] { answer_timeout(); }) {
        timeout_.start(kRequestTimeoutMs);
    }

    uv_buf_t on_alloc(std::size_t) override { return uv_buf_init(buf_, sizeof(buf_)); }

    void on_read(std::size_t n) override {
        head_.append(buf_, n);
        if (head_.find("\r\n\r\n") != std::string::npos ||
            head_.find("\n\n") != std::string::npos) {
            finish(server_.respond(head_));
        } else if (head_.size() > kMaxRequestHead) {
            finish(render({400, "text/plain; charset=utf-8", "request head too large\n"}, false));
        }
    }

    void on_closed(int) override {
        stream_ = nullptr;
        delete this;
    }

  private:
    void answer_timeout() {
        finish(render({408, "text/plain; charset=utf-8", "request timeout\n"}, false));
    }
    void finish(const std::string& response) {
        Stream* s = stream_;
        stream_ = nullptr;
        s->append(response);
        s->close_after_flush();  // detaches this handler
        delete this;
    }

    const AdminServer& server_;
    Stream* stream_;
    Timer timeout_;
    std::string head_;
    char buf_[2048];
};

}  // namespace

AdminServer::AdminServer(uv_loop_t* loop, Handler handler)
    : loop_(loop), handler_(std::move(handler)) {}

AdminServer::~AdminServer() {
    stop();
}

void AdminServer::start(const config::HostPort& hp) {
    uv_tcp_t* tcp = listen_tcp(loop_, hp, 64, this, on_connection, "admin ");
    socket_ = tcp;
    spdlog::info("admin endpoint on http://{}/ (livez, readyz, metrics, status)", hp.str());
}

void AdminServer::stop() {
    if (!socket_) return;
    close_listener(socket_);
    socket_ = nullptr;
}

void AdminServer::on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<AdminServer*>(server->data);
    if (status != 0) {
        spdlog::warn("admin accept failed: {}", uv_strerror(status));
        return;
    }
    Stream* stream = StreamFactory::accept_admin(self->loop_, server, nullptr);
    if (!stream) return;
    auto* conn = new AdminConnection(self->loop_, *self, stream);
    stream->set_handler(conn);
    stream->start_reading();
}

std::string AdminServer::respond(std::string_view head) const {
    std::string_view line = head.substr(0, head.find_first_of("\r\n"));
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0)
        return render({400, "text/plain; charset=utf-8", "bad request line\n"}, false);
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    const bool head_only = method == "HEAD";
    if (method != "GET" && !head_only)
        return render({405, "text/plain; charset=utf-8", "only GET and HEAD\n"}, false);
    return render(handler_(target), head_only);
}

}  // namespace sp::proxy
