// Bounds the TLS handshake work one loop turn does (issue 24). A server-side handshake step
// costs milliseconds of CPU (a signature, a key exchange, a client certificate's check); run
// straight from the read callback, 2,000 clients connecting at once made one poll phase do
// seconds of them, and every connected client and the Sentinel links waited that long.
//
// A TlsStream whose client sent handshake bytes queues itself here instead; an idle handle
// runs queued steps until kTurnBudget is spent (at least one per turn), then lets the loop
// poll, so connected clients, Sentinel links and timers are served between slices. A burst
// delays new clients, not connected ones. Handshakes already under way come before new ones:
// a client that got its server hello finishes soon rather than after the whole burst.
//
// One queue per loop, made while something is queued and gone once it is empty: no handle
// outlives the streams that needed it. The proxy's own TLS links (to Redis and Sentinel) do
// not queue: they are few, and the Sentinel view must not wait behind a client burst.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>

namespace sp::proxy {

class TlsHandshakeQueue {
  public:
    // Handshake CPU one loop turn may spend before polling again.
    static constexpr std::uint64_t kTurnBudgetNs = 4'000'000;

    // What waits in the queue (a TlsStream): linked in place, no allocation per step.
    class Entry {
      public:
        bool queued() const { return queue_ != nullptr; }

      protected:
        Entry() = default;
        ~Entry();
        Entry(const Entry&) = delete;
        Entry& operator=(const Entry&) = delete;
        // Runs the handshake with the bytes received so far (may close the stream).
        virtual void run_handshake_step() = 0;

      private:
        friend class TlsHandshakeQueue;
        TlsHandshakeQueue* queue_ = nullptr;
        Entry* prev_ = nullptr;
        Entry* next_ = nullptr;
        bool started_ = false;
    };

    // Queues `entry` on its loop's queue (no-op if already queued). `started`: its
    // handshake is under way (our hello went out), so it goes before new ones.
    static void push(uv_loop_t* loop, Entry* entry, bool started);
    // Takes `entry` out (closed, or its step is no longer needed); no-op if not queued.
    static void remove(Entry* entry);
    // Entries queued on `loop` now (tests, metrics).
    static std::size_t size(uv_loop_t* loop);

  private:
    struct List {
        Entry* head = nullptr;
        Entry* tail = nullptr;
    };

    explicit TlsHandshakeQueue(uv_loop_t* loop);
    ~TlsHandshakeQueue() = default;
    static TlsHandshakeQueue* find(uv_loop_t* loop);
    void link(Entry* entry);
    void unlink(Entry* entry);
    void run_turn();
    void close_if_empty();

    uv_loop_t* loop_;
    uv_idle_t* idle_;  // freed in its close callback
    List started_;
    List fresh_;
    std::size_t size_ = 0;
    bool running_ = false;  // in run_turn(): the queue is not closed under it
};

}  // namespace sp::proxy
