// `*.password_file`: passwords kept in files, as Kubernetes mounts a Secret (and as Docker
// and systemd credentials do), read at start and again at every SIGHUP, so rotating a
// Secret needs no restart and no password in the environment or the command line.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "config/config.h"

namespace sp::config {
namespace {

void read_one(std::string& password, const std::string& path, const char* section) {
    const std::string key = std::string(section) + ".password";
    if (path.empty()) return;
    if (!password.empty())
        throw ConfigError(key + " and " + key +
                          "_file are both set; set one of them (the file is read at start and on "
                          "SIGHUP)");
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    if (!in || in.bad())
        throw ConfigError(key + "_file: cannot read " + path + ": " + std::strerror(errno));
    std::string value = text.str();
    // A file written by `echo` or an editor ends with a newline that is not the password.
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (value.empty())
        throw ConfigError(key + "_file: " + path + " is empty (no password would be used)");
    password = std::move(value);
}

}  // namespace

void read_password_files(Config& config) {
    read_one(config.sentinel_password, config.sentinel_password_file, "sentinel");
    read_one(config.redis_password, config.redis_password_file, "redis");
    read_one(config.client_password, config.client_password_file, "client");
}

}  // namespace sp::config
