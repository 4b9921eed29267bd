// ReplyFramer: frame boundaries and frame info for RESP2 and RESP3, under any
// fragmentation; agreement with hiredis's redisReader on random RESP2 streams.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "protocol/reply_framer.h"

using sp::protocol::FrameInfo;
using sp::protocol::ReplyFramer;

namespace {

struct Result {
    std::vector<FrameInfo> frames;
    std::vector<std::size_t> ends;  // cumulative stream offsets where frames end
    ReplyFramer::Status last = ReplyFramer::Status::incomplete;
    std::string error;
};

// Feeds `input` in chunks (1 byte when rng is null) and collects every frame.
Result frame_all(const std::string& input, std::mt19937* rng = nullptr, std::size_t max_chunk = 1,
                 ReplyFramer::Limits limits = {}) {
    ReplyFramer framer(limits);
    Result r;
    std::size_t pos = 0;
    while (pos < input.size()) {
        std::size_t n = 1;
        if (rng) n = std::uniform_int_distribution<std::size_t>(1, max_chunk)(*rng);
        n = std::min(n, input.size() - pos);
        std::size_t off = 0;
        while (off < n) {
            std::size_t used = 0;
            FrameInfo info;
            auto st = framer.feed(input.data() + pos + off, n - off, used, info);
            REQUIRE(used <= n - off);
            off += used;
            r.last = st;
            if (st == ReplyFramer::Status::error) {
                r.error = framer.error_text();
                return r;
            }
            if (st == ReplyFramer::Status::complete) {
                r.frames.push_back(info);
                r.ends.push_back(pos + off);
                CHECK(framer.at_boundary());
            } else {
                REQUIRE(off == n);
            }
        }
        pos += n;
    }
    return r;
}

FrameInfo one_frame(const std::string& input) {
    auto whole = frame_all(input, nullptr, 1);
    REQUIRE(whole.error.empty());
    REQUIRE(whole.frames.size() == 1);
    REQUIRE(whole.ends[0] == input.size());
    REQUIRE(whole.frames[0].length == input.size());
    // Same result fed at once.
    std::mt19937 rng(1);
    auto chunked = frame_all(input, &rng, input.size());
    REQUIRE(chunked.frames.size() == 1);
    CHECK(chunked.frames[0].head_view() == whole.frames[0].head_view());
    return whole.frames[0];
}

std::string framer_error(const std::string& input, ReplyFramer::Limits limits = {}) {
    auto r = frame_all(input, nullptr, 1, limits);
    CHECK(r.last == ReplyFramer::Status::error);
    return r.error;
}

// Random RESP2 reply, depth-limited for hiredis 0.14 (which stops at 7 levels).
void random_reply(std::mt19937& rng, std::string& out, int depth) {
    auto rand_text = [&](bool binary, std::size_t max) {
        std::string s;
        std::size_t len = rng() % (max + 1);
        for (std::size_t i = 0; i < len; ++i) {
            if (binary) {
                static const char pool[] = "ab\r\n$*:-+0\r\n";
                s.push_back(rng() % 3 ? pool[rng() % (sizeof(pool) - 1)]
                                      : static_cast<char>(rng() % 256));
            } else {
                s.push_back(static_cast<char>('a' + rng() % 26));
            }
        }
        return s;
    };
    const int kind = static_cast<int>(rng() % (depth < 5 ? 9 : 7));
    switch (kind) {
        case 0:
            out += "+" + rand_text(false, 20) + "\r\n";
            break;
        case 1:
            out += "-ERR " + rand_text(false, 20) + "\r\n";
            break;
        case 2:
            out += ":" + std::to_string(static_cast<long long>(rng()) - (1LL << 31)) + "\r\n";
            break;
        case 3:
            out += "$-1\r\n";
            break;
        case 4: {
            std::string body = rand_text(true, rng() % 10 == 0 ? 5000 : 30);
            out += "$" + std::to_string(body.size()) + "\r\n" + body + "\r\n";
            break;
        }
        case 5:
            out += "*-1\r\n";
            break;
        case 6:
            out += "*0\r\n";
            break;
        default: {
            const int n = 1 + static_cast<int>(rng() % 6);
            out += "*" + std::to_string(n) + "\r\n";
            for (int i = 0; i < n; ++i) random_reply(rng, out, depth + 1);
            break;
        }
    }
}

// Frame ends according to hiredis's redisReader with its default object functions.
std::vector<std::size_t> hiredis_ends(const std::string& input) {
    redisReader* reader = redisReaderCreate();
    REQUIRE(reader != nullptr);
    REQUIRE(redisReaderFeed(reader, input.data(), input.size()) == REDIS_OK);
    std::vector<std::size_t> ends;
    for (;;) {
        void* reply = nullptr;
        REQUIRE(redisReaderGetReply(reader, &reply) == REDIS_OK);
        if (reply == nullptr) break;
        freeReplyObject(reply);
        ends.push_back(input.size() - (reader->len - reader->pos));
    }
    redisReaderFree(reader);
    return ends;
}

}  // namespace

TEST_CASE("framer frames RESP2 simple types", "[reply_framer]") {
    auto ok = one_frame("+OK\r\n");
    CHECK(ok.type == '+');
    CHECK(ok.head_view() == "OK");
    CHECK_FALSE(ok.error);
    CHECK(ok.aggregate_len == -1);

    auto err = one_frame("-READONLY You can't write against a read only replica.\r\n");
    CHECK(err.error);
    CHECK(err.head_view().size() == FrameInfo::kHeadMax);
    CHECK(err.head_view().substr(0, 9) == "READONLY ");

    auto num = one_frame(":-42\r\n");
    CHECK(num.type == ':');
    CHECK(num.head_view() == "-42");

    auto bulk = one_frame("$5\r\nhe\r\no\r\n");
    CHECK(bulk.type == '$');
    CHECK(bulk.head_view() == "he\r\no");
    CHECK_FALSE(bulk.null);

    CHECK(one_frame("$0\r\n\r\n").head_len == 0);
    CHECK(one_frame("$-1\r\n").null);
    auto nullarr = one_frame("*-1\r\n");
    CHECK(nullarr.null);
    CHECK(nullarr.type == '*');
    auto empty = one_frame("*0\r\n");
    CHECK_FALSE(empty.null);
    CHECK(empty.aggregate_len == 0);
}

TEST_CASE("framer reports the first element of aggregates", "[reply_framer]") {
    auto msg = one_frame("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n");
    CHECK(msg.type == '*');
    CHECK(msg.aggregate_len == 3);
    CHECK(msg.head_view() == "message");
    CHECK_FALSE(msg.push);

    auto pong = one_frame("*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    CHECK(pong.head_view() == "pong");

    auto nested = one_frame("*2\r\n*1\r\n+inner\r\n+second\r\n");
    CHECK(nested.head_len == 0);  // first element is not a string

    auto queued = one_frame("*2\r\n+QUEUED\r\n:1\r\n");
    CHECK(queued.head_view() == "QUEUED");
}

TEST_CASE("framer frames every RESP3 type", "[reply_framer]") {
    CHECK(one_frame("_\r\n").null);
    CHECK(one_frame(",3.14\r\n").head_view() == "3.14");
    CHECK(one_frame(",inf\r\n").type == ',');
    CHECK(one_frame("#t\r\n").head_view() == "t");
    CHECK(one_frame("(3492890328409238509324850943850943825024385\r\n").type == '(');
    auto blob_err = one_frame("!21\r\nSYNTAX invalid syntax\r\n");
    CHECK(blob_err.error);
    CHECK(blob_err.head_view() == "SYNTAX invalid syntax");
    CHECK(one_frame("=15\r\ntxt:Some string\r\n").head_view() == "txt:Some string");

    auto map = one_frame("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n");
    CHECK(map.type == '%');
    CHECK(map.aggregate_len == 2);
    CHECK(map.head_view() == "first");

    auto set = one_frame("~3\r\n+a\r\n+b\r\n:3\r\n");
    CHECK(set.type == '~');
    CHECK(set.aggregate_len == 3);

    auto push = one_frame(">3\r\n$7\r\nmessage\r\n$3\r\nchn\r\n$3\r\nhey\r\n");
    CHECK(push.push);
    CHECK(push.type == '>');
    CHECK(push.head_view() == "message");

    // HELLO 3 reply shape: map with nested array of maps.
    auto hello = one_frame(
        "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
        "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:5\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n"
        "$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*1\r\n%2\r\n+name\r\n+x\r\n+ver\r\n:1\r\n");
    CHECK(hello.aggregate_len == 7);
    CHECK(hello.head_view() == "server");
}

TEST_CASE("framer treats an attribute as part of the following frame", "[reply_framer]") {
    const std::string attr =
        "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.19\r\n$1\r\nb\r\n,0.5\r\n";
    auto f = one_frame(attr + "*2\r\n:2039123\r\n:9543892\r\n");
    CHECK(f.type == '*');
    CHECK(f.aggregate_len == 2);

    auto s = one_frame(attr + "+OK\r\n");
    CHECK(s.type == '+');
    CHECK(s.head_view() == "OK");

    // Inside an aggregate the attribute does not count as an element.
    auto inner = one_frame("*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n");
    CHECK(inner.aggregate_len == 2);
    auto first = one_frame("*2\r\n|1\r\n+a\r\n+b\r\n$5\r\nhello\r\n:2\r\n");
    CHECK(first.head_view() == "hello");

    // Two frames: the attribute belongs to the second.
    auto two = frame_all("+A\r\n" + attr + "+B\r\n");
    REQUIRE(two.frames.size() == 2);
    CHECK(two.frames[1].head_view() == "B");
    CHECK(two.frames[1].length == attr.size() + 4);
    CHECK(one_frame("|0\r\n:1\r\n").type == ':');
}

TEST_CASE("framer handles deep nesting and pipelines", "[reply_framer]") {
    std::string deep;
    for (int i = 0; i < 100; ++i) deep += "*1\r\n";
    deep += ":1\r\n";
    CHECK(one_frame(deep).aggregate_len == 1);

    std::string stream =
        "+OK\r\n:1\r\n$3\r\nfoo\r\n*2\r\n$1\r\na\r\n$-1\r\n-ERR x\r\n>2\r\n+a\r\n+b\r\n";
    auto r = frame_all(stream);
    REQUIRE(r.frames.size() == 6);
    CHECK(r.frames[4].error);
    CHECK(r.frames[5].push);
    std::size_t total = 0;
    for (auto& f : r.frames) total += f.length;
    CHECK(total == stream.size());
}

TEST_CASE("framer rejects what is not RESP", "[reply_framer]") {
    CHECK(framer_error("hello\r\n") == "Protocol error: invalid reply type byte 'h'");
    CHECK_FALSE(framer_error("$abc\r\n").empty());
    CHECK_FALSE(framer_error("$\r\n").empty());
    CHECK_FALSE(framer_error("$-2\r\n").empty());
    CHECK_FALSE(framer_error("%-1\r\n").empty());
    CHECK_FALSE(framer_error("$3\r\nfooXY").empty());
    CHECK_FALSE(framer_error("*1-\r\n").empty());
    CHECK_FALSE(framer_error("$99999999999999999999999\r\n").empty());
    ReplyFramer::Limits limits;
    limits.max_depth = 3;
    limits.max_bulk_len = 10;
    limits.max_aggregate_len = 4;
    CHECK_FALSE(framer_error("*1\r\n*1\r\n*1\r\n*1\r\n", limits).empty());
    CHECK_FALSE(framer_error("$11\r\n", limits).empty());
    CHECK_FALSE(framer_error("*5\r\n", limits).empty());
    CHECK_FALSE(framer_error("%3\r\n", limits).empty());  // 6 elements
    CHECK(frame_all("*1\r\n*1\r\n*1\r\n:1\r\n", nullptr, 1, limits).frames.size() == 1);

    // Error is sticky until reset().
    ReplyFramer f;
    std::size_t used = 0;
    FrameInfo info;
    CHECK(f.feed("?x\r\n", 4, used, info) == ReplyFramer::Status::error);
    CHECK(f.feed("+OK\r\n", 5, used, info) == ReplyFramer::Status::error);
    f.reset();
    CHECK(f.at_boundary());
    CHECK(f.feed("+OK\r\n", 5, used, info) == ReplyFramer::Status::complete);
    CHECK(used == 5);
}

// Found by reply_framer_fuzz (corpus: reply_crash_leading_zero_len): the framer took
// "*03" as 3 where hiredis (and Redis's string2ll) reject leading zeros.
TEST_CASE("framer rejects lengths with leading zeros, as hiredis does", "[reply_framer]") {
    CHECK(framer_error("*03\r\n:1\r\n:2\r\n:3\r\n") == "Protocol error: invalid length");
    CHECK_FALSE(framer_error("$03\r\nabc\r\n").empty());
    CHECK_FALSE(framer_error("$-01\r\n").empty());
    CHECK_FALSE(framer_error("*00\r\n").empty());
    CHECK(frame_all("$0\r\n\r\n*0\r\n$10\r\n0123456789\r\n*-1\r\n").frames.size() == 4);
}

TEST_CASE("framer reset forgets a partial frame", "[reply_framer]") {
    ReplyFramer f;
    std::size_t used = 0;
    FrameInfo info;
    CHECK(f.feed("*2\r\n$3\r\nfo", 10, used, info) == ReplyFramer::Status::incomplete);
    CHECK(used == 10);
    CHECK_FALSE(f.at_boundary());
    f.reset();
    CHECK(f.at_boundary());
    CHECK(f.feed(":7\r\n", 4, used, info) == ReplyFramer::Status::complete);
    CHECK(info.type == ':');
    CHECK(info.length == 4);
}

TEST_CASE("framer agrees with hiredis on random RESP2 streams", "[reply_framer]") {
    std::mt19937 rng(20240611);
    for (int round = 0; round < 300; ++round) {
        std::string stream;
        const int n = 1 + static_cast<int>(rng() % 30);
        for (int i = 0; i < n; ++i) random_reply(rng, stream, 0);
        const auto expected = hiredis_ends(stream);
        REQUIRE(expected.size() == static_cast<std::size_t>(n));

        const bool bytewise = round % 4 == 0;
        auto got = frame_all(stream, bytewise ? nullptr : &rng, 1 + rng() % 700);
        REQUIRE(got.error.empty());
        REQUIRE(got.ends == expected);
        std::size_t prev = 0;
        for (std::size_t i = 0; i < got.frames.size(); ++i) {
            CHECK(got.frames[i].length == got.ends[i] - prev);
            CHECK(got.frames[i].type == stream[prev]);
            prev = got.ends[i];
        }
    }
}

TEST_CASE("EXEC's reply read element by element", "[reply_framer]") {
    std::vector<bool> ok;
    CHECK(sp::protocol::array_elements_ok(
        "*3\r\n+OK\r\n-ERR DB index is out of range\r\n*2\r\n-a\r\n:1\r\n", ok));
    CHECK(ok == std::vector<bool>{true, false, true});
    CHECK(sp::protocol::array_elements_ok("*0\r\n", ok));
    CHECK(ok.empty());
    CHECK_FALSE(sp::protocol::array_elements_ok("*-1\r\n", ok));
    CHECK_FALSE(sp::protocol::array_elements_ok("_\r\n", ok));
    CHECK_FALSE(sp::protocol::array_elements_ok("-EXECABORT Transaction discarded\r\n", ok));
    CHECK_FALSE(sp::protocol::array_elements_ok("*2\r\n+OK\r\n$5\r\nab", ok));  // cut short
}
