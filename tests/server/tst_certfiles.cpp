// Certificate files of a running server: warnings about our own certificate at start, and a
// file that changes on disk and no longer loads, which must leave the last good one in use.
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

private:
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

QTEST_MAIN(TestCertFiles)
#include "tst_certfiles.moc"
