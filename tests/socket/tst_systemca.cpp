// The system CA store as OpenSSL finds it: SSL_CERT_FILE and SSL_CERT_DIR each replace their
// own default, and when both are set both are used. The store is loaded once per process, so
// each case runs this same program again as a client (SECURESOCKET_SYSTEMCA_CONNECT=port) in
// the environment under test, against servers whose CAs are only in the file or only in the
// directory.
#include <SecureSocket/securesocket.h>

#include "socketfixture.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QTest>

#include <cstdio>

namespace {

constexpr char kConnectVariable[] = "SECURESOCKET_SYSTEMCA_CONNECT";

// The child: a client with default settings (system CAs only); exit 0 once encrypted.
int connectAsChild(quint16 port)
{
    std::printf("source: %s\n", qPrintable(systemCaCertificatesSource()));
    std::fflush(stdout);
    SecureSocket socket;
    socket.connectToHostEncrypted(QStringLiteral("localhost"), port);
    if (socket.waitForEncrypted(10000))
        return 0;
    std::fprintf(stderr, "%s\n", qPrintable(socket.errorString()));
    return 1;
}

} // namespace

class TestSystemCa : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void variables_data();
    void variables();
    void variablesNamingTheDefaults();

private:
    bool verifies(quint16 port, const QProcessEnvironment &environment, QString *output);

    TestPki m_pki;
    QString m_fileCa; // a bundle holding CA "file"
    QString m_dirCa;  // a hashed directory holding CA "dir"
    std::unique_ptr<TestServer> m_fileServer;
    std::unique_ptr<TestServer> m_dirServer;
};

void TestSystemCa::initTestCase()
{
    QVERIFY(m_pki.isValid());
    const testpki::Issued fileCa =
        testpki::makeCertificate(testpki::caSpec("CA only in SSL_CERT_FILE"));
    const testpki::Issued dirCa =
        testpki::makeCertificate(testpki::caSpec("CA only in SSL_CERT_DIR"));
    m_fileCa = m_pki.write(QStringLiteral("bundle.pem"), fileCa.certPem);
    m_dirCa = QFileInfo(m_fileCa).absolutePath() + QStringLiteral("/hashed");
    QVERIFY(QDir().mkpath(m_dirCa));
    m_pki.write(QStringLiteral("hashed/dir-ca.pem"), dirCa.certPem);
    PeerProcess rehash;
    QVERIFY2(rehash.start(QStringLiteral("openssl"), {QStringLiteral("rehash"), m_dirCa}),
             qPrintable(rehash.describe()));
    QVERIFY2(rehash.waitForExit(10000) && rehash.exitCode() == 0, qPrintable(rehash.describe()));

    const testpki::CertSpec leaf = testpki::serverSpec("localhost", {"localhost"});
    for (auto [ca, server] : {std::pair{&fileCa, &m_fileServer}, {&dirCa, &m_dirServer}}) {
        const QString cert = m_pki.issue(
            ca == &fileCa ? QStringLiteral("file-server") : QStringLiteral("dir-server"), leaf, ca);
        *server = std::make_unique<TestServer>(TestServer::Tls, serverConfiguration(cert));
        QVERIFY((*server)->start());
    }
}

void TestSystemCa::variables_data()
{
    QTest::addColumn<bool>("setFile");
    QTest::addColumn<bool>("setDir");
    QTest::newRow("SSL_CERT_FILE and SSL_CERT_DIR") << true << true;
    QTest::newRow("SSL_CERT_FILE only") << true << false;
    QTest::newRow("SSL_CERT_DIR only") << false << true;
}

void TestSystemCa::variables()
{
    QFETCH(bool, setFile);
    QFETCH(bool, setDir);
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.remove(QStringLiteral("SSL_CERT_FILE"));
    environment.remove(QStringLiteral("SSL_CERT_DIR"));
    if (setFile)
        environment.insert(QStringLiteral("SSL_CERT_FILE"), m_fileCa);
    if (setDir)
        environment.insert(QStringLiteral("SSL_CERT_DIR"), m_dirCa);
    QString output;
    QCOMPARE(verifies(m_fileServer->port(), environment, &output), setFile);
    if (!setFile)
        QVERIFY2(output.contains(QStringLiteral("issuer")), qPrintable(output));
    QCOMPARE(verifies(m_dirServer->port(), environment, &output), setDir);
    if (!setDir)
        QVERIFY2(output.contains(QStringLiteral("issuer")), qPrintable(output));
}

// Some systems set both variables to OpenSSL's own defaults (Debian's bundle and its hashed
// directory): that is the default pair, and the bundle is not parsed (tens of milliseconds per
// process), the directory being read on demand.
void TestSystemCa::variablesNamingTheDefaults()
{
    PeerProcess openssl;
    QVERIFY2(openssl.start(QStringLiteral("openssl"),
                           {QStringLiteral("version"), QStringLiteral("-d")}) &&
                 openssl.waitForExit(10000),
             qPrintable(openssl.describe()));
    // OPENSSLDIR: "/usr/lib/ssl"
    const QString dir =
        QString::fromLatin1(openssl.standardOutput()).section(QLatin1Char('"'), 1, 1);
    const QString file = dir + QStringLiteral("/cert.pem");
    const QString certs = dir + QStringLiteral("/certs");
    QVERIFY2(QFileInfo(file).isFile() && QFileInfo(certs).isDir(), qPrintable(dir));
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("SSL_CERT_FILE"), QFileInfo(file).canonicalFilePath());
    environment.insert(QStringLiteral("SSL_CERT_DIR"), QFileInfo(certs).canonicalFilePath());
    QString output;
    verifies(m_dirServer->port(), environment, &output); // not trusted: only the source matters
    const QString source = output.section(QLatin1Char('\n'), 0, 0);
    QVERIFY2(source.startsWith(QStringLiteral("source: directory ")), qPrintable(source));
    QVERIFY2(!source.contains(QStringLiteral(" file ")), qPrintable(source));
}

bool TestSystemCa::verifies(quint16 port, const QProcessEnvironment &environment, QString *output)
{
    QProcessEnvironment childEnvironment = environment;
    childEnvironment.insert(QLatin1String(kConnectVariable), QString::number(port));
    PeerProcess child;
    child.setEnvironment(childEnvironment);
    child.setMergedChannels(true);
    if (!child.start(QCoreApplication::applicationFilePath(), {})) {
        *output = child.describe();
        qWarning("the child did not start: %s", qPrintable(*output));
        return false;
    }
    // The server runs in this process's event loop while the child connects.
    const bool finished = child.waitForExit(20000);
    *output = QString::fromLocal8Bit(child.standardOutput());
    if (!finished) {
        child.kill();
        qWarning("the child did not finish: %s", qPrintable(*output));
        return false;
    }
    return child.exitStatus() == QProcess::NormalExit && child.exitCode() == 0;
}

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QByteArray port = qgetenv(kConnectVariable);
    if (!port.isEmpty())
        return connectAsChild(static_cast<quint16>(port.toUInt()));
    TestSystemCa test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_systemca.moc"
