// Fuzz target for RequestParser. The first byte picks limits; the rest is the client
// stream. The stream is framed whole, byte by byte (through write_area/commit) and in
// random fragments (sizes from a PRNG seeded by the input, alternating feed() and
// write_area/commit), and all runs must agree exactly. Invariants (abort() on violation):
// every raw is the exact input bytes ending at the consumed offset, bytes skipped between
// commands frame to nothing (so raws and skipped gaps concatenate back to the consumed
// input), multibulk argv re-encodes to raw, name is argv[0] lower-cased, and nothing
// consumed is still counted as buffered. With streaming on (mode bit 4, a tiny
// stream_bulk_len), every offer is taken: head and chunks concatenate to exactly the input
// bytes, nothing handed on stays buffered, and the raws equal those of a parser that does
// not stream, up to the first error. Two parsers that take turns with one shared read area
// (write_area(n, shared), keep_unread) must frame exactly the same.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/request_parser.h"
#include "tests/fuzz/fuzz_support.h"

using sp::protocol::Command;
using sp::protocol::ParserLimits;
using sp::protocol::RequestParser;
using namespace sp::fuzz;  // check, Rng, hash

namespace {

struct Framed {
    std::vector<std::string> argv;
    std::string raw;
    bool is_inline;
    std::size_t end;  // stream offset just after the command
    bool streamed = false;
};

struct Run {
    std::vector<Framed> commands;
    Framed streaming;  // the streamed command in progress
    RequestParser::Status last = RequestParser::Status::incomplete;
    std::string error;
};

std::string multibulk(const std::vector<std::string>& argv) {
    std::string out = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

// Bytes the parser skipped must frame to no command at all.
void check_skippable(std::string_view gap) {
    if (gap.empty()) return;
    RequestParser p;
    p.feed(gap);
    Command cmd;
    check(p.next(cmd) == RequestParser::Status::incomplete);
    check(p.buffered() == 0);
}

void drain(RequestParser& p, std::string_view input, std::size_t fed, Run& run) {
    Command cmd;
    for (;;) {
        if (p.streaming()) {
            std::string_view chunk;
            const auto c = p.next_stream_chunk(chunk);
            Framed& f = run.streaming;
            f.raw.append(chunk);
            check(p.buffered() <= fed);
            // Everything handed on is the input up to what is still buffered.
            check(input.substr(fed - p.buffered() - f.raw.size(), f.raw.size()) == f.raw);
            if (c == RequestParser::Chunk::error) {
                run.last = RequestParser::Status::error;
                break;
            }
            if (c == RequestParser::Chunk::incomplete) {
                check(chunk.empty());
                run.last = RequestParser::Status::incomplete;
                return;  // streaming: nothing consumed may be checked as skippable yet
            }
            check(!chunk.empty());
            if (c == RequestParser::Chunk::end) {
                f.end = fed - p.buffered();
                run.commands.push_back(std::move(f));
                run.streaming = Framed{};
            }
            continue;
        }
        run.last = p.next(cmd);
        if (run.last == RequestParser::Status::stream_start) {
            Command again;
            check(p.next(again) == RequestParser::Status::stream_start);
            check(again.raw == cmd.raw && again.argc() == cmd.argc());
            check(cmd.argc() >= 1 && cmd.argc() <= RequestParser::kMaxStreamHead);
            check(cmd.raw.size() <= p.buffered());
            const std::size_t at = fed - p.buffered();
            check(input.substr(at, cmd.raw.size()) == cmd.raw);
            Framed f;
            for (auto a : cmd.argv) f.argv.emplace_back(a);
            const std::size_t prev_end = run.commands.empty() ? 0 : run.commands.back().end;
            check(at >= prev_end);
            check_skippable(input.substr(prev_end, at - prev_end));
            f.raw = std::string(cmd.raw);
            f.is_inline = false;
            f.streamed = true;
            p.begin_stream();
            check(p.streaming());
            run.streaming = std::move(f);
            continue;
        }
        if (run.last != RequestParser::Status::command) break;
        Framed f;
        f.end = fed - p.buffered();
        check(cmd.raw.size() <= f.end);
        check(input.substr(f.end - cmd.raw.size(), cmd.raw.size()) == cmd.raw);
        check(cmd.argc() > 0);
        check(cmd.name.size() == cmd.argv[0].size());
        for (std::size_t i = 0; i < cmd.name.size(); ++i) {
            char c = cmd.argv[0][i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
            check(cmd.name[i] == c);
        }
        for (auto a : cmd.argv) f.argv.emplace_back(a);
        if (cmd.is_inline) {
            check(cmd.raw.back() == '\n');
        } else {
            check(multibulk(f.argv) == cmd.raw);
        }
        f.raw = std::string(cmd.raw);
        f.is_inline = cmd.is_inline;
        const std::size_t prev_end = run.commands.empty() ? 0 : run.commands.back().end;
        check(f.end - f.raw.size() >= prev_end);
        check_skippable(input.substr(prev_end, f.end - f.raw.size() - prev_end));
        run.commands.push_back(std::move(f));
    }
    if (run.last == RequestParser::Status::error && p.streaming()) {
        run.error = p.error();
        return;
    }
    if (run.last == RequestParser::Status::error) run.error = p.error();
    // What the parser consumed after the last command (fed minus buffered) frames to
    // nothing: consumed bytes are commands or skippable, none lost.
    if (run.last != RequestParser::Status::error) {
        const std::size_t last_end = run.commands.empty() ? 0 : run.commands.back().end;
        check(p.buffered() <= fed);
        const std::size_t done = fed - p.buffered();
        check(done >= last_end);
        check_skippable(input.substr(last_end, done - last_end));
    }
}

void compare(const Run& a, const Run& b) {
    check(a.last == b.last);
    check(a.error == b.error);
    check(a.commands.size() == b.commands.size());
    for (std::size_t i = 0; i < a.commands.size(); ++i) {
        check(a.commands[i].argv == b.commands[i].argv);
        check(a.commands[i].raw == b.commands[i].raw);
        check(a.commands[i].is_inline == b.commands[i].is_inline);
        check(a.commands[i].end == b.commands[i].end);
        check(a.commands[i].streamed == b.commands[i].streamed);
    }
    check(a.streaming.raw.empty() == b.streaming.raw.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    ParserLimits limits;
    const uint8_t mode = data[0];
    if (mode & 1) {
        limits.max_bulk_len = 64;
        limits.max_inline_len = 32;
        limits.max_multibulk_len = 8;
    }
    const bool stream = (mode & 4) != 0;
    if (stream) limits.stream_bulk_len = 4;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

    Run whole;
    {
        RequestParser p(limits);
        p.feed(input);
        drain(p, input, input.size(), whole);
    }

    Run bytewise;
    {
        RequestParser p(limits);
        for (std::size_t i = 0; i < input.size(); ++i) {
            if (bytewise.last == RequestParser::Status::error) break;
            auto area = p.write_area(1);
            check(area.size() >= 1);
            area[0] = input[i];
            p.commit(1);
            drain(p, input, i + 1, bytewise);
            if ((mode & 2) && p.buffered() == 0) p.shrink_if_idle();
        }
    }

    Run fragmented;
    {
        RequestParser p(limits);
        Rng rng{hash(input) ^ mode};
        std::size_t pos = 0;
        while (pos < input.size() && fragmented.last != RequestParser::Status::error) {
            const std::uint64_t r = rng.next();
            const std::size_t n = std::min<std::size_t>(
                input.size() - pos, (r & 7) == 0 ? 1 + (r >> 8) % 512 : 1 + (r >> 8) % 6);
            if (r & 16) {
                p.feed(input.substr(pos, n));
            } else {
                // Ask for more room than is read, as libuv's alloc callback does.
                auto area = p.write_area(n + (r >> 40) % 64);
                check(area.size() >= n);
                std::memcpy(area.data(), input.data() + pos, n);
                p.commit(n);
            }
            pos += n;
            drain(p, input, pos, fragmented);
            if ((r & 32) && p.buffered() == 0) p.shrink_if_idle();
        }
    }

    // Two parsers taking turns with one shared read area, as the sessions of one thread do:
    // each reads its fragment there, frames it, and (mostly) keeps what is left; when it
    // does not, the other one's next read must make it keep those bytes first.
    Run shared_a, shared_b;
    {
        static char area_bytes[1024];
        const std::span<char> shared(area_bytes, sizeof(area_bytes));
        RequestParser a(limits), b(limits);
        Rng rng{hash(input) ^ mode ^ 0x5A5A};
        std::size_t pos_a = 0, pos_b = 0;
        for (int turn = 0; pos_a < input.size() || pos_b < input.size(); ++turn) {
            const bool on_a = (turn & 1) == 0;
            RequestParser& p = on_a ? a : b;
            Run& run = on_a ? shared_a : shared_b;
            std::size_t& pos = on_a ? pos_a : pos_b;
            if (pos >= input.size() || run.last == RequestParser::Status::error) {
                pos = input.size();
                continue;
            }
            const std::uint64_t r = rng.next();
            const std::size_t n = std::min<std::size_t>(
                input.size() - pos, (r & 3) == 0 ? 1 + (r >> 8) % 900 : 1 + (r >> 8) % 40);
            auto area = p.write_area(n, shared);
            check(area.size() >= n);
            std::memcpy(area.data(), input.data() + pos, n);
            p.commit(n);
            pos += n;
            drain(p, input, pos, run);
            if ((r & 48) != 0) p.keep_unread();
            if ((r & 64) && p.buffered() == 0) p.shrink_if_idle();
        }
    }

    compare(whole, bytewise);
    compare(whole, fragmented);
    compare(whole, shared_a);
    compare(whole, shared_b);
    if (stream) {
        // Streaming changes what is handed on when, never the bytes of a command.
        ParserLimits plain = limits;
        plain.stream_bulk_len = 0;
        Run ref;
        RequestParser p(plain);
        p.feed(input);
        drain(p, input, input.size(), ref);
        const std::size_t n = std::min(ref.commands.size(), whole.commands.size());
        for (std::size_t i = 0; i < n; ++i) check(ref.commands[i].raw == whole.commands[i].raw);
        if (ref.last != RequestParser::Status::error && whole.last != RequestParser::Status::error)
            check(ref.commands.size() == whole.commands.size());
    }
    if (whole.last == RequestParser::Status::error) check(!whole.error.empty());
    return 0;
}
