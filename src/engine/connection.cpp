// Connection: setting up one TLS connection, the calls that move data (each with its Io, if
// any) and the statuses they return, close_notify, failure, and the release of buffers when
// idle. The handshake and verification are in handshake.cpp, the BIO in queuebio.cpp, the
// error sentences in errors.cpp, the context's callbacks in sessions.cpp and contextbuilder.cpp.
#include "connection.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstring>

namespace securesocket::engine {

namespace {

// Plaintext encrypted per offer to an Io in a large write: four full records.
constexpr size_t kSendSlice = 4 * SSL3_RT_MAX_PLAIN_LENGTH;

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

} // namespace

Connection::IoCall::IoCall(Connection &connection, Io *io)
    : m_connection(connection), m_scope(connection.m_bio, io)
{}

Connection::IoCall::~IoCall()
{
    if (m_connection.tracing())
        m_connection.traceTraffic();
}

void Connection::infoCallback(const SSL *ssl, int where, int value)
{
    ConnectionHooks *hooks = ConnectionHooks::of(ssl);
    if (!hooks)
        return;
    auto *connection = static_cast<Connection *>(hooks);
    if ((where & SSL_CB_ALERT) != 0)
        connection->onAlert((where & SSL_CB_READ) != 0, value);
    else if (connection->tracing())
        connection->traceState(where);
}

Connection::Connection(std::shared_ptr<const Context> context, std::string peerName,
                       std::string sessionKey, PskProvider psk, const std::string &importedSession)
    : m_context(std::move(context)), m_peerName(std::move(peerName)),
      // OpenSSL does not check the name again when it resumes: the name is part of the key.
      m_sessionKey(sessionKey.empty() ? std::string() : sessionKey + '\n' + m_peerName),
      m_pskProvider(std::move(psk))
{
    OsslErrorScope errors;
    m_ssl.reset(SSL_new(m_context->native()));
    BioPtr bio = m_bio.makeBio();
    if (!m_ssl || !bio) {
        m_ssl.reset();
        fail(Error::Internal, "cannot create a TLS connection (out of memory)");
        return;
    }
    // One BIO for both directions: SSL_set_bio takes its one reference.
    SSL_set_bio(m_ssl.get(), bio.get(), bio.get());
    bio.release();
    // The record buffers are kept while data flows and freed when the connection is idle
    // (releaseBuffersIfIdle()), rather than after every record.
    SSL_clear_mode(m_ssl.get(), SSL_MODE_RELEASE_BUFFERS);
    SSL_set_app_data(m_ssl.get(), static_cast<ConnectionHooks *>(this));
    SSL_set_info_callback(m_ssl.get(), infoCallback);
    if (tracing())
        SSL_set_msg_callback(m_ssl.get(), recordCallback); // counts records, reads headers only

    if (role() == Role::Server) {
        SSL_set_accept_state(m_ssl.get());
        if (tracing())
            traceStart();
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
    // A verifying client asks for a stapled OCSP response: a revoked one is a failure even
    // when none is required (see checkStapledOcsp()).
    if (m_context->verifyMode() != VerifyMode::None)
        SSL_set_tlsext_status_type(m_ssl.get(), TLSEXT_STATUSTYPE_ocsp);
    if (m_context->resumesSessions() && !m_sessionKey.empty()) {
        SslSessionPtr session = importSession(importedSession, sessionBinding(), &m_sessionImport);
        if (!session)
            session = m_context->findSession(m_sessionKey);
        if (session)
            SSL_set_session(m_ssl.get(), session.get());
    } else if (!importedSession.empty()) {
        importSession(importedSession, sessionBinding(), &m_sessionImport);
        if (m_sessionImport == SessionImport::Used)
            m_sessionImport = SessionImport::OtherBinding; // resumption is off here
    }
    if (tracing())
        traceStart();
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

Status Connection::status() const
{
    switch (m_phase) {
    case Phase::Failed:
        return m_error.kind == Error::Truncated ? Status::Truncated : Status::Failed;
    case Phase::VerifyPending:
        return Status::VerifyPending;
    case Phase::Closed:
        return Status::PeerClosed;
    default:
        break;
    }
    if (m_closeNotifyReceived)
        return Status::PeerClosed;
    return m_inputWanted && m_input.empty() && !m_eof ? Status::NeedInput : Status::Ok;
}

void Connection::feed(const char *data, size_t size)
{
    if (isFailed() || m_eof || size == 0)
        return;
    m_input.append(data, size);
    m_inputWanted = false;
}

std::pair<char *, size_t> Connection::inputSpace(size_t want)
{
    char *space = m_input.space(want);
    return {space, m_input.spaceSize()};
}

void Connection::commitInput(size_t n)
{
    if (isFailed() || m_eof || n == 0)
        return;
    m_input.commit(n);
    m_inputWanted = false;
}

void Connection::feedEof()
{
    m_eof = true;
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
void Connection::releaseBuffersIfIdle(bool evenIfDeferred)
{
    if (!m_input.empty() || !m_output.empty() || !m_ssl)
        return;
    if (SSL_has_pending(m_ssl.get()) != 0)
        return;
    if (m_releaseDeferred && !evenIfDeferred) {
        m_idleBuffersHeld = true;
        return;
    }
    m_idleBuffersHeld = false;
    // Refuses (harmlessly) while a record is half read or written; before the fix of
    // CVE-2024-4741 it freed a half-read buffer, so older libraries keep their buffers.
    if (freeBuffersIsSafe())
        SSL_free_buffers(m_ssl.get());
    m_input.release();
    m_output.release();
}

void Connection::releaseIdleBuffers()
{
    releaseBuffersIfIdle(true);
    // Not idle after all: the next idle moment holds them again, and the driver waits again.
    m_idleBuffersHeld = false;
}

Status Connection::process(Io *io)
{
    const IoCall call(*this, io);
    if (m_phase == Phase::Handshake)
        advanceHandshake();
    offerOutput();
    return status();
}

// All that one call made goes to the Io at once: a flight of handshake records, or the
// records of one write, leave in one send() instead of one each. Buffers are released once the
// Io took everything, but not between a write's slices nor in the middle of a handshake (the
// next flight would allocate them again at once).
void Connection::offerOutput(bool mayRelease)
{
    Io *io = m_bio.io();
    if (!io || m_output.empty())
        return;
    m_output.consume(io->send(m_output.data(), m_output.size()));
    if (mayRelease && m_output.empty() && m_phase != Phase::Handshake)
        releaseBuffersIfIdle();
}

void Connection::write(const char *data, size_t size, Io *io)
{
    const IoCall call(*this, io);
    if (!isFailed() && !m_shutdownRequested && size > 0) {
        if (m_phase == Phase::Data && m_pendingPlain.empty())
            writeNow(data, size);
        else
            m_pendingPlain.append(data, size);
    }
    offerOutput();
}

void Connection::writeNow(const char *data, size_t size)
{
    OsslErrorScope errors;
    // With an Io, a large write goes out a slice of a few records at a time: the output queue
    // holds one slice, not the whole write, and the first bytes leave before the last are
    // encrypted. Our BIO takes everything (the queue grows), so SSL_write_ex never stops half
    // way.
    const size_t slice = m_bio.io() ? kSendSlice : size;
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

ReadResult Connection::read(char *buffer, size_t capacity, Io *io)
{
    const IoCall call(*this, io);
    if ((m_phase != Phase::Data && m_phase != Phase::Shutdown) || m_closeNotifyReceived ||
        capacity == 0) {
        offerOutput(); // what an earlier call without an Io left
        return {0, status()};
    }
    SSL *ssl = m_ssl.get();
    // Nothing received since the last call: SSL_read_ex would only say "want read" (and
    // allocate a record buffer for it). At end of stream it must run: it tells truncation.
    if (m_input.empty() && !m_eof && !io && SSL_has_pending(ssl) == 0) {
        m_inputWanted = true;
        releaseBuffersIfIdle();
        return {0, Status::NeedInput};
    }
    OsslErrorScope errors;
    size_t total = 0;
    // SSL_read_ex returns one record at most: fill the caller's buffer with as many as there
    // are. A condition met after some data (close_notify, failure) is handled at once, after
    // that data; the next call returns it.
    while (total < capacity) {
        size_t got = 0;
        const int result = SSL_read_ex(ssl, buffer + total, capacity - total, &got);
        if (result == 1) {
            total += got;
            m_inputWanted = false;
            if (m_input.empty() && SSL_has_pending(ssl) == 0)
                break;
            continue;
        }
        const int error = SSL_get_error(ssl, result);
        if (error == SSL_ERROR_WANT_READ) {
            m_inputWanted = true;
            if (m_eof && m_closeNotifySent) {
                // We ended the session; a peer may close without answering our close_notify.
                m_phase = Phase::Closed;
                pushEvent(Event::Closed);
            } else if (m_eof) {
                fail(Error::Truncated, "the " + peer() +
                                           " closed the connection without close_notify: the "
                                           "data may be truncated");
            }
        } else if (error == SSL_ERROR_ZERO_RETURN) {
            onPeerCloseNotify();
        } else {
            failFromSsl(error);
        }
        break;
    }
    offerOutput(); // an alert, or the answer to the peer's KeyUpdate
    if (total > 0)
        return {total, Status::Data};
    releaseBuffersIfIdle();
    return {0, status()};
}

void Connection::shutdown(Io *io)
{
    const IoCall call(*this, io);
    if (!isFailed() && m_phase != Phase::Closed && !m_shutdownRequested) {
        m_shutdownRequested = true;
        if (m_phase == Phase::Data || m_phase == Phase::Shutdown)
            sendCloseNotify(); // else after the handshake, behind the queued writes
    }
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
    if (tracing())
        trace("close_notify sent");
    m_phase = m_closeNotifyReceived ? Phase::Closed : Phase::Shutdown;
    if (m_phase == Phase::Closed)
        pushEvent(Event::Closed);
}

void Connection::onPeerCloseNotify()
{
    m_closeNotifyReceived = true;
    if (tracing())
        trace("close_notify received");
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
    if (tracing())
        trace(std::string("alert ") + (received ? "received: " : "sent: ") +
              (alert.fatal ? "fatal " : "warning ") + alert.text + " (" +
              std::to_string(alert.description) + ")");
    pushEvent(received ? Event::AlertReceived : Event::AlertSent, std::move(alert));
}

std::string Connection::peer() const
{
    return role() == Role::Client ? "server" : "client";
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
    if (!m_refusedServerName.empty()) {
        fail(Error::Incompatible,
             "refused the TLS handshake: the client asked for the server name '" +
                 m_refusedServerName +
                 "', which none of our certificates has (unrecognized_name alert sent)");
        return;
    }
    if (sslError == SSL_ERROR_SSL || cause.code != 0) {
        Error error = describeSslFailure(cause, "the " + peer(),
                                         SSL_CTX_get_min_proto_version(m_context->native()),
                                         SSL_CTX_get_max_proto_version(m_context->native()));
        if (m_phase == Phase::Handshake)
            error.message += pskExplanation();
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

// What pre-shared keys had to do with a failed handshake, as the end of its sentence.
std::string Connection::pskExplanation() const
{
    if (!m_pskRefused.empty() && m_pskIdentity.empty())
        return "; the client offered the identity '" + m_pskRefused +
               "' and there is no pre-shared key for it";
    if (m_pskIdentity.empty())
        return {};
    return "; the " + peer() + " does not hold the same pre-shared key for the identity '" +
           m_pskIdentity + "' as we do";
}

void Connection::fail(Error::Kind kind, std::string message)
{
    if (isFailed())
        return;
    m_phase = Phase::Failed;
    m_error = {kind, std::move(message)};
    if (tracing())
        trace("failed: " + m_error.message);
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
