// One client connection. It frames the client's requests, classifies each with the
// command table, and forwards the original bytes over its own backend link to the
// verified master, matching every reply frame to what it sent so replies go back in
// order. It remembers what a new backend connection must be told (AUTH, HELLO, SELECT,
// CLIENT SETNAME/SETINFO, subscriptions, an open MULTI) and keeps the bytes of every
// unanswered command, so that at a failover it can hold commands while no master is
// verified, re-send what provably did not run (READONLY, UNBLOCKED, read-only or
// blocking commands on a lost link), and close the connection, exactly as Redis would,
// when a write's outcome is unknown.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "protocol/command_table.h"
#include "protocol/reply_writer.h"
#include "protocol/request_parser.h"
#include "proxy/backend_link.h"
#include "proxy/tcp_stream.h"
#include "proxy/topology.h"

namespace sp::proxy {

class Router;

class ClientSession : private TcpStream::Handler, private BackendLink::Owner {
  public:
    ClientSession(Router& router, TcpStream* stream);
    ~ClientSession() override;

    void start();
    TcpStream::Handler* as_handler() { return this; }
    // Closes the client when the oldest unanswered non-blocking command has waited longer
    // than `timeout_ms` (timeouts.command_ms): its master hangs; the outcome is unknown.
    void check_command_timeout(std::uint64_t now_ms, std::uint32_t timeout_ms);
    // The router publishes a snapshot this session should follow.
    void on_topology();
    // Closes the client connection (after writing what is queued, if `graceful`).
    void close(const std::string& why, bool graceful = false);
    bool subscribed() const;
    bool closed() const { return closed_; }
    // Nothing owed to the client (shutdown drain closes such sessions at once).
    bool idle() const { return pending_.empty(); }
    // Client commands not yet answered (counted as failed when the proxy closes).
    std::size_t unanswered() const;

  private:
    enum class Kind : std::uint8_t {
        normal,
        local,
        ping,
        subscribe,
        unsubscribe,
        select,
        hello,
        auth,
        client_setname,
        client_setinfo,
        multi,
        exec,
        discard,
        watch,
        unwatch,
        reset,
        quit
    };
    enum class SubFamily : std::uint8_t { channel, pattern, shard };

    // One command sent (or to be sent) to Redis, or answered locally, in client order.
    struct Pending {
        std::uint32_t len = 0;  // bytes in log_
        std::uint32_t flags = 0;
        Kind kind = Kind::normal;
        SubFamily family = SubFamily::channel;
        protocol::TimeoutArg timeout = protocol::TimeoutArg::none;
        bool silent = false;      // the proxy's own (handshake, replay): reply swallowed
        bool critical = false;    // silent, and an error reply closes the session (AUTH)
        bool resub = false;       // silent re-subscription after a switch
        bool in_tx = false;       // queued inside MULTI: replayed on a new link
        bool exec_nil = false;    // EXEC sent as DISCARD because WATCH state was lost
        std::int32_t expect = 1;  // frames still expected (-1: count at the front)
        std::uint64_t issued_ms = 0;
    };

    // TcpStream::Handler (client side)
    uv_buf_t on_alloc(std::size_t suggested) override;
    void on_read(std::size_t n) override;
    void on_closed(int status) override;
    void on_drained() override;
    // BackendLink::Owner
    void on_backend_connected(BackendLink& link) override;
    void on_backend_frame(BackendLink& link, const protocol::FrameInfo& info,
                          std::string_view bytes) override;
    void on_backend_closed(BackendLink& link, const std::string& why) override;
    void on_backend_drained(BackendLink& link) override;
    void on_backend_read_done(BackendLink& link) override;

    void handle_command(const protocol::Command& cmd);
    bool handle_auth_gate(const protocol::Command& cmd);
    void enqueue(std::string_view raw, Pending p);
    void answer_hello_locally(const protocol::Command& cmd);
    void enqueue_local(std::string reply, Kind kind = Kind::local);
    void pump();
    bool can_send() const;
    void open_link();
    void relink(const std::string& why, bool avoid_until_new_snapshot);
    bool in_flight_resendable() const;
    static SubFamily family_of(std::string_view subscribe_command);
    std::set<std::string>& subscriptions(SubFamily family);
    void complete_front(bool success);
    void deliver_locals();
    void apply_state(const Pending& p, std::string_view raw);
    void build_preamble(std::string& log, std::deque<Pending>& pending);
    void append_link_auth(std::string& log, std::deque<Pending>& pending) const;
    void rewrite_blocking(std::string& out, std::string_view raw, const Pending& p, bool& expired);
    void update_hold_timer();
    bool waiting_for_master() const;
    void check_backpressure();
    void reply_to_client(std::string_view bytes);
    std::string null_reply_for(const Pending& p) const;
    std::string_view front_raw() const { return {log_.data() + head_, pending_.front().len}; }

    Router& router_;
    TcpStream* client_;
    protocol::RequestParser parser_;
    std::unique_ptr<BackendLink> link_;
    bool link_ready_ = false;
    SnapshotPtr snap_;

    // Commands in client order. Entries [0, sent_) were written to link_.
    std::deque<Pending> pending_;
    std::size_t sent_ = 0;
    std::string log_;         // bytes of pending_ entries, from head_
    std::size_t head_ = 0;    // log_ offset of pending_.front()
    std::size_t unsent_ = 0;  // log_ offset of pending_[sent_]
    std::deque<std::string> local_replies_;

    // Connection state replayed on every new backend link.
    protocol::RespVersion proto_ = protocol::RespVersion::resp2;
    long long db_ = 0;
    std::string client_name_;
    std::string lib_name_, lib_ver_;
    std::optional<std::pair<std::string, std::string>> client_auth_;  // user (may be ""), pass
    bool authenticated_ = false;  // against the proxy's client password
    std::set<std::string> channels_, patterns_, shard_channels_;
    bool multi_open_at_parse_ = false;
    bool in_multi_ = false;  // MULTI answered +OK, EXEC/DISCARD not yet
    std::string tx_log_;
    std::vector<std::uint32_t> tx_lens_;
    bool watching_ = false;
    bool watch_broken_ = false;

    // Failover handling.
    std::optional<NodeAddress> avoid_;  // demoted or lost master: not until a new snapshot
    std::uint64_t avoid_generation_ = 0;
    std::uint64_t avoid_until_ms_ = 0;
    std::uint64_t hold_started_ms_ = 0;
    Timer hold_timer_;
    bool hold_counted_ = false;  // this hold waited for a master (metrics)
    Timer retry_timer_;
    bool moving_subscriber_ = false;
    bool closed_ = false;
    bool client_paused_ = false;
    bool link_paused_ = false;
    bool quit_after_flush_ = false;
    bool input_refused_ = false;  // a protocol error: the rest of the input is dropped
};

}  // namespace sp::proxy
