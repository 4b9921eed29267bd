// The inside of RequestParser, shared by its two source files: request_parser.cpp (the
// buffer, the multibulk pre-scan, hiredis, streaming) and request_inline.cpp (inline
// commands). Not part of the protocol library's interface.
#pragma once

#include <hiredis/read.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "protocol/request_parser.h"

namespace sp::protocol::parser_detail {

inline constexpr std::size_t kMinBuffer = 4096;
// Buffers and scratch space above this size are released when a command is done with them
// (the thread's hiredis buffer, the lent parser state).
inline constexpr std::size_t kIdleKeep = 16 * 1024;

inline char lower_ascii(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// Redis's string2ll(): optional '-', no '+', no leading zeros, "0" alone, no "-0".
inline bool parse_ll(const char* p, std::size_t n, long long& out) {
    if (n == 0 || n > 20) return false;
    if (n == 1 && p[0] == '0') {
        out = 0;
        return true;
    }
    bool negative = false;
    std::size_t i = 0;
    if (p[0] == '-') {
        negative = true;
        if (++i == n) return false;
    }
    if (p[i] < '1' || p[i] > '9') return false;
    unsigned long long v = static_cast<unsigned long long>(p[i] - '0');
    for (++i; i < n; ++i) {
        if (p[i] < '0' || p[i] > '9') return false;
        unsigned long long d = static_cast<unsigned long long>(p[i] - '0');
        if (v > (std::numeric_limits<unsigned long long>::max() - d) / 10) return false;
        v = v * 10 + d;
    }
    if (negative) {
        if (v > static_cast<unsigned long long>(std::numeric_limits<long long>::max()) + 1)
            return false;
        out = static_cast<long long>(0 - v);
    } else {
        if (v > static_cast<unsigned long long>(std::numeric_limits<long long>::max()))
            return false;
        out = static_cast<long long>(v);
    }
    return true;
}

inline bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}
inline bool is_space(char c) {  // C isspace() in the "C" locale
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

}  // namespace sp::protocol::parser_detail

namespace sp::protocol {

struct RequestParser::Impl {
    // What the pre-scan is looking at in the command that starts at `start`.
    enum class Mode : std::uint8_t { idle, inline_line, mb_count, mb_bulk_header, mb_bulk_body };

    explicit Impl(ParserLimits l) : limits(l) {}

    ParserLimits limits;

    // Input buffer: [start, end) of data is received and not yet returned as commands. data
    // is own, or a shared area lent by write_area(min, shared) until keep_unread().
    char* data = nullptr;
    std::size_t cap = 0;
    std::unique_ptr<char[]> own;
    std::size_t own_cap = 0;
    std::size_t start = 0;
    std::size_t end = 0;

    // Resumable pre-scan of the command starting at `start`.
    Mode mode = Mode::idle;
    std::size_t scan = 0;        // absolute offset where scanning resumes
    std::size_t line_start = 0;  // absolute offset of the header line being read
    long long elems_left = 0;    // bulks still expected
    long long body_left = 0;     // bytes of the current bulk (with its CRLF) still expected
    long long elems_total = 0;
    bool inline_nul = false;    // the inline line in progress has a NUL before any '\n'
    bool authenticated = true;  // false: the unauthenticated_* limits apply

    // Streaming (ParserLimits::stream_bulk_len): the command's first arguments, recorded by
    // the pre-scan as (offset from start, len), up to kMaxStreamHead of them.
    std::vector<std::pair<std::size_t, std::size_t>> head;
    bool offered = false;    // stream_start returned; waiting for begin or decline
    bool declined = false;   // this command is framed whole
    bool streaming = false;  // begun: [start, ...) is the rest of the command

    // The hiredis reader for multibulk commands is one per thread (shared_reader()): a
    // command is fed and read whole in one call, so parsers never interleave on it.
    const char* fed_base = nullptr;  // start of the current command inside reader->buf
    bool reader_bad = false;         // a callback saw something that is not a flat bulk array
    char bad_type = 0;
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // (offset, len) from start

    // Output storage, reused across commands.
    std::vector<std::string_view> argv;
    std::string name;
    std::string scratch;  // unescaped inline arguments

    static redisReader* shared_reader();
    void shift(std::size_t by);
    // Copies [start, end) into own storage of at least `cap_wanted` bytes, at offset 0.
    void rebase(std::size_t cap_wanted);
    bool borrowed() const { return data != own.get(); }
    bool empty_idle() const { return start == end && mode == Mode::idle && !streaming && !offered; }
    std::span<char> write_area(std::size_t min_size);

    // One framing step; `error` leaves the text in `err`.
    enum class Step { command, skipped, incomplete, error, stream_start, stream_end };
    Step step(Command& out, std::string& err);
    Step step_inline(Command& out, std::string& err);
    Step step_multibulk(Command& out, std::string& err);
    // Reads a "<c><number>\r\n" header line starting at line_start. Returns 1 when read,
    // 0 when more bytes are needed, -1 when the number is malformed.
    int read_header(long long& value, bool& too_big);
    bool finish_multibulk(Command& out, std::string& err);
    void set_name(Command& out);
    void stream_head(Command& out);

    static void* on_string(const redisReadTask* task, char* str, std::size_t len);
    static void* on_array(const redisReadTask* task, int elements);
    static void* on_integer(const redisReadTask* task, long long value);
    static void* on_nil(const redisReadTask* task);
    static void on_free(void*) {}
};

}  // namespace sp::protocol
