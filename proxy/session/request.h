// One client request, the unit a session keeps until it is answered: its place in the
// client's bytes (len, in RequestQueue's log), the policy decided once when it was framed,
// where it goes (a shared link or the dedicated one), who answers it and what happens then.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "protocol/command_policy.h"
#include "protocol/command_table.h"
#include "protocol/reply_writer.h"

namespace sp::proxy {

// Who answers a request, and where the answer goes.
enum class Answer : std::uint8_t {
    redis,           // Redis answers; the reply goes to the client
    local,           // the proxy answers: the bytes wait in RequestQueue's local replies
    local_change,    // local, and changes the connection state when answered (RESET, HELLO)
    local_getname,   // CLIENT GETNAME on a shared link: the name at the front
    setup,           // the proxy's own (handshake, state replay): the reply is swallowed
    setup_critical,  // setup whose error reply closes the session (AUTH)
    resubscribe,     // silent re-subscription after a switch
    fence,           // silent SWAPDB 0 0 before a WAIT (kept when the queue is rebuilt)
};

// A reply the client is not sent as Redis wrote it.
enum class ReplyRewrite : std::uint8_t {
    none,
    exec_nil,      // EXEC sent as DISCARD because the WATCH state was lost: nil
    fence_failed,  // a WAIT whose fence failed: an error
};

struct Request {
    using Kind = protocol::CommandKind;

    std::uint32_t len = 0;  // its bytes in the queue's log (0: answered by the proxy)
    std::uint32_t flags = 0;
    Kind kind = Kind::normal;
    protocol::SubFamily family = protocol::SubFamily::channel;
    protocol::TimeoutArg timeout = protocol::TimeoutArg::none;
    Answer answer = Answer::redis;
    ReplyRewrite rewrite = ReplyRewrite::none;
    protocol::RespVersion proto = protocol::RespVersion::resp2;  // of a shared link
    bool close_after = false;   // QUIT, or a protocol error: close once answered
    bool shared = false;        // goes over a shared link (else the dedicated one)
    bool resendable = false;    // command_policy: safe to send again
    bool replica_read = false;  // may be read from a replica (routing.read_from)
    bool in_tx = false;         // queued inside MULTI: replayed on a new link
    bool streamed = false;      // forwarded as it arrived (len 0): can never be re-sent
    std::int32_t expect = 1;    // frames still expected (-1: count at the front)
    std::uint64_t issued_ms = 0;
    // When sent, by uv_hrtime in microseconds: the backend latency histogram (issued_ms,
    // the loop's millisecond clock, times commands out).
    std::uint64_t issued_us = 0;
    // The arguments of the rare commands whose reply changes the connection state, and of
    // blocking commands (re-issued with the time left): kept from the one framing, never
    // parsed again.
    std::shared_ptr<const std::vector<std::string>> args;

    bool local() const {
        return answer == Answer::local || answer == Answer::local_change ||
               answer == Answer::local_getname;
    }
    // The proxy's own request: its reply never reaches the client.
    bool silent() const {
        return answer == Answer::setup || answer == Answer::setup_critical ||
               answer == Answer::resubscribe || answer == Answer::fence;
    }
    // A request of the client that Redis answers (counted as failed if never answered).
    bool owed() const { return !local() && !silent(); }
    bool subscription() const { return kind == Kind::subscribe || kind == Kind::unsubscribe; }
};

}  // namespace sp::proxy
