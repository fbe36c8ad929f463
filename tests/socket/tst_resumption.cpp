// TLS session resumption over loopback: SecureSocket on both sides, our client against
// `openssl s_server`, and `openssl s_client` against our server.
#include "socketfixture.h"

#include <QProcess>
#include <QSignalSpy>
#include <QTcpServer>
#include <QtTest>

namespace {

// One connection: handshake, a line echoed back (the session ticket arrives before it), a
// clean close, all with the event loop running (the server may live in this thread). Returns
// whether the handshake resumed a session; *ok tells whether all of it worked.
bool connectOnce(SecureSocket &client, quint16 port, const QByteArray &line, bool *ok)
{
    *ok = false;
    client.connectToHostEncrypted(QStringLiteral("localhost"), port);
    if (!waitUntil([&] { return client.isEncrypted(); }, 10000)) {
        qWarning("not encrypted: %s", qPrintable(client.errorString()));
        return false;
    }
    client.write(line);
    if (!waitUntil([&] { return client.canReadLine(); }, 10000)) {
        qWarning("no answer");
        return false;
    }
    const QByteArray answer = client.readLine();
    const bool resumed = client.isSessionResumed();
    client.disconnectFromHost();
    if (!waitUntil([&] { return client.state() == QAbstractSocket::UnconnectedState; }, 10000)) {
        qWarning("not disconnected");
        return false;
    }
    *ok = !answer.isEmpty();
    return resumed;
}

quint16 freePort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort();
}

} // namespace

class TestResumption : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase() { QVERIFY(m_pki.isValid()); }

    void resumesWithItself()
    {
        TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
        QVERIFY(server.start());
        SecureSocket client;
        client.setConfiguration(clientConfiguration(m_pki));
        bool ok = false;
        QVERIFY(!connectOnce(client, server.port(), "first\n", &ok));
        QVERIFY(ok);
        for (int i = 0; i < 3; ++i) {
            QVERIFY2(connectOnce(client, server.port(), "again\n", &ok), "no resumption");
            QVERIFY(ok);
            QVERIFY(!client.peerCertificateChain().isEmpty()); // kept from the full handshake
        }
    }

    void resumptionCanBeTurnedOff()
    {
        TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
        QVERIFY(server.start());
        SecureConfiguration config = clientConfiguration(m_pki);
        config.setSessionResumption(false);
        SecureSocket client;
        client.setConfiguration(config);
        bool ok = false;
        for (int i = 0; i < 3; ++i) {
            QVERIFY(!connectOnce(client, server.port(), "line\n", &ok));
            QVERIFY(ok);
        }
    }

    void anotherNameIsNotResumed()
    {
        TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
        QVERIFY(server.start());
        SecureSocket client;
        client.setConfiguration(clientConfiguration(m_pki));
        bool ok = false;
        QVERIFY(!connectOnce(client, server.port(), "line\n", &ok));
        // Same host and port, verified as another name: a session is no proof of that name.
        client.setPeerVerifyName(QStringLiteral("127.0.0.1"));
        QVERIFY(!connectOnce(client, server.port(), "line\n", &ok));
        QVERIFY(ok);
        QVERIFY(connectOnce(client, server.port(), "line\n", &ok));
    }

    void resumesWithOpensslServer()
    {
        const quint16 port = freePort();
        QProcess server;
        server.setProcessChannelMode(QProcess::MergedChannels);
        server.start(QStringLiteral("openssl"),
                     {QStringLiteral("s_server"), QStringLiteral("-accept"),
                      QStringLiteral("127.0.0.1:%1").arg(port), QStringLiteral("-cert"),
                      m_pki.serverCert, QStringLiteral("-key"),
                      TestPki::keyFileOf(m_pki.serverCert), QStringLiteral("-tls1_3"),
                      QStringLiteral("-rev"), QStringLiteral("-quiet")});
        QVERIFY2(server.waitForStarted(5000), "openssl s_server did not start");
        QVERIFY2(waitUntil(
                     [&] {
                         QTcpSocket probe;
                         probe.connectToHost(QHostAddress::LocalHost, port);
                         return probe.waitForConnected(100);
                     },
                     5000),
                 qPrintable(QStringLiteral("openssl s_server is not listening: ") +
                            QString::fromLocal8Bit(server.readAll())));
        SecureSocket client;
        client.setConfiguration(clientConfiguration(m_pki));
        bool ok = false;
        QVERIFY(!connectOnce(client, port, "abc\n", &ok));
        QVERIFY(ok);
        for (int i = 0; i < 3; ++i) {
            QVERIFY2(connectOnce(client, port, "abc\n", &ok),
                     "no resumption with openssl s_server");
            QVERIFY(ok);
        }
        server.kill();
        server.waitForFinished(5000);
    }

    void opensslClientResumesWithUs()
    {
        TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
        QVERIFY(server.start());
        const QString sessionFile = m_pki.write(QStringLiteral("s_client.session"), "");
        auto run = [&](const QString &sessionOption) {
            QProcess client;
            client.setProcessChannelMode(QProcess::MergedChannels);
            client.start(QStringLiteral("openssl"),
                         {QStringLiteral("s_client"), QStringLiteral("-connect"),
                          QStringLiteral("127.0.0.1:%1").arg(server.port()),
                          QStringLiteral("-CAfile"), m_pki.caFile,
                          QStringLiteral("-verify_return_error"),
                          QStringLiteral("-verify_hostname"), QStringLiteral("localhost"),
                          sessionOption, sessionFile});
            if (!client.waitForStarted(5000))
                return QByteArray("openssl s_client did not start");
            client.write("hello\n");
            QByteArray output;
            // The echo comes after the session ticket: then the session is worth saving.
            waitUntil(
                [&] {
                    output += client.readAll();
                    return output.contains("\nhello");
                },
                10000);
            client.closeWriteChannel();
            if (!client.waitForFinished(10000))
                client.kill();
            return output + client.readAll();
        };
        const QByteArray first = run(QStringLiteral("-sess_out"));
        QVERIFY2(first.contains("New, TLSv1.3"), first.constData());
        const QByteArray second = run(QStringLiteral("-sess_in"));
        QVERIFY2(second.contains("Reused, TLSv1.3"), second.constData());
        QVERIFY2(second.contains("hello"), second.constData());
    }

private:
    TestPki m_pki;
};

QTEST_MAIN(TestResumption)
#include "tst_resumption.moc"
