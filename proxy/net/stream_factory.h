// The one place streams are made. The client listener, the admin endpoint, backend links,
// Sentinel links and ROLE/INFO probes all ask here, and the configuration decides whether
// they get a TcpStream or a TlsStream: the client side per listen address (proxy.listen
// plaintext, tls.listen TLS), the Redis side by [redis_tls] and the Sentinel side by
// [sentinel_tls]. The TLS contexts are process-wide, as the [tls] sections are: every pool
// and every worker loop shares them, and any thread may call these functions (a reload on
// the control thread swaps a context while workers accept and connect).
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "proxy/net/stream.h"
#include "proxy/net/tls_context.h"

namespace sp::proxy {

class StreamFactory {
  public:
    // Builds every configured TLS context; throws std::runtime_error (a configuration
    // error: exit status 2) naming the key and the file. Call once before the loop runs.
    static void configure(const config::Config& config);
    // SIGHUP: rebuilds the client-side context from new files. New handshakes use it,
    // established connections keep theirs. On failure keeps the old one and returns false
    // with the reason in `error`.
    static bool reload_client(const config::Config& config, std::string& error);

    // A client socket accepted on a plaintext (`tls` false) or TLS listen address.
    // nullptr on failure (the descriptor is closed). With `tls`, the caller took a slot with
    // tls_stats().begin_client_handshake(): the stream owns it from here.
    static Stream* adopt_client(uv_loop_t* loop, int fd, bool tls, Stream::Handler* handler);
    // The admin endpoint: plaintext (it is meant for the pod network and probes).
    static Stream* accept_admin(uv_loop_t* loop, uv_stream_t* server, Stream::Handler* handler);
    // To a Redis node or a Sentinel, `host` being the name it was announced or configured
    // under (verified against its certificate unless redis_tls.server_name says otherwise).
    static Stream* connect(uv_loop_t* loop, const sockaddr* addr, TlsSide side,
                           const std::string& host, Stream::Handler* handler);

    // Tests only: every outgoing connection (Redis and Sentinel sides) made on the calling
    // thread is made by `fn` instead, e.g. an in-memory stream to a scripted backend
    // (tests/fuzz/session_fuzz.cpp). Pass an empty function to restore sockets. Per thread,
    // so loops on several threads each keep their own.
    using Connector = std::function<Stream*(const sockaddr* addr, TlsSide side,
                                            const std::string& host, Stream::Handler* handler)>;
    static void set_connector_for_tests(Connector fn);

    static bool tls(TlsSide side);
    // The current context of a side (nullptr: plaintext), e.g. for the expiry gauge.
    static std::shared_ptr<const TlsContext> context(TlsSide side);
};

// The options of one side as configured (exposed for tests).
TlsOptions tls_options(const config::Config& config, TlsSide side);

}  // namespace sp::proxy
