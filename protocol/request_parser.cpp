// Frames client requests out of a byte stream. libuv reads straight into the parser's
// buffer, or into a per-thread area that idle parsers share (write_area); a small resumable
// pre-scan walks the headers of the command in progress so Redis's limits and error texts apply as
// bytes arrive, and once a multibulk command is complete hiredis's redisReader parses it with
// object callbacks that allocate nothing and only record where each argument lies. Big bulks may
// stream (begin_stream). Inline commands are in request_inline.cpp; the parser's state in
// request_parser_impl.h.
#include "protocol/request_parser.h"

#include <hiredis/read.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include "protocol/request_parser_impl.h"

extern "C" {
// From hiredis's sds.c (exported by libhiredis); r->buf is an sds string.
void sdsclear(char* s);
char* sdsempty(void);
void sdsfree(char* s);
size_t sdsAllocSize(char* s);
}

namespace sp::protocol {

using namespace parser_detail;

std::string Command::lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lower_ascii(c);
    return out;
}

namespace {
// Returned for every object: non-NULL so hiredis carries on, never dereferenced.
char g_dummy_object;
}  // namespace

namespace {
// One hiredis reader per thread, shared by every parser on it (see Impl::fed_base).
struct SharedReader {
    redisReader* reader = nullptr;
    ~SharedReader() {
        if (reader) redisReaderFree(reader);
    }
};
thread_local SharedReader t_reader;

void reset_shared_reader() {
    if (t_reader.reader) redisReaderFree(t_reader.reader);
    t_reader.reader = nullptr;
}
}  // namespace

redisReader* RequestParser::Impl::shared_reader() {
    static redisReplyObjectFunctions functions = {&on_string, &on_array, &on_integer, &on_nil,
                                                  &on_free};
    if (!t_reader.reader) {
        t_reader.reader = redisReaderCreateWithFunctions(&functions);
        if (!t_reader.reader) throw std::bad_alloc();
        t_reader.reader->maxbuf = 0;  // finish_multibulk decides when to release its buffer
    }
    return t_reader.reader;
}

void* RequestParser::Impl::on_string(const redisReadTask* task, char* str, std::size_t len) {
    auto* self = static_cast<Impl*>(task->privdata);
    if (task->type != REDIS_REPLY_STRING || task->parent == nullptr) {
        self->reader_bad = true;
        self->bad_type = task->type == REDIS_REPLY_STATUS  ? '+'
                         : task->type == REDIS_REPLY_ERROR ? '-'
                                                           : '$';
    } else {
        self->spans.emplace_back(static_cast<std::size_t>(str - self->fed_base), len);
    }
    return &g_dummy_object;
}

void* RequestParser::Impl::on_array(const redisReadTask* task, int) {
    auto* self = static_cast<Impl*>(task->privdata);
    if (task->parent != nullptr) {
        self->reader_bad = true;
        self->bad_type = '*';
    }
    return &g_dummy_object;
}

void* RequestParser::Impl::on_integer(const redisReadTask* task, long long) {
    auto* self = static_cast<Impl*>(task->privdata);
    self->reader_bad = true;
    self->bad_type = ':';
    return &g_dummy_object;
}

void* RequestParser::Impl::on_nil(const redisReadTask* task) {
    auto* self = static_cast<Impl*>(task->privdata);
    self->reader_bad = true;
    self->bad_type = '$';
    return &g_dummy_object;
}

void RequestParser::Impl::shift(std::size_t by) {
    if (by == 0) return;
    std::memmove(data, data + by, end - by);
    start -= by;
    end -= by;
    scan -= by;
    line_start = line_start >= by ? line_start - by : 0;
}

void RequestParser::Impl::rebase(std::size_t cap_wanted) {
    const std::size_t live = end - start;
    const std::size_t by = start;
    if (own_cap < cap_wanted) {
        std::unique_ptr<char[]> fresh(new char[cap_wanted]);
        if (live) std::memcpy(fresh.get(), data + start, live);
        own = std::move(fresh);
        own_cap = cap_wanted;
    } else if (live && (borrowed() || by > 0)) {
        std::memmove(own.get(), data + start, live);
    }
    data = own.get();
    cap = own_cap;
    start -= by;
    end -= by;
    scan -= by;
    line_start = line_start >= by ? line_start - by : 0;
}

std::span<char> RequestParser::Impl::write_area(std::size_t min_size) {
    if (min_size == 0) min_size = 1;
    if (start == end && mode == Mode::idle) {
        start = end = scan = line_start = 0;
    }
    if (borrowed()) rebase(std::max({end - start + min_size, own_cap, kMinBuffer}));
    if (cap - end < min_size) {
        const std::size_t live = end - start;
        if (start > 0 && live + min_size <= cap && start >= live) {
            // Moving costs `live` bytes, paid for by the `start` bytes already consumed.
            shift(start);
        } else {
            rebase(std::max({cap * 2, live + min_size, kMinBuffer}));
        }
    }
    return {data + end, cap - end};
}

int RequestParser::Impl::read_header(long long& value, bool& too_big) {
    too_big = false;
    const char* base = data;
    const void* cr = nullptr;
    if (scan < end) cr = std::memchr(base + scan, '\r', end - scan);
    if (cr == nullptr) {
        scan = end;
        if (end - line_start > limits.max_inline_len) {
            too_big = true;
            return -1;
        }
        return 0;
    }
    const std::size_t cr_at = static_cast<std::size_t>(static_cast<const char*>(cr) - base);
    scan = cr_at;
    if (cr_at - line_start > limits.max_inline_len) {
        too_big = true;
        return -1;
    }
    if (cr_at + 1 >= end) return 0;  // need the '\n'
    if (base[cr_at + 1] != '\n') return -1;
    if (!parse_ll(base + line_start + 1, cr_at - line_start - 1, value)) return -1;
    scan = cr_at + 2;
    return 1;
}

void RequestParser::Impl::set_name(Command& out) {
    name.assign(argv[0]);
    for (char& c : name) c = lower_ascii(c);
    out.name = name;
    out.argv = std::span<const std::string_view>(argv.data(), argv.size());
}

RequestParser::Impl::Step RequestParser::Impl::step_multibulk(Command& out, std::string& err) {
    for (;;) {
        switch (mode) {
            case Mode::mb_count: {
                long long n = 0;
                bool too_big = false;
                const int r = read_header(n, too_big);
                if (r == 0) return Step::incomplete;
                // Redis's order: malformed, then unauthenticated, then the general limit.
                const bool malformed = r < 0 || n > std::numeric_limits<int>::max();
                if (!malformed && !authenticated &&
                    n > static_cast<long long>(limits.unauthenticated_max_args)) {
                    err = "Protocol error: unauthenticated multibulk length";
                    return Step::error;
                }
                if (malformed || n > static_cast<long long>(limits.max_multibulk_len)) {
                    err = too_big ? "Protocol error: too big mbulk count string"
                                  : "Protocol error: invalid multibulk length";
                    return Step::error;
                }
                if (n <= 0) {  // "*0", "*-1": empty command, skipped like Redis
                    start = scan;
                    mode = Mode::idle;
                    return Step::skipped;
                }
                elems_left = elems_total = n;
                mode = Mode::mb_bulk_header;
                line_start = scan;
                break;
            }
            case Mode::mb_bulk_header: {
                if (line_start >= end) return Step::incomplete;
                const char t = data[line_start];
                if (t != '$') {
                    err = "Protocol error: expected '$', got '";
                    err.push_back(t);
                    err.push_back('\'');
                    return Step::error;
                }
                long long n = 0;
                bool too_big = false;
                const int r = read_header(n, too_big);
                if (r == 0) return Step::incomplete;
                if (r < 0 || n < 0 || static_cast<unsigned long long>(n) > limits.max_bulk_len) {
                    err = too_big ? "Protocol error: too big bulk count string"
                                  : "Protocol error: invalid bulk length";
                    return Step::error;
                }
                if (!authenticated &&
                    static_cast<unsigned long long>(n) > limits.unauthenticated_max_bulk_len) {
                    err = "Protocol error: unauthenticated bulk length";
                    return Step::error;
                }
                body_left = n + 2;
                mode = Mode::mb_bulk_body;
                if (streaming || limits.stream_bulk_len == 0) break;
                {
                    const auto index = static_cast<std::size_t>(elems_total - elems_left);
                    if (!declined && index >= 1 && index <= kMaxStreamHead &&
                        static_cast<unsigned long long>(n) > limits.stream_bulk_len) {
                        offered = true;
                        stream_head(out);
                        return Step::stream_start;
                    }
                    if (index < kMaxStreamHead)
                        head.emplace_back(scan - start, static_cast<std::size_t>(n));
                }
                break;
            }
            case Mode::mb_bulk_body: {
                const long long avail = static_cast<long long>(end - scan);
                const long long take = std::min(avail, body_left);
                if (streaming) {
                    // The body's bytes are released as they pass: check its CRLF now.
                    for (long long k = std::max(0LL, body_left - 2); k < take; ++k) {
                        if (data[scan + static_cast<std::size_t>(k)] !=
                            (body_left - k == 2 ? '\r' : '\n')) {
                            err = "Protocol error: expected CRLF after bulk string";
                            return Step::error;
                        }
                    }
                }
                scan += static_cast<std::size_t>(take);
                body_left -= take;
                if (body_left > 0) return Step::incomplete;
                // Stricter than Redis (which skips the two bytes unchecked): a wrong bulk
                // length would make the proxy and the server disagree on the stream.
                if (!streaming && (data[scan - 2] != '\r' || data[scan - 1] != '\n')) {
                    err = "Protocol error: expected CRLF after bulk string";
                    return Step::error;
                }
                if (--elems_left > 0) {
                    mode = Mode::mb_bulk_header;
                    line_start = scan;
                    break;
                }
                if (streaming) return Step::stream_end;
                return finish_multibulk(out, err) ? Step::command : Step::error;
            }
            default:
                return Step::error;
        }
    }
}

bool RequestParser::Impl::finish_multibulk(Command& out, std::string& err) {
    const std::size_t cmd_len = scan - start;
    spans.clear();
    reader_bad = false;
    redisReader* reader = shared_reader();
    reader->privdata = this;
    if (redisReaderFeed(reader, data + start, cmd_len) != REDIS_OK) {
        err = std::string("Protocol error: ") + reader->errstr;
        return false;
    }
    // Everything before this command was consumed, so it starts at the read cursor.
    fed_base = reader->buf + reader->pos;
    void* reply = nullptr;
    const int rc = redisReaderGetReply(reader, &reply);
    const bool complete = rc == REDIS_OK && reply != nullptr;
    const bool consumed_all = reader->pos == reader->len;
    if (rc != REDIS_OK) {
        err = std::string("Protocol error: ") + reader->errstr;
        reset_shared_reader();
        return false;
    }
    // Drop whatever the reader holds so following bytes (possibly inline) start fresh, and
    // the memory a big command needed with them.
    reader->pos = 0;
    reader->len = 0;
    if (sdsAllocSize(reader->buf) > kIdleKeep) {
        sdsfree(reader->buf);
        reader->buf = sdsempty();
        if (!reader->buf) {
            reset_shared_reader();
            throw std::bad_alloc();
        }
    } else {
        sdsclear(reader->buf);
    }
    if (reader_bad) {
        err = "Protocol error: expected '$', got '";
        err.push_back(bad_type);
        err.push_back('\'');
        return false;
    }
    if (!complete || !consumed_all || spans.size() != static_cast<std::size_t>(elems_total)) {
        // The pre-scan and hiredis disagree on where the command ends: never forward it.
        err = "Protocol error: invalid multibulk request";
        reset_shared_reader();
        return false;
    }
    const char* base = data + start;
    argv.clear();
    for (auto [off, len] : spans) argv.emplace_back(base + off, len);
    out.raw = std::string_view(base, cmd_len);
    out.is_inline = false;
    set_name(out);
    start = scan;
    mode = Mode::idle;
    return true;
}

// The head of a command offered for streaming: its arguments before the big bulk, and its
// bytes up to the big bulk's body (scan).
void RequestParser::Impl::stream_head(Command& out) {
    const char* base = data + start;
    argv.clear();
    for (auto [off, len] : head) argv.emplace_back(base + off, len);
    out.raw = std::string_view(base, scan - start);
    out.is_inline = false;
    set_name(out);
}

RequestParser::Impl::Step RequestParser::Impl::step(Command& out, std::string& err) {
    if (offered) {
        stream_head(out);
        return Step::stream_start;
    }
    if (streaming) return Step::incomplete;
    if (mode == Mode::idle) {
        if (start == end) return Step::incomplete;
        inline_nul = false;
        declined = false;
        head.clear();
        scan = start;
        line_start = start;
        mode = data[start] == '*' ? Mode::mb_count : Mode::inline_line;
    }
    if (mode == Mode::inline_line) return step_inline(out, err);
    return step_multibulk(out, err);
}

// The framing state lent to the parser whose read is in the shared area: while one
// command arrives whole per read, framing allocates nothing and idle parsers hold nothing.
struct RequestParser::Lender {
    Impl impl{ParserLimits{}};
    RequestParser* user = nullptr;

    void reset() {
        Impl& im = impl;
        im.data = nullptr;
        im.cap = 0;
        im.own.reset();
        im.own_cap = 0;
        im.start = im.end = im.scan = im.line_start = 0;
        im.mode = Impl::Mode::idle;
        im.streaming = im.offered = im.declined = false;
        im.head.clear();
        if (im.scratch.capacity() > kIdleKeep) std::string().swap(im.scratch);
        if (im.name.capacity() > kIdleKeep) std::string().swap(im.name);
        if (im.argv.capacity() > 1024) std::vector<std::string_view>().swap(im.argv);
        if (im.spans.capacity() > 1024) decltype(im.spans)().swap(im.spans);
        if (im.head.capacity() > 1024) decltype(im.head)().swap(im.head);
        user = nullptr;
    }
};

RequestParser::Lender& RequestParser::lender() {
    thread_local Lender l;
    return l;
}

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {}

RequestParser::~RequestParser() {
    if (impl_ && impl_ != own_.get()) lender().reset();
}

void RequestParser::release_lent() {
    lender().reset();
    impl_ = nullptr;
}

RequestParser::Impl& RequestParser::own_impl() {
    if (impl_ && impl_ != own_.get()) keep_unread();  // lent: idle (released) or moved
    if (!impl_) {
        own_ = std::make_unique<Impl>(limits_);
        impl_ = own_.get();
    }
    return *impl_;
}

std::span<char> RequestParser::write_area(std::size_t min_size) {
    return own_impl().write_area(min_size);
}

std::span<char> RequestParser::write_area(std::size_t min_size, std::span<char> shared) {
    if (shared.size() < min_size || (impl_ && !impl_->empty_idle()))
        return own_impl().write_area(min_size);
    Lender& l = lender();
    // Whoever framed from the shared area last takes its unread bytes first.
    if (l.user && l.user != this) l.user->keep_unread();
    if (impl_ && impl_ == own_.get()) own_.reset();  // idle: its memory goes back
    l.reset();
    Impl& im = l.impl;
    im.limits = limits_;
    im.data = shared.data();
    im.cap = shared.size();
    l.user = this;
    impl_ = &im;
    return shared;
}

void RequestParser::keep_unread() {
    if (!impl_ || impl_ == own_.get()) return;
    Impl& im = *impl_;
    if (im.empty_idle()) {
        release_lent();
        return;
    }
    if (im.borrowed()) im.rebase(std::max(im.end - im.start, kMinBuffer));
    own_ = std::make_unique<Impl>(std::move(im));
    impl_ = own_.get();
    Lender& l = lender();
    l.impl = Impl(ParserLimits{});
    l.user = nullptr;
}

void RequestParser::commit(std::size_t n) {
    if (!impl_) return;
    Impl& im = *impl_;
    if (n > im.cap - im.end) n = im.cap - im.end;  // cannot commit past the area
    im.end += n;
}

void RequestParser::feed(std::string_view bytes) {
    if (bytes.empty()) return;
    auto area = write_area(bytes.size());
    std::memcpy(area.data(), bytes.data(), bytes.size());
    commit(bytes.size());
}

RequestParser::Status RequestParser::next(Command& out) {
    if (!error_.empty()) return Status::error;
    if (!impl_) return Status::incomplete;
    impl_->authenticated = authenticated_;
    for (;;) {
        switch (impl_->step(out, error_)) {
            case Impl::Step::command:
                return Status::command;
            case Impl::Step::stream_start:
                return Status::stream_start;
            case Impl::Step::stream_end:  // not returned outside streaming
                return Status::incomplete;
            case Impl::Step::skipped:
                continue;
            case Impl::Step::incomplete:
                return Status::incomplete;
            case Impl::Step::error:
                if (error_.empty()) error_ = "Protocol error";
                return Status::error;
        }
    }
}

void RequestParser::begin_stream() {
    if (!impl_) return;
    Impl& im = *impl_;
    if (!im.offered) return;
    im.offered = false;
    im.streaming = true;
    im.start = im.scan;  // the head is the caller's now
}

void RequestParser::decline_stream() {
    if (!impl_) return;
    Impl& im = *impl_;
    if (!im.offered) return;
    im.offered = false;
    im.declined = true;  // no other offer for this command
}

bool RequestParser::streaming() const {
    return impl_ && impl_->streaming;
}

RequestParser::Chunk RequestParser::next_stream_chunk(std::string_view& bytes) {
    bytes = {};
    if (!error_.empty()) return Chunk::error;
    if (!impl_ || !impl_->streaming) return Chunk::incomplete;
    Impl& im = *impl_;
    im.authenticated = authenticated_;
    Command unused;
    const Impl::Step st = im.step_multibulk(unused, error_);
    if (st == Impl::Step::error) {
        if (error_.empty()) error_ = "Protocol error";
        return Chunk::error;
    }
    // A header line is handed on only once it is read whole (it may still be refused).
    const std::size_t upto = im.mode == Impl::Mode::mb_bulk_header ? im.line_start : im.scan;
    bytes = std::string_view(im.data + im.start, upto - im.start);
    im.start = upto;
    if (st == Impl::Step::stream_end) {
        im.streaming = false;
        im.mode = Impl::Mode::idle;
        return Chunk::end;
    }
    return bytes.empty() ? Chunk::incomplete : Chunk::data;
}

std::size_t RequestParser::buffered() const {
    return impl_ ? impl_->end - impl_->start : 0;
}

void RequestParser::shrink_if_idle() {
    if (!impl_ || !impl_->empty_idle()) return;
    if (impl_ != own_.get()) {
        release_lent();
        return;
    }
    own_.reset();
    impl_ = nullptr;
}

}  // namespace sp::protocol
