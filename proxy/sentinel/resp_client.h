// A small asynchronous RESP2 client for the proxy's own control connections: Sentinel
// queries and event subscriptions, ROLE probes. It is not on the data path, so replies
// are parsed into hiredis redisReply objects (reader only, never hiredis networking).
// Host names are resolved again on every connect: pod IPs change.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proxy/net/tcp_stream.h"
#include "proxy/net/tls_context.h"

struct redisReply;
struct redisReader;

namespace sp::proxy {

// Writes a parsed reply back out as RESP2 bytes (for consumers that take raw replies).
void encode_reply(std::string& out, const redisReply* reply);

class RespClient : private Stream::Handler {
  public:
    // nullptr reply: the connection failed, closed or timed out before the reply came.
    using ReplyFn = std::function<void(const redisReply*)>;
    using ConnectFn = std::function<void(bool ok, const std::string& error)>;
    using ClosedFn = std::function<void(const std::string& why)>;

    // `side`: a Sentinel, or a Redis node (ROLE/INFO probes); it picks the TLS settings.
    RespClient(uv_loop_t* loop, TlsSide side, std::string host, std::uint16_t port,
               std::uint32_t connect_timeout_ms, std::uint32_t command_timeout_ms);
    ~RespClient() override;
    RespClient(const RespClient&) = delete;
    RespClient& operator=(const RespClient&) = delete;

    void connect(ConnectFn on_connect);
    // Sends a command; replies come back in order. Safe to call before connected: the
    // command is queued until the connection is up (or failed with nullptr).
    void command(const std::vector<std::string>& argv, ReplyFn on_reply);
    // AUTH [user] password first on the connection (nothing when the password is empty);
    // the reply is not looked at: a refusal shows in the next command's reply.
    void send_auth(const std::string& user, const std::string& password);
    // After a SUBSCRIBE, every frame (confirmations and messages) goes here instead of
    // being matched to commands. Command timeouts stop applying.
    void enter_push_mode(ReplyFn on_push);
    void on_closed(ClosedFn fn) { closed_fn_ = std::move(fn); }

    bool connected() const { return state_ == State::connected; }
    const std::string& host() const { return host_; }
    std::uint16_t port() const { return port_; }
    std::string address() const;
    const std::string& resolved_ip() const { return resolved_ip_; }
    // Why the TLS handshake of the last connect failed ("": it did not, or no TLS).
    const std::string& tls_failure() const { return tls_failure_; }
    void close(const std::string& why = "closed");

  private:
    enum class State { idle, resolving, connecting, connected, closed };
    struct Pending {
        ReplyFn fn;
        std::uint64_t sent_ms;
    };
    uv_buf_t on_alloc(std::size_t suggested) override;
    void on_read(std::size_t n) override;
    void on_closed(int status) override;
    void on_connected(int status) override;
    void resolved(int status, const addrinfo* res);
    void fail(const std::string& why);
    void check_timeouts();

    uv_loop_t* loop_;
    TlsSide side_;
    std::string host_;
    std::uint16_t port_;
    std::uint32_t connect_timeout_ms_;
    std::uint32_t command_timeout_ms_;
    State state_ = State::idle;
    Stream* stream_ = nullptr;
    redisReader* reader_ = nullptr;
    char read_buf_[16384];
    std::deque<Pending> pending_;
    std::string unsent_;  // commands given before the connection was up
    ReplyFn push_fn_;
    ConnectFn connect_fn_;
    ClosedFn closed_fn_;
    std::string resolved_ip_;
    std::string tls_failure_;
    Timer timer_;
    std::uint64_t start_ms_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sp::proxy
