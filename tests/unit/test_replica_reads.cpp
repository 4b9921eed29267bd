// ReplicaReads: the read-your-writes fence of one client and what it requires of a replica.
#include <uv.h>

#include <catch2/catch.hpp>

#include "proxy/sentinel/read_targets.h"
#include "proxy/session/replica_reads.h"

using sp::config::ReadRouting;
using sp::proxy::ReadTargets;
using sp::proxy::ReplicaReads;
using sp::proxy::Request;

namespace {

Request answered(std::uint32_t flags, Request::Kind kind = Request::Kind::normal) {
    Request r;
    r.flags = flags;
    r.kind = kind;
    return r;
}

}  // namespace

TEST_CASE("replica reads: no write answered, no fence", "[replica_reads]") {
    ReplicaReads rr;
    ReadTargets targets;
    CHECK(rr.required(targets) == ReplicaReads::kNoFence);
    rr.note_answered(answered(sp::protocol::kReadOnly), ReadRouting::prefer_replica);
    CHECK(rr.required(targets) == ReplicaReads::kNoFence);  // a read is no fence
}

TEST_CASE("replica reads: a write answered needs the next master sample", "[replica_reads]") {
    ReplicaReads rr;
    ReadTargets targets;
    rr.note_answered(answered(sp::protocol::kWrite), ReadRouting::prefer_replica);
    CHECK(rr.required(targets) == ReplicaReads::kUnresolved);  // no sample after it yet
    targets.history().add(uv_hrtime() + 1'000'000, 4242);
    CHECK(rr.required(targets) == 4242);
    CHECK(rr.required(targets) == 4242);  // resolved once, kept for this epoch
}

TEST_CASE("replica reads: routing to the master only sets no fence", "[replica_reads]") {
    ReplicaReads rr;
    ReadTargets targets;
    rr.note_answered(answered(sp::protocol::kWrite), ReadRouting::master);
    CHECK(rr.required(targets) == ReplicaReads::kNoFence);
    Request setup = answered(sp::protocol::kWrite);
    setup.answer = sp::proxy::Answer::setup;  // the proxy's own: not the client's write
    rr.note_answered(setup, ReadRouting::replica);
    CHECK(rr.required(targets) == ReplicaReads::kNoFence);
    rr.note_answered(answered(0, Request::Kind::exec), ReadRouting::replica);  // EXEC may write
    CHECK(rr.required(targets) == ReplicaReads::kUnresolved);
}
