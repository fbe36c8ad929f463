// SecureServer: the handshakes it runs (a connection is offered only once encrypted) and its
// public API. The accept loop is in serveradmission.cpp.
#include "secureconfiguration_p.h"
#include "secureserver_p.h"
#include "securesocket_p.h"
#include "threadcleanup_p.h"

#include <QMetaMethod>
#include <QThread>

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

Q_LOGGING_CATEGORY(lcSecureServer, "securesocket.server", QtInfoMsg)

using securesocket::server::isResourceError;
using securesocket::server::kDefaultBacklog;
using securesocket::server::Waker;

namespace {
// How long a socket whose handshake failed may take to send its alert before it is dropped.
constexpr int kAlertGraceMsecs = 1000;
} // namespace

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

void SecureServerPrivate::accept(qintptr descriptor)
{
    securesocket::releaseOpenSslStateWhenThreadEnds();
    auto *socket = new SecureSocket(q);
    socket->setConfiguration(config);
    if (!socket->d->takeAccepted(static_cast<int>(descriptor), QIODevice::ReadWrite)) {
        const int err = errno;
        qCWarning(lcSecureServer, "cannot take an accepted connection: %s", std::strerror(err));
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
    qCDebug(lcSecureServer).nospace().noquote()
        << q << " accepted " << handshake.peer << " as " << socket << ": handshakes "
        << pending.size() + 1 << '/' << (maxPending > 0 ? QString::number(maxPending) : "-")
        << ", connections open " << open->count.load() << '/'
        << (maxConnections > 0 ? QString::number(maxConnections) : "-") << ", handshake timeout "
        << timeout << " ms";
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
    if (q->isSignalConnected(
            QMetaMethod::fromSignal(&SecureServer::preSharedKeyAuthenticationRequired))) {
        QObject::connect(
            socket, &SecureSocket::preSharedKeyAuthenticationRequired, q,
            [this, socket](SecurePreSharedKeyAuthenticator *authenticator) {
                emit q->preSharedKeyAuthenticationRequired(socket, authenticator);
            },
            Qt::DirectConnection);
    }
    updateAccepting();
    socket->startServerEncryption();
}

void SecureServerPrivate::succeed(SecureSocket *socket)
{
    auto it = find(socket);
    if (it == pending.end())
        return;
    qCDebug(lcSecureServer).nospace().noquote()
        << q << " handshake with " << it->peer << " done (" << socket->sessionProtocol() << ", "
        << socket->sessionCipher() << "): offered to the application, " << ready.size() + 1
        << " waiting to be taken";
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

bool SecureServer::reloadConfiguration()
{
    std::string error;
    bool changed = false;
    const auto context = securesocket::reloadEngineContext(
        d->config, securesocket::engine::Role::Server, &error, &changed);
    d->error = QString::fromStdString(error);
    if (!context || !error.empty())
        return false; // logged once by the configuration (category securesocket.configuration)
    qCInfo(lcSecureServer, "configuration reloaded: %s",
           changed ? "new handshakes use the files as they are now" : "no file changed");
    return true;
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
    const bool listening =
        d->error.isEmpty() && QTcpServer::listen(address, port) && d->startAccepting();
    if (listening)
        qCDebug(lcSecureServer).nospace().noquote()
            << this << " listening on " << serverAddress().toString() << ':' << serverPort()
            << " (backlog " << listenBacklogSize() << ')';
    else
        qCDebug(lcSecureServer).nospace().noquote() << this << " cannot listen: " << errorString();
    return listening;
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
