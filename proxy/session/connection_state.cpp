#include "proxy/session/connection_state.h"

#include <cctype>
#include <cstdlib>
#include <string_view>

#include "protocol/ascii.h"

namespace sp::proxy {

using protocol::ieq;

using protocol::CommandKind;
using protocol::RespVersion;
using protocol::SubFamily;

namespace {

// CLIENT <sub> ON|OFF (TRACKING, NO-EVICT, NO-TOUCH): the switch is the third word.
bool switched_on(const std::vector<std::string>& argv) {
    return argv.size() >= 3 && ieq(argv[2], "on");
}

}  // namespace

const std::set<std::string>& ConnectionState::subscriptions(SubFamily family) const {
    return family == SubFamily::pattern ? patterns_
           : family == SubFamily::shard ? shard_channels_
                                        : channels_;
}

std::set<std::string>& ConnectionState::subscriptions_mut(SubFamily family) {
    return family == SubFamily::pattern ? patterns_
           : family == SubFamily::shard ? shard_channels_
                                        : channels_;
}

void ConnectionState::apply(CommandKind kind, SubFamily family,
                            const std::vector<std::string>& argv) {
    if (argv.empty()) return;
    switch (kind) {
        case CommandKind::select:
            if (argv.size() == 2) db_ = std::atoll(argv[1].c_str());
            break;
        case CommandKind::hello:
            // HELLO protover [AUTH user pass] [SETNAME name], read positionally.
            if (argv.size() >= 2) {
                proto_ = argv[1] == "3" ? RespVersion::resp3 : RespVersion::resp2;
                for (std::size_t i = 2; i < argv.size();) {
                    if (ieq(argv[i], "auth") && i + 2 < argv.size()) {
                        client_auth_ = {argv[i + 1], argv[i + 2]};
                        i += 3;
                    } else if (ieq(argv[i], "setname") && i + 1 < argv.size()) {
                        client_name_ = argv[i + 1];
                        i += 2;
                    } else {
                        break;
                    }
                }
            }
            break;
        case CommandKind::auth:
            if (argv.size() == 2)
                client_auth_ = {std::string(), argv[1]};
            else if (argv.size() == 3)
                client_auth_ = {argv[1], argv[2]};
            break;
        case CommandKind::client_setname:
            if (argv.size() == 3) client_name_ = argv[2];
            break;
        case CommandKind::client_setinfo:
            if (argv.size() == 4) {
                if (ieq(argv[2], "lib-name")) lib_name_ = argv[3];
                if (ieq(argv[2], "lib-ver")) lib_ver_ = argv[3];
            }
            break;
        case CommandKind::multi:
            tx_.follow(kind);
            tx_log_ = protocol::reply::command(argv);
            tx_lens_.assign(1, static_cast<std::uint32_t>(tx_log_.size()));
            break;
        case CommandKind::exec:
        case CommandKind::discard:
            // Without MULTI both are errors after which Redis keeps the WATCH; with MULTI,
            // whatever EXEC answered (array, nil, EXECABORT), the transaction and the watch
            // are over (TransactionState).
            if (!tx_.follow(kind)) break;
            tx_log_.clear();
            tx_lens_.clear();
            queued_count_ = 0;
            queued_changes_.clear();
            watch_broken_ = false;
            break;
        case CommandKind::watch:
            tx_.follow(kind);
            break;
        case CommandKind::unwatch:
            tx_.follow(kind);
            watch_broken_ = false;
            break;
        case CommandKind::reset:
            reset();
            break;
        case CommandKind::client_reply:
            if (argv.size() == 3) {
                if (ieq(argv[2], "on"))
                    reply_mode_ = ReplyMode::on;
                else if (ieq(argv[2], "off"))
                    reply_mode_ = ReplyMode::off;
                else if (ieq(argv[2], "skip") && reply_mode_ != ReplyMode::off)
                    reply_mode_ = ReplyMode::skip;  // (ignored while OFF, as in Redis)
            }
            break;
        case CommandKind::client_tracking:
            tracking_ = switched_on(argv);
            break;
        case CommandKind::monitor:
            monitor_ = true;
            break;
        case CommandKind::client_id:
            id_known_ = true;
            break;
        case CommandKind::client_flag:
            if (argv.size() == 3) {
                std::string flag = argv[1];
                for (char& c : flag)
                    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                if (switched_on(argv))
                    client_flags_.insert(flag);
                else
                    client_flags_.erase(flag);
            }
            break;
        case CommandKind::subscribe: {
            auto& set = subscriptions_mut(family);
            for (std::size_t i = 1; i < argv.size(); ++i) set.insert(argv[i]);
            break;
        }
        case CommandKind::unsubscribe: {
            auto& set = subscriptions_mut(family);
            if (argv.size() == 1) set.clear();
            for (std::size_t i = 1; i < argv.size(); ++i) set.erase(argv[i]);
            break;
        }
        default:
            break;
    }
}

void ConnectionState::queued_in_transaction(std::string_view raw, bool queued, CommandKind kind,
                                            SubFamily family,
                                            const std::vector<std::string>* argv) {
    if (!tx_.in_multi()) return;
    tx_log_.append(raw);
    tx_lens_.push_back(static_cast<std::uint32_t>(raw.size()));
    if (!queued) return;  // refused at queue time: no element in EXEC's reply (EXECABORT)
    if (kind != CommandKind::normal && kind != CommandKind::ping && argv)
        queued_changes_.push_back({queued_count_, kind, family, *argv});
    ++queued_count_;
}

void ConnectionState::exec_ran(const std::vector<bool>& element_ok) {
    if (!tx_.in_multi()) return;
    // Moved out first: apply() of a queued RESET-like command must not see them again.
    std::vector<QueuedChange> changes;
    changes.swap(queued_changes_);
    for (const QueuedChange& c : changes)
        if (c.index < element_ok.size() && element_ok[c.index]) apply(c.kind, c.family, c.argv);
}

bool ConnectionState::reply_visible(CommandKind kind, const std::vector<std::string>* argv,
                                    bool success) {
    if (kind == CommandKind::client_reply && success && argv && argv->size() == 3) {
        // ON answers even while OFF or SKIP; OFF and SKIP never answer (Redis sends nothing).
        // The mode itself changes in apply(), after this reply.
        return ieq((*argv)[2], "on");
    }
    if (kind == CommandKind::reset && success) return true;  // RESET clears the mode first
    if (reply_mode_ == ReplyMode::off) return false;
    if (reply_mode_ == ReplyMode::skip) {
        reply_mode_ = ReplyMode::on;  // one command's reply skipped
        return false;
    }
    return true;
}

const char* ConnectionState::bound_to_link() const {
    if (monitor_) return "MONITOR";
    if (tracking_) return "CLIENT TRACKING";
    if (id_known_) return "CLIENT ID";
    return nullptr;
}

void ConnectionState::reset() {
    // Redis's RESET: RESP2, db 0, no name, default user, no subscriptions, no MULTI or
    // WATCH. Library name and version stay: they describe the client library, not the
    // session.
    proto_ = RespVersion::resp2;
    db_ = 0;
    client_name_.clear();
    client_auth_.reset();
    channels_.clear();
    patterns_.clear();
    shard_channels_.clear();
    tx_.follow(CommandKind::reset);
    tx_log_.clear();
    tx_lens_.clear();
    queued_count_ = 0;
    queued_changes_.clear();
    watch_broken_ = false;
    // RESET also ends CLIENT REPLY OFF|SKIP, tracking and MONITOR (Redis 7
    // clearClientConnectionState); NO-EVICT stays, as on Redis 7.0. The id stays Redis's,
    // but the proxy may move a reset client to a shared link: CLIENT ID must be asked again.
    reply_mode_ = ReplyMode::on;
    tracking_ = monitor_ = id_known_ = false;
}

std::vector<ReplayStep> ConnectionState::replay(const BackendCredentials& creds) const {
    std::vector<ReplayStep> out;
    auto add = [&](std::vector<std::string> argv, bool critical) {
        ReplayStep s;
        s.argv = std::move(argv);
        s.critical = critical;
        out.push_back(std::move(s));
    };
    if (client_auth_) {
        if (client_auth_->first.empty())
            add({"AUTH", client_auth_->second}, true);
        else
            add({"AUTH", client_auth_->first, client_auth_->second}, true);
    } else if (!creds.password.empty()) {
        if (creds.user.empty())
            add({"AUTH", creds.password}, true);
        else
            add({"AUTH", creds.user, creds.password}, true);
    }
    if (proto_ == RespVersion::resp3) {
        if (client_name_.empty())
            add({"HELLO", "3"}, true);
        else
            add({"HELLO", "3", "SETNAME", client_name_}, true);
    } else if (!client_name_.empty()) {
        add({"CLIENT", "SETNAME", client_name_}, false);
    }
    if (db_ != 0) add({"SELECT", std::to_string(db_)}, true);
    if (!lib_name_.empty()) add({"CLIENT", "SETINFO", "LIB-NAME", lib_name_}, false);
    if (!lib_ver_.empty()) add({"CLIENT", "SETINFO", "LIB-VER", lib_ver_}, false);
    auto resub = [&](const char* cmd, const std::set<std::string>& set, SubFamily fam) {
        if (set.empty()) return;
        ReplayStep s;
        s.argv = {cmd};
        s.argv.insert(s.argv.end(), set.begin(), set.end());
        s.kind = CommandKind::subscribe;
        s.family = fam;
        s.expect = static_cast<std::int32_t>(set.size());
        out.push_back(std::move(s));
    };
    for (const std::string& flag : client_flags_) add({"CLIENT", flag, "ON"}, false);
    resub("SUBSCRIBE", channels_, SubFamily::channel);
    resub("PSUBSCRIBE", patterns_, SubFamily::pattern);
    resub("SSUBSCRIBE", shard_channels_, SubFamily::shard);
    return out;
}

}  // namespace sp::proxy
