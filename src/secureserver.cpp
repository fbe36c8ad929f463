#include <SecureSocket/secureserver.h>

#include <QElapsedTimer>
#include <QLoggingCategory>
#include <QPointer>
#include <QTimer>

#include <list>

Q_LOGGING_CATEGORY(lcSecureServer, "securesocket.server", QtInfoMsg)

class SecureServerPrivate
{
public:
    explicit SecureServerPrivate(SecureServer *q) : q(q) {}

    struct Handshake
    {
        QPointer<SecureSocket> socket;
        QElapsedTimer started;
    };

    void start(qintptr descriptor);
    void succeed(SecureSocket *socket);
    void fail(SecureSocket *socket, const QString &reason);
    std::list<Handshake>::iterator find(SecureSocket *socket);

    SecureServer *q;
    SecureConfiguration config;
    int timeout = 5000;
    int maxPending = 256;
    QString error;
    std::list<Handshake> pending; // oldest first
};

std::list<SecureServerPrivate::Handshake>::iterator SecureServerPrivate::find(SecureSocket *socket)
{
    for (auto it = pending.begin(); it != pending.end(); ++it) {
        if (it->socket == socket)
            return it;
    }
    return pending.end();
}

void SecureServerPrivate::start(qintptr descriptor)
{
    if (maxPending > 0 && static_cast<int>(pending.size()) >= maxPending) {
        fail(pending.front().socket, SecureServer::tr("dropped: %1 handshakes in progress, "
                                                      "this one waited longest")
                                         .arg(pending.size()));
    }
    auto *socket = new SecureSocket(q);
    socket->setConfiguration(config);
    if (!socket->setSocketDescriptor(descriptor)) {
        qCWarning(lcSecureServer, "cannot take an accepted connection: %s",
                  qPrintable(socket->errorString()));
        delete socket;
        return;
    }
    pending.push_back({socket, {}});
    pending.back().started.start();

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
    q->addPendingConnection(socket);
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
    d->start(socketDescriptor);
}
