// Fuzz target for ReplyFramer, differential against hiredis's redisReader for RESP2.
// The first byte picks limits (bit 0: small limits, no differential); the rest is the
// server stream. The stream is framed whole, byte by byte and in random fragments (sizes
// drawn from a PRNG seeded by the input); all runs must agree on every frame and on where
// an error is found. Invariants (abort() on violation): frame lengths add up to the bytes
// consumed, `complete` stops exactly at a frame end, an error is sticky.
//
// Differential (default limits): hiredis is fed the same random fragments. Frame by frame
// both must end every frame at the same offset and make the same accept / reject decision,
// except for these known, deliberate differences (each checked by hiredis's or our error
// text, nothing else is excused):
//   - hiredis 0.14 knows only RESP2: it rejects RESP3 type bytes (_ , # ! = ( % ~ > |);
//   - hiredis refuses nesting deeper than 7 (ours: Limits::max_depth);
//   - hiredis parses ':' integers ("Bad integer value"); the framer forwards them unread;
//   - hiredis skips the two bytes after a bulk body unchecked; the framer demands CRLF;
//   - hiredis waits for a whole length line before judging it; the framer rejects a bad
//     byte as it arrives (so ours may fail where hiredis is still incomplete).
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/reply_framer.h"
#include "tests/fuzz/fuzz_support.h"

using sp::protocol::FrameInfo;
using sp::protocol::ReplyFramer;
using namespace sp::fuzz;  // check, Rng, hash

namespace {

// Fragment sizes covering the input: mostly tiny (splits inside headers and CRLFs),
// sometimes large.
std::vector<std::size_t> random_fragments(std::size_t total, std::uint64_t seed) {
    Rng rng{seed};
    std::vector<std::size_t> sizes;
    std::size_t left = total;
    while (left > 0) {
        const std::uint64_t r = rng.next();
        std::size_t n = (r & 7) == 0 ? 1 + (r >> 8) % 256 : 1 + (r >> 8) % 5;
        n = std::min(n, left);
        sizes.push_back(n);
        left -= n;
    }
    return sizes;
}

std::vector<std::size_t> fixed_fragments(std::size_t total, std::size_t chunk) {
    std::vector<std::size_t> sizes;
    for (std::size_t pos = 0; pos < total; pos += chunk)
        sizes.push_back(std::min(chunk, total - pos));
    return sizes;
}

struct Run {
    std::vector<FrameInfo> frames;
    std::vector<std::size_t> ends;
    bool error = false;
    std::string error_text;
};

Run frame(std::string_view input, const std::vector<std::size_t>& fragments,
          ReplyFramer::Limits limits) {
    ReplyFramer framer(limits);
    Run run;
    std::size_t pos = 0;
    for (const std::size_t n : fragments) {
        if (run.error) break;
        std::size_t off = 0;
        while (off < n) {
            std::size_t used = 0;
            FrameInfo info;
            const auto st = framer.feed(input.data() + pos + off, n - off, used, info);
            check(used <= n - off);
            off += used;
            if (st == ReplyFramer::Status::error) {
                check(!framer.error_text().empty());
                run.error_text = framer.error_text();
                // Still an error, and nothing consumed, when fed again.
                std::size_t again = 1;
                check(framer.feed("+", 1, again, info) == ReplyFramer::Status::error);
                check(again == 0);
                run.error = true;
                break;
            }
            if (st == ReplyFramer::Status::complete) {
                check(framer.at_boundary());
                check(info.length > 0);
                check(info.head_len <= FrameInfo::kHeadMax);
                run.frames.push_back(info);
                run.ends.push_back(pos + off);
                const std::size_t prev = run.ends.size() > 1 ? run.ends[run.ends.size() - 2] : 0;
                check(info.length == pos + off - prev);
            } else {
                check(st == ReplyFramer::Status::incomplete);
                check(off == n);
            }
        }
        pos += off;
    }
    return run;
}

bool same(const FrameInfo& a, const FrameInfo& b) {
    return a.type == b.type && a.push == b.push && a.error == b.error && a.null == b.null &&
           a.aggregate_len == b.aggregate_len && a.length == b.length &&
           a.head_view() == b.head_view();
}

// hiredis 0.14 allocates arrays eagerly: skip inputs declaring big aggregates.
bool hiredis_safe(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '*') continue;
        std::size_t digits = 0;
        while (i + 1 + digits < s.size() && s[i + 1 + digits] >= '0' && s[i + 1 + digits] <= '9')
            ++digits;
        if (digits > 4) return false;
    }
    return true;
}

struct HiredisRun {
    std::vector<std::size_t> ends;
    bool error = false;
    std::string error_text;
};

HiredisRun hiredis_frame(std::string_view input, const std::vector<std::size_t>& fragments) {
    HiredisRun run;
    redisReader* reader = redisReaderCreate();
    check(reader != nullptr);
    std::size_t fed = 0;
    for (const std::size_t n : fragments) {
        if (redisReaderFeed(reader, input.data() + fed, n) != REDIS_OK) {
            run.error = true;
            break;
        }
        fed += n;
        for (;;) {
            void* reply = nullptr;
            if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
                run.error = true;
                break;
            }
            if (reply == nullptr) break;
            freeReplyObject(reply);
            run.ends.push_back(fed - (reader->len - reader->pos));
        }
        if (run.error) break;
    }
    if (run.error) run.error_text = reader->errstr;
    redisReaderFree(reader);
    return run;
}

bool is_resp3_type(char c) {
    return std::strchr("_,#!=(%~>|", c) != nullptr && c != 0;
}

// A hiredis rejection that the framer deliberately does not share (see the header).
bool excused_hiredis_error(const std::string& e) {
    const std::string marker = "got \"";
    const auto at = e.find(marker);
    if (at != std::string::npos && e.find("as reply type byte") != std::string::npos &&
        at + marker.size() < e.size() && is_resp3_type(e[at + marker.size()]) &&
        e[at + marker.size() + 1] == '"') {
        return true;
    }
    return e.find("nested multi bulk replies with depth") != std::string::npos ||
           e == "Bad integer value";
}

// A framer rejection that hiredis deliberately does not share.
bool excused_our_error(const std::string& e) {
    return e == "Protocol error: expected CRLF after blob";
}

void compare_with_hiredis(std::string_view input, const std::vector<std::size_t>& fragments,
                          const Run& ours) {
    if (!hiredis_safe(input)) return;
    const HiredisRun theirs = hiredis_frame(input, fragments);
    std::size_t k = 0;
    for (; k < ours.ends.size() && k < theirs.ends.size(); ++k) {
        check(ours.ends[k] == theirs.ends[k]);
    }
    // Frame k is the first one that not both completed.
    const bool ours_done = k < ours.ends.size();
    const bool theirs_done = k < theirs.ends.size();
    if (ours_done) {
        check(theirs.error && excused_hiredis_error(theirs.error_text));
    } else if (theirs_done) {
        check(ours.error && excused_our_error(ours.error_text));
    } else if (theirs.error && !ours.error) {
        check(excused_hiredis_error(theirs.error_text));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    ReplyFramer::Limits limits;
    const uint8_t mode = data[0];
    if (mode & 1) {
        limits.max_depth = 4;
        limits.max_bulk_len = 64;
        limits.max_aggregate_len = 16;
    }
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::vector<std::size_t> random = random_fragments(input.size(), hash(input) ^ mode);

    const Run whole =
        frame(input, fixed_fragments(input.size(), input.size() ? input.size() : 1), limits);
    const Run bytewise = frame(input, fixed_fragments(input.size(), 1), limits);
    const Run fragmented = frame(input, random, limits);
    for (const Run* other : {&bytewise, &fragmented}) {
        check(other->error == whole.error);
        check(other->error_text == whole.error_text);
        check(other->ends == whole.ends);
        check(other->frames.size() == whole.frames.size());
        for (std::size_t i = 0; i < whole.frames.size(); ++i) {
            check(same(other->frames[i], whole.frames[i]));
        }
    }
    if (!(mode & 1)) compare_with_hiredis(input, random, whole);
    return 0;
}
