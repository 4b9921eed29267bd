// One client connection. It frames the client's requests, asks command_policy once what
// each one is, and keeps them as Requests in a RequestQueue (with their exact bytes)
// until answered, so replies go back strictly in request order whichever backend
// connection answered. A client in the default connection state sends over a shared link
// of the loop's BackendPool; while its state needs a connection of its own (MULTI/WATCH,
// SELECT n, its own AUTH, subscriptions, blocking commands, MONITOR...) it gets a
// dedicated BackendLink, which is told the client's ConnectionState first. Commands move
// from one kind of link to the other only when nothing is in flight on the first, which
// keeps every reply in order without buffering any.
//
// At a failover the session holds commands while no master is verified, re-sends what
// provably did not run (READONLY, UNBLOCKED, read-only or blocking commands on a lost
// link), and closes the connection, exactly as Redis would, when a write's outcome is
// unknown. The session's methods are in two files: client_session.cpp (the client side:
// framing, routing, local replies, limits, streaming, end of input) and session_backend.cpp
// (the backend side: sending, replies, the dedicated link's set-up, failover, replica reads).
// Its collaborators each have one job: RequestQueue (the requests in order), ParseTimeState
// (where each goes), ConnectionState (what Redis's replies made of the connection),
// ClientLimits, ReplicaReads, InputEndWatch, ReadPauses, FailoverMemory, DedicatedLink; and
// it asks pure rules: failover_rules (re-send, hold or close), local_answers (what the proxy
// answers itself), stream_rules (what may stream).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/command_policy.h"
#include "protocol/command_table.h"
#include "protocol/reply_writer.h"
#include "protocol/request_parser.h"
#include "proxy/backend/backend_link.h"
#include "proxy/backend/shared_link.h"
#include "proxy/net/tcp_stream.h"
#include "proxy/sentinel/topology.h"
#include "proxy/session/client_limits.h"
#include "proxy/session/connection_state.h"
#include "proxy/session/dedicated_link.h"
#include "proxy/session/failover_memory.h"
#include "proxy/session/failover_rules.h"
#include "proxy/session/input_end_watch.h"
#include "proxy/session/parse_time_state.h"
#include "proxy/session/read_pauses.h"
#include "proxy/session/replica_reads.h"
#include "proxy/session/request_queue.h"
#include "proxy/session/session_services.h"

namespace sp::proxy {

class ClientSession : private Stream::Handler, private BackendLink::Owner, private ReplySink {
  public:
    ClientSession(SessionServices& services, Stream* stream);
    ~ClientSession() override;

    void start();
    Stream::Handler* as_handler() { return this; }
    // Closes the client when the oldest unanswered non-blocking command has waited longer
    // than `timeout_ms` (timeouts.command_ms): its master hangs; the outcome is unknown.
    void check_command_timeout(std::uint64_t now_ms, std::uint32_t timeout_ms);
    // Closes the client when it sent nothing for `idle_ms` (timeouts.client_idle_ms), unless
    // it is subscribed, blocked, or still owed a reply (Redis's `timeout` rules).
    void check_idle(std::uint64_t now_ms, std::uint32_t idle_ms);
    // The output sweep (SessionSweeps): a client over its soft output limit is closed once it has
    // been over it for the limit's time (limits.output_*_soft_seconds).
    void check_output_limit(std::uint64_t now_ms) { output_limit_reached(now_ms); }
    // Idle since `idle_ms` (nothing owed, nothing read): release the reply rings and buffers
    // kept for a busy client (about 0.25 KiB), as Redis's clientsCron shrinks query buffers.
    void trim_if_idle(std::uint64_t now_ms, std::uint64_t idle_ms);
    // MasterSwitch publishes a snapshot this session should follow.
    void on_topology();
    // Closes the client connection (after writing what is queued, if `graceful`).
    void close(const std::string& why, bool graceful = false);
    // How a close counts in the metrics: all but `normal` count the commands still owed as
    // failed; the named ones have their own clients_closed counter too.
    enum class CloseReason : std::uint8_t {
        normal,
        failed,
        hold_timeout,
        unknown_outcome,
        output_buffer,
    };
    void close(CloseReason reason, const std::string& why, bool graceful = false);
    bool subscribed() const { return state_ && state_->subscribed(); }
    bool closed() const { return closed_; }
    // Nothing owed to the client (shutdown drain closes such sessions at once).
    bool idle() const { return queue_.empty(); }
    // Client commands not yet answered (counted as failed when the proxy closes).
    std::size_t unanswered() const { return queue_.owed(); }
    // Has a backend connection of its own now (metrics).
    bool has_dedicated_link() const { return dedicated_.link != nullptr; }
    // `address` left read rotation: reads in flight there are re-sent.
    void replica_unusable(const NodeAddress& address);
    // read_from = replica: replicas were measured again; a read held for one may go now.
    void replica_may_be_available();

  private:
    using Kind = protocol::CommandKind;
    using SubFamily = protocol::SubFamily;
    // Client output beyond this pauses a dedicated link, and stops new commands going to a
    // shared one (a shared link is never paused for one slow reader); the output limits
    // (limits.output_*) close a client on top of that (ClientLimits).
    static constexpr std::size_t kPauseOutput = 32u << 20;
    // Requests one client may have in flight on a shared link: one deep pipeline cannot
    // starve the others, and the replies owed to a client that stops reading are bounded.
    static constexpr std::size_t kMaxSharedInflight = 64;
    // Output beyond this: the client is behind on reading, one request in flight at a time.
    static constexpr std::size_t kBehindOutput = 1u << 20;

    // Stream::Handler (client side)
    uv_buf_t on_alloc(std::size_t suggested) override;
    void on_read(std::size_t n) override;
    void on_closed(int status) override;
    bool on_end_of_input() override;
    void on_drained() override;
    // BackendLink::Owner (the dedicated link)
    void on_backend_connected(BackendLink& link) override;
    void on_backend_frame(BackendLink& link, const protocol::FrameInfo& info,
                          std::string_view bytes) override;
    void on_backend_closed(BackendLink& link, const std::string& why) override;
    void on_backend_drained(BackendLink& link) override;
    void on_backend_read_done(BackendLink& link) override;
    // ReplySink (shared links)
    void on_shared_reply(SharedLink& link, const protocol::FrameInfo& info,
                         std::string_view bytes) override;
    void on_shared_link_lost(SharedLink& link, const std::string& why) override;
    void on_shared_read_done(SharedLink& link) override;

    // client_session.cpp: commands in, local replies, limits, streaming, end of input
    void handle_command(const protocol::Command& cmd);
    void handle_command_after_gate(const protocol::Command& cmd,
                                   const protocol::HelloOptions* hello);
    bool handle_auth_gate(const protocol::Command& cmd, const protocol::HelloOptions* hello);
    bool route(const protocol::Command& cmd, const protocol::CommandPolicy& policy,
               const protocol::HelloOptions* hello);
    bool answer_on_shared(const protocol::Command& cmd, const Request& p,
                          const protocol::HelloOptions* hello);
    bool as_proxy_credentials(const protocol::Command& cmd,
                              const protocol::HelloOptions* hello) const;
    void answer_hello_locally(const protocol::Command& cmd, const protocol::HelloOptions& hello);
    void enqueue(std::string_view raw, Request p);
    void enqueue_local(std::string reply, bool close_after = false);
    // A connection-state command answered by the proxy (RESET, CLIENT SETNAME, HELLO on a
    // shared link): the state changes when the reply reaches the front, after the commands
    // before it, so a link that dies with those in flight still replays what they need.
    void enqueue_local_change(std::string reply, const Request& change);
    void deliver_locals();
    void check_backpressure();
    // The client limits: ClientLimits decides, the session acts.
    bool query_buffer_ok();  // limits.query_buffer_limit; false: the client is being closed
    bool output_limit_reached(std::uint64_t now_ms);  // limits.output_*; true: closed
    bool output_within_budget();  // limits.memory_budget after replies; false: closed
    bool hold_full() const;       // limits.max_held_*: read no more commands while holding
    void account_held();          // tells LoopContext how many commands this session holds
    void process_input();         // frames what the parser holds, as far as the limits allow
    // The client sends no more (EOF, or hung up while not read): InputEndWatch.
    void check_input_end();
    void watch_peer();  // while the client is not read: is it still there?
    // A big bulk forwarded as it arrives (limits.stream_bulk_len).
    enum class StreamGo { decline, wait, go };
    StreamGo stream_decision(const protocol::Command& head);
    void begin_stream(const protocol::Command& head);
    bool stream_input();      // false: nothing more to do now (incomplete, paused, closed)
    void stream_wait_over();  // something a waiting stream needed may have happened
    bool stream_can_go() const {
        return queue_.empty() && dedicated_.link && !dedicated_.stale && dedicated_.ready;
    }
    bool reading_allowed() const { return !pauses_.any(); }
    void follow_topology();
    void reply_to_client(std::string_view bytes);

    // session_backend.cpp: commands out, replies in, failover, replica reads
    void pump();
    bool can_send() const;
    void open_link();
    void relink(const std::string& why, bool avoid_until_new_snapshot);
    // Redis closed a dedicated link whose writing side the session ended (end of input).
    void redis_let_link_go();
    // The client's link is being replaced: false (and the client closed) when its state
    // is bound to that connection (CLIENT TRACKING, MONITOR, a known CLIENT ID).
    bool survives_link_change(const std::string& why);
    void handle_reply(const NodeAddress& from, const protocol::FrameInfo& info,
                      std::string_view bytes);
    void complete_front(bool success);
    void apply_state(const Request& p);
    // Whether the client is sent the reply completing `p` (CLIENT REPLY OFF|SKIP).
    bool reply_visible(const Request& p, bool success);
    void build_preamble(RequestQueue& setup);
    void append_link_auth(RequestQueue& queue) const;
    void update_hold_timer();
    Timer& hold_timer();
    Timer& retry_timer();
    failover_rules::HoldView hold_view() const;  // what failover_rules::holding asks
    bool upstream_ready() const;
    std::optional<NodeAddress> upstream_address() const;
    void close_unknown_outcome(const std::string& why);
    std::string null_reply_for() const;
    // Where a shared-link command goes (ReplicaReads for replica reads).
    SharedLink* shared_target(const Request& p);
    void replica_failed(const NodeAddress& from, const std::string& why);

    SessionServices& services_;
    LoopContext& ctx() const;  // services_.context: what the pool's sessions share
    Stream* client_;
    protocol::RequestParser parser_;
    DedicatedLink dedicated_;            // the client's own Redis connection, while it needs one
    SharedLink* shared_link_ = nullptr;  // where the shared entries in flight went
    bool inflight_shared_ = false;       // the entries in flight went to shared_link_
    ReplicaReads replica_;               // reads from replicas, read-your-writes
    SnapshotPtr snap_;

    RequestQueue queue_;  // the client's requests in order, until answered

    // What a new dedicated link must be told (replayed in open_link). Allocated by the first
    // command that changes it (about 0.4 KiB an idle client in the default state keeps none).
    std::unique_ptr<ConnectionState> state_;
    const ConnectionState& state() const;
    ConnectionState& state_mut();
    // What the commands parsed so far will have made of the connection (state_ follows
    // the replies): decides, per command, shared link or dedicated.
    ParseTimeState parse_;

    // What a session remembers about lost links and holds, created the first time a link is
    // lost or a hold starts (an idle client in the default state never needs it).
    std::unique_ptr<FailoverMemory> failover_;
    const FailoverMemory& failover() const;
    FailoverMemory& failover_mut();
    bool closed_ = false;
    bool input_refused_ = false;
    ClientLimits limits_;      // its share of the client and proxy-wide limits
    ReadPauses pauses_;        // why the client is not read now (none: it is)
    InputEndWatch input_end_;  // the client's EOF, or its hang-up while not read
    // Re-counts this session's buffers against the memory budget; false when it must go.
    bool account_memory();
    std::uint64_t last_read_ms_ = 0;  // loop time of the client's last bytes  // a protocol error
                                      // or QUIT: the rest of the input is dropped
};

inline LoopContext& ClientSession::ctx() const {
    return services_.context;
}

}  // namespace sp::proxy
