#include "proxy/sentinel/sentinel_replies.h"

#include <hiredis/hiredis.h>

#include <cstdlib>
#include <set>
#include <sstream>

namespace sp::proxy::sentinel_reply {

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string tok;
    while (in >> tok) out.push_back(tok);
    return out;
}

std::string str(const redisReply* r) {
    if (!r) return {};
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
        r->type == REDIS_REPLY_ERROR)
        return std::string(r->str, r->len);
    if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
    return {};
}

std::optional<NodeAddress> node_address(std::string host, const std::string& port) {
    int p = std::atoi(port.c_str());
    if (host.empty() || p <= 0 || p > 65535) return std::nullopt;
    return NodeAddress{std::move(host), static_cast<std::uint16_t>(p)};
}

InstanceEntry instance_entry(const redisReply* e) {
    std::string ip, port, flags, run_id;
    for (std::size_t j = 0; j + 1 < e->elements; j += 2) {
        std::string k = str(e->element[j]);
        if (k == "ip") ip = str(e->element[j + 1]);
        if (k == "port") port = str(e->element[j + 1]);
        if (k == "flags") flags = str(e->element[j + 1]);
        if (k == "runid") run_id = str(e->element[j + 1]);
    }
    return {node_address(std::move(ip), port), std::move(flags), std::move(run_id)};
}

bool is_failover_progress(const std::string& ch) {
    static const std::set<std::string> kEvents = {"+odown",
                                                  "+try-failover",
                                                  "+elected-leader",
                                                  "+failover-state-select-slave",
                                                  "+selected-slave",
                                                  "+failover-state-send-slaveof-noone",
                                                  "+failover-state-wait-promotion",
                                                  "+promoted-slave",
                                                  "+failover-state-reconf-slaves",
                                                  "+switch-master"};
    return kEvents.count(ch) != 0;
}

std::string master_names(const redisReply* r) {
    std::string names;
    if (!r || r->type != REDIS_REPLY_ARRAY) return names;
    for (std::size_t i = 0; i < r->elements; ++i) {
        const redisReply* e = r->element[i];
        if (!e || e->type != REDIS_REPLY_ARRAY) continue;
        for (std::size_t j = 0; j + 1 < e->elements; j += 2)
            if (str(e->element[j]) == "name")
                names += (names.empty() ? "" : ", ") + str(e->element[j + 1]);
    }
    return names;
}

}  // namespace sp::proxy::sentinel_reply
