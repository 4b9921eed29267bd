// A client's requests in the order it sent them, until each is answered: replies go back
// strictly in that order whichever link answered. The queue owns the requests' bytes (one
// log, no allocation per request once warm), which of them were sent (to a link, or are
// local) and how many await a backend reply, and the replies the proxy makes itself.
//
//   [front ............ sent() ............ size())
//    sent or local        not sent yet
//    in_flight() of them await Redis
//
// After a lost link it is rebuilt in one place (reissue_after): the new link's set-up
// first, then every request still unanswered, blocking ones with the time they have left.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/session/request.h"
#include "proxy/session/slot_ring.h"

namespace sp::proxy {

class RequestQueue {
  public:
    bool empty() const { return requests_.empty(); }
    std::size_t size() const { return requests_.size(); }
    Request& front() { return requests_.front(); }
    const Request& front() const { return requests_.front(); }
    Request& back() { return requests_.back(); }
    Request& operator[](std::size_t i) { return requests_[i]; }
    const Request& operator[](std::size_t i) const { return requests_[i]; }
    auto begin() const { return requests_.begin(); }
    auto end() const { return requests_.end(); }

    // Requests written to a link (or local) that are not answered yet.
    std::size_t sent() const { return sent_; }
    // Requests not sent yet (held while no master is verified).
    std::size_t unsent() const { return requests_.size() - sent_; }
    std::size_t in_flight() const { return in_flight_; }

    // A request whose bytes are `raw` (copied to the log).
    void push(std::string_view raw, Request r);
    // A request the proxy answers with `reply` (r.answer is one of the local ones).
    void push_local(std::string reply, Request r);
    // A command streamed as it arrives (nothing else is owed): sent and in flight at once.
    void push_streamed(Request r);

    // The first request not sent yet, and its bytes.
    Request& next() { return requests_[sent_]; }
    std::string_view next_bytes() const { return {log_.data() + unsent_, requests_[sent_].len}; }
    // next() was written to a link (`to_redis`), or is local and counts as sent.
    void mark_sent(bool to_redis);

    std::string_view front_bytes() const { return {log_.data() + head_, requests_.front().len}; }
    // The front's local reply (a local request at the front).
    std::string& local_reply() { return local_replies_.front(); }
    // The front was answered by Redis; true when nothing more is in flight.
    bool pop_answered();
    // The local front was answered.
    void pop_local();

    // Requests the client is owed a reply from Redis for (failed if the proxy closes).
    std::size_t owed() const;
    std::size_t unsent_owed() const;
    bool has_unsent_for_redis() const;
    bool streamed_in_flight() const;
    // Whether every request sent and unanswered may be sent again (command_policy).
    bool in_flight_resendable() const;
    bool any_resubscribe(std::size_t from = 0) const;

    // A lost link: nothing counts as sent any more. Returns the client's requests that were
    // sent (re-sent, commands_resent).
    std::size_t unsend_all();
    // No link is needed now: the previous link's set-up requests are forgotten.
    void forget_setup();
    // A new dedicated link: `setup` (its set-up requests) then every request still here.
    // The previous set-up is dropped (a fence kept), blocking commands get the time left
    // after `now_ms` (or `expired_reply` when none is), subscriptions partly confirmed
    // keep only their unconfirmed channels. Nothing is sent or in flight afterwards.
    void reissue_after(RequestQueue setup, std::uint64_t now_ms, const std::string& expired_reply);

    // Memory: bytes still kept, bytes not yet sent (the query buffer), heap of the rings.
    std::size_t backlog_bytes() const { return log_.size() - head_; }
    std::size_t unsent_bytes() const { return log_.size() - unsent_; }
    std::size_t heap_bytes() const { return requests_.heap_bytes() + local_replies_.heap_bytes(); }
    // Empty and idle: give the rings' and the log's heap back.
    void release_if_empty();

  private:
    SlotRing<Request> requests_;
    SlotRing<std::string> local_replies_;
    std::string log_;            // bytes of the requests, from head_
    std::size_t head_ = 0;       // log_ offset of front()
    std::size_t unsent_ = 0;     // log_ offset of next()
    std::size_t sent_ = 0;       // requests [0, sent_) were sent or are local
    std::size_t in_flight_ = 0;  // of those, awaiting a backend reply
};

// The blocking command `r`, issued at r.issued_ms, with the time left at `now_ms`; false
// when none is (its timeout ran out while the master was away).
bool reissue_blocking(std::string& out, const Request& r, std::uint64_t now_ms);

}  // namespace sp::proxy
