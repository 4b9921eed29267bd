// An in-memory Stream for driving sessions and backend links without sockets: the owner's
// writes collect in wire() when it flushes, and the test hands bytes, connect results,
// drains and closes to the owner's handler from its own step loop (never from inside a call
// the owner made, as the Stream contract requires). The test owns every MemStream and frees
// them all at the end; close() only detaches the handler.
#pragma once

#include <uv.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "proxy/net/stream.h"

namespace sp::fuzz {

class MemStream final : public proxy::Stream {
  public:
    MemStream(Handler* handler, std::string peer) : handler_(handler), peer_(std::move(peer)) {}

    // proxy::Stream
    void set_handler(Handler* handler) override { handler_ = handler; }
    void start_reading() override { reading_ = true; }
    void stop_reading() override { reading_ = false; }
    bool reading() const override { return reading_; }
    bool peer_hung_up() const override { return false; }  // the test says on_closed instead
    std::string& out() override { return out_; }
    void flush() override {
        if (out_.empty()) return;
        wire_ += out_;
        out_.clear();
        drain_due_ = true;
    }
    std::size_t pending_bytes() const override { return out_.size() + wire_.size(); }
    void close() override {
        handler_ = nullptr;
        closed_ = true;
        out_.clear();
    }
    void close_after_flush() override {
        flush();
        handler_ = nullptr;
        closed_ = true;
    }
    void end_output() override {
        flush();
        output_ended_ = true;
    }
    std::string peer() const override { return peer_; }

    // The test's side.
    Handler* handler() const { return handler_; }
    bool closed() const { return closed_; }
    // The owner ended its writing side (after what it flushed before).
    bool output_ended() const { return output_ended_; }
    // What the owner wrote and flushed, taken by the peer.
    std::string take_wire() {
        std::string w;
        w.swap(wire_);
        return w;
    }
    // Hands up to `max` bytes of `data` to the handler while it reads; returns how many.
    std::size_t deliver(std::string_view data, std::size_t max) {
        std::size_t done = 0;
        while (handler_ && reading_ && done < data.size() && done < max) {
            uv_buf_t buf = handler_->on_alloc(std::min<std::size_t>(max - done, 64 * 1024));
            if (buf.len == 0 || !buf.base) break;
            std::size_t n = std::min<std::size_t>({buf.len, data.size() - done, max - done});
            std::memcpy(buf.base, data.data() + done, n);
            done += n;
            handler_->on_read(n);
        }
        return done;
    }
    // After the peer took the wire: the owner hears its queue drained.
    void report_drained() {
        if (!drain_due_ || !wire_.empty()) return;
        drain_due_ = false;
        if (handler_) handler_->on_drained();
    }
    void destroy() { delete this; }

  private:
    ~MemStream() override = default;

    Handler* handler_;
    std::string peer_;
    std::string out_;
    std::string wire_;
    bool reading_ = false;
    bool closed_ = false;
    bool drain_due_ = false;
    bool output_ended_ = false;
};

}  // namespace sp::fuzz
