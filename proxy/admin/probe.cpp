// --probe: blocking sockets with one deadline; the proxy's event loop is not running.
#include "proxy/admin/probe.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace sp::proxy {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    pollfd p{fd, events, 0};
    for (;;) {
        int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n > 0) return true;
        if (n == 0 || errno != EINTR) return false;
    }
}

// A connected non-blocking socket, or -1 with `detail` set.
int connect_to(const ProbeTarget& target, Clock::time_point deadline, std::string& detail) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(target.port);
    if (int rc = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        detail = "cannot resolve " + target.host + ": " + ::gai_strerror(rc);
        return -1;
    }
    int fd = -1;
    for (addrinfo* ai = found; ai && fd < 0; ai = ai->ai_next) {
        fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
        int err = rc == 0 ? 0 : errno;
        if (err == EINPROGRESS) {
            err = ETIMEDOUT;
            if (wait_for(fd, POLLOUT, deadline)) {
                socklen_t len = sizeof err;
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            }
        }
        if (err != 0) {
            detail = "cannot connect to " + target.host + ":" + port + ": " + std::strerror(err);
            ::close(fd);
            fd = -1;
        }
    }
    ::freeaddrinfo(found);
    return fd;
}

}  // namespace

ProbeTarget probe_target(const std::string& what, const std::optional<config::HostPort>& admin) {
    ProbeTarget t;
    if (what == "live" || what == "ready") {
        if (!admin) throw std::invalid_argument("admin.listen is disabled: nothing to probe");
        t.host = admin->host;
        if (t.host == "0.0.0.0" || t.host.empty()) t.host = "127.0.0.1";
        if (t.host == "::") t.host = "::1";
        t.port = admin->port;
        t.path = what == "live" ? "/livez" : "/readyz";
        return t;
    }
    constexpr std::string_view scheme = "http://";
    if (what.rfind(scheme, 0) != 0)
        throw std::invalid_argument(
            "--probe: expected live, ready or http://HOST:PORT/PATH, got \"" + what + "\"");
    std::string rest = what.substr(scheme.size());
    std::size_t slash = rest.find('/');
    t.path = slash == std::string::npos ? "/" : rest.substr(slash);
    config::HostPort hp = config::parse_host_port(rest.substr(0, slash));
    t.host = hp.host;
    t.port = hp.port;
    return t;
}

int probe_http(const ProbeTarget& target, int timeout_ms, std::string& detail) {
    constexpr std::size_t kMaxAnswer = 8192;
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    int fd = connect_to(target, deadline, detail);
    if (fd < 0) return 0;
    const std::string request = "GET " + target.path + " HTTP/1.0\r\nHost: " + target.host +
                                "\r\nUser-Agent: sentinel-proxy-probe\r\n\r\n";
    std::size_t sent = 0;
    while (sent < request.size()) {
        if (!wait_for(fd, POLLOUT, deadline)) break;
        ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) break;
        if (n > 0) sent += static_cast<std::size_t>(n);
    }
    std::string head;
    // The status line and the body (the reason /readyz gives): the admin server closes
    // after one answer, so read to the end, bounded.
    while (sent == request.size() && head.size() < kMaxAnswer) {
        if (!wait_for(fd, POLLIN, deadline)) break;
        char buf[512];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            break;
        }
        head.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const std::string where = target.host + ":" + std::to_string(target.port) + target.path;
    std::size_t eol = head.find("\r\n");
    // "HTTP/1.1 200 OK"
    if (eol == std::string::npos || head.rfind("HTTP/1.", 0) != 0 || eol < 12) {
        detail = where + ": " +
                 (sent < request.size() ? "cannot send the request"
                  : head.empty()        ? "no answer within the timeout"
                                        : "not an HTTP answer");
        return 0;
    }
    const std::string line = head.substr(0, eol);
    int status = 0;
    for (std::size_t i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9') {
            detail = where + ": not an HTTP status line: " + line;
            return 0;
        }
        status = status * 10 + (line[i] - '0');
    }
    detail = where + ": " + line;
    // kubelet keeps an exec probe's output in its events: say why, not just "503".
    std::size_t body = head.find("\r\n\r\n");
    if (body != std::string::npos && status != 200) {
        std::string text = head.substr(body + 4);
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
        for (char& c : text)
            if (c == '\r' || c == '\n') c = ' ';
        if (!text.empty()) detail += ": " + text;
    }
    return status;
}

}  // namespace sp::proxy
