// Finds where each server reply ends without building objects. A byte-level state machine
// (type byte, line, length, blob body, blob CRLF) plus a stack of "elements still
// expected" per open aggregate; it resumes anywhere, so replies may arrive in any
// fragmentation. Blob bodies are skipped by count and lines found with memchr, so the
// cost is a few instructions per header byte and nearly nothing per body byte.
#include "protocol/reply_framer.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace sp::protocol {

namespace {

constexpr std::int64_t kMaxNumber = 1LL << 60;  // far above any limit, far from overflow

bool is_line_type(char c) {
    switch (c) {
        case '+':
        case '-':
        case ':':
        case '_':
        case ',':
        case '#':
        case '(':
            return true;
        default:
            return false;
    }
}
bool is_blob_type(char c) {
    return c == '$' || c == '!' || c == '=';
}
bool is_aggregate_type(char c) {
    return c == '*' || c == '%' || c == '~' || c == '>' || c == '|';
}
bool has_text(char c) {
    return c != '_' && (is_line_type(c) || is_blob_type(c));
}

}  // namespace

ReplyFramer::ReplyFramer() : ReplyFramer(Limits{}) {}
ReplyFramer::ReplyFramer(Limits limits) : limits_(limits) {
    stack_.reserve(8);
}

void ReplyFramer::reset() {
    state_ = State::type;
    cur_type_ = 0;
    negative_ = have_digit_ = saw_cr_ = false;
    number_ = bulk_left_ = 0;
    stack_.clear();
    info_ = FrameInfo{};
    capturing_head_ = false;
    frame_bytes_ = 0;
    error_.clear();
}

bool ReplyFramer::at_boundary() const {
    return frame_bytes_ == 0 && error_.empty();
}

bool ReplyFramer::fail(std::string text) {
    error_ = std::move(text);
    return false;
}

void ReplyFramer::capture(const char* p, std::size_t n) {
    if (!capturing_head_) return;
    const std::size_t room = FrameInfo::kHeadMax - info_.head_len;
    const std::size_t take = std::min(room, n);
    std::memcpy(info_.head + info_.head_len, p, take);
    info_.head_len += take;
    if (info_.head_len == FrameInfo::kHeadMax) capturing_head_ = false;
}

bool ReplyFramer::begin_value(char type) {
    const bool top = stack_.empty();
    bool first_element = false;
    if (!top && type != '|') {
        Level& level = stack_.back();
        first_element = stack_.size() == 1 && !level.attribute && level.first;
        level.first = false;
    }
    cur_type_ = type;
    if (top && type != '|') {
        info_.type = type;
        info_.push = type == '>';
        info_.error = type == '-' || type == '!';
        info_.null = type == '_';
    }
    capturing_head_ = has_text(type) && ((top && type != '|') || first_element);
    saw_cr_ = false;
    if (is_line_type(type)) {
        state_ = State::line;
        return true;
    }
    if (is_blob_type(type) || is_aggregate_type(type)) {
        state_ = State::number;
        negative_ = have_digit_ = false;
        number_ = 0;
        return true;
    }
    std::string text = "Protocol error: invalid reply type byte '";
    text.push_back(type);
    text.push_back('\'');
    return fail(std::move(text));
}

bool ReplyFramer::value_done() {
    state_ = State::type;
    capturing_head_ = false;
    while (!stack_.empty()) {
        Level& level = stack_.back();
        if (--level.remaining > 0) return false;
        const bool attribute = level.attribute;
        stack_.pop_back();
        // An attribute annotates the value that follows; that value is the element.
        if (attribute) return false;
    }
    return true;
}

// Acts on a finished length line: starts a blob body or an aggregate. Nulls and empty
// aggregates are whole values already (returns 1); an empty attribute is nothing (0).
int ReplyFramer::on_number() {
    const char type = cur_type_;
    if (negative_) {
        if (number_ == 1 && (type == '$' || type == '*')) {
            if (stack_.empty()) info_.null = true;
            return 1;
        }
        fail("Protocol error: invalid length");
        return -1;
    }
    if (is_blob_type(type)) {
        if (number_ > limits_.max_bulk_len) {
            fail("Protocol error: bulk length too big");
            return -1;
        }
        bulk_left_ = number_;
        state_ = bulk_left_ > 0 ? State::bulk_body : State::bulk_crlf;
        saw_cr_ = false;
        return 0;
    }
    const bool pairs = type == '%' || type == '|';
    const std::int64_t elements = pairs ? number_ * 2 : number_;
    if (elements > limits_.max_aggregate_len) {
        fail("Protocol error: aggregate length too big");
        return -1;
    }
    if (stack_.empty() && type != '|') info_.aggregate_len = number_;
    state_ = State::type;
    if (elements == 0) return type == '|' ? 0 : 1;
    if (stack_.size() >= limits_.max_depth) {
        fail("Protocol error: nesting too deep");
        return -1;
    }
    stack_.push_back(Level{elements, type == '|', true});
    return 0;
}

ReplyFramer::Status ReplyFramer::feed(const char* data, std::size_t len, std::size_t& consumed,
                                      FrameInfo& out) {
    consumed = 0;
    if (!error_.empty()) return Status::error;
    std::size_t i = 0;
    bool done = false;
    bool ok = true;
    while (i < len && !done && ok) {
        switch (state_) {
            case State::type: {
                ok = begin_value(data[i++]);
                break;
            }
            case State::line: {
                if (saw_cr_) {
                    const char c = data[i++];
                    if (c == '\n') {
                        done = value_done();
                    } else {
                        capture("\r", 1);
                        if (c != '\r') {
                            saw_cr_ = false;
                            capture(&c, 1);
                        }
                    }
                    break;
                }
                const void* cr = std::memchr(data + i, '\r', len - i);
                const std::size_t stop =
                    cr ? static_cast<std::size_t>(static_cast<const char*>(cr) - data) : len;
                capture(data + i, stop - i);
                i = stop;
                if (cr) {
                    ++i;
                    saw_cr_ = true;
                }
                break;
            }
            case State::number: {
                const char c = data[i++];
                if (saw_cr_) {
                    if (c != '\n' || !have_digit_) {
                        ok = fail("Protocol error: invalid length line");
                        break;
                    }
                    saw_cr_ = false;
                    const int r = on_number();
                    if (r < 0) {
                        ok = false;
                    } else if (r > 0) {
                        done = value_done();
                    }
                } else if (c >= '0' && c <= '9') {
                    // "03", "-01": no leading zeros, as Redis's string2ll and hiredis.
                    if (number_ > kMaxNumber / 10 || (have_digit_ && number_ == 0)) {
                        ok = fail("Protocol error: invalid length");
                        break;
                    }
                    number_ = number_ * 10 + (c - '0');
                    have_digit_ = true;
                } else if (c == '-' && !negative_ && !have_digit_) {
                    negative_ = true;
                } else if (c == '\r') {
                    saw_cr_ = true;
                } else {
                    ok = fail("Protocol error: invalid length line");
                }
                break;
            }
            case State::bulk_body: {
                const std::size_t take =
                    static_cast<std::size_t>(std::min<std::int64_t>(bulk_left_, len - i));
                capture(data + i, take);
                i += take;
                bulk_left_ -= static_cast<std::int64_t>(take);
                if (bulk_left_ == 0) {
                    state_ = State::bulk_crlf;
                    saw_cr_ = false;
                }
                break;
            }
            case State::bulk_crlf: {
                const char c = data[i++];
                if (!saw_cr_) {
                    if (c != '\r') ok = fail("Protocol error: expected CRLF after blob");
                    saw_cr_ = true;
                } else {
                    if (c != '\n') ok = fail("Protocol error: expected CRLF after blob");
                    saw_cr_ = false;
                    if (ok) done = value_done();
                }
                break;
            }
        }
    }
    frame_bytes_ += i;
    consumed = i;
    if (!ok) return Status::error;
    if (!done) return Status::incomplete;
    out = info_;
    out.length = frame_bytes_;
    info_ = FrameInfo{};
    frame_bytes_ = 0;
    return Status::complete;
}

bool array_elements_ok(std::string_view frame, std::vector<bool>& ok) {
    ok.clear();
    const std::size_t eol = frame.find("\r\n");
    if (frame.empty() || frame[0] != '*' || eol == std::string_view::npos ||
        frame.substr(0, eol) == "*-1")
        return false;
    ReplyFramer framer;
    std::size_t pos = eol + 2;
    while (pos < frame.size()) {
        std::size_t consumed = 0;
        FrameInfo info;
        if (framer.feed(frame.data() + pos, frame.size() - pos, consumed, info) !=
            ReplyFramer::Status::complete)
            return false;
        ok.push_back(!info.error);
        pos += consumed;
    }
    return true;
}

}  // namespace sp::protocol
