// Internal to config/: recognising the variables Kubernetes injects for every Service in
// the namespace (service links, Docker-links style). A Service whose name starts with
// "sentinel-proxy" yields SENTINEL_PROXY_* names that are not configuration keys.
#pragma once

#include <string_view>

namespace sp::config::detail {

// True when `name`=`value` has the shape of a service-link variable, judged by both:
//   <S>_SERVICE_HOST=<ip>            <S>_SERVICE_PORT[_<NAME>]=<port>
//   <S>_PORT=<proto>://<ip>:<port>   <S>_PORT_<port>_<PROTO>=<proto>://<ip>:<port>
//   <S>_PORT_<port>_<PROTO>_PROTO=<proto>  ..._PORT=<port>  ..._ADDR=<ip>
// with <proto> tcp, udp or sctp. The caller asks only about names that are not keys.
bool is_service_link(std::string_view name, std::string_view value);

}  // namespace sp::config::detail
