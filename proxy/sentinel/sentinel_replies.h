// Reading what Sentinel answers: the flat field/value arrays of SENTINEL SENTINELS,
// REPLICAS and MASTERS, reported addresses, and event payload words. Pure helpers shared
// by the watcher's rounds and its discovery of sentinels and replicas.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "proxy/sentinel/topology.h"

struct redisReply;

namespace sp::proxy::sentinel_reply {

// Whitespace-separated words of an event payload.
std::vector<std::string> split(const std::string& s);
// A string, status, error or integer reply as text; anything else (or null) is empty.
std::string str(const redisReply* r);
// A Sentinel-reported address, or nothing when the host is empty or the port invalid.
std::optional<NodeAddress> node_address(std::string host, const std::string& port);

// One entry of SENTINEL SENTINELS / SENTINEL REPLICAS.
struct InstanceEntry {
    std::optional<NodeAddress> addr;
    std::string flags;
    std::string run_id;
};
InstanceEntry instance_entry(const redisReply* e);

// The master names in a SENTINEL MASTERS reply, comma-separated ("" when none).
std::string master_names(const redisReply* r);

// Events that show the named master is being failed over.
bool is_failover_progress(const std::string& channel);

}  // namespace sp::proxy::sentinel_reply
