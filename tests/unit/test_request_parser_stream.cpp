// RequestParser streaming (ParserLimits::stream_bulk_len): a command with a big bulk is
// offered as a head, then handed on in chunks as it arrives, framed as it passes and
// released from the buffer; the commands after it frame as usual.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "protocol/request_parser.h"

using sp::protocol::Command;
using sp::protocol::ParserLimits;
using sp::protocol::RequestParser;

namespace {

std::string mb(const std::vector<std::string>& argv) {
    std::string out = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

struct Event {
    bool streamed = false;
    std::vector<std::string> argv;  // the head's arguments when streamed
    std::string raw;                // the whole command (head + chunks when streamed)
};

struct Result {
    std::vector<Event> events;
    bool error = false;
    std::string error_text;
    bool mid_stream = false;       // input ended inside a streamed command
    std::size_t max_buffered = 0;  // most bytes held while streaming, after a chunk
};

ParserLimits stream_limits(std::size_t threshold = 8) {
    ParserLimits l;
    l.stream_bulk_len = threshold;
    return l;
}

// Frames `input` fed in the pieces `cuts` make (offsets, increasing); streams every offer
// unless `decline`.
Result run(const std::string& input, const std::vector<std::size_t>& cuts,
           ParserLimits limits = stream_limits(), bool decline = false) {
    RequestParser p(limits);
    Result r;
    Event cur;
    auto pump = [&] {
        for (;;) {
            if (p.streaming()) {
                std::string_view chunk;
                auto c = p.next_stream_chunk(chunk);
                cur.raw.append(chunk);
                if (c == RequestParser::Chunk::error) {
                    r.error = true;
                    r.error_text = p.error();
                    return;
                }
                // (After the end, what is buffered is the commands that follow.)
                if (c != RequestParser::Chunk::end)
                    r.max_buffered = std::max(r.max_buffered, p.buffered());
                if (c == RequestParser::Chunk::end) {
                    r.events.push_back(cur);
                    continue;
                }
                if (c == RequestParser::Chunk::incomplete) return;
                continue;
            }
            Command cmd;
            auto st = p.next(cmd);
            if (st == RequestParser::Status::incomplete) return;
            if (st == RequestParser::Status::error) {
                r.error = true;
                r.error_text = p.error();
                return;
            }
            cur = Event{};
            for (auto a : cmd.argv) cur.argv.emplace_back(a);
            cur.raw.assign(cmd.raw);
            if (st == RequestParser::Status::command) {
                r.events.push_back(cur);
                continue;
            }
            // stream_start again without a decision: the same head.
            Command again;
            REQUIRE(p.next(again) == RequestParser::Status::stream_start);
            REQUIRE(std::string(again.raw) == cur.raw);
            REQUIRE(again.name == cmd.name);
            if (decline) {
                p.decline_stream();
            } else {
                cur.streamed = true;
                p.begin_stream();
            }
        }
    };
    std::size_t pos = 0;
    for (std::size_t cut : cuts) {
        p.feed(std::string_view(input).substr(pos, cut - pos));
        pos = cut;
        pump();
        if (r.error) return r;
    }
    p.feed(std::string_view(input).substr(pos));
    pump();
    r.mid_stream = p.streaming();
    return r;
}

std::vector<Result> every_split(const std::string& input, ParserLimits limits = stream_limits()) {
    std::vector<Result> out;
    out.push_back(run(input, {}, limits));
    for (std::size_t i = 1; i < input.size(); ++i) out.push_back(run(input, {i}, limits));
    std::vector<std::size_t> bytewise;
    for (std::size_t i = 1; i < input.size(); ++i) bytewise.push_back(i);
    out.push_back(run(input, bytewise, limits));
    return out;
}

}  // namespace

TEST_CASE("a big bulk is offered as a head and streamed under every split", "[request_parser]") {
    const std::string big(100, 'v');
    const std::string set = mb({"SET", "key", big});
    const std::string input = mb({"PING"}) + set + mb({"GET", "key"});
    for (const Result& r : every_split(input)) {
        REQUIRE_FALSE(r.error);
        REQUIRE_FALSE(r.mid_stream);
        REQUIRE(r.events.size() == 3);
        CHECK_FALSE(r.events[0].streamed);
        CHECK(r.events[0].raw == mb({"PING"}));
        CHECK(r.events[1].streamed);
        CHECK(r.events[1].argv == std::vector<std::string>{"SET", "key"});
        CHECK(r.events[1].raw == set);
        CHECK_FALSE(r.events[2].streamed);
        CHECK(r.events[2].raw == mb({"GET", "key"}));
        // Streamed bytes are released: at most a header line is kept.
        CHECK(r.max_buffered <= 16);
    }
}

TEST_CASE("the head is the bytes up to the big bulk's body", "[request_parser]") {
    RequestParser p(stream_limits());
    p.feed("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20\r\n0123");
    Command cmd;
    REQUIRE(p.next(cmd) == RequestParser::Status::stream_start);
    CHECK(cmd.name == "set");
    CHECK(cmd.argc() == 2);
    CHECK(cmd.raw == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20\r\n");
    p.begin_stream();
    std::string_view chunk;
    CHECK(p.next_stream_chunk(chunk) == RequestParser::Chunk::data);
    CHECK(chunk == "0123");
    CHECK(p.buffered() == 0);
    CHECK(p.next_stream_chunk(chunk) == RequestParser::Chunk::incomplete);
    CHECK(chunk.empty());
    // next() does not frame while streaming.
    CHECK(p.next(cmd) == RequestParser::Status::incomplete);
    p.feed("456789abcdefghij\r\n*1\r\n$4\r\nPING\r\n");
    CHECK(p.next_stream_chunk(chunk) == RequestParser::Chunk::end);
    CHECK(chunk == "456789abcdefghij\r\n");
    CHECK_FALSE(p.streaming());
    REQUIRE(p.next(cmd) == RequestParser::Status::command);
    CHECK(cmd.name == "ping");
}

TEST_CASE("several big bulks and a big bulk in the middle stream as one command",
          "[request_parser]") {
    const std::string a(40, 'a'), b(50, 'b');
    const std::string mset = mb({"MSET", "k1", a, "k2", b, "k3", "small"});
    const std::string setex = mb({"SET", "k", a, "EX", "100"});
    const std::string input = mset + setex + mb({"PING"});
    for (const Result& r : every_split(input)) {
        REQUIRE_FALSE(r.error);
        REQUIRE(r.events.size() == 3);
        CHECK(r.events[0].streamed);
        CHECK(r.events[0].argv == std::vector<std::string>{"MSET", "k1"});
        CHECK(r.events[0].raw == mset);
        CHECK(r.events[1].streamed);
        CHECK(r.events[1].argv == std::vector<std::string>{"SET", "k"});
        CHECK(r.events[1].raw == setex);
        CHECK(r.events[2].raw == mb({"PING"}));
    }
}

TEST_CASE(
    "bulks at or under the threshold, a big first argument and a big bulk past the head "
    "are framed whole",
    "[request_parser]") {
    std::vector<std::string> many{"RPUSH", "l"};
    for (std::size_t i = 2; i <= RequestParser::kMaxStreamHead; ++i) many.push_back("x");
    many.push_back(std::string(20, 'z'));  // argument kMaxStreamHead + 1
    const std::string input = mb({"SET", "k", "12345678"}) + mb({std::string(20, 'N')}) + mb(many);
    for (const Result& r : every_split(input)) {
        REQUIRE_FALSE(r.error);
        REQUIRE(r.events.size() == 3);
        for (const Event& e : r.events) CHECK_FALSE(e.streamed);
        CHECK(r.events[2].raw == mb(many));
    }
    // The big bulk as the last argument a head can follow is offered.
    std::vector<std::string> edge(many.begin(), many.end() - 2);
    edge.push_back(std::string(20, 'z'));
    REQUIRE(edge.size() == RequestParser::kMaxStreamHead + 1);
    Result r = run(mb(edge), {});
    REQUIRE(r.events.size() == 1);
    CHECK(r.events[0].streamed);
    CHECK(r.events[0].argv.size() == RequestParser::kMaxStreamHead);
}

TEST_CASE("a declined stream frames the whole command as usual", "[request_parser]") {
    const std::string set = mb({"MSET", "a", std::string(30, 'x'), "b", std::string(30, 'y')});
    for (std::size_t i = 0; i < set.size(); ++i) {
        Result r =
            run(set + mb({"PING"}), i ? std::vector<std::size_t>{i} : std::vector<std::size_t>{},
                stream_limits(), true);
        REQUIRE_FALSE(r.error);
        REQUIRE(r.events.size() == 2);
        CHECK_FALSE(r.events[0].streamed);
        CHECK(r.events[0].argv.size() == 5);
        CHECK(r.events[0].raw == set);
    }
}

TEST_CASE("framing errors after the head are found while streaming", "[request_parser]") {
    const std::string head = "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n";
    struct Case {
        std::string rest;
        std::string error;
    } cases[] = {
        {"0123456789XX", "Protocol error: expected CRLF after bulk string"},
        {"0123456789\rX", "Protocol error: expected CRLF after bulk string"},
        {"0123456789\r\n:2\r\n", "Protocol error: expected '$', got ':'"},
        {"0123456789\r\n$-1\r\n", "Protocol error: invalid bulk length"},
        {"0123456789\r\n$abc\r\n", "Protocol error: invalid bulk length"},
        {"0123456789\r\n$1000\r\n", "Protocol error: invalid bulk length"},  // > max_bulk_len
    };
    ParserLimits limits = stream_limits();
    limits.max_bulk_len = 100;
    for (const Case& c : cases) {
        const std::string input = head + c.rest;
        for (std::size_t i = 1; i < input.size(); ++i) {
            Result r = run(input, {i}, limits);
            INFO(c.rest << " split at " << i);
            CHECK(r.error);
            CHECK(r.error_text == c.error);
        }
    }
}

TEST_CASE("a stalled stream holds only what arrived and not yet handed on", "[request_parser]") {
    RequestParser p(stream_limits(1024));
    p.feed("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + std::to_string(1u << 20) + "\r\n");
    Command cmd;
    REQUIRE(p.next(cmd) == RequestParser::Status::stream_start);
    p.begin_stream();
    std::size_t passed = 0;
    for (int i = 0; i < 64; ++i) {
        p.feed(std::string(16 * 1024, 'x'));
        std::string_view chunk;
        REQUIRE(p.next_stream_chunk(chunk) == RequestParser::Chunk::data);
        passed += chunk.size();
        CHECK(p.buffered() == 0);
    }
    CHECK(passed == (1u << 20));
    p.feed("\r\n");
    std::string_view chunk;
    CHECK(p.next_stream_chunk(chunk) == RequestParser::Chunk::end);
    CHECK(chunk == "\r\n");
}
