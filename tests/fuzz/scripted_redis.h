// A scripted Redis for the session fuzz target: per-connection semantics close to Redis 7's
// for the commands that target sends (state, MULTI/WATCH, pub/sub mode, RESP2/3, AUTH,
// RESET, QUIT, blocking pops answered at once) and no data at all: every reply is a pure
// function of the command and of the connection's state. A GET's value names the db, the
// user and the protocol of the connection it ran on, so a command the proxy sent over a
// connection in the wrong state gets a reply that differs from the reference run.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/request_parser.h"

namespace sp::fuzz {

// One reply frame and the command (lower-cased name) that produced it.
struct ScriptedFrame {
    std::string bytes;
    std::string command;
};

class ScriptedRedis {
  public:
    ScriptedRedis();
    ScriptedRedis(ScriptedRedis&&) = default;

    // Feeds request bytes; appends one ScriptedFrame per reply frame. Returns false once the
    // connection is over (QUIT or a protocol error; its last reply is included).
    bool feed(std::string_view bytes, std::vector<ScriptedFrame>& out);
    // A demoted master: writes (SET, INCR) get -READONLY, as on a replica.
    void set_read_only(bool yes) { read_only_ = yes; }

    bool in_multi() const { return multi_; }
    bool subscribed_resp2() const { return proto_ == 2 && !channels_.empty(); }
    bool subscribed() const { return !channels_.empty(); }

  private:
    void execute(const std::vector<std::string>& argv, std::vector<ScriptedFrame>& out);
    std::string reply_to(const std::vector<std::string>& argv, std::vector<ScriptedFrame>& out);
    void subscription(std::string_view verb, std::string_view channel, std::size_t count,
                      std::vector<ScriptedFrame>& out);
    void reset();

    std::unique_ptr<protocol::RequestParser> parser_;
    bool over_ = false;
    bool read_only_ = false;
    int db_ = 0;
    int proto_ = 2;
    std::string user_ = "default";
    std::string name_;
    bool multi_ = false;
    bool multi_dirty_ = false;
    std::vector<std::vector<std::string>> queued_;
    std::set<std::string> channels_;  // channels and patterns ("p:" prefix)
};

}  // namespace sp::fuzz
