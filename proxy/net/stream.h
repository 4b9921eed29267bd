// A byte stream on the libuv loop, plaintext (TcpStream) or TLS (TlsStream), as Redis's
// ConnectionType and PgBouncer's sbuf_tls_* put both behind one interface. Sessions, backend
// links, Sentinel links, probes and the admin endpoint only ever see a Stream, obtained from
// StreamFactory (stream_factory.h), so choosing TLS is configuration, not code.
//
// Contract shared by every implementation: reads land in the buffer the handler's on_alloc
// returns; writes accumulate in out() until flush(); a stream frees itself after close() or
// close_after_flush() and its owner never touches it again; no callback is ever made from
// inside a call the owner made (everything is reported from the loop).
#pragma once

#include <uv.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace sp::proxy {

class Stream {
  public:
    class Handler {
      public:
        virtual ~Handler() = default;
        // Where to read the next bytes (may be called many times per read).
        virtual uv_buf_t on_alloc(std::size_t suggested) = 0;
        // `n` bytes were read into the buffer returned by the last on_alloc.
        virtual void on_read(std::size_t n) = 0;
        // The peer closed or the connection failed (status: 0 = EOF, else a UV error).
        virtual void on_closed(int status) = 0;
        // The peer will send nothing more (EOF: it closed, or shut its writing side down as
        // `nc -N` does), after every byte it sent was read. Returning true keeps the stream
        // open for writing (it reads no more; the owner closes it when done); false ends
        // the connection (on_closed(0) follows).
        virtual bool on_end_of_input() { return false; }
        // Outgoing connection attempt finished (status 0 = connected; for TLS: the
        // handshake is done and the peer verified).
        virtual void on_connected(int /*status*/) {}
        // Everything queued has been written (for backpressure release and QUIT).
        virtual void on_drained() {}
    };

    Stream() = default;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    virtual void set_handler(Handler* handler) = 0;
    virtual void start_reading() = 0;
    virtual void stop_reading() = 0;
    virtual bool reading() const = 0;
    // The peer closed, or shut its writing side down, even if bytes it sent before are
    // still unread: how an owner that stopped reading notices it (Linux POLLRDHUP).
    virtual bool peer_hung_up() const = 0;

    // Bytes queued here go out on the next flush().
    void append(std::string_view bytes) { out().append(bytes); }
    virtual std::string& out() = 0;
    virtual void flush() = 0;
    // Bytes queued or in flight.
    virtual std::size_t pending_bytes() const = 0;

    // Ends the writing side once everything queued is written (a TCP FIN; for TLS after a
    // close_notify), and goes on reading: the peer learns the end of input exactly behind
    // the last bytes sent, as if the client behind the proxy had closed. Nothing may be
    // queued afterwards.
    virtual void end_output() = 0;

    // Detaches the handler and closes; memory is freed by the stream itself.
    virtual void close() = 0;
    // Close after everything queued has been written (QUIT, protocol errors).
    virtual void close_after_flush() = 0;

    virtual std::string peer() const = 0;  // "ip:port" for logs

    // A TLS stream: why its handshake failed (valid inside the failing on_connected or
    // on_closed call; "" for plaintext streams and before any failure), and whether the
    // TCP connection is up while the handshake is not done yet, so a connect timeout can
    // say that the server never answered TLS rather than "connect timed out".
    virtual std::string handshake_failure() const { return {}; }
    virtual bool handshake_pending() const { return false; }

  protected:
    // Only the stream deletes itself (after libuv let go of its handle).
    virtual ~Stream() = default;
};

}  // namespace sp::proxy
