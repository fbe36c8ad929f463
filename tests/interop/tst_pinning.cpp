// Public-key pinning: the pin the library computes equals what openssl prints and what curl
// accepts; our client against openssl s_server with pins on the leaf, the intermediate or the
// root, a wrong pin (PinMismatch, naming both), rotation with two pins, forgiving a mismatch,
// and pins as the only trust anchors (a self-signed server, a pinned intermediate, and a chain
// that only pretends to lead to the pinned one).
#include <SecureSocket/securecertificate.h>
#include <SecureSocket/secureconfiguration.h>
#include <SecureSocket/secureserver.h>
#include <SecureSocket/securesocket.h>

#include "peerprocess.h"
#include "pkidirectory.h"

#include <QTest>

#include <algorithm>

namespace {

const QString kAccept = QStringLiteral("^ACCEPT 127\\.0\\.0\\.1:(\\d+)$");

struct Outcome
{
    bool encrypted = false;
    QList<int> codes; // certCheckFailed
    QStringList reasons;
    QString error;
};

} // namespace

class tst_Pinning : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void pinIsWhatOpensslPrints();
    void curlAcceptsThePin();
    void pinsOnTopOfVerification_data();
    void pinsOnTopOfVerification();
    void mismatchCanBeForgiven();
    void pinsAsTrustAnchors_data();
    void pinsAsTrustAnchors();
    void ourServer_data();
    void ourServer();
    void badPins_data();
    void badPins();

private:
    QString pinOf(const QString &name) const
    {
        return SecureCertificate::fromPemFile(m_dir.filePath(name + ".pem"))
            .value(0)
            .publicKeyPin();
    }
    // s_server presenting "<name>.pem" (its whole file as the chain) and its key.
    bool startServer(PeerProcess &server, const QString &name);
    Outcome connect(quint16 port, const SecureConfiguration &config, bool forgive = false);

    testpki::PkiDirectory m_dir;
};

void tst_Pinning::initTestCase()
{
    QVERIFY(m_dir.isValid());
    using namespace testpki;
    Issued root, intermediate, other;
    m_dir.issue("root", caSpec("Pinning Root CA"), nullptr, &root);
    m_dir.issue("intermediate", caSpec("Pinning Intermediate CA"), &root, &intermediate);
    m_dir.issue("leaf", localhostSpec(), &intermediate, nullptr, intermediate.certPem);
    m_dir.issue("selfsigned", localhostSpec(), nullptr);
    m_dir.issue("other", caSpec("Other CA"), nullptr, &other);
    // A server of another CA that also sends the pinned intermediate, which did not issue it.
    m_dir.issue("pretender", localhostSpec(), &other, nullptr, intermediate.certPem);
}

bool tst_Pinning::startServer(PeerProcess &server, const QString &name)
{
    const QString cert = m_dir.filePath(name + ".pem");
    return server.startServer(QStringLiteral("openssl"),
                              {"s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-cert_chain",
                               cert, "-key", testpki::PkiDirectory::keyFileOf(cert), "-rev"},
                              PeerProcess::portFromOutput(kAccept));
}

Outcome tst_Pinning::connect(quint16 port, const SecureConfiguration &config, bool forgive)
{
    Outcome outcome;
    SecureSocket socket;
    socket.setConfiguration(config);
    QObject::connect(&socket, &SecureSocket::certCheckFailed, &socket,
                     [&](int code, const QString &reason) {
                         outcome.codes << code;
                         outcome.reasons << reason;
                         if (forgive)
                             socket.ignoreCertErrors();
                     });
    QByteArray received;
    QObject::connect(&socket, &QIODevice::readyRead, &socket,
                     [&] { received += socket.readAll(); });
    socket.connectToHostEncrypted(QStringLiteral("localhost"), port);
    socket.write("pin\n");
    testsupport::waitUntil(
        [&] {
            return received.endsWith('\n') || socket.state() == QAbstractSocket::UnconnectedState;
        },
        10000);
    outcome.encrypted = socket.isEncrypted() && received == "nip\n";
    outcome.error = socket.errorString();
    return outcome;
}

void tst_Pinning::pinIsWhatOpensslPrints()
{
    for (const QString name : {"leaf", "intermediate", "root", "selfsigned"}) {
        PeerProcess shell;
        const QString cert = m_dir.filePath(name + ".pem");
        QVERIFY(shell.start(QStringLiteral("sh"),
                            {"-c", "openssl x509 -in '" + cert +
                                       "' -pubkey -noout | openssl pkey -pubin -outform der | "
                                       "openssl dgst -sha256 -binary | base64"}));
        QVERIFY2(shell.waitForExit(10000) && shell.exitCode() == 0, qPrintable(shell.describe()));
        QCOMPARE(pinOf(name), "sha256//" + QString::fromLatin1(shell.standardOutput().trimmed()));
    }
}

void tst_Pinning::curlAcceptsThePin()
{
    PeerProcess server;
    const QString cert = m_dir.filePath("leaf.pem");
    QVERIFY2(server.startServer(QStringLiteral("openssl"),
                                {"s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-cert_chain",
                                 cert, "-key", testpki::PkiDirectory::keyFileOf(cert), "-www"},
                                PeerProcess::portFromOutput(kAccept)),
             qPrintable(server.describe()));
    const QString url = QStringLiteral("https://localhost:%1/").arg(server.port());
    const auto curl = [&](const QString &pin) {
        PeerProcess client;
        client.start(QStringLiteral("curl"),
                     {"-s", "-o", "/dev/null", "--cacert", m_dir.filePath("root.pem"), "--resolve",
                      QStringLiteral("localhost:%1:127.0.0.1").arg(server.port()), "--pinnedpubkey",
                      pin, url});
        client.waitForExit(20000);
        return client.exitCode();
    };
    QCOMPARE(curl(pinOf("leaf")), 0);
    QCOMPARE(curl(pinOf("selfsigned")), 90); // CURLE_SSL_PINNEDPUBKEYNOTMATCH
}

void tst_Pinning::pinsOnTopOfVerification_data()
{
    QTest::addColumn<QStringList>("pins");
    QTest::addColumn<bool>("encrypted");
    QTest::newRow("leaf") << QStringList{pinOf("leaf")} << true;
    QTest::newRow("intermediate") << QStringList{pinOf("intermediate")} << true;
    QTest::newRow("root") << QStringList{pinOf("root")} << true;
    QTest::newRow("rotation: old and new")
        << QStringList{pinOf("selfsigned"), pinOf("leaf")} << true;
    QTest::newRow("curl's joined form")
        << QStringList{pinOf("other") + ";" + pinOf("intermediate")} << true;
    QTest::newRow("mismatch") << QStringList{pinOf("selfsigned"), pinOf("other")} << false;
}

void tst_Pinning::pinsOnTopOfVerification()
{
    QFETCH(QStringList, pins);
    QFETCH(bool, encrypted);
    PeerProcess server;
    QVERIFY2(startServer(server, "leaf"), qPrintable(server.describe()));
    SecureConfiguration config;
    config.setCaCertificatesFile(m_dir.filePath("root.pem"));
    config.setUseSystemCaCertificates(false);
    config.setPinnedPublicKeys(pins);
    const Outcome outcome = connect(server.port(), config);
    QCOMPARE(outcome.encrypted, encrypted);
    if (encrypted) {
        QVERIFY(outcome.codes.isEmpty());
        return;
    }
    QCOMPARE(outcome.codes, QList<int>{int(VerifyError::PinMismatch)});
    const QString &reason = outcome.reasons.first();
    QVERIFY2(reason.startsWith("public key pin mismatch: no certificate of the server's chain for "
                               "'CN=localhost' has a pinned public key; expected one of " +
                               pins.join(", ") + "; found " + pinOf("leaf") + " (CN=localhost), " +
                               pinOf("intermediate") + " (CN=Pinning Intermediate CA), " +
                               pinOf("root") + " (CN=Pinning Root CA)"),
             qPrintable(reason));
    QVERIFY2(outcome.error.contains("public key pin mismatch"), qPrintable(outcome.error));
    QCOMPARE(QString::fromLatin1(verifyErrorName(VerifyError::PinMismatch)), "pin-mismatch");
}

void tst_Pinning::mismatchCanBeForgiven()
{
    PeerProcess server;
    QVERIFY2(startServer(server, "leaf"), qPrintable(server.describe()));
    SecureConfiguration config;
    config.setCaCertificatesFile(m_dir.filePath("root.pem"));
    config.setUseSystemCaCertificates(false);
    config.setPinnedPublicKeys({pinOf("other")});
    const Outcome outcome = connect(server.port(), config, true);
    QVERIFY2(outcome.encrypted, qPrintable(outcome.error));
    QCOMPARE(outcome.codes, QList<int>{int(VerifyError::PinMismatch)});
}

void tst_Pinning::pinsAsTrustAnchors_data()
{
    QTest::addColumn<QString>("server");
    QTest::addColumn<QStringList>("pins");
    QTest::addColumn<QList<int>>("codes"); // empty: encrypted
    QTest::newRow("self-signed, its pin")
        << "selfsigned" << QStringList{pinOf("selfsigned")} << QList<int>{};
    QTest::newRow("self-signed, another pin")
        << "selfsigned" << QStringList{pinOf("leaf")} << QList<int>{int(VerifyError::PinMismatch)};
    QTest::newRow("chain, the intermediate pinned")
        << "leaf" << QStringList{pinOf("intermediate")} << QList<int>{};
    QTest::newRow("chain, the leaf pinned") << "leaf" << QStringList{pinOf("leaf")} << QList<int>{};
    // The root is not sent: with pins as the only anchors, nothing leads to it.
    QTest::newRow("chain, only the root pinned")
        << "leaf" << QStringList{pinOf("root")} << QList<int>{int(VerifyError::PinMismatch)};
    QTest::newRow("a pretender sending the pinned intermediate")
        << "pretender" << QStringList{pinOf("intermediate")}
        << QList<int>{int(VerifyError::UnknownIssuer)};
}

void tst_Pinning::pinsAsTrustAnchors()
{
    QFETCH(QString, server);
    QFETCH(QStringList, pins);
    QFETCH(QList<int>, codes);
    PeerProcess peer;
    QVERIFY2(startServer(peer, server), qPrintable(peer.describe()));
    SecureConfiguration config; // the system CAs would be trusted, were pins not the anchors
    config.setPinnedPublicKeys(pins);
    config.setPinningMode(SecureConfiguration::PinsAreTrustAnchors);
    const Outcome outcome = connect(peer.port(), config);
    QCOMPARE(outcome.encrypted, codes.isEmpty());
    QCOMPARE(outcome.codes, codes);
}

void tst_Pinning::ourServer_data()
{
    QTest::addColumn<QString>("server");
    QTest::addColumn<QStringList>("pins");
    QTest::addColumn<SecureConfiguration::PinningMode>("mode");
    QTest::addColumn<bool>("encrypted");
    QTest::newRow("intermediate pinned") << "leaf" << QStringList{pinOf("intermediate")}
                                         << SecureConfiguration::PinsAddToVerification << true;
    QTest::newRow("mismatch") << "leaf" << QStringList{pinOf("other")}
                              << SecureConfiguration::PinsAddToVerification << false;
    QTest::newRow("self-signed, pins only") << "selfsigned" << QStringList{pinOf("selfsigned")}
                                            << SecureConfiguration::PinsAreTrustAnchors << true;
}

// The same checks against SecureServer, which echoes.
void tst_Pinning::ourServer()
{
    QFETCH(QString, server);
    QFETCH(QStringList, pins);
    QFETCH(SecureConfiguration::PinningMode, mode);
    QFETCH(bool, encrypted);
    SecureConfiguration serverConfig;
    serverConfig.setLocalCertificateChainFile(m_dir.filePath(server + ".pem"));
    serverConfig.setPrivateKeyFile(m_dir.filePath(server + ".key"));
    serverConfig.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    SecureServer secureServer;
    secureServer.setConfiguration(serverConfig);
    QObject::connect(&secureServer, &SecureServer::newConnection, &secureServer, [&] {
        while (SecureSocket *socket = secureServer.nextPendingSecureConnection()) {
            QObject::connect(socket, &QIODevice::readyRead, socket, [socket] {
                // As s_server -rev answers: "pin\n" -> "nip\n".
                QByteArray line = socket->readAll();
                if (line.endsWith('\n'))
                    std::reverse(line.begin(), line.end() - 1);
                socket->write(line);
            });
            QObject::connect(socket, &QAbstractSocket::disconnected, socket, &QObject::deleteLater);
        }
    });
    QVERIFY2(secureServer.listen(QHostAddress::LocalHost, 0),
             qPrintable(secureServer.errorString()));
    SecureConfiguration config;
    config.setCaCertificatesFile(m_dir.filePath("root.pem"));
    config.setUseSystemCaCertificates(false);
    config.setPinnedPublicKeys(pins);
    config.setPinningMode(mode);
    const Outcome outcome = connect(secureServer.serverPort(), config);
    QCOMPARE(outcome.encrypted, encrypted);
    QCOMPARE(outcome.codes.isEmpty(), encrypted);
}

void tst_Pinning::badPins_data()
{
    QTest::addColumn<QStringList>("pins");
    QTest::addColumn<SecureConfiguration::PinningMode>("mode");
    QTest::addColumn<QString>("error");
    const QString sentence = "': a pin is 'sha256//' followed by the base64 SHA-256 digest of the "
                             "certificate's public key (SubjectPublicKeyInfo), 44 characters";
    QTest::newRow("no prefix") << QStringList{"abc"} << SecureConfiguration::PinsAddToVerification
                               << "invalid public key pin 'abc" + sentence;
    QTest::newRow("sha1") << QStringList{"sha1//AAAA"} << SecureConfiguration::PinsAddToVerification
                          << "invalid public key pin 'sha1//AAAA" + sentence;
    QTest::newRow("short digest") << QStringList{"sha256//AAAA"}
                                  << SecureConfiguration::PinsAddToVerification
                                  << "invalid public key pin 'sha256//AAAA" + sentence;
    QTest::newRow("anchors without a pin")
        << QStringList{} << SecureConfiguration::PinsAreTrustAnchors
        << "pinned public keys are the only trust anchors, but no pin is set";
}

void tst_Pinning::badPins()
{
    QFETCH(QStringList, pins);
    QFETCH(SecureConfiguration::PinningMode, mode);
    QFETCH(QString, error);
    SecureConfiguration config;
    config.setPinnedPublicKeys(pins);
    config.setPinningMode(mode);
    QCOMPARE(config.validate(), error);
}

QTEST_MAIN(tst_Pinning)
#include "tst_pinning.moc"
