// StreamFactory's TLS contexts (issue 24): a SIGHUP reload on the control thread swaps the
// client side's context while worker loops read it at accept. Every reader gets a whole
// context (the old or the new one), and one it holds stays valid after the swap.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "proxy/net/stream_factory.h"

using sp::proxy::StreamFactory;
using sp::proxy::TlsContext;
using sp::proxy::TlsSide;

namespace {

// A self-signed P-256 certificate and its key in a fresh directory, removed at the end.
struct CertFiles {
    CertFiles() {
        char tmpl[] = "/tmp/sp-stream-factory-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        cert = dir + "/cert.pem";
        key = dir + "/key.pem";
        EVP_PKEY* pkey = EVP_EC_gen("P-256");
        REQUIRE(pkey != nullptr);
        X509* x509 = X509_new();
        ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
        X509_gmtime_adj(X509_getm_notBefore(x509), 0);
        X509_gmtime_adj(X509_getm_notAfter(x509), 3600);
        X509_set_pubkey(x509, pkey);
        X509_NAME* name = X509_get_subject_name(x509);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(x509, name);
        REQUIRE(X509_sign(x509, pkey, EVP_sha256()) > 0);
        FILE* f = std::fopen(cert.c_str(), "w");
        REQUIRE(f != nullptr);
        PEM_write_X509(f, x509);
        std::fclose(f);
        f = std::fopen(key.c_str(), "w");
        REQUIRE(f != nullptr);
        PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(f);
        X509_free(x509);
        EVP_PKEY_free(pkey);
    }
    ~CertFiles() {
        std::remove(cert.c_str());
        std::remove(key.c_str());
        ::rmdir(dir.c_str());
    }
    std::string dir, cert, key;
};

}  // namespace

TEST_CASE("workers read the client TLS context while a reload swaps it", "[stream_factory]") {
    CertFiles files;
    sp::config::Config config;
    config.tls_listen = {{"127.0.0.1", 1}};
    config.tls_cert_file = files.cert;
    config.tls_key_file = files.key;
    StreamFactory::configure(config);
    const std::shared_ptr<const TlsContext> first = StreamFactory::context(TlsSide::client);
    REQUIRE(first != nullptr);

    constexpr int kReloads = 100;
    std::atomic<bool> done{false};
    std::atomic<int> missing{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < 2; ++w) {
        workers.emplace_back([&] {
            // What a worker does at each TLS accept: take the current context.
            while (!done) {
                const auto ctx = StreamFactory::context(TlsSide::client);
                if (!ctx || !ctx->ctx() || !StreamFactory::tls(TlsSide::client)) ++missing;
            }
        });
    }
    int reloaded = 0;
    for (int i = 0; i < kReloads; ++i) {
        std::string error;
        if (StreamFactory::reload_client(config, error)) ++reloaded;
    }
    done = true;
    for (auto& t : workers) t.join();
    CHECK(reloaded == kReloads);
    CHECK(missing == 0);
    // The new context is in place; the one held since the start is still whole.
    CHECK(StreamFactory::context(TlsSide::client) != first);
    CHECK(first->ctx() != nullptr);
    CHECK(first->cert_not_after() > 0);

    StreamFactory::configure(sp::config::Config{});  // plaintext again for the other tests
    CHECK_FALSE(StreamFactory::tls(TlsSide::client));
}
