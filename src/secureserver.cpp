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
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
// The count of open connections, shared with the sockets that hold a place in it: a socket's
// connection ends in whatever thread it then lives, possibly after the server is gone.
// Runs wake() in the server's thread when an event is posted to it: a plain event, owned by
// Qt's queue, where a queued functor would be freed by whichever thread drops it last.
class Waker : public QObject
{
public:
    Waker(QObject *parent, std::function<void()> wake) : QObject(parent), m_wake(std::move(wake)) {}
    bool event(QEvent *event) override
    {
        if (event->type() != QEvent::User)
            return QObject::event(event);
        m_wake();
        return true;
    }

private:
    std::function<void()> m_wake; // the server looks again whether it has room
};

struct OpenConnections
{
    std::atomic<int> count{0};
    std::mutex mutex;
    Waker *server = nullptr; // null once the server is gone

    void release()
    {
        --count;
        std::lock_guard<std::mutex> lock(mutex);
        if (server)
            QCoreApplication::postEvent(server, new QEvent(QEvent::User));
    }
};
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
    bool startAccepting(int own = -1);
    bool watchingCurrentSocket() const;
    void stopAccepting();
    void onListenerReadable();
    bool hasRoom() const;
    void updateAccepting();
    void backOff(int err);
    void evictStalled();
    bool backlogWaiting() const;

    SecureServer *q;
    SecureConfiguration config;
    int timeout = 5000;
    int maxPending = 256;
    int idleTimeout = 0;
    int maxConnections = 0;
    // Accepted and not yet unconnected or deleted.
    std::shared_ptr<OpenConnections> open = std::make_shared<OpenConnections>();
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
    bool acceptingHere = false; // incomingConnection() is called by our loop, not Qt's
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

// When QTcpServer's own accept loop runs (QTcpServer::waitForNewConnection(); the server's own
// loop never emits it), Qt emits newConnection() as soon as incomingConnection() returns, before
// any handshake. That emission is held back (the server's signals are blocked until the event
// loop runs again) so that newConnection() always means "an encrypted connection is ready".
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
    // Counted until the connection ends, through the socket itself: the application may move
    // it to another thread, or cut its signal connections.
    ++open->count;
    socket->d->m_onConnectionEnd = [open = open] { open->release(); };

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

void SecureServerPrivate::succeed(SecureSocket *socket)
{
    auto it = find(socket);
    if (it == pending.end())
        return;
    erase(it);
    QObject::disconnect(socket, nullptr, q, nullptr); // the handshake's connections
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

// own: a duplicate of the listening descriptor made already, or -1 to make one here. A
// duplicate, so that a descriptor QTcpServer closes (close() through a base pointer) is never
// watched once closed, or reused. Such a close() deletes Qt's socket engine (later): we let go of
// ours then, so the port is not kept open, unless the server listens again meanwhile.
bool SecureServerPrivate::startAccepting(int own)
{
    stopAccepting();
    pausedByUser = false; // as QTcpServer: a new listening socket accepts
    listener =
        own >= 0 ? own
                 : ::fcntl(static_cast<int>(q->QTcpServer::socketDescriptor()), F_DUPFD_CLOEXEC, 0);
    if (listener < 0) {
        error = SecureServer::tr("cannot watch the listening socket: %1")
                    .arg(QString::fromLocal8Bit(std::strerror(errno)));
        q->QTcpServer::close();
        return false;
    }
    q->QTcpServer::pauseAccepting();
    notifier = new QSocketNotifier(listener, QSocketNotifier::Read, q);
    QObject::connect(notifier, &QSocketNotifier::activated, q, [this] { onListenerReadable(); });
    for (QObject *child : q->children()) {
        if (child->inherits("QAbstractSocketEngine"))
            QObject::connect(child, &QObject::destroyed, notifier, [this] {
                if (!watchingCurrentSocket())
                    stopAccepting();
            });
    }
    updateAccepting();
    return true;
}

// Our duplicate is of the socket the server listens on now (not of one closed since).
bool SecureServerPrivate::watchingCurrentSocket() const
{
    struct stat ours = {};
    struct stat current = {};
    return listener >= 0 && q->isListening() && ::fstat(listener, &ours) == 0 &&
           ::fstat(static_cast<int>(q->QTcpServer::socketDescriptor()), &current) == 0 &&
           ours.st_ino == current.st_ino && ours.st_dev == current.st_dev;
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
    backoffMsecs = 0;
}

bool SecureServerPrivate::hasRoom() const
{
    return static_cast<int>(ready.size()) < q->maxPendingConnections() &&
           (maxPending <= 0 || static_cast<int>(pending.size()) < maxPending) &&
           (maxConnections <= 0 || open->count < maxConnections);
}

void SecureServerPrivate::updateAccepting()
{
    if (!notifier)
        return;
    if (!q->isListening()) { // closed through a QTcpServer pointer
        stopAccepting();
        return;
    }
    const bool accepting = !pausedByUser && !backoffTimer->isActive() && hasRoom();
    notifier->setEnabled(accepting);
    const bool atCapacity = maxConnections > 0 && open->count >= maxConnections;
    if (atCapacity != loggedCapacity) {
        loggedCapacity = atCapacity;
        if (atCapacity)
            qCWarning(lcSecureServer,
                      "%d connections open, the maximum: new clients wait in the backlog",
                      open->count.load());
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
    if (!watchingCurrentSocket()) { // closed through a QTcpServer pointer
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
        acceptingHere = true;
        q->incomingConnection(fd);
        if (!guard)
            return;
        acceptingHere = false;
    }
    updateAccepting(); // no room: the notifier, level-triggered, must not wake us for nothing
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
    QPointer<SecureServer> guard(q);
    for (const auto &[socket, limit] : stalled) {
        if (!guard)
            return; // a handshakeFailed() slot deleted the server
        if (socket)
            fail(socket,
                 SecureServer::tr("evicted: no progress for %1 ms while %2 handshakes "
                                  "filled every slot and clients waited")
                     .arg(limit)
                     .arg(pending.size()),
                 Drop::Abort);
    }
    if (!guard)
        return;
    updateAccepting();
    if (!stalled.empty() && notifier && notifier->isEnabled())
        onListenerReadable();
}

SecureServer::SecureServer(QObject *parent)
    : QTcpServer(parent), d(std::make_unique<SecureServerPrivate>(this))
{
    d->open->server = new Waker(this, [d = d.get()] { d->updateAccepting(); });
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
    {
        // A connection that ends from now on (here, or in another thread) finds no server.
        std::lock_guard<std::mutex> lock(d->open->mutex);
        delete d->open->server; // and with it, the wake-ups already posted
        d->open->server = nullptr;
    }
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
    case SecureConfiguration::AutoVerifyPeer: // a server's AutoVerifyPeer is QueryPeer
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
    return d->open->count;
}

bool SecureServer::listen(const QHostAddress &address, quint16 port)
{
    d->error = d->config.validate(true);
    return d->error.isEmpty() && QTcpServer::listen(address, port) && d->startAccepting();
}

bool SecureServer::setSocketDescriptor(qintptr socketDescriptor)
{
    d->error = d->config.validate(true);
    if (!d->error.isEmpty())
        return false;
    // Duplicated first: on failure the caller still owns its descriptor, whatever failed.
    const int own = ::fcntl(static_cast<int>(socketDescriptor), F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
        d->error = tr("cannot use the listening socket: %1")
                       .arg(QString::fromLocal8Bit(std::strerror(errno)));
        return false;
    }
    if (!QTcpServer::setSocketDescriptor(socketDescriptor)) {
        ::close(own);
        return false;
    }
    return d->startAccepting(own);
}

void SecureServer::setMaxPendingConnections(int numConnections)
{
    QTcpServer::setMaxPendingConnections(numConnections);
    d->updateAccepting();
}

void SecureServer::pauseAccepting()
{
    d->pausedByUser = true;
    d->updateAccepting();
    if (!d->notifier && isListening())
        QTcpServer::pauseAccepting();
}

void SecureServer::resumeAccepting()
{
    d->pausedByUser = false;
    d->updateAccepting();
    if (!d->notifier && isListening())
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
    if (!std::exchange(d->acceptingHere, false))
        d->holdNewConnectionSignal();
    d->accept(socketDescriptor);
}
