// One pipelined connection to the verified master that many client sessions share, as
// Predixy and twemproxy do: Redis then reads many clients' commands in one syscall. It
// keeps the FIFO of requests in flight, recording whose each one is, and hands each reply
// frame to the sink that asked for it; a sink that went away has its replies dropped, and
// the link stays intact. Only commands of clients in the default connection state come
// here (command_policy decides which); each has exactly one reply frame. The sink
// interface is defined here, so the backend side never includes the session side.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/reply_framer.h"
#include "protocol/reply_writer.h"
#include "proxy/backend/backend_link.h"
#include "proxy/backend/credentials.h"
#include "proxy/net/node_address.h"

namespace sp::proxy {

class SharedLink;

// The CLIENT SETNAME of every shared link, as Redis's CLIENT LIST shows it.
inline constexpr const char* kSharedLinkName = "sentinel-proxy-shared";

// Whoever sent requests on a shared link: a client session's ordered reply slots.
class ReplySink {
  public:
    virtual ~ReplySink() = default;
    // The reply to this sink's oldest request still in flight on `link`.
    virtual void on_shared_reply(SharedLink& link, const protocol::FrameInfo& info,
                                 std::string_view bytes) = 0;
    // The link died with requests of this sink in flight: none of them will be answered.
    virtual void on_shared_link_lost(SharedLink& link, const std::string& why) = 0;
    // Every frame of one read has been handed out (flush the client once).
    virtual void on_shared_read_done(SharedLink& link) = 0;

  private:
    friend class SharedLink;
    // The read in which a shared link last gave this sink a frame: told once per read
    // without searching the list of sinks told (1,000 clients make that list long).
    std::uint64_t told_in_read_ = 0;
};

class SharedLink : private BackendLink::Owner {
  public:
    // `on_dirty` is called once when the link has bytes to write (the pool flushes every
    // dirty link once per loop turn); `on_dead` once when the link died.
    SharedLink(uv_loop_t* loop, NodeAddress address, protocol::RespVersion proto,
               const BackendCredentials& credentials, std::uint32_t connect_timeout_ms,
               std::function<void(SharedLink&)> on_dirty, std::function<void(SharedLink&)> on_dead);
    ~SharedLink() override;
    SharedLink(const SharedLink&) = delete;
    SharedLink& operator=(const SharedLink&) = delete;

    // Queues one request whose single reply frame goes to `sink`.
    void send(ReplySink* sink, std::string_view bytes);
    // `sink` is gone or gave up on this link: its replies still in flight are dropped.
    void cancel(ReplySink* sink);
    void flush();
    // Closes it now; every sink with requests in flight is told.
    void close(const std::string& why) { die(why); }

    const NodeAddress& address() const { return address_; }
    protocol::RespVersion proto() const { return proto_; }
    bool ready() const { return ready_; }
    bool dead() const { return dead_; }
    std::size_t in_flight() const { return fifo_.size(); }
    // No longer given new requests (its master was replaced); closes once drained.
    void retire(std::uint64_t now_ms) {
        retiring_ = true;
        retired_ms_ = now_ms;
    }
    bool retiring() const { return retiring_; }
    std::uint64_t retired_ms() const { return retired_ms_; }

  private:
    void on_backend_connected(BackendLink& link) override;
    void on_backend_frame(BackendLink& link, const protocol::FrameInfo& info,
                          std::string_view bytes) override;
    void on_backend_closed(BackendLink& link, const std::string& why) override;
    void on_backend_read_done(BackendLink& link) override;
    void die(const std::string& why);

    NodeAddress address_;
    protocol::RespVersion proto_;
    std::unique_ptr<BackendLink> link_;
    // Requests in flight, oldest first; nullptr: the link's own set-up or a cancelled one.
    std::deque<ReplySink*> fifo_;
    std::size_t handshake_left_ = 0;   // the first fifo entries are the link's own set-up
    std::vector<ReplySink*> touched_;  // sinks given a frame during the current read
    std::vector<ReplySink*> telling_;  // touched_ of the read being told (capacity kept)
    std::function<void(SharedLink&)> on_dirty_;
    std::function<void(SharedLink&)> on_dead_;
    bool dirty_ = false;
    bool ready_ = false;
    bool dead_ = false;
    bool retiring_ = false;
    std::uint64_t retired_ms_ = 0;
};

}  // namespace sp::proxy
