// The end of a client's input. A client that shuts its writing side down after its pipeline
// (`nc -N`, socat, shell health checks) is owed what Redis gives it: every command it sent
// runs and every reply is written before the connection closes. So at EOF the session reads
// no more, finishes what it read (held commands still wait for a master within the hold
// window), and closes once nothing is owed and its output is written. A command cut short by
// the EOF never ran on Redis either and is dropped.
//
// One exception, also Redis's: a client blocked in a command (BLPOP 0) is freed at its EOF,
// the pop popping nothing. The session shuts down the writing side of the dedicated link
// right behind the blocking command, so Redis sees the EOF there and frees it (or answers
// one served at once); kBlockedAnswerMs from then bounds the wait if Redis does not close
// the link (from the command's sending if the link could not be ended), then the client is
// closed and its Redis connection with it.
//
// A client the session stopped reading (a pipeline behind a BLPOP, paused for backpressure)
// never delivers its EOF: its socket is asked every kPeerCheckMs whether the peer hung up
// (Linux POLLRDHUP), so one that left while blocked is let go with its Redis connection and
// the memory its queue holds.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "proxy/net/tcp_stream.h"

namespace sp::proxy {

class InputEndWatch {
  public:
    static constexpr std::uint64_t kPeerCheckMs = 250;
    static constexpr std::uint64_t kBlockedAnswerMs = 1000;

    // The client's EOF was read: it sends nothing more (and so it has hung up).
    void input_ended() { input_ended_ = peer_gone_ = true; }
    bool ended() const { return input_ended_; }
    // Its socket says it hung up while it was not read (or its EOF was read).
    bool peer_gone() const { return peer_gone_; }
    void peer_hung_up() { peer_gone_ = true; }

    // Asks `check` every kPeerCheckMs until stop(); the timer is created on first use.
    template <class F>
    void watch(uv_loop_t* loop, F&& check) {
        if (!timer_) timer_ = std::make_unique<Timer>(loop, std::forward<F>(check));
        if (!timer_->active()) timer_->start(kPeerCheckMs, kPeerCheckMs);
    }
    bool watching() const { return timer_ && timer_->active(); }
    void stop() {
        if (timer_) timer_->stop();
    }
    void release() { timer_.reset(); }

  private:
    std::unique_ptr<Timer> timer_;
    bool input_ended_ = false;
    bool peer_gone_ = false;
};

}  // namespace sp::proxy
