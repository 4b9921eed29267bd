// What OpenSSL keeps for an idle server-side TLS connection, by allocation site (issue 24;
// the table in docs/tls.md, "Idle memory per TLS client"). Every OpenSSL allocation goes
// through CRYPTO_set_mem_functions and is tagged with the side (server or client) whose
// call made it; N in-memory handshakes (server and client SSL in this process, memory BIOs
// between them) each end with one PING answered by +PONG; then the server-tagged bytes
// still allocated are listed per file:line, divided by N. The defaults are the proxy's
// server context (proxy/net/tls_context.cpp) and streams (no BIO per connection); the
// options are the knobs docs/tls.md reports on. Not built by CMake:
//
//   g++ -O2 -std=c++20 -Wall -Wextra -rdynamic bench/tls_idle_heap.cpp -lssl -lcrypto
//       -o /tmp/tls_idle_heap
//   /tmp/tls_idle_heap --certs DIR [-n 1000] [--mutual] [--tls12] [--client-no-ticket]
//       [--cache] [--mem-bios] [--no-ticket] [--tickets N] [--free-buffers]
//       [--no-release-buffers] [--groups G] [--suites S] [--ciphers C] [--closed]
//       [--backtraces]
//
// DIR holds ca.crt, server.crt/.key and client.crt/.key (tests/integration/harness.py's
// TlsFiles makes them). --closed: the server connections are shut down and freed first, so
// what is listed is what outlives them (the session cache). --backtraces: one call stack
// per site (exported symbols only without libssl3's debug symbols).
#include <execinfo.h>
#include <malloc.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace {

enum Side { setup, server, client };

// A header before every OpenSSL allocation: a list of live ones, each with its site.
struct Header {
    Header* prev;
    Header* next;
    std::size_t size;
    const char* file;
    int line;
    Side side;
    void* stack[15];  // 15: the header stays a multiple of 16 bytes
};
static_assert(sizeof(Header) % 16 == 0);

Header g_live{&g_live, &g_live, 0, nullptr, 0, setup, {}};
Side g_side = setup;
bool g_backtraces = false;

void link(Header* h) {
    h->next = &g_live;
    h->prev = g_live.prev;
    g_live.prev->next = h;
    g_live.prev = h;
}

void unlink(Header* h) {
    h->prev->next = h->next;
    h->next->prev = h->prev;
}

void tag(Header* h, std::size_t n, const char* file, int line) {
    h->size = n;
    h->file = file;
    h->line = line;
    h->side = g_side;
    if (g_backtraces && g_side == server) backtrace(h->stack, 15);
}

void* counted_malloc(std::size_t n, const char* file, int line) {
    auto* h = static_cast<Header*>(std::malloc(sizeof(Header) + n));
    if (!h) return nullptr;
    tag(h, n, file, line);
    link(h);
    return h + 1;
}

void* counted_realloc(void* p, std::size_t n, const char* file, int line) {
    if (!p) return counted_malloc(n, file, line);
    Header* old = static_cast<Header*>(p) - 1;
    unlink(old);
    auto* h = static_cast<Header*>(std::realloc(old, sizeof(Header) + n));
    if (!h) {
        link(old);
        return nullptr;
    }
    tag(h, n, file, line);
    link(h);
    return h + 1;
}

void counted_free(void* p, const char*, int) {
    if (!p) return;
    Header* h = static_cast<Header*>(p) - 1;
    unlink(h);
    std::free(h);
}

// What glibc takes for an allocation of n bytes: n + 8, rounded up to 16, at least 32.
std::size_t chunk(std::size_t n) {
    return std::max<std::size_t>(32, (n + 8 + 15) & ~std::size_t(15));
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "%s\n", what.c_str());
    ERR_print_errors_fp(stderr);
    std::exit(1);
}

BIO* mem_bio() {
    BIO* b = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(b, -1);
    return b;
}

void move(BIO* from, BIO* to) {
    char buf[16384];
    int n;
    while ((n = BIO_read(from, buf, sizeof buf)) > 0) BIO_write(to, buf, n);
}

struct Options {
    std::string certs;
    int n = 1000;
    bool mutual = false, tls12 = false, client_no_ticket = false, cache = false, mem_bios = false,
         no_ticket = false, free_buffers = false, release_buffers = true, closed = false;
    int tickets = -1;
    std::string groups, suites, ciphers;
};

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&] {
            if (i + 1 >= argc) die(a + " needs a value");
            return std::string(argv[++i]);
        };
        if (a == "--certs")
            o.certs = value();
        else if (a == "-n")
            o.n = std::stoi(value());
        else if (a == "--mutual")
            o.mutual = true;
        else if (a == "--tls12")
            o.tls12 = true;
        else if (a == "--client-no-ticket")
            o.client_no_ticket = true;
        else if (a == "--cache")
            o.cache = true;
        else if (a == "--mem-bios")
            o.mem_bios = true;
        else if (a == "--no-ticket")
            o.no_ticket = true;
        else if (a == "--tickets")
            o.tickets = std::stoi(value());
        else if (a == "--free-buffers")
            o.free_buffers = true;
        else if (a == "--no-release-buffers")
            o.release_buffers = false;
        else if (a == "--groups")
            o.groups = value();
        else if (a == "--suites")
            o.suites = value();
        else if (a == "--ciphers")
            o.ciphers = value();
        else if (a == "--closed")
            o.closed = true;
        else if (a == "--backtraces")
            g_backtraces = true;
        else
            die("unknown option " + a);
    }
    if (o.certs.empty() || o.n < 1) die("usage: see the top of bench/tls_idle_heap.cpp");
    return o;
}

SSL_CTX* server_context(const Options& o) {
    auto path = [&](const char* f) { return o.certs + "/" + f; };
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
    if (o.release_buffers) mode |= SSL_MODE_RELEASE_BUFFERS;
    SSL_CTX_set_mode(ctx, mode);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, path("server.crt").c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, path("server.key").c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, path("ca.crt").c_str(), nullptr) != 1)
        die("the server certificate, key or CA in " + o.certs);
    if (o.mutual) {
        SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(path("ca.crt").c_str()));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    static const unsigned char kSessionContext[] = "sentinel-proxy";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    if (!o.cache) SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (o.no_ticket) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (o.tickets >= 0) SSL_CTX_set_num_tickets(ctx, static_cast<std::size_t>(o.tickets));
    if (!o.groups.empty() && SSL_CTX_set1_groups_list(ctx, o.groups.c_str()) != 1)
        die("groups " + o.groups);
    if (!o.suites.empty() && SSL_CTX_set_ciphersuites(ctx, o.suites.c_str()) != 1)
        die("ciphersuites " + o.suites);
    if (!o.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, o.ciphers.c_str()) != 1)
        die("ciphers " + o.ciphers);
    return ctx;
}

SSL_CTX* client_context(const Options& o) {
    auto path = [&](const char* f) { return o.certs + "/" + f; };
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx, path("ca.crt").c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (o.tls12) SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    if (o.client_no_ticket) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (o.mutual &&
        (SSL_CTX_use_certificate_chain_file(ctx, path("client.crt").c_str()) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx, path("client.key").c_str(), SSL_FILETYPE_PEM) != 1))
        die("the client certificate or key in " + o.certs);
    return ctx;
}

// One connection: handshake, PING, +PONG; the client side is freed, the server side idle.
SSL* idle_server_connection(const Options& o, SSL_CTX* sctx, SSL_CTX* cctx, BIO* loop_bio) {
    g_side = server;
    SSL* s = SSL_new(sctx);
    SSL_set_bio(s, mem_bio(), mem_bio());
    SSL_set_accept_state(s);
    g_side = client;
    SSL* c = SSL_new(cctx);
    BIO* c_in = mem_bio();
    BIO* c_out = mem_bio();
    SSL_set_bio(c, c_in, c_out);
    SSL_set_connect_state(c);
    SSL_set_tlsext_host_name(c, "localhost");
    SSL_set1_host(c, "localhost");
    bool server_done = false, client_done = false;
    // One handshake step of `ssl` (tagged as `side`), unless it is done.
    auto step = [](SSL* ssl, Side side, bool& done) {
        g_side = side;
        if (done) return;
        const int rc = SSL_do_handshake(ssl);
        if (rc == 1)
            done = true;
        else if (SSL_get_error(ssl, rc) != SSL_ERROR_WANT_READ)
            die(side == server ? "server handshake" : "client handshake");
    };
    for (int round = 0; round < 20 && !(server_done && client_done); ++round) {
        step(c, client, client_done);
        move(c_out, SSL_get_rbio(s));
        step(s, server, server_done);
        move(SSL_get_wbio(s), c_in);
    }
    if (!server_done || !client_done) die("the handshake did not finish");
    char buf[64];
    g_side = client;
    SSL_write(c, "PING\r\n", 6);
    move(c_out, SSL_get_rbio(s));
    g_side = server;
    if (SSL_read(s, buf, sizeof buf) != 6) die("server read");
    SSL_write(s, "+PONG\r\n", 7);
    if (SSL_read(s, buf, sizeof buf) > 0) die("unexpected bytes");  // read until WANT_READ
    g_side = client;
    move(SSL_get_wbio(s), c_in);
    if (SSL_read(c, buf, sizeof buf) != 7) die("client read");  // tickets on the way
    SSL_free(c);
    g_side = server;
    if (o.free_buffers) SSL_free_buffers(s);
    if (o.mem_bios) {
        // The streams before: two memory BIOs per connection, fresh ones after the handshake.
        SSL_set0_rbio(s, mem_bio());
        SSL_set0_wbio(s, mem_bio());
    } else {
        // Now: the loop's BIO, shared by every connection.
        BIO_up_ref(loop_bio);
        SSL_set_bio(s, loop_bio, loop_bio);
    }
    g_side = setup;
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    if (!CRYPTO_set_mem_functions(counted_malloc, counted_realloc, counted_free))
        die("CRYPTO_set_mem_functions: OpenSSL allocated before main");
    const Options o = parse(argc, argv);
    SSL_CTX* sctx = server_context(o);
    SSL_CTX* cctx = client_context(o);
    BIO* loop_bio = mem_bio();
    // One connection first, so that one-time allocations (method caches, ticket keys) are
    // not counted per connection.
    SSL_free(idle_server_connection(o, sctx, cctx, loop_bio));
    for (Header* h = g_live.next; h != &g_live; h = h->next) h->side = setup;

    std::vector<SSL*> idle;
    for (int i = 0; i < o.n; ++i) idle.push_back(idle_server_connection(o, sctx, cctx, loop_bio));
    const SSL_CIPHER* cipher = SSL_get_current_cipher(idle.front());
    std::printf("%s %s, group %s\n", SSL_get_version(idle.front()), SSL_CIPHER_get_name(cipher),
                OBJ_nid2sn(SSL_get_negotiated_group(idle.front())));
    if (o.closed) {
        g_side = server;
        for (SSL*& s : idle) {
            SSL_shutdown(s);  // as TlsStream::close does: the session stays resumable
            SSL_free(s);
            s = nullptr;
        }
        g_side = setup;
    }

    std::map<std::pair<std::string, int>, std::pair<std::size_t, std::size_t>> sites;
    std::map<std::pair<std::string, int>, Header*> sample;
    std::size_t bytes = 0, chunks = 0;
    for (Header* h = g_live.next; h != &g_live; h = h->next) {
        if (h->side != server) continue;
        bytes += h->size;
        chunks += chunk(h->size);
        const auto site = std::make_pair(std::string(h->file ? h->file : "?"), h->line);
        sites[site].first += h->size;
        sites[site].second += 1;
        sample.emplace(site, h);
    }
    const double n = o.n;
    std::printf(
        "%s per connection: %.0f bytes asked for, %.0f in glibc chunks; "
        "session cache: %ld sessions\n",
        o.closed ? "left after closing" : "kept idle", bytes / n, chunks / n,
        SSL_CTX_sess_number(sctx));
    std::vector<std::pair<std::size_t, std::pair<std::string, int>>> rows;
    for (const auto& [site, total] : sites) rows.push_back({total.first, site});
    std::sort(rows.rbegin(), rows.rend());
    for (const auto& [total, site] : rows) {
        if (total / n < 1) continue;
        std::printf("%9.1f  %s:%d (x%.2f)\n", total / n, site.first.c_str(), site.second,
                    sites[site].second / n);
        if (g_backtraces) {
            std::fflush(stdout);
            backtrace_symbols_fd(sample[site]->stack + 2, 8, 1);
        }
    }
    return 0;
}
