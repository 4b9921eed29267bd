// ConnectionState: what a new backend link must be told for one client.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "proxy/session/connection_state.h"

using sp::protocol::CommandKind;
using sp::protocol::RespVersion;
using sp::protocol::SubFamily;
using sp::proxy::BackendCredentials;
using sp::proxy::ConnectionState;
using sp::proxy::ReplayStep;

namespace {

std::vector<std::vector<std::string>> argvs(const std::vector<ReplayStep>& steps) {
    std::vector<std::vector<std::string>> out;
    for (const auto& s : steps) out.push_back(s.argv);
    return out;
}

using V = std::vector<std::vector<std::string>>;

}  // namespace

TEST_CASE("connection state: a new client replays nothing but the proxy's AUTH",
          "[connection_state]") {
    ConnectionState st;
    CHECK(st.replay({}).empty());
    CHECK(argvs(st.replay({"", "pw"})) == V{{"AUTH", "pw"}});
    CHECK(argvs(st.replay({"u", "pw"})) == V{{"AUTH", "u", "pw"}});
    CHECK(st.replay({"", "pw"}).front().critical);
}

TEST_CASE("connection state: the client's own AUTH replaces the proxy's", "[connection_state]") {
    ConnectionState st;
    st.apply(CommandKind::auth, SubFamily::channel, {"AUTH", "alice", "secret"});
    CHECK(argvs(st.replay({"", "pw"})) == V{{"AUTH", "alice", "secret"}});
}

TEST_CASE("connection state: full handshake replay order", "[connection_state]") {
    ConnectionState st;
    st.apply(CommandKind::hello, SubFamily::channel, {"HELLO", "3", "SETNAME", "auth"});
    st.apply(CommandKind::select, SubFamily::channel, {"SELECT", "2"});
    st.apply(CommandKind::client_setinfo, SubFamily::channel,
             {"CLIENT", "SETINFO", "LIB-NAME", "redis-py"});
    st.apply(CommandKind::client_setinfo, SubFamily::channel,
             {"CLIENT", "SETINFO", "lib-ver", "5.0"});
    st.apply(CommandKind::subscribe, SubFamily::channel, {"SUBSCRIBE", "b", "a"});
    st.apply(CommandKind::subscribe, SubFamily::pattern, {"PSUBSCRIBE", "p*"});
    CHECK(st.proto() == RespVersion::resp3);
    CHECK(st.client_name() == "auth");  // SETNAME's value, not an AUTH keyword
    CHECK_FALSE(st.has_client_auth());
    auto steps = st.replay({});
    CHECK(argvs(steps) == V{{"HELLO", "3", "SETNAME", "auth"},
                            {"SELECT", "2"},
                            {"CLIENT", "SETINFO", "LIB-NAME", "redis-py"},
                            {"CLIENT", "SETINFO", "LIB-VER", "5.0"},
                            {"SUBSCRIBE", "a", "b"},
                            {"PSUBSCRIBE", "p*"}});
    CHECK(steps[4].kind == CommandKind::subscribe);
    CHECK(steps[4].expect == 2);
    CHECK(steps[5].family == SubFamily::pattern);
}

TEST_CASE("connection state: HELLO AUTH and SETNAME in either order", "[connection_state]") {
    ConnectionState st;
    st.apply(CommandKind::hello, SubFamily::channel,
             {"HELLO", "3", "SETNAME", "auth", "AUTH", "default", "pw"});
    CHECK(st.client_name() == "auth");
    CHECK(argvs(st.replay({})).front() == std::vector<std::string>{"AUTH", "default", "pw"});
}

TEST_CASE("connection state: RESP2 name goes through CLIENT SETNAME", "[connection_state]") {
    ConnectionState st;
    st.apply(CommandKind::client_setname, SubFamily::channel, {"CLIENT", "SETNAME", "w1"});
    CHECK(argvs(st.replay({})) == V{{"CLIENT", "SETNAME", "w1"}});
}

TEST_CASE("connection state: unsubscribe", "[connection_state]") {
    ConnectionState st;
    st.apply(CommandKind::subscribe, SubFamily::channel, {"SUBSCRIBE", "a", "b"});
    st.apply(CommandKind::subscribe, SubFamily::shard, {"SSUBSCRIBE", "s"});
    CHECK(st.subscribed());
    st.apply(CommandKind::unsubscribe, SubFamily::channel, {"UNSUBSCRIBE", "a"});
    CHECK(st.subscriptions(SubFamily::channel).size() == 1);
    st.apply(CommandKind::unsubscribe, SubFamily::channel, {"UNSUBSCRIBE"});
    CHECK(st.subscriptions(SubFamily::channel).empty());
    CHECK(st.subscribed());
    st.apply(CommandKind::unsubscribe, SubFamily::shard, {"SUNSUBSCRIBE"});
    CHECK_FALSE(st.subscribed());
}

TEST_CASE("connection state: MULTI keeps its queue; WATCH breaks with the link",
          "[connection_state]") {
    ConnectionState st;
    st.apply(CommandKind::watch, SubFamily::channel, {"WATCH", "k"});
    st.apply(CommandKind::multi, SubFamily::channel, {"MULTI"});
    st.queued_in_transaction("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    CHECK(st.in_multi());
    CHECK(st.transaction_bytes() ==
          "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    CHECK(st.transaction_lengths() == std::vector<std::uint32_t>{15, 27});
    st.link_lost();
    CHECK(st.watch_broken());
    st.apply(CommandKind::exec, SubFamily::channel, {"EXEC"});
    CHECK_FALSE(st.in_multi());
    CHECK_FALSE(st.watching());
    CHECK_FALSE(st.watch_broken());
    CHECK(st.transaction_bytes().empty());
    st.queued_in_transaction("x");  // outside MULTI: ignored
    CHECK(st.transaction_bytes().empty());
}

TEST_CASE("connection state: RESET forgets the session but keeps the proxy's AUTH",
          "[connection_state]") {
    ConnectionState st;
    st.apply(CommandKind::auth, SubFamily::channel, {"AUTH", "alice", "secret"});
    st.apply(CommandKind::hello, SubFamily::channel, {"HELLO", "3"});
    st.apply(CommandKind::select, SubFamily::channel, {"SELECT", "5"});
    st.apply(CommandKind::subscribe, SubFamily::channel, {"SUBSCRIBE", "a"});
    st.apply(CommandKind::reset, SubFamily::channel, {"RESET"});
    CHECK(st.proto() == RespVersion::resp2);
    CHECK(st.db() == 0);
    CHECK_FALSE(st.subscribed());
    CHECK_FALSE(st.has_client_auth());
    // what the link must be told after RESET: the proxy's credentials again
    CHECK(argvs(st.replay({"", "pw"})) == V{{"AUTH", "pw"}});
}

TEST_CASE("connection state: EXEC or DISCARD without MULTI keeps the WATCH (issue 21, case 7)",
          "[connection_state]") {
    ConnectionState st;
    st.apply(CommandKind::watch, SubFamily::channel, {"WATCH", "k"});
    st.apply(CommandKind::exec, SubFamily::channel, {"EXEC"});  // "-ERR EXEC without MULTI"
    CHECK(st.watching());
    CHECK(st.needs_own_link());
    st.apply(CommandKind::discard, SubFamily::channel, {"DISCARD"});
    CHECK(st.watching());
    st.apply(CommandKind::multi, SubFamily::channel, {"MULTI"});
    st.apply(CommandKind::exec, SubFamily::channel, {"EXEC"});  // nil, EXECABORT or an array
    CHECK_FALSE(st.watching());
    CHECK_FALSE(st.needs_own_link());
}

TEST_CASE(
    "connection state: a state command queued in MULTI counts only if EXEC ran it "
    "(issue 21, case 8)",
    "[connection_state]") {
    const std::vector<std::string> select1{"SELECT", "1"};
    const std::vector<std::string> name{"CLIENT", "SETNAME", "n"};
    SECTION("DISCARD") {
        ConnectionState st;
        st.apply(CommandKind::multi, SubFamily::channel, {"MULTI"});
        st.queued_in_transaction("s", true, CommandKind::select, SubFamily::channel, &select1);
        CHECK(st.db() == 0);
        CHECK(st.has_queued_changes());
        st.apply(CommandKind::discard, SubFamily::channel, {"DISCARD"});
        CHECK(st.db() == 0);
        CHECK_FALSE(st.has_queued_changes());
        CHECK(argvs(st.replay({})).empty());
    }
    SECTION("EXEC: each by its own element") {
        ConnectionState st;
        st.apply(CommandKind::multi, SubFamily::channel, {"MULTI"});
        st.queued_in_transaction("g", true);  // GET k: element 0
        st.queued_in_transaction("s", true, CommandKind::select, SubFamily::channel, &select1);
        st.queued_in_transaction("bad", false);  // refused at queue time: no element
        st.queued_in_transaction("n", true, CommandKind::client_setname, SubFamily::channel, &name);
        st.exec_ran({true, true, false});  // SETNAME's element is an error
        st.apply(CommandKind::exec, SubFamily::channel, {"EXEC"});
        CHECK(st.db() == 1);
        CHECK(st.client_name().empty());
        CHECK_FALSE(st.in_multi());
    }
    SECTION("EXEC answered nil or EXECABORT") {
        ConnectionState st;
        st.apply(CommandKind::multi, SubFamily::channel, {"MULTI"});
        st.queued_in_transaction("s", true, CommandKind::select, SubFamily::channel, &select1);
        st.exec_ran({});
        st.apply(CommandKind::exec, SubFamily::channel, {"EXEC"});
        CHECK(st.db() == 0);
    }
}

TEST_CASE(
    "connection state: CLIENT REPLY OFF|SKIP hide the replies Redis would not send "
    "(issue 21, case 5)",
    "[connection_state]") {
    using A = std::vector<std::string>;
    const A off{"CLIENT", "REPLY", "OFF"}, skip{"CLIENT", "REPLY", "SKIP"},
        on{"CLIENT", "REPLY", "ON"};
    ConnectionState st;
    auto complete = [&](CommandKind kind, const A* argv, bool success = true) {
        const bool visible = st.reply_visible(kind, argv, success);
        if (success && argv) st.apply(kind, SubFamily::channel, *argv);
        return visible;
    };
    CHECK_FALSE(complete(CommandKind::client_reply, &skip));
    CHECK_FALSE(complete(CommandKind::normal, nullptr));  // GET x: skipped
    CHECK(complete(CommandKind::normal, nullptr));        // GET y
    CHECK_FALSE(complete(CommandKind::client_reply, &off));
    CHECK_FALSE(complete(CommandKind::normal, nullptr));
    CHECK_FALSE(complete(CommandKind::normal, nullptr, false));  // errors too
    CHECK_FALSE(complete(CommandKind::client_reply, &skip));     // ignored while OFF
    CHECK_FALSE(complete(CommandKind::normal, nullptr));
    CHECK(complete(CommandKind::client_reply, &on));  // ON answers
    CHECK(complete(CommandKind::normal, nullptr));
    // SKIP then ON: ON answers and the next reply is not skipped
    CHECK_FALSE(complete(CommandKind::client_reply, &skip));
    CHECK(complete(CommandKind::client_reply, &on));
    CHECK(complete(CommandKind::normal, nullptr));
    // RESET answers and ends OFF
    CHECK_FALSE(complete(CommandKind::client_reply, &off));
    const A reset{"RESET"};
    CHECK(complete(CommandKind::reset, &reset));
    CHECK(complete(CommandKind::normal, nullptr));
    // nothing of it is replayed: Redis's connection always replies
    CHECK(argvs(st.replay({})).empty());
}

TEST_CASE(
    "connection state: tracking, MONITOR and a known id bind the client to its link; "
    "NO-EVICT is replayed (issue 21, case 4)",
    "[connection_state]") {
    ConnectionState st;
    CHECK(st.bound_to_link() == nullptr);
    st.apply(CommandKind::client_tracking, SubFamily::channel,
             {"CLIENT", "TRACKING", "on", "BCAST"});
    CHECK(std::string(st.bound_to_link()) == "CLIENT TRACKING");
    st.apply(CommandKind::client_tracking, SubFamily::channel, {"CLIENT", "TRACKING", "off"});
    CHECK(st.bound_to_link() == nullptr);
    st.apply(CommandKind::client_id, SubFamily::channel, {"CLIENT", "ID"});
    CHECK(std::string(st.bound_to_link()) == "CLIENT ID");
    st.apply(CommandKind::reset, SubFamily::channel, {"RESET"});
    CHECK(st.bound_to_link() == nullptr);
    st.apply(CommandKind::monitor, SubFamily::channel, {"MONITOR"});
    CHECK(std::string(st.bound_to_link()) == "MONITOR");

    ConnectionState flags;
    flags.apply(CommandKind::client_flag, SubFamily::channel, {"CLIENT", "no-evict", "on"});
    CHECK(flags.needs_own_link());
    CHECK(argvs(flags.replay({})) == V{{"CLIENT", "NO-EVICT", "ON"}});
    flags.apply(CommandKind::reset, SubFamily::channel, {"RESET"});  // kept, as on Redis 7.0
    CHECK(argvs(flags.replay({})) == V{{"CLIENT", "NO-EVICT", "ON"}});
    flags.apply(CommandKind::client_flag, SubFamily::channel, {"CLIENT", "NO-EVICT", "off"});
    CHECK(flags.replay({}).empty());
}
