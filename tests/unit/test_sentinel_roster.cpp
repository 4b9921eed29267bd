// proxy/sentinel/sentinel_roster: which sentinels exist and what each is, fed with
// Sentinel's replies as hiredis's reader parses them from RESP bytes.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "proxy/sentinel/sentinel_roster.h"

using namespace sp::proxy;

namespace {

std::string bulk(const std::string& s) {
    return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

std::string array(const std::vector<std::string>& encoded) {
    std::string out = "*" + std::to_string(encoded.size()) + "\r\n";
    for (const std::string& e : encoded) out += e;
    return out;
}

// One entry of SENTINEL SENTINELS as Sentinel sends it (a flat field/value array).
std::string sentinel_entry(const std::string& ip, int port, const std::string& run_id) {
    return array({bulk("name"), bulk(run_id), bulk("ip"), bulk(ip), bulk("port"),
                  bulk(std::to_string(port)), bulk("runid"), bulk(run_id), bulk("flags"),
                  bulk("sentinel")});
}

// A parsed reply that frees itself.
struct Reply {
    explicit Reply(const std::string& raw) {
        redisReader* reader = redisReaderCreate();
        redisReaderFeed(reader, raw.data(), raw.size());
        void* parsed = nullptr;
        int rc = redisReaderGetReply(reader, &parsed);
        redisReaderFree(reader);
        REQUIRE(rc == REDIS_OK);
        REQUIRE(parsed);
        reply = static_cast<redisReply*>(parsed);
    }
    ~Reply() { freeReplyObject(reply); }
    Reply(const Reply&) = delete;
    Reply& operator=(const Reply&) = delete;
    redisReply* reply = nullptr;
};

// What one sentinel's SENTINEL SENTINELS lists: the other sentinels, never itself.
Reply listing(const std::vector<std::pair<int, std::string>>& port_and_run_id) {
    std::vector<std::string> entries;
    for (const auto& [port, run_id] : port_and_run_id)
        entries.push_back(sentinel_entry("127.0.0.1", port, run_id));
    return Reply(array(entries));
}

SentinelLink& configured(SentinelRoster& roster, int port, const std::string& run_id) {
    SentinelLink& link = roster.add({"127.0.0.1", static_cast<std::uint16_t>(port)}, true);
    link.run_id = run_id;
    return link;
}

const NodeAddress kMaster{"127.0.0.1", 6379};

void answers(SentinelLink& link, std::uint64_t round) {
    link.cmd_up = true;
    link.answered_round = round;
    link.answer = kMaster;
}

}  // namespace

TEST_CASE("sentinel roster: learns the sentinels SENTINEL SENTINELS lists", "[sentinel_roster]") {
    SentinelRoster roster;
    configured(roster, 26379, "aaa");
    Reply reply = listing({{26380, "bbb"}, {26381, "ccc"}});

    std::vector<SentinelLink*> added = roster.learn_sentinels("127.0.0.1:26379", reply.reply);
    REQUIRE(added.size() == 2);
    CHECK(added[0]->addr.str() == "127.0.0.1:26380");
    CHECK(added[0]->run_id == "bbb");
    CHECK_FALSE(added[0]->configured);
    CHECK(added[1]->addr.str() == "127.0.0.1:26381");
    CHECK(added[1]->run_id == "ccc");
    CHECK(roster.links().size() == 3);
    CHECK(roster.find("127.0.0.1:26380") == added[0]);
    // The listing sentinel remembers what it listed, by address and run id.
    const SentinelLink& from = *roster.find("127.0.0.1:26379");
    CHECK(from.listed_valid);
    CHECK(from.listed.count("127.0.0.1:26380"));
    CHECK(from.listed.count("ccc"));

    // The same list again adds nothing; nor does a list from a sentinel we do not know, or
    // a reply that is not a list.
    CHECK(roster.learn_sentinels("127.0.0.1:26379", reply.reply).empty());
    Reply more = listing({{26382, "ddd"}});
    CHECK(roster.learn_sentinels("127.0.0.1:9", more.reply).empty());
    Reply error(std::string("-ERR No such master with that name\r\n"));
    CHECK(roster.learn_sentinels("127.0.0.1:26379", error.reply).empty());
    CHECK(roster.links().size() == 3);
}

TEST_CASE("sentinel roster: one sentinel counts once, by run id and by address",
          "[sentinel_roster]") {
    SentinelRoster roster;
    SentinelLink& a = configured(roster, 26379, "aaa");
    // Configured by name; it resolved to 127.0.0.1:26380, where the others list bbb.
    SentinelLink& named = roster.add({"localhost", 26380}, true);
    named.resolved_ip = "127.0.0.1";
    named.run_id = "bbb";
    // Configured as a Service address that landed on ccc.
    SentinelLink& service = roster.add({"sentinel-svc", 26379}, true);
    service.run_id = "ccc";

    Reply reply = listing({{26380, "bbb"}, {26381, "ccc"}});
    std::vector<SentinelLink*> added = roster.learn_sentinels("127.0.0.1:26379", reply.reply);
    // 127.0.0.1:26380 is the link to localhost:26380; ccc's own address gets a link of its
    // own (the Service address may land elsewhere next time).
    REQUIRE(added.size() == 1);
    CHECK(added[0]->addr.str() == "127.0.0.1:26381");
    CHECK(roster.links().size() == 4);

    const std::uint64_t round = 7;
    answers(a, round);
    answers(service, round);
    answers(*added[0], round);
    VoteOutcome vote = count_votes(roster.ballots(round));
    CHECK(vote.known == 3);  // aaa, bbb, ccc: ccc's two links are one sentinel
    CHECK(vote.answering == 2);
    CHECK(vote.kind == VoteOutcome::Kind::majority);
    CHECK(vote.votes == 2);
    CHECK(roster.identity(*added[0]) == roster.identity(service));

    // A sentinel down since start (no MYID yet) is the one the others list at its address.
    SentinelRoster down_at_start;
    configured(down_at_start, 26379, "aaa");
    SentinelLink& silent = configured(down_at_start, 26380, "");
    CHECK(down_at_start.identity(silent) == "addr 127.0.0.1:26380");
    Reply lists_b = listing({{26380, "bbb"}});
    CHECK(down_at_start.learn_sentinels("127.0.0.1:26379", lists_b.reply).empty());
    CHECK(down_at_start.identity(silent) == "bbb");
    CHECK(count_votes(down_at_start.ballots(1)).known == 2);
}

TEST_CASE("sentinel roster: a learned sentinel is forgotten only when a majority stops listing it",
          "[sentinel_roster]") {
    SentinelRoster roster;
    configured(roster, 26379, "aaa");
    configured(roster, 26380, "bbb");
    configured(roster, 26381, "ccc");
    Reply a_all = listing({{26380, "bbb"}, {26381, "ccc"}, {26382, "ddd"}});
    Reply b_all = listing({{26379, "aaa"}, {26381, "ccc"}, {26382, "ddd"}});
    Reply c_all = listing({{26379, "aaa"}, {26380, "bbb"}, {26382, "ddd"}});
    REQUIRE(roster.learn_sentinels("127.0.0.1:26379", a_all.reply).size() == 1);
    CHECK(roster.learn_sentinels("127.0.0.1:26380", b_all.reply).empty());
    CHECK(roster.learn_sentinels("127.0.0.1:26381", c_all.reply).empty());
    SentinelLink& d = *roster.find("127.0.0.1:26382");
    CHECK(count_votes(roster.ballots(1)).known == 4);

    // Four known: one or two of them no longer listing it is no majority.
    Reply a_without = listing({{26380, "bbb"}, {26381, "ccc"}});
    Reply b_without = listing({{26379, "aaa"}, {26381, "ccc"}});
    Reply c_without = listing({{26379, "aaa"}, {26380, "bbb"}});
    roster.learn_sentinels("127.0.0.1:26379", a_without.reply);
    CHECK_FALSE(d.forget);
    roster.learn_sentinels("127.0.0.1:26380", b_without.reply);
    CHECK_FALSE(d.forget);
    CHECK(count_votes(roster.ballots(1)).known == 4);
    // The third of four is a majority.
    roster.learn_sentinels("127.0.0.1:26381", c_without.reply);
    CHECK(d.forget);
    // Configured sentinels are never forgotten, however few list them.
    for (const auto& [key, link] : roster.links())
        if (link->configured) CHECK_FALSE(link->forget);
    // Once the watcher's tick erases the link, nothing of it is left in the count.
    roster.links().erase("127.0.0.1:26382");
    CHECK(count_votes(roster.ballots(1)).known == 3);
}

TEST_CASE("sentinel roster: problems named per sentinel", "[sentinel_roster]") {
    SentinelRoster roster;
    SentinelLink& a = configured(roster, 26379, "aaa");
    SentinelLink& b = configured(roster, 26380, "bbb");
    configured(roster, 26381, "ccc");
    CHECK(roster.sentinel_problems().empty());

    roster.report_problem(a, "AUTH refused: WRONGPASS invalid username-password pair", 1'000);
    // After a refused AUTH every command answers NOAUTH: the refusal stays the cause.
    roster.report_problem(a, "NOAUTH Authentication required.", 2'000);
    CHECK(a.problem == "AUTH refused: WRONGPASS invalid username-password pair");
    roster.report_problem(b, "does not know master 'mymaster' (it knows: none)", 1'000);
    CHECK(roster.sentinel_problems() ==
          "sentinel 127.0.0.1:26379: AUTH refused: WRONGPASS invalid username-password pair; "
          "sentinel 127.0.0.1:26380: does not know master 'mymaster' (it knows: none)");

    // The same problem is logged again only after kProblemLogEveryMs; a new one at once.
    CHECK(b.problem_logged_ms == 1'000);
    roster.report_problem(b, "does not know master 'mymaster' (it knows: none)", 5'000);
    CHECK(b.problem_logged_ms == 1'000);
    roster.report_problem(b, "does not know master 'mymaster' (it knows: none)",
                          1'000 + SentinelRoster::kProblemLogEveryMs);
    CHECK(b.problem_logged_ms == 1'000 + SentinelRoster::kProblemLogEveryMs);
    roster.report_problem(b, "ERR unknown command", 32'000);
    CHECK(b.problem_logged_ms == 32'000);
}

TEST_CASE("sentinel roster: the slowest sentinel's timings count", "[sentinel_roster]") {
    SentinelRoster roster;
    configured(roster, 26379, "aaa");
    configured(roster, 26380, "bbb");
    auto master_reply = [](const std::string& down_after) {
        return Reply(array({bulk("name"), bulk("mymaster"), bulk("down-after-milliseconds"),
                            bulk(down_after), bulk("failover-timeout"), bulk("180000"),
                            bulk("parallel-syncs"), bulk("1"), bulk("num-slaves"), bulk("2")}));
    };
    Reply fast = master_reply("5000");
    Reply slow = master_reply("60000");
    auto t = roster.learn_timings("127.0.0.1:26379", fast.reply);
    REQUIRE(t);
    CHECK(t->down_after_ms == 5000);
    t = roster.learn_timings("127.0.0.1:26380", slow.reply);
    REQUIRE(t);
    CHECK(t->down_after_ms == 60000);
    // The fast one answering again does not hide the slow one.
    t = roster.learn_timings("127.0.0.1:26379", fast.reply);
    REQUIRE(t);
    CHECK(t->down_after_ms == 60000);
    CHECK_FALSE(roster.learn_timings("127.0.0.1:9", slow.reply));
    Reply error(std::string("-ERR No such master with that name\r\n"));
    CHECK_FALSE(roster.learn_timings("127.0.0.1:26379", error.reply));
}
