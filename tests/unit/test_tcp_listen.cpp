// Listening sockets (issue 24): each worker loop binds its own socket on the client address
// with SO_REUSEPORT; without it, and against a server that did not set it, the bind fails
// with "Address already in use" as with one loop.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "proxy/net/listener.h"
#include "proxy/net/tcp_listen.h"

using sp::proxy::check_address_free;
using sp::proxy::listen_socket;
using sp::proxy::PortSharing;

namespace {

// A port free on 127.0.0.1 now (the kernel's pick, released at once).
std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    ::close(fd);
    return ntohs(addr.sin_port);
}

struct Fd {
    explicit Fd(int value) : fd(value) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    int fd;
};

std::string bind_error(const sp::config::HostPort& address, PortSharing sharing) {
    try {
        Fd fd(listen_socket(address, 16, sharing));
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

// Connects to `port` and returns the listening socket of `a` or `b` that has it pending.
int accepted_by(std::uint16_t port, int a, int b) {
    Fd client(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    REQUIRE(::connect(client.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    for (int tries = 0; tries < 1000; ++tries) {
        for (int fd : {a, b}) {
            const int conn = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK);
            if (conn >= 0) {
                ::close(conn);
                return fd;
            }
        }
        ::usleep(1000);
    }
    FAIL("no listening socket got the connection");
    return -1;
}

}  // namespace

TEST_CASE(
    "sockets bound with reuse_port share one address, and the kernel spreads "
    "connections over them",
    "[tcp_listen]") {
    const sp::config::HostPort address{"127.0.0.1", free_port()};
    Fd first(listen_socket(address, 16, PortSharing::reuse_port));
    Fd second(listen_socket(address, 16, PortSharing::reuse_port));
    CHECK(first.fd >= 0);
    CHECK(second.fd >= 0);
    // The kernel hashes each connection (by its source port) to one socket of the group:
    // over a few dozen connections both take some.
    int to_first = 0, to_second = 0;
    for (int i = 0; i < 64 && (to_first == 0 || to_second == 0); ++i)
        (accepted_by(address.port, first.fd, second.fd) == first.fd ? to_first : to_second)++;
    CHECK(to_first > 0);
    CHECK(to_second > 0);
}

TEST_CASE("without reuse_port a second socket on the address fails as address in use",
          "[tcp_listen]") {
    const sp::config::HostPort address{"127.0.0.1", free_port()};
    Fd first(listen_socket(address, 16));
    CHECK(bind_error(address, PortSharing::exclusive) ==
          "cannot listen on " + address.str() + ": Address already in use");
}

TEST_CASE("a server listening without SO_REUSEPORT still makes a reuse_port bind fail",
          "[tcp_listen]") {
    const sp::config::HostPort address{"127.0.0.1", free_port()};
    Fd other_server(listen_socket(address, 16, PortSharing::exclusive));
    CHECK(bind_error(address, PortSharing::reuse_port) ==
          "cannot listen on " + address.str() + ": Address already in use");
}

TEST_CASE("check_address_free fails on any listener, a reuse_port group's included",
          "[tcp_listen]") {
    const sp::config::HostPort address{"127.0.0.1", free_port()};
    CHECK_NOTHROW(check_address_free(address));
    {
        // Another proxy's workers (same user): joining their group would succeed silently.
        Fd other_proxy(listen_socket(address, 16, PortSharing::reuse_port));
        CHECK_THROWS_WITH(check_address_free(address),
                          "cannot listen on " + address.str() + ": Address already in use");
    }
    CHECK_NOTHROW(check_address_free(address));  // and frees what it bound
    Fd ours(listen_socket(address, 16, PortSharing::reuse_port));
    CHECK(ours.fd >= 0);
}

TEST_CASE("two workers' listeners start on one address with reuse_port, not without",
          "[tcp_listen]") {
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
        sp::config::Config config;
        sp::proxy::ProxyStats stats_a, stats_b, stats_c;
        sp::proxy::ClientSeats seats;
        sp::proxy::Listener::Clients clients{&seats, [](sp::proxy::Stream*) {}};
        const sp::config::HostPort address{"127.0.0.1", free_port()};
        sp::proxy::Listener a(&loop, config, stats_a, clients);
        sp::proxy::Listener b(&loop, config, stats_b, clients);
        sp::proxy::Listener c(&loop, config, stats_c, clients);
        a.start({address}, {}, PortSharing::reuse_port);
        b.start({address}, {}, PortSharing::reuse_port);
        CHECK(a.listening());
        CHECK(b.listening());
        // The default stays exclusive: a listener that did not ask to share is refused.
        CHECK_THROWS_WITH(c.start({address}),
                          "cannot listen on " + address.str() + ": Address already in use");
        CHECK_FALSE(c.listening());
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}
