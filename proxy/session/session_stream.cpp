// Streaming a big bulk (limits.stream_bulk_len): a command with a bulk longer than that is
// forwarded to the master as it arrives, on the client's dedicated link, instead of being
// held whole in the parser, the reply log and the link's buffer (three copies of a 300 MiB
// SET were 930 MB). Its reply slot keeps no bytes, so it can never be re-sent: it streams
// only when it can go at once (a master verified, nothing owed to the client, the
// dedicated link up), and a link lost or a master switched before its reply closes the
// client, the write's outcome being unknown (session_failover.cpp's rules for any write).
// While the bytes queued for Redis are many, the client is not read (Redis's own pace).
#include <spdlog/spdlog.h>

#include "protocol/reply_writer.h"
#include "proxy/session/client_session.h"
#include "proxy/session/router.h"

namespace sp::proxy {

namespace {
// Streamed bytes queued for Redis beyond this stop the client's reads until they drain.
constexpr std::size_t kStreamPause = 4u << 20;
}  // namespace

// Where the command with a big bulk goes: streamed now, streamed once what it waits for
// happens (the client is not read meanwhile), or declined, and then framed whole like any
// command, within limits.query_buffer_limit and limits.memory_budget.
ClientSession::StreamGo ClientSession::stream_decision(const protocol::Command& head) {
    if (!router_.config().client_password.empty() && !parse_.authenticated())
        return StreamGo::decline;
    // The policy is decided from the head alone, so only where the arguments after the big
    // bulk cannot change it: plain data writes (what changes the connection state, blocks,
    // or is queued in a transaction, replayed on a new link from its bytes, keeps its
    // bytes). CLIENT SETNAME <big> is connection state, XREAD(GROUP) may block with a
    // BLOCK option after it, a command whose sub-command is the big bulk is not classified.
    const protocol::CommandPolicy policy = protocol::decide(router_.commands(), head);
    constexpr std::uint32_t kNotPlain =
        protocol::kBlocking | protocol::kPubSub | protocol::kSubscribe | protocol::kTransaction |
        protocol::kConnectionState | protocol::kAdmin | protocol::kUnknown;
    if (policy.kind != Kind::normal || !policy.is(protocol::kWrite) || policy.is(kNotPlain) ||
        head.name == "xread" || head.name == "xreadgroup" || head.name == "client" ||
        policy.pins != protocol::PinReason::none || parse_.sticky() || parse_.multi_open() ||
        parse_.watching() || state().in_multi() || subscribed())
        return StreamGo::decline;
    // No master verified (a hold): held whole, as today, bounded by the limits.
    if (!can_send()) return StreamGo::decline;
    if (stream_can_go()) return StreamGo::go;
    // Replies owed first (a shared link's, or the link's set-up), or the link connecting.
    if (queue_.empty() && (!link_ || link_stale_))
        open_link();  // its set-up (if any) is sent by pump() after process_input's loop
    pauses_.set(ReadPauses::stream_wait);
    if (client_) client_->stop_reading();
    return StreamGo::wait;
}

void ClientSession::begin_stream(const protocol::Command& head) {
    Request p;
    p.kind = Kind::normal;
    p.streamed = true;
    p.proto = parse_.proto();
    // Counted as sent now: issued_ms stays 0 (no command timeout) until the last byte.
    queue_.push_streamed(std::move(p));
    inflight_shared_ = false;
    router_.stats().commands_forwarded++;
    router_.stats().commands_streamed++;
    link_->out().append(head.raw);
    parser_.begin_stream();
}

bool ClientSession::stream_input() {
    if (closed_) return false;
    if (!link_) {
        // Cannot happen (a lost link closes the client first); never leave it half-sent.
        close_unknown_outcome("dedicated link gone while streaming");
        return false;
    }
    if (queue_.empty() || !queue_.back().streamed) {
        // Redis answered before the command's end (it refused it, and closes): what is
        // left of it must not reach Redis as commands.
        close("Redis answered a streamed command before its end", true);
        return false;
    }
    std::string_view bytes;
    const auto c = parser_.next_stream_chunk(bytes);
    if (c == protocol::RequestParser::Chunk::error) {
        // Part of the command is on its way to Redis: neither it nor the link can be used.
        spdlog::debug("client {}: {} while streaming", client_ ? client_->peer() : "?",
                      parser_.error());
        std::string e;
        protocol::reply::error(e, "ERR " + parser_.error());
        reply_to_client(e);
        close(CloseReason::failed, "protocol error while streaming a command", true);
        return false;
    }
    link_->out().append(bytes);
    if (c == protocol::RequestParser::Chunk::end) {
        queue_.back().issued_ms = uv_now(router_.loop());
        queue_.back().issued_us = uv_hrtime() / 1000;
    }
    link_->flush();
    if (c == protocol::RequestParser::Chunk::end) return true;
    if (link_->pending_write_bytes() > kStreamPause && !pauses_.has(ReadPauses::stream_queue)) {
        pauses_.set(ReadPauses::stream_queue);
        if (client_) client_->stop_reading();
    }
    return c == protocol::RequestParser::Chunk::data;
}

void ClientSession::on_backend_drained(BackendLink&) {
    if (closed_ || !pauses_.has(ReadPauses::stream_queue)) return;
    pauses_.clear(ReadPauses::stream_queue);
    if (client_ && reading_allowed()) client_->start_reading();
    if (!input_refused_) process_input();
}

void ClientSession::stream_wait_over() {
    if (!pauses_.has(ReadPauses::stream_wait) || closed_) return;
    pauses_.clear(ReadPauses::stream_wait);
    if (client_ && reading_allowed()) client_->start_reading();
    if (!input_refused_) process_input();
}

}  // namespace sp::proxy
