// reply:: encoders, checked byte for byte and framed back by the ReplyFramer.
#include <catch2/catch.hpp>
#include <string>

#include "protocol/reply_framer.h"
#include "protocol/reply_writer.h"

using namespace sp::protocol;

namespace {
std::size_t frames_in(const std::string& s) {
    ReplyFramer f;
    std::size_t pos = 0, frames = 0;
    while (pos < s.size()) {
        std::size_t used = 0;
        FrameInfo info;
        auto st = f.feed(s.data() + pos, s.size() - pos, used, info);
        REQUIRE(st != ReplyFramer::Status::error);
        pos += used;
        if (st == ReplyFramer::Status::complete) ++frames;
    }
    CHECK(f.at_boundary());
    return frames;
}
}  // namespace

TEST_CASE("reply encoders write RESP", "[reply_writer]") {
    std::string out;
    reply::error(out, "ERR unknown command");
    CHECK(out == "-ERR unknown command\r\n");
    out.clear();
    reply::status(out, "PONG");
    CHECK(out == "+PONG\r\n");
    out.clear();
    reply::integer(out, -9223372036854775807LL - 1);
    CHECK(out == ":-9223372036854775808\r\n");
    out.clear();
    reply::integer(out, 0);
    CHECK(out == ":0\r\n");
    out.clear();
    reply::bulk(out, std::string("a\r\n\0b", 5));
    CHECK(out == std::string("$5\r\na\r\n\0b\r\n", 11));
    out.clear();
    reply::bulk(out, "");
    CHECK(out == "$0\r\n\r\n");
    out.clear();
    reply::array_header(out, 3);
    CHECK(out == "*3\r\n");
}

TEST_CASE("reply encoders follow the client's protocol version", "[reply_writer]") {
    std::string out;
    reply::null(out, RespVersion::resp2);
    CHECK(out == "$-1\r\n");
    out.clear();
    reply::null(out, RespVersion::resp3);
    CHECK(out == "_\r\n");
    out.clear();
    reply::null_array(out, RespVersion::resp2);
    CHECK(out == "*-1\r\n");
    out.clear();
    reply::null_array(out, RespVersion::resp3);
    CHECK(out == "_\r\n");
    out.clear();
    reply::map_header(out, 2, RespVersion::resp3);
    CHECK(out == "%2\r\n");
    out.clear();
    reply::map_header(out, 2, RespVersion::resp2);
    CHECK(out == "*4\r\n");
    out.clear();
    reply::push_header(out, 3, RespVersion::resp3);
    CHECK(out == ">3\r\n");
    out.clear();
    reply::push_header(out, 3, RespVersion::resp2);
    CHECK(out == "*3\r\n");
}

TEST_CASE("reply::command encodes a multibulk request", "[reply_writer]") {
    std::string out;
    reply::command(out, {"SELECT", "2"});
    CHECK(out == "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
    out.clear();
    reply::command(out, {});
    CHECK(out == "*0\r\n");
}

TEST_CASE("encoded replies frame as single frames", "[reply_writer]") {
    for (RespVersion v : {RespVersion::resp2, RespVersion::resp3}) {
        std::string out;
        reply::map_header(out, 2, v);
        reply::bulk(out, "server");
        reply::bulk(out, "sentinel-proxy");
        reply::bulk(out, "proto");
        reply::integer(out, static_cast<int>(v));
        reply::push_header(out, 2, v);
        reply::bulk(out, "pong");
        reply::null(out, v);
        reply::null_array(out, v);
        reply::error(out, "ERR x");
        CHECK(frames_in(out) == 4);
    }
}
