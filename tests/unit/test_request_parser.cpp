// RequestParser: multibulk and inline framing, fragmentation, pipelining, Redis's limits
// and error texts.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "protocol/request_parser.h"

using sp::protocol::Command;
using sp::protocol::ParserLimits;
using sp::protocol::RequestParser;

// Counts operator new calls while `g_count_allocations` is set (steady-state check).
namespace {
thread_local bool g_count_allocations = false;
thread_local std::size_t g_allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
    if (g_count_allocations) ++g_allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    return ::operator new(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    if (g_count_allocations) ++g_allocations;
    return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
    return ::operator new(n, t);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}

namespace {

struct Framed {
    std::vector<std::string> argv;
    std::string name;
    std::string raw;
    bool is_inline = false;
};

std::string multibulk(const std::vector<std::string>& argv) {
    std::string out = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

void drain(RequestParser& p, std::vector<Framed>& out) {
    Command cmd;
    while (p.next(cmd) == RequestParser::Status::command) {
        Framed f;
        for (auto a : cmd.argv) f.argv.emplace_back(a);
        f.name = std::string(cmd.name);
        f.raw = std::string(cmd.raw);
        f.is_inline = cmd.is_inline;
        out.push_back(std::move(f));
    }
}

// Feeds `input` in chunks of sizes drawn from `rng` (or 1 byte at a time) and collects.
std::vector<Framed> frame_all(const std::string& input, std::mt19937* rng, std::size_t max_chunk,
                              RequestParser::Status* final_status = nullptr,
                              std::string* error = nullptr, ParserLimits limits = {}) {
    RequestParser p(limits);
    std::vector<Framed> out;
    std::size_t pos = 0;
    while (pos < input.size()) {
        std::size_t n = 1;
        if (rng) n = std::uniform_int_distribution<std::size_t>(1, max_chunk)(*rng);
        n = std::min(n, input.size() - pos);
        if (rng && (*rng)() % 2) {
            p.feed(std::string_view(input).substr(pos, n));
        } else {
            auto area = p.write_area(n);
            REQUIRE(area.size() >= n);
            std::memcpy(area.data(), input.data() + pos, n);
            p.commit(n);
        }
        pos += n;
        drain(p, out);
    }
    Command cmd;
    auto st = p.next(cmd);
    if (final_status) *final_status = st;
    if (error) *error = p.error();
    return out;
}

std::string parse_error(const std::string& input, ParserLimits limits = {}) {
    // Same error whole and byte by byte.
    RequestParser::Status st1, st2;
    std::string e1, e2;
    frame_all(input + std::string(1, '\0').substr(0, 0), nullptr, 1, &st1, &e1, limits);
    {
        RequestParser p(limits);
        p.feed(input);
        std::vector<Framed> out;
        drain(p, out);
        Command cmd;
        st2 = p.next(cmd);
        e2 = p.error();
    }
    CHECK(st1 == RequestParser::Status::error);
    CHECK(st2 == RequestParser::Status::error);
    CHECK(e1 == e2);
    return e2;
}

}  // namespace

TEST_CASE("request parser frames a single multibulk command", "[request_parser]") {
    RequestParser p;
    const std::string in = multibulk({"SET", "key", "value"});
    p.feed(in);
    Command cmd;
    REQUIRE(p.next(cmd) == RequestParser::Status::command);
    CHECK(cmd.name == "set");
    REQUIRE(cmd.argc() == 3);
    CHECK(cmd.argv[0] == "SET");
    CHECK(cmd.argv[1] == "key");
    CHECK(cmd.argv[2] == "value");
    CHECK(cmd.raw == in);
    CHECK_FALSE(cmd.is_inline);
    CHECK(p.buffered() == 0);
    CHECK(p.next(cmd) == RequestParser::Status::incomplete);
}

TEST_CASE("request parser keeps binary arguments intact", "[request_parser]") {
    std::string bin("a\r\nb\0c$*\n", 10);
    const std::string in = multibulk({"set", bin, ""});
    auto out = frame_all(in, nullptr, 1);
    REQUIRE(out.size() == 1);
    CHECK(out[0].argv[1] == bin);
    CHECK(out[0].argv[2].empty());
    CHECK(out[0].raw == in);
}

TEST_CASE("request parser handles incomplete input and reports buffered bytes",
          "[request_parser]") {
    RequestParser p;
    Command cmd;
    p.feed("*2\r\n$4\r\nECHO\r\n$5\r\nhel");
    CHECK(p.next(cmd) == RequestParser::Status::incomplete);
    CHECK(p.buffered() == 21);
    p.feed("lo\r\n");
    REQUIRE(p.next(cmd) == RequestParser::Status::command);
    CHECK(cmd.argv[1] == "hello");
    CHECK(p.buffered() == 0);
}

TEST_CASE("request parser frames inline commands", "[request_parser]") {
    auto out = frame_all("PING\r\nset a b\nGET  \t k \r\n", nullptr, 1);
    REQUIRE(out.size() == 3);
    CHECK(out[0].argv == std::vector<std::string>{"PING"});
    CHECK(out[0].raw == "PING\r\n");
    CHECK(out[0].is_inline);
    CHECK(out[1].argv == std::vector<std::string>{"set", "a", "b"});
    CHECK(out[1].raw == "set a b\n");
    CHECK(out[2].name == "get");
    CHECK(out[2].argv == std::vector<std::string>{"GET", "k"});
}

TEST_CASE("inline splitting follows sdssplitargs", "[request_parser]") {
    auto out = frame_all(
        "set \"a b\" 'c d'\r\n"
        "set \"\\x41\\x4a\\n\\r\\t\\b\\a\\\"\\q\" 'it\\'s'\r\n"
        "set \"\" ''\r\n"
        "set ab\"c d\"e\r\n",
        nullptr, 1);
    // The last line is unbalanced: `"c d"` is followed by `e`.
    REQUIRE(out.size() == 3);
    CHECK(out[0].argv == std::vector<std::string>{"set", "a b", "c d"});
    CHECK(out[1].argv == std::vector<std::string>{"set", "AJ\n\r\t\b\a\"q", "it's"});
    CHECK(out[2].argv == std::vector<std::string>{"set", "", ""});
    CHECK(parse_error("set ab\"c d\"e\r\n") == "Protocol error: unbalanced quotes in request");
    CHECK(parse_error("set \"abc\r\n") == "Protocol error: unbalanced quotes in request");
    CHECK(parse_error("set 'abc\n") == "Protocol error: unbalanced quotes in request");
    // A quote opening mid-token joins the text: ab"c d" -> `abc d`.
    auto joined = frame_all("set ab\"c d\"\r\n", nullptr, 1);
    REQUIRE(joined.size() == 1);
    CHECK(joined[0].argv[1] == "abc d");
}

TEST_CASE("inline and multibulk commands mix in one pipeline", "[request_parser]") {
    const std::string in = "PING\r\n" + multibulk({"GET", "x"}) + "echo hi\n" +
                           multibulk({"DEL", "a", "b"}) + "QUIT\r\n";
    for (int mode = 0; mode < 2; ++mode) {
        std::mt19937 rng(7);
        auto out = frame_all(in, mode ? &rng : nullptr, 5);
        REQUIRE(out.size() == 5);
        CHECK(out[0].is_inline);
        CHECK_FALSE(out[1].is_inline);
        CHECK(out[2].argv == std::vector<std::string>{"echo", "hi"});
        CHECK(out[3].argv == std::vector<std::string>{"DEL", "a", "b"});
        CHECK(out[4].name == "quit");
        std::string joined;
        for (auto& f : out) joined += f.raw;
        CHECK(joined == in);
    }
}

TEST_CASE("empty commands are skipped", "[request_parser]") {
    auto out =
        frame_all("*0\r\n*-1\r\n\r\n   \r\n\n*-7\r\n" + multibulk({"PING"}) + "\r\n", nullptr, 1);
    REQUIRE(out.size() == 1);
    CHECK(out[0].name == "ping");
    CHECK(out[0].raw == "*1\r\n$4\r\nPING\r\n");
}

TEST_CASE("request parser refuses non-bulk elements like Redis", "[request_parser]") {
    CHECK(parse_error("*1\r\n:5\r\n") == "Protocol error: expected '$', got ':'");
    CHECK(parse_error("*2\r\n*1\r\n$1\r\na\r\n") == "Protocol error: expected '$', got '*'");
    CHECK(parse_error("*1\r\n+OK\r\n") == "Protocol error: expected '$', got '+'");
    CHECK(parse_error("*2\r\n$3\r\nget\r\n-ERR\r\n") == "Protocol error: expected '$', got '-'");
}

TEST_CASE("request parser refuses malformed lengths", "[request_parser]") {
    CHECK(parse_error("*abc\r\n") == "Protocol error: invalid multibulk length");
    CHECK(parse_error("*\r\n") == "Protocol error: invalid multibulk length");
    CHECK(parse_error("*01\r\n") == "Protocol error: invalid multibulk length");
    CHECK(parse_error("*1x\r\n") == "Protocol error: invalid multibulk length");
    CHECK(parse_error("*99999999999999999999999\r\n") ==
          "Protocol error: invalid multibulk length");
    CHECK(parse_error("*1\r\n$abc\r\n") == "Protocol error: invalid bulk length");
    CHECK(parse_error("*1\r\n$-1\r\n") == "Protocol error: invalid bulk length");
    CHECK(parse_error("*1\r\n$\r\n") == "Protocol error: invalid bulk length");
    CHECK(parse_error("*1\r\n$+3\r\nabc\r\n") == "Protocol error: invalid bulk length");
    CHECK(parse_error("*1\rx") == "Protocol error: invalid multibulk length");
    // A bulk whose declared length does not end at a CRLF (Redis would silently skip
    // two bytes; the proxy refuses rather than risk disagreeing with the server).
    CHECK(parse_error("*2\r\n$4\r\nECHO\r\n$1\r\nhi\r\n") ==
          "Protocol error: expected CRLF after bulk string");
    CHECK(parse_error("*1\r\n$4\r\nPINGxy") == "Protocol error: expected CRLF after bulk string");
}

TEST_CASE("request parser enforces limits before buffering", "[request_parser]") {
    ParserLimits limits;
    limits.max_bulk_len = 1000;
    limits.max_multibulk_len = 10;
    limits.max_inline_len = 100;
    // The body of a refused bulk never needs to arrive.
    CHECK(parse_error("*1\r\n$1001\r\n", limits) == "Protocol error: invalid bulk length");
    CHECK(parse_error("*11\r\n", limits) == "Protocol error: invalid multibulk length");
    CHECK(parse_error("*3\r\n$1\r\na\r\n$536870913\r\n") == "Protocol error: invalid bulk length");
    CHECK(parse_error("*1048577\r\n") == "Protocol error: invalid multibulk length");
    CHECK(parse_error(std::string(101, 'a'), limits) == "Protocol error: too big inline request");
    CHECK(parse_error(std::string(101, 'a') + "\r\n", limits) ==
          "Protocol error: too big inline request");
    CHECK(parse_error("*" + std::string(101, '1'), limits) ==
          "Protocol error: too big mbulk count string");
    CHECK(parse_error("*1\r\n$" + std::string(101, '1'), limits) ==
          "Protocol error: too big bulk count string");

    // At the limits everything is accepted.
    auto out = frame_all(multibulk(std::vector<std::string>(10, std::string(1000, 'x'))) +
                             std::string(100, 'b') + "\r\n",
                         nullptr, 1, nullptr, nullptr, limits);
    REQUIRE(out.size() == 2);
    CHECK(out[0].argv.size() == 10);
    CHECK(out[1].argv[0].size() == 100);
}

TEST_CASE("request parser stays in error", "[request_parser]") {
    RequestParser p;
    Command cmd;
    p.feed("*1\r\n:1\r\n");
    REQUIRE(p.next(cmd) == RequestParser::Status::error);
    const std::string err = p.error();
    p.feed(multibulk({"PING"}));
    CHECK(p.next(cmd) == RequestParser::Status::error);
    CHECK(p.error() == err);
}

TEST_CASE("commands before an error are still returned", "[request_parser]") {
    RequestParser p;
    Command cmd;
    p.feed(multibulk({"GET", "a"}) + "*1\r\n$x\r\n");
    REQUIRE(p.next(cmd) == RequestParser::Status::command);
    CHECK(cmd.argv[1] == "a");
    CHECK(p.next(cmd) == RequestParser::Status::error);
}

TEST_CASE("random pipelines frame identically under any fragmentation", "[request_parser]") {
    std::mt19937 rng(12345);
    auto rand_arg = [&](bool inline_safe) {
        std::size_t len = rng() % 4 == 0 ? rng() % 3000 : rng() % 12;
        std::string s;
        for (std::size_t i = 0; i < len; ++i) {
            char c = static_cast<char>(rng() % 256);
            if (inline_safe) c = static_cast<char>('a' + rng() % 26);
            s.push_back(c);
        }
        if (inline_safe && s.empty()) s = "x";
        return s;
    };
    for (int round = 0; round < 60; ++round) {
        std::string input, expected_raw;
        std::vector<std::vector<std::string>> expected;
        std::vector<bool> expected_inline;
        const int n = 1 + static_cast<int>(rng() % 40);
        for (int i = 0; i < n; ++i) {
            const bool inl = rng() % 4 == 0;
            std::vector<std::string> argv;
            const int argc = 1 + static_cast<int>(rng() % 5);
            for (int j = 0; j < argc; ++j) argv.push_back(rand_arg(inl));
            std::string raw;
            if (inl) {
                for (std::size_t j = 0; j < argv.size(); ++j) raw += (j ? " " : "") + argv[j];
                raw += rng() % 2 ? "\r\n" : "\n";
            } else {
                raw = multibulk(argv);
            }
            input += raw;
            expected_raw += raw;
            if (rng() % 8 == 0) input += "*0\r\n";
            expected.push_back(argv);
            expected_inline.push_back(inl);
        }
        const std::size_t max_chunk = round % 3 == 0 ? 1 : 1 + rng() % 5000;
        auto out = frame_all(input, round % 3 == 0 ? nullptr : &rng, max_chunk);
        REQUIRE(out.size() == expected.size());
        std::string joined;
        for (std::size_t i = 0; i < out.size(); ++i) {
            REQUIRE(out[i].argv == expected[i]);
            CHECK(out[i].is_inline == expected_inline[i]);
            CHECK(out[i].name == Command::lower(expected[i][0]));
            joined += out[i].raw;
        }
        CHECK(joined == expected_raw);
    }
}

TEST_CASE("byte-by-byte feeding of a large bulk is linear", "[request_parser]") {
    const std::string big(4 * 1024 * 1024, 'v');
    const std::string in = multibulk({"SET", "k", big}) + multibulk({"GET", "k"});
    RequestParser p;
    Command cmd;
    std::vector<Framed> out;
    auto t0 = std::chrono::steady_clock::now();
    for (char c : in) {
        auto area = p.write_area(1);
        area[0] = c;
        p.commit(1);
        drain(p, out);
    }
    auto elapsed = std::chrono::steady_clock::now() - t0;
    REQUIRE(out.size() == 2);
    CHECK(out[0].argv[2] == big);
    CHECK(out[1].name == "get");
    // Quadratic behaviour would take minutes; linear takes well under this even with ASan.
    CHECK(elapsed < std::chrono::seconds(20));
}

TEST_CASE("shrink_if_idle releases buffers only when idle", "[request_parser]") {
    RequestParser p;
    Command cmd;
    p.feed(multibulk({"SET", "k", std::string(100000, 'x')}));
    REQUIRE(p.next(cmd) == RequestParser::Status::command);
    p.feed("*1\r\n$4\r\nPI");
    CHECK(p.next(cmd) == RequestParser::Status::incomplete);
    p.shrink_if_idle();  // partial command buffered: must keep it
    CHECK(p.buffered() == 10);
    p.feed("NG\r\n");
    REQUIRE(p.next(cmd) == RequestParser::Status::command);
    CHECK(cmd.name == "ping");
    p.shrink_if_idle();
    CHECK(p.buffered() == 0);
    p.feed("echo again\r\n");
    REQUIRE(p.next(cmd) == RequestParser::Status::command);
    CHECK(cmd.argv[1] == "again");
}

TEST_CASE("write_area gives at least the requested room", "[request_parser]") {
    RequestParser p;
    for (std::size_t want : {1u, 100u, 5000u, 70000u}) {
        auto area = p.write_area(want);
        CHECK(area.size() >= want);
        p.commit(0);
    }
    CHECK(p.buffered() == 0);
}

TEST_CASE("Command::lower lower-cases ASCII only", "[request_parser]") {
    CHECK(Command::lower("CLIENT SetName") == "client setname");
    CHECK(Command::lower("\xC3\x89") == "\xC3\x89");
}

TEST_CASE("an inline line with a NUL before its newline waits, like Redis", "[request_parser]") {
    // Issue 10, defect 5. Redis finds the newline with strchr(): the NUL hides it, so Redis
    // answers nothing and, past 64 KiB, "too big inline request". Never framed, never
    // forwarded.
    RequestParser::Status st;
    std::string err;
    static constexpr char kStream[] = "PING\r\nGET a\0b c\r\nx\ry\nPING\r\n";
    auto out = frame_all(std::string(kStream, sizeof kStream - 1), nullptr, 1, &st, &err);
    REQUIRE(out.size() == 1);
    CHECK(out[0].name == "ping");
    CHECK(st == RequestParser::Status::incomplete);
    // A NUL right at the start of a line, after a complete command.
    out = frame_all(std::string("PING\r\n\0PING\r\n", 13), nullptr, 1, &st);
    CHECK(out.size() == 1);
    CHECK(st == RequestParser::Status::incomplete);
    // Then the 64 KiB limit applies to everything buffered, as in Redis.
    CHECK(parse_error(std::string("GET a\0b\r\n", 9) + std::string(64 * 1024, 'x')) ==
          "Protocol error: too big inline request");
}

TEST_CASE("before AUTH a client gets Redis 7's small limits", "[request_parser]") {
    auto first_status = [](const std::string& in, bool authenticated, std::string* err) {
        RequestParser p;
        p.set_authenticated(authenticated);
        p.feed(in);
        Command cmd;
        auto st = p.next(cmd);
        *err = p.error();
        return st;
    };
    std::string err;
    CHECK(first_status("*11\r\n", false, &err) == RequestParser::Status::error);
    CHECK(err == "Protocol error: unauthenticated multibulk length");
    CHECK(first_status("*1000000\r\n", false, &err) == RequestParser::Status::error);
    CHECK(err == "Protocol error: unauthenticated multibulk length");
    // Redis says "unauthenticated" even past the general limit, "invalid" when malformed.
    CHECK(first_status("*2000000\r\n", false, &err) == RequestParser::Status::error);
    CHECK(err == "Protocol error: unauthenticated multibulk length");
    CHECK(first_status("*1x\r\n", false, &err) == RequestParser::Status::error);
    CHECK(err == "Protocol error: invalid multibulk length");
    CHECK(first_status("*2\r\n$3\r\nSET\r\n$104857600\r\n", false, &err) ==
          RequestParser::Status::error);
    CHECK(err == "Protocol error: unauthenticated bulk length");
    CHECK(first_status("*1\r\n$16385\r\n", false, &err) == RequestParser::Status::error);
    CHECK(err == "Protocol error: unauthenticated bulk length");
    CHECK(first_status("*1\r\n$600000000\r\n", false, &err) == RequestParser::Status::error);
    CHECK(err == "Protocol error: invalid bulk length");
    // At the limits, and once authenticated, nothing is refused.
    CHECK(first_status("*10\r\n$16384\r\n", false, &err) == RequestParser::Status::incomplete);
    CHECK(first_status("*11\r\n$104857600\r\n", true, &err) == RequestParser::Status::incomplete);

    // Checked per command: AUTH answered, the next command of the pipeline is free.
    RequestParser p;
    p.set_authenticated(false);
    p.feed("*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*1\r\n$20000\r\n" + std::string(20000, 'a') +
           "\r\n*11\r\n");
    Command cmd;
    REQUIRE(p.next(cmd) == RequestParser::Status::command);
    CHECK(cmd.name == "auth");
    p.set_authenticated(true);
    REQUIRE(p.next(cmd) == RequestParser::Status::command);
    CHECK(cmd.name.size() == 20000);
    p.set_authenticated(false);  // RESET
    CHECK(p.next(cmd) == RequestParser::Status::error);
    CHECK(p.error() == "Protocol error: unauthenticated multibulk length");
}

TEST_CASE("no heap allocation per command in steady state", "[request_parser]") {
    std::string pipeline;
    for (int i = 0; i < 50; ++i) {
        pipeline += multibulk({"SET", "key:" + std::to_string(i), std::string(100, 'v')});
        pipeline += "get \"key\" 'x'\r\n";
        pipeline += multibulk({"CLIENT", "SETNAME", "n"});
    }
    RequestParser p;
    Command cmd;
    auto run = [&] {
        std::size_t commands = 0;
        for (std::size_t pos = 0; pos < pipeline.size(); pos += 333) {
            p.feed(std::string_view(pipeline).substr(pos, 333));
            while (p.next(cmd) == RequestParser::Status::command) ++commands;
        }
        return commands;
    };
    REQUIRE(run() == 150);  // warm-up: buffers reach their working size
    g_allocations = 0;
    g_count_allocations = true;
    const std::size_t commands = run();
    g_count_allocations = false;
    CHECK(commands == 150);
    CHECK(g_allocations == 0);
}

// The session's read path: every idle client reads into one area per thread, framed with
// state lent per thread; only a command left incomplete gets the client its own buffer.
TEST_CASE("sessions sharing one read area allocate nothing while requests arrive whole",
          "[request_parser]") {
    static char area_bytes[64 * 1024];
    const std::span<char> shared(area_bytes, sizeof(area_bytes));
    std::vector<RequestParser> parsers(4);
    Command cmd;
    const std::string get = multibulk({"GET", "key"});
    auto read_into = [&](RequestParser& p, std::string_view bytes) {
        auto area = p.write_area(16 * 1024, shared);
        REQUIRE(area.size() >= bytes.size());
        std::memcpy(area.data(), bytes.data(), bytes.size());
        p.commit(bytes.size());
    };
    auto round = [&] {
        std::size_t commands = 0;
        for (auto& p : parsers) {
            read_into(p, get);
            while (p.next(cmd) == RequestParser::Status::command) {
                CHECK(cmd.raw == get);
                ++commands;
            }
            if (p.buffered() == 0) p.shrink_if_idle();
            p.keep_unread();
        }
        return commands;
    };
    REQUIRE(round() == 4);  // warm-up: the thread's reader and argv reach their size
    g_allocations = 0;
    g_count_allocations = true;
    std::size_t commands = 0;
    for (int i = 0; i < 100; ++i) commands += round();
    g_count_allocations = false;
    CHECK(commands == 400);
    CHECK(g_allocations == 0);
}

TEST_CASE("a command left incomplete in the shared area survives other sessions' reads",
          "[request_parser]") {
    static char area_bytes[1024];
    const std::span<char> shared(area_bytes, sizeof(area_bytes));
    RequestParser a, b;
    Command cmd;
    const std::string set = multibulk({"SET", "k", std::string(300, 'x')});
    auto read_into = [&](RequestParser& p, std::string_view bytes) {
        auto area = p.write_area(bytes.size(), shared);
        REQUIRE(area.size() >= bytes.size());
        std::memcpy(area.data(), bytes.data(), bytes.size());
        p.commit(bytes.size());
    };
    SECTION("kept by the session itself") {
        read_into(a, std::string_view(set).substr(0, 100));
        CHECK(a.next(cmd) == RequestParser::Status::incomplete);
        a.keep_unread();
    }
    SECTION("left there: the next reader makes it keep the bytes first") {
        read_into(a, std::string_view(set).substr(0, 100));
        CHECK(a.next(cmd) == RequestParser::Status::incomplete);
    }
    // b overwrites the shared area with a whole command of its own.
    read_into(b, std::string(1000, '\n').replace(0, 6, "PING\r\n"));
    REQUIRE(b.next(cmd) == RequestParser::Status::command);
    CHECK(cmd.name == "ping");
    b.keep_unread();
    CHECK(a.buffered() == 100);
    read_into(a, std::string_view(set).substr(100));
    REQUIRE(a.next(cmd) == RequestParser::Status::command);
    CHECK(cmd.raw == set);
    CHECK(cmd.argv[2] == std::string(300, 'x'));
    a.keep_unread();
    CHECK(a.buffered() == 0);
}
