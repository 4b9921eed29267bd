#include "proxy/net/tcp_listen.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sp::proxy {

bool ip_literal(const std::string& host, std::uint16_t port, sockaddr_storage& out) {
    out = {};
    return uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&out)) == 0 ||
           uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&out)) == 0;
}

uv_tcp_t* listen_tcp(uv_loop_t* loop, const config::HostPort& address, int backlog, void* data,
                     uv_connection_cb on_connection, const std::string& label) {
    sockaddr_storage ss;
    if (!ip_literal(address.host, address.port, ss))
        throw std::runtime_error(label + "listen address " + address.str() + ": not an IP address");
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(loop, tcp);
    tcp->data = data;
    int rc = uv_tcp_bind(tcp, reinterpret_cast<sockaddr*>(&ss), 0);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), backlog, on_connection);
    if (rc != 0) {
        close_listener(tcp);
        throw std::runtime_error("cannot listen on " + (label.empty() ? "" : label + "address ") +
                                 address.str() + ": " + uv_strerror(rc));
    }
    return tcp;
}

void close_listener(uv_tcp_t* tcp) {
    uv_close(reinterpret_cast<uv_handle_t*>(tcp),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
}

namespace {
[[noreturn]] void close_and_throw(int fd, const config::HostPort& address,
                                  const std::string& what = "") {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error("cannot listen on " + address.str() + ": " + what +
                             std::strerror(error));
}

// A bound, non-blocking TCP socket on `address`.
int bound_socket(const config::HostPort& address, PortSharing sharing) {
    sockaddr_storage ss;
    if (!ip_literal(address.host, address.port, ss))
        throw std::runtime_error("listen address " + address.str() + ": not an IP address");
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::runtime_error("cannot listen on " + address.str() + ": " + std::strerror(errno));
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (sharing == PortSharing::reuse_port &&
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
        close_and_throw(fd, address, "SO_REUSEPORT: ");
    const socklen_t len = ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) close_and_throw(fd, address);
    return fd;
}
}  // namespace

int listen_socket(const config::HostPort& address, int backlog, PortSharing sharing) {
    const int fd = bound_socket(address, sharing);
    if (::listen(fd, backlog) != 0) close_and_throw(fd, address);
    return fd;
}

void check_address_free(const config::HostPort& address) {
    ::close(bound_socket(address, PortSharing::exclusive));
}

}  // namespace sp::proxy
