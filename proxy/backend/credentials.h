// The proxy's own credentials for Redis, used when the client gave none. Here, below the
// session, because the shared links authenticate with them too.
#pragma once

#include <string>

namespace sp::proxy {

struct BackendCredentials {
    std::string user;
    std::string password;
};

}  // namespace sp::proxy
