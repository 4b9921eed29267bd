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
    // A bulk of a multibulk command longer than this, with 1 to kMaxStreamHead arguments
    // before it, is offered for streaming (Status::stream_start); 0: never.
    std::size_t stream_bulk_len = 0;
};

// One framed command. Every view stays valid until the next call to next(),
// write_area(), feed(), keep_unread() or shrink_if_idle() on the parser that produced it,
// or, for a command framed from a shared area, until another parser reads into that area.
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
    // stream_start: the command in progress has a bulk longer than stream_bulk_len and
    // every argument before it is complete. `out` is its head: the arguments before the
    // big bulk (argv, name) and raw = the command's bytes up to and including the big
    // bulk's header. The caller then either begin_stream()s, and takes the rest of the
    // command's bytes as they arrive with next_stream_chunk(), or decline_stream()s, and
    // the command is buffered and framed whole as usual. Until one of them, next()
    // returns stream_start again (with fresh views), so the caller may wait.
    enum class Status { command, incomplete, error, stream_start };
    // next_stream_chunk(): `data` more of the command (more to come), `incomplete` nothing
    // available now, `end` the command's last bytes (the parser frames normally again),
    // `error` a framing error in the rest of the command (error() says which).
    enum class Chunk { data, incomplete, end, error };
    // Arguments before a big bulk that a stream head can hold.
    static constexpr std::size_t kMaxStreamHead = 16;

    explicit RequestParser(ParserLimits limits = {});
    ~RequestParser();
    RequestParser(const RequestParser&) = delete;
    RequestParser& operator=(const RequestParser&) = delete;

    // Zero-copy intake for libuv's alloc/read callbacks: get a writable area of at least
    // `min_size` bytes at the end of the buffer, read into it, then commit what was read.
    std::span<char> write_area(std::size_t min_size);
    // The same, but while nothing is buffered the read may land in `shared`, a buffer that
    // many parsers on one thread take turns with, so a request read whole and framed at once
    // costs no allocation (twemproxy's and PgBouncer's shared read buffer). Commands framed
    // from it are valid as usual; keep_unread() must run before anything else reads into
    // `shared`.
    std::span<char> write_area(std::size_t min_size, std::span<char> shared);
    // Moves what is still unread out of a shared area into the parser's own buffer (and
    // ends the views of the commands framed from it).
    void keep_unread();
    void commit(std::size_t n);
    // Convenience: copy bytes in.
    void feed(std::string_view bytes);
    // While false, the unauthenticated_* limits apply to the headers read from now on, with
    // Redis's errors "unauthenticated multibulk length" / "unauthenticated bulk length".
    // The session updates it after each command (AUTH, RESET), as Redis checks per command.
    void set_authenticated(bool yes) { authenticated_ = yes; }

    // Frames the next command (Status::incomplete while streaming). Empty commands (`*0\r\n`,
    // `*-1\r\n`, blank inline lines) are skipped as Redis does. After `error`, the parser stays in
    // error: the session answers `-ERR <error()>` and closes the connection.
    Status next(Command& out);

    // After stream_start: see Status. The head's views stay valid until the next
    // write_area() or feed().
    void begin_stream();
    void decline_stream();
    // The command's next bytes after begin_stream(), framed as they pass (later headers,
    // lengths, max_bulk_len, CRLFs) and released from the buffer: `bytes` is valid until
    // the next write_area() or feed(). Bytes after the command's end are left for next().
    Chunk next_stream_chunk(std::string_view& bytes);
    bool streaming() const;

    // "Protocol error: ..." (no "-ERR " prefix, no CRLF).
    const std::string& error() const { return error_; }
    // Bytes received but not yet returned as commands.
    std::size_t buffered() const;
    // Releases buffer memory when nothing is buffered (idle sessions cost little).
    void shrink_if_idle();

  private:
    // Implementation detail; see request_parser.cpp.
    struct Impl;
    struct Lender;
    static Lender& lender();
    Impl& own_impl();
    void release_lent();

    ParserLimits limits_;
    // The framing state: null while nothing is buffered, the thread's lent Impl while a
    // read from the shared area is framed, else own_ (a command spans reads). An idle
    // client therefore keeps no parser state on the heap.
    Impl* impl_ = nullptr;
    std::unique_ptr<Impl> own_;
    std::string error_;
    bool authenticated_ = true;
};

}  // namespace sp::protocol
