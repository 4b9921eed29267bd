// One TCP connection on a libuv loop (the plaintext Stream): reads into a buffer its handler
// provides, writes through a double buffer (one uv_write in flight, the next batch accumulating),
// so bytes queued while a write is outstanding never move. The stream owns its uv_tcp_t and frees
// itself in the close callback; its owner only ever calls close().
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "proxy/net/stream.h"

namespace sp::proxy {

class TcpStream final : public Stream {
  public:
    using Handler = Stream::Handler;

    // Accepts a pending connection from `server`; nullptr on failure.
    static TcpStream* accept(uv_loop_t* loop, uv_stream_t* server, Handler* handler);
    // Wraps a connected socket accepted by the caller; closes `fd` and returns nullptr on
    // failure.
    static TcpStream* adopt(uv_loop_t* loop, int fd, Handler* handler);
    // Starts connecting to a resolved address.
    static TcpStream* connect(uv_loop_t* loop, const sockaddr* addr, Handler* handler);

    void set_handler(Handler* handler) override { handler_ = handler; }
    void start_reading() override;
    void stop_reading() override;
    bool reading() const override { return reading_; }
    bool peer_hung_up() const override;

    std::string& out() override { return next_; }
    void flush() override;
    std::size_t pending_bytes() const override { return in_flight_.size() + next_.size(); }
    // Gives back the capacity of the empty write buffers, now or (the one being written)
    // when its write completes. Otherwise a buffer keeps up to 16 KiB: TlsStream calls this
    // once its handshake flights are out, which an idle connection need not keep.
    void release_buffers();

    void end_output() override;

    // Memory is freed by libuv's close callback.
    void close() override;
    void close_after_flush() override;

    std::string peer() const override;

  private:
    TcpStream(uv_loop_t* loop, Handler* handler);
    ~TcpStream() override { delete write_req_; }
    static void alloc_cb(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
    static void read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
    static void write_cb(uv_write_t* req, int status);
    static void connect_cb(uv_connect_t* req, int status);
    void fail(int status);
    void shut_write_if_drained();

    uv_tcp_t tcp_;
    // Made on the first write uv_try_write could not finish, then kept (no allocation per
    // write): most client connections never need one, and 192 bytes each add up for idle
    // clients. The connect request lives on the heap until its callback.
    uv_write_t* write_req_ = nullptr;
    Handler* handler_;
    std::string in_flight_;
    std::string next_;
    bool reading_ = false;
    bool writing_ = false;
    bool closing_ = false;
    bool close_when_drained_ = false;
    bool release_in_flight_ = false;  // release_buffers() came while writing
    bool input_ended_ = false;        // EOF read and kept open for writing (on_end_of_input)
    bool output_ending_ = false;      // end_output(): shut the writing side once drained
    bool output_ended_ = false;
};

// A libuv timer owned by one object; freed in its close callback.
class Timer {
  public:
    template <class F>
    explicit Timer(uv_loop_t* loop, F&& fn) : impl_(new Impl{{}, std::forward<F>(fn)}) {
        uv_timer_init(loop, &impl_->timer);
        impl_->timer.data = impl_;
    }
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void start(std::uint64_t timeout_ms, std::uint64_t repeat_ms = 0);
    void stop();
    bool active() const;

  private:
    struct Impl {
        uv_timer_t timer;
        std::function<void()> fn;
    };
    Impl* impl_;
};

std::uint64_t now_ms(uv_loop_t* loop);

}  // namespace sp::proxy
