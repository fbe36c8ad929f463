// SecureSocketPrivate, the engine driven over the transport. Data flows one way: a transport
// notification calls pump(), which passes ciphertext to the engine (the engine receives
// straight from the transport during the call), collects plaintext, then handles the engine's
// events one at a time, emitting the signals for them; at the end of the pass the plaintext
// the application wrote meanwhile is encrypted, and everything the engine made leaves in one
// send() (the end of a handshake with the application's first bytes, say).
#include "fdtransport_p.h"
#include "securesocket_p.h"
#include "testhooks_p.h"

#include <QDeadlineTimer>
#include <QMetaMethod>
#include <QPointer>
#include <QTimer>

#include <algorithm>
#include <climits>

using securesocket::engine::Error;
using securesocket::engine::Event;
using securesocket::engine::Status;

namespace {
// Plaintext decrypted at a time: past it, the application gets readyRead() and the rest waits
// in the engine and the kernel, so a fast sender cannot grow our buffer without bound. If the
// application read it all, pump() goes on, for kPullRounds such parts at most (1 MiB a pass).
// Small, so that the plaintext is still in the cache when the application copies it out: with
// 256 KiB parts a one-thread bulk transfer took a third more CPU per GiB.
constexpr qint64 kPullPerPump = 32 * 1024;
constexpr int kPullRounds = 32;
// Rounds of writing from bytesWritten() slots in one pass (see finishPass()).
constexpr int kWriteRounds = 4;
thread_local quint64 t_pumpsPosted = 0;   // for securesocket::testing::pumpsPostedOnThisThread()
thread_local quint64 t_flushesPosted = 0; // for ...::writeEventsPostedOnThisThread()
constexpr qint64 kPlainChunk = 16 * 1024; // plaintext taken from the engine at once
// Plaintext written by the application is encrypted at the end of the event-loop pass, or as
// soon as this much waits (one full record).
constexpr qint64 kCoalesceLimit = 16 * 1024;
// Plaintext given to the engine at once.
constexpr qint64 kEncryptSlice = 64 * 1024;
// Records leave at the end of the event-loop pass, or as soon as this much waits: a bulk
// writer's records go in a few large send()s, as QAbstractSocket's buffer does for plain TCP,
// and the kernel's cost is per send() more than per byte.
constexpr size_t kSendBatch = 1024 * 1024;
// Ciphertext received at once when the application set a read limit (about four records).
constexpr size_t kLimitedReceive = 64 * 1024;

void wipe(QByteArray &data)
{
    if (!data.isEmpty())
        OPENSSL_cleanse(data.data(), static_cast<size_t>(data.size()));
    data.clear();
}

int remainingMs(const QDeadlineTimer &deadline)
{
    if (deadline.isForever())
        return -1;
    return static_cast<int>(std::min<qint64>(deadline.remainingTime(), INT_MAX));
}

// The transport as the engine sees it during one call: it receives straight from the kernel
// (a short read means the kernel is empty, so it is not asked again in the same pass) and
// sends nothing: the driver sends all the engine made at the end of the pass, with what the
// application wrote meanwhile. With a read limit, a receive takes at most kLimitedReceive
// bytes: the rest waits in the kernel, not in the engine.
class ReceiveIo final : public securesocket::engine::Io
{
public:
    ReceiveIo(Transport &transport, bool limited) : m_transport(transport), m_limited(limited) {}

    size_t send(const char *, size_t) override { return 0; }
    size_t receive(char *buffer, size_t capacity) override
    {
        if (m_dry || m_ended)
            return 0;
        if (m_limited)
            capacity = std::min(capacity, kLimitedReceive);
        const qint64 got = m_transport.read(buffer, static_cast<qint64>(capacity));
        if (got < 0) {
            m_ended = true;
            return 0;
        }
        m_dry = got < static_cast<qint64>(capacity);
        m_received += got;
        return static_cast<size_t>(got);
    }
    qint64 received() const { return m_received; }
    bool ended() const { return m_ended; } // the transport's stream ended

private:
    Transport &m_transport;
    const bool m_limited;
    qint64 m_received = 0;
    bool m_dry = false;
    bool m_ended = false;
};

// The engine reads and writes no more: the peer closed, or the connection failed.
bool isOver(Status status)
{
    return status == Status::PeerClosed || status == Status::Truncated || status == Status::Failed;
}
} // namespace

// --- receiving -----------------------------------------------------------------------------

void SecureSocketPrivate::pump()
{
    m_pumpScheduled = false;
    if (!m_engine || !m_transport)
        return;
    QPointer<SecureSocket> guard(q);
    ++m_passDepth;
    for (int round = 1;; ++round) {
        const bool bounded = receive();
        handleEvents();
        if (guard && m_engine)
            emitReadyReadIfNew();
        if (!guard)
            return;
        if (!bounded || !m_engine || !m_transport)
            break;
        // Stopped at kPullPerPump: if the application read it all in its readyRead() slot,
        // the next part comes now, not from a posted event (one more wake-up of the event
        // dispatcher per part); up to kPullRounds parts, then other sockets get their turn.
        if (round == kPullRounds || plaintextHeld() > 0) {
            schedulePump(); // the engine may hold records read ahead
            break;
        }
    }
    --m_passDepth;
    finishPass(); // what the slots wrote (an answer, say) leaves with what the engine made
}

// For when the application made room in the read buffer, or changed its limit, or the engine
// holds records read ahead: no network notification would announce them.
void SecureSocketPrivate::schedulePump()
{
    if (m_pumpScheduled || !m_engine)
        return;
    m_pumpScheduled = true;
    ++t_pumpsPosted;
    QMetaObject::invokeMethod(
        q, [this] { pump(); }, Qt::QueuedConnection);
}

// Ciphertext in, plaintext out: at most kPullPerPump bytes of plaintext per call (then true:
// there may be more); with a read limit, the rest stays in the engine and the kernel until
// the application reads.
bool SecureSocketPrivate::receive()
{
    if (m_closing || isOver(m_engine->status())) {
        discardIncoming();
        return false;
    }
    m_transport->setReadEnabled(true);
    ReceiveIo io(*m_transport, m_readLimit > 0);
    m_engine->process(&io);
    const bool bounded = !drainPlaintext(ReadLimit::Respect, &io);
    m_wireBytes += io.received();
    if (!bounded && m_readLimit > 0 && plaintextHeld() >= m_readLimit)
        m_transport->setReadEnabled(false); // back-pressure: the rest waits in the kernel
    if (io.ended())
        onTransportEnded();
    return bounded;
}

// Nothing more is read (we are closing, or the engine is done) but the transport must still be
// read to see its end: what comes is dropped.
void SecureSocketPrivate::discardIncoming()
{
    char sink[kPlainChunk];
    for (qint64 total = 0; total < kPullPerPump;) {
        const qint64 got = m_transport->read(sink, sizeof sink);
        if (got < 0) {
            onTransportEnded();
            return;
        }
        if (got == 0)
            return;
        total += got;
    }
}

// Decrypts what the engine holds (reading the transport through io as it goes) into m_in, at
// most kPullPerPump bytes; returns false when it stopped at that bound.
bool SecureSocketPrivate::drainPlaintext(ReadLimit limit, securesocket::engine::Io *io)
{
    qint64 total = 0;
    for (;;) {
        if (total >= kPullPerPump)
            return false;
        qint64 room = kPlainChunk;
        if (limit == ReadLimit::Respect && m_readLimit > 0)
            room = std::min(room, m_readLimit - plaintextHeld());
        if (room <= 0)
            return true;
        if (m_inOffset > 0 && m_inOffset == m_in.size()) {
            m_in.resize(0); // keeps the capacity
            m_inOffset = 0;
        }
        const qint64 old = m_in.size();
        m_in.resize(old + room);
        const auto result = m_engine->read(m_in.data() + old, static_cast<size_t>(room), io);
        const qint64 got = static_cast<qint64>(result.size);
        m_in.resize(old + got);
        if (result.status != Status::Data)
            break;
        if (got == room && total == 0 && m_in.capacity() < kPullPerPump)
            m_in.reserve(old + kPullPerPump + 2 * kPlainChunk); // a burst: grow once
        total += got;
        m_newPlaintext = true;
    }
    if (m_in.isEmpty() && !keepsBuffers())
        m_in.clear(); // no idle buffer kept per connection
    return true;
}

// The transport's stream ended: the engine learns it, then tells a clean close (close_notify
// came) from a truncation; then the end is reported as QAbstractSocket reports a remote
// close, error first, then the state changes and disconnected().
void SecureSocketPrivate::onTransportEnded()
{
    QPointer<SecureSocket> guard(q);
    if (!m_closing && !isOver(m_engine->status())) {
        m_engine->feedEof();
        m_engine->process();
        drainPlaintext(ReadLimit::Ignore, nullptr); // ends with PeerClosed or Truncated
        handleEvents();
        if (!guard)
            return;
        emitReadyReadIfNew();
        if (!guard || !m_transport)
            return;
        if (!isOver(m_engine->status())) // not told by the engine (it always should)
            setError(m_transport->error(), SecureSocket::NoTlsError, m_transport->errorString());
    }
    if (guard && m_transport)
        closeTransport();
}

// --- writing -------------------------------------------------------------------------------

void SecureSocketPrivate::queueWrite(const char *data, qint64 size)
{
    m_plainSubmitted += size;
    if (m_out.isEmpty() && size >= kCoalesceLimit && canEncrypt()) {
        // A write of a record or more with nothing before it is encrypted from the caller's
        // buffer: no copy of the plaintext to make, keep and wipe.
        encrypt(data, size);
    } else {
        m_out.append(data, size);
        if (m_out.size() >= kCoalesceLimit && canEncrypt())
            encryptQueued();
    }
    if (m_passDepth == 0)
        scheduleFlush(); // (inside a pass, a slot's writes leave at its end)
}

void SecureSocketPrivate::scheduleFlush()
{
    if (m_flushScheduled)
        return;
    m_flushScheduled = true;
    ++t_flushesPosted;
    QMetaObject::invokeMethod(
        q,
        [this] {
            m_flushScheduled = false;
            finishPass();
        },
        Qt::QueuedConnection);
}

// The end of a pass (pump(), the posted flush, a written() report): what the application wrote
// leaves, then bytesWritten() and encryptedBytesWritten() tell how much went. What the slots
// of those signals write leaves in the next round of the same pass, up to kWriteRounds rounds:
// a writer that keeps a window full (writing from bytesWritten()) costs no posted event, nor
// its wake-up of the event dispatcher, per round.
void SecureSocketPrivate::finishPass()
{
    QPointer<SecureSocket> guard(q);
    ++m_passDepth;
    bool wroteMore = false;
    for (int round = 1; round <= kWriteRounds && m_engine; ++round) {
        flushWrites();
        const qint64 submitted = m_plainSubmitted;
        reportBytesWritten();
        if (guard && m_transport)
            m_transport->reportWritten();
        if (!guard)
            return;
        wroteMore = m_plainSubmitted != submitted;
        if (!wroteMore)
            break;
    }
    --m_passDepth;
    if (wroteMore)
        scheduleFlush(); // kWriteRounds rounds: other sockets get their turn
}

// The plaintext written so far goes to the engine (which holds it until the handshake is
// done), and all the engine made goes to the transport.
void SecureSocketPrivate::flushWrites()
{
    if (!canEncrypt())
        return;
    encryptQueued();
    sendOutput();
    watchIdleBuffers();
}

bool SecureSocketPrivate::canEncrypt() const
{
    return m_engine && m_transport && !m_engine->isFailed();
}

void SecureSocketPrivate::encryptQueued()
{
    encrypt(m_out.constData(), m_out.size());
    wipe(m_out);
}

// Plaintext to the engine a slice at a time; its records go to the transport once
// kSendBatch bytes of them wait (the rest by flushWrites()).
void SecureSocketPrivate::encrypt(const char *data, qint64 size)
{
    for (qint64 offset = 0; offset < size; offset += kEncryptSlice) {
        const qint64 n = std::min(kEncryptSlice, size - offset);
        m_engine->write(data + offset, static_cast<size_t>(n));
        if (m_engine->pendingOutput() >= kSendBatch)
            sendOutput();
    }
}

void SecureSocketPrivate::sendOutput()
{
    const auto [data, size] = m_engine->outputView();
    if (size == 0 || !m_transport)
        return;
    m_transport->write(data, static_cast<qint64>(size));
    m_engine->consumeOutput(size);
    m_wireBytes += static_cast<qint64>(size);
}

// bytesWritten() counts plaintext once it is encrypted and handed to the transport, as
// QSslSocket's does; encryptedBytesWritten() counts what the kernel took.
void SecureSocketPrivate::reportBytesWritten()
{
    const qint64 encrypted = m_plainSubmitted - plaintextToWrite();
    const qint64 news = encrypted - m_plainReported;
    if (news <= 0)
        return;
    m_plainReported = encrypted;
    emit q->bytesWritten(news);
}

// From inside a pass, or from the transport's own report (the kernel took queued bytes): then
// this is a pass of its own, and what its slots write leaves at its end.
void SecureSocketPrivate::written(qint64 bytes)
{
    if (m_passDepth > 0) {
        emit q->encryptedBytesWritten(bytes);
        return;
    }
    QPointer<SecureSocket> guard(q);
    ++m_passDepth;
    emit q->encryptedBytesWritten(bytes);
    if (!guard)
        return;
    --m_passDepth;
    finishPass();
}

// The transport posts no report of its own for bytes sent inside a pass, nor while a posted
// flush will come: finishPass() asks for it.
bool SecureSocketPrivate::collectsWritten() const
{
    return m_passDepth > 0 || m_flushScheduled;
}

bool SecureSocketPrivate::wantsWritten() const
{
    static const QMetaMethod signal = QMetaMethod::fromSignal(&SecureSocket::encryptedBytesWritten);
    return q->isSignalConnected(signal);
}

// --- engine events -------------------------------------------------------------------------

void SecureSocketPrivate::handleEvents()
{
    QPointer<SecureSocket> guard(q);
    for (;;) {
        if (m_nextEvent == m_events.size()) {
            std::vector<Event>().swap(m_events); // nothing kept while idle
            m_nextEvent = 0;
            if (m_engine)
                m_events = m_engine->takeEvents();
        }
        if (m_nextEvent == m_events.size() || !m_engine)
            return;
        const Event event = m_events[m_nextEvent++];
        handleEvent(event);
        if (!guard)
            return;
    }
}

void SecureSocketPrivate::handleEvent(const Event &event)
{
    QPointer<SecureSocket> guard(q);
    switch (event.kind) {
    case Event::HandshakeDone:
        m_encrypted = true;
        if (lcSecureSocket().isDebugEnabled()) {
            const auto &info = m_engine->handshakeInfo();
            qCDebug(lcSecureSocket).nospace().noquote()
                << q << " encrypted: " << info.protocol.c_str() << ' ' << info.cipher.c_str()
                << (info.resumed ? ", session resumed" : "");
        }
        startIdleTimer();
        emit q->encrypted();
        if (guard && m_closeWhenEncrypted)
            beginTlsClose();
        break;
    case Event::VerifyFailed:
        reportVerifyFailures();
        break;
    case Event::AlertSent:
    case Event::AlertReceived: {
        const int level = event.alert.fatal ? 2 : 1;
        const QString text = QString::fromStdString(event.alert.text);
        if (event.kind == Event::AlertSent)
            emit q->alertSent(level, event.alert.description, text);
        else
            emit q->alertReceived(level, event.alert.description, text);
        break;
    }
    case Event::CloseNotify:
        qCDebug(lcSecureSocket) << q << "the peer sent close_notify";
        onCloseNotify();
        break;
    case Event::Closed:
        break;
    case Event::SessionStored:
        emit q->sessionTicketReceived();
        break;
    case Event::Failed:
        emitReadyReadIfNew();
        if (guard && m_engine)
            handleFailure();
        break;
    }
}

// The peer said close_notify: no more data comes. If we started the close, this is its
// answer; otherwise, as QTcpSocket does on a remote close, the error comes first (while still
// connected), then we answer and close.
void SecureSocketPrivate::onCloseNotify()
{
    if (m_closing)
        return;
    QPointer<SecureSocket> guard(q);
    emitReadyReadIfNew();
    if (!guard || !m_engine)
        return;
    setError(QAbstractSocket::RemoteHostClosedError, SecureSocket::NoTlsError,
             SecureSocket::tr("The remote host closed the connection"));
    if (guard && m_engine)
        beginTlsClose();
}

void SecureSocketPrivate::reportVerifyFailures()
{
    QPointer<SecureSocket> guard(q);
    // A second round (a client's stapled OCSP response, checked after the chain was forgiven)
    // reports and decides on its own failures only; peerVerifyErrors() keeps them all.
    const qsizetype reported = m_verifyErrors.size();
    m_verifyErrors.clear();
    for (const auto &failure : m_engine->verifyFailures()) {
        SecureCertificateError error;
        error.error = failure.code;
        error.message = QString::fromStdString(failure.message);
        error.depth = failure.depth;
        error.subject = QString::fromStdString(failure.subject);
        error.certificate = SecureCertificate(QByteArray::fromStdString(failure.certificatePem));
        m_verifyErrors.append(error);
    }
    const QList<SecureCertificateError> errors = m_verifyErrors.mid(reported);
    qCDebug(lcSecureSocket) << q << "certificate verification failures:" << errors;
    for (const SecureCertificateError &error : errors) {
        emit q->certCheckFailed(static_cast<int>(error.error), error.message);
        if (!guard || !m_engine)
            return;
    }
    emit q->certificateErrors(errors);
    if (!guard || !m_engine || m_engine->status() != Status::VerifyPending)
        return;
    const auto forgiven = [this](const SecureCertificateError &e) {
        return m_ignoreList.contains(e.error) ||
               std::any_of(m_ignoreExact.cbegin(), m_ignoreExact.cend(), [&e](const auto &x) {
                   return x.error == e.error && x.certificate == e.certificate;
               });
    };
    const bool accept = m_ignoreAll || std::all_of(errors.begin(), errors.end(), forgiven);
    qCDebug(lcSecureSocket) << q
                            << (accept ? "certificate failures forgiven: handshake goes on"
                                       : "certificate failures not forgiven: aborting");
    m_engine->resolveVerification(accept);
    receive(); // the rest of the handshake may be here already
}

void SecureSocketPrivate::handleFailure()
{
    // The alert, if any, goes to the kernel now: a blocking program may end as soon as the
    // waitFor...() call returns, with no event loop left to send it later.
    sendOutput();
    if (m_transport)
        m_transport->flush();
    if (m_closing)
        return; // the application is closing: nothing to report
    const Error &error = m_engine->error();
    QString message = QString::fromStdString(error.message);
    const QString peer = q->peerName().isEmpty() ? q->peerAddress().toString() : q->peerName();
    QAbstractSocket::SocketError socketError =
        m_encrypted ? QAbstractSocket::SslInternalError : QAbstractSocket::SslHandshakeFailedError;
    SecureSocket::TlsError tlsError =
        m_encrypted ? SecureSocket::ProtocolError : SecureSocket::HandshakeFailed;
    switch (error.kind) {
    case Error::Config:
        socketError = QAbstractSocket::SslInvalidUserDataError;
        tlsError = SecureSocket::ConfigurationError;
        break;
    case Error::Certificate:
        tlsError = SecureSocket::CertificateRejected;
        break;
    case Error::AlertReceived:
        tlsError = SecureSocket::AlertReceived;
        break;
    case Error::Truncated: {
        // As QSslSocket: the peer closed (during the handshake too); tlsError() says that
        // close_notify was missing.
        socketError = QAbstractSocket::RemoteHostClosedError;
        const bool reset = m_transport && m_transport->end() == Transport::End::Reset;
        if (m_encrypted)
            tlsError = reset ? SecureSocket::ConnectionReset : SecureSocket::Truncated;
        if (m_encrypted && reset)
            message = SecureSocket::tr("the peer reset the connection (TCP RST) without "
                                       "close_notify: data may have been lost");
        break;
    }
    default:
        break;
    }
    const QString text =
        m_encrypted ? SecureSocket::tr("TLS connection with %1 failed: %2").arg(peer, message)
                    : SecureSocket::tr("TLS handshake with %1 failed: %2").arg(peer, message);
    QPointer<SecureSocket> guard(q);
    setError(socketError, tlsError, text);
    if (guard && m_transport) {
        setState(QAbstractSocket::ClosingState);
        if (guard)
            closeTransport();
    }
}

void SecureSocketPrivate::emitReadyReadIfNew()
{
    if (!m_newPlaintext)
        return;
    m_newPlaintext = false;
    ++m_readyReadCount;
    emit q->readyRead();
}

// --- waiting without an event loop --------------------------------------------------------

bool SecureSocketPrivate::waitFor(int msecs, const std::function<bool()> &done)
{
    const QDeadlineTimer deadline(msecs < 0 ? QDeadlineTimer::Forever : QDeadlineTimer(msecs));
    QPointer<SecureSocket> guard(q);
    for (;;) {
        if (m_flushScheduled) { // what an event loop would have done by now
            m_flushScheduled = false;
            finishPass();
        }
        if (!guard)
            return false;
        if (done())
            return true; // (waitForBytesWritten(): nothing is read that readyRead() would announce)
        pump();          // what the engine or the transport already holds
        if (!guard)
            return false;
        if (done())
            return true;
        if (deadline.hasExpired())
            break;
        if (m_transport) {
            if (!m_transport->waitForActivity(remainingMs(deadline)))
                break; // the time is up, or nothing can happen any more
        } else if (m_encryptOnConnect && m_tcp &&
                   m_tcp->state() != QAbstractSocket::UnconnectedState) {
            m_tcp->waitForConnected(remainingMs(deadline)); // TLS starts in connected()
        } else {
            break;
        }
        if (!guard)
            return false;
    }
    if (!done() && deadline.hasExpired() && q->state() != QAbstractSocket::UnconnectedState)
        setError(QAbstractSocket::SocketTimeoutError, SecureSocket::NoTlsError,
                 SecureSocket::tr("Socket operation timed out"));
    return done();
}

quint64 securesocket::testing::pumpsPostedOnThisThread()
{
    return t_pumpsPosted;
}

quint64 securesocket::testing::writeEventsPostedOnThisThread()
{
    return t_flushesPosted + FdTransport::reportsPostedOnThisThread();
}
