// The admin HTTP listener on the event loop: a minimal HTTP/1.1 server answering GET and
// HEAD with one response per connection (Connection: close), enough for Kubernetes
// probes, Prometheus scrapes and curl. What each path answers is decided by the handler
// (main wires /livez, /readyz, /metrics, /status); this file only speaks HTTP. Requests
// are capped at 8 KiB of headers and 10 s; anything else gets 400/405/408.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace sp::proxy {

struct HttpResponse {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

class AdminServer {
  public:
    // Called with the request path (query string removed).
    using Handler = std::function<HttpResponse(std::string_view path)>;

    AdminServer(uv_loop_t* loop, Handler handler);
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    // Binds and listens; throws std::runtime_error naming the address.
    void start(const config::HostPort& address);
    void stop();
    bool listening() const { return socket_ != nullptr; }

    // Builds the whole response for one request head ("GET /x HTTP/1.1\r\n...").
    std::string respond(std::string_view request_head) const;

  private:
    static void on_connection(uv_stream_t* server, int status);
    uv_loop_t* loop_;
    Handler handler_;
    uv_tcp_t* socket_ = nullptr;
};

}  // namespace sp::proxy
