// SecureServer in-process, against SecureSocket, QSslSocket, raw TCP and Python clients, all on
// loopback: connections are offered only once encrypted, bad configurations are refused before
// listening, two-way TLS accepts and refuses with reasons, and bad or idle clients are dropped
// while good ones are served at once. After every test no socket of the server is left.
#include <SecureSocket/secureserver.h>

#include "serverhelpers.h"

#include <QElapsedTimer>
#include <QFile>
#include <QPointer>
#include <QRandomGenerator>
#include <QScopeGuard>
#include <QSignalSpy>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslSocket>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <memory>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>
#include <unistd.h>

using servertest::waitUntil;

namespace {
const QByteArray kGreeting = "hello from SecureServer\n";

// The server's log (category securesocket.server), captured instead of printed.
QStringList g_serverLog;
QtMessageHandler g_printMessage = nullptr;
void captureServerLog(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (context.category && qstrcmp(context.category, "securesocket.server") == 0)
        g_serverLog.append(message);
    else
        g_printMessage(type, context, message);
}

// What the device receives until it has size bytes, it closes, or five seconds pass.
QByteArray readSome(QIODevice *device, qint64 size)
{
    QByteArray data;
    waitUntil(
        [&] {
            data += device->readAll();
            return data.size() >= size || !device->isOpen();
        },
        5000);
    return data;
}
} // namespace

class TestSecureServer : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void newConnectionOnlyAfterHandshake();
    void listenRefusesBadConfiguration_data();
    void listenRefusesBadConfiguration();
    void twoWayAcceptsClientCertificate();
    void twoWayRefusesClient_data();
    void twoWayRefusesClient();
    void requestAcceptsClientWithoutCertificate();
    void defaultsServeClientsWithoutCertificate();
    void certificateVerifiesByIpAndName_data();
    void certificateVerifiesByIpAndName();
    void badClientIsDropped_data();
    void badClientIsDropped();
    void idleClientsAreEvicted();
    void fullSlotsAreKeptWhileNobodyWaits();
    void burstIsServedInTurn();
    void maxConnectionsHoldsTheRestInTheBacklog();
    void idleTimeoutClosesWithCloseNotify();
    void clientHandshakeTimesOut();
    void clientConnectTimesOut();
    void connectionCountSurvivesTheApplication();
    void connectionEndsInAnotherThread();
    void closeThroughBasePointerFreesThePort();
    void raisingTheWaitingMaximumResumes();
    void waitingConnectionsAreBounded();

private:
    SecureServer *startServer(std::optional<SecureServer::ClientCertificatePolicy> policy,
                              const QString &cert = QString(), const QString &key = QString());
    std::unique_ptr<SecureServer> serverTakenLate();
    std::unique_ptr<SecureSocket> client(const QString &cert = QString(),
                                         const QString &key = QString());
    bool waitForClient(SecureSocket *socket, int msecs = 10000);
    QByteArray captureClientHello();

    QTemporaryDir m_dir;
    servertest::Pki m_pki;
    QString m_python;
    std::unique_ptr<SecureServer> m_server;
    QList<QPointer<SecureSocket>> m_accepted; // handed out by the server, greeted
    QStringList m_failures;                   // handshakeFailed() reasons
    int m_newConnections = 0;
    bool m_allEncryptedWhenOffered = true;
};

void TestSecureServer::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pki = servertest::Pki::create(m_dir.path());
    m_python = servertest::writePythonClient(m_dir.path());
    g_printMessage = qInstallMessageHandler(captureServerLog);
}

void TestSecureServer::cleanup()
{
    // Whatever fails below, the next test starts afresh.
    const auto reset = qScopeGuard([this] {
        m_server.reset();
        m_failures.clear();
        g_serverLog.clear();
        m_newConnections = 0;
        m_allEncryptedWhenOffered = true;
    });
    if (!m_server)
        return;
    // A handshake the client saw finish may still be finishing on the server's side: what is
    // offered from now on is deleted too.
    QObject::disconnect(m_server.get(), &SecureServer::newConnection, this, nullptr);
    connect(m_server.get(), &SecureServer::newConnection, this, [server = m_server.get()] {
        while (SecureSocket *socket = server->nextPendingSecureConnection())
            socket->deleteLater();
    });
    for (const QPointer<SecureSocket> &socket : std::as_const(m_accepted))
        delete socket;
    m_accepted.clear();
    m_server->close();
    // Failed handshakes are deleted once their alert is out (at most a second): none may stay.
    QTRY_COMPARE_WITH_TIMEOUT(m_server->findChildren<SecureSocket *>().size(), 0, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(m_server->findChildren<QTcpSocket *>().size(), 0, 5000);
    QCOMPARE(m_server->pendingHandshakeCount(), 0);
    // Every failed handshake was logged once, with its reason.
    QVERIFY2(g_serverLog.filter(QStringLiteral("failed: ")).size() == m_failures.size(),
             qPrintable(g_serverLog.join('\n')));
    for (const QString &reason : std::as_const(m_failures))
        QVERIFY2(!g_serverLog.filter(reason).isEmpty(), qPrintable(reason));
}

// A server on 127.0.0.1, any port, that greets every connection it offers.
SecureServer *
TestSecureServer::startServer(std::optional<SecureServer::ClientCertificatePolicy> policy,
                              const QString &cert, const QString &key)
{
    m_server = std::make_unique<SecureServer>();
    SecureConfiguration config;
    config.setLocalCertificateChainFile(cert.isEmpty() ? m_pki.serverCert : cert);
    config.setPrivateKeyFile(key.isEmpty() ? m_pki.serverKey : key);
    config.setCaCertificatesFile(m_pki.clientCa);
    config.setUseSystemCaCertificates(false);
    m_server->setConfiguration(config);
    if (policy)
        m_server->setClientCertificatePolicy(*policy);
    SecureServer *server = m_server.get();
    connect(server, &SecureServer::newConnection, this, [this, server] {
        ++m_newConnections;
        while (SecureSocket *socket = server->nextPendingSecureConnection()) {
            m_allEncryptedWhenOffered = m_allEncryptedWhenOffered && socket->isEncrypted();
            socket->write(kGreeting);
            m_accepted.append(socket);
        }
    });
    connect(server, &SecureServer::handshakeFailed, this,
            [this](SecureSocket *, const QString &reason) { m_failures.append(reason); });
    if (!server->listen(QHostAddress::LocalHost, 0)) {
        qWarning("listen failed: %s", qPrintable(server->errorString()));
        return nullptr;
    }
    return server;
}

// A server of its own, not listening yet, whose application takes its connections late: one
// encrypted connection may wait to be taken.
std::unique_ptr<SecureServer> TestSecureServer::serverTakenLate()
{
    auto server = std::make_unique<SecureServer>();
    SecureConfiguration config;
    config.setLocalCertificateChainFile(m_pki.serverCert);
    config.setPrivateKeyFile(m_pki.serverKey);
    server->setConfiguration(config);
    server->setClientCertificatePolicy(SecureServer::NoClientCertificate);
    server->setMaxPendingConnections(1);
    return server;
}

// A client that trusts the test CA only, optionally with a client certificate.
std::unique_ptr<SecureSocket> TestSecureServer::client(const QString &cert, const QString &key)
{
    auto socket = std::make_unique<SecureSocket>();
    SecureConfiguration config;
    config.setCaCertificatesFile(m_pki.ca);
    config.setUseSystemCaCertificates(false);
    if (!cert.isEmpty()) {
        config.setLocalCertificateChainFile(cert);
        config.setPrivateKeyFile(key);
    }
    socket->setConfiguration(config);
    return socket;
}

// Runs the event loop (the server lives in this thread) until the client is encrypted or gone.
bool TestSecureServer::waitForClient(SecureSocket *socket, int msecs)
{
    waitUntil(
        [socket] {
            return socket->isEncrypted() || socket->state() == QAbstractSocket::UnconnectedState;
        },
        msecs);
    return socket->isEncrypted();
}

// A real ClientHello, as a SecureSocket client sends it.
QByteArray TestSecureServer::captureClientHello()
{
    QTcpServer capture;
    if (!capture.listen(QHostAddress::LocalHost, 0))
        return {};
    auto socket = client();
    socket->connectToHostEncrypted(QStringLiteral("localhost"), capture.serverPort());
    QByteArray hello;
    QTcpSocket *accepted = nullptr;
    waitUntil(
        [&] {
            if (!accepted && capture.hasPendingConnections())
                accepted = capture.nextPendingConnection();
            if (accepted)
                hello += accepted->readAll();
            // A TLS record: type, version (2 bytes), length (2 bytes), then the body.
            return hello.size() >= 5 &&
                   hello.size() >= 5 + ((quint8(hello[3]) << 8) | quint8(hello[4]));
        },
        5000);
    socket->abort();
    return hello;
}

void TestSecureServer::newConnectionOnlyAfterHandshake()
{
    SecureServer *server = startServer(SecureServer::NoClientCertificate);
    QVERIFY(server);
    QSignalSpy offered(server, &SecureServer::newConnection);

    // A TCP connection that never speaks TLS is never offered.
    QTcpSocket idle;
    idle.connectToHost(QHostAddress::LocalHost, server->serverPort());
    QTRY_COMPARE(server->pendingHandshakeCount(), 1);
    // Not yet offered; the counts below, one newConnection() per TLS client that follows, prove
    // that it never is.
    QCOMPARE(offered.count(), 0);
    QVERIFY(!server->hasPendingConnections());

    // Three clients, one after the other: exactly one newConnection() each, after encryption.
    for (int i = 0; i < 3; ++i) {
        auto socket = client();
        QByteArray greeting;
        connect(socket.get(), &QIODevice::readyRead, this,
                [&greeting, s = socket.get()] { greeting += s->readAll(); });
        socket->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
        QVERIFY2(waitForClient(socket.get()), qPrintable(socket->errorString()));
        QTRY_COMPARE(greeting, kGreeting);
        QCOMPARE(offered.count(), i + 1);
    }
    // And a QSslSocket client.
    QSslSocket qtClient;
    QSslConfiguration qtConfig = QSslConfiguration::defaultConfiguration();
    qtConfig.setCaCertificates(QSslCertificate::fromPath(m_pki.ca));
    qtClient.setSslConfiguration(qtConfig);
    qtClient.connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QTRY_VERIFY2_WITH_TIMEOUT(qtClient.isEncrypted(), qPrintable(qtClient.errorString()), 10000);
    QCOMPARE(readSome(&qtClient, kGreeting.size()), kGreeting);

    testsupport::deliverPostedEvents(); // a second emission would come from the event loop
    QCOMPARE(offered.count(), 4);
    QCOMPARE(m_newConnections, 4);
    QCOMPARE(m_accepted.size(), 4);
    QVERIFY(m_allEncryptedWhenOffered);
    for (const QPointer<SecureSocket> &socket : std::as_const(m_accepted)) {
        QVERIFY(socket);
        QCOMPARE(socket->mode(), SecureSocket::ServerMode);
        QVERIFY(!socket->sessionProtocol().isEmpty());
    }
    QCOMPARE(server->nextPendingSecureConnection(), nullptr);
    QCOMPARE(server->pendingHandshakeCount(), 1); // the idle one
    QVERIFY(m_failures.isEmpty());

    idle.abort();
    QTRY_COMPARE(server->pendingHandshakeCount(), 0);
    QCOMPARE(m_failures.size(), 1);
    QCOMPARE(offered.count(), 4);
}

void TestSecureServer::listenRefusesBadConfiguration_data()
{
    QTest::addColumn<QString>("cert");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QByteArray>("passphrase");
    QTest::addColumn<QString>("passphraseFile");
    QTest::addColumn<QString>("named"); // the file errorString() must name

    const QString missing = m_dir.filePath(QStringLiteral("missing.key"));
    QTest::newRow("missing key file")
        << m_pki.serverCert << missing << QByteArray() << QString() << missing;
    QTest::newRow("missing certificate file")
        << m_dir.filePath(QStringLiteral("missing.pem")) << m_pki.serverKey << QByteArray()
        << QString() << m_dir.filePath(QStringLiteral("missing.pem"));
    QTest::newRow("wrong passphrase")
        << m_pki.serverCert << m_pki.serverKeyEncrypted << QByteArray("wrong") << QString()
        << m_pki.serverKeyEncrypted;
    QTest::newRow("wrong passphrase file")
        << m_pki.serverCert << m_pki.serverKeyEncrypted << QByteArray() << m_pki.wrongPassphraseFile
        << m_pki.serverKeyEncrypted;
    QTest::newRow("no passphrase for an encrypted key")
        << m_pki.serverCert << m_pki.serverKeyEncrypted << QByteArray() << QString()
        << m_pki.serverKeyEncrypted;
    QTest::newRow("key not matching the certificate")
        << m_pki.serverCert << m_pki.otherKey << QByteArray() << QString() << m_pki.otherKey;
}

void TestSecureServer::listenRefusesBadConfiguration()
{
    QFETCH(QString, cert);
    QFETCH(QString, key);
    QFETCH(QByteArray, passphrase);
    QFETCH(QString, passphraseFile);
    QFETCH(QString, named);

    SecureServer server;
    SecureConfiguration config;
    config.setLocalCertificateChainFile(cert);
    config.setPrivateKeyFile(key);
    config.setPrivateKeyPassphrase(passphrase);
    config.setPrivateKeyPassphraseFile(passphraseFile);
    server.setConfiguration(config);
    QVERIFY(!server.listen(QHostAddress::LocalHost, 0));
    QVERIFY(!server.isListening());
    QCOMPARE(server.serverPort(), quint16(0));
    qInfo("errorString: %s", qPrintable(server.errorString()));
    QVERIFY2(server.errorString().contains(named), qPrintable(server.errorString()));

    // The same server listens once the configuration is right.
    config.setLocalCertificateChainFile(m_pki.serverCert);
    config.setPrivateKeyFile(m_pki.serverKeyEncrypted);
    config.setPrivateKeyPassphrase({});
    config.setPrivateKeyPassphraseFile(m_pki.passphraseFile);
    server.setConfiguration(config);
    QVERIFY2(server.listen(QHostAddress::LocalHost, 0), qPrintable(server.errorString()));
}

void TestSecureServer::twoWayAcceptsClientCertificate()
{
    SecureServer *server = startServer(SecureServer::RequireClientCertificate);
    QVERIFY(server);
    auto socket = client(m_pki.aliceCert, m_pki.aliceKey);
    socket->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QVERIFY2(waitForClient(socket.get()), qPrintable(socket->errorString()));
    QTRY_COMPARE(m_accepted.size(), 1);
    QVERIFY(m_failures.isEmpty());

    const SecureCertificate peer = m_accepted.first()->peerCertificate();
    QVERIFY(!peer.isNull());
    QCOMPARE(peer.subject(), QStringLiteral("CN=alice"));
    QCOMPARE(peer.commonName(), QStringLiteral("alice"));
    QCOMPARE(peer.issuer(), m_pki.clientCaName);
    QCOMPARE(peer.subjectAltNames(), QStringList{QStringLiteral("DNS:alice.example")});
    // The fingerprint, computed independently by Qt from the file the client used.
    const QList<QSslCertificate> alice = QSslCertificate::fromPath(m_pki.aliceCert);
    QCOMPARE(alice.size(), 1);
    QCOMPARE(peer.sha256Fingerprint(), alice.first().digest(QCryptographicHash::Sha256));
    QCOMPARE(readSome(socket.get(), kGreeting.size()), kGreeting);
}

void TestSecureServer::twoWayRefusesClient_data()
{
    QTest::addColumn<QString>("cert");
    QTest::addColumn<QString>("key");
    QTest::addColumn<int>("tls");
    QTest::addColumn<QStringList>("reason"); // every part must be in the server's reason
    QTest::addColumn<QString>("alert");      // the client learns why from this alert

    for (const int tls : {12, 13}) {
        const QByteArray suffix = tls == 12 ? " (TLS 1.2)" : " (TLS 1.3)";
        // TLS 1.3 has an alert of its own for this (RFC 8446: certificate_required).
        QTest::newRow("no certificate" + suffix)
            << QString() << QString() << tls << QStringList{"client certificate missing"}
            << (tls == 12 ? "handshake failure" : "certificate required");
        QTest::newRow("certificate from another CA" + suffix)
            << m_pki.malloryCert << m_pki.malloryKey << tls
            << QStringList{"unknown issuer", "CN=mallory", m_pki.otherCaName} << "unknown CA";
        QTest::newRow("expired certificate" + suffix)
            << m_pki.expiredCert << m_pki.expiredKey << tls
            << QStringList{"expired", "CN=old-alice"} << "certificate expired";
    }
}

void TestSecureServer::twoWayRefusesClient()
{
    QFETCH(QString, cert);
    QFETCH(QString, key);
    QFETCH(int, tls);
    QFETCH(QStringList, reason);
    QFETCH(QString, alert);

    SecureServer *server = startServer(SecureServer::RequireClientCertificate);
    QVERIFY(server);
    QSignalSpy offered(server, &SecureServer::newConnection);
    auto socket = client(cert, key);
    SecureConfiguration config = socket->configuration();
    const auto version = tls == 12 ? SecureConfiguration::Tls12 : SecureConfiguration::Tls13;
    config.setMinimumProtocol(version);
    config.setMaximumProtocol(version);
    socket->setConfiguration(config);
    QByteArray received;
    connect(socket.get(), &QIODevice::readyRead, this,
            [&received, s = socket.get()] { received += s->readAll(); });
    socket->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());

    QTRY_COMPARE_WITH_TIMEOUT(m_failures.size(), 1, 10000);
    qInfo("reason: %s", qPrintable(m_failures.first()));
    for (const QString &part : reason)
        QVERIFY2(m_failures.first().contains(part), qPrintable(m_failures.first()));
    // The client is disconnected and has received no application data (no greeting).
    QTRY_COMPARE_WITH_TIMEOUT(socket->state(), QAbstractSocket::UnconnectedState, 5000);
    qInfo("client saw: %s", qPrintable(socket->errorString()));
    received += socket->readAll();
    QCOMPARE(received, QByteArray());
    QCOMPARE(offered.count(), 0);
    QVERIFY(m_accepted.isEmpty());
    // The server's alert reached the client before the connection closed.
    QVERIFY2(socket->errorString().contains("alert '" + alert + "'"),
             qPrintable(socket->errorString()));
}

void TestSecureServer::requestAcceptsClientWithoutCertificate()
{
    SecureServer *server = startServer(SecureServer::RequestClientCertificate);
    QVERIFY(server);
    auto anonymous = client();
    anonymous->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QVERIFY2(waitForClient(anonymous.get()), qPrintable(anonymous->errorString()));
    QTRY_COMPARE(m_accepted.size(), 1);
    QVERIFY(m_accepted.first()->peerCertificate().isNull());
    QCOMPARE(readSome(anonymous.get(), kGreeting.size()), kGreeting);

    // A client that does send one is verified, and its certificate is seen.
    auto alice = client(m_pki.aliceCert, m_pki.aliceKey);
    alice->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QVERIFY2(waitForClient(alice.get()), qPrintable(alice->errorString()));
    QTRY_COMPARE(m_accepted.size(), 2);
    QCOMPARE(m_accepted.last()->peerCertificate().subject(), QStringLiteral("CN=alice"));
    QVERIFY(m_failures.isEmpty());
}

// Qt's examples ported to SecureServer change nothing but the types: with default settings, as
// with QSslServer (AutoVerifyPeer), a client certificate is asked for but never required. So
// is a server-side SecureSocket made the QSslSocket way, and one given a QSslConfiguration.
void TestSecureServer::defaultsServeClientsWithoutCertificate()
{
    SecureServer *server = startServer(std::nullopt);
    QVERIFY(server);
    QCOMPARE(server->configuration().peerVerifyMode(), SecureConfiguration::AutoVerifyPeer);
    QCOMPARE(server->clientCertificatePolicy(), SecureServer::RequestClientCertificate);
    auto anonymous = client();
    anonymous->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QVERIFY2(waitForClient(anonymous.get()), qPrintable(anonymous->errorString()));
    QCOMPARE(readSome(anonymous.get(), kGreeting.size()), kGreeting);
    auto alice = client(m_pki.aliceCert, m_pki.aliceKey);
    alice->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QVERIFY2(waitForClient(alice.get()), qPrintable(alice->errorString()));
    QTRY_COMPARE(m_accepted.size(), 2);
    QVERIFY(m_accepted.first()->peerCertificate().isNull());
    QCOMPARE(m_accepted.last()->peerCertificate().subject(), QStringLiteral("CN=alice"));
    QVERIFY(m_failures.isEmpty());

    // The QSslSocket way: setSocketDescriptor(), certificate and key, startServerEncryption().
    const QSslCertificate qtCert = QSslCertificate::fromPath(m_pki.serverCert).value(0);
    QFile keyFile(m_pki.serverKey);
    QVERIFY(keyFile.open(QIODevice::ReadOnly));
    const QSslKey qtKey(&keyFile, QSsl::Ec);
    for (const bool imported : {false, true}) {
        QTcpServer listener;
        QVERIFY(listener.listen(QHostAddress::LocalHost, 0));
        QSslSocket qtClient;
        QSslConfiguration qtConfig = QSslConfiguration::defaultConfiguration();
        qtConfig.setCaCertificates(QSslCertificate::fromPath(m_pki.ca));
        qtClient.setSslConfiguration(qtConfig);
        qtClient.connectToHostEncrypted(QStringLiteral("localhost"), listener.serverPort());
        QVERIFY(listener.waitForNewConnection(5000));
        QTcpSocket *accepted = listener.nextPendingConnection();
        SecureSocket serverSide;
        // A duplicate: the accepted QTcpSocket closes its own descriptor, not the connection.
        QVERIFY(serverSide.setSocketDescriptor(::dup(int(accepted->socketDescriptor()))));
        delete accepted;
        if (imported) {
            QSslConfiguration serverConfig = QSslConfiguration::defaultConfiguration();
            QCOMPARE(serverConfig.peerVerifyMode(), QSslSocket::AutoVerifyPeer);
            serverConfig.setLocalCertificate(qtCert);
            serverConfig.setPrivateKey(qtKey);
            serverSide.setConfiguration(serverConfig);
            QCOMPARE(serverSide.configuration().peerVerifyMode(),
                     SecureConfiguration::AutoVerifyPeer);
        } else {
            serverSide.setLocalCertificate(m_pki.serverCert);
            serverSide.setPrivateKey(m_pki.serverKey);
        }
        serverSide.startServerEncryption();
        QTRY_VERIFY2_WITH_TIMEOUT(
            serverSide.isEncrypted() && qtClient.isEncrypted(),
            qPrintable(serverSide.errorString() + " / " + qtClient.errorString()), 10000);
        serverSide.write(kGreeting);
        QCOMPARE(readSome(&qtClient, kGreeting.size()), kGreeting);
        QVERIFY(serverSide.peerCertificate().isNull());
    }
}

void TestSecureServer::certificateVerifiesByIpAndName_data()
{
    QTest::addColumn<QString>("host");
    QTest::addColumn<bool>("dnsOnlyCertificate");
    QTest::addColumn<bool>("verifies");

    QTest::newRow("DNS:localhost") << "localhost" << false << true;
    QTest::newRow("IP:127.0.0.1") << "127.0.0.1" << false << true;
    // The control: the IP address really is checked.
    QTest::newRow("127.0.0.1 against a DNS-only certificate") << "127.0.0.1" << true << false;
}

void TestSecureServer::certificateVerifiesByIpAndName()
{
    QFETCH(QString, host);
    QFETCH(bool, dnsOnlyCertificate);
    QFETCH(bool, verifies);

    SecureServer *server = dnsOnlyCertificate ? startServer(SecureServer::NoClientCertificate,
                                                            m_pki.dnsOnlyCert, m_pki.dnsOnlyKey)
                                              : startServer(SecureServer::NoClientCertificate);
    QVERIFY(server);
    auto socket = client();
    QStringList certFailures;
    connect(socket.get(), &SecureSocket::certCheckFailed, this,
            [&certFailures](int, const QString &reason) { certFailures << reason; });
    socket->connectToHostEncrypted(host, server->serverPort());
    QCOMPARE(waitForClient(socket.get()), verifies);
    if (verifies) {
        QVERIFY2(certFailures.isEmpty(), qPrintable(certFailures.join('\n')));
        QCOMPARE(readSome(socket.get(), kGreeting.size()), kGreeting);
    } else {
        QCOMPARE(certFailures.size(), 1);
        QVERIFY2(certFailures.first().contains(QLatin1String("IP address mismatch")),
                 qPrintable(certFailures.first()));
        QTRY_COMPARE(m_failures.size(), 1); // the server saw the client's alert
    }
}

void TestSecureServer::badClientIsDropped_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("reason");

    QTest::newRow("plain HTTP request") << "http"
                                        << "plain HTTP";
    QTest::newRow("random bytes") << "random"
                                  << "not valid TLS";
    QTest::newRow("half a ClientHello, then silence") << "half-hello"
                                                      << "timed out";
    QTest::newRow("TLS 1.0 only client") << "tls1.0"
                                         << "older than";
}

void TestSecureServer::badClientIsDropped()
{
    QFETCH(QString, kind);
    QFETCH(QString, reason);

    const int timeout = kind == QLatin1String("half-hello") ? 500 : 3000;
    SecureServer *server = startServer(SecureServer::NoClientCertificate);
    QVERIFY(server);
    server->setHandshakeTimeout(timeout);

    QTcpSocket raw;
    PeerProcess python;
    QElapsedTimer sinceBadClient;
    sinceBadClient.start();
    if (kind == QLatin1String("tls1.0")) {
        QVERIFY2(python.start(QStringLiteral("python3"),
                              {m_python, "--port", QString::number(server->serverPort()), "--tls",
                               "1.0", "--insecure", "--timeout", "10"}),
                 qPrintable(python.describe()));
    } else {
        QByteArray bytes;
        if (kind == QLatin1String("http")) {
            bytes = "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n";
        } else if (kind == QLatin1String("random")) {
            QRandomGenerator random(4242);
            bytes.resize(512);
            random.fillRange(reinterpret_cast<quint32 *>(bytes.data()), bytes.size() / 4);
            bytes[0] = '\x5a'; // not a TLS record type, not SSLv2, not an HTTP method
        } else {
            const QByteArray hello = captureClientHello();
            QVERIFY(hello.size() > 100);
            bytes = hello.left(hello.size() / 2);
        }
        raw.connectToHost(QHostAddress::LocalHost, server->serverPort());
        QVERIFY(raw.waitForConnected(5000));
        raw.write(bytes);
    }
    QTRY_VERIFY(server->pendingHandshakeCount() == 1 || !m_failures.isEmpty());

    // A good client connecting meanwhile is served at once.
    auto good = client();
    QElapsedTimer goodTime;
    goodTime.start();
    good->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QVERIFY2(waitForClient(good.get()), qPrintable(good->errorString()));
    qInfo("good client encrypted after %lld ms", static_cast<long long>(goodTime.elapsed()));
    QVERIFY(goodTime.elapsed() < 1000);
    if (kind == QLatin1String("half-hello"))
        QVERIFY(m_failures.isEmpty()); // served while the bad one still hangs
    QCOMPARE(readSome(good.get(), kGreeting.size()), kGreeting);

    QTRY_COMPARE_WITH_TIMEOUT(m_failures.size(), 1, 10000);
    qInfo("reason: %s", qPrintable(m_failures.first()));
    QVERIFY2(m_failures.first().contains(reason), qPrintable(m_failures.first()));
    if (kind == QLatin1String("half-hello")) {
        QVERIFY(sinceBadClient.elapsed() >= timeout);
        QVERIFY(sinceBadClient.elapsed() < timeout + 2000);
    }
    if (kind == QLatin1String("tls1.0")) {
        QVERIFY2(python.waitForExit(10000), qPrintable(python.describe()));
        const servertest::ClientResult result =
            servertest::parseClientResult(python.standardOutput());
        QVERIFY2(result.parsed && !result.ok, qPrintable(python.describe()));
        qInfo("python client: %s", qPrintable(result.error));
    } else {
        QTRY_COMPARE_WITH_TIMEOUT(raw.state(), QAbstractSocket::UnconnectedState, 5000);
    }
    QCOMPARE(m_accepted.size(), 1); // the good one only
}

// Clients that connect and never speak fill every handshake slot; the clients behind them wait
// in the listen backlog (never accepted, never dropped), and the silent ones are evicted after
// a second to make room, a slot-full at a time. Before admission control, the server accepted
// everything and dropped the oldest handshake in progress, whoever it was.
void TestSecureServer::idleClientsAreEvicted()
{
    constexpr int kIdle = 100;
    constexpr int kBound = 50;
    constexpr int kTimeout = 10000;
    SecureServer *server = startServer(SecureServer::NoClientCertificate);
    QVERIFY(server);
    server->setMaxPendingHandshakes(kBound);
    server->setHandshakeTimeout(kTimeout);
    int mostPending = 0;
    QTimer sampler;
    connect(&sampler, &QTimer::timeout, this,
            [&] { mostPending = std::max(mostPending, server->pendingHandshakeCount()); });
    sampler.start(1);

    std::vector<std::unique_ptr<QTcpSocket>> idle;
    QElapsedTimer clock;
    clock.start();
    for (int i = 0; i < kIdle; ++i) {
        idle.push_back(std::make_unique<QTcpSocket>());
        idle.back()->connectToHost(QHostAddress::LocalHost, server->serverPort());
    }
    QTRY_COMPARE_WITH_TIMEOUT(server->pendingHandshakeCount(), kBound, 5000);
    // The rest stay in the backlog: nobody is dropped yet. No event marks "nothing dropped",
    // so this settles for a while.
    QTest::qWait(300);
    QCOMPARE(m_failures.size(), 0);
    QCOMPARE(server->pendingHandshakeCount(), kBound);

    // A good client behind them is served once the silent ones ahead of it are evicted.
    auto good = client();
    good->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QVERIFY2(waitForClient(good.get(), kTimeout), qPrintable(good->errorString()));
    qInfo("good client encrypted after %lld ms, behind %d silent clients (%d evicted)",
          static_cast<long long>(clock.elapsed()), kIdle, int(m_failures.size()));
    QVERIFY(clock.elapsed() < kTimeout / 2);
    QCOMPARE(readSome(good.get(), kGreeting.size()), kGreeting);
    QVERIFY(m_failures.size() >= kIdle - kBound);
    for (const QString &reason : std::as_const(m_failures))
        QVERIFY2(reason.startsWith(QLatin1String("evicted: no progress for 1000 ms")),
                 qPrintable(reason));
    QVERIFY2(mostPending <= kBound, qPrintable(QString::number(mostPending)));

    idle.clear();
    QTRY_COMPARE_WITH_TIMEOUT(server->pendingHandshakeCount(), 0, 5000);
    QCOMPARE(m_failures.size(), kIdle);
}

// Silent clients in every slot, and nobody waiting behind them: nothing is evicted before the
// handshake timeout (a slow client is only pushed out for one that waits).
void TestSecureServer::fullSlotsAreKeptWhileNobodyWaits()
{
    constexpr int kBound = 10;
    SecureServer *server = startServer(SecureServer::NoClientCertificate);
    QVERIFY(server);
    server->setMaxPendingHandshakes(kBound);
    server->setHandshakeTimeout(3000);
    std::vector<std::unique_ptr<QTcpSocket>> idle;
    for (int i = 0; i < kBound; ++i) {
        idle.push_back(std::make_unique<QTcpSocket>());
        idle.back()->connectToHost(QHostAddress::LocalHost, server->serverPort());
    }
    QTRY_COMPARE_WITH_TIMEOUT(server->pendingHandshakeCount(), kBound, 5000);
    QTest::qWait(1800); // time passing is the point: no timeout before the 3 s are up
    QCOMPARE(m_failures.size(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(m_failures.size(), kBound, 5000); // the handshake timeout
    for (const QString &reason : std::as_const(m_failures))
        QVERIFY2(reason.startsWith(QLatin1String("handshake timed out after 3000 ms")),
                 qPrintable(reason));
}

// Many clients at once against few handshake slots: every one is served, byte-exact, and no
// handshake is dropped; the slots are never exceeded. (The echoserver test runs the same with
// 1 MiB per client and a separate client process.)
void TestSecureServer::burstIsServedInTurn()
{
    constexpr int kClients = 200;
    constexpr int kBound = 8;
    SecureServer *server = startServer(SecureServer::NoClientCertificate);
    QVERIFY(server);
    server->setMaxPendingHandshakes(kBound);
    int mostPending = 0;
    connect(server, &SecureServer::newConnection, this, [&] {
        mostPending = std::max(mostPending, server->pendingHandshakeCount() + 1);
        for (const QPointer<SecureSocket> &socket : std::as_const(m_accepted)) {
            if (socket && !socket->property("echo").toBool()) {
                socket->setProperty("echo", true);
                connect(socket, &SecureSocket::readyRead, socket,
                        [s = socket.data()] { s->write(s->readAll()); });
            }
        }
    });
    std::vector<std::unique_ptr<SecureSocket>> clients;
    QByteArray payload(16 * 1024, Qt::Uninitialized);
    for (qsizetype i = 0; i < payload.size(); ++i)
        payload[i] = char(QRandomGenerator::global()->bounded(256));
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(client());
        clients.back()->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
        clients.back()->write(payload); // queued until encrypted
    }
    QElapsedTimer clock;
    clock.start();
    QVERIFY(waitUntil(
        [&] {
            return std::all_of(clients.begin(), clients.end(), [&](const auto &c) {
                return c->bytesAvailable() >= kGreeting.size() + payload.size() ||
                       c->state() == QAbstractSocket::UnconnectedState;
            });
        },
        60000));
    int served = 0;
    for (const auto &c : clients) {
        const QByteArray got = c->readAll();
        if (got == kGreeting + payload)
            ++served;
        else
            qWarning("client: %s (%lld bytes)", qPrintable(c->errorString()),
                     static_cast<long long>(got.size()));
    }
    qInfo("%d of %d clients served byte-exact in %lld ms, at most %d handshakes at once", served,
          kClients, static_cast<long long>(clock.elapsed()), mostPending);
    QCOMPARE(served, kClients);
    QCOMPARE(m_failures, QStringList());
    QVERIFY2(mostPending <= kBound, qPrintable(QString::number(mostPending)));
}

// Beyond maxConnections(), clients wait in the backlog (not refused) until one closes.
void TestSecureServer::maxConnectionsHoldsTheRestInTheBacklog()
{
    SecureServer *server = startServer(SecureServer::NoClientCertificate);
    QVERIFY(server);
    server->setMaxConnections(3);
    std::vector<std::unique_ptr<SecureSocket>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(client());
        clients.back()->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
        QVERIFY2(waitForClient(clients.back().get()), qPrintable(clients.back()->errorString()));
    }
    QTRY_COMPARE(server->connectionCount(), 3);
    auto fourth = client();
    fourth->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    // No event marks "not accepted": it would be encrypted within this settle if it were.
    QTest::qWait(500);
    QVERIFY(!fourth->isEncrypted());
    QCOMPARE(fourth->state(), QAbstractSocket::ConnectedState); // in the kernel's backlog
    QCOMPARE(server->connectionCount(), 3);
    QVERIFY(!g_serverLog.filter(QStringLiteral("3 connections open, the maximum")).isEmpty());

    // One leaves (the server's side of it is deleted by the application): the next gets in.
    clients.front()->disconnectFromHost();
    QVERIFY2(waitForClient(fourth.get()), qPrintable(fourth->errorString()));
    QCOMPARE(readSome(fourth.get(), kGreeting.size()), kGreeting);
    QCOMPARE(server->connectionCount(), 3);
    QCOMPARE(m_failures, QStringList());
}

// A connection on which nothing moves is closed after the idle timeout with close_notify (the
// client sees an orderly close, not a truncation); one that keeps talking stays.
void TestSecureServer::idleTimeoutClosesWithCloseNotify()
{
    constexpr int kIdleMs = 400;
    SecureServer *server = startServer(SecureServer::NoClientCertificate);
    QVERIFY(server);
    server->setIdleTimeout(kIdleMs);
    auto quiet = client();
    auto busy = client();
    for (SecureSocket *c : {quiet.get(), busy.get()}) {
        c->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
        QVERIFY2(waitForClient(c), qPrintable(c->errorString()));
        QCOMPARE(readSome(c, kGreeting.size()), kGreeting);
    }
    QTRY_COMPARE(m_accepted.size(), 2);
    for (const QPointer<SecureSocket> &socket : std::as_const(m_accepted))
        QCOMPARE(socket->idleTimeout(), kIdleMs);
    QSignalSpy serverSideError(m_accepted.first().data(), &SecureSocket::errorOccurred);
    QTimer talk;
    connect(&talk, &QTimer::timeout, this, [&] {
        busy->write("x");
        busy->readAll();
    });
    talk.start(kIdleMs / 4);
    QElapsedTimer clock;
    clock.start();
    QVERIFY(waitUntil([&] { return quiet->state() == QAbstractSocket::UnconnectedState; }, 5000));
    const qint64 took = clock.elapsed();
    qInfo("idle connection closed after %lld ms (timeout %d ms)", static_cast<long long>(took),
          kIdleMs);
    QVERIFY(took >= kIdleMs - 50 && took < 5 * kIdleMs); // 1.25 x, but a loaded machine is slow
    QCOMPARE(quiet->error(), QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(quiet->tlsError(), SecureSocket::NoTlsError); // close_notify, not a truncation
    QCOMPARE(serverSideError.count(), 1);
    QCOMPARE(serverSideError.first().first().value<QAbstractSocket::SocketError>(),
             QAbstractSocket::SocketTimeoutError);
    if (m_accepted.first())
        QCOMPARE(m_accepted.first()->tlsError(), SecureSocket::IdleTimedOut);
    QTest::qWait(3 * kIdleMs);
    QCOMPARE(busy->state(), QAbstractSocket::ConnectedState);
    QVERIFY(busy->isEncrypted());
}

// A server that accepts the TCP connection and never answers: the client's handshake times
// out with a sentence, instead of leaving connectToHostEncrypted() pending for ever.
void TestSecureServer::clientHandshakeTimesOut()
{
    QVERIFY(SecureConfiguration().handshakeTimeout() == 30000);
    QTcpServer silent;
    QVERIFY(silent.listen(QHostAddress::LocalHost, 0));
    auto socket = client();
    SecureConfiguration config = socket->configuration();
    config.setHandshakeTimeout(500);
    socket->setConfiguration(config);
    QSignalSpy errors(socket.get(), &SecureSocket::errorOccurred);
    QElapsedTimer clock;
    clock.start();
    socket->connectToHostEncrypted(QStringLiteral("localhost"), silent.serverPort());
    QVERIFY(waitUntil([&] { return socket->state() == QAbstractSocket::UnconnectedState; }, 5000));
    qInfo("%s (after %lld ms)", qPrintable(socket->errorString()),
          static_cast<long long>(clock.elapsed()));
    QVERIFY(clock.elapsed() >= 450 && clock.elapsed() < 3000);
    QCOMPARE(errors.count(), 1);
    QCOMPARE(socket->error(), QAbstractSocket::SocketTimeoutError);
    QCOMPARE(socket->tlsError(), SecureSocket::HandshakeTimedOut);
    QVERIFY2(socket->errorString().contains(QStringLiteral("TLS handshake with localhost:")) &&
                 socket->errorString().contains(QStringLiteral("timed out after 500 ms")),
             qPrintable(socket->errorString()));
    QVERIFY(!socket->isEncrypted());
}

// A listener whose accept queue is full drops the SYN: the TCP connection never completes, and
// the same timeout ends the attempt, saying that no connection was made.
void TestSecureServer::clientConnectTimesOut()
{
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    QVERIFY(listener >= 0);
    const auto closeListener = qScopeGuard([listener] { ::close(listener); });
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    QVERIFY(::bind(listener, reinterpret_cast<sockaddr *>(&address), length) == 0);
    QVERIFY(::listen(listener, 0) == 0); // never accepted: one connection fills the queue
    QVERIFY(::getsockname(listener, reinterpret_cast<sockaddr *>(&address), &length) == 0);
    const quint16 port = ntohs(address.sin_port);
    std::vector<std::unique_ptr<QTcpSocket>> fillers;
    for (int i = 0; i < 2; ++i) {
        fillers.push_back(std::make_unique<QTcpSocket>());
        fillers.back()->connectToHost(QHostAddress::LocalHost, port);
    }
    QTest::qWait(200);

    auto socket = client();
    SecureConfiguration config = socket->configuration();
    config.setHandshakeTimeout(500);
    socket->setConfiguration(config);
    socket->connectToHostEncrypted(QStringLiteral("127.0.0.1"), port);
    QVERIFY(waitUntil([&] { return socket->state() == QAbstractSocket::UnconnectedState; }, 5000));
    qInfo("%s", qPrintable(socket->errorString()));
    QCOMPARE(socket->error(), QAbstractSocket::SocketTimeoutError);
    QCOMPARE(socket->tlsError(), SecureSocket::HandshakeTimedOut);
    QCOMPARE(socket->errorString(), QStringLiteral("connection to 127.0.0.1:%1 timed out after "
                                                   "500 ms (no TCP connection yet)")
                                        .arg(port));
}

// The open-connection count is kept by the sockets themselves: an application that cuts every
// signal connection of a handed-out socket (socket->disconnect(); deleteLater()) does not leak
// a place, and neither does one that keeps a closed socket around.
void TestSecureServer::connectionCountSurvivesTheApplication()
{
    SecureServer *server = startServer(SecureServer::NoClientCertificate);
    QVERIFY(server);
    server->setMaxConnections(1);
    for (int round = 0; round < 3; ++round) {
        auto c = client();
        c->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
        QVERIFY2(waitForClient(c.get()), qPrintable(c->errorString()));
        QTRY_COMPARE(m_accepted.size(), 1);
        QCOMPARE(server->connectionCount(), 1);
        SecureSocket *accepted = m_accepted.takeFirst();
        if (round == 0) { // cut every connection, then delete later
            accepted->disconnect();
            accepted->deleteLater();
        } else if (round == 1) { // closed, kept
            accepted->setParent(nullptr);
            accepted->abort();
            QTimer::singleShot(0, accepted, &QObject::deleteLater);
        } else { // the client leaves
            c->disconnectFromHost();
            QTRY_COMPARE(accepted->state(), QAbstractSocket::UnconnectedState);
        }
        QTRY_COMPARE(server->connectionCount(), 0);
        if (round == 2)
            delete accepted;
    }
    QCOMPARE(m_failures, QStringList());
}

// A handed-out connection moved to another thread ends there: its place is given back to the
// server in the server's thread (ThreadSanitizer runs this).
void TestSecureServer::connectionEndsInAnotherThread()
{
    SecureServer *server = startServer(SecureServer::NoClientCertificate);
    QVERIFY(server);
    server->setMaxConnections(2);
    QThread worker;
    worker.start();
    const auto cleanup = qScopeGuard([&] {
        worker.quit();
        worker.wait();
    });
    std::vector<std::unique_ptr<SecureSocket>> clients;
    for (int i = 0; i < 2; ++i) {
        clients.push_back(client());
        clients.back()->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
        QVERIFY2(waitForClient(clients.back().get()), qPrintable(clients.back()->errorString()));
    }
    QTRY_COMPARE(m_accepted.size(), 2);
    QCOMPARE(server->connectionCount(), 2);
    for (const QPointer<SecureSocket> &socket : std::as_const(m_accepted)) {
        socket->setParent(nullptr);
        socket->moveToThread(&worker);
        // There: one is closed by the server side, the other deleted while connected.
        QMetaObject::invokeMethod(socket, [s = socket.data(), first = socket == m_accepted[0]] {
            if (first)
                s->disconnectFromHost();
            else
                delete s;
        });
    }
    QVERIFY(
        waitUntil([&] { return clients[0]->state() == QAbstractSocket::UnconnectedState; }, 5000));
    QTRY_COMPARE(server->connectionCount(), 0);
    QMetaObject::invokeMethod(m_accepted[0], &QObject::deleteLater);
    m_accepted.clear();
}

// QTcpServer::close() called through a base pointer stops the server's own accept loop and
// frees the port (the duplicate descriptor it accepts on is closed with Qt's).
void TestSecureServer::closeThroughBasePointerFreesThePort()
{
    SecureServer *server = startServer(SecureServer::NoClientCertificate);
    QVERIFY(server);
    const quint16 port = server->serverPort();
    static_cast<QTcpServer *>(server)->close();
    QVERIFY(!server->isListening());
    QTcpServer other;
    QVERIFY(waitUntil([&] { return other.listen(QHostAddress::LocalHost, port); }, 2000));
    other.close();
    QVERIFY2(server->listen(QHostAddress::LocalHost, port), qPrintable(server->errorString()));
    auto c = client();
    c->connectToHostEncrypted(QStringLiteral("localhost"), port);
    QVERIFY2(waitForClient(c.get()), qPrintable(c->errorString()));

    // Closed and listening again in the same turn of the event loop (the old socket engine is
    // deleted later, while the new one listens): the server goes on accepting.
    for (QTcpServer *base : std::initializer_list<QTcpServer *>{server, nullptr}) {
        if (base)
            base->close();
        else
            server->close();
        QVERIFY2(server->listen(QHostAddress::LocalHost, 0), qPrintable(server->errorString()));
        // As the event loop would, once the slot that did this returns.
        QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
        auto next = client();
        next->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
        QVERIFY2(waitForClient(next.get()), qPrintable(next->errorString()));
    }
}

// setMaxPendingConnections() through SecureServer is seen at once: raising it lets a client that
// waits in the backlog in, without any connection being taken.
void TestSecureServer::raisingTheWaitingMaximumResumes()
{
    auto server = serverTakenLate();
    QVERIFY2(server->listen(QHostAddress::LocalHost, 0), qPrintable(server->errorString()));
    auto first = client();
    first->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QVERIFY2(waitForClient(first.get()), qPrintable(first->errorString()));
    // The client is encrypted before the server has its Finished (TLS 1.3): wait for the server.
    QTRY_VERIFY(server->hasPendingConnections());
    auto second = client();
    second->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    // No event marks "not accepted": it would be encrypted within this settle if it were.
    QTest::qWait(300);
    QVERIFY(!second->isEncrypted());
    server->setMaxPendingConnections(2);
    QVERIFY2(waitForClient(second.get()), qPrintable(second->errorString()));
}

void TestSecureServer::waitingConnectionsAreBounded()
{
    auto server = serverTakenLate();
    QSignalSpy available(server.get(), &QTcpServer::pendingConnectionAvailable);
    QSignalSpy offered(server.get(), &SecureServer::newConnection);
    QVERIFY2(server->listen(QHostAddress::LocalHost, 0), qPrintable(server->errorString()));

    auto first = client();
    first->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QVERIFY2(waitForClient(first.get()), qPrintable(first->errorString()));
    QTRY_COMPARE(offered.count(), 1);
    QCOMPARE(available.count(), 1);
    QVERIFY(server->hasPendingConnections());

    // One connection waits to be taken: the next one is not accepted meanwhile.
    auto second = client();
    second->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    // No event marks "not accepted": it would be encrypted within this settle if it were.
    QTest::qWait(300);
    QVERIFY(!second->isEncrypted());
    QCOMPARE(server->pendingHandshakeCount(), 0);

    // Taking it resumes accepting.
    std::unique_ptr<SecureSocket> taken(server->nextPendingSecureConnection());
    QVERIFY(taken && taken->isEncrypted());
    taken->setParent(nullptr);
    QVERIFY2(waitForClient(second.get()), qPrintable(second->errorString()));
    QTRY_COMPARE(offered.count(), 2);
    QCOMPARE(available.count(), 2);

    // A waiting connection deleted before it is taken is skipped, never returned dangling, and
    // makes room: accepting resumes.
    QVERIFY(server->hasPendingConnections());
    QCOMPARE(server->findChildren<SecureSocket *>().size(), 1);
    delete server->findChildren<SecureSocket *>().value(0);
    QVERIFY(!server->hasPendingConnections());
    auto third = client();
    third->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QVERIFY2(waitForClient(third.get()), qPrintable(third->errorString()));
    QTRY_COMPARE(offered.count(), 3);
    SecureSocket *waiting = server->nextPendingSecureConnection();
    QVERIFY(waiting && waiting->isEncrypted());
    QCOMPARE(waiting->peerPort(), third->localPort());
    QCOMPARE(server->nextPendingConnection(), nullptr);

    // The server goes away with a handshake in progress and a connection waiting.
    QTcpSocket idle;
    idle.connectToHost(QHostAddress::LocalHost, server->serverPort());
    QTRY_COMPARE(server->pendingHandshakeCount(), 1);
    auto fourth = client();
    fourth->connectToHostEncrypted(QStringLiteral("localhost"), server->serverPort());
    QVERIFY2(waitForClient(fourth.get()), qPrintable(fourth->errorString()));
    // In TLS 1.3 the client is encrypted a moment before the server has read its Finished.
    QTRY_VERIFY(server->hasPendingConnections());
    server.reset();
    QTRY_COMPARE(idle.state(), QAbstractSocket::UnconnectedState);
}

QTEST_MAIN(TestSecureServer)
#include "tst_secureserver.moc"
