// Issue 20: reading a master's identity (run id, replication id) and the replicas it
// lists from INFO, for keeping a master without a sentinel majority and fencing.
#include <catch2/catch.hpp>

#include "proxy/sentinel/master_fence.h"

using sp::proxy::listed_replicas;
using sp::proxy::NodeAddress;
using sp::proxy::server_identity;

namespace {
const char* kInfo =
    "# Server\r\nredis_version:7.0.15\r\nrun_id:0123abcd\r\ntcp_port:6379\r\n\r\n"
    "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
    "slave0:ip=127.0.0.1,port=7001,state=online,offset=100,lag=0\r\n"
    "slave1:ip=10.0.0.7,port=6380,state=wait_bgsave,offset=0,lag=1\r\n"
    "master_failover_state:no-failover\r\nmaster_replid:feedbeef\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:100\r\n";
}

TEST_CASE("master fence: identity from INFO server + replication", "[master_fence]") {
    auto id = server_identity(kInfo);
    CHECK(id.run_id == "0123abcd");
    CHECK(id.replid == "feedbeef");
    CHECK(id.known());
    CHECK_FALSE(server_identity("# Server\r\nrun_id:x\r\n").known());
    // a restart changes the run id: not the same server
    auto restarted = server_identity("run_id:9999\r\nmaster_replid:feedbeef\r\n");
    CHECK_FALSE(restarted == id);
}

TEST_CASE("master fence: the replicas a master lists", "[master_fence]") {
    auto r = listed_replicas(kInfo);
    REQUIRE(r.size() == 2);
    CHECK(r[0] == NodeAddress{"127.0.0.1", 7001});
    CHECK(r[1] == NodeAddress{"10.0.0.7", 6380});
    // slave_read_only, slave_repl_offset etc. are not replicas; bad ports are skipped
    CHECK(listed_replicas("slave_read_only:1\r\nslave_repl_offset:5\r\n"
                          "slave0:ip=1.2.3.4,port=0\r\nslave1:ip=,port=5\r\n")
              .empty());
}

TEST_CASE("master fence: sentinels at work on a node, from CLIENT LIST", "[master_fence]") {
    using sp::proxy::active_sentinels;
    const char* list =
        "id=3 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=8 name=sentinel-0123abcd-cmd age=9 "
        "idle=0 flags=N db=0 cmd=ping\n"
        "id=4 addr=127.0.0.1:5001 laddr=127.0.0.1:6379 fd=9 name=sentinel-0123abcd-pubsub age=9 "
        "idle=0 flags=P db=0 cmd=subscribe\n"
        "id=5 addr=127.0.0.1:5002 laddr=127.0.0.1:6379 fd=10 name=sentinel-feedbeef-cmd age=9 "
        "idle=7 flags=N db=0 cmd=ping\n"
        "id=6 addr=127.0.0.1:5003 laddr=127.0.0.1:6379 fd=11 name=app age=9 idle=0 flags=N\n"
        "id=7 addr=127.0.0.1:5004 laddr=127.0.0.1:6379 fd=12 name=sentinel-99999999-cmd age=1 "
        "idle=1 flags=N db=0 cmd=info\n";
    auto ids = active_sentinels(list, 1);
    // the frozen one (idle 7), the pub/sub link and the application are not counted
    REQUIRE(ids.size() == 2);
    CHECK(ids[0] == "0123abcd");
    CHECK(ids[1] == "99999999");
    CHECK(active_sentinels(list, 10).size() == 3);
    CHECK(active_sentinels("", 1).empty());
}
