// Certificate files of a running server: warnings about our own certificate at start, a file
// that changes on disk and no longer loads, which must leave the last good one in use, and
// reloads (SecureServer::reloadConfiguration(), the echoserver's SIGHUP) that take renewed files
// at once, refuse broken ones and leave established connections untouched.
// Through SecureServer in this process and through the echoserver example.
#include <SecureSocket/securecertificate.h>
#include <SecureSocket/secureserver.h>
#include <SecureSocket/securesocket.h>

#include "logcapture.h"
#include "recheckclock.h"
#include "serverhelpers.h"
#include "testpki.h"

#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include <memory>
#include <vector>

using servertest::waitUntil;

namespace {

using testsupport::CategoryLog;
using testsupport::replaceFile;

constexpr long kDay = 24L * 3600;

QByteArray serialOf(const std::string &certPem)
{
    return SecureCertificate(QByteArray::fromStdString(certPem)).serialNumber();
}

// The lines of a log that contain needle.
int linesContaining(const QByteArray &log, const QByteArray &needle)
{
    int count = 0;
    for (const QByteArray &line : log.split('\n'))
        count += line.contains(needle) ? 1 : 0;
    return count;
}

QByteArray fingerprintOf(const std::string &certPem)
{
    return SecureCertificate(QByteArray::fromStdString(certPem)).sha256Fingerprint();
}

// A client that streams data through an echo server and checks that every byte comes back.
class EchoStream
{
public:
    EchoStream(quint16 port, const QString &caFile)
    {
        SecureConfiguration config;
        config.setCaCertificatesFile(caFile);
        config.setUseSystemCaCertificates(false);
        m_socket.setConfiguration(config);
        QObject::connect(&m_socket, &QIODevice::readyRead,
                         [this] { m_received += m_socket.readAll(); });
        m_socket.connectToHostEncrypted(QStringLiteral("localhost"), port);
    }
    bool waitEncrypted()
    {
        return waitUntil([this] { return m_socket.isEncrypted(); }, 5000);
    }
    // Sends size more bytes and waits (at most 10 s) until all sent so far came back.
    bool sendAndWait(int size)
    {
        QByteArray chunk(size, Qt::Uninitialized);
        for (int i = 0; i < size; ++i)
            chunk[i] = static_cast<char>((m_sent.size() + i) * 131 % 251);
        m_sent += chunk;
        m_socket.write(chunk);
        return waitUntil([this] { return m_received.size() >= m_sent.size(); }, 10000) &&
               m_received == m_sent && m_socket.state() == QAbstractSocket::ConnectedState;
    }
    QByteArray servedFingerprint() const { return m_socket.peerCertificate().sha256Fingerprint(); }
    QString describe() const
    {
        return QStringLiteral("sent %1, received %2, %3")
            .arg(m_sent.size())
            .arg(m_received.size())
            .arg(m_socket.errorString());
    }

private:
    SecureSocket m_socket;
    QByteArray m_sent;
    QByteArray m_received;
};

// The echoserver with one certificate and key, on any port.
bool startEchoServer(servertest::EchoServer &server, const QString &cert, const QString &key)
{
    return server.start({"--port", "0", "--cert", cert, "--key", key});
}

} // namespace

class TestCertFiles : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void secureServerKeepsTheLastGoodCertificate();
    void echoserverWarnsAtStart_data();
    void echoserverWarnsAtStart();
    void echoserverKeepsTheLastGoodCertificate();
    void secureServerReloadsAtOnce();
    void secureServerRefusesABrokenReload_data();
    void secureServerRefusesABrokenReload();
    void echoserverReloadsOnSighup();

private:
    // A SecureServer that echoes, with certificate and key files (and a passphrase file if the
    // key is encrypted) in the test directory, serving first.
    struct ReloadFixture;
    testpki::Issued leaf(long notBeforeOffset = -3600, long notAfterOffset = 30 * kDay) const;
    // Connects to port, completes a handshake and returns the serial number of the certificate
    // served; empty if no handshake. Verification failures (an expired certificate) are
    // reported, not fatal: what counts here is which certificate is served.
    QByteArray servedSerial(quint16 port) const;

    QTemporaryDir m_dir;
    testpki::Issued m_ca;
    QString m_caFile;
};

void TestCertFiles::initTestCase()
{
    QVERIFY(m_dir.isValid());
    testpki::CertSpec ca;
    ca.commonName = "Cert Files Test CA";
    ca.isCa = true;
    m_ca = testpki::makeCertificate(ca);
    m_caFile = m_dir.filePath("ca.pem");
    testpki::writeFile(m_caFile.toStdString(), m_ca.certPem);
}

testpki::Issued TestCertFiles::leaf(long notBeforeOffset, long notAfterOffset) const
{
    testpki::CertSpec spec;
    spec.commonName = "localhost";
    spec.dnsNames = {"localhost"};
    spec.ipAddresses = {"127.0.0.1"};
    spec.notBeforeOffset = notBeforeOffset;
    spec.notAfterOffset = notAfterOffset;
    return testpki::makeCertificate(spec, &m_ca);
}

QByteArray TestCertFiles::servedSerial(quint16 port) const
{
    SecureConfiguration config;
    config.setCaCertificatesFile(m_caFile);
    config.setUseSystemCaCertificates(false);
    config.setPeerVerifyMode(SecureConfiguration::QueryPeer);
    SecureSocket socket;
    socket.setConfiguration(config);
    socket.connectToHostEncrypted(QStringLiteral("localhost"), port);
    waitUntil(
        [&] { return socket.isEncrypted() || socket.state() == QAbstractSocket::UnconnectedState; },
        5000);
    const QByteArray serial = socket.isEncrypted() ? socket.peerCertificate().serialNumber() : "";
    if (serial.isEmpty())
        qWarning("no handshake: %s", qPrintable(socket.errorString()));
    socket.abort();
    return serial;
}

void TestCertFiles::secureServerKeepsTheLastGoodCertificate()
{
    const testpki::Issued first = leaf();
    const testpki::Issued second = leaf();
    const QString cert = m_dir.filePath("library.pem");
    const QString key = m_dir.filePath("library.key");
    testpki::writeFile(cert.toStdString(), first.certPem);
    testpki::writeFile(key.toStdString(), first.keyPem);
    SecureConfiguration config;
    config.setLocalCertificateChainFile(cert);
    config.setPrivateKeyFile(key);
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    SecureServer server;
    server.setConfiguration(config);
    // Kept open so that the client sees the handshake finish.
    std::vector<std::unique_ptr<SecureSocket>> accepted;
    connect(&server, &SecureServer::newConnection, &server, [&server, &accepted] {
        while (SecureSocket *socket = server.nextPendingSecureConnection()) {
            socket->setParent(nullptr);
            accepted.emplace_back(socket);
        }
    });
    QVERIFY2(server.listen(QHostAddress::LocalHost, 0), qPrintable(server.errorString()));
    QCOMPARE(servedSerial(server.serverPort()), serialOf(first.certPem));

    CategoryLog log("securesocket.configuration");
    const std::string chain = first.certPem;
    const struct
    {
        const char *name;
        std::string content;
        const char *cause;
    } changes[] = {
        {"x", "x\n", "holds no PEM certificate"},
        {"half written", chain.substr(0, chain.size() / 2), "no END line"},
        {"key no longer matches", second.certPem, "does not match"},
    };
    // The files are looked at again at most once a second: the test moves the clock on.
    RecheckClock clock;
    for (const auto &change : changes) {
        log.messages().clear();
        replaceFile(cert, change.content);
        // The files are looked at again by a handshake a second later: then the failure is
        // logged, once, and that handshake gets the certificate loaded before.
        clock.secondPasses();
        QCOMPARE(servedSerial(server.serverPort()), serialOf(first.certPem));
        QVERIFY2(!log.messages().isEmpty(), change.name);
        clock.secondPasses();
        QCOMPARE(servedSerial(server.serverPort()), serialOf(first.certPem));
        QCOMPARE(log.messages().size(), 1);
        const QString &message = log.messages().first().second;
        QVERIFY2(message.contains("certificate file '" + cert + "'") &&
                     message.contains(change.cause),
                 qPrintable(message));
        // A socket setting changed meanwhile, on a copy: the copy keeps the last good context.
        SecureConfiguration retimed = server.configuration();
        retimed.setHandshakeTimeout(retimed.handshakeTimeout() + 1000);
        server.setConfiguration(retimed);
        QCOMPARE(servedSerial(server.serverPort()), serialOf(first.certPem));
        QCOMPARE(log.messages().size(), 1);
    }

    // The key first, then the certificate: between the two they do not match (one more error).
    replaceFile(key, second.keyPem);
    replaceFile(cert, second.certPem);
    clock.secondPasses();
    QCOMPARE(servedSerial(server.serverPort()), serialOf(second.certPem));
}

void TestCertFiles::echoserverWarnsAtStart_data()
{
    QTest::addColumn<long>("notBefore");
    QTest::addColumn<long>("notAfter");
    QTest::addColumn<QString>("warning"); // a regular expression; empty: no warning at all
    const QString line = "^echoserver: listener default: warning: certificate file '.*/warn.pem' "
                         "\\('CN=localhost'\\) ";
    QTest::newRow("fresh") << -3600L << 30 * kDay << QString();
    QTest::newRow("expired") << -30 * kDay << -kDay << line + "expired on .* UTC$";
    QTest::newRow("expires in 3 days")
        << -3600L << 3 * kDay + 3600 << line + "expires in 3 days, on .* UTC$";
    QTest::newRow("not valid yet") << kDay << 30 * kDay << line + "is not valid until .* UTC$";
}

void TestCertFiles::echoserverWarnsAtStart()
{
    QFETCH(long, notBefore);
    QFETCH(long, notAfter);
    QFETCH(QString, warning);
    const testpki::Issued issued = leaf(notBefore, notAfter);
    const QString cert = m_dir.filePath("warn.pem");
    const QString key = m_dir.filePath("warn.key");
    testpki::writeFile(cert.toStdString(), issued.certPem);
    testpki::writeFile(key.toStdString(), issued.keyPem);

    servertest::EchoServer server(QStringLiteral(ECHOSERVER_PATH));
    QVERIFY2(startEchoServer(server, cert, key), qPrintable(server.process().describe()));
    QCOMPARE(servedSerial(server.port()), serialOf(issued.certPem)); // it serves all the same
    const QRegularExpression pattern(warning, QRegularExpression::MultilineOption);
    if (warning.isEmpty()) {
        QVERIFY2(!server.log().contains("warning"), server.log().constData());
        return;
    }
    QVERIFY2(pattern.match(QString::fromUtf8(server.log())).hasMatch(), server.log().constData());
    QCOMPARE(linesContaining(server.log(), "echoserver: listener default: warning: "), 1);
}

void TestCertFiles::echoserverKeepsTheLastGoodCertificate()
{
    const testpki::Issued first = leaf();
    const testpki::Issued second = leaf();
    const QString cert = m_dir.filePath("server.pem");
    const QString key = m_dir.filePath("server.key");
    testpki::writeFile(cert.toStdString(), first.certPem);
    testpki::writeFile(key.toStdString(), first.keyPem);
    servertest::EchoServer server(QStringLiteral(ECHOSERVER_PATH));
    QVERIFY2(startEchoServer(server, cert, key), qPrintable(server.process().describe()));
    QCOMPARE(servedSerial(server.port()), serialOf(first.certPem));

    // What `echo x > server.pem` does: the file rewritten in place.
    testpki::writeFile(cert.toStdString(), "x\n");
    const QByteArray error = "certificate file '" + QFile::encodeName(cert) + "'";
    QVERIFY2(waitUntil(
                 [&] {
                     servedSerial(server.port()); // the server looks at its files on handshakes
                     return server.log().contains(error);
                 },
                 5000),
             server.log().constData());
    QCOMPARE(servedSerial(server.port()), serialOf(first.certPem));
    // The echoserver is a process of its own: its once-a-second re-check runs on its clock,
    // which this test cannot move, so a real second passes here.
    QTest::qWait(1100);
    QCOMPARE(servedSerial(server.port()), serialOf(first.certPem));
    QCOMPARE(servedSerial(server.port()), serialOf(first.certPem));
    QCOMPARE(linesContaining(server.log(), error), 1);
    QVERIFY2(server.log().contains("holds no PEM certificate"), server.log().constData());

    replaceFile(key, second.keyPem);
    replaceFile(cert, second.certPem);
    QVERIFY2(
        waitUntil([&] { return servedSerial(server.port()) == serialOf(second.certPem); }, 5000),
        server.log().constData());
}

struct TestCertFiles::ReloadFixture
{
    QString cert, key, passphraseFile;
    SecureServer server;

    ReloadFixture(const QTemporaryDir &dir, const testpki::Issued &first, bool encrypted = false)
        : cert(dir.filePath("reload.pem")), key(dir.filePath("reload.key")),
          passphraseFile(dir.filePath("reload.pass"))
    {
        testpki::writeFile(cert.toStdString(), first.certPem);
        SecureConfiguration config;
        config.setLocalCertificateChainFile(cert);
        config.setPrivateKeyFile(key);
        if (encrypted) {
            testpki::writeFile(key.toStdString(),
                               testpki::encryptKey(first.keyPem, servertest::kPassphrase));
            testpki::writeFile(passphraseFile.toStdString(),
                               std::string(servertest::kPassphrase) + "\n");
            config.setPrivateKeyPassphraseFile(passphraseFile);
        } else {
            testpki::writeFile(key.toStdString(), first.keyPem);
        }
        config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
        server.setConfiguration(config);
        QObject::connect(&server, &SecureServer::newConnection, &server, [this] {
            while (SecureSocket *socket = server.nextPendingSecureConnection()) {
                QObject::connect(socket, &QIODevice::readyRead, socket,
                                 [socket] { socket->write(socket->readAll()); });
                QObject::connect(socket, &QAbstractSocket::disconnected, socket,
                                 &QObject::deleteLater);
            }
        });
    }
};

void TestCertFiles::secureServerReloadsAtOnce()
{
    // The clock stands still: the server never looks at its files by itself in this test.
    const RecheckClock clock(true);
    const testpki::Issued first = leaf();
    const testpki::Issued renewed = leaf();
    ReloadFixture fixture(m_dir, first);
    QVERIFY2(fixture.server.listen(QHostAddress::LocalHost, 0),
             qPrintable(fixture.server.errorString()));
    const quint16 port = fixture.server.serverPort();

    EchoStream stream(port, m_caFile);
    QVERIFY(stream.waitEncrypted());
    QVERIFY2(stream.sendAndWait(256 * 1024), qPrintable(stream.describe()));

    replaceFile(fixture.key, renewed.keyPem);
    replaceFile(fixture.cert, renewed.certPem);
    // Not yet: the files are looked at again by the reload, not before.
    QCOMPARE(servedSerial(port), serialOf(first.certPem));
    CategoryLog log("securesocket.server");
    const auto logged = [&log](const QString &text) {
        for (const auto &message : log.messages()) {
            if (message.second == text)
                return true;
        }
        return false;
    };
    QVERIFY2(fixture.server.reloadConfiguration(), qPrintable(fixture.server.errorString()));
    QVERIFY(logged("configuration reloaded: new handshakes use the files as they are now"));
    EchoStream next(port, m_caFile);
    QVERIFY(next.waitEncrypted());
    QCOMPARE(next.servedFingerprint(), fingerprintOf(renewed.certPem));

    // The connection made before goes on with what it started with, losing nothing.
    QCOMPARE(stream.servedFingerprint(), fingerprintOf(first.certPem));
    QVERIFY2(stream.sendAndWait(1024 * 1024), qPrintable(stream.describe()));
    QVERIFY2(next.sendAndWait(64 * 1024), qPrintable(next.describe()));

    // A reload with nothing changed changes nothing.
    QVERIFY(fixture.server.reloadConfiguration());
    QVERIFY(logged("configuration reloaded: no file changed"));
    QCOMPARE(servedSerial(port), serialOf(renewed.certPem));
}

void TestCertFiles::secureServerRefusesABrokenReload_data()
{
    QTest::addColumn<QString>("file"); // which file is broken: cert, key or passphrase
    QTest::addColumn<QString>("cause");
    QTest::newRow("not PEM") << "cert"
                             << "holds no PEM certificate";
    QTest::newRow("half written") << "cert"
                                  << "no END line";
    QTest::newRow("key no longer matches") << "key"
                                           << "does not match the certificate";
    QTest::newRow("wrong passphrase") << "passphrase"
                                      << "wrong passphrase for private key file";
}

void TestCertFiles::secureServerRefusesABrokenReload()
{
    QFETCH(QString, file);
    QFETCH(QString, cause);
    const RecheckClock clock(true);
    const testpki::Issued first = leaf();
    ReloadFixture fixture(m_dir, first, true);
    QVERIFY2(fixture.server.listen(QHostAddress::LocalHost, 0),
             qPrintable(fixture.server.errorString()));
    const quint16 port = fixture.server.serverPort();
    EchoStream stream(port, m_caFile);
    QVERIFY(stream.waitEncrypted());
    QVERIFY2(stream.sendAndWait(64 * 1024), qPrintable(stream.describe()));

    QString broken;
    if (QTest::currentDataTag() == QByteArray("not PEM")) {
        broken = fixture.cert;
        replaceFile(broken, "x\n");
    } else if (file == "cert") {
        broken = fixture.cert;
        replaceFile(broken, first.certPem.substr(0, first.certPem.size() / 2));
    } else if (file == "key") {
        broken = fixture.key;
        replaceFile(broken, leaf().keyPem);
    } else {
        broken = fixture.key; // the passphrase file is read for the key, which the error names
        replaceFile(fixture.passphraseFile, "not the passphrase\n");
    }
    QVERIFY(!fixture.server.reloadConfiguration());
    const QString error = fixture.server.errorString();
    QVERIFY2(error.contains(QLatin1Char('\'') + broken + QLatin1Char('\'')) &&
                 error.contains(cause),
             qPrintable(error));
    // The server serves on, with what it loaded before, to old and new clients alike.
    QCOMPARE(servedSerial(port), serialOf(first.certPem));
    QVERIFY2(stream.sendAndWait(256 * 1024), qPrintable(stream.describe()));
    // Asked again with the files still broken, it still says why.
    QVERIFY(!fixture.server.reloadConfiguration());
    QCOMPARE(fixture.server.errorString(), error);
    QCOMPARE(servedSerial(port), serialOf(first.certPem));
}

void TestCertFiles::echoserverReloadsOnSighup()
{
    const testpki::Issued first = leaf();
    const testpki::Issued renewed = leaf();
    const QString cert = m_dir.filePath("hup.pem");
    const QString key = m_dir.filePath("hup.key");
    testpki::writeFile(cert.toStdString(), first.certPem);
    testpki::writeFile(key.toStdString(), first.keyPem);
    servertest::EchoServer server(QStringLiteral(ECHOSERVER_PATH));
    QVERIFY2(server.start({"--port", "0", "--cert", cert, "--key", key, "--threads", "2"}),
             qPrintable(server.process().describe()));
    EchoStream stream(server.port(), m_caFile);
    QVERIFY(stream.waitEncrypted());
    QVERIFY2(stream.sendAndWait(256 * 1024), qPrintable(stream.describe()));

    // Renewed on disk, then SIGHUP: both workers reload, the next client gets the new one.
    replaceFile(key, renewed.keyPem);
    replaceFile(cert, renewed.certPem);
    server.process().terminate(SIGHUP);
    QVERIFY2(waitUntil(
                 [&] {
                     return linesContaining(server.log(),
                                            "listener default: configuration reloaded") == 2;
                 },
                 10000),
             server.log().constData());
    QCOMPARE(servedSerial(server.port()), serialOf(renewed.certPem));
    QVERIFY2(stream.sendAndWait(1024 * 1024), qPrintable(stream.describe()));
    QCOMPARE(stream.servedFingerprint(), fingerprintOf(first.certPem));

    // A broken file: refused with one sentence per worker naming it, the renewed one served on.
    testpki::writeFile(cert.toStdString(), "x\n");
    server.process().terminate(SIGHUP);
    const QByteArray refused = "listener default: configuration not reloaded, the files loaded "
                               "before stay in use: certificate file '" +
                               QFile::encodeName(cert) + "' holds no PEM certificate";
    QVERIFY2(waitUntil([&] { return linesContaining(server.log(), refused) == 2; }, 10000),
             server.log().constData());
    QCOMPARE(servedSerial(server.port()), serialOf(renewed.certPem));
    QVERIFY2(stream.sendAndWait(256 * 1024), qPrintable(stream.describe()));
    QVERIFY2(server.unexpectedLog().isEmpty(), server.unexpectedLog().constData());
}

QTEST_MAIN(TestCertFiles)
#include "tst_certfiles.moc"
