// A TLS connection on the libuv loop: OpenSSL 3 on top of a TcpStream, with no blocking I/O
// and no thread. OpenSSL reads ciphertext where the TcpStream read it (the loop thread's
// read buffer) and appends its records to the TcpStream's write queue, through one BIO per
// loop thread that serves whichever stream is inside an OpenSSL call; records are decrypted
// straight into the buffers the handler's on_alloc returns; plaintext the owner queues is
// encrypted on flush() and goes out by the TcpStream's uv_try_write fast path.
//
// Until the handshake is done the owner's bytes wait and, on the connecting side,
// on_connected is only reported once the peer is verified. A failed handshake is logged
// (rate-limited per peer and reason), counted, and the socket closed: the peer gets no
// made-up reply. Renegotiation is refused by the context; a close_notify from the peer is
// an orderly EOF, and close() sends one.
//
// On the server side, handshake steps do not run from the read callback: the stream queues
// itself on its loop's TlsHandshakeQueue, which bounds the handshake work per loop turn.
// Idle connections keep no record buffers (SSL_MODE_RELEASE_BUFFERS), no BIO of their own,
// no ciphertext (what OpenSSL has not taken yet is copied out of the shared read buffer, and
// that copy is freed once taken), and not the handshake flights' write buffer.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/net/stream.h"
#include "proxy/net/tcp_stream.h"
#include "proxy/net/tls_context.h"
#include "proxy/net/tls_handshake_queue.h"
#include "proxy/net/tls_stats.h"

using SSL = struct ssl_st;

namespace sp::proxy {

class TlsStream final : public Stream, private Stream::Handler, private TlsHandshakeQueue::Entry {
  public:
    // The server side of an accepted socket (closes `fd` and returns nullptr on failure).
    // The caller took a slot with tls_stats().begin_client_handshake(); the stream owns it
    // from here and gives it back when the handshake ends (or at once on failure).
    static TlsStream* adopt(uv_loop_t* loop, int fd, std::shared_ptr<const TlsContext> context,
                            Stream::Handler* handler);
    // Connects and handshakes; `host` is the name to verify and send as SNI unless the
    // context names one (an IP literal is verified as an address, without SNI).
    static TlsStream* connect(uv_loop_t* loop, const sockaddr* addr,
                              std::shared_ptr<const TlsContext> context, const std::string& host,
                              Stream::Handler* handler);

    void set_handler(Stream::Handler* handler) override { handler_ = handler; }
    void start_reading() override;
    void stop_reading() override;
    bool reading() const override { return reading_; }
    bool peer_hung_up() const override { return input_ended_ || (raw_ && raw_->peer_hung_up()); }
    std::string& out() override { return plain_out_; }
    void flush() override;
    std::size_t pending_bytes() const override;
    void close() override;
    void end_output() override;
    void close_after_flush() override;
    std::string peer() const override;
    std::string handshake_failure() const override { return failure_; }
    bool handshake_pending() const override {
        return tcp_up_ && state_ == State::handshaking && !closing_;
    }

  private:
    enum class State { handshaking, open, done };
    struct Guard;
    struct Io;

    TlsStream(uv_loop_t* loop, std::shared_ptr<const TlsContext> context, Stream::Handler* h);
    ~TlsStream() override;
    bool init_ssl(const std::string& host);

    // From the TcpStream.
    uv_buf_t on_alloc(std::size_t suggested) override;
    void on_read(std::size_t n) override;
    void on_closed(int status) override;
    bool on_end_of_input() override;
    void on_connected(int status) override;
    void on_drained() override;

    void run_handshake_step() override;
    void pump();
    bool handshake();
    void keep_input();
    void handshake_failed(TlsOutcome outcome, const std::string& reason);
    void deliver();
    bool end_input();
    void encrypt();
    void send_records();
    void fail(int status, const std::string& reason);
    void finish();
    void send_close_notify();
    void release_raw(bool notify);
    void destroy_later();
    void uncount();  // no longer a client handshake in progress
    void start_handshake_timer();
    void resume_soon();  // pump() from the loop, not from the caller

    uv_loop_t* loop_;
    std::shared_ptr<const TlsContext> context_;
    Stream::Handler* handler_;
    TcpStream* raw_ = nullptr;
    SSL* ssl_ = nullptr;
    // Ciphertext read and not yet taken by OpenSSL: a view of the loop's read buffer while
    // on_read runs, of cipher_in_ otherwise (keep_input()).
    std::string_view input_;
    std::string cipher_in_;
    std::string plain_out_;
    mutable std::string peer_;
    std::string failure_;   // why the handshake failed, for the owner's message
    bool tcp_up_ = false;   // the socket is connected (the handshake may still be running)
    bool counted_ = false;  // in tls_stats().client_handshakes_in_progress
    State state_ = State::handshaking;
    bool reading_ = false;      // the handler wants bytes
    bool input_ended_ = false;  // close_notify or EOF, kept open for writing (on_end_of_input)
    bool finishing_ = false;    // close_after_flush() came during the handshake
    bool held_input_ = false;   // reading paused while a queued step has enough bytes
    bool broken_ = false;       // a write failed; reported from the loop
    bool closing_ = false;      // deleted as soon as no callback of ours is running
    int depth_ = 0;             // our callbacks on the stack
    std::uint64_t started_ms_;  // for the handshake latency
    // Made when needed and dropped once the handshake is over: an idle connection keeps
    // neither (each is a uv_timer_t and its callback on the heap, about 0.2 KiB).
    std::optional<Timer> handshake_timer_;
    std::optional<Timer> resume_timer_;  // decrypted bytes left over when reading resumes
};

}  // namespace sp::proxy
