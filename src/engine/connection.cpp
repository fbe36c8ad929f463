// Connection: one TLS connection over OpenSSL (handshake, verification pause, data,
// close_notify, failure), the BIO over its two byte queues, the output sink and input source,
// and the release of buffers when idle. Its buffers are in bytequeue.cpp, the error sentences in
// errors.cpp.
#include "connection.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstring>

namespace securesocket::engine {

namespace {

// OpenSSL's record buffer when it reads ahead from an input source: a few full records.
constexpr size_t kReadAheadBuffer = 64 * 1024;
// Plaintext encrypted per offer to the output sink in a large write: four full records.
constexpr size_t kSinkSlice = 4 * SSL3_RT_MAX_PLAIN_LENGTH;

// SSL_free_buffers() is safe from 3.0.14, 3.1.6, 3.2.2 and 3.3.1 on (CVE-2024-4741).
bool freeBuffersIsSafe()
{
    static const bool safe = [] {
        const unsigned long v = OpenSSL_version_num(); // 0xMNN00PP0
        const unsigned long major = v >> 28, minor = (v >> 20) & 0xff, patch = (v >> 4) & 0xff;
        if (major != 3 || minor >= 4)
            return major >= 3;
        const unsigned long fixedIn[] = {14, 6, 2, 1};
        return patch >= fixedIn[minor];
    }();
    return safe;
}

// The BIO between OpenSSL and the engine's two queues: OpenSSL reads received ciphertext from
// the input queue and appends what it sends to the output queue, with no memory BIO (and none
// of its zero-filling and copies) in between. An empty input means "wait for more", never end
// of stream: feedEof() tells the engine, which decides.
struct BioQueues
{
    detail::ByteQueue *input;
    detail::ByteQueue *output;
    const Connection::InputSource *source; // read from when the input is empty
};

int queueBioCreate(BIO *bio)
{
    BIO_set_init(bio, 1);
    return 1;
}

int queueBioDestroy(BIO *bio)
{
    delete static_cast<BioQueues *>(BIO_get_data(bio));
    BIO_set_data(bio, nullptr);
    return 1;
}

int queueBioRead(BIO *bio, char *data, size_t size, size_t *done)
{
    BIO_clear_retry_flags(bio);
    auto *queues = static_cast<BioQueues *>(BIO_get_data(bio));
    if (queues && queues->input->empty() && *queues->source) {
        *done = std::min((*queues->source)(data, size), size);
        if (*done == 0)
            BIO_set_retry_read(bio);
        return *done > 0 ? 1 : 0;
    }
    const size_t n = queues ? std::min(size, queues->input->size()) : 0;
    *done = n;
    if (n == 0) {
        BIO_set_retry_read(bio);
        return 0;
    }
    std::memcpy(data, queues->input->data(), n);
    queues->input->consume(n);
    return 1;
}

int queueBioWrite(BIO *bio, const char *data, size_t size, size_t *done)
{
    BIO_clear_retry_flags(bio);
    auto *queues = static_cast<BioQueues *>(BIO_get_data(bio));
    *done = 0;
    if (!queues)
        return 0;
    *done = size;
    queues->output->append(data, size);
    return 1;
}

long queueBioCtrl(BIO *bio, int command, long, void *)
{
    auto *queues = static_cast<BioQueues *>(BIO_get_data(bio));
    switch (command) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
        return queues ? static_cast<long>(queues->input->size()) : 0;
    case BIO_CTRL_WPENDING:
        return queues ? static_cast<long>(queues->output->size()) : 0;
    default:
        return 0; // no EOF, no kTLS, no descriptor
    }
}

// Made once per process, never changed.
const BIO_METHOD *queueBioMethod()
{
    static const BioMethodPtr method = [] {
        BioMethodPtr m(
            BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "securesocket engine queues"));
        if (m && (BIO_meth_set_create(m.get(), queueBioCreate) != 1 ||
                  BIO_meth_set_destroy(m.get(), queueBioDestroy) != 1 ||
                  BIO_meth_set_read_ex(m.get(), queueBioRead) != 1 ||
                  BIO_meth_set_write_ex(m.get(), queueBioWrite) != 1 ||
                  BIO_meth_set_ctrl(m.get(), queueBioCtrl) != 1))
            m.reset();
        return m;
    }();
    return method.get();
}

} // namespace

void Connection::infoCallback(const SSL *ssl, int where, int value)
{
    if ((where & SSL_CB_ALERT) == 0)
        return;
    if (ConnectionHooks *hooks = ConnectionHooks::of(ssl))
        static_cast<Connection *>(hooks)->onAlert((where & SSL_CB_READ) != 0, value);
}

bool Connection::storeSession(SSL_SESSION *session)
{
    // A session whose verification had failures (even forgiven ones) is never reused: a
    // resumed handshake would skip the checks.
    if (m_sessionKey.empty() || !m_verifyFailures.empty() || !m_context->resumesSessions())
        return false;
    m_context->storeSession(m_sessionKey, session);
    return true;
}

Connection::Connection(std::shared_ptr<const Context> context, std::string peerName,
                       std::string sessionKey)
    : m_context(std::move(context)), m_peerName(std::move(peerName)),
      // OpenSSL does not check the name again when it resumes: the name is part of the key.
      m_sessionKey(sessionKey.empty() ? std::string() : sessionKey + '\n' + m_peerName)
{
    OsslErrorScope errors;
    m_ssl.reset(SSL_new(m_context->native()));
    const BIO_METHOD *method = queueBioMethod();
    BioPtr bio(method ? BIO_new(method) : nullptr);
    if (!m_ssl || !bio) {
        m_ssl.reset();
        fail(Error::Internal, "cannot create a TLS connection (out of memory)");
        return;
    }
    BIO_set_data(bio.get(), new BioQueues{&m_input, &m_output, &m_source});
    // One BIO for both directions: SSL_set_bio takes its one reference.
    SSL_set_bio(m_ssl.get(), bio.get(), bio.get());
    bio.release();
    // The record buffers are kept while data flows and freed when the connection is idle
    // (releaseBuffersIfIdle()), rather than after every record.
    SSL_clear_mode(m_ssl.get(), SSL_MODE_RELEASE_BUFFERS);
    SSL_set_app_data(m_ssl.get(), static_cast<ConnectionHooks *>(this));
    SSL_set_info_callback(m_ssl.get(), infoCallback);

    if (role() == Role::Server) {
        SSL_set_accept_state(m_ssl.get());
        return;
    }
    SSL_set_connect_state(m_ssl.get());
    if (m_context->verifyMode() != VerifyMode::None &&
        !configurePeerName(m_ssl.get(), m_peerName)) {
        fail(Error::Config, m_peerName.empty()
                                ? "no name to verify the server's certificate against: "
                                  "give the host name or a peer verify name"
                                : "cannot verify the server against the name '" + m_peerName + "'");
        return;
    }
    if (m_context->verifyMode() == VerifyMode::None && !m_peerName.empty())
        configurePeerName(m_ssl.get(), m_peerName); // for SNI; a failure is harmless here
    if (m_context->resumesSessions() && !m_sessionKey.empty()) {
        if (SslSessionPtr session = m_context->findSession(m_sessionKey))
            SSL_set_session(m_ssl.get(), session.get());
    }
    advanceHandshake(); // the ClientHello
}

Connection::~Connection()
{
    // OpenSSL marks the session not resumable when a connection is freed without our
    // close_notify; a connection that ended without error keeps it usable.
    if (m_ssl && !isFailed() && m_phase != Phase::Handshake && m_phase != Phase::VerifyPending)
        SSL_set_shutdown(m_ssl.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    if (!m_pendingPlain.empty())
        OPENSSL_cleanse(m_pendingPlain.data(), m_pendingPlain.size());
}

void Connection::feed(const char *data, size_t size)
{
    if (isFailed() || m_eof || size == 0)
        return;
    m_input.append(data, size);
}

std::pair<char *, size_t> Connection::inputSpace(size_t want)
{
    char *space = m_input.space(want);
    return {space, m_input.spaceSize()};
}

void Connection::commitInput(size_t n)
{
    if (isFailed() || m_eof)
        return;
    m_input.commit(n);
}

void Connection::feedEof()
{
    m_eof = true;
}

size_t Connection::pendingOutput() const
{
    return m_output.size();
}

size_t Connection::takeOutput(char *buffer, size_t capacity)
{
    const size_t n = std::min(capacity, m_output.size());
    if (n == 0)
        return 0;
    std::memcpy(buffer, m_output.data(), n);
    consumeOutput(n);
    return n;
}

std::string Connection::takeOutput()
{
    std::string out(m_output.data(), m_output.size());
    consumeOutput(out.size());
    return out;
}

void Connection::consumeOutput(size_t n)
{
    m_output.consume(n);
    if (m_output.empty())
        releaseBuffersIfIdle();
}

// Idle: nothing received waits to be read (here or inside OpenSSL) and nothing waits to be
// sent. Then the record buffers and the queues' storage go; in bulk this happens about once
// per burst, not per record.
void Connection::releaseBuffersIfIdle()
{
    if (!m_input.empty() || !m_output.empty() || !m_ssl)
        return;
    if (SSL_has_pending(m_ssl.get()) != 0)
        return;
    // Refuses (harmlessly) while a record is half read or written; before the fix of
    // CVE-2024-4741 it freed a half-read buffer, so older libraries keep their buffers.
    if (freeBuffersIsSafe())
        SSL_free_buffers(m_ssl.get());
    m_input.release();
    m_output.release();
}

void Connection::process()
{
    if (m_phase == Phase::Handshake)
        advanceHandshake();
    offerOutput();
}

// All that one call made goes to the sink at once: a flight of handshake records, or the
// records of one write, leave in one send() instead of one each. Buffers are released once the
// sink took everything, but not between a write's slices nor in the middle of a handshake (the
// next flight would allocate them again at once).
void Connection::offerOutput(bool mayRelease)
{
    if (!m_sink || m_output.empty())
        return;
    m_output.consume(m_sink(m_output.data(), m_output.size()));
    if (mayRelease && m_output.empty() && m_phase != Phase::Handshake)
        releaseBuffersIfIdle();
}

void Connection::advanceHandshake()
{
    OsslErrorScope errors;
    const int result = SSL_do_handshake(m_ssl.get());
    if (result == 1) {
        finishHandshake();
        return;
    }
    const int error = SSL_get_error(m_ssl.get(), result);
    if (error == SSL_ERROR_WANT_RETRY_VERIFY) {
        m_phase = Phase::VerifyPending;
        pushEvent(Event::VerifyFailed);
    } else if (error == SSL_ERROR_WANT_READ) {
        if (m_eof)
            fail(Error::Truncated, std::string("the connection closed during the TLS handshake ") +
                                       "(the " + (role() == Role::Client ? "server" : "client") +
                                       " hung up)");
    } else if (error == SSL_ERROR_ZERO_RETURN) {
        fail(Error::AlertReceived, std::string("the ") +
                                       (role() == Role::Client ? "server" : "client") +
                                       " closed the connection (close_notify) during the TLS "
                                       "handshake");
    } else {
        failFromSsl(error);
    }
}

int Connection::verifyPeer(X509_STORE_CTX *store)
{
    const VerifyMode mode = m_context->verifyMode();
    if (mode == VerifyMode::None || m_decision == Decision::Accepted)
        return 1;
    if (m_decision == Decision::Rejected) {
        X509_STORE_CTX_set_error(store, m_verifyFailures.empty()
                                            ? X509_V_ERR_APPLICATION_VERIFICATION
                                            : m_verifyFailures.front().opensslCode);
        return 0;
    }
    m_verifyFailures = verifyChain(store, m_peerName, role() == Role::Client);
    if (m_verifyFailures.empty())
        return 1;
    if (role() == Role::Server) {
        // A resumed session would skip verification and forget these failures: none is made.
        SSL_set_num_tickets(m_ssl.get(), 0);
        SSL_set_options(m_ssl.get(), SSL_OP_NO_TICKET);
    }
    if (mode == VerifyMode::Query || allAccepted()) {
        pushEvent(Event::VerifyFailed);
        return 1;
    }
    if (role() == Role::Client) {
        // Pause before our Finished: the application decides, the server has seen nothing.
        return SSL_set_retry_verify(m_ssl.get());
    }
    // A server cannot pause here: refuse now, with the alert that matches the first failure.
    pushEvent(Event::VerifyFailed);
    m_decision = Decision::Rejected;
    X509_STORE_CTX_set_error(store, m_verifyFailures.front().opensslCode);
    return 0;
}

bool Connection::allAccepted() const
{
    return std::all_of(m_verifyFailures.begin(), m_verifyFailures.end(),
                       [this](const VerifyFailure &failure) {
                           return std::find(m_accepted.begin(), m_accepted.end(), failure.code) !=
                                  m_accepted.end();
                       });
}

void Connection::resolveVerification(bool accept)
{
    if (m_phase != Phase::VerifyPending)
        return;
    m_decision = accept ? Decision::Accepted : Decision::Rejected;
    m_phase = Phase::Handshake;
    advanceHandshake();
    offerOutput();
}

void Connection::finishHandshake()
{
    SSL *ssl = m_ssl.get();
    m_phase = Phase::Data;
    m_info.protocol = SSL_get_version(ssl);
    m_info.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
    const unsigned char *alpn = nullptr;
    unsigned int alpnSize = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpnSize);
    m_info.alpn.assign(reinterpret_cast<const char *>(alpn), alpn ? alpnSize : 0);
    const char *group = SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl));
    m_info.group = group ? group : "";
    m_info.resumed = SSL_session_reused(ssl) == 1;
    if (role() == Role::Server && !m_verifyFailures.empty())
        SSL_CTX_remove_session(m_context->native(), SSL_get0_session(ssl));
    pushEvent(Event::HandshakeDone);
    flushPendingWrites();
    if (m_shutdownRequested && !isFailed())
        sendCloseNotify();
}

std::vector<std::string> Connection::peerCertificateChainPem() const
{
    std::vector<std::string> chain;
    if (!m_ssl)
        return chain;
    auto appendPem = [&chain](X509 *cert) {
        BioPtr bio(BIO_new(BIO_s_mem()));
        if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
            return;
        char *data = nullptr;
        const long size = BIO_get_mem_data(bio.get(), &data);
        chain.emplace_back(data, static_cast<size_t>(size));
    };
    X509 *leaf = SSL_get0_peer_certificate(m_ssl.get());
    if (leaf)
        appendPem(leaf);
    // A client's list starts with the server's own certificate; a server's does not.
    STACK_OF(X509) *sent = SSL_get_peer_cert_chain(m_ssl.get());
    for (int i = 0; sent && i < sk_X509_num(sent); ++i) {
        X509 *cert = sk_X509_value(sent, i);
        if (!leaf || X509_cmp(cert, leaf) != 0)
            appendPem(cert);
    }
    return chain;
}

void Connection::write(const char *data, size_t size)
{
    if (isFailed() || m_shutdownRequested || size == 0)
        return;
    if (m_phase == Phase::Data && m_pendingPlain.empty()) {
        writeNow(data, size);
        offerOutput();
    } else {
        m_pendingPlain.append(data, size);
    }
}

void Connection::writeNow(const char *data, size_t size)
{
    OsslErrorScope errors;
    // With a sink, a large write goes out a slice of a few records at a time: the output queue
    // holds one slice, not the whole write, and the first bytes leave before the last are
    // encrypted. Our BIO takes everything (the queue grows), so SSL_write_ex never stops half
    // way.
    const size_t slice = m_sink ? kSinkSlice : size;
    for (size_t done = 0; done < size;) {
        const size_t n = std::min(size - done, slice);
        size_t written = 0;
        if (SSL_write_ex(m_ssl.get(), data + done, n, &written) != 1 || written != n) {
            failFromSsl(SSL_get_error(m_ssl.get(), 0));
            return;
        }
        done += n;
        if (done < size)
            offerOutput(false);
    }
}

void Connection::flushPendingWrites()
{
    if (m_pendingPlain.empty())
        return;
    std::string pending;
    pending.swap(m_pendingPlain);
    writeNow(pending.data(), pending.size());
    OPENSSL_cleanse(pending.data(), pending.size());
}

size_t Connection::read(char *buffer, size_t capacity)
{
    if ((m_phase != Phase::Data && m_phase != Phase::Shutdown) || m_closeNotifyReceived ||
        capacity == 0)
        return 0;
    SSL *ssl = m_ssl.get();
    // Nothing received since the last call: SSL_read_ex would only say "want read" (and
    // allocate a record buffer for it). At end of stream it must run: it tells truncation.
    if (m_input.empty() && !m_eof && !m_source && SSL_has_pending(ssl) == 0) {
        releaseBuffersIfIdle();
        return 0;
    }
    OsslErrorScope errors;
    size_t total = 0;
    // SSL_read_ex returns one record at most: fill the caller's buffer with as many as there
    // are. A condition met after some data (close_notify, failure) is handled at once, after
    // that data; the next call returns 0.
    while (total < capacity) {
        size_t got = 0;
        const int result = SSL_read_ex(ssl, buffer + total, capacity - total, &got);
        if (result == 1) {
            total += got;
            if (m_input.empty() && SSL_has_pending(ssl) == 0)
                break;
            continue;
        }
        const int error = SSL_get_error(ssl, result);
        if (error == SSL_ERROR_WANT_READ) {
            if (m_eof && m_closeNotifySent) {
                // We ended the session; a peer may close without answering our close_notify.
                m_closeNotifyReceived = true;
                m_phase = Phase::Closed;
                pushEvent(Event::Closed);
            } else if (m_eof)
                fail(Error::Truncated,
                     std::string("the ") + (role() == Role::Client ? "server" : "client") +
                         " closed the connection without close_notify: the data may be truncated");
        } else if (error == SSL_ERROR_ZERO_RETURN) {
            onPeerCloseNotify();
        } else {
            failFromSsl(error);
        }
        break;
    }
    offerOutput(); // an alert, or the answer to the peer's KeyUpdate
    if (total == 0)
        releaseBuffersIfIdle();
    return total;
}

void Connection::setInputSource(InputSource source)
{
    m_source = std::move(source);
    if (!m_ssl)
        return;
    // Reading ahead, one recv() brings several records; without it OpenSSL reads a record's
    // header and its body separately. Applies to record buffers made from now on (they are
    // freed whenever the connection is idle).
    SSL_set_read_ahead(m_ssl.get(), m_source ? 1 : 0);
    SSL_set_default_read_buffer_len(m_ssl.get(), m_source ? kReadAheadBuffer : 0);
}

void Connection::shutdown()
{
    if (isFailed() || m_phase == Phase::Closed || m_shutdownRequested)
        return;
    m_shutdownRequested = true;
    if (m_phase == Phase::Data || m_phase == Phase::Shutdown)
        sendCloseNotify(); // else after the handshake, behind the queued writes
    offerOutput();
}

void Connection::sendCloseNotify()
{
    if (m_closeNotifySent)
        return;
    OsslErrorScope errors;
    flushPendingWrites();
    SSL_shutdown(m_ssl.get());
    m_closeNotifySent = true;
    m_phase = m_closeNotifyReceived ? Phase::Closed : Phase::Shutdown;
    if (m_phase == Phase::Closed)
        pushEvent(Event::Closed);
}

void Connection::onPeerCloseNotify()
{
    m_closeNotifyReceived = true;
    pushEvent(Event::CloseNotify);
    m_phase = m_closeNotifySent ? Phase::Closed : Phase::Shutdown;
    if (m_phase == Phase::Closed)
        pushEvent(Event::Closed);
}

void Connection::onAlert(bool received, int value)
{
    Alert alert;
    alert.fatal = (value >> 8) == SSL3_AL_FATAL;
    alert.description = value & 0xff;
    alert.text = alertName(alert.description);
    pushEvent(received ? Event::AlertReceived : Event::AlertSent, std::move(alert));
}

std::string Connection::verifySummary() const
{
    if (m_verifyFailures.empty())
        return "certificate verification failed";
    std::string summary = m_verifyFailures.front().message;
    if (m_verifyFailures.size() > 1)
        summary += " (and " + std::to_string(m_verifyFailures.size() - 1) + " more)";
    return summary;
}

void Connection::failFromSsl(int sslError)
{
    const OsslError cause = takeOpensslError();
    if (m_decision == Decision::Rejected ||
        ERR_GET_REASON(cause.code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        fail(Error::Certificate, verifySummary());
        return;
    }
    if (sslError == SSL_ERROR_SSL || cause.code != 0) {
        Error error =
            describeSslFailure(cause, role() == Role::Client ? "the server" : "the client",
                               SSL_CTX_get_min_proto_version(m_context->native()),
                               SSL_CTX_get_max_proto_version(m_context->native()));
        if (ERR_GET_REASON(cause.code) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
            VerifyFailure missing;
            missing.code = VerifyError::NoPeerCertificate;
            missing.message = error.message;
            m_verifyFailures = {missing};
        }
        fail(error.kind, error.message);
        return;
    }
    if (sslError == SSL_ERROR_SYSCALL && m_eof) {
        fail(Error::Truncated, "the connection closed without close_notify");
        return;
    }
    fail(Error::Internal,
         "unexpected TLS failure (OpenSSL error " + std::to_string(sslError) + ")");
}

void Connection::fail(Error::Kind kind, std::string message)
{
    if (isFailed())
        return;
    m_phase = Phase::Failed;
    m_error = {kind, std::move(message)};
    if (!m_pendingPlain.empty()) {
        OPENSSL_cleanse(m_pendingPlain.data(), m_pendingPlain.size());
        m_pendingPlain.clear();
    }
    pushEvent(Event::Failed);
}

void Connection::pushEvent(Event::Kind kind, Alert alert)
{
    m_events.push_back(Event{kind, std::move(alert)});
}

std::vector<Event> Connection::takeEvents()
{
    std::vector<Event> events;
    events.swap(m_events);
    return events;
}

} // namespace securesocket::engine
