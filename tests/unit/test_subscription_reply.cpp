#include <catch2/catch.hpp>

#include "protocol/subscription_reply.h"

using sp::protocol::confirmation_channel;

TEST_CASE("confirmation_channel reads the channel of RESP2 and RESP3 confirmations") {
    CHECK(confirmation_channel("*3\r\n$9\r\nsubscribe\r\n$3\r\nch0\r\n:1\r\n") == "ch0");
    CHECK(confirmation_channel(">3\r\n$11\r\nunsubscribe\r\n$2\r\np*\r\n:0\r\n") == "p*");
    // Binary-safe: the length decides, not the CRLF.
    CHECK(confirmation_channel("*3\r\n$10\r\npsubscribe\r\n$4\r\na\r\nb\r\n:1\r\n") == "a\r\nb");
    CHECK(confirmation_channel("*3\r\n$9\r\nsubscribe\r\n$0\r\n\r\n:1\r\n") == "");
}

TEST_CASE("confirmation_channel: nil channels and other shapes give nothing") {
    CHECK_FALSE(confirmation_channel("*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"));
    CHECK_FALSE(confirmation_channel(">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"));
    CHECK_FALSE(confirmation_channel("*2\r\n$4\r\npong\r\n$0\r\n\r\n"));
    CHECK_FALSE(confirmation_channel("+OK\r\n"));
    CHECK_FALSE(confirmation_channel("*3\r\n$9\r\nsubscribe\r\n$30\r\nch0\r\n"));
    CHECK_FALSE(confirmation_channel("*3\r\n$9\r\nsubscribe\r\n$x\r\nch0\r\n:1\r\n"));
    CHECK_FALSE(confirmation_channel(""));
}
