// SecureSocketPrivate: drives the engine over the transport (the adopted descriptor, or the
// plain socket until then and through proxies). Data flows one way: a transport notification
// calls pump(), which moves ciphertext in and out of the engine, collects plaintext, and then
// emits the signals for what happened, in one place.
#include "fdstream_p.h"
#include "secureconfiguration_p.h"
#include "securesocket_p.h"
#include "threadcleanup_p.h"

#include <QAuthenticator>
#include <QNetworkProxy>
#include <QPointer>
#include <QTimer>

#include <algorithm>
#include <cerrno>
#include <utility>

#ifdef Q_OS_UNIX
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

Q_LOGGING_CATEGORY(lcSecureSocket, "securesocket.socket", QtWarningMsg)

using securesocket::engine::Connection;
using securesocket::engine::Error;
using securesocket::engine::Event;
using securesocket::engine::Phase;
using securesocket::engine::Role;

namespace {
constexpr qint64 kChunk = 64 * 1024; // ciphertext read from the transport at once
// Ciphertext taken in by one pump(): past it, the application gets readyRead() and the rest
// waits in the kernel, so a fast sender cannot grow our buffer without bound.
constexpr qint64 kPullPerPump = 256 * 1024;
constexpr qint64 kPlainChunk = 16 * 1024; // plaintext taken from the engine at once
// How long a closing socket waits, without progress, for the peer's close_notify before it
// closes the transport anyway.
constexpr int kCloseNotifyWaitMs = 2000;

void wipe(QByteArray &data)
{
    if (!data.isEmpty())
        OPENSSL_cleanse(data.data(), static_cast<size_t>(data.size()));
    data.clear();
}

int remainingMs(const QDeadlineTimer &deadline)
{
    return static_cast<int>(std::min<qint64>(deadline.remainingTime(), INT_MAX));
}
} // namespace

SecureSocketPrivate::SecureSocketPrivate(SecureSocket *q)
    : q(q), m_plain(new QTcpSocket(q)), m_closeTimer(new QTimer(q))
{
    using S = QTcpSocket;
    QObject::connect(m_plain, &S::hostFound, q, &SecureSocket::hostFound);
    QObject::connect(m_plain, &S::stateChanged, q,
                     [this](QAbstractSocket::SocketState s) { onPlainStateChanged(s); });
    QObject::connect(m_plain, &S::connected, q, [this] { onPlainConnected(); });
    QObject::connect(m_plain, &S::readyRead, q, [this] { onPlainReadyRead(); });
    QObject::connect(m_plain, &S::bytesWritten, q, [this](qint64 n) { onTransportWritten(n); });
    QObject::connect(m_plain, &S::errorOccurred, q, [this](QAbstractSocket::SocketError e) {
        // Qt reports a reset and an orderly end alike (RemoteHostClosedError) and has closed
        // the descriptor by now; the errno of its failed read is still there to tell them
        // apart.
        const bool reset = errno == ECONNRESET;
        onTransportError(e, m_plain->errorString(), reset);
    });
    QObject::connect(m_plain, &S::readChannelFinished, q, &SecureSocket::readChannelFinished);
    QObject::connect(m_plain, &S::disconnected, q, [this] { onPlainDisconnected(); });
    QObject::connect(m_plain, &S::proxyAuthenticationRequired, q,
                     &SecureSocket::proxyAuthenticationRequired);
    m_closeTimer->setSingleShot(true);
    QObject::connect(m_closeTimer, &QTimer::timeout, q, [this] {
        m_closeDeadline.setRemainingTime(0); // a coarse timer may fire a little early
        finishTlsCloseIfDone();
    });
}

SecureSocketPrivate::~SecureSocketPrivate() = default;

// --- reporting -----------------------------------------------------------------------------

void SecureSocketPrivate::setMode(SecureSocket::Mode mode)
{
    if (m_mode == mode)
        return;
    m_mode = mode;
    emit q->modeChanged(mode);
}

void SecureSocketPrivate::setState(QAbstractSocket::SocketState state)
{
    if (q->state() == state)
        return;
    q->setSocketState(state);
    if (state == QAbstractSocket::UnconnectedState)
        connectionEnded();
    emit q->stateChanged(state);
}

void SecureSocketPrivate::connectionEnded()
{
    if (auto ended = std::exchange(m_onConnectionEnd, nullptr))
        ended();
}

void SecureSocketPrivate::mirrorAddresses()
{
    q->setLocalAddress(m_plain->localAddress());
    q->setLocalPort(m_plain->localPort());
    q->setPeerAddress(m_plain->peerAddress());
    q->setPeerPort(m_plain->peerPort());
}

void SecureSocketPrivate::clearAddresses()
{
    q->setLocalAddress({});
    q->setLocalPort(0);
    q->setPeerAddress({});
    q->setPeerPort(0);
}

void SecureSocketPrivate::setError(QAbstractSocket::SocketError error,
                                   SecureSocket::TlsError tlsError, const QString &message)
{
    m_tlsError = tlsError;
    q->setSocketError(error);
    q->setErrorString(message);
    emit q->errorOccurred(error);
}

// --- plain socket events -------------------------------------------------------------------

void SecureSocketPrivate::onPlainStateChanged(QAbstractSocket::SocketState state)
{
    if (state == QAbstractSocket::ConnectedState)
        mirrorAddresses();
    else if (state == QAbstractSocket::UnconnectedState)
        endConnection(); // also when it never connected: nothing queued may wait for the next
    setState(state);     // ClosingState may have been announced already, by a TLS close
}

void SecureSocketPrivate::onPlainConnected()
{
    mirrorAddresses();
    QPointer<SecureSocket> guard(q);
    emit q->connected();
    if (guard && m_encryptOnConnect && q->state() == QAbstractSocket::ConnectedState)
        startEncryption(Role::Client);
}

void SecureSocketPrivate::onPlainReadyRead()
{
    if (isTlsActive())
        pump();
    else if (!m_encryptOnConnect && !isTlsMode())
        emit q->readyRead();
}

void SecureSocketPrivate::onTransportWritten(qint64 bytes)
{
    if (m_sunk > 0)
        flushOutput(); // m_streamIo's bytes get their mark before they are counted as written
    if (isTlsActive())
        emit q->encryptedBytesWritten(bytes);
    if (m_closing) { // progress: give the peer the full time to answer from now
        m_closeDeadline.setRemainingTime(kCloseNotifyWaitMs);
        m_closeTimer->start(kCloseNotifyWaitMs);
        finishTlsCloseIfDone();
    }
    qint64 plain = 0;
    while (bytes > 0 && !m_marks.empty()) {
        WriteMark &mark = m_marks.front();
        if (mark.cipher > bytes) {
            mark.cipher -= bytes;
            break;
        }
        bytes -= mark.cipher;
        plain += mark.plain;
        m_marks.pop_front();
    }
    QPointer<SecureSocket> guard(q);
    if (plain > 0) {
        m_plainWritten += plain;
        emit q->bytesWritten(plain);
    }
    if (guard && m_disconnectWhenFlushed && m_stream && m_stream->bytesToWrite() == 0) {
        m_disconnectWhenFlushed = false;
        streamGone(true);
    }
}

void SecureSocketPrivate::onTransportError(QAbstractSocket::SocketError error,
                                           const QString &message, bool reset)
{
    if (m_closing && transportBytesToWrite() == 0)
        return; // we are closing and all we had to say was sent: the peer's end is expected
    if (error == QAbstractSocket::RemoteHostClosedError && isTlsActive() && !m_closing) {
        if (m_closeNotifyReceived)
            return; // already reported when close_notify arrived
        m_peerReset = reset;
        drainAtEof();
        if (!m_engine || m_engine->isFailed() || m_closeNotifyReceived)
            return; // reported from the engine's events
    }
    setError(error, SecureSocket::NoTlsError, message);
}

// The adopted descriptor reached its end (or failed): report it as QAbstractSocket reports a
// remote close, error first, then the state changes and disconnected().
void SecureSocketPrivate::onStreamEnded()
{
    QPointer<SecureSocket> guard(q);
    onTransportError(m_stream->error(), m_stream->errorString(), m_stream->wasReset());
    if (guard && m_stream)
        streamGone(true);
}

// The descriptor is closed; the signals follow QAbstractSocket's order (ClosingState only for
// a close, not for an abort).
void SecureSocketPrivate::streamGone(bool closing)
{
    m_stream.reset();
    QPointer<SecureSocket> guard(q);
    if (closing)
        setState(QAbstractSocket::ClosingState);
    if (guard)
        onPlainStateChanged(QAbstractSocket::UnconnectedState);
    if (guard)
        emit q->readChannelFinished();
    if (guard)
        onPlainDisconnected();
}

void SecureSocketPrivate::onPlainDisconnected()
{
    endConnection();
    QPointer<SecureSocket> guard(q);
    emit q->disconnected();
    if (guard)
        clearAddresses(); // after the signal, as QAbstractSocket does
}

// --- the life of a connection --------------------------------------------------------------

void SecureSocketPrivate::beginConnect(const QString &host, quint16 port, QIODevice::OpenMode mode,
                                       QAbstractSocket::NetworkLayerProtocol protocol, bool encrypt)
{
    const auto state = q->state();
    if (state != QAbstractSocket::UnconnectedState && state != QAbstractSocket::BoundState) {
        qCWarning(lcSecureSocket, "connectToHost: already connecting or connected to \"%s\"",
                  qPrintable(q->peerName()));
        return;
    }
    reset();
    m_encryptOnConnect = encrypt;
    m_verifyName = host;
    m_hostPort = port;
    q->QIODevice::open(mode);
    q->setPeerName(host);
    clearAddresses();
    q->setSocketError(QAbstractSocket::UnknownSocketError);
    q->setErrorString(QString());
    m_plain->setProxy(q->proxy());
    m_plain->setReadBufferSize(m_readLimit);
    if (encrypt)
        startHandshakeTimer(); // a server that accepts and never answers must not hang us
    m_plain->connectToHost(host, port, mode, protocol);
}

void SecureSocketPrivate::reset()
{
    endConnection();
    m_engine.reset();
    setMode(SecureSocket::UnencryptedMode);
    m_tlsError = SecureSocket::NoTlsError;
    m_closeNotifyReceived = m_newPlaintext = false;
    m_verifyErrors.clear();
    wipe(m_in);
    m_inOffset = 0;
    m_stream.reset();
    if (m_plain->state() == QAbstractSocket::UnconnectedState && m_plain->isOpen())
        m_plain->close();
}

void SecureSocketPrivate::endConnection()
{
    m_encryptOnConnect = m_encrypted = m_closeAfterConnect = m_closing = m_halfClosed =
        m_peerReset = m_disconnectWhenFlushed = m_streamEnded = false;
    m_ignoreAll = false;
    m_closeTimer->stop();
    stopTimers();
    wipe(m_early);
    resetAccounting();
}

void SecureSocketPrivate::resetAccounting()
{
    m_marks.clear();
    m_plainSubmitted = m_plainFlushed = m_plainWritten = m_sunk = 0;
}

bool SecureSocketPrivate::startEncryption(Role role)
{
    if (m_engine) {
        qCWarning(lcSecureSocket,
                  "start*Encryption: the socket is already encrypted or encrypting");
        return false;
    }
    if (q->state() != QAbstractSocket::ConnectedState) {
        qCWarning(lcSecureSocket, "start*Encryption: the socket is not connected");
        return false;
    }
    discardStalePlaintext(role);

    std::string error;
    auto context = securesocket::engineContext(m_config, role, &error);
    if (!context) {
        setError(
            QAbstractSocket::SslInvalidUserDataError, SecureSocket::ConfigurationError,
            SecureSocket::tr("TLS configuration error: %1").arg(QString::fromStdString(error)));
        m_encryptOnConnect = false;
        m_plain->abort();
        return false;
    }
    QString name;
    if (role == Role::Client) {
        name = m_config.peerVerifyName();
        if (name.isEmpty())
            name = m_verifyName.isEmpty() ? q->peerName() : m_verifyName;
        if (name.isEmpty())
            name = m_plain->peerAddress().toString();
    }
    // Sessions are resumed per host and port (the engine adds the verified name to the key).
    const std::string sessionKey =
        role == Role::Client
            ? (q->peerName().isEmpty() ? m_plain->peerAddress().toString() : q->peerName())
                      .toStdString() +
                  ':' + std::to_string(m_plain->peerPort())
            : std::string();
    securesocket::releaseOpenSslStateWhenThreadEnds();
    m_engine = std::make_unique<Connection>(std::move(context), name.toStdString(), sessionKey);
    m_engine->setAcceptedFailures({m_ignoreList.cbegin(), m_ignoreList.cend()});
    m_encryptOnConnect = false;
    startHandshakeTimer();
    setMode(role == Role::Client ? SecureSocket::ClientMode : SecureSocket::ServerMode);
    if (!m_engine)
        return false; // a slot of modeChanged() aborted
    if (!m_early.isEmpty()) {
        // Written between connectToHostEncrypted() and now: sent after the handshake, in order.
        m_engine->write(m_early.constData(), static_cast<size_t>(m_early.size()), engineIo());
        wipe(m_early);
    }
    adoptDescriptor();
    if (m_closeAfterConnect) {
        m_closeAfterConnect = false;
        beginTlsClose();
        return true;
    }
    pump();
    return true;
}

// Plaintext that arrived before the upgrade and was not read is not part of the TLS session:
// keeping it would let an attacker inject commands (the STARTTLS injection flaw). A client
// also drops what the plain socket holds, since a TLS server never speaks first; a server
// keeps it, for a fast client's ClientHello may already be there.
void SecureSocketPrivate::discardStalePlaintext(Role role)
{
    qint64 stale = q->QIODevice::bytesAvailable();
    if (stale > 0)
        q->QIODevice::skip(stale);
    if (role == Role::Client && m_plain->bytesAvailable() > 0)
        stale += m_plain->skip(m_plain->bytesAvailable());
    if (stale > 0)
        qCWarning(lcSecureSocket,
                  "discarding %lld plaintext bytes received before the TLS handshake",
                  static_cast<long long>(stale));
}

// From here on the connection's bytes go through the descriptor directly (FdStream) rather
// than through the plain QTcpSocket, which is closed without touching the connection. Not done
// through a proxy (the descriptor then leads to the proxy), nor when the plain socket still
// holds bytes to send. The descriptor's number changes (socketDescriptor() tells the new one).
void SecureSocketPrivate::adoptDescriptor()
{
#ifdef Q_OS_UNIX
    const int fd = static_cast<int>(m_plain->socketDescriptor());
    if (fd < 0 || !m_engine || m_plain->bytesToWrite() > 0)
        return; // plaintext still queued (a STARTTLS answer, say): the plain socket carries on
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getpeername(fd, reinterpret_cast<sockaddr *>(&address), &length) != 0)
        return;
    const quint16 port =
        ntohs(address.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&address)->sin6_port
                                            : reinterpret_cast<sockaddr_in *>(&address)->sin_port);
    const QHostAddress peer(reinterpret_cast<sockaddr *>(&address));
    if (port != m_plain->peerPort() ||
        !peer.isEqual(m_plain->peerAddress(), QHostAddress::TolerantConversion))
        return; // a proxy's connection
    const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0)
        return;
    char buffer[kChunk];
    for (qint64 got; (got = m_plain->read(buffer, kChunk)) > 0;)
        m_engine->feed(buffer, static_cast<size_t>(got)); // a ClientHello Qt has read already
    {
        const QSignalBlocker silence(m_plain);
        m_plain->abort(); // closes its descriptor; ours keeps the connection
    }
    m_stream = std::make_unique<FdStream>(
        own, q,
        FdStream::Handlers{[this] { pump(); }, [this](qint64 n) { onTransportWritten(n); }});
#endif
}

size_t StreamIo::send(const char *data, size_t size)
{
    const qint64 taken = d.m_stream ? d.m_stream->sendNow(data, static_cast<qint64>(size)) : 0;
    d.m_sunk += taken;
    return static_cast<size_t>(taken);
}

// After a short read the kernel is empty: asking again in the same pump would only cost a
// system call.
size_t StreamIo::receive(char *buffer, size_t capacity)
{
    if (d.m_sourceDry || !d.m_stream)
        return 0;
    const qint64 got = d.transportRead(buffer, static_cast<qint64>(capacity));
    d.m_sourceDry = got < static_cast<qint64>(capacity);
    return got > 0 ? static_cast<size_t>(got) : 0;
}

bool SecureSocketPrivate::transportConnected() const
{
    return m_stream ? m_stream->isOpen() : m_plain->state() == QAbstractSocket::ConnectedState;
}

qint64 SecureSocketPrivate::transportBytesToWrite() const
{
    return m_stream ? m_stream->bytesToWrite() : m_plain->bytesToWrite();
}

bool SecureSocketPrivate::transportFlush()
{
    return m_stream ? m_stream->flush() : m_plain->flush();
}

// Closes once what is queued was sent, and reports the end as QAbstractSocket does.
void SecureSocketPrivate::transportDisconnect()
{
    if (!m_stream) {
        m_plain->disconnectFromHost();
        return;
    }
    m_stream->flush();
    if (m_stream->bytesToWrite() > 0 && m_stream->isOpen()) {
        m_disconnectWhenFlushed = true;
        return;
    }
    streamGone(true);
}

void SecureSocketPrivate::disconnectFromHost()
{
    if (!isTlsActive() && !m_encryptOnConnect) {
        m_plain->disconnectFromHost();
        return;
    }
    if (m_encryptOnConnect) {
        m_closeAfterConnect = true; // after connected(), the handshake and the queued data
        return;
    }
    beginTlsClose();
}

// A TLS close: close_notify after all pending plaintext, then wait for the peer's close_notify
// (or its end of stream) before closing the transport. Closing at once would let the kernel
// answer data still in flight from the peer (session tickets, say) with a reset, and a reset
// makes the peer's kernel drop what it received from us and has not yet delivered.
void SecureSocketPrivate::beginTlsClose()
{
    if (m_closing)
        return;
    if (m_engine->isFailed() || !transportConnected()) {
        transportDisconnect();
        return;
    }
    m_closing = true;
    m_engine->shutdown(engineIo());
    m_closeDeadline.setRemainingTime(kCloseNotifyWaitMs);
    m_closeTimer->start(kCloseNotifyWaitMs);
    QPointer<SecureSocket> guard(q);
    setState(QAbstractSocket::ClosingState);
    if (guard)
        pump(); // sends close_notify (or queues it behind the handshake) and reports alertSent
}

void SecureSocketPrivate::finishTlsCloseIfDone()
{
    if (!m_closing || !transportConnected())
        return;
    const bool peerDone = m_closeNotifyReceived || !m_engine || m_engine->isFailed();
    if (peerDone || m_closeDeadline.hasExpired()) {
        m_closeTimer->stop();
        flushOutput();
        transportDisconnect();
        return;
    }
#ifdef Q_OS_UNIX
    // Once close_notify has left, end our direction of the TCP stream too: many peers (Qt's
    // QSslSocket among them) answer close_notify only by closing, and they do so at once on
    // our FIN. We go on reading until their end of stream, so no reset can occur.
    if (!m_halfClosed && m_engine->closeNotifySent() && m_engine->pendingOutput() == 0 &&
        transportBytesToWrite() == 0) {
        m_halfClosed = true;
        if (m_stream)
            m_stream->shutdownWrite();
        else
            ::shutdown(static_cast<int>(m_plain->socketDescriptor()), SHUT_WR);
    }
#endif
}

void SecureSocketPrivate::abortConnection()
{
    if (q->state() == QAbstractSocket::UnconnectedState) {
        endConnection();
        return;
    }
    m_engine.reset(); // nothing more is sent: no alert, no close_notify
    endConnection();
    q->QIODevice::close();
    wipe(m_in);
    m_inOffset = 0;
    m_newPlaintext = false; // no readyRead() after abort(), even from a pump() it interrupted
    QPointer<SecureSocket> guard(q);
    if (m_stream)
        streamGone(false);
    else
        m_plain->abort(); // emits stateChanged(), readChannelFinished(), disconnected() via us
    if (guard)
        setState(QAbstractSocket::UnconnectedState); // if the plain socket had nothing to say
}

// --- driving the engine --------------------------------------------------------------------

void SecureSocketPrivate::pump()
{
    m_pumpScheduled = false;
    if (!m_engine)
        return;
    if (m_pumping) {
        m_pumpAgain = true;
        if (m_stream) // a nested event loop in a slot: read again when the outer pump resumes
            m_stream->setReadEnabled(false);
        return;
    }
    QPointer<SecureSocket> guard(q);
    m_pumping = true;
    do {
        m_pumpAgain = false;
        pullCiphertext();
        flushOutput();
        handleEvents();
        if (!guard)
            return;
        if (!m_engine)
            break;
        flushOutput();
    } while (m_pumpAgain);
    m_pumping = false;
    emitReadyReadIfNew();
    if (guard && m_streamEnded) {
        m_streamEnded = false;
        if (m_stream)
            onStreamEnded();
    }
    if (guard)
        finishTlsCloseIfDone();
}

// For when the application made room in the read buffer, or changed its limit: the engine may
// hold plaintext, or the plain socket ciphertext, that no new network data will announce.
void SecureSocketPrivate::schedulePump()
{
    if (m_pumpScheduled || !m_engine)
        return;
    m_pumpScheduled = true;
    QMetaObject::invokeMethod(
        q, [this] { pump(); }, Qt::QueuedConnection);
}

void SecureSocketPrivate::pullCiphertext()
{
    if (m_stream) {
        pullThroughSource();
        return;
    }
    qint64 pulled = 0;
    bool drained = false;
    while (m_engine && !m_engine->isFailed()) {
        m_engine->process(engineIo());
        if (!drainPlaintext(false) || pulled >= kPullPerPump) {
            schedulePump(); // the plain socket would not announce again what it holds
            break;
        }
        if (!m_closing && m_readLimit > 0 && plaintextHeld() >= m_readLimit)
            break; // back-pressure: leave the rest in the plain socket and the kernel
        if (drained)
            break; // a short read emptied the plain socket: its next readyRead wakes us
        const auto [space, room] = m_engine->inputSpace(kChunk); // read in place: no copy
        const qint64 got = transportRead(space, std::min(kChunk, static_cast<qint64>(room)));
        m_engine->commitInput(got > 0 ? static_cast<size_t>(got) : 0);
        if (got <= 0)
            break;
        pulled += got;
        drained = got < kChunk;
    }
}

// With the adopted descriptor, OpenSSL reads the kernel's bytes itself (through m_streamIo,
// given to each engine call): one pass of process() and draining, bounded by
// kPullPerPump; what stays in the kernel wakes the read notifier again.
void SecureSocketPrivate::pullThroughSource()
{
    m_sourceDry = false;
    m_stream->setReadEnabled(true);
    if (m_closeNotifyReceived || m_engine->isFailed() || m_engine->phase() == Phase::Closed) {
        // The engine reads no more, but the descriptor must be read to see its end (the
        // notifier would fire for ever otherwise): what still comes is dropped.
        char sink[kPlainChunk];
        for (qint64 total = 0; total < kPullPerPump;) {
            const qint64 got = transportRead(sink, sizeof sink);
            if (got <= 0)
                break;
            total += got;
        }
        return;
    }
    m_engine->process(engineIo());
    if (!drainPlaintext(false))
        schedulePump(); // OpenSSL may hold records read ahead, which no notifier announces
    else if (!m_closing && m_readLimit > 0 && plaintextHeld() >= m_readLimit && m_stream)
        m_stream->setReadEnabled(false); // back-pressure: leave the rest in the kernel
}

// > 0: bytes; 0: nothing now; -1 (adopted descriptor only): the stream ended, reported once
// pump() is done.
qint64 SecureSocketPrivate::transportRead(char *data, qint64 maxSize)
{
    if (!m_stream) {
        const qint64 got = m_plain->bytesAvailable() > 0 ? m_plain->read(data, maxSize) : 0;
        m_wireBytes += std::max<qint64>(got, 0);
        return got;
    }
    const qint64 got = m_stream->read(data, maxSize);
    if (got < 0)
        m_streamEnded = true;
    else
        m_wireBytes += got;
    return got;
}

// Decrypts what the engine holds (or, reading through the descriptor, what the kernel holds)
// into m_in, at most kPullPerPump bytes; returns false when it stopped at that bound.
bool SecureSocketPrivate::drainPlaintext(bool ignoreLimit)
{
    qint64 total = 0;
    if (m_closing) { // the application closed: what still comes is read and dropped
        char sink[kPlainChunk];
        while (m_engine && total < kPullPerPump) {
            const size_t got = m_engine->read(sink, sizeof sink, engineIo()).size;
            OPENSSL_cleanse(sink, got);
            if (got == 0)
                return true;
            total += static_cast<qint64>(got);
        }
        return !m_engine;
    }
    bool done = false;
    while (m_engine && !done) {
        if (total >= kPullPerPump)
            return false;
        qint64 room = kPlainChunk;
        if (!ignoreLimit && m_readLimit > 0)
            room = std::min(room, m_readLimit - plaintextHeld());
        if (room <= 0)
            break;
        if (m_inOffset > 0 && m_inOffset == m_in.size()) {
            m_in.resize(0); // keeps the capacity
            m_inOffset = 0;
        }
        const qint64 old = m_in.size();
        m_in.resize(old + room);
        const qint64 got = static_cast<qint64>(
            m_engine->read(m_in.data() + old, static_cast<size_t>(room), engineIo()).size);
        m_in.resize(old + got);
        done = got == 0;
        if (got == room && total == 0 && m_in.capacity() < kPullPerPump)
            m_in.reserve(old + kPullPerPump + 2 * kPlainChunk); // a burst: grow once
        total += got;
        m_newPlaintext = m_newPlaintext || got > 0;
    }
    if (m_in.isEmpty())
        m_in.clear(); // no idle buffer kept per connection
    return true;
}

void SecureSocketPrivate::flushOutput()
{
    if (!m_engine ||
        (m_stream ? !m_stream->isOpen() : m_plain->state() == QAbstractSocket::UnconnectedState))
        return;
    const size_t pending = m_engine->pendingOutput();
    if (pending == 0 && m_sunk == 0)
        return;
    qint64 size = std::exchange(m_sunk, 0); // what m_streamIo sent already
    if (pending > 0 && m_stream) {          // sent from the engine's buffer: no copy but what waits
        const auto [out, length] = m_engine->outputView();
        m_stream->write(out, static_cast<qint64>(length));
        m_engine->consumeOutput(length);
        size += static_cast<qint64>(length);
    } else if (pending > 0) {
        QByteArray out(static_cast<qint64>(pending), Qt::Uninitialized);
        out.resize(static_cast<qint64>(m_engine->takeOutput(out.data(), pending)));
        size += out.size();
        m_plain->write(out);
    }
    m_wireBytes += size;
    const qint64 encrypted = m_plainSubmitted - static_cast<qint64>(m_engine->pendingWrite());
    m_marks.push_back({size, encrypted - m_plainFlushed});
    m_plainFlushed = encrypted;
}

void SecureSocketPrivate::emitReadyReadIfNew()
{
    if (!m_newPlaintext)
        return;
    m_newPlaintext = false;
    ++m_readyReadCount;
    emit q->readyRead();
}

void SecureSocketPrivate::handleEvents()
{
    QPointer<SecureSocket> guard(q);
    // Handling an event may make new ones (the close_notify we answer with): loop until none.
    for (auto events = m_engine->takeEvents(); !events.empty(); events = m_engine->takeEvents()) {
        for (const Event &event : events) {
            if (!guard || !m_engine)
                return;
            switch (event.kind) {
            case Event::HandshakeDone:
                m_encrypted = true;
                startIdleTimer();
                emit q->encrypted();
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
                onCloseNotify();
                break;
            case Event::Closed:
                break;
            case Event::Failed:
                emitReadyReadIfNew();
                if (guard && m_engine)
                    handleFailure();
                break;
            }
        }
        if (!guard || !m_engine)
            return;
    }
}

// The peer said close_notify: no more data comes. If we started the close, this is its
// answer; otherwise, as QTcpSocket does on a remote close, the error comes first (while still
// connected), then we answer and close.
void SecureSocketPrivate::onCloseNotify()
{
    m_closeNotifyReceived = true;
    if (m_closing)
        return; // pump() then closes the transport
    QPointer<SecureSocket> guard(q);
    emitReadyReadIfNew();
    if (!guard || !m_engine)
        return;
    setError(QAbstractSocket::RemoteHostClosedError, SecureSocket::NoTlsError,
             SecureSocket::tr("The remote host closed the connection"));
    if (!guard || !m_engine)
        return;
    m_engine->shutdown(engineIo());
    flushOutput();
    transportDisconnect();
}

void SecureSocketPrivate::reportVerifyFailures()
{
    QPointer<SecureSocket> guard(q);
    m_verifyErrors.clear();
    for (const auto &failure : m_engine->verifyFailures()) {
        SecureCertificateError error;
        error.error = failure.code;
        error.message = QString::fromStdString(failure.message);
        error.depth = failure.depth;
        error.subject = QString::fromStdString(failure.subject);
        m_verifyErrors.append(error);
    }
    const QList<SecureCertificateError> errors = m_verifyErrors;
    for (const SecureCertificateError &error : errors) {
        emit q->certCheckFailed(static_cast<int>(error.error), error.message);
        if (!guard || !m_engine)
            return;
    }
    emit q->certificateErrors(errors);
    if (!guard || !m_engine || m_engine->phase() != Phase::VerifyPending)
        return;
    const bool accept =
        m_ignoreAll || std::all_of(errors.begin(), errors.end(), [this](const auto &e) {
            return m_ignoreList.contains(e.error);
        });
    m_engine->resolveVerification(accept, engineIo());
    m_pumpAgain = true;
}

void SecureSocketPrivate::handleFailure()
{
    // The alert, if any, goes to the kernel now: a blocking program may end as soon as the
    // waitFor...() call returns, with no event loop left to send it later.
    flushOutput();
    transportFlush();
    if (m_closing) { // the application is closing: nothing to report, only to finish
        transportDisconnect();
        return;
    }
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
    case Error::Truncated:
        if (m_encrypted) {
            socketError = QAbstractSocket::NetworkError;
            tlsError = m_peerReset ? SecureSocket::ConnectionReset : SecureSocket::Truncated;
            if (m_peerReset)
                message = SecureSocket::tr("the peer reset the connection (TCP RST) without "
                                           "close_notify: data may have been lost");
        }
        break;
    default:
        break;
    }
    const QString text =
        m_encrypted ? SecureSocket::tr("TLS connection with %1 failed: %2").arg(peer, message)
                    : SecureSocket::tr("TLS handshake with %1 failed: %2").arg(peer, message);
    QPointer<SecureSocket> guard(q);
    setError(socketError, tlsError, text);
    if (guard && transportConnected())
        transportDisconnect();
}

// The transport reached the end of its stream: everything it holds goes to the engine,
// which then tells a clean close (close_notify came) from a truncation.
void SecureSocketPrivate::drainAtEof()
{
    char buffer[kChunk];
    for (qint64 got; (got = transportRead(buffer, kChunk)) > 0;)
        m_engine->feed(buffer, static_cast<size_t>(got));
    m_engine->feedEof();
    m_engine->process(engineIo());
    drainPlaintext(true);
    QPointer<SecureSocket> guard(q);
    handleEvents();
    if (guard && m_engine &&
        (m_engine->phase() == Phase::Data || m_engine->phase() == Phase::Shutdown)) {
        // read() reports the truncation once it finds the input ended mid-stream.
        drainPlaintext(true);
        handleEvents();
    }
    if (guard)
        emitReadyReadIfNew();
}

// --- blocking ------------------------------------------------------------------------------

bool SecureSocketPrivate::waitFor(int msecs, const std::function<bool()> &done)
{
    const QDeadlineTimer deadline(msecs);
    for (;;) {
        pump(); // what the engine or the plain socket already holds
        if (m_stream)
            m_stream->reportWritten(); // no event loop may run to deliver it
        finishTlsCloseIfDone();
        if (done())
            return true;
        if (m_stream) {
            if (!m_stream->isOpen() || deadline.hasExpired() || m_pumping)
                return done(); // (called from a slot inside pump(): nothing can progress)
            int left = remainingMs(deadline);
            if (m_closing)
                left = std::max(1, std::min(left, remainingMs(m_closeDeadline)));
            if (m_stream->waitForActivity(left) || (m_closing && !deadline.hasExpired()))
                continue; // progress, or the close deadline came first: look again
            if (!done() && deadline.hasExpired())
                setError(QAbstractSocket::SocketTimeoutError, SecureSocket::NoTlsError,
                         SecureSocket::tr("Socket operation timed out"));
            return done();
        }
        const QAbstractSocket::SocketState state = m_plain->state();
        if (state == QAbstractSocket::UnconnectedState || deadline.hasExpired())
            return done();
        int left = remainingMs(deadline);
        if (m_closing)
            left = std::max(1, std::min(left, remainingMs(m_closeDeadline)));
        bool progressed = false;
        if (state == QAbstractSocket::HostLookupState || state == QAbstractSocket::ConnectingState)
            progressed = m_plain->waitForConnected(left);
        else if (state == QAbstractSocket::ClosingState)
            progressed = m_plain->waitForDisconnected(left);
        else if (m_plain->bytesToWrite() > 0)
            progressed = m_plain->waitForBytesWritten(left);
        else
            progressed = m_plain->waitForReadyRead(left);
        if (!progressed && !m_closing && m_plain->state() == state && deadline.hasExpired())
            return done();
    }
}
