// The replies a session makes itself, in request order: connection-state commands of a
// client on a shared link (RESET, CLIENT SETNAME/GETNAME, HELLO), and the local answers
// queued among forwarded commands (errors, QUIT, PING with no master). A local state change
// takes effect when its reply reaches the front, after the commands before it.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocol/ascii.h"
#include "protocol/hello_options.h"
#include "protocol/reply_writer.h"
#include "proxy/session/client_session.h"
#include "proxy/session/router.h"

namespace sp::proxy {

using protocol::ieq;
using protocol::RespVersion;
using protocol::valid_client_name;
namespace reply = protocol::reply;

// Connection-state commands of a client on a shared link are answered by the proxy: sent
// there, they would change the connection of every client sharing it. Returns true when
// answered (the state is recorded for a dedicated link later).
bool ClientSession::answer_on_shared(const protocol::Command& cmd, const Request& p,
                                     const protocol::HelloOptions* hello) {
    std::string r;
    switch (p.kind) {
        case Kind::hello:
            if (!hello) return false;  // (only HELLO is of this kind)
            answer_hello_locally(cmd, *hello);
            return true;
        case Kind::auth:  // only the proxy's own credentials get here (anything else pins)
            reply::status(r, "OK");
            break;
        case Kind::select:  // SELECT 0 (anything else pins)
            reply::status(r, "OK");
            break;
        case Kind::reset:
            reply::status(r, "RESET");
            enqueue_local_change(std::move(r), p);
            return true;
        case Kind::client_setname:
            if (cmd.argc() != 3) return false;  // Redis words the error
            if (!valid_client_name(cmd.argv[2])) {
                reply::error(r,
                             "ERR Client names cannot contain spaces, newlines or special "
                             "characters.");
                break;
            }
            reply::status(r, "OK");
            enqueue_local_change(std::move(r), p);
            return true;
        default:
            if (cmd.name == "client" && cmd.argc() == 2 && ieq(cmd.argv[1], "getname")) {
                // The name once the commands before it are answered (deliver_locals).
                Request g;
                g.answer = Answer::local_getname;
                queue_.push_local(std::string(), std::move(g));
                deliver_locals();
                return true;
            }
            return false;
    }
    enqueue_local(std::move(r));
    return true;
}

// HELLO answered by the proxy (no master to ask, or a shared link): what Redis 7 would
// say, and the protocol (and SETNAME) remembered, so a dedicated link replays them.
void ClientSession::answer_hello_locally(const protocol::Command& cmd,
                                         const protocol::HelloOptions& o) {
    std::string r;
    if (!o.error.empty()) {
        reply::error(r, o.error);
        enqueue_local(std::move(r));
        return;
    }
    // The protocol, name and credentials change once the reply reaches the front; the
    // reply is in the protocol the commands parsed so far lead to (route_shared ran).
    static std::uint64_t next_id = 1;
    const RespVersion proto = parse_.proto();
    reply::map_header(r, 7, proto);
    reply::bulk(r, "server");
    reply::bulk(r, "redis");
    reply::bulk(r, "version");
    reply::bulk(r, "7.0.0");
    reply::bulk(r, "proto");
    reply::integer(r, proto == RespVersion::resp3 ? 3 : 2);
    reply::bulk(r, "id");
    reply::integer(r, static_cast<std::int64_t>(next_id++));
    reply::bulk(r, "mode");
    reply::bulk(r, "standalone");
    reply::bulk(r, "role");
    reply::bulk(r, "master");
    reply::bulk(r, "modules");
    reply::array_header(r, 0);
    Request change;
    change.kind = Kind::hello;
    change.args =
        std::make_shared<const std::vector<std::string>>(cmd.argv.begin(), cmd.argv.end());
    enqueue_local_change(std::move(r), change);
}

void ClientSession::enqueue_local(std::string reply_bytes, bool close_after) {
    Request p;
    p.answer = Answer::local;
    p.close_after = close_after;
    queue_.push_local(std::move(reply_bytes), std::move(p));
    deliver_locals();
}

void ClientSession::enqueue_local_change(std::string reply_bytes, const Request& change) {
    Request p;
    p.answer = Answer::local_change;
    p.kind = change.kind;
    p.family = change.family;
    p.args = change.args;
    queue_.push_local(std::move(reply_bytes), std::move(p));
    deliver_locals();
}

// Answers local entries that reached the front of the queue.
void ClientSession::deliver_locals() {
    while (!queue_.empty() && queue_.front().local()) {
        const Request& front = queue_.front();
        if (front.answer == Answer::local_change) {
            apply_state(front);
            // The dedicated link (idle: nothing before this is owed) has the old state: the
            // next dedicated command gets a new one that replays the new state (pump).
            if (link_) link_stale_ = true;
        }
        if (front.answer == Answer::local_getname) {
            std::string& r = queue_.local_reply();
            if (state().client_name().empty())
                reply::null(r, state().proto());
            else
                reply::bulk(r, state().client_name());
        }
        const bool close_after = front.close_after;
        // (CLIENT REPLY OFF|SKIP hide the proxy's own replies too, QUIT's +OK included.)
        if (reply_visible(front, true)) reply_to_client(queue_.local_reply());
        queue_.pop_local();
        if (close_after) {
            close("client sent QUIT or a protocol error", true);
            return;
        }
    }
}

}  // namespace sp::proxy
