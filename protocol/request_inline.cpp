// Inline commands (a line of words, as telnet sends them), split like Redis's
// sdssplitargs: quotes, escapes, and Redis's limits and error texts.
#include <cstring>

#include "protocol/request_parser_impl.h"

namespace sp::protocol {

using namespace parser_detail;

RequestParser::Impl::Step RequestParser::Impl::step_inline(Command& out, std::string& err) {
    const char* base = data;
    const void* nl = nullptr;
    if (!inline_nul && scan < end) {
        nl = std::memchr(base + scan, '\n', end - scan);
        const std::size_t stop =
            nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - base) : end;
        // Redis looks for the line's end with strchr(), so a NUL before the '\n' hides it:
        // Redis waits for more (and past 64 KiB answers "too big inline request"). The
        // proxy does the same rather than forward a line Redis would never answer.
        if (std::memchr(base + scan, '\0', stop - scan)) {
            inline_nul = true;
            nl = nullptr;
        }
    }
    if (nl == nullptr) {
        scan = end;
        // A line of exactly the maximum may still be waiting for "\n" after its "\r".
        const std::size_t pending = end - start;
        if (pending > limits.max_inline_len &&
            (inline_nul || !(pending == limits.max_inline_len + 1 && base[end - 1] == '\r'))) {
            err = "Protocol error: too big inline request";
            return Step::error;
        }
        return Step::incomplete;
    }
    const std::size_t nl_at = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
    std::size_t line_end = nl_at;
    if (line_end > start && base[line_end - 1] == '\r') --line_end;
    if (line_end - start > limits.max_inline_len) {
        err = "Protocol error: too big inline request";
        return Step::error;
    }

    // sdssplitargs() semantics (the line holds no NUL: see above).
    const char* line = base + start;
    const std::size_t n = line_end - start;
    auto at = [&](std::size_t i) -> char { return i < n ? line[i] : '\0'; };

    scratch.clear();
    spans.clear();
    std::size_t p = 0;
    for (;;) {
        while (p < n && is_space(line[p])) ++p;
        if (p >= n) break;
        const std::size_t token_start = scratch.size();
        bool inq = false, insq = false, done = false;
        while (!done) {
            const char c = at(p);
            if (inq || insq) {
                const char quote = inq ? '"' : '\'';
                if (inq && c == '\\' && at(p + 1) == 'x' && is_hex(at(p + 2)) &&
                    is_hex(at(p + 3))) {
                    scratch.push_back(
                        static_cast<char>(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3))));
                    p += 3;
                } else if (inq && c == '\\' && at(p + 1)) {
                    ++p;
                    char e = at(p);
                    switch (e) {
                        case 'n':
                            e = '\n';
                            break;
                        case 'r':
                            e = '\r';
                            break;
                        case 't':
                            e = '\t';
                            break;
                        case 'b':
                            e = '\b';
                            break;
                        case 'a':
                            e = '\a';
                            break;
                        default:
                            break;
                    }
                    scratch.push_back(e);
                } else if (insq && c == '\\' && at(p + 1) == '\'') {
                    ++p;
                    scratch.push_back('\'');
                } else if (c == quote) {
                    // A closing quote must end the argument.
                    if (at(p + 1) && !is_space(at(p + 1))) goto unbalanced;
                    done = true;
                } else if (c == '\0') {
                    goto unbalanced;
                } else {
                    scratch.push_back(c);
                }
            } else {
                switch (c) {
                    case ' ':
                    case '\n':
                    case '\r':
                    case '\t':
                    case '\0':
                        done = true;
                        break;
                    case '"':
                        inq = true;
                        break;
                    case '\'':
                        insq = true;
                        break;
                    default:
                        scratch.push_back(c);
                        break;
                }
            }
            if (at(p)) ++p;
        }
        spans.emplace_back(token_start, scratch.size() - token_start);
    }

    {
        const std::size_t raw_start = start;
        start = scan = nl_at + 1;
        mode = Mode::idle;
        if (spans.empty()) return Step::skipped;
        argv.clear();
        for (auto [off, len] : spans) argv.emplace_back(scratch.data() + off, len);
        out.raw = std::string_view(base + raw_start, nl_at + 1 - raw_start);
        out.is_inline = true;
        set_name(out);
        return Step::command;
    }

unbalanced:
    err = "Protocol error: unbalanced quotes in request";
    return Step::error;
}

}  // namespace sp::protocol
