// Fuzz target for ReplyFramer. The first byte picks limits and a chunk size; the rest is
// the server stream. The stream is framed whole, byte by byte and in chunks; all runs
// must agree on every frame and on where an error is found. Invariants (abort() on
// violation): frame lengths add up to the bytes consumed, `complete` stops exactly at a
// frame end, and on plain RESP2 the frame ends match hiredis's redisReader wherever both
// accept the input.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "protocol/reply_framer.h"

using sp::protocol::FrameInfo;
using sp::protocol::ReplyFramer;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

struct Run {
    std::vector<FrameInfo> frames;
    std::vector<std::size_t> ends;
    bool error = false;
    std::size_t consumed = 0;  // bytes accepted before the error / end
};

Run frame(std::string_view input, std::size_t chunk, ReplyFramer::Limits limits) {
    ReplyFramer framer(limits);
    Run run;
    std::size_t pos = 0;
    while (pos < input.size() && !run.error) {
        const std::size_t n = std::min(chunk, input.size() - pos);
        std::size_t off = 0;
        while (off < n) {
            std::size_t used = 0;
            FrameInfo info;
            const auto st = framer.feed(input.data() + pos + off, n - off, used, info);
            check(used <= n - off);
            off += used;
            if (st == ReplyFramer::Status::error) {
                check(!framer.error_text().empty());
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
    run.consumed = pos;
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

void compare_with_hiredis(std::string_view input, const Run& ours) {
    if (!hiredis_safe(input)) return;
    redisReader* reader = redisReaderCreate();
    if (!reader) return;
    if (redisReaderFeed(reader, input.data(), input.size()) == REDIS_OK) {
        for (std::size_t k = 0; k < ours.ends.size(); ++k) {
            void* reply = nullptr;
            if (redisReaderGetReply(reader, &reply) != REDIS_OK || reply == nullptr) break;
            freeReplyObject(reply);
            const std::size_t end = input.size() - (reader->len - reader->pos);
            check(end == ours.ends[k]);
        }
    }
    redisReaderFree(reader);
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
    const std::size_t chunk = 2 + (mode >> 1);
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

    const Run whole = frame(input, input.size() ? input.size() : 1, limits);
    const Run bytewise = frame(input, 1, limits);
    const Run chunked = frame(input, chunk, limits);
    for (const Run* other : {&bytewise, &chunked}) {
        check(other->error == whole.error);
        check(other->ends == whole.ends);
        check(other->frames.size() == whole.frames.size());
        for (std::size_t i = 0; i < whole.frames.size(); ++i) {
            check(same(other->frames[i], whole.frames[i]));
        }
    }
    if (!(mode & 1)) compare_with_hiredis(input, whole);
    return 0;
}
