#include "proxy/net/stream_factory.h"

#include <spdlog/spdlog.h>

#include <array>
#include <mutex>

#include "proxy/net/tcp_stream.h"
#include "proxy/net/tls_stats.h"
#include "proxy/net/tls_stream.h"

namespace sp::proxy {

namespace {

// The TLS contexts of the three sides. Worker loops read them at accept and connect (never
// per request) while a SIGHUP reload on the control thread may swap the client side's: a
// mutex guards the pointers, and each stream keeps its own reference to the context it
// started with.
struct Contexts {
    std::mutex mutex;
    std::array<std::shared_ptr<const TlsContext>, 3> by_side;
};

Contexts& contexts() {
    static Contexts all;
    return all;
}

std::shared_ptr<const TlsContext> current(TlsSide side) {
    Contexts& c = contexts();
    std::lock_guard lock(c.mutex);
    return c.by_side[static_cast<std::size_t>(side)];
}

// Per thread: a test sets it on the thread that runs its loop, and several loops on
// several threads (workers) each keep their own.
thread_local StreamFactory::Connector t_test_connector;

void publish_expiry(TlsSide side) {
    const auto c = current(side);
    tls_stats().of(side).cert_not_after.store(c ? c->cert_not_after() : 0,
                                              std::memory_order_relaxed);
}

}  // namespace

TlsStats& tls_stats() {
    static TlsStats stats;
    return stats;
}

// The keys of every side ([tls], [redis_tls], [sentinel_tls]); the client side adds its own.
static TlsOptions side_options(TlsSide side, const char* key_prefix, const std::string& cert_file,
                               const std::string& key_file, const std::string& ca_file,
                               bool verify_peer, const std::string& server_name) {
    TlsOptions o;
    o.side = side;
    o.key_prefix = key_prefix;
    o.cert_file = cert_file;
    o.key_file = key_file;
    o.ca_file = ca_file;
    o.verify_peer = verify_peer;
    o.server_name = server_name;
    return o;
}

TlsOptions tls_options(const config::Config& c, TlsSide side) {
    if (side == TlsSide::redis) {
        return side_options(side, "redis_tls.", c.redis_tls_cert_file, c.redis_tls_key_file,
                            c.redis_tls_ca_file, !c.redis_tls_insecure, c.redis_tls_server_name);
    }
    if (side == TlsSide::sentinel) {
        return side_options(side, "sentinel_tls.", c.sentinel_tls_cert_file,
                            c.sentinel_tls_key_file, c.sentinel_tls_ca_file,
                            !c.sentinel_tls_insecure, c.sentinel_tls_server_name);
    }
    TlsOptions o = side_options(side, "tls.", c.tls_cert_file, c.tls_key_file, c.tls_ca_file,
                                c.tls_verify_clients, "");
    o.min_version = c.tls_min_version;
    o.ciphers = c.tls_ciphers;
    o.ciphersuites = c.tls_ciphersuites;
    o.handshake_timeout_ms = c.tls_handshake_timeout_ms;
    return o;
}

static bool serves_tls(const config::Config& c) {
    if (!c.tls_listen.empty()) return true;
    for (const auto& pool : c.pools)
        if (!pool.tls_listen.empty()) return true;
    return false;
}

void StreamFactory::configure(const config::Config& c) {
    // Built first, installed together: a failure leaves nothing half configured.
    std::array<std::shared_ptr<const TlsContext>, 3> next;
    if (serves_tls(c)) next[0] = TlsContext::create(tls_options(c, TlsSide::client));
    if (c.redis_tls_enabled) next[1] = TlsContext::create(tls_options(c, TlsSide::redis));
    if (c.sentinel_tls_enabled) next[2] = TlsContext::create(tls_options(c, TlsSide::sentinel));
    {
        std::lock_guard lock(contexts().mutex);
        contexts().by_side = next;
    }
    for (TlsSide side : {TlsSide::client, TlsSide::redis, TlsSide::sentinel}) {
        publish_expiry(side);
        const auto ctx = current(side);
        if (!ctx) continue;
        if (!ctx->server() && !ctx->options().verify_peer)
            spdlog::warn(
                "{}insecure = true: {} certificates are NOT verified; anyone on the path can "
                "impersonate them",
                ctx->options().key_prefix, tls_side_name(side));
        spdlog::info(
            "tls {}: enabled{}", tls_side_name(side),
            ctx->server() && ctx->options().verify_peer ? " (client certificates required)" : "");
    }
}

bool StreamFactory::reload_client(const config::Config& c, std::string& error) {
    if (!current(TlsSide::client)) return true;  // TLS listeners only start with the process
    std::shared_ptr<const TlsContext> next;
    try {
        next = TlsContext::create(tls_options(c, TlsSide::client));  // outside the lock
    } catch (const std::exception& e) {
        error = e.what();
        return false;
    }
    {
        std::lock_guard lock(contexts().mutex);
        contexts().by_side[static_cast<std::size_t>(TlsSide::client)] = std::move(next);
    }
    publish_expiry(TlsSide::client);
    return true;
}

Stream* StreamFactory::adopt_client(uv_loop_t* loop, int fd, bool tls, Stream::Handler* handler) {
    if (!tls) return TcpStream::adopt(loop, fd, handler);  // no lock on the plaintext path
    if (auto ctx = current(TlsSide::client)) return TlsStream::adopt(loop, fd, ctx, handler);
    tls_stats().end_client_handshake();  // no TLS context (not configured): the slot unused
    return TcpStream::adopt(loop, fd, handler);
}

Stream* StreamFactory::accept_admin(uv_loop_t* loop, uv_stream_t* server,
                                    Stream::Handler* handler) {
    return TcpStream::accept(loop, server, handler);
}

Stream* StreamFactory::connect(uv_loop_t* loop, const sockaddr* addr, TlsSide side,
                               const std::string& host, Stream::Handler* handler) {
    if (t_test_connector) return t_test_connector(addr, side, host, handler);
    if (auto ctx = current(side)) return TlsStream::connect(loop, addr, ctx, host, handler);
    return TcpStream::connect(loop, addr, handler);
}

void StreamFactory::set_connector_for_tests(Connector fn) {
    t_test_connector = std::move(fn);
}

bool StreamFactory::tls(TlsSide side) {
    return current(side) != nullptr;
}

std::shared_ptr<const TlsContext> StreamFactory::context(TlsSide side) {
    return current(side);
}

}  // namespace sp::proxy
