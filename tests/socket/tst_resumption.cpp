// TLS session resumption over loopback: SecureSocket on both sides, our client against
// `openssl s_server`, and `openssl s_client` against our server.
#include "peerprocess.h"
#include "socketfixture.h"

#include <QSignalSpy>
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

// openssl s_client against our server on port: sends a line, waits for its echo (it comes after
// the session tickets, so the session is then worth saving), ends; everything it printed. The
// session is saved to or read from sessionFile (sessionOption -sess_out or -sess_in).
QByteArray runOpensslClient(quint16 port, const TestPki &pki, const QStringList &options,
                            const QString &sessionOption, const QString &sessionFile)
{
    PeerProcess client;
    client.setMergedChannels(true);
    if (!client.start(QStringLiteral("openssl"),
                      QStringList{QStringLiteral("s_client"), QStringLiteral("-connect"),
                                  QStringLiteral("127.0.0.1:%1").arg(port),
                                  QStringLiteral("-CAfile"), pki.caFile,
                                  QStringLiteral("-verify_return_error"), sessionOption,
                                  sessionFile} +
                          options))
        return client.describe().toLocal8Bit();
    client.write("hello\n");
    client.waitForOutput("\nhello", 10000);
    client.closeWriteChannel();
    client.waitForExit(10000);
    return client.standardOutput();
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
        // Whether this first one resumes is not the question: the system may hand this server
        // a port an earlier test's server had, and with equal settings both share one context
        // and its ticket keys, so the client's session from then is good here.
        connectOnce(client, server.port(), "line\n", &ok);
        QVERIFY(ok);
        // Same host and port, verified as another name: a session is no proof of that name.
        client.setPeerVerifyName(QStringLiteral("127.0.0.1"));
        QVERIFY(!connectOnce(client, server.port(), "line\n", &ok));
        QVERIFY(ok);
        QVERIFY(connectOnce(client, server.port(), "line\n", &ok));
    }

    void resumesWithOpensslServer()
    {
        PeerProcess server;
        server.setMergedChannels(true);
        // On port 0. Under -quiet s_server does not print the port it got: it is read from the
        // system.
        QVERIFY2(server.startServer(
                     QStringLiteral("openssl"),
                     {QStringLiteral("s_server"), QStringLiteral("-accept"),
                      QStringLiteral("127.0.0.1:0"), QStringLiteral("-cert"), m_pki.serverCert,
                      QStringLiteral("-key"), TestPki::keyFileOf(m_pki.serverCert),
                      QStringLiteral("-tls1_3"), QStringLiteral("-rev"), QStringLiteral("-quiet")},
                     PeerProcess::listeningIpv4Port({})),
                 qPrintable(server.errorString()));
        const quint16 port = server.port();
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
    }

    void opensslClientResumesWithUs()
    {
        TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
        QVERIFY(server.start());
        const QString sessionFile = m_pki.write(QStringLiteral("s_client.session"), "");
        const QStringList options{QStringLiteral("-verify_hostname"), QStringLiteral("localhost")};
        auto run = [&](const QString &sessionOption) {
            return runOpensslClient(server.port(), m_pki, options, sessionOption, sessionFile);
        };
        const QByteArray first = run(QStringLiteral("-sess_out"));
        QCOMPARE(first.count("New Session Ticket arrived"), 1); // the default count
        QVERIFY2(first.contains("New, TLSv1.3"), first.constData());
        const QByteArray second = run(QStringLiteral("-sess_in"));
        QVERIFY2(second.contains("Reused, TLSv1.3"), second.constData());
        QVERIFY2(second.contains("hello"), second.constData());
    }

    // SecureConfiguration::setSessionTicketCount(): as many TLS 1.3 tickets as asked for, as
    // openssl s_client counts them; with none, a TLS 1.2 client gets no ticket and no
    // session ID to resume either.
    void serverSendsTheTicketCount_data()
    {
        QTest::addColumn<int>("count");
        QTest::addColumn<QString>("protocol");
        QTest::newRow("1, TLS 1.3") << 1 << QStringLiteral("-tls1_3");
        QTest::newRow("0, TLS 1.3") << 0 << QStringLiteral("-tls1_3");
        QTest::newRow("0, TLS 1.2") << 0 << QStringLiteral("-tls1_2");
        QTest::newRow("2, TLS 1.3") << 2 << QStringLiteral("-tls1_3");
    }
    void serverSendsTheTicketCount()
    {
        QFETCH(int, count);
        QFETCH(QString, protocol);
        SecureConfiguration config = serverConfiguration(m_pki.serverCert);
        config.setSessionTicketCount(count);
        TestServer server(TestServer::Tls, config);
        QVERIFY(server.start());
        const QString sessionFile = m_pki.write(QStringLiteral("count.session"), "");
        auto run = [&](const QString &sessionOption) {
            return runOpensslClient(server.port(), m_pki, {protocol}, sessionOption, sessionFile);
        };
        const QByteArray first = run(QStringLiteral("-sess_out"));
        QVERIFY2(first.contains("\nhello"), first.right(600).constData());
        if (protocol == QLatin1String("-tls1_3"))
            QCOMPARE(first.count("New Session Ticket arrived"), count);
        if (QFileInfo(sessionFile).size() == 0) { // TLS 1.3 without a ticket: nothing to save
            QCOMPARE(count, 0);
            return;
        }
        const QByteArray second = run(QStringLiteral("-sess_in"));
        QVERIFY2(second.contains("\nhello"), second.constData());
        QVERIFY2(second.contains(count > 0 ? "Reused," : "New,"), second.constData());
    }

private:
    TestPki m_pki;
};

QTEST_MAIN(TestResumption)
#include "tst_resumption.moc"
