// Accepts client connections on the configured addresses and hands each, as a Stream, to
// the accept callback (the pool makes it a ClientSession: the listener sits below the
// session layer and knows nothing of it). Past max_clients it answers like Redis ("-ERR
// max number of clients reached") and closes.
//
// It accepts with accept4() itself, on a uv_poll_t, rather than through uv_listen: when
// the process is out of descriptors libuv closes the pending connections silently and
// tells nobody. Here EMFILE/ENFILE is counted, logged (rate-limited), answered with the
// same -ERR through one spare descriptor kept for that, and accepting backs off briefly
// instead of spinning on a listener that stays readable. A client whose socket leaves too
// few descriptors for its backend link is refused the same way, before it can fail later.
// On a TLS address every refusal goes inside TLS (or, with no descriptor to hold for a
// handshake, is a plain close), and connections still in their handshake are bounded by
// tls.max_handshakes: past it new ones are closed at once.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/net/client_seats.h"
#include "proxy/net/fd_limit.h"
#include "proxy/net/proxy_stats.h"
#include "proxy/net/tcp_listen.h"
#include "proxy/net/tcp_stream.h"

namespace sp::proxy {

class Listener {
  public:
    // What the layer above provides: the pool's seats (a client is refused when none is
    // free under max_clients), and taking a client's stream (its handler is not set yet)
    // together with the seat taken for it, which the taker gives back when it closes.
    struct Clients {
        ClientSeats* seats;
        std::function<void(Stream*)> accept;
    };
    // `config` and `stats` must outlive the listener; config is read at each accept, so a
    // reload's max_clients applies at once.
    Listener(uv_loop_t* loop, const config::Config& config, ProxyStats& stats, Clients clients);
    ~Listener();
    // Binds and listens on every address (plaintext, then TLS); throws std::runtime_error
    // naming the address. With PortSharing::reuse_port each worker loop's listener binds
    // its own sockets on the same addresses and the kernel spreads connections over them
    // (call check_address_free() on each address once before the first worker starts).
    void start(const std::vector<config::HostPort>& addresses,
               const std::vector<config::HostPort>& tls_addresses = {},
               PortSharing sharing = PortSharing::exclusive);
    // Stops accepting (graceful shutdown).
    void stop();
    bool listening() const { return !sockets_.empty(); }
    // Refuse clients past this (shared by every pool; nullptr: no limit but the fds').
    void set_client_budget(const ClientBudget* budget) { budget_ = budget; }
    // True while accepting recently failed for want of file descriptors.
    bool fd_shortage() const;

  private:
    struct Socket;
    static void on_readable(uv_poll_t* poll, int status, int events);
    void accept_pending(Socket& socket);
    void take(int fd, bool tls);
    void refuse_with_spare(int listen_fd, bool tls);
    void refuse_tls(int fd, bool may_hold_fd);
    // Takes a handshake slot for `fd` (false), or closes it (counted, warned about) when
    // tls.max_handshakes are in progress in the whole process (true).
    bool handshakes_full(int fd);
    void short_of_fds(Socket& socket, const char* why);
    void back_off();
    void resume();

    uv_loop_t* loop_;
    const config::Config& config_;
    ProxyStats& stats_;
    Clients clients_;
    std::vector<Socket*> sockets_;
    const ClientBudget* budget_ = nullptr;
    int spare_fd_ = -1;  // released to accept-and-refuse one client when out of fds
    Timer backoff_;
    std::uint64_t last_fd_failure_ms_ = 0;  // 0: never
    std::uint64_t failures_unlogged_ = 0;
    std::uint64_t last_log_ms_ = 0;
    std::uint64_t handshakes_unlogged_ = 0;
    std::uint64_t last_handshake_log_ms_ = 0;
};

}  // namespace sp::proxy
