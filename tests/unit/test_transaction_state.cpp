// proxy/session/transaction_state: MULTI/WATCH as Redis runs them, the rules ParseTimeState
// and ConnectionState share.
#include <catch2/catch.hpp>

#include "proxy/session/transaction_state.h"

using sp::protocol::CommandKind;
using sp::proxy::TransactionState;

TEST_CASE("transaction state: MULTI, EXEC, DISCARD and WATCH", "[transaction_state]") {
    TransactionState t;
    CHECK_FALSE(t.in_multi());
    CHECK_FALSE(t.watching());
    CHECK_FALSE(t.follow(CommandKind::watch));
    CHECK(t.watching());
    CHECK_FALSE(t.follow(CommandKind::multi));
    CHECK(t.in_multi());
    CHECK_FALSE(t.follow(CommandKind::normal));  // queued
    CHECK(t.in_multi());
    // EXEC ends the transaction and the WATCH with it.
    CHECK(t.follow(CommandKind::exec));
    CHECK_FALSE(t.in_multi());
    CHECK_FALSE(t.watching());

    t.follow(CommandKind::watch);
    t.follow(CommandKind::multi);
    CHECK(t.follow(CommandKind::discard));
    CHECK_FALSE(t.watching());
}

TEST_CASE("transaction state: EXEC or DISCARD without MULTI keep the WATCH",
          "[transaction_state]") {
    TransactionState t;
    t.follow(CommandKind::watch);
    CHECK_FALSE(t.follow(CommandKind::exec));  // -ERR EXEC without MULTI
    CHECK(t.watching());
    CHECK_FALSE(t.follow(CommandKind::discard));
    CHECK(t.watching());
    t.follow(CommandKind::unwatch);
    CHECK_FALSE(t.watching());
    // RESET ends everything.
    t.follow(CommandKind::watch);
    t.follow(CommandKind::multi);
    CHECK_FALSE(t.follow(CommandKind::reset));
    CHECK_FALSE(t.in_multi());
    CHECK_FALSE(t.watching());
    // A prediction gives way to what the replies said.
    TransactionState replies;
    replies.follow(CommandKind::watch);
    t.assume(replies);
    CHECK(t.watching());
    CHECK_FALSE(t.in_multi());
}
