// A TCP relay on loopback that records what the client sends, for tests that look at the bytes
// on the wire.
#ifndef SECURESOCKET_TESTS_LOOPBACKRELAY_H
#define SECURESOCKET_TESTS_LOOPBACKRELAY_H

#include <QByteArray>
#include <QObject>
#include <QTcpServer>

// Listens on 127.0.0.1 (a free port) and connects each client to 127.0.0.1:targetPort,
// forwarding bytes both ways as they come and closing each side when the other closes. It
// runs in the test's event loop: the test must keep the loop running (QTest::qWait, QTRY_...,
// or an event-driven wait for a child process) while traffic flows.
class LoopbackRelay : public QObject
{
public:
    explicit LoopbackRelay(quint16 targetPort, QObject *parent = nullptr);

    bool listen(); // false with errorString()
    quint16 port() const { return m_server.serverPort(); }
    QString errorString() const { return m_server.errorString(); }

    // Everything clients sent, in order, exactly as it crossed the wire.
    QByteArray clientBytes() const { return m_fromClient; }

    // Appends extra to the first chunk from the server that contains marker, as one write:
    // to play a man in the middle who injects plaintext right after a server line.
    void injectAfter(const QByteArray &marker, const QByteArray &extra);

private:
    void relay(QTcpSocket *client);

    quint16 m_targetPort;
    QTcpServer m_server;
    QByteArray m_fromClient;
    QByteArray m_marker;
    QByteArray m_injection;
};

#endif
