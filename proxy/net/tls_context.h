// An OpenSSL 3 SSL_CTX built from one side's settings: the client side (the proxy is the
// TLS server), or the Redis or Sentinel side (the proxy is the TLS client). Building one
// checks every file (present, readable, key matching certificate) and throws
// std::runtime_error naming the key, so a bad configuration fails at load, not at the first
// handshake. A context is immutable once built; reloading builds a new one, and SSL
// objects already made keep a reference to the old one (OpenSSL counts it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

using SSL_CTX = struct ssl_ctx_st;

namespace sp::proxy {

// Which connections a context and its streams serve (also a metrics label).
enum class TlsSide { client, redis, sentinel };
const char* tls_side_name(TlsSide side);

struct TlsOptions {
    TlsSide side = TlsSide::client;
    std::string key_prefix;  // "tls." / "redis_tls." for error messages
    std::string cert_file;   // server certificate (client side), client certificate (others)
    std::string key_file;
    std::string ca_file;      // peers' CA ("": system store on the redis/sentinel side)
    bool verify_peer = true;  // client side: require client certificates (mTLS)
    std::string min_version = "1.2";
    std::string ciphers;       // TLS <= 1.2 cipher list ("": OpenSSL's default)
    std::string ciphersuites;  // TLS 1.3 suites ("": OpenSSL's default)
    std::string server_name;   // redis/sentinel: SNI and verified name ("": the peer's host)
    std::uint32_t handshake_timeout_ms = 10'000;  // a peer that does not finish it is dropped
};

class TlsContext {
  public:
    // Throws std::runtime_error with a user-facing reason.
    static std::shared_ptr<const TlsContext> create(const TlsOptions& options);
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    SSL_CTX* ctx() const { return ctx_; }
    const TlsOptions& options() const { return options_; }
    bool server() const { return options_.side == TlsSide::client; }
    // notAfter of the context's own certificate, seconds since the epoch (0: none).
    std::int64_t cert_not_after() const { return not_after_; }

  private:
    TlsContext() = default;
    SSL_CTX* ctx_ = nullptr;
    TlsOptions options_;
    std::int64_t not_after_ = 0;
};

// The most recent OpenSSL error as text ("" if none), clearing the queue.
std::string tls_error_text();

}  // namespace sp::proxy
