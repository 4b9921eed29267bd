// parse_hello: HELLO's options read positionally, with Redis's error texts.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/hello_options.h"

using sp::protocol::parse_hello;

namespace {
sp::protocol::HelloOptions parse(std::vector<std::string_view> argv) {
    return parse_hello(argv);
}
}  // namespace

TEST_CASE("HELLO options: a SETNAME value is not taken for a keyword", "[hello_options]") {
    // Issue 10, defect 6: "auth" here is the client name, then AUTH follows.
    auto o = parse({"HELLO", "3", "SETNAME", "auth", "AUTH", "default", "pw"});
    CHECK(o.error.empty());
    CHECK(o.version == 3);
    REQUIRE(o.client_name);
    CHECK(*o.client_name == "auth");
    REQUIRE(o.user);
    CHECK(*o.user == "default");
    CHECK(*o.password == "pw");

    o = parse({"HELLO", "2", "AUTH", "setname", "x", "SETNAME", "AUTH"});
    CHECK(o.error.empty());
    CHECK(*o.user == "setname");
    CHECK(*o.password == "x");
    CHECK(*o.client_name == "AUTH");

    o = parse({"hello", "3", "auth", "u", "p", "auth", "u2", "p2"});
    CHECK(o.error.empty());
    CHECK(*o.user == "u2");  // the last one wins, as in Redis
}

TEST_CASE("HELLO options: no arguments or a version alone", "[hello_options]") {
    auto o = parse({"HELLO"});
    CHECK(o.error.empty());
    CHECK(o.version == 0);
    CHECK_FALSE(o.user);
    o = parse({"HELLO", "2"});
    CHECK(o.error.empty());
    CHECK(o.version == 2);
}

TEST_CASE("HELLO options: errors as Redis words them", "[hello_options]") {
    const std::string bad_version = "ERR Protocol version is not an integer or out of range";
    CHECK(parse({"HELLO", "x"}).error == bad_version);
    CHECK(parse({"HELLO", "03"}).error == bad_version);
    CHECK(parse({"HELLO", "-0"}).error == bad_version);
    CHECK(parse({"HELLO", "99999999999999999999"}).error == bad_version);
    CHECK(parse({"HELLO", "4"}).error == "NOPROTO unsupported protocol version");
    CHECK(parse({"HELLO", "-3"}).error == "NOPROTO unsupported protocol version");
    CHECK(parse({"HELLO", "3", "SETNAME"}).error == "ERR Syntax error in HELLO option 'SETNAME'");
    CHECK(parse({"HELLO", "3", "AUTH", "u"}).error == "ERR Syntax error in HELLO option 'AUTH'");
    auto o = parse({"HELLO", "3", "FOO", "bar", "AUTH", "u", "p"});
    CHECK(o.error == "ERR Syntax error in HELLO option 'FOO'");
    CHECK_FALSE(o.user);  // a bad option fails the whole command, AUTH included
    o = parse({"HELLO", "3", "AUTH", "u", "p", "SETNAME", "a b"});
    CHECK(o.error == "ERR Client names cannot contain spaces, newlines or special characters.");
    CHECK_FALSE(o.user);
    CHECK(parse({"HELLO", "3", "SETNAME", ""}).error.empty());  // empty clears the name
}
