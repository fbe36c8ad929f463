#include "loopbackrelay.h"

#include <QTcpSocket>

LoopbackRelay::LoopbackRelay(quint16 targetPort, QObject *parent)
    : QObject(parent), m_targetPort(targetPort)
{
    connect(&m_server, &QTcpServer::newConnection, this, [this] {
        while (QTcpSocket *client = m_server.nextPendingConnection())
            relay(client);
    });
}

bool LoopbackRelay::listen()
{
    return m_server.listen(QHostAddress::LocalHost, 0);
}

void LoopbackRelay::injectAfter(const QByteArray &marker, const QByteArray &extra)
{
    m_marker = marker;
    m_injection = extra;
}

void LoopbackRelay::relay(QTcpSocket *client)
{
    // Both sockets live as long as the relay: deleting one at its close could drop its last
    // bytes, and the other may still signal.
    client->setParent(this);
    auto *server = new QTcpSocket(this);
    // Bytes a client sends before the server side is connected wait in the client socket.
    auto forwardFromClient = [this, client, server] {
        if (server->state() != QAbstractSocket::ConnectedState)
            return;
        const QByteArray data = client->readAll();
        m_fromClient += data;
        server->write(data);
    };
    connect(client, &QTcpSocket::readyRead, this, forwardFromClient);
    connect(server, &QTcpSocket::connected, this, forwardFromClient);
    connect(server, &QTcpSocket::readyRead, this, [this, client, server] {
        QByteArray data = server->readAll();
        if (!m_marker.isEmpty() && data.contains(m_marker)) {
            data += m_injection;
            m_marker.clear();
        }
        client->write(data);
    });
    // A close on one side closes the other once what it still holds has been written.
    auto closeBoth = [client, server] {
        client->disconnectFromHost();
        server->disconnectFromHost();
    };
    connect(client, &QTcpSocket::disconnected, this, closeBoth);
    connect(server, &QTcpSocket::disconnected, this, closeBoth);
    connect(server, &QTcpSocket::errorOccurred, this, [client, server] {
        if (server->state() == QAbstractSocket::UnconnectedState)
            client->disconnectFromHost(); // the target refused or vanished
    });
    server->connectToHost(QHostAddress::LocalHost, m_targetPort);
}
