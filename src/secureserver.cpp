#include <SecureSocket/secureserver.h>

#include <QLoggingCategory>
#include <QPointer>
#include <QTimer>

#include <algorithm>
#include <list>

Q_LOGGING_CATEGORY(lcSecureServer, "securesocket.server", QtInfoMsg)

class SecureServerPrivate
{
public:
    explicit SecureServerPrivate(SecureServer *q) : q(q) {}

    void accept(qintptr descriptor);
    void begin(SecureSocket *socket);
    void succeed(SecureSocket *socket);
    void fail(SecureSocket *socket, const QString &reason);
    std::list<QPointer<SecureSocket>>::iterator find(SecureSocket *socket);

    SecureServer *q;
    SecureConfiguration config;
    int timeout = 5000;
    int maxPending = 256;
    QString error;
    bool holdingSignals = false;
    std::list<QPointer<SecureSocket>> pending; // handshakes in progress, oldest first
};

std::list<QPointer<SecureSocket>>::iterator SecureServerPrivate::find(SecureSocket *socket)
{
    return std::find(pending.begin(), pending.end(), socket);
}

void SecureServerPrivate::accept(qintptr descriptor)
{
    auto *socket = new SecureSocket(q);
    socket->setConfiguration(config);
    if (!socket->setSocketDescriptor(descriptor)) {
        qCWarning(lcSecureServer, "cannot take an accepted connection: %s",
                  qPrintable(socket->errorString()));
        delete socket;
        return;
    }
    // Begins once the server's signals flow again (see SecureServer::incomingConnection).
    QMetaObject::invokeMethod(
        socket, [this, socket] { begin(socket); }, Qt::QueuedConnection);
}

void SecureServerPrivate::begin(SecureSocket *socket)
{
    if (maxPending > 0 && static_cast<int>(pending.size()) >= maxPending) {
        fail(pending.front(), SecureServer::tr("dropped: %1 handshakes in progress, "
                                               "this one waited longest")
                                  .arg(pending.size()));
    }
    pending.push_back(socket);

    QObject::connect(socket, &SecureSocket::encrypted, q, [this, socket] { succeed(socket); });
    QObject::connect(socket, &SecureSocket::errorOccurred, q, [this, socket] {
        const QString reason = socket->error() == QAbstractSocket::RemoteHostClosedError
                                   ? SecureServer::tr("the client closed the connection during "
                                                      "the handshake")
                                   : socket->errorString();
        fail(socket, reason);
    });
    QObject::connect(socket, &SecureSocket::disconnected, q, [this, socket] {
        fail(socket, SecureServer::tr("the client closed the connection during the handshake"));
    });
    QTimer::singleShot(timeout, socket, [this, socket] {
        fail(socket, SecureServer::tr("handshake timed out after %1 ms").arg(timeout));
    });
    socket->startServerEncryption();
}

void SecureServerPrivate::succeed(SecureSocket *socket)
{
    auto it = find(socket);
    if (it == pending.end())
        return;
    pending.erase(it);
    QObject::disconnect(socket, nullptr, q, nullptr);
    q->addPendingConnection(socket); // emits pendingConnectionAvailable()
    emit q->newConnection();
}

void SecureServerPrivate::fail(SecureSocket *socket, const QString &reason)
{
    auto it = find(socket);
    if (it == pending.end() || !socket)
        return; // already handed out, or already failed
    pending.erase(it);
    QObject::disconnect(socket, nullptr, q, nullptr);
    qCInfo(lcSecureServer, "handshake with %s:%u failed: %s",
           qPrintable(socket->peerAddress().toString()), socket->peerPort(), qPrintable(reason));
    emit q->handshakeFailed(socket, reason);
    socket->abort();
    socket->deleteLater();
}

SecureServer::SecureServer(QObject *parent)
    : QTcpServer(parent), d(std::make_unique<SecureServerPrivate>(this))
{}

SecureServer::~SecureServer() = default;

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

SecureSocket *SecureServer::nextPendingSecureConnection()
{
    return static_cast<SecureSocket *>(nextPendingConnection());
}

void SecureServer::incomingConnection(qintptr socketDescriptor)
{
    // QTcpServer emits newConnection() as soon as this returns, before any handshake. That
    // emission is held back (signals blocked until the event loop runs again) so that
    // newConnection() always means "an encrypted connection is ready".
    if (!d->holdingSignals && !signalsBlocked()) {
        d->holdingSignals = true;
        blockSignals(true);
        QMetaObject::invokeMethod(
            this,
            [this] {
                blockSignals(false);
                d->holdingSignals = false;
            },
            Qt::QueuedConnection);
    }
    d->accept(socketDescriptor);
}
