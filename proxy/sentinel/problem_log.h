// Warnings about why the proxy cannot use a node it must reach (a refused AUTH, a TLS
// handshake that failed), rate-limited per node and cause: the first one of a kind is
// logged at once, repeats at most once per interval with the number left out, so a wrong
// password retried ten times a second gives one line every 10 s, not a flood.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace sp::proxy {

class ProblemLog {
  public:
    static constexpr std::uint64_t kDefaultEveryMs = 10'000;
    explicit ProblemLog(std::uint64_t every_ms = kDefaultEveryMs) : every_ms_(every_ms) {}

    // Logs `message` at warning unless `node` and `cause` were logged less than the
    // interval ago; then it only counts it, and the next warning says how many were left out.
    // Returns true when it logged.
    bool report(std::uint64_t now_ms, const std::string& node, const std::string& cause,
                const std::string& message);

  private:
    struct Entry {
        std::uint64_t logged_ms = 0;
        std::uint64_t suppressed = 0;
    };
    static constexpr std::size_t kMaxEntries = 1024;
    std::uint64_t every_ms_;
    std::map<std::string, Entry> entries_;
};

}  // namespace sp::proxy
