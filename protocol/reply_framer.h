// Finds where each server reply ends, without building objects, for RESP2 and RESP3
// (+ - : $ * _ , # ! = ( % ~ > |, nested, fragmented anywhere). The proxy streams reply
// bytes to the client as they arrive and only needs boundaries, the kind of the top-level
// frame and a few leading bytes (to spot -READONLY, -UNBLOCKED, +QUEUED, pub/sub
// messages). Debian's hiredis 0.14 predates RESP3, which is why this framer exists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sp::protocol {

struct FrameInfo {
    char type = 0;       // first byte of the top-level frame: '+', '-', '$', '*', '>', ...
    bool push = false;   // RESP3 push ('>'): out of band, not a reply to a command
    bool error = false;  // '-' or '!' at top level
    bool null = false;   // '_', '$-1', '*-1' at top level
    std::int64_t aggregate_len = -1;  // element count of a top-level aggregate, else -1
                                      // (as declared: pairs for a '%' map)
    // Up to kHeadMax bytes of content: for a top-level simple/blob/error, its text; for a
    // top-level aggregate, the text of its first element when that is a string type
    // (e.g. "message", "subscribe", "pong"). Enough to classify without parsing again.
    static constexpr std::size_t kHeadMax = 48;
    char head[kHeadMax] = {};
    std::size_t head_len = 0;
    std::size_t length = 0;  // total bytes of the frame

    std::string_view head_view() const { return {head, head_len}; }
};

// A top-level RESP3 attribute ('|') is part of the frame that follows it: `length` covers
// both, while type/push/error/null/aggregate_len/head describe the value after it.
class ReplyFramer {
  public:
    enum class Status { complete, incomplete, error };

    struct Limits {
        std::size_t max_depth = 128;                           // nesting
        std::int64_t max_bulk_len = 4LL * 1024 * 1024 * 1024;  // refuse absurd lengths
        std::int64_t max_aggregate_len = 1LL << 32;
    };

    // (Two constructors rather than `Limits limits = {}`: a default argument cannot use a
    // nested struct's member initializers inside the enclosing class.)
    ReplyFramer();
    explicit ReplyFramer(Limits limits);

    // Consumes bytes from `data`, resuming the frame in progress. Returns how many bytes
    // were consumed into *status*: `complete` stops right after the last byte of a frame
    // (described by `out`); `incomplete` consumed everything; `error` means the stream is
    // not RESP and the connection must be dropped (error_text() says why).
    Status feed(const char* data, std::size_t len, std::size_t& consumed, FrameInfo& out);

    // Forget any partial frame (after a reconnect).
    void reset();
    const std::string& error_text() const { return error_; }
    // True when between frames (no partial frame buffered).
    bool at_boundary() const;

  private:
    struct Level {
        std::int64_t remaining;  // elements still expected at this depth
        bool attribute;          // a '|' map: does not count as an element of its parent
        bool first;              // no element started yet (head capture of the first one)
    };
    enum class State : std::uint8_t { type, line, number, bulk_body, bulk_crlf };
    Limits limits_;
    State state_ = State::type;
    char cur_type_ = 0;
    bool negative_ = false;
    bool have_digit_ = false;
    std::int64_t number_ = 0;
    std::int64_t bulk_left_ = 0;
    bool saw_cr_ = false;
    std::vector<Level> stack_;
    FrameInfo info_;
    bool capturing_head_ = false;
    std::size_t frame_bytes_ = 0;
    std::string error_;

    bool begin_value(char type);
    int on_number();    // -1 error, 0 value continues, 1 value complete
    bool value_done();  // true when the top-level frame is complete
    void capture(const char* p, std::size_t n);
    bool fail(std::string text);
};

// For a complete top-level array frame (EXEC's reply), whether each element is not an
// error, in order, into `ok`. False when `frame` is not a non-null array.
bool array_elements_ok(std::string_view frame, std::vector<bool>& ok);

}  // namespace sp::protocol
