// One client session's connection to one Redis node (the verified master). It connects
// (resolving host names asynchronously, again on every connect), writes the bytes the
// session gives it, and hands back complete reply frames, found by the RESP2/RESP3
// reply framer without building objects. It knows nothing about commands: the session
// matches frames to what it sent.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <string_view>

#include "protocol/reply_framer.h"
#include "proxy/net/node_address.h"
#include "proxy/net/tcp_stream.h"

namespace sp::proxy {

class BackendLink : private Stream::Handler {
  public:
    class Owner {
      public:
        virtual ~Owner() = default;
        virtual void on_backend_connected(BackendLink& link) = 0;
        virtual void on_backend_frame(BackendLink& link, const protocol::FrameInfo& info,
                                      std::string_view bytes) = 0;
        // The link is dead (connect failure, peer closed, protocol error). The owner
        // destroys it.
        virtual void on_backend_closed(BackendLink& link, const std::string& why) = 0;
        virtual void on_backend_drained(BackendLink&) {}
        // Every frame of one read has been delivered (the owner flushes its client once).
        virtual void on_backend_read_done(BackendLink&) {}
    };

    BackendLink(uv_loop_t* loop, Owner& owner, NodeAddress address,
                std::uint32_t connect_timeout_ms);
    ~BackendLink() override;
    BackendLink(const BackendLink&) = delete;
    BackendLink& operator=(const BackendLink&) = delete;

    void connect();
    const NodeAddress& address() const { return address_; }
    bool connected() const { return state_ == State::connected; }

    // Queues bytes; written once connected. flush() after a batch.
    std::string& out() { return out_; }
    void flush();
    std::size_t pending_write_bytes() const;

    // Ends the connection's writing side behind the bytes already queued (see
    // Stream::end_output) and goes on reading. False, doing nothing, unless connected.
    bool end_output();

    void pause_reading();
    void resume_reading();

  private:
    enum class State { resolving, connecting, connected, dead };
    uv_buf_t on_alloc(std::size_t suggested) override;
    void on_read(std::size_t n) override;
    void on_closed(int status) override;
    void on_connected(int status) override;
    void on_drained() override;
    void connect_to(const sockaddr* addr);
    void die(const std::string& why);

    uv_loop_t* loop_;
    Owner& owner_;
    NodeAddress address_;
    std::uint32_t connect_timeout_ms_;
    State state_ = State::resolving;
    Stream* stream_ = nullptr;
    std::string out_;  // bytes queued before the connection is up
    std::string rbuf_;
    std::size_t rlen_ = 0;         // valid bytes in rbuf_
    std::size_t frame_start_ = 0;  // start of the frame being scanned
    std::size_t scan_pos_ = 0;     // next byte to give the framer
    protocol::ReplyFramer framer_;
    bool paused_ = false;
    bool reading_shared_ = false;
    Timer connect_timer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sp::proxy
