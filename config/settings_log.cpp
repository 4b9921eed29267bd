// One-line views of the effective configuration for the log: every key at start (secrets
// masked), and what a reload changed, split into applied now and deferred to a restart.
#include <algorithm>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/fields.h"

namespace sp::config {
namespace {

std::string dotted(const detail::Field& field) {
    return std::string(field.section) + "." + std::string(field.key);
}

std::string pool_line(const PoolConfig& pool) {
    std::string listen, sentinels;
    for (const HostPort& a : pool.listen) listen += (listen.empty() ? "" : ",") + a.str();
    for (const HostPort& a : pool.sentinels) sentinels += (sentinels.empty() ? "" : ",") + a.str();
    return "pool." + pool.name + "={master=" + pool.master_name + " listen=" + listen +
           (sentinels.empty() ? std::string() : " sentinels=" + sentinels) +
           (pool.read_routing ? std::string(" read_from=") + read_routing_name(*pool.read_routing)
                              : std::string()) +
           "}";
}

}  // namespace

std::string settings_summary(const Config& config) {
    std::string out;
    for (const detail::Field& field : detail::fields())
        out += (out.empty() ? "" : " ") + dotted(field) + "=" +
               detail::render_value(config, field, true);
    for (const PoolConfig& pool : config.pools) out += " " + pool_line(pool);
    return out;
}

bool applies_on_restart_only(std::string_view key) {
    // Sockets bound and the log sink built at start; the default pool's identity; the
    // worker threads started at start.
    return key == "admin.listen" || key == "log.format" || key == "proxy.listen" ||
           key == "sentinel.master" || key == "proxy.threads";
}

SettingsDiff diff_settings(const Config& running, const Config& next) {
    SettingsDiff diff;
    for (const detail::Field& field : detail::fields()) {
        // Compared unmasked, shown masked: a changed password is reported, never printed.
        if (detail::render_value(running, field, false) == detail::render_value(next, field, false))
            continue;
        std::string change = dotted(field) + " " + detail::render_value(running, field, true) +
                             " -> " + detail::render_value(next, field, true);
        if (field.kind == detail::Kind::secret) change = dotted(field) + " (secret) changed";
        (applies_on_restart_only(dotted(field)) ? diff.deferred : diff.applied)
            .push_back(std::move(change));
    }
    // [[pool]]s by name: a new or removed pool, or a pool's master or listen addresses,
    // wait for a restart (Pool::reconfigure keeps them); its sentinels and read_from apply.
    auto find = [](const Config& c, const std::string& name) -> const PoolConfig* {
        for (const PoolConfig& p : c.pools)
            if (p.name == name) return &p;
        return nullptr;
    };
    for (const PoolConfig& p : next.pools) {
        const PoolConfig* old = find(running, p.name);
        if (!old) {
            diff.deferred.push_back("new " + pool_line(p));
            continue;
        }
        PoolConfig restart_part = *old, live_part = *old;
        restart_part.master_name = p.master_name;
        restart_part.listen = p.listen;
        live_part.sentinels = p.sentinels;
        live_part.read_routing = p.read_routing;
        if (pool_line(restart_part) != pool_line(*old))
            diff.deferred.push_back(pool_line(*old) + " -> " + pool_line(restart_part));
        if (pool_line(live_part) != pool_line(*old))
            diff.applied.push_back(pool_line(*old) + " -> " + pool_line(live_part));
    }
    for (const PoolConfig& p : running.pools)
        if (!find(next, p.name)) diff.deferred.push_back("removed " + pool_line(p));
    return diff;
}

std::string SettingsDiff::line() const {
    if (applied.empty() && deferred.empty()) return "nothing changed";
    auto join = [](const std::vector<std::string>& items) {
        std::string out;
        for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
        return out.empty() ? std::string("none") : out;
    };
    return "applied: " + join(applied) + "; deferred to restart: " + join(deferred);
}

}  // namespace sp::config
