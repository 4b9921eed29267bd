#include "tests/fuzz/scripted_redis.h"

#include <algorithm>
#include <cctype>

#include "protocol/hello_options.h"
#include "protocol/reply_writer.h"

namespace sp::fuzz {

namespace reply = protocol::reply;
using protocol::RespVersion;

namespace {

// The proxy's own ASCII lower-casing and client-name rule: the scripted Redis must agree
// with Redis, and these are the proxy's copies of Redis's rules.
std::string lower(std::string_view s) {
    return protocol::Command::lower(s);
}

bool is_write(const std::string& name) {
    return name == "set" || name == "incr";
}

// Commands Redis accepts from a RESP2 client in subscribed mode.
bool allowed_subscribed(const std::string& name) {
    return name == "subscribe" || name == "unsubscribe" || name == "psubscribe" ||
           name == "punsubscribe" || name == "ping" || name == "quit" || name == "reset";
}

}  // namespace

ScriptedRedis::ScriptedRedis() : parser_(std::make_unique<protocol::RequestParser>()) {}

bool ScriptedRedis::feed(std::string_view bytes, std::vector<ScriptedFrame>& out) {
    if (over_) return false;
    parser_->feed(bytes);
    protocol::Command cmd;
    for (;;) {
        auto st = parser_->next(cmd);
        if (st == protocol::RequestParser::Status::incomplete) return true;
        if (st == protocol::RequestParser::Status::error) {
            std::string e;
            reply::error(e, "ERR " + parser_->error());
            out.push_back({std::move(e), "<protocol error>"});
            over_ = true;
            return false;
        }
        std::vector<std::string> argv(cmd.argv.begin(), cmd.argv.end());
        execute(argv, out);
        if (over_) return false;
    }
}

void ScriptedRedis::execute(const std::vector<std::string>& argv, std::vector<ScriptedFrame>& out) {
    const std::string name = lower(argv[0]);
    if (subscribed_resp2() && !allowed_subscribed(name)) {
        std::string e;
        reply::error(e, "ERR Can't execute '" + name +
                            "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
                            "are allowed in this context");
        out.push_back({std::move(e), name});
        return;
    }
    if (multi_ && name != "exec" && name != "discard" && name != "multi" && name != "watch" &&
        name != "quit" && name != "reset") {
        std::string r;
        if (read_only_ && is_write(name)) {
            multi_dirty_ = true;
            reply::error(r, "READONLY You can't write against a read only replica.");
        } else {
            queued_.push_back(argv);
            reply::status(r, "QUEUED");
        }
        out.push_back({std::move(r), name});
        return;
    }
    std::string r = reply_to(argv, out);
    if (!r.empty()) out.push_back({std::move(r), name});
}

void ScriptedRedis::subscription(std::string_view verb, std::string_view channel, std::size_t count,
                                 std::vector<ScriptedFrame>& out) {
    std::string r;
    reply::push_header(r, 3, proto_ == 3 ? RespVersion::resp3 : RespVersion::resp2);
    reply::bulk(r, verb);
    if (channel.empty())
        reply::null(r, proto_ == 3 ? RespVersion::resp3 : RespVersion::resp2);
    else
        reply::bulk(r, channel);
    reply::integer(r, static_cast<std::int64_t>(count));
    out.push_back({std::move(r), std::string(verb)});
}

void ScriptedRedis::reset() {
    db_ = 0;
    proto_ = 2;
    user_ = "default";
    name_.clear();
    multi_ = multi_dirty_ = false;
    queued_.clear();
    channels_.clear();
}

// The reply to one command outside MULTI; empty when it was already written to `out`
// (pub/sub confirmations, one frame per channel).
std::string ScriptedRedis::reply_to(const std::vector<std::string>& argv,
                                    std::vector<ScriptedFrame>& out) {
    const std::string name = lower(argv[0]);
    const RespVersion v = proto_ == 3 ? RespVersion::resp3 : RespVersion::resp2;
    const std::size_t argc = argv.size();
    std::string r;
    auto wrong_args = [&] {
        reply::error(r, "ERR wrong number of arguments for '" + name + "' command");
        return r;
    };
    auto value = [&](const std::string& key) {
        return key + "@db" + std::to_string(db_) + "/" + user_ + "/resp" + std::to_string(proto_);
    };
    if (name == "ping") {
        if (argc > 2) return wrong_args();
        if (subscribed_resp2()) {
            reply::array_header(r, 2);
            reply::bulk(r, "pong");
            reply::bulk(r, argc == 2 ? argv[1] : "");
        } else if (argc == 2) {
            reply::bulk(r, argv[1]);
        } else {
            reply::status(r, "PONG");
        }
    } else if (name == "echo") {
        if (argc != 2) return wrong_args();
        reply::bulk(r, argv[1]);
    } else if (name == "get") {
        if (argc != 2) return wrong_args();
        reply::bulk(r, value(argv[1]));
    } else if (name == "hgetall") {
        if (argc != 2) return wrong_args();
        reply::map_header(r, 1, v);
        reply::bulk(r, "field");
        reply::bulk(r, value(argv[1]));
    } else if (name == "set" || name == "incr") {
        if (argc != (name == "set" ? 3u : 2u)) return wrong_args();
        if (read_only_)
            reply::error(r, "READONLY You can't write against a read only replica.");
        else if (name == "set")
            reply::status(r, "OK");
        else
            reply::integer(r, static_cast<std::int64_t>(argv[1].size()) + db_);
    } else if (name == "blpop") {
        if (argc < 3) return wrong_args();
        reply::array_header(r, 2);
        reply::bulk(r, argv[1]);
        reply::bulk(r, value(argv[1]));
    } else if (name == "select") {
        if (argc != 2) return wrong_args();
        const std::string& a = argv[1];
        if (a.empty() || a.size() > 3 || !std::all_of(a.begin(), a.end(), ::isdigit))
            reply::error(r, "ERR value is not an integer or out of range");
        else if (std::stoi(a) > 15)
            reply::error(r, "ERR DB index is out of range");
        else {
            db_ = std::stoi(a);
            reply::status(r, "OK");
        }
    } else if (name == "auth") {
        if (argc != 2 && argc != 3) return wrong_args();
        if (argv[argc - 1] != "pw") {
            reply::error(r, "WRONGPASS invalid username-password pair or user is disabled.");
        } else {
            user_ = argc == 3 ? argv[1] : "default";
            reply::status(r, "OK");
        }
    } else if (name == "hello") {
        std::vector<std::string_view> views(argv.begin(), argv.end());
        const protocol::HelloOptions o = protocol::parse_hello(views);
        if (!o.error.empty()) {
            reply::error(r, o.error);
            return r;
        }
        if (o.password) {
            if (*o.password != "pw") {
                reply::error(r, "WRONGPASS invalid username-password pair or user is disabled.");
                return r;
            }
            user_ = std::string(*o.user);
        }
        if (o.version) proto_ = o.version;
        if (o.client_name) name_ = std::string(*o.client_name);
        const RespVersion nv = proto_ == 3 ? RespVersion::resp3 : RespVersion::resp2;
        reply::map_header(r, 1, nv);
        reply::bulk(r, "proto");
        reply::integer(r, proto_);
    } else if (name == "client") {
        if (argc == 3 && lower(argv[1]) == "setname") {
            const std::string& n = argv[2];
            if (!protocol::valid_client_name(n))
                reply::error(r,
                             "ERR Client names cannot contain spaces, newlines or special "
                             "characters.");
            else {
                name_ = n;
                reply::status(r, "OK");
            }
        } else if (argc == 2 && lower(argv[1]) == "getname") {
            if (name_.empty())
                reply::null(r, v);
            else
                reply::bulk(r, name_);
        } else {
            reply::status(r, "OK");  // SETINFO and the like: accepted, no effect here
        }
    } else if (name == "subscribe" || name == "psubscribe") {
        if (argc < 2) return wrong_args();
        const std::string prefix = name == "psubscribe" ? "p:" : "c:";
        for (std::size_t i = 1; i < argc; ++i) {
            channels_.insert(prefix + argv[i]);
            subscription(name, argv[i], channels_.size(), out);
        }
    } else if (name == "unsubscribe" || name == "punsubscribe") {
        const std::string prefix = name == "punsubscribe" ? "p:" : "c:";
        std::vector<std::string> targets(argv.begin() + 1, argv.end());
        if (targets.empty())
            for (const std::string& c : channels_)
                if (c.compare(0, 2, prefix) == 0) targets.push_back(c.substr(2));
        if (targets.empty()) subscription(name, "", channels_.size(), out);
        for (const std::string& t : targets) {
            channels_.erase(prefix + t);
            subscription(name, t, channels_.size(), out);
        }
    } else if (name == "multi") {
        if (multi_)
            reply::error(r, "ERR MULTI calls can not be nested");
        else {
            multi_ = true;
            reply::status(r, "OK");
        }
    } else if (name == "exec" || name == "discard") {
        if (!multi_) {
            reply::error(
                r, "ERR " + std::string(name == "exec" ? "EXEC" : "DISCARD") + " without MULTI");
            return r;
        }
        multi_ = false;
        std::vector<std::vector<std::string>> queued;
        queued.swap(queued_);
        if (name == "discard") {
            multi_dirty_ = false;
            reply::status(r, "OK");
        } else if (multi_dirty_) {
            multi_dirty_ = false;
            reply::error(r, "EXECABORT Transaction discarded because of previous errors.");
        } else {
            reply::array_header(r, queued.size());
            for (const auto& q : queued) {
                std::vector<ScriptedFrame> inner;
                std::string one = reply_to(q, inner);
                for (const ScriptedFrame& f : inner) r += f.bytes;
                r += one;
            }
        }
    } else if (name == "watch") {
        if (multi_)
            reply::error(r, "ERR WATCH inside MULTI is not allowed");
        else if (argc < 2)
            return wrong_args();
        else
            reply::status(r, "OK");
    } else if (name == "unwatch") {
        reply::status(r, "OK");
    } else if (name == "reset") {
        reset();
        reply::status(r, "RESET");
    } else if (name == "quit") {
        reply::status(r, "OK");
        over_ = true;
    } else {
        reply::error(r, "ERR unknown command '" + argv[0] + "'");
    }
    return r;
}

}  // namespace sp::fuzz
