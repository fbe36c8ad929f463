// SecureServer's own accept loop (see the comment below): admission of connections from the
// kernel's backlog while the server has room, back-off when descriptors run out, and eviction
// of stalled handshakes while others wait.
#include "secureserver_p.h"
#include "securesocket_p.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using securesocket::server::isResourceError;

namespace {
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

// Errors that concern one connection only (it went away before we took it): try the next.
bool isConnectionError(int err)
{
    return err == ECONNABORTED || err == EPROTO || err == EPERM || err == ENETDOWN ||
           err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
           err == EOPNOTSUPP || err == ENETUNREACH || err == EINTR;
}
} // namespace

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
    if (accepting != notifier->isEnabled() && lcSecureServer().isDebugEnabled()) {
        const char *why = accepting                  ? "room for a connection"
                          : pausedByUser             ? "paused by the application"
                          : backoffTimer->isActive() ? "backing off after an accept failure"
                                                     : "no room";
        qCDebug(lcSecureServer).nospace().noquote()
            << q << (accepting ? " accepting" : " not accepting: new clients wait in the backlog")
            << " (" << why << "; handshakes " << pending.size() << '/'
            << (maxPending > 0 ? QString::number(maxPending) : "-") << ", waiting to be taken "
            << ready.size() << '/' << q->maxPendingConnections() << ", connections open "
            << open->count.load() << '/'
            << (maxConnections > 0 ? QString::number(maxConnections) : "-") << ')';
    }
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
