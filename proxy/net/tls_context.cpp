#include "proxy/net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>

namespace sp::proxy {

namespace {

[[noreturn]] void fail(const TlsOptions& o, const std::string& key, const std::string& why) {
    ERR_clear_error();
    throw std::runtime_error(o.key_prefix + key + ": " + why);
}

// Names the problem before OpenSSL does: "No such file or directory" reads better than
// "system lib".
void check_readable(const TlsOptions& o, const std::string& key, const std::string& path) {
    std::ifstream in(path);
    if (!in) fail(o, key, path + ": " + std::strerror(errno));
}

std::string last_error(const char* fallback) {
    std::string text = tls_error_text();
    return text.empty() ? fallback : text;
}

std::int64_t not_after(SSL_CTX* ctx) {
    X509* cert = SSL_CTX_get0_certificate(ctx);
    if (!cert) return 0;
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
    return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

const char* tls_side_name(TlsSide side) {
    switch (side) {
        case TlsSide::redis:
            return "redis";
        case TlsSide::sentinel:
            return "sentinel";
        default:
            return "client";
    }
}

std::string tls_error_text() {
    unsigned long code = 0, last = 0;
    while ((code = ERR_get_error()) != 0) last = code;
    if (last == 0) return {};
    const char* reason = ERR_reason_error_string(last);
    if (reason) return reason;
    char buf[256];
    ERR_error_string_n(last, buf, sizeof buf);
    return buf;
}

std::shared_ptr<const TlsContext> TlsContext::create(const TlsOptions& o) {
    std::shared_ptr<TlsContext> c(new TlsContext);
    c->options_ = o;
    const bool server = o.side == TlsSide::client;
    ERR_clear_error();
    c->ctx_ = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c->ctx_) fail(o, "", last_error("cannot create an OpenSSL context"));
    SSL_CTX* ctx = c->ctx_;
    // Renegotiation is refused (TLS 1.2 peers asking get a no_renegotiation alert; 1.3
    // has none). Idle connections give their record buffers back.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    int min = 0;
    if (o.min_version == "1.2")
        min = TLS1_2_VERSION;
    else if (o.min_version == "1.3")
        min = TLS1_3_VERSION;
    else
        fail(o, "min_version", "\"" + o.min_version + "\" is not one of \"1.2\", \"1.3\"");
    SSL_CTX_set_min_proto_version(ctx, min);
    if (!o.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, o.ciphers.c_str()) != 1)
        fail(o, "ciphers", "\"" + o.ciphers + "\": " + last_error("no usable cipher"));
    if (!o.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, o.ciphersuites.c_str()) != 1)
        fail(o, "ciphersuites",
             "\"" + o.ciphersuites + "\": " + last_error("no usable ciphersuite"));

    if (server && (o.cert_file.empty() || o.key_file.empty()))
        fail(o, o.cert_file.empty() ? "cert_file" : "key_file",
             "required when TLS listen addresses are configured");
    if (o.cert_file.empty() != o.key_file.empty())
        fail(o, o.cert_file.empty() ? "cert_file" : "key_file",
             "cert_file and key_file go together");
    if (!o.cert_file.empty()) {
        check_readable(o, "cert_file", o.cert_file);
        check_readable(o, "key_file", o.key_file);
        if (SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1)
            fail(o, "cert_file", o.cert_file + ": " + last_error("not a PEM certificate"));
        if (SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
            const std::string why = last_error("not a PEM private key");
            if (why == "key values mismatch")
                fail(o, "key_file", o.key_file + " does not match " + o.cert_file);
            fail(o, "key_file", o.key_file + ": " + why);
        }
        if (SSL_CTX_check_private_key(ctx) != 1)
            fail(o, "key_file", o.key_file + " does not match " + o.cert_file);
        c->not_after_ = not_after(ctx);
    }

    if (!o.ca_file.empty()) {
        check_readable(o, "ca_file", o.ca_file);
        if (SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1)
            fail(o, "ca_file", o.ca_file + ": " + last_error("no PEM certificate"));
    } else if (!server) {
        SSL_CTX_set_default_verify_paths(ctx);
    }
    if (server) {
        if (o.verify_peer) {
            if (o.ca_file.empty())
                fail(o, "ca_file", "required when verify_clients is on (it signs the clients)");
            STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.ca_file.c_str());
            if (names) SSL_CTX_set_client_CA_list(ctx, names);
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        }
        static const unsigned char kSessionContext[] = "sentinel-proxy";
        SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
        // Sessions resume by ticket (TLS 1.3, and 1.2 clients that offer tickets: all
        // current libraries), which keeps nothing on the proxy. OpenSSL's session cache
        // served only 1.2 clients without tickets, and kept each such session after its
        // connection closed: 1 KiB, 10 KiB with a client certificate, up to 20,480 of them
        // for two hours. Those clients now do a full handshake (docs/tls.md).
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    } else {
        SSL_CTX_set_verify(ctx, o.verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    }
    ERR_clear_error();
    return c;
}

TlsContext::~TlsContext() {
    if (ctx_) SSL_CTX_free(ctx_);
}

}  // namespace sp::proxy
