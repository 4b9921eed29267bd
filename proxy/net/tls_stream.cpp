#include "proxy/net/tls_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>

#include "proxy/net/tcp_listen.h"

namespace sp::proxy {

namespace {

constexpr std::size_t kCipherReadSize = 64 * 1024;
constexpr std::size_t kPlainReadSize = 16 * 1024;
// The same failure from the same host is logged at warn level once per this long.
constexpr std::uint64_t kFailureLogMs = 60'000;
constexpr std::size_t kFailureLogKeys = 4096;

// OpenSSL reads ciphertext in place and what it leaves is copied out before the loop reads
// again, so one buffer per loop thread serves every connection: idle TLS connections own no
// read buffer.
char* cipher_read_buffer() {
    thread_local std::unique_ptr<char[]> buf(new char[kCipherReadSize]);
    return buf.get();
}

// Where the loop's BIO reads and writes during one OpenSSL call (TlsStream::Io).
struct CipherIo {
    std::string_view* in;  // ciphertext not yet taken; OpenSSL's reads consume its front
    std::string* out;      // records are appended here (nullptr: the socket is gone)
};
thread_local const CipherIo* t_cipher_io = nullptr;

// A source/sink BIO over t_cipher_io. Two memory BIOs per connection cost about 0.6 KiB
// each idle connection keeps (two BIOs, their BUF_MEMs and locks) and a copy of every byte
// each way; this BIO costs nothing per connection. Nothing to read is "retry", never EOF:
// the socket's EOF reaches OpenSSL through our own calls, not through the BIO.
int cipher_bio_read(BIO* bio, char* buf, int len) {
    BIO_clear_retry_flags(bio);
    const CipherIo* io = t_cipher_io;
    if (!io || io->in->empty() || len <= 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    const std::size_t n = std::min(io->in->size(), static_cast<std::size_t>(len));
    std::memcpy(buf, io->in->data(), n);
    io->in->remove_prefix(n);
    return static_cast<int>(n);
}

int cipher_bio_write(BIO* bio, const char* buf, int len) {
    BIO_clear_retry_flags(bio);
    const CipherIo* io = t_cipher_io;
    // With no socket left (a close_notify after the peer went) the record is dropped, as
    // a memory BIO nobody reads would have kept it.
    if (io && io->out && len > 0) io->out->append(buf, static_cast<std::size_t>(len));
    return len;
}

long cipher_bio_ctrl(BIO*, int cmd, long, void*) {
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // records are handed on as they are written
}

int cipher_bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

// The loop thread's BIO, shared by every SSL made on this thread (each holds a reference).
BIO* loop_cipher_bio() {
    static BIO_METHOD* const method = [] {
        BIO_METHOD* m =
            BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sentinel-proxy loop");
        if (m) {
            BIO_meth_set_write(m, cipher_bio_write);
            BIO_meth_set_read(m, cipher_bio_read);
            BIO_meth_set_ctrl(m, cipher_bio_ctrl);
            BIO_meth_set_create(m, cipher_bio_create);
        }
        return m;
    }();
    struct Owned {
        BIO* bio;
        ~Owned() { BIO_free(bio); }
    };
    thread_local Owned owned{method ? BIO_new(method) : nullptr};
    return owned.bio;
}

// Logged once per peer and reason: a client (or backend) that keeps failing the same way
// gives one warning a minute, the repeats go to debug.
void log_failure(TlsSide side, const std::string& peer, const std::string& reason,
                 std::uint64_t now_ms) {
    thread_local std::map<std::string, std::uint64_t> last;
    const std::string host = peer.substr(0, peer.rfind(':'));
    const std::string key = std::string(tls_side_name(side)) + "|" + host + "|" + reason;
    auto it = last.find(key);
    if (it != last.end() && now_ms - it->second < kFailureLogMs) {
        spdlog::debug("tls {} {}: handshake failed: {}", tls_side_name(side), peer, reason);
        return;
    }
    if (last.size() >= kFailureLogKeys) last.clear();
    last[key] = now_ms;
    spdlog::warn("tls {} {}: handshake failed: {}", tls_side_name(side), peer, reason);
}

bool ip_literal_text(const std::string& host) {
    sockaddr_storage ss;
    return ip_literal(host, 0, ss);
}

// What went wrong, in words an operator can act on. A plaintext peer shows as a record
// that is not TLS: on our server side a plaintext client, on our client side a server
// that does not speak TLS (it answered a ClientHello with plaintext, e.g. Redis's -ERR).
std::string failure_reason(SSL* ssl, bool server, const std::string& openssl_text) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK)
        return std::string("certificate verification failed: ") +
               X509_verify_cert_error_string(verify);
    if (openssl_text == "wrong version number" || openssl_text == "http request" ||
        openssl_text == "packet length too long" || openssl_text == "unknown protocol" ||
        openssl_text == "record layer failure")
        return server
                   ? openssl_text + " (not a TLS client hello: a plaintext client on a TLS port?)"
                   : "the server does not speak TLS (it answered the TLS client hello in "
                     "plaintext: " +
                         openssl_text + ")";
    if (openssl_text.empty()) return "the peer closed the connection during the handshake";
    return openssl_text;
}

}  // namespace

// Our callbacks may close us (the handler calls close()); deletion waits until the
// outermost one returns.
struct TlsStream::Guard {
    explicit Guard(TlsStream* s) : s(s) { ++s->depth_; }
    ~Guard() {
        if (--s->depth_ == 0 && s->closing_) delete s;
    }
    TlsStream* s;
};

// Around every OpenSSL call that may read or write ciphertext (and the SSL_get_error that
// follows it, which looks at the BIO's retry flags): the loop's BIO serves this stream.
// OpenSSL never calls back into us, but the previous target is restored all the same.
struct TlsStream::Io {
    explicit Io(TlsStream* s)
        : io{&s->input_, s->raw_ ? &s->raw_->out() : nullptr}, previous(t_cipher_io) {
        t_cipher_io = &io;
    }
    ~Io() { t_cipher_io = previous; }
    Io(const Io&) = delete;
    Io& operator=(const Io&) = delete;
    CipherIo io;
    const CipherIo* previous;
};

TlsStream::TlsStream(uv_loop_t* loop, std::shared_ptr<const TlsContext> context, Stream::Handler* h)
    : loop_(loop), context_(std::move(context)), handler_(h), started_ms_(uv_now(loop)) {}

void TlsStream::start_handshake_timer() {
    handshake_timer_.emplace(loop_, [this] {
        Guard g(this);
        handshake_failed(TlsOutcome::timeout, "handshake timed out");
    });
    handshake_timer_->start(context_->options().handshake_timeout_ms);
}

void TlsStream::resume_soon() {
    if (!resume_timer_)
        resume_timer_.emplace(loop_, [this] {
            Guard g(this);
            pump();
        });
    resume_timer_->start(0);
}

TlsStream::~TlsStream() {
    uncount();
    if (ssl_) SSL_free(ssl_);
}

bool TlsStream::init_ssl(const std::string& host) {
    BIO* bio = loop_cipher_bio();
    if (!bio) return false;
    ssl_ = SSL_new(context_->ctx());
    if (!ssl_) return false;
    BIO_up_ref(bio);
    SSL_set_bio(ssl_, bio, bio);  // one reference for both directions
    if (context_->server()) {
        SSL_set_accept_state(ssl_);
        return true;
    }
    SSL_set_connect_state(ssl_);
    const std::string& name =
        context_->options().server_name.empty() ? host : context_->options().server_name;
    if (name.empty() || !context_->options().verify_peer) return true;
    if (ip_literal_text(name)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl_, name.c_str());
        SSL_set1_host(ssl_, name.c_str());
    }
    return true;
}

TlsStream* TlsStream::adopt(uv_loop_t* loop, int fd, std::shared_ptr<const TlsContext> context,
                            Stream::Handler* handler) {
    auto* s = new TlsStream(loop, std::move(context), handler);
    s->counted_ = true;  // the caller's handshake slot: the destructor gives it back
    s->raw_ = TcpStream::adopt(loop, fd, s);
    if (!s->raw_ || !s->init_ssl({})) {
        s->release_raw(false);
        delete s;
        return nullptr;
    }
    s->peer_ = s->raw_->peer();
    s->start_handshake_timer();
    // The client speaks first; read it whatever the handler wants.
    s->raw_->start_reading();
    return s;
}

TlsStream* TlsStream::connect(uv_loop_t* loop, const sockaddr* addr,
                              std::shared_ptr<const TlsContext> context, const std::string& host,
                              Stream::Handler* handler) {
    auto* s = new TlsStream(loop, std::move(context), handler);
    if (!s->init_ssl(host)) {
        delete s;
        return nullptr;
    }
    s->raw_ = TcpStream::connect(loop, addr, s);
    if (!s->raw_) {
        delete s;
        return nullptr;
    }
    return s;
}

void TlsStream::on_connected(int status) {
    Guard g(this);
    if (status != 0) {
        Stream::Handler* h = handler_;
        handler_ = nullptr;
        release_raw(false);
        destroy_later();
        if (h) h->on_connected(status);
        return;
    }
    started_ms_ = uv_now(loop_);
    tcp_up_ = true;
    peer_ = raw_->peer();
    start_handshake_timer();
    raw_->start_reading();
    pump();
}

uv_buf_t TlsStream::on_alloc(std::size_t) {
    return uv_buf_init(cipher_read_buffer(), kCipherReadSize);
}

void TlsStream::on_read(std::size_t n) {
    Guard g(this);
    if (closing_) return;
    // Read in place unless older bytes wait (then they come first).
    const char* data = cipher_read_buffer();
    if (cipher_in_.empty()) {
        input_ = std::string_view(data, n);
    } else {
        cipher_in_.append(data, n);
        input_ = cipher_in_;
    }
    // A client's handshake step waits for its turn in the loop's bounded queue (its
    // timeout still counts from the accept); our own links' handshakes run now.
    if (context_->server() && state_ == State::handshaking) {
        keep_input();
        TlsHandshakeQueue::push(loop_, this, SSL_in_before(ssl_) == 0);
        // Bytes wait in cipher_in_ meanwhile: at most one read buffer's worth more than a
        // flight needs, so a client sending junk cannot pile up memory while it waits.
        if (cipher_in_.size() >= kCipherReadSize && raw_) {
            raw_->stop_reading();
            held_input_ = true;
        }
        return;
    }
    pump();
}

// What OpenSSL has not taken moves out of the loop's read buffer (the next read, of any
// connection, overwrites it) or to the front of cipher_in_. Once all is taken the copy is
// freed: bytes are left over only during a handshake or while the handler is not reading,
// never per request, and an idle connection keeps none.
void TlsStream::keep_input() {
    if (input_.empty()) {
        input_ = {};
        std::string().swap(cipher_in_);
        return;
    }
    const char* begin = cipher_in_.data();
    if (!cipher_in_.empty() && std::less_equal<const char*>()(begin, input_.data()) &&
        std::less<const char*>()(input_.data(), begin + cipher_in_.size())) {
        cipher_in_.erase(0, static_cast<std::size_t>(input_.data() - begin));
    } else {
        cipher_in_.assign(input_);
    }
    input_ = cipher_in_;
}

void TlsStream::run_handshake_step() {
    Guard g(this);
    if (held_input_ && raw_) {
        held_input_ = false;
        raw_->start_reading();  // the handshake's outcome sets reading as the handler wants
    }
    pump();
}

void TlsStream::pump() {
    if (closing_ || !raw_) return;
    if (broken_) {
        fail(UV_EPROTO, {});
        return;
    }
    ERR_clear_error();
    if (state_ != State::handshaking || handshake()) {
        if (state_ == State::open) deliver();
        if (!closing_ && raw_) send_records();
    }
    if (!closing_) keep_input();
}

bool TlsStream::handshake() {
    int rc = 0, error = 0;
    {
        Io io(this);
        rc = SSL_do_handshake(ssl_);
        if (rc != 1) error = SSL_get_error(ssl_, rc);
    }
    if (rc == 1) {
        state_ = State::open;
        uncount();
        handshake_timer_.reset();
        tls_stats().handshake(context_->options().side, TlsOutcome::ok,
                              static_cast<double>(uv_now(loop_) - started_ms_) / 1000.0);
        send_records();
        if (closing_ || !raw_) return false;
        // The flights (a few KiB, more with client certificates) are out: the socket's
        // write buffer need not keep their size for the connection's life.
        raw_->release_buffers();
        if (finishing_) {
            finish();
            return false;
        }
        if (!reading_ && context_->server()) raw_->stop_reading();
        if (!context_->server()) {
            if (!reading_) raw_->stop_reading();
            if (handler_) handler_->on_connected(0);
            if (closing_ || !raw_) return false;
        }
        if (!plain_out_.empty()) encrypt();
        return true;
    }
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        send_records();
        return false;
    }
    const std::string text = tls_error_text();
    const long verify = SSL_get_verify_result(ssl_);
    handshake_failed(verify != X509_V_OK || text.find("certificate") != std::string::npos ||
                             text.find("unknown ca") != std::string::npos
                         ? TlsOutcome::certificate
                     : text.empty() ? TlsOutcome::closed
                                    : TlsOutcome::protocol,
                     failure_reason(ssl_, context_->server(), text));
    return false;
}

void TlsStream::handshake_failed(TlsOutcome outcome, const std::string& reason) {
    if (closing_ || state_ != State::handshaking) return;
    state_ = State::done;
    uncount();
    failure_ = reason;
    handshake_timer_.reset();
    tls_stats().handshake(context_->options().side, outcome, 0);
    log_failure(context_->options().side, peer(), reason, uv_now(loop_));
    // The alert OpenSSL wrote (if any) is a TLS record, not a reply: it may go out.
    if (raw_) send_records();
    Stream::Handler* h = handler_;
    handler_ = nullptr;
    release_raw(false);
    destroy_later();
    if (!h) return;
    if (context_->server())
        h->on_closed(UV_EPROTO);
    else
        h->on_connected(UV_EPROTO);
}

void TlsStream::deliver() {
    while (reading_ && handler_ && !closing_ && raw_) {
        if (SSL_pending(ssl_) == 0 && input_.empty()) return;
        uv_buf_t buf = handler_->on_alloc(kPlainReadSize);
        if (!buf.base || buf.len == 0) return;
        int n = 0, error = 0;
        {
            Io io(this);
            n = SSL_read(ssl_, buf.base, static_cast<int>(buf.len));
            if (n <= 0) error = SSL_get_error(ssl_, n);
        }
        if (n > 0) {
            handler_->on_read(static_cast<std::size_t>(n));
            continue;
        }
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
        if (error == SSL_ERROR_ZERO_RETURN) {
            // close_notify: an orderly end of the peer's input; it may still read ours.
            if (end_input()) return;
            fail(0, {});
            return;
        }
        fail(UV_EPROTO, tls_error_text());
        return;
    }
}

void TlsStream::flush() {
    if (closing_ || broken_ || state_ != State::open || !raw_) return;
    ERR_clear_error();
    encrypt();
}

void TlsStream::encrypt() {
    // The BIO takes every record, so SSL_write only stops at record boundaries: loop over
    // the records and drop the written plaintext once.
    std::size_t done = 0;
    Io io(this);
    while (done < plain_out_.size()) {
        const int n =
            SSL_write(ssl_, plain_out_.data() + done, static_cast<int>(plain_out_.size() - done));
        if (n <= 0) {
            // Not reported from inside the owner's call: the loop does it.
            spdlog::warn("tls {} {}: write failed: {}", tls_side_name(context_->options().side),
                         peer(), tls_error_text());
            broken_ = true;
            resume_soon();
            return;
        }
        done += static_cast<std::size_t>(n);
    }
    plain_out_.clear();
    if (plain_out_.capacity() > (16u << 10)) std::string().swap(plain_out_);
    send_records();
}

// OpenSSL's records are already in the TcpStream's queue (the BIO appends them there).
void TlsStream::send_records() {
    if (raw_ && !raw_->out().empty()) raw_->flush();
}

std::size_t TlsStream::pending_bytes() const {
    return plain_out_.size() + (raw_ ? raw_->pending_bytes() : 0);
}

void TlsStream::on_drained() {
    Guard g(this);
    if (closing_ || state_ != State::open || !plain_out_.empty()) return;
    if (handler_) handler_->on_drained();
}

void TlsStream::on_closed(int status) {
    Guard g(this);
    raw_ = nullptr;  // it is freeing itself
    if (closing_) return;
    if (state_ == State::handshaking) {
        handshake_failed(TlsOutcome::closed,
                         status == 0 ? "the peer closed the connection during the handshake"
                                     : std::string("connection lost during the handshake: ") +
                                           uv_strerror(status));
        return;
    }
    // Decrypted bytes still buffered are not delivered: the connection is gone.
    fail(status, {});
}

// The raw socket's EOF without a close_notify: many clients shut TCP down without one.
bool TlsStream::on_end_of_input() {
    Guard g(this);
    if (closing_ || state_ != State::open) return false;
    return end_input();
}

// The peer sends nothing more: the handler may keep the stream open for writing.
bool TlsStream::end_input() {
    if (!handler_ || !handler_->on_end_of_input()) return false;
    input_ended_ = true;
    reading_ = false;
    if (raw_) raw_->stop_reading();
    return true;
}

void TlsStream::fail(int status, const std::string& reason) {
    if (!reason.empty())
        spdlog::debug("tls {} {}: {}", tls_side_name(context_->options().side), peer(), reason);
    Stream::Handler* h = handler_;
    handler_ = nullptr;
    release_raw(false);
    destroy_later();
    if (h) h->on_closed(status);
}

void TlsStream::start_reading() {
    if (reading_ || closing_ || input_ended_) return;
    reading_ = true;
    if (state_ != State::open || !raw_) return;
    raw_->start_reading();
    // Records already decrypted or received wait for the loop, never for the caller.
    if (SSL_pending(ssl_) > 0 || !input_.empty()) resume_soon();
}

void TlsStream::stop_reading() {
    if (!reading_ || closing_) return;
    reading_ = false;
    if (state_ == State::open && raw_) raw_->stop_reading();
}

void TlsStream::close() {
    if (closing_) return;
    handler_ = nullptr;
    release_raw(state_ == State::open);
    destroy_later();
    if (depth_ == 0) delete this;
}

void TlsStream::close_after_flush() {
    if (closing_) return;
    handler_ = nullptr;
    reading_ = false;
    if (state_ == State::handshaking) {
        finishing_ = true;  // the queued bytes go out once the handshake is done
        return;
    }
    finish();
    if (depth_ == 0) delete this;
}

// Our close_notify, handed to the TcpStream (every way of ending the output sends one).
void TlsStream::send_close_notify() {
    {
        Io io(this);
        SSL_shutdown(ssl_);
    }
    send_records();
}

// Encrypts what is queued and adds close_notify, then the TcpStream's FIN; reading goes on
// (OpenSSL still decrypts what the peer sends after our close_notify).
void TlsStream::end_output() {
    if (closing_ || state_ != State::open || !raw_) return;
    ERR_clear_error();
    encrypt();
    if (!raw_) return;
    send_close_notify();
    if (raw_) raw_->end_output();
}

// Encrypts what is queued, adds close_notify, and leaves the TcpStream to write it all
// and close; this object is done.
void TlsStream::finish() {
    if (raw_ && state_ == State::open) {
        ERR_clear_error();
        encrypt();
        if (raw_) {
            send_close_notify();
            raw_->close_after_flush();
            raw_ = nullptr;
        }
    }
    release_raw(false);
    state_ = State::done;
    destroy_later();
}

void TlsStream::release_raw(bool notify) {
    if (!raw_) return;
    if (notify) {
        // Best effort close_notify: it goes out if the socket takes it right away.
        ERR_clear_error();
        send_close_notify();
    }
    if (raw_) raw_->close();
    raw_ = nullptr;
}

void TlsStream::uncount() {
    if (!counted_) return;
    counted_ = false;
    tls_stats().end_client_handshake();
}

void TlsStream::destroy_later() {
    uncount();
    TlsHandshakeQueue::remove(this);
    closing_ = true;
    handshake_timer_.reset();
    if (resume_timer_) resume_timer_->stop();
}

std::string TlsStream::peer() const {
    if (peer_.empty() || peer_ == "?") {
        if (raw_) peer_ = raw_->peer();
    }
    return peer_.empty() ? "?" : peer_;
}

}  // namespace sp::proxy
