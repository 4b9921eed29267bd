// proxy/sentinel/problem_log: one warning per node and cause per interval.
#include <catch2/catch.hpp>

#include "proxy/sentinel/problem_log.h"

using sp::proxy::ProblemLog;

TEST_CASE("problem log: once per node and cause per interval", "[problem_log]") {
    ProblemLog log(10'000);
    CHECK(log.report(1'000, "10.0.0.5:6379", "auth", "redis 10.0.0.5:6379: AUTH refused"));
    CHECK_FALSE(log.report(1'100, "10.0.0.5:6379", "auth", "again"));
    CHECK_FALSE(log.report(10'999, "10.0.0.5:6379", "auth", "again"));
    // Another cause or another node is its own line.
    CHECK(log.report(1'200, "10.0.0.5:6379", "tls", "redis 10.0.0.5:6379: TLS"));
    CHECK(log.report(1'300, "10.0.0.6:6379", "auth", "redis 10.0.0.6:6379: AUTH refused"));
    // After the interval it is logged again (with the count left out).
    CHECK(log.report(11'000, "10.0.0.5:6379", "auth", "redis 10.0.0.5:6379: AUTH refused"));
    CHECK_FALSE(log.report(11'001, "10.0.0.5:6379", "auth", "again"));
}
