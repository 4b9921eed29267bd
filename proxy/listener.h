// Accepts client connections on the configured addresses and gives each to a new
// ClientSession. Past max_clients it answers like Redis ("-ERR max number of clients
// reached") and closes.
#pragma once

#include <uv.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/router.h"

namespace sp::proxy {

class Listener {
  public:
    Listener(uv_loop_t* loop, Router& router);
    ~Listener();
    // Binds and listens on every address; throws std::runtime_error naming the address.
    void start(const std::vector<config::HostPort>& addresses);
    // Stops accepting (graceful shutdown).
    void stop();
    bool listening() const { return !sockets_.empty(); }

  private:
    static void on_connection(uv_stream_t* server, int status);
    uv_loop_t* loop_;
    Router& router_;
    std::vector<uv_tcp_t*> sockets_;
};

}  // namespace sp::proxy
