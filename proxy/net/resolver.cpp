#include "proxy/net/resolver.h"

namespace sp::proxy {

namespace {
struct Resolve {
    uv_getaddrinfo_t req;
    std::weak_ptr<bool> alive;
    std::function<void(int, const addrinfo*)> done;
};
}  // namespace

int resolve_host(uv_loop_t* loop, const std::string& host, std::uint16_t port,
                 std::weak_ptr<bool> alive,
                 std::function<void(int status, const addrinfo* res)> done) {
    auto* r = new Resolve{{}, std::move(alive), std::move(done)};
    r->req.data = r;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    const std::string service = std::to_string(port);
    int rc = uv_getaddrinfo(
        loop, &r->req,
        [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
            auto* r = static_cast<Resolve*>(req->data);
            if (auto a = r->alive.lock(); a && *a) r->done(status, status == 0 ? res : nullptr);
            if (res) uv_freeaddrinfo(res);
            delete r;
        },
        host.c_str(), service.c_str(), &hints);
    if (rc != 0) delete r;
    return rc;
}

}  // namespace sp::proxy
