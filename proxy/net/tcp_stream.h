// One TCP connection on a libuv loop: reads into a buffer its handler provides, writes
// through a double buffer (one uv_write in flight, the next batch accumulating), so
// bytes queued while a write is outstanding never move. The stream owns its uv_tcp_t
// and frees itself in the close callback; its owner only ever calls close().
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sp::proxy {

class TcpStream {
  public:
    class Handler {
      public:
        virtual ~Handler() = default;
        // Where to read the next bytes (may be called many times per read).
        virtual uv_buf_t on_alloc(std::size_t suggested) = 0;
        // `n` bytes were read into the buffer returned by the last on_alloc.
        virtual void on_read(std::size_t n) = 0;
        // The peer closed or the connection failed (status: 0 = EOF, else a UV error).
        virtual void on_closed(int status) = 0;
        // Outgoing connection attempt finished (status 0 = connected).
        virtual void on_connected(int /*status*/) {}
        // Everything queued has been written (for backpressure release and QUIT).
        virtual void on_drained() {}
    };

    // Accepts a pending connection from `server`; nullptr on failure.
    static TcpStream* accept(uv_loop_t* loop, uv_stream_t* server, Handler* handler);
    // Wraps a connected socket accepted by the caller; closes `fd` and returns nullptr on
    // failure.
    static TcpStream* adopt(uv_loop_t* loop, int fd, Handler* handler);
    // Starts connecting to a resolved address.
    static TcpStream* connect(uv_loop_t* loop, const sockaddr* addr, Handler* handler);

    void set_handler(Handler* handler) { handler_ = handler; }
    void start_reading();
    void stop_reading();
    bool reading() const { return reading_; }

    // Queues bytes; they go out on the next flush() (or right away if `flush_now`).
    void append(std::string_view bytes) { next_.append(bytes); }
    std::string& out() { return next_; }
    void flush();
    // Bytes queued or in flight.
    std::size_t pending_bytes() const { return in_flight_.size() + next_.size(); }

    // Detaches the handler and closes; memory is freed by libuv's close callback.
    void close();
    // Close after everything queued has been written (QUIT, protocol errors).
    void close_after_flush();

    std::string peer() const;  // "ip:port" for logs

  private:
    TcpStream(uv_loop_t* loop, Handler* handler);
    ~TcpStream() = default;
    static void alloc_cb(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
    static void read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
    static void write_cb(uv_write_t* req, int status);
    static void connect_cb(uv_connect_t* req, int status);
    void fail(int status);

    uv_tcp_t tcp_;
    uv_write_t write_req_;
    uv_connect_t connect_req_;
    Handler* handler_;
    std::string in_flight_;
    std::string next_;
    bool reading_ = false;
    bool writing_ = false;
    bool closing_ = false;
    bool close_when_drained_ = false;
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
