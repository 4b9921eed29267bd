// Frames client requests (multibulk and inline) out of a byte stream, so the proxy can
// route each command and forward its original bytes untouched. Multibulk requests are
// parsed by hiredis's redisReader (parser only); inline commands by a small splitter
// that follows Redis's sdssplitargs rules. Redis's limits are enforced as bytes arrive,
// so a huge declared bulk length is refused before it is buffered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;

namespace sp::protocol {

struct ParserLimits {
    std::size_t max_bulk_len = 512u * 1024 * 1024;  // proto-max-bulk-len
    std::size_t max_inline_len = 64u * 1024;        // PROTO_INLINE_MAX_SIZE
    std::size_t max_multibulk_len = 1024u * 1024;   // arguments per command
    // Before the client authenticates (Redis 7, CVE-2021-32675): a client without the
    // password must not make the proxy buffer big requests.
    std::size_t unauthenticated_max_args = 10;
    std::size_t unauthenticated_max_bulk_len = 16u * 1024;
};

// One framed command. Every view stays valid until the next call to next(),
// write_area() or feed() on the parser that produced it.
struct Command {
    std::string_view name;                   // argv[0], lower-cased (ASCII)
    std::span<const std::string_view> argv;  // all arguments as sent, argv[0] is the name
    std::string_view raw;                    // the exact bytes of this command in the stream
    bool is_inline = false;

    std::size_t argc() const { return argv.size(); }
    // Argument i lower-cased into scratch owned by the caller; handy for subcommands.
    static std::string lower(std::string_view s);
};

class RequestParser {
  public:
    enum class Status { command, incomplete, error };

    explicit RequestParser(ParserLimits limits = {});
    ~RequestParser();
    RequestParser(const RequestParser&) = delete;
    RequestParser& operator=(const RequestParser&) = delete;

    // Zero-copy intake for libuv's alloc/read callbacks: get a writable area of at least
    // `min_size` bytes at the end of the buffer, read into it, then commit what was read.
    std::span<char> write_area(std::size_t min_size);
    void commit(std::size_t n);
    // Convenience: copy bytes in.
    void feed(std::string_view bytes);
    // While false, the unauthenticated_* limits apply to the headers read from now on, with
    // Redis's errors "unauthenticated multibulk length" / "unauthenticated bulk length".
    // The session updates it after each command (AUTH, RESET), as Redis checks per command.
    void set_authenticated(bool yes) { authenticated_ = yes; }

    // Frames the next command. Empty commands (`*0\r\n`, `*-1\r\n`, blank inline lines)
    // are skipped as Redis does. After `error`, the parser stays in error: the session
    // answers `-ERR <error()>` and closes the connection.
    Status next(Command& out);

    // "Protocol error: ..." (no "-ERR " prefix, no CRLF).
    const std::string& error() const { return error_; }
    // Bytes received but not yet returned as commands.
    std::size_t buffered() const;
    // Releases buffer memory when nothing is buffered (idle sessions cost little).
    void shrink_if_idle();

  private:
    // Implementation detail; see request_parser.cpp.
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string error_;
    bool authenticated_ = true;
};

}  // namespace sp::protocol
