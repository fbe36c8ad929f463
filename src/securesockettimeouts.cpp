// SecureSocket's two timeouts: the handshake's (a peer that accepts and never answers must not
// leave the connection pending for ever) and the idle one (a connection on which nothing moves
// must not hold a descriptor for ever).
#include "securesocket_p.h"
#include "testhooks_p.h"

#include <QPointer>
#include <QTimer>
#include <QTimerEvent>

#include <algorithm>
#include <utility>

namespace {
// For securesocket::testing::idleBufferReleasesOnThisThread().
thread_local quint64 t_idleReleases = 0;

QTimer *singleShotTimer(QObject *parent)
{
    auto *timer = new QTimer(parent);
    timer->setSingleShot(true);
    return timer;
}

QString seconds(int msecs)
{
    return msecs % 1000 == 0 ? QStringLiteral("%1 s").arg(msecs / 1000)
                             : QStringLiteral("%1 ms").arg(msecs);
}
} // namespace

QString SecureSocketPrivate::peerDescription() const
{
    const QString host = q->peerName().isEmpty() ? q->peerAddress().toString() : q->peerName();
    return QStringLiteral("%1:%2").arg(host).arg(q->peerPort() ? q->peerPort() : m_hostPort);
}

void SecureSocketPrivate::startHandshakeTimer()
{
    const int timeout = m_config.handshakeTimeout();
    if (m_serverManaged || timeout <= 0 || (m_handshakeTimer && m_handshakeTimer->isActive()))
        return;
    if (!m_handshakeTimer) {
        m_handshakeTimer = singleShotTimer(q);
        QObject::connect(m_handshakeTimer, &QTimer::timeout, q, [this] { onHandshakeTimeout(); });
    }
    m_handshakeTimer->start(timeout);
}

void SecureSocketPrivate::onHandshakeTimeout()
{
    const bool waiting = m_encryptOnConnect || (m_engine && !m_encrypted && !m_engine->isFailed());
    if (!waiting || q->state() == QAbstractSocket::UnconnectedState)
        return;
    const QString limit = seconds(m_config.handshakeTimeout());
    const QString message =
        q->state() == QAbstractSocket::ConnectedState
            ? SecureSocket::tr("TLS handshake with %1 timed out after %2: the peer accepted the "
                               "connection but did not complete the handshake")
                  .arg(peerDescription(), limit)
            : SecureSocket::tr("connection to %1 timed out after %2 (no TCP connection yet)")
                  .arg(peerDescription(), limit);
    qCInfo(lcSecureSocket, "%s", qPrintable(message));
    QPointer<SecureSocket> guard(q);
    setError(QAbstractSocket::SocketTimeoutError, SecureSocket::HandshakeTimedOut, message);
    if (guard)
        abortConnection();
}

void SecureSocketPrivate::startIdleTimer()
{
    if (m_handshakeTimer)
        m_handshakeTimer->stop();
    if (m_idleTimeout <= 0)
        return;
    if (!m_idleTimer) {
        m_idleTimer = singleShotTimer(q);
        m_idleTimer->setTimerType(Qt::CoarseTimer);
        QObject::connect(m_idleTimer, &QTimer::timeout, q, [this] { onIdleCheck(); });
    }
    m_wireBytesSeen = m_wireBytes;
    m_lastActivity.start();
    m_idleTimer->start(std::max(1, m_idleTimeout / 4));
}

// Runs every quarter of the timeout: traffic is noticed by its byte count, not timed per
// record, so that a busy connection costs nothing more than the count.
void SecureSocketPrivate::onIdleCheck()
{
    if (!m_encrypted || m_closing || m_idleTimeout <= 0 ||
        q->state() != QAbstractSocket::ConnectedState)
        return;
    if (m_wireBytes != m_wireBytesSeen) {
        m_wireBytesSeen = m_wireBytes;
        m_lastActivity.start();
    }
    const qint64 idle = m_lastActivity.elapsed();
    if (idle < m_idleTimeout) {
        m_idleTimer->start(
            static_cast<int>(std::min<qint64>(m_idleTimeout - idle, m_idleTimeout / 4 + 1)));
        return;
    }
    const QString message =
        SecureSocket::tr("TLS connection with %1 closed: no data either way for %2")
            .arg(peerDescription(), seconds(m_idleTimeout));
    qCInfo(lcSecureSocket, "%s", qPrintable(message));
    QPointer<SecureSocket> guard(q);
    setError(QAbstractSocket::SocketTimeoutError, SecureSocket::IdleTimedOut, message);
    if (guard && q->state() == QAbstractSocket::ConnectedState)
        q->disconnectFromHost(); // close_notify, then the close
}

void SecureSocketPrivate::stopTimers()
{
    if (m_handshakeTimer)
        m_handshakeTimer->stop();
    if (m_idleTimer)
        m_idleTimer->stop();
    m_releaseTimer.stop();
}

bool SecureSocketPrivate::keepsBuffers() const
{
    return m_releaseTimer.isActive();
}

// The engine keeps its buffers when the connection goes idle (a handshake does three or four
// times, a bulk transfer at nearly every pass); they go once a whole period of kReleaseDelayMs
// has passed without a pass. A connection in a transfer keeps them for as long as it lasts:
// releasing them whenever a period ended at an idle moment (50 times a second in bulk) cost a
// megabyte of allocations and page faults each time. A QBasicTimer, not a QTimer nor
// QObject::startTimer(): nothing per connection but its id.
void SecureSocketPrivate::watchIdleBuffers()
{
    if (!m_engine || !m_engine->idleBuffersHeld())
        return;
    if (m_releaseTimer.isActive()) {
        m_passedSinceTick = true;
        return;
    }
    m_passedSinceTick = false;
    m_releaseTimer.start(kReleaseDelayMs, Qt::CoarseTimer, q);
}

bool SecureSocketPrivate::holdsIdleBuffers(const SecureSocket &socket)
{
    const SecureSocketPrivate &d = *socket.d;
    return d.keepsBuffers() || (d.m_engine && d.m_engine->idleBuffersHeld());
}

bool securesocket::testing::holdsIdleBuffers(const SecureSocket &socket)
{
    return SecureSocketPrivate::holdsIdleBuffers(socket);
}

quint64 securesocket::testing::idleBufferReleasesOnThisThread()
{
    return t_idleReleases;
}

// In the sanitizer build this file is compiled without UBSan's vptr check (src/CMakeLists.txt):
// its first check of a QTimerEvent reads the vtable through a pipe(), which fails in a server
// at its descriptor limit, and such a server still releases buffers here.
void SecureSocket::timerEvent(QTimerEvent *event)
{
    if (event->timerId() != d->m_releaseTimer.timerId())
        QTcpSocket::timerEvent(event);
    else if (!std::exchange(d->m_passedSinceTick, false)) // else not quiet yet: it goes on
        d->releaseIdleBuffers();
}

void SecureSocketPrivate::releaseIdleBuffers()
{
    m_releaseTimer.stop();
    ++t_idleReleases;
    if (m_engine) // not idle just now: held again at its next idle moment, and watched again
        m_engine->releaseIdleBuffers();
    if (plaintextBuffered() == 0) {
        m_in.clear();
        m_inOffset = 0;
    }
}
