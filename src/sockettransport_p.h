// Internal: the Transport over the plain QTcpSocket, for connections whose descriptor is not
// adopted (through a proxy, or while the TCP socket still had plaintext to send when TLS
// began). See transport_p.h. The QTcpSocket stays owned by SecureSocket.
#ifndef SECURESOCKET_SOCKETTRANSPORT_P_H
#define SECURESOCKET_SOCKETTRANSPORT_P_H

#include "transport_p.h"

#include <QObject>
#include <QPointer>
#include <QTcpSocket>

class SocketTransport final : public Transport
{
public:
    // Notifications are delivered in the thread of owner (the SecureSocket).
    SocketTransport(QTcpSocket *socket, QObject *owner, TransportClient &client);
    ~SocketTransport() override;
    SocketTransport(const SocketTransport &) = delete;
    SocketTransport &operator=(const SocketTransport &) = delete;

    qint64 read(char *data, qint64 maxSize) override;
    void setReadEnabled(bool enabled) override;
    void write(const char *data, qint64 size) override;
    qint64 bytesToWrite() const override;
    bool flush() override;
    void reportWritten() override {} // QTcpSocket reports from its own waitFor...() calls
    bool isOpen() const override;
    void close(std::function<void()> closed) override;
    void release() override { m_closed = nullptr; } // the TCP socket closes on its own
    void abort() override;
    End end() const override { return m_end; }
    QAbstractSocket::SocketError error() const override { return m_error; }
    QString errorString() const override { return m_errorString; }
    bool waitForActivity(int msecs) override;
    qintptr descriptor() const override;
    void setOption(QAbstractSocket::SocketOption option, const QVariant &value) override;
    QVariant option(QAbstractSocket::SocketOption option) const override;

private:
    void onError(QAbstractSocket::SocketError error);
    void onUnconnected();

    QPointer<QTcpSocket> m_socket;
    TransportClient &m_client;
    QPointer<QObject> m_context; // a child of the owner: its connections end with it
    bool m_readEnabled = true;
    End m_end = End::Open;
    QAbstractSocket::SocketError m_error = QAbstractSocket::UnknownSocketError;
    QString m_errorString;
    std::function<void()> m_closed;
};

#endif
