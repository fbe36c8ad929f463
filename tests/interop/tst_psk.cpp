// Pre-shared keys (TLS-PSK): our client against `openssl s_server -psk`, `openssl s_client -psk`
// against SecureServer, and our own sockets together, in TLS 1.3 (external PSK) and TLS 1.2 (PSK
// suites); keys from the configuration and from preSharedKeyAuthenticationRequired() slots; a
// wrong key, an unknown identity and bad settings each fail with a clear error.
#include <SecureSocket/secureconfiguration.h>
#include <SecureSocket/secureserver.h>
#include <SecureSocket/securesocket.h>

#include "handshake.h"
#include "peerprocess.h"

#include <QTest>

#include <memory>

namespace {

const QByteArray kIdentity = "sensor-17";
const QByteArray kKey = QByteArray::fromHex("00112233445566778899aabbccddeeff0123456789abcdef");
const QString kAccept = QStringLiteral("^ACCEPT 127\\.0\\.0\\.1:(\\d+)$");

SecureConfiguration pskClient(const QByteArray &identity = kIdentity, const QByteArray &key = kKey)
{
    SecureConfiguration config;
    config.setPreSharedKey(identity, key);
    return config;
}

// A SecureServer with pre-shared keys and no certificate that echoes what it receives, and
// remembers the reasons of the handshakes it failed.
struct PskServer
{
    SecureServer server;
    QStringList failures;
    QList<QByteArray> identities; // of the connections it served

    explicit PskServer(const SecureConfiguration &config)
    {
        server.setConfiguration(config);
        QObject::connect(&server, &SecureServer::handshakeFailed, &server,
                         [this](SecureSocket *, const QString &reason) { failures << reason; });
        QObject::connect(&server, &SecureServer::newConnection, &server, [this] {
            while (SecureSocket *socket = server.nextPendingSecureConnection()) {
                identities << socket->preSharedKeyIdentity();
                QObject::connect(socket, &QIODevice::readyRead, socket,
                                 [socket] { socket->write(socket->readAll()); });
                QObject::connect(socket, &QAbstractSocket::disconnected, socket,
                                 &QObject::deleteLater);
            }
        });
    }
};

// Connects a client with config, sends a line and returns what came back ("" on failure, with
// the socket's error in *error).
QByteArray echo(const SecureConfiguration &config, quint16 port, SecureSocket &socket,
                QString *error)
{
    socket.setConfiguration(config);
    QByteArray received;
    QObject::connect(&socket, &QIODevice::readyRead, &socket,
                     [&] { received += socket.readAll(); });
    socket.connectToHostEncrypted(QStringLiteral("127.0.0.1"), port);
    socket.write("ping\n");
    testsupport::waitUntil(
        [&] {
            return received.endsWith('\n') || socket.state() == QAbstractSocket::UnconnectedState;
        },
        10000);
    *error = socket.errorString();
    return received;
}

} // namespace

class tst_Psk : public QObject
{
    Q_OBJECT

private slots:
    void opensslServer_data();
    void opensslServer();
    void opensslServerWrongKey();
    void opensslClient_data();
    void opensslClient();
    void opensslClientWrongKeyOrIdentity_data();
    void opensslClientWrongKeyOrIdentity();
    void ourSocketsWithSlots_data();
    void ourSocketsWithSlots();
    void badSettings_data();
    void badSettings();
};

void tst_Psk::opensslServer_data()
{
    QTest::addColumn<QString>("version");
    QTest::addColumn<QString>("protocol");
    QTest::addColumn<QString>("cipher");
    // TLS 1.3: any suite whose hash is SHA-256, as OpenSSL requires of an external PSK.
    QTest::newRow("TLS 1.3") << "-tls1_3"
                             << "TLSv1.3"
                             << "SHA256";
    QTest::newRow("TLS 1.2") << "-tls1_2"
                             << "TLSv1.2"
                             << "ECDHE-PSK-CHACHA20-POLY1305";
}

// Our client against s_server with a key and no certificate at all.
void tst_Psk::opensslServer()
{
    QFETCH(QString, version);
    QFETCH(QString, protocol);
    QFETCH(QString, cipher);
    PeerProcess server;
    QVERIFY2(server.startServer(QStringLiteral("openssl"),
                                {"s_server", "-accept", "127.0.0.1:0", "-nocert", "-psk",
                                 QString::fromLatin1(kKey.toHex()), "-psk_identity",
                                 QString::fromLatin1(kIdentity), "-psk_hint", "factory-7", "-rev",
                                 version},
                                PeerProcess::portFromOutput(kAccept)),
             qPrintable(server.describe()));
    SecureSocket socket;
    QString error;
    QCOMPARE(echo(pskClient(), server.port(), socket, &error), QByteArray("gnip\n"));
    QCOMPARE(socket.sessionProtocol(), protocol);
    QVERIFY2(socket.sessionCipher().endsWith(cipher), qPrintable(socket.sessionCipher()));
    QCOMPARE(socket.preSharedKeyIdentity(), kIdentity);
    QVERIFY(socket.peerCertificate().isNull());
    QVERIFY(!socket.isSessionResumed());
}

void tst_Psk::opensslServerWrongKey()
{
    PeerProcess server;
    QVERIFY2(server.startServer(QStringLiteral("openssl"),
                                {"s_server", "-accept", "127.0.0.1:0", "-nocert", "-psk",
                                 QString::fromLatin1(kKey.toHex()), "-psk_identity",
                                 QString::fromLatin1(kIdentity), "-rev"},
                                PeerProcess::portFromOutput(kAccept)),
             qPrintable(server.describe()));
    SecureSocket socket;
    QString error;
    QVERIFY(echo(pskClient(kIdentity, "another key"), server.port(), socket, &error).isEmpty());
    QVERIFY(!socket.isEncrypted());
    QVERIFY2(error.endsWith(QLatin1String("; the server does not hold the same pre-shared key for "
                                          "the identity 'sensor-17' as we do")),
             qPrintable(error));
}

void tst_Psk::opensslClient_data()
{
    QTest::addColumn<QStringList>("flags");
    QTest::addColumn<QByteArray>("protocol");
    QTest::newRow("TLS 1.3") << QStringList{"-tls1_3"} << QByteArray("TLSv1.3");
    QTest::newRow("TLS 1.2, ECDHE-PSK")
        << QStringList{"-tls1_2", "-cipher", "ECDHE-PSK-CHACHA20-POLY1305"}
        << QByteArray("TLSv1.2");
    QTest::newRow("TLS 1.2, PSK-AES-GCM")
        << QStringList{"-tls1_2", "-cipher", "PSK-AES256-GCM-SHA384"} << QByteArray("TLSv1.2");
}

// s_client -psk against SecureServer with a table of keys and no certificate.
void tst_Psk::opensslClient()
{
    QFETCH(QStringList, flags);
    QFETCH(QByteArray, protocol);
    SecureConfiguration config;
    config.setPreSharedKeys({{kIdentity, kKey}, {"sensor-18", "another key"}});
    PskServer psk(config);
    QVERIFY2(psk.server.listen(QHostAddress::LocalHost, 0), qPrintable(psk.server.errorString()));
    PeerProcess client;
    QVERIFY2(client.start(QStringLiteral("openssl"),
                          QStringList{"s_client", "-connect",
                                      "127.0.0.1:" + QString::number(psk.server.serverPort()),
                                      "-psk", QString::fromLatin1(kKey.toHex()), "-psk_identity",
                                      QString::fromLatin1(kIdentity)} +
                              flags),
             qPrintable(client.describe()));
    client.write("hello\n");
    QVERIFY2(client.waitForOutput("\nhello\n", 10000), qPrintable(client.describe()));
    QVERIFY2(client.standardOutput().contains("Protocol  : " + protocol) ||
                 client.standardOutput().contains(", " + protocol + ","),
             qPrintable(client.describe()));
    QCOMPARE(psk.identities, QList<QByteArray>{kIdentity});
    QVERIFY2(psk.failures.isEmpty(), qPrintable(psk.failures.join('\n')));
}

void tst_Psk::opensslClientWrongKeyOrIdentity_data()
{
    QTest::addColumn<QByteArray>("identity");
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<QString>("reason");
    QTest::newRow("wrong key") << kIdentity << QByteArray("another key")
                               << "(binder does not verify); the client does not hold the same "
                                  "pre-shared key for the identity 'sensor-17' as we do";
    QTest::newRow("unknown identity")
        << QByteArray("intruder") << kKey
        << "; the client offered the identity 'intruder' and there is no pre-shared key for it";
}

void tst_Psk::opensslClientWrongKeyOrIdentity()
{
    QFETCH(QByteArray, identity);
    QFETCH(QByteArray, key);
    QFETCH(QString, reason);
    SecureConfiguration config;
    config.setPreSharedKeys({{kIdentity, kKey}});
    PskServer psk(config);
    QVERIFY2(psk.server.listen(QHostAddress::LocalHost, 0), qPrintable(psk.server.errorString()));
    PeerProcess client;
    QVERIFY2(client.start(QStringLiteral("openssl"),
                          {"s_client", "-connect",
                           "127.0.0.1:" + QString::number(psk.server.serverPort()), "-psk",
                           QString::fromLatin1(key.toHex()), "-psk_identity",
                           QString::fromLatin1(identity), "-tls1_3"}),
             qPrintable(client.describe()));
    QVERIFY2(client.waitForExit(10000), qPrintable(client.describe()));
    QVERIFY2(testsupport::waitUntil([&] { return !psk.failures.isEmpty(); }, 5000),
             qPrintable(client.describe()));
    QVERIFY2(psk.failures.first().contains(reason), qPrintable(psk.failures.first()));
    QVERIFY(psk.identities.isEmpty());
}

void tst_Psk::ourSocketsWithSlots_data()
{
    QTest::addColumn<SecureConfiguration::TlsVersion>("version");
    QTest::newRow("TLS 1.3") << SecureConfiguration::Tls13;
    QTest::newRow("TLS 1.2") << SecureConfiguration::Tls12;
}

// No key in either configuration: the server's slot finds it by identity, the client's slot
// gives identity and key (seeing the server's hint in TLS 1.2).
void tst_Psk::ourSocketsWithSlots()
{
    QFETCH(SecureConfiguration::TlsVersion, version);
    SecureConfiguration serverConfig;
    serverConfig.setPreSharedKeyAuthentication(true);
    serverConfig.setPreSharedKeyIdentityHint("factory-7");
    serverConfig.setMaximumProtocol(version);
    PskServer psk(serverConfig);
    QList<QByteArray> asked;
    connect(&psk.server, &SecureServer::preSharedKeyAuthenticationRequired, &psk.server,
            [&](SecureSocket *, SecurePreSharedKeyAuthenticator *authenticator) {
                asked << authenticator->identity();
                QVERIFY(authenticator->preSharedKey().isEmpty()); // none configured
                if (authenticator->identity() == kIdentity)
                    authenticator->setPreSharedKey(kKey);
            });
    QVERIFY2(psk.server.listen(QHostAddress::LocalHost, 0), qPrintable(psk.server.errorString()));

    SecureConfiguration clientConfig;
    clientConfig.setPreSharedKeyAuthentication(true);
    clientConfig.setMaximumProtocol(version);
    SecureSocket socket;
    QByteArrayList hints;
    connect(&socket, &SecureSocket::preSharedKeyAuthenticationRequired, &socket,
            [&](SecurePreSharedKeyAuthenticator *authenticator) {
                hints << authenticator->identityHint();
                QVERIFY(authenticator->maximumIdentityLength() >= 64);
                QVERIFY(authenticator->maximumPreSharedKeyLength() >= 64);
                authenticator->setIdentity(kIdentity);
                authenticator->setPreSharedKey(kKey);
            });
    QString error;
    QCOMPARE(echo(clientConfig, psk.server.serverPort(), socket, &error), QByteArray("ping\n"));
    QCOMPARE(socket.preSharedKeyIdentity(), kIdentity);
    QVERIFY(hints.size() >= 1);
    if (version == SecureConfiguration::Tls12)
        QCOMPARE(hints.last(), QByteArray("factory-7"));
    QVERIFY(asked.contains(kIdentity));
    QTRY_COMPARE(psk.identities, QList<QByteArray>{kIdentity});
}

void tst_Psk::badSettings_data()
{
    QTest::addColumn<QByteArray>("identity");
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<bool>("server");
    QTest::addColumn<QString>("error");
    QTest::newRow("identity too long")
        << QByteArray(129, 'x') << kKey << false
        << "a pre-shared key identity must have 1 to 128 bytes (got 129)";
    QTest::newRow("empty key") << kIdentity << QByteArray() << false
                               << "the pre-shared key of identity 'sensor-17' must have 1 to "
                                  "256 bytes (got 0)";
    QTest::newRow("key too long (server)")
        << kIdentity << QByteArray(257, 'k') << true
        << "the pre-shared key of identity 'sensor-17' must have 1 to 256 bytes (got 257)";
}

void tst_Psk::badSettings()
{
    QFETCH(QByteArray, identity);
    QFETCH(QByteArray, key);
    QFETCH(bool, server);
    QFETCH(QString, error);
    SecureConfiguration config;
    if (server)
        config.setPreSharedKeys({{identity, key}});
    else
        config.setPreSharedKey(identity, key);
    QCOMPARE(config.validate(server), error);
    // Without keys or a certificate, a server has nothing to authenticate with.
    QCOMPARE(SecureConfiguration().validate(true),
             QStringLiteral("a TLS server needs a certificate and a private key (or pre-shared "
                            "keys)"));
}

QTEST_MAIN(tst_Psk)
#include "tst_psk.moc"
