#include "proxy/session/local_answers.h"

#include <atomic>

#include "protocol/ascii.h"

namespace sp::proxy::local_answers {

namespace reply = protocol::reply;
using protocol::CommandKind;
using protocol::RespVersion;

Answer on_shared(const protocol::Command& cmd, CommandKind kind, std::string& out) {
    switch (kind) {
        case CommandKind::auth:    // only the proxy's own credentials get here (anything else pins)
        case CommandKind::select:  // SELECT 0 (anything else pins)
            reply::status(out, "OK");
            return Answer::reply;
        case CommandKind::reset:
            reply::status(out, "RESET");
            return Answer::reply_change;
        case CommandKind::client_setname:
            if (cmd.argc() != 3) return Answer::forward;  // Redis words the error
            if (!protocol::valid_client_name(cmd.argv[2])) {
                reply::error(out,
                             "ERR Client names cannot contain spaces, newlines or special "
                             "characters.");
                return Answer::reply;
            }
            reply::status(out, "OK");
            return Answer::reply_change;
        default:
            if (cmd.name == "client" && cmd.argc() == 2 && protocol::ieq(cmd.argv[1], "getname"))
                return Answer::name_at_front;
            return Answer::forward;
    }
}

bool hello(std::string& out, const protocol::HelloOptions& options, RespVersion proto) {
    if (!options.error.empty()) {
        reply::error(out, options.error);
        return false;
    }
    // Every worker loop answers HELLO: the ids stay unique across them.
    static std::atomic<std::uint64_t> next_id{1};
    reply::map_header(out, 7, proto);
    reply::bulk(out, "server");
    reply::bulk(out, "redis");
    reply::bulk(out, "version");
    reply::bulk(out, "7.0.0");
    reply::bulk(out, "proto");
    reply::integer(out, proto == RespVersion::resp3 ? 3 : 2);
    reply::bulk(out, "id");
    reply::integer(out, static_cast<std::int64_t>(next_id++));
    reply::bulk(out, "mode");
    reply::bulk(out, "standalone");
    reply::bulk(out, "role");
    reply::bulk(out, "master");
    reply::bulk(out, "modules");
    reply::array_header(out, 0);
    return true;
}

void client_name(std::string& out, std::string_view name, RespVersion proto) {
    if (name.empty())
        reply::null(out, proto);
    else
        reply::bulk(out, name);
}

}  // namespace sp::proxy::local_answers
