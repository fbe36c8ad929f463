#include <SecureSocket/secureserver.h>

#include "securesocket_p.h"
#include "threadcleanup_p.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QLoggingCategory>
#include <QPointer>
#include <QSocketNotifier>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <list>
#include <memory>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>
#include <vector>

Q_LOGGING_CATEGORY(lcSecureServer, "securesocket.server", QtInfoMsg)

namespace {
// How long a socket whose handshake failed may take to send its alert before it is dropped.
constexpr int kAlertGraceMsecs = 1000;
// The listen backlog: where a burst waits while the server has no room (the kernel caps it at
// net.core.somaxconn, 4096 on current Linux).
constexpr int kDefaultBacklog = 1024;
// Out of descriptors: accepting pauses this long, doubling up to the maximum.
constexpr int kFirstBackoffMsecs = 50;
constexpr int kMaxBackoffMsecs = 2000;
// While handshakes fill every slot, how often stalled ones are looked for.
constexpr int kStallCheckMsecs = 100;
// A client that has sent nothing at all for this long (or half the timeout) is stalled.
constexpr int kSilentStallMsecs = 1000;

// Something waits to be read (or accepted) on the descriptor, now.
bool isReadable(qintptr fd)
{
    pollfd waiting{static_cast<int>(fd), POLLIN, 0};
    return fd >= 0 && ::poll(&waiting, 1, 0) == 1 && (waiting.revents & POLLIN);
}

bool isResourceError(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

// Errors that concern one connection only (it went away before we took it): try the next.
bool isConnectionError(int err)
{
    return err == ECONNABORTED || err == EPROTO || err == EPERM || err == ENETDOWN ||
           err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
           err == EOPNOTSUPP || err == ENETUNREACH || err == EINTR;
}
} // namespace

class SecureServerPrivate
{
public:
    explicit SecureServerPrivate(SecureServer *q) : q(q) {}

    // One handshake in progress.
    struct Handshake
    {
        QPointer<SecureSocket> socket;
        QString peer;            // "address:port", taken at accept time
        QTimer *timer = nullptr; // the handshake timeout; a child of the server
        qint64 wireBytes = 0;    // the socket's count when progress was last seen
        QElapsedTimer sinceProgress;
        bool heardFrom = false; // the client has sent something
    };
    enum class Drop {
        Abort,     // the server gives up on the socket: drop it at once
        LetItClose // the socket failed on its own and is sending its alert: let it finish
    };

    void accept(qintptr descriptor);
    void succeed(SecureSocket *socket);
    void fail(SecureSocket *socket, const QString &reason, Drop drop);
    std::list<Handshake>::iterator find(const SecureSocket *socket);
    void erase(std::list<Handshake>::iterator it);
    void holdNewConnectionSignal();
    template <typename Emit> void emitSignal(Emit emitSignalNow);

    // Admission: the server's own accept loop on the listening descriptor.
    void startAccepting();
    void stopAccepting();
    void onListenerReadable();
    bool hasRoom() const;
    void updateAccepting();
    void backOff(int err);
    void countOpen(SecureSocket *socket);
    void evictStalled();
    bool backlogWaiting() const;

    SecureServer *q;
    SecureConfiguration config;
    int timeout = 5000;
    int maxPending = 256;
    int idleTimeout = 0;
    int maxConnections = 0;
    int open = 0;               // accepted and not yet disconnected or deleted
    QObject *tracker = nullptr; // context of the connections that count them (never cut)
    QString error;
    bool holdingSignals = false;
    std::list<Handshake> pending;             // oldest first
    std::deque<QPointer<SecureSocket>> ready; // encrypted, not taken yet

    int listener = -1;                   // our duplicate of the listening descriptor
    QSocketNotifier *notifier = nullptr; // on listener
    bool pausedByUser = false;
    QTimer *backoffTimer = nullptr;
    int backoffMsecs = 0;
    QTimer *stallTimer = nullptr;
    bool loggedCapacity = false;
};

std::list<SecureServerPrivate::Handshake>::iterator
SecureServerPrivate::find(const SecureSocket *socket)
{
    return std::find_if(pending.begin(), pending.end(),
                        [socket](const Handshake &h) { return h.socket == socket; });
}

// The timer may be the one whose timeout() is being emitted: it is deleted later.
void SecureServerPrivate::erase(std::list<Handshake>::iterator it)
{
    it->timer->stop();
    it->timer->deleteLater();
    pending.erase(it);
    updateAccepting(); // a slot is free
}

// QTcpServer emits newConnection() as soon as incomingConnection() returns, before any
// handshake. That emission is held back (the server's signals are blocked until the event loop
// runs again) so that newConnection() always means "an encrypted connection is ready".
void SecureServerPrivate::holdNewConnectionSignal()
{
    if (holdingSignals || q->signalsBlocked())
        return;
    holdingSignals = true;
    q->blockSignals(true);
    QMetaObject::invokeMethod(
        q,
        [this] {
            holdingSignals = false;
            q->blockSignals(false);
        },
        Qt::QueuedConnection);
}

// Our own signals pass even while QTcpServer's early newConnection() is held back.
template <typename Emit> void SecureServerPrivate::emitSignal(Emit emitSignalNow)
{
    if (!holdingSignals) {
        emitSignalNow();
        return;
    }
    QPointer<SecureServer> guard(q);
    q->blockSignals(false);
    emitSignalNow();
    if (guard && holdingSignals)
        q->blockSignals(true);
}

void SecureServerPrivate::accept(qintptr descriptor)
{
    securesocket::releaseOpenSslStateWhenThreadEnds();
    auto *socket = new SecureSocket(q);
    socket->setConfiguration(config);
    if (!socket->setSocketDescriptor(descriptor)) {
        const int err = errno;
        qCWarning(lcSecureServer, "cannot take an accepted connection: %s",
                  qPrintable(socket->errorString()));
        ::close(static_cast<int>(descriptor));
        delete socket;
        if (isResourceError(err))
            backOff(err);
        return;
    }
    socket->d->m_serverManaged = true; // timed here, with the server's handshake timeout
    socket->setIdleTimeout(idleTimeout);
    countOpen(socket);

    Handshake handshake;
    handshake.socket = socket;
    handshake.peer =
        QStringLiteral("%1:%2").arg(socket->peerAddress().toString()).arg(socket->peerPort());
    handshake.timer = new QTimer(q);
    handshake.timer->setSingleShot(true);
    QObject::connect(handshake.timer, &QTimer::timeout, q, [this, socket] {
        fail(socket, SecureServer::tr("handshake timed out after %1 ms").arg(timeout), Drop::Abort);
    });
    handshake.timer->start(timeout);
    handshake.sinceProgress.start();
    pending.push_back(std::move(handshake));

    QObject::connect(socket, &SecureSocket::encrypted, q, [this, socket] { succeed(socket); });
    // The socket has already sent its alert (if any) and begun closing when these arrive.
    QObject::connect(socket, &SecureSocket::errorOccurred, q,
                     [this, socket] { fail(socket, socket->errorString(), Drop::LetItClose); });
    QObject::connect(socket, &SecureSocket::disconnected, q, [this, socket] {
        fail(socket, SecureServer::tr("the client closed the connection during the handshake"),
             Drop::LetItClose);
    });
    // Deleted by someone else (the application, or the server's destructor).
    QObject::connect(socket, &QObject::destroyed, q, [this] {
        if (auto it = find(nullptr); it != pending.end())
            erase(it);
        updateAccepting();
    });
    updateAccepting();
    socket->startServerEncryption();
}

// A connection holds its place until it disconnects or is deleted, in whatever thread it
// then lives: both arrive here through the server's own thread.
void SecureServerPrivate::countOpen(SecureSocket *socket)
{
    ++open;
    auto counted = std::make_shared<bool>(true);
    const auto release = [this, counted] {
        if (!std::exchange(*counted, false))
            return;
        --open;
        updateAccepting();
    };
    QObject::connect(socket, &SecureSocket::disconnected, tracker, release);
    QObject::connect(socket, &QObject::destroyed, tracker, release);
}

void SecureServerPrivate::succeed(SecureSocket *socket)
{
    auto it = find(socket);
    if (it == pending.end())
        return;
    erase(it);
    // Only the handshake's connections go: the open-connection count keeps watching it.
    QObject::disconnect(socket, &SecureSocket::encrypted, q, nullptr);
    QObject::disconnect(socket, &SecureSocket::errorOccurred, q, nullptr);
    // The server keeps its own queue of encrypted connections (QTcpServer's would warn when
    // the server is given connections without listening itself). Like QTcpServer, it stops
    // accepting while maxPendingConnections() wait to be taken.
    ready.emplace_back(socket);
    QObject::connect(socket, &QObject::destroyed, q, [this] { // before it was taken
        ready.erase(std::remove(ready.begin(), ready.end(), nullptr), ready.end());
        updateAccepting();
    });
    updateAccepting();
    // Offered at once, from inside the socket's encrypted(): a slot that connects to readyRead()
    // gets the data that came with the end of the handshake, and can answer it even when the
    // client's close_notify came right behind. QTcpServer's pendingConnectionAvailable() is a
    // private signal: it is emitted through the meta-object, as QTcpServer itself would.
    emitSignal([this] {
        QMetaObject::invokeMethod(q, "pendingConnectionAvailable", Qt::DirectConnection);
    });
    emitSignal([this] { emit q->newConnection(); });
}

void SecureServerPrivate::fail(SecureSocket *socket, const QString &reason, Drop drop)
{
    auto it = find(socket);
    if (!socket || it == pending.end())
        return; // already handed out, or already failed
    const QString peer = it->peer;
    erase(it);
    QObject::disconnect(socket, nullptr, q, nullptr);
    qCInfo(lcSecureServer, "handshake with %s failed: %s", qPrintable(peer), qPrintable(reason));

    QPointer<SecureSocket> guard(socket);
    emitSignal([&] { emit q->handshakeFailed(socket, reason); });
    if (!guard)
        return;
    if (drop == Drop::Abort || socket->state() == QAbstractSocket::UnconnectedState) {
        socket->abort();
        socket->deleteLater();
        return;
    }
    QObject::connect(socket, &SecureSocket::disconnected, socket, &QObject::deleteLater);
    QTimer::singleShot(kAlertGraceMsecs, socket, [socket] {
        socket->abort();
        socket->deleteLater();
    });
}

// --- admission ------------------------------------------------------------------------------
//
// QTcpServer's accept loop takes every connection the kernel holds in one go, whatever the
// server can handle; pauseAccepting() only takes effect when the loop is done. So once
// listening, the server turns Qt's notifier off for good and accepts on its own, one connection
// at a time while it has room: what it cannot take stays in the kernel's backlog.

void SecureServerPrivate::startAccepting()
{
    stopAccepting();
    // A duplicate, so that QTcpServer::close() through a base pointer cannot leave us watching
    // a closed (or reused) descriptor: we notice on the next wake-up and let go.
    listener = ::fcntl(static_cast<int>(q->QTcpServer::socketDescriptor()), F_DUPFD_CLOEXEC, 0);
    if (listener < 0) {
        qCWarning(lcSecureServer, "cannot watch the listening socket: %s", std::strerror(errno));
        return; // Qt's own accept loop carries on, without admission control
    }
    q->QTcpServer::pauseAccepting();
    notifier = new QSocketNotifier(listener, QSocketNotifier::Read, q);
    QObject::connect(notifier, &QSocketNotifier::activated, q, [this] { onListenerReadable(); });
    updateAccepting();
}

void SecureServerPrivate::stopAccepting()
{
    delete notifier;
    notifier = nullptr;
    if (listener >= 0)
        ::close(listener);
    listener = -1;
    if (backoffTimer)
        backoffTimer->stop();
    if (stallTimer)
        stallTimer->stop();
}

bool SecureServerPrivate::hasRoom() const
{
    return static_cast<int>(ready.size()) < q->maxPendingConnections() &&
           (maxPending <= 0 || static_cast<int>(pending.size()) < maxPending) &&
           (maxConnections <= 0 || open < maxConnections);
}

void SecureServerPrivate::updateAccepting()
{
    if (!notifier)
        return;
    const bool accepting = !pausedByUser && !backoffTimer->isActive() && hasRoom();
    notifier->setEnabled(accepting);
    const bool atCapacity = maxConnections > 0 && open >= maxConnections;
    if (atCapacity != loggedCapacity) {
        loggedCapacity = atCapacity;
        if (atCapacity)
            qCWarning(lcSecureServer,
                      "%d connections open, the maximum: new clients wait in the backlog", open);
        else
            qCInfo(lcSecureServer, "below the connection maximum again: accepting");
    }
    // Handshakes fill every slot: look for stalled ones while clients wait.
    const bool full = maxPending > 0 && static_cast<int>(pending.size()) >= maxPending;
    if (full && !pausedByUser && !stallTimer->isActive())
        stallTimer->start(kStallCheckMsecs);
    else if (!full)
        stallTimer->stop();
}

void SecureServerPrivate::onListenerReadable()
{
    if (!q->isListening()) { // closed through a QTcpServer pointer
        stopAccepting();
        return;
    }
    // One at a time, re-checking the room after each: a connection's start may fill it.
    while (notifier && notifier->isEnabled() && hasRoom()) {
        const int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            const int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK)
                return;
            if (isConnectionError(err))
                continue;
            backOff(err);
            emitSignal([this, err] {
                emit q->acceptError(isResourceError(err) ? QAbstractSocket::SocketResourceError
                                                         : QAbstractSocket::UnknownSocketError);
            });
            return;
        }
        if (backoffMsecs > 0) {
            qCWarning(lcSecureServer, "accepting connections again");
            backoffMsecs = 0;
        }
        QPointer<SecureServer> guard(q);
        q->incomingConnection(fd);
        if (!guard)
            return;
    }
}

// Out of descriptors (or another failure of accept() itself): a listening socket that stays
// readable would wake us for ever, so accepting pauses, longer each time, and resumes by itself;
// the clients wait in the backlog meanwhile. Logged once per episode.
void SecureServerPrivate::backOff(int err)
{
    if (backoffMsecs == 0) {
        qCWarning(lcSecureServer,
                  "cannot accept connections: %s; pausing, and retrying from %d ms up to every "
                  "%d ms until it works again",
                  std::strerror(err), kFirstBackoffMsecs, kMaxBackoffMsecs);
        backoffMsecs = kFirstBackoffMsecs;
    } else {
        backoffMsecs = std::min(2 * backoffMsecs, kMaxBackoffMsecs);
    }
    if (!backoffTimer)
        return; // not accepting ourselves: nothing to pause
    backoffTimer->start(backoffMsecs);
    updateAccepting();
}

// The listening socket holds a connection that is waiting for a slot.
bool SecureServerPrivate::backlogWaiting() const
{
    return isReadable(listener);
}

// While every slot is taken and clients wait: a handshake whose client has sent nothing for a
// while makes room. Clients that are merely slow (or starved of CPU in a burst) answer within
// half the handshake timeout; one that never even sent its ClientHello is given a second. What
// counts is what the client sent, not what this server found time to read: a handshake whose
// client's bytes wait unread in the kernel is never evicted.
void SecureServerPrivate::evictStalled()
{
    if (maxPending <= 0 || static_cast<int>(pending.size()) < maxPending || !backlogWaiting()) {
        updateAccepting();
        return;
    }
    std::vector<std::pair<QPointer<SecureSocket>, qint64>> stalled;
    for (Handshake &handshake : pending) {
        if (!handshake.socket)
            continue;
        const qint64 bytes = handshake.socket->d->m_wireBytes;
        if (bytes != handshake.wireBytes) {
            handshake.heardFrom = handshake.heardFrom || bytes > 0;
            handshake.wireBytes = bytes;
            handshake.sinceProgress.start();
            continue;
        }
        const qint64 limit =
            handshake.heardFrom ? timeout / 2 : std::min(kSilentStallMsecs, timeout / 2);
        // A busy server may not have read what the client sent yet: that client is not stalled.
        if (handshake.sinceProgress.elapsed() >= limit &&
            !isReadable(handshake.socket->socketDescriptor()))
            stalled.emplace_back(handshake.socket, limit);
    }
    for (const auto &[socket, limit] : stalled) {
        if (socket)
            fail(socket,
                 SecureServer::tr("evicted: no progress for %1 ms while %2 handshakes "
                                  "filled every slot and clients waited")
                     .arg(limit)
                     .arg(pending.size()),
                 Drop::Abort);
    }
    updateAccepting();
    if (!stalled.empty() && notifier && notifier->isEnabled())
        onListenerReadable();
}

SecureServer::SecureServer(QObject *parent)
    : QTcpServer(parent), d(std::make_unique<SecureServerPrivate>(this))
{
    d->tracker = new QObject(this);
    d->backoffTimer = new QTimer(this);
    d->backoffTimer->setSingleShot(true);
    connect(d->backoffTimer, &QTimer::timeout, this, [this] {
        d->updateAccepting();
        if (d->notifier && d->notifier->isEnabled())
            d->onListenerReadable(); // level-triggered anyway; this saves a loop turn
    });
    d->stallTimer = new QTimer(this);
    d->stallTimer->setSingleShot(true);
    connect(d->stallTimer, &QTimer::timeout, this, [this] { d->evictStalled(); });
    setListenBacklogSize(kDefaultBacklog);
}

SecureServer::~SecureServer()
{
    if (d->holdingSignals)
        blockSignals(false);
    d->stopAccepting();
    delete d->tracker; // no connection's end may count into a half-destroyed server
    d->tracker = nullptr;
    // The sockets are children, deleted after d: nothing of theirs may call back into d.
    while (!d->pending.empty()) {
        if (SecureSocket *socket = d->pending.front().socket)
            QObject::disconnect(socket, nullptr, this, nullptr);
        d->erase(d->pending.begin());
    }
}

SecureConfiguration SecureServer::configuration() const
{
    return d->config;
}
void SecureServer::setConfiguration(const SecureConfiguration &configuration)
{
    d->config = configuration;
}

SecureServer::ClientCertificatePolicy SecureServer::clientCertificatePolicy() const
{
    switch (d->config.peerVerifyMode()) {
    case SecureConfiguration::VerifyPeer:
        return RequireClientCertificate;
    case SecureConfiguration::QueryPeer:
        return RequestClientCertificate;
    default:
        return NoClientCertificate;
    }
}

void SecureServer::setClientCertificatePolicy(ClientCertificatePolicy policy)
{
    static const SecureConfiguration::PeerVerifyMode modes[] = {SecureConfiguration::VerifyNone,
                                                                SecureConfiguration::QueryPeer,
                                                                SecureConfiguration::VerifyPeer};
    d->config.setPeerVerifyMode(modes[policy]);
}

int SecureServer::handshakeTimeout() const
{
    return d->timeout;
}
void SecureServer::setHandshakeTimeout(int msecs)
{
    d->timeout = msecs;
}
int SecureServer::maxPendingHandshakes() const
{
    return d->maxPending;
}
void SecureServer::setMaxPendingHandshakes(int count)
{
    d->maxPending = std::max(0, count);
    d->updateAccepting();
}
int SecureServer::pendingHandshakeCount() const
{
    return static_cast<int>(d->pending.size());
}
int SecureServer::idleTimeout() const
{
    return d->idleTimeout;
}
void SecureServer::setIdleTimeout(int msecs)
{
    d->idleTimeout = std::max(0, msecs);
}
int SecureServer::maxConnections() const
{
    return d->maxConnections;
}
void SecureServer::setMaxConnections(int count)
{
    d->maxConnections = std::max(0, count);
    d->updateAccepting();
}
int SecureServer::connectionCount() const
{
    return d->open;
}

bool SecureServer::listen(const QHostAddress &address, quint16 port)
{
    d->error = d->config.validate(true);
    if (!d->error.isEmpty() || !QTcpServer::listen(address, port))
        return false;
    d->startAccepting();
    return true;
}

bool SecureServer::setSocketDescriptor(qintptr socketDescriptor)
{
    d->error = d->config.validate(true);
    if (!d->error.isEmpty() || !QTcpServer::setSocketDescriptor(socketDescriptor))
        return false;
    d->startAccepting();
    return true;
}

void SecureServer::pauseAccepting()
{
    d->pausedByUser = true;
    d->updateAccepting();
    if (!d->notifier)
        QTcpServer::pauseAccepting();
}

void SecureServer::resumeAccepting()
{
    d->pausedByUser = false;
    d->updateAccepting();
    if (!d->notifier)
        QTcpServer::resumeAccepting();
}

void SecureServer::close()
{
    d->stopAccepting();
    QTcpServer::close();
}

QString SecureServer::errorString() const
{
    return d->error.isEmpty() ? QTcpServer::errorString() : d->error;
}

bool SecureServer::hasPendingConnections() const
{
    return std::any_of(d->ready.begin(), d->ready.end(),
                       [](const QPointer<SecureSocket> &socket) { return !socket.isNull(); });
}

QTcpSocket *SecureServer::nextPendingConnection()
{
    return nextPendingSecureConnection();
}

SecureSocket *SecureServer::nextPendingSecureConnection()
{
    SecureSocket *socket = nullptr;
    while (!socket && !d->ready.empty()) {
        socket = d->ready.front(); // null if deleted meanwhile
        d->ready.pop_front();
    }
    if (socket)
        QObject::disconnect(socket, &QObject::destroyed, this, nullptr);
    d->updateAccepting();
    return socket;
}

void SecureServer::incomingConnection(qintptr socketDescriptor)
{
    d->holdNewConnectionSignal();
    d->accept(socketDescriptor);
}
