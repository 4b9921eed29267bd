// The end of a client's input. A client that shuts its writing side down after its pipeline
// (`nc -N`, socat, shell health checks) is owed what Redis gives it: every command it sent
// runs and every reply is written before the connection closes. So at EOF the session reads
// no more, finishes what it read (held commands still wait for a master within the hold
// window), and closes once nothing is owed and its output is written. A command cut short by the
// EOF never ran on Redis either and is dropped.
//
// One exception, also Redis's: a client blocked in a command (BLPOP 0) is freed at its EOF,
// the pop popping nothing. The proxy cannot see whether Redis blocked or is answering, so
// the blocking command at the front gets kBlockedAnswerMs from its sending to be answered
// (one served at once is), then the client is closed and its Redis connection with it.
//
// A client the session stopped reading (a pipeline behind a BLPOP, paused for backpressure)
// never delivers its EOF: its socket is asked every kPeerCheckMs whether the peer hung up
// (Linux POLLRDHUP), so one that left while blocked is let go with its Redis connection and
// the memory its queue holds.
#include <spdlog/spdlog.h>

#include "proxy/session/client_session.h"
#include "proxy/session/router.h"

namespace sp::proxy {

namespace {
constexpr std::uint64_t kPeerCheckMs = 250;
constexpr std::uint64_t kBlockedAnswerMs = 1000;
}  // namespace

bool ClientSession::on_end_of_input() {
    if (closed_) return false;
    input_ended_ = true;
    peer_gone_ = true;
    check_input_end();
    // Kept open for writing even if just closed: close() flushed what is owed and owns it.
    return true;
}

void ClientSession::check_input_end() {
    if (closed_ || !client_ || !peer_gone_) return;
    if (input_ended_ && parser_.streaming()) {
        // The rest of a streamed command will never come: Redis drops the partial command
        // when its connection (the dedicated link) closes.
        close("client ended its input in the middle of a streamed command", true);
        return;
    }
    // Commands still framed in the parser (a hold or a stream paused the framing) are owed
    // too; anything else left there is a partial command. The session stays until its
    // output is written (on_drained), so the output limits and the budget still see it.
    if (input_ended_ && queue_.empty() && !pauses_.has(ReadPauses::hold) &&
        !pauses_.has(ReadPauses::stream_wait)) {
        if (client_->pending_bytes() == 0) close("client ended its input, every reply written");
        return;
    }
    if (queue_.empty() || queue_.in_flight() == 0) return;
    const Request& p = queue_.front();
    if (p.silent() || p.local() || p.issued_ms == 0 || !(p.flags & protocol::kBlocking)) return;
    const std::uint64_t now = uv_now(router_.loop());
    if (now - p.issued_ms >= kBlockedAnswerMs) {
        close(CloseReason::failed, "client left while blocked in a command", true);
        return;
    }
    watch_peer();  // checked again until the blocking command was answered or given up
}

// Called while the client is not read (and after its EOF with a blocked command owed).
void ClientSession::watch_peer() {
    if (closed_ || (peer_timer_ && peer_timer_->active())) return;
    peer_timer().start(kPeerCheckMs, kPeerCheckMs);
}

Timer& ClientSession::peer_timer() {
    if (!peer_timer_) {
        peer_timer_ = std::make_unique<Timer>(router_.loop(), [this] {
            if (closed_ || !client_) return;
            if (!peer_gone_ && !client_->reading() && client_->peer_hung_up()) peer_gone_ = true;
            if (client_->reading() && !peer_gone_) {
                peer_timer_->stop();  // read again: its EOF will be seen
                return;
            }
            check_input_end();
        });
    }
    return *peer_timer_;
}

}  // namespace sp::proxy
