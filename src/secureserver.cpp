#include <SecureSocket/secureserver.h>

#include "threadcleanup_p.h"
#include <QCoreApplication>

#include <QLoggingCategory>
#include <QPointer>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <deque>
#include <list>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcSecureServer, "securesocket.server", QtInfoMsg)

namespace {
// How long a socket whose handshake failed may take to send its alert before it is dropped.
constexpr int kAlertGraceMsecs = 1000;

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
    void resumeAcceptingIfRoom();
    void holdNewConnectionSignal();
    template <typename Emit> void emitSignal(Emit emitSignalNow);

    SecureServer *q;
    SecureConfiguration config;
    int timeout = 5000;
    int maxPending = 256;
    QString error;
    bool holdingSignals = false;
    std::list<Handshake> pending;             // oldest first
    std::deque<QPointer<SecureSocket>> ready; // encrypted, not taken yet
    bool acceptingPaused = false;             // by us, because ready is full
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
        qCWarning(lcSecureServer, "cannot take an accepted connection: %s",
                  qPrintable(socket->errorString()));
        ::close(static_cast<int>(descriptor));
        delete socket;
        return;
    }
    if (maxPending > 0 && static_cast<int>(pending.size()) >= maxPending) {
        fail(pending.front().socket,
             SecureServer::tr("dropped: %1 handshakes in progress, this one waited longest")
                 .arg(pending.size()),
             Drop::Abort);
    }

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
    });
    socket->startServerEncryption();
}

void SecureServerPrivate::succeed(SecureSocket *socket)
{
    auto it = find(socket);
    if (it == pending.end())
        return;
    erase(it);
    QObject::disconnect(socket, nullptr, q, nullptr);
    // The server keeps its own queue of encrypted connections (QTcpServer's would warn when
    // the server is given connections without listening itself). Like QTcpServer, it stops
    // accepting while maxPendingConnections() wait to be taken.
    ready.emplace_back(socket);
    if (q->isListening() && static_cast<int>(ready.size()) >= q->maxPendingConnections()) {
        q->pauseAccepting();
        acceptingPaused = true;
    }
    QObject::connect(socket, &QObject::destroyed, q, [this] { // before it was taken
        ready.erase(std::remove(ready.begin(), ready.end(), nullptr), ready.end());
        resumeAcceptingIfRoom();
    });
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

void SecureServerPrivate::resumeAcceptingIfRoom()
{
    if (!acceptingPaused || static_cast<int>(ready.size()) >= q->maxPendingConnections())
        return;
    acceptingPaused = false;
    if (q->isListening())
        q->resumeAccepting();
}

SecureServer::SecureServer(QObject *parent)
    : QTcpServer(parent), d(std::make_unique<SecureServerPrivate>(this))
{}

SecureServer::~SecureServer()
{
    if (d->holdingSignals)
        blockSignals(false);
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
    d->maxPending = count;
}
int SecureServer::pendingHandshakeCount() const
{
    return static_cast<int>(d->pending.size());
}

bool SecureServer::listen(const QHostAddress &address, quint16 port)
{
    d->error = d->config.validate(true);
    if (!d->error.isEmpty())
        return false;
    return QTcpServer::listen(address, port);
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
    d->resumeAcceptingIfRoom();
    return socket;
}

void SecureServer::incomingConnection(qintptr socketDescriptor)
{
    d->holdNewConnectionSignal();
    d->accept(socketDescriptor);
}
