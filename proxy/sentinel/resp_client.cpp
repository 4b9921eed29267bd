#include "proxy/sentinel/resp_client.h"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include "protocol/reply_writer.h"
#include "proxy/net/resolver.h"
#include "proxy/net/stream_factory.h"

namespace sp::proxy {

void encode_reply(std::string& out, const redisReply* r) {
    if (!r) return;
    switch (r->type) {
        case REDIS_REPLY_STRING:
            protocol::reply::bulk(out, std::string_view(r->str, r->len));
            break;
        case REDIS_REPLY_STATUS:
            protocol::reply::status(out, std::string_view(r->str, r->len));
            break;
        case REDIS_REPLY_ERROR:
            protocol::reply::error(out, std::string_view(r->str, r->len));
            break;
        case REDIS_REPLY_INTEGER:
            protocol::reply::integer(out, r->integer);
            break;
        case REDIS_REPLY_ARRAY:
            protocol::reply::array_header(out, r->elements);
            for (std::size_t i = 0; i < r->elements; ++i) encode_reply(out, r->element[i]);
            break;
        default:  // REDIS_REPLY_NIL
            protocol::reply::null(out, protocol::RespVersion::resp2);
            break;
    }
}

RespClient::RespClient(uv_loop_t* loop, TlsSide side, std::string host, std::uint16_t port,
                       std::uint32_t connect_timeout_ms, std::uint32_t command_timeout_ms)
    : loop_(loop),
      side_(side),
      host_(std::move(host)),
      port_(port),
      connect_timeout_ms_(connect_timeout_ms),
      command_timeout_ms_(command_timeout_ms),
      timer_(loop, [this] { check_timeouts(); }) {}

RespClient::~RespClient() {
    *alive_ = false;
    if (stream_) stream_->close();
    stream_ = nullptr;
    if (reader_) redisReaderFree(reader_);
}

std::string RespClient::address() const {
    return host_ + ":" + std::to_string(port_);
}

void RespClient::connect(ConnectFn on_connect) {
    connect_fn_ = std::move(on_connect);
    state_ = State::resolving;
    tls_failure_.clear();
    if (reader_) redisReaderFree(reader_);
    reader_ = redisReaderCreate();
    if (connect_timeout_ms_ == 0) connect_timeout_ms_ = 2000;
    timer_.start(100, 100);
    start_ms_ = uv_now(loop_);

    int rc = resolve_host(loop_, host_, port_, alive_,
                          [this](int status, const addrinfo* res) { resolved(status, res); });
    if (rc != 0) fail(std::string("resolve ") + host_ + ": " + uv_strerror(rc));
}

void RespClient::resolved(int status, const addrinfo* res) {
    if (state_ != State::resolving) return;
    if (status != 0 || !res) {
        fail(std::string("resolve ") + host_ + ": " + uv_strerror(status));
        return;
    }
    char ip[64] = {};
    if (res->ai_family == AF_INET)
        uv_ip4_name(reinterpret_cast<sockaddr_in*>(res->ai_addr), ip, sizeof(ip));
    else
        uv_ip6_name(reinterpret_cast<sockaddr_in6*>(res->ai_addr), ip, sizeof(ip));
    resolved_ip_ = ip;
    state_ = State::connecting;
    stream_ = StreamFactory::connect(loop_, res->ai_addr, side_, host_, this);
    if (!stream_) fail("connect " + address() + ": cannot start");
}

void RespClient::on_connected(int status) {
    if (status != 0) {
        tls_failure_ = stream_ ? stream_->handshake_failure() : std::string();
        fail(tls_failure_.empty() ? std::string("connect ") + address() + ": " + uv_strerror(status)
                                  : "TLS handshake with " + address() + " failed: " + tls_failure_);
        return;
    }
    state_ = State::connected;
    stream_->start_reading();
    // Commands given before the connection was up go out first, in order; their
    // timeouts count from now.
    stream_->out().append(unsent_);
    std::string().swap(unsent_);
    for (Pending& p : pending_) p.sent_ms = uv_now(loop_);
    stream_->flush();
    if (connect_fn_) {
        auto fn = std::move(connect_fn_);
        connect_fn_ = nullptr;
        fn(true, {});
    }
}

void RespClient::command(const std::vector<std::string>& argv, ReplyFn on_reply) {
    if (state_ == State::closed) {
        if (on_reply) on_reply(nullptr);
        return;
    }
    // Before the connection is up, bytes wait in unsent_; replies still match pending_.
    std::string& out = state_ == State::connected ? stream_->out() : unsent_;
    protocol::reply::array_header(out, argv.size());
    for (const auto& a : argv) protocol::reply::bulk(out, a);
    pending_.push_back({std::move(on_reply), uv_now(loop_)});
    if (state_ == State::connected) stream_->flush();
}

void RespClient::send_auth(const std::string& user, const std::string& password) {
    if (password.empty()) return;
    if (user.empty())
        command({"AUTH", password}, nullptr);
    else
        command({"AUTH", user, password}, nullptr);
}

void RespClient::enter_push_mode(ReplyFn on_push) {
    push_fn_ = std::move(on_push);
}

uv_buf_t RespClient::on_alloc(std::size_t) {
    return uv_buf_init(read_buf_, sizeof(read_buf_));
}

void RespClient::on_read(std::size_t n) {
    if (redisReaderFeed(reader_, read_buf_, n) != REDIS_OK) {
        fail("protocol error from " + address());
        return;
    }
    auto alive = alive_;
    for (;;) {
        void* obj = nullptr;
        if (redisReaderGetReply(reader_, &obj) != REDIS_OK) {
            fail(std::string("protocol error from ") + address() + ": " + reader_->errstr);
            return;
        }
        if (!obj) break;
        auto* reply = static_cast<redisReply*>(obj);
        if (!pending_.empty()) {
            ReplyFn fn = std::move(pending_.front().fn);
            pending_.pop_front();
            if (fn) fn(reply);
        } else if (push_fn_) {
            push_fn_(reply);
        }
        freeReplyObject(reply);
        if (!*alive || state_ != State::connected) return;
    }
}

void RespClient::on_closed(int status) {
    stream_ = nullptr;  // the stream closed itself
    fail(status == 0 ? std::string("connection closed by ") + address()
                     : std::string("connection to ") + address() + " lost: " + uv_strerror(status));
}

void RespClient::check_timeouts() {
    std::uint64_t now = uv_now(loop_);
    if (state_ == State::resolving || state_ == State::connecting) {
        if (now - start_ms_ < connect_timeout_ms_) return;
        // Connected, but no TLS answer: a plaintext server reads the ClientHello as an
        // inline command and waits for its newline.
        if (stream_ && stream_->handshake_pending()) {
            tls_failure_ = "no TLS answer within " + std::to_string(connect_timeout_ms_) +
                           " ms (the server does not speak TLS?)";
            fail("TLS handshake with " + address() + " failed: " + tls_failure_);
            return;
        }
        fail("connect " + address() + ": timed out");
        return;
    }
    if (state_ == State::connected && command_timeout_ms_ && !pending_.empty() &&
        now - pending_.front().sent_ms >= command_timeout_ms_)
        fail("no reply from " + address() + " within " + std::to_string(command_timeout_ms_) +
             " ms");
}

void RespClient::close(const std::string& why) {
    if (state_ == State::closed || state_ == State::idle) {
        state_ = State::closed;
        return;
    }
    fail(why);
}

void RespClient::fail(const std::string& why) {
    if (state_ == State::closed) return;
    state_ = State::closed;
    timer_.stop();
    if (stream_) stream_->close();
    stream_ = nullptr;
    auto alive = alive_;
    auto pending = std::move(pending_);
    pending_.clear();
    unsent_.clear();
    if (connect_fn_) {
        auto fn = std::move(connect_fn_);
        connect_fn_ = nullptr;
        fn(false, why);
        if (!*alive) return;
    }
    for (auto& p : pending) {
        if (p.fn) p.fn(nullptr);
        if (!*alive) return;
    }
    if (closed_fn_) closed_fn_(why);
}

}  // namespace sp::proxy
