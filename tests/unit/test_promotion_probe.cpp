// Reading ROLE for failover.follow_promotion (issue 25): a master's offset and a replica's.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <string>

#include "proxy/sentinel/promotion_probe.h"

using sp::proxy::PromotionProbe;

namespace {

// Parses raw RESP bytes with hiredis's reader, as RespClient does.
struct Parsed {
    redisReply* reply = nullptr;
    explicit Parsed(const std::string& bytes) {
        redisReader* reader = redisReaderCreate();
        redisReaderFeed(reader, bytes.data(), bytes.size());
        void* r = nullptr;
        redisReaderGetReply(reader, &r);
        reply = static_cast<redisReply*>(r);
        redisReaderFree(reader);
    }
    ~Parsed() {
        if (reply) freeReplyObject(reply);
    }
};

}  // namespace

TEST_CASE("promotion probe: ROLE gives the role and the offset", "[promotion_probe]") {
    struct Case {
        const char* reply;
        bool is_master;
        std::uint64_t offset;
    };
    const Case cases[] = {
        // A master: its own offset.
        {"*3\r\n$6\r\nmaster\r\n:3129659\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9001\r\n$7\r\n"
         "3129242\r\n",
         true, 3129659u},
        // A replica is not a master; its offset is what it has received.
        {"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9000\r\n$9\r\nconnected\r\n:3167038\r\n", false,
         3167038u},
    };
    for (const Case& c : cases) {
        Parsed p(c.reply);
        auto role = PromotionProbe::read_role(p.reply);
        CHECK(role.answered);
        CHECK(role.is_master == c.is_master);
        CHECK(role.offset == c.offset);
    }
}

TEST_CASE("promotion probe: errors and nothing are no answer", "[promotion_probe]") {
    Parsed err("-NOAUTH Authentication required.\r\n");
    CHECK_FALSE(PromotionProbe::read_role(err.reply).answered);
    CHECK_FALSE(PromotionProbe::read_role(nullptr).answered);
    Parsed sentinel("*2\r\n$8\r\nsentinel\r\n*1\r\n$8\r\nmymaster\r\n");
    auto role = PromotionProbe::read_role(sentinel.reply);
    CHECK(role.answered);
    CHECK_FALSE(role.is_master);
}
