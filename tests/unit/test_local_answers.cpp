// proxy/session/local_answers: what the proxy answers itself for connection-state commands
// on a shared link, byte for byte what Redis 7 answers.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "protocol/command_policy.h"
#include "protocol/hello_options.h"
#include "protocol/reply_writer.h"
#include "proxy/session/local_answers.h"

using sp::protocol::Command;
using sp::protocol::CommandTable;
using sp::protocol::RequestParser;
using sp::protocol::RespVersion;
namespace local_answers = sp::proxy::local_answers;
using local_answers::Answer;

namespace {

// Frames `args` with the real parser, decides its kind as a session does, and asks.
Answer answer(std::vector<std::string> args, std::string& out) {
    static const CommandTable table;
    RequestParser parser;
    parser.feed(sp::protocol::reply::command(args));
    Command cmd;
    REQUIRE(parser.next(cmd) == RequestParser::Status::command);
    return local_answers::on_shared(cmd, sp::protocol::decide(table, cmd).kind, out);
}

}  // namespace

TEST_CASE("local answers: state commands a shared link must not see", "[local_answers]") {
    std::string r;
    CHECK(answer({"SELECT", "0"}, r) == Answer::reply);
    CHECK(r == "+OK\r\n");
    r.clear();
    // (Only an AUTH with the proxy's own credentials stays on a shared link.)
    CHECK(answer({"AUTH", "proxy-password"}, r) == Answer::reply);
    CHECK(r == "+OK\r\n");
    r.clear();
    CHECK(answer({"RESET"}, r) == Answer::reply_change);
    CHECK(r == "+RESET\r\n");
    r.clear();
    CHECK(answer({"CLIENT", "SETNAME", "worker-1"}, r) == Answer::reply_change);
    CHECK(r == "+OK\r\n");
    r.clear();
    // Redis's own error for a bad name, and nothing changes.
    CHECK(answer({"client", "setname", "two words"}, r) == Answer::reply);
    CHECK(r == "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    r.clear();
    // A wrong arity goes to Redis, which words the error.
    CHECK(answer({"CLIENT", "SETNAME"}, r) == Answer::forward);
    CHECK(answer({"CLIENT", "SETNAME", "a", "b"}, r) == Answer::forward);
    CHECK(r.empty());
    CHECK(answer({"CLIENT", "GETNAME"}, r) == Answer::name_at_front);
    CHECK(answer({"CLIENT", "GETNAME", "x"}, r) == Answer::forward);
    CHECK(answer({"GET", "k"}, r) == Answer::forward);
    CHECK(answer({"CLIENT", "ID"}, r) == Answer::forward);
    CHECK(r.empty());
}

TEST_CASE("local answers: CLIENT GETNAME", "[local_answers]") {
    std::string r;
    local_answers::client_name(r, "", RespVersion::resp2);
    CHECK(r == "$-1\r\n");
    r.clear();
    local_answers::client_name(r, "", RespVersion::resp3);
    CHECK(r == "_\r\n");
    r.clear();
    local_answers::client_name(r, "worker-1", RespVersion::resp3);
    CHECK(r == "$8\r\nworker-1\r\n");
}

TEST_CASE("local answers: HELLO as Redis 7 answers it", "[local_answers]") {
    const std::vector<std::string_view> argv3{"HELLO", "3"};
    const auto three = sp::protocol::parse_hello(argv3);
    std::string r;
    REQUIRE(local_answers::hello(r, three, RespVersion::resp3));
    CHECK(r.rfind("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
                  "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:",
                  0) == 0);
    CHECK(r.find("$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
                 "$7\r\nmodules\r\n*0\r\n") != std::string::npos);
    // RESP2: the same pairs as a flat array; every HELLO gets a new id.
    std::string r2;
    REQUIRE(local_answers::hello(r2, three, RespVersion::resp2));
    CHECK(r2.rfind("*14\r\n", 0) == 0);
    CHECK(r2.find("$5\r\nproto\r\n:2\r\n") != std::string::npos);
    const auto id = [](const std::string& s) {
        const std::size_t at = s.find("$2\r\nid\r\n:") + 9;
        return s.substr(at, s.find("\r\n", at) - at);
    };
    CHECK(id(r) != id(r2));
    // A bad protocol version: Redis's error, no change.
    const std::vector<std::string_view> argv4{"HELLO", "4"};
    std::string e;
    CHECK_FALSE(local_answers::hello(e, sp::protocol::parse_hello(argv4), RespVersion::resp2));
    CHECK(e.rfind("-NOPROTO", 0) == 0);
}
