// The code of the guides in doc/ (getting started, certificates, certificate errors, threads),
// run as a newcomer would run it, each snippet program as a child process on loopback:
// - imaps_client against a throwaway Dovecot whose certificate names only DNS:localhost: a
//   verified session, then refusals naming the cause (another CA; connected by IP address).
// - certificates.sh in a temporary directory; the echoserver example with echoserver.ini (port 0
//   instead of 8440) on 127.0.125.10; two_way_client with alice's encrypted key is served, one
//   without a client certificate is refused. two_way_server with the same files.
// - certificate_errors' three ways against a self-signed "lab device" (a SecureServer here),
//   each accepting that certificate and refusing another self-signed one.
// - threaded_server with blocking_client: several blocking threads, served by two workers.
// - the echoserver reads server_sni.ini (doc/server-sni.md) in an empty directory: every key is
//   taken, and it stops at the first missing file, naming the listener (no file, no listening
//   on the guide's 0.0.0.0:8443).
#include "dovecotserver.h"
#include "peerprocess.h"
#include "pkidirectory.h"
#include "testpki.h"

#include <SecureSocket/secureserver.h>

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

namespace {

constexpr int kRunMsecs = 20000; // one snippet run, at most (their own timeouts are shorter)

// Runs a snippet to its end (the event loop runs meanwhile, for servers in this process).
struct Run
{
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
    QString description;
};

Run runSnippet(const QString &program, const QStringList &arguments)
{
    PeerProcess process;
    Run run;
    if (!process.start(program, arguments) || !process.waitForExit(kRunMsecs)) {
        run.description = process.describe();
        return run;
    }
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -2;
    run.out = process.standardOutput();
    run.err = process.standardError();
    run.description = process.describe();
    return run;
}

} // namespace

class tst_Guides : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();

    void gettingStarted();
    void gettingStartedRefuses_data();
    void gettingStartedRefuses();
    void echoserverIni();
    void echoserverSniIni();
    void twoWayServer();
    void certificateErrors_data();
    void certificateErrors();
    void threadedServerBlockingClients();

private:
    QString script(const QString &name) const { return m_scriptDir.filePath(name); }

    testpki::PkiDirectory m_pki;
    QTemporaryDir m_scriptDir; // what certificates.sh made
    QString m_ca, m_otherCa, m_leaf, m_labDevice, m_otherDevice;
    DovecotServer m_dovecot{QStringLiteral("alice"), "unused-password", 1};
};

void tst_Guides::initTestCase()
{
    QVERIFY(m_pki.isValid());
    QVERIFY(m_scriptDir.isValid());
    testpki::Issued ca, imap, lab;
    try {
        m_ca = m_pki.issue(QStringLiteral("ca"), testpki::caSpec("Guides Test CA"), nullptr, &ca);
        m_otherCa = m_pki.issue(QStringLiteral("other-ca"), testpki::caSpec("Other CA"), nullptr);
        m_leaf = m_pki.issue(QStringLiteral("leaf"), testpki::localhostSpec(), &ca);
        // DNS:localhost only: connecting to 127.0.0.1 must fail.
        imap = testpki::makeCertificate(testpki::serverSpec("localhost", {"localhost"}), &ca);
        m_labDevice = m_pki.issue(QStringLiteral("lab"), testpki::localhostSpec(), nullptr, &lab);
        m_otherDevice = m_pki.issue(QStringLiteral("other-lab"), testpki::localhostSpec(), nullptr);
    } catch (const std::exception &e) {
        QFAIL(e.what());
    }
    QVERIFY2(m_dovecot.start(QByteArray::fromStdString(imap.certPem),
                             QByteArray::fromStdString(imap.keyPem)),
             qPrintable(m_dovecot.errorString()));

    // The guide's commands, as a reader runs them: in an empty directory.
    QProcess sh;
    sh.setWorkingDirectory(m_scriptDir.path());
    sh.setProcessChannelMode(QProcess::MergedChannels);
    sh.start(QStringLiteral("sh"), {QStringLiteral(SNIPPETS_DIR "/certificates.sh")});
    QVERIFY2(sh.waitForFinished(kRunMsecs), qPrintable(sh.errorString()));
    const QByteArray output = sh.readAll();
    QVERIFY2(sh.exitStatus() == QProcess::NormalExit && sh.exitCode() == 0, output.constData());
    QVERIFY2(output.contains("server.pem: OK") && output.contains("alice.pem: OK"),
             output.constData());
    for (const char *file : {"ca.pem", "server.pem", "server.key", "alice.pem", "alice.key"})
        QVERIFY2(QFile::exists(script(QLatin1String(file))), file);
    QFile key(script(QStringLiteral("alice.key")));
    QVERIFY(key.open(QIODevice::ReadOnly));
    QVERIFY(key.readAll().startsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    QCOMPARE(key.permissions() & (QFile::ReadOther | QFile::ReadGroup), QFile::Permissions());
}

void tst_Guides::cleanupTestCase()
{
    QVERIFY2(m_dovecot.stop(), qPrintable(m_dovecot.errorString()));
}

// doc/getting-started.md: the whole session, verified.
void tst_Guides::gettingStarted()
{
    const Run run =
        runSnippet(QStringLiteral(IMAPS_CLIENT_PATH),
                   {QStringLiteral("localhost"), QString::number(m_dovecot.imapsPort()), m_ca});
    QVERIFY2(run.exitCode == 0, qPrintable(run.description));
    for (const char *expected : {"Encrypted (TLSv1.3), server verified: CN=localhost\n", "S: * OK ",
                                 "S: * CAPABILITY ", "S: a001 OK ", "S: * BYE ", "S: a002 OK "}) {
        QVERIFY2(run.out.contains(expected), qPrintable(run.description));
    }
    QVERIFY2(run.err.isEmpty(), qPrintable(run.description));
}

void tst_Guides::gettingStartedRefuses_data()
{
    QTest::addColumn<QString>("host");
    QTest::addColumn<bool>("otherCa");
    QTest::addColumn<QByteArray>("cause");
    QTest::newRow("another CA") << QStringLiteral("localhost") << true
                                << QByteArray("Certificate check failed: unknown issuer: "
                                              "certificate 'CN=localhost' was issued by");
    QTest::newRow("an IP address the certificate lacks")
        << QStringLiteral("127.0.0.1") << false
        << QByteArray("Certificate check failed: IP address mismatch: certificate "
                      "'CN=localhost' is valid for localhost; connected to 127.0.0.1");
}

// doc/getting-started.md: a server it cannot verify ends the program with the cause, before
// anything is sent.
void tst_Guides::gettingStartedRefuses()
{
    QFETCH(QString, host);
    QFETCH(bool, otherCa);
    QFETCH(QByteArray, cause);
    const Run run =
        runSnippet(QStringLiteral(IMAPS_CLIENT_PATH),
                   {host, QString::number(m_dovecot.imapsPort()), otherCa ? m_otherCa : m_ca});
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(run.err.contains(cause), qPrintable(run.description));
    QVERIFY2(run.err.contains("imaps_client: connection failed: "), qPrintable(run.description));
    QVERIFY2(!run.out.contains("Encrypted") && !run.out.contains("S: "),
             qPrintable(run.description));
}

// doc/certificates.md: the echoserver with the guide's INI file (on port 0) and the files of
// certificates.sh: alice is served, a client without a certificate is refused.
void tst_Guides::echoserverIni()
{
    QFile guideIni(QStringLiteral(SNIPPETS_DIR "/echoserver.ini"));
    QVERIFY(guideIni.open(QIODevice::ReadOnly));
    QByteArray ini = guideIni.readAll();
    QVERIFY(ini.contains("\nport = 8440\n"));
    ini.replace("\nport = 8440\n", "\nport = 0\n");
    QFile copy(script(QStringLiteral("echoserver.ini")));
    QVERIFY(copy.open(QIODevice::WriteOnly) && copy.write(ini) == ini.size());
    copy.close();

    // The INI file names its files relative to the directory the server runs in.
    const QString previous = QDir::currentPath();
    QVERIFY(QDir::setCurrent(m_scriptDir.path()));
    PeerProcess server;
    const bool started = server.startServer(
        QStringLiteral(ECHOSERVER_PATH), {QStringLiteral("--config"), copy.fileName()},
        PeerProcess::portFromOutput(
            QStringLiteral("listener TwoWay on 127\\.0\\.125\\.10:(\\d+) \\(two-way TLS\\)")));
    QVERIFY(QDir::setCurrent(previous));
    QVERIFY2(started, qPrintable(server.describe()));
    const QString port = QString::number(server.port());

    const Run alice =
        runSnippet(QStringLiteral(TWO_WAY_CLIENT_PATH),
                   {QStringLiteral("127.0.125.10"), port, script(QStringLiteral("ca.pem")),
                    script(QStringLiteral("alice.pem")), script(QStringLiteral("alice.key")),
                    script(QStringLiteral("alice.pass"))});
    QVERIFY2(alice.exitCode == 0, qPrintable(alice.description));
    QVERIFY2(alice.out.startsWith("echoed by CN=localhost over TLSv1.3"),
             qPrintable(alice.description));
    QVERIFY2(server.waitForError("client=\"CN=alice\" echoed=6 bytes", 5000),
             qPrintable(server.describe()));

    const Run anonymous =
        runSnippet(QStringLiteral(TWO_WAY_CLIENT_PATH),
                   {QStringLiteral("127.0.125.10"), port, script(QStringLiteral("ca.pem"))});
    QCOMPARE(anonymous.exitCode, 1);
    QVERIFY2(anonymous.err.contains("certificate required"), qPrintable(anonymous.description));
    QVERIFY2(server.waitForError("handshake failed", 5000), qPrintable(server.describe()));
}

// doc/server-sni.md: the INI section parses (its inline comment, the three chains of
// "certificates", refuseUnknownServerName); the server then checks the files and stops at the
// first, which this empty directory lacks.
void tst_Guides::echoserverSniIni()
{
    QTemporaryDir empty;
    QVERIFY(empty.isValid());
    const QString previous = QDir::currentPath();
    QVERIFY(QDir::setCurrent(empty.path())); // the INI file's paths are relative to it
    PeerProcess server;
    const bool started =
        server.start(QStringLiteral(ECHOSERVER_PATH),
                     {QStringLiteral("--config"), QStringLiteral(SNIPPETS_DIR "/server_sni.ini")});
    QVERIFY(QDir::setCurrent(previous));
    QVERIFY2(started, qPrintable(server.describe()));
    QVERIFY2(server.waitForExit(kRunMsecs), qPrintable(server.describe()));
    QCOMPARE(server.exitStatus(), QProcess::NormalExit);
    QCOMPARE(server.exitCode(), 1); // a malformed INI file would exit with 64
    QVERIFY2(server.standardError().contains("echoserver: listener public: cannot read certificate "
                                             "file 'default.pem': "),
             qPrintable(server.describe()));
}

// doc/certificates.md: SecureServer requiring a client certificate, with the script's files.
void tst_Guides::twoWayServer()
{
    PeerProcess server;
    QVERIFY2(server.startServer(QStringLiteral(TWO_WAY_SERVER_PATH),
                                {script(QStringLiteral("server.pem")),
                                 script(QStringLiteral("server.key")), QString(),
                                 script(QStringLiteral("ca.pem"))},
                                PeerProcess::portFromOutput(QStringLiteral("listening on port "
                                                                           "(\\d+)"))),
             qPrintable(server.describe()));
    const QString port = QString::number(server.port());
    const Run alice =
        runSnippet(QStringLiteral(TWO_WAY_CLIENT_PATH),
                   {QStringLiteral("localhost"), port, script(QStringLiteral("ca.pem")),
                    script(QStringLiteral("alice.pem")), script(QStringLiteral("alice.key")),
                    script(QStringLiteral("alice.pass"))});
    QVERIFY2(alice.exitCode == 0, qPrintable(alice.description));
    QVERIFY2(server.waitForOutput("client: CN=alice\n", 5000), qPrintable(server.describe()));

    const Run anonymous =
        runSnippet(QStringLiteral(TWO_WAY_CLIENT_PATH),
                   {QStringLiteral("localhost"), port, script(QStringLiteral("ca.pem"))});
    QCOMPARE(anonymous.exitCode, 1);
    QVERIFY2(server.waitForOutput("refused: ", 5000), qPrintable(server.describe()));

    // A wrong passphrase is said before connecting, naming the file.
    QFile wrong(script(QStringLiteral("wrong.pass")));
    QVERIFY(wrong.open(QIODevice::WriteOnly) && wrong.write("not the passphrase\n") > 0);
    wrong.close();
    const Run badKey =
        runSnippet(QStringLiteral(TWO_WAY_CLIENT_PATH),
                   {QStringLiteral("localhost"), port, script(QStringLiteral("ca.pem")),
                    script(QStringLiteral("alice.pem")), script(QStringLiteral("alice.key")),
                    wrong.fileName()});
    QCOMPARE(badKey.exitCode, 1);
    QVERIFY2(badKey.err.contains("alice.key"), qPrintable(badKey.description));
}

void tst_Guides::certificateErrors_data()
{
    QTest::addColumn<QString>("way");
    QTest::addColumn<bool>("expected"); // the certificate given is the device's
    for (const char *way : {"forgive", "list", "pin"}) {
        QTest::addRow("%s: the device's certificate", way) << QString::fromLatin1(way) << true;
        QTest::addRow("%s: another certificate", way) << QString::fromLatin1(way) << false;
    }
}

// doc/certificate-errors.md: each way accepts the lab device's self-signed certificate, and
// only that one.
void tst_Guides::certificateErrors()
{
    QFETCH(QString, way);
    QFETCH(bool, expected);
    SecureConfiguration config;
    config.setLocalCertificateChainFile(m_labDevice);
    config.setPrivateKeyFile(testpki::PkiDirectory::keyFileOf(m_labDevice));
    SecureServer device;
    device.setConfiguration(config);
    device.setClientCertificatePolicy(SecureServer::NoClientCertificate);
    QVERIFY2(device.listen(QHostAddress::LocalHost, 0), qPrintable(device.errorString()));
    const Run run =
        runSnippet(QStringLiteral(CERTIFICATE_ERRORS_PATH),
                   {way, QStringLiteral("localhost"), QString::number(device.serverPort()),
                    expected ? m_labDevice : m_otherDevice});
    if (expected) {
        QVERIFY2(run.exitCode == 0, qPrintable(run.description));
        QVERIFY2(run.out.startsWith(way == QLatin1String("pin")
                                        ? "encrypted with CN=localhost (0 failure(s) forgiven)"
                                        : "encrypted with CN=localhost (1 failure(s) forgiven)"),
                 qPrintable(run.description));
    } else {
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.err.contains(way == QLatin1String("pin") ? "pin-mismatch: " : "self-signed: "),
                 qPrintable(run.description));
    }
}

// doc/threads.md: blocking clients in threads without an event loop, against a server that
// hands its connections to two worker threads.
void tst_Guides::threadedServerBlockingClients()
{
    PeerProcess server;
    QVERIFY2(
        server.startServer(QStringLiteral(THREADED_SERVER_PATH),
                           {m_leaf, testpki::PkiDirectory::keyFileOf(m_leaf), QStringLiteral("2")},
                           PeerProcess::portFromOutput(QStringLiteral("listening on port "
                                                                      "(\\d+)"))),
        qPrintable(server.describe()));
    const Run run = runSnippet(
        QStringLiteral(BLOCKING_CLIENT_PATH),
        {QStringLiteral("localhost"), QString::number(server.port()), m_ca, QStringLiteral("4")});
    QVERIFY2(run.exitCode == 0, qPrintable(run.description));
    for (int i = 0; i < 4; ++i) {
        QVERIFY2(run.out.contains("echoed: hello from thread " + QByteArray::number(i) + '\n'),
                 qPrintable(run.description));
    }
    QVERIFY2(server.waitForOutput("served by worker 0", 5000) &&
                 server.waitForOutput("served by worker 1", 5000),
             qPrintable(server.describe()));
}

QTEST_GUILESS_MAIN(tst_Guides)
#include "tst_guides.moc"
