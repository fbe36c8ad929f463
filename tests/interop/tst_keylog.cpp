// The key log (SecureConfiguration::setKeyLogFile(), SSLKEYLOGFILE): our client against a Python
// ssl server that writes its own key log (SSLContext.keylog_filename). Both ends of one
// connection must log the same secrets for the same client random, in the NSS format that
// Wireshark reads; the file is made with mode 0600; a warning says once per process that
// secrets are written; a file that cannot be opened is a clear error, or, when named by
// SSLKEYLOGFILE, a warning and no key log.
#include <SecureSocket/secureconfiguration.h>
#include <SecureSocket/secureserver.h>
#include <SecureSocket/securesocket.h>

#include "logcapture.h"
#include "peerprocess.h"
#include "pkidirectory.h"

#include <QFile>
#include <QFileInfo>
#include <QMap>
#include <QTest>

#include <sys/stat.h>

using testsupport::CategoryLog;

namespace {

const char kServer[] = R"PY(
# A TLS echo server on Python's ssl module that writes its own key log; one connection at a time.
import socket, ssl, sys
cert, key, keylog, version = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.keylog_filename = keylog
v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
ctx.minimum_version = ctx.maximum_version = v
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(8)
print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
while True:
    raw, _ = listener.accept()
    try:
        with ctx.wrap_socket(raw, server_side=True) as tls:
            while True:
                data = tls.recv(65536)
                if not data:
                    break
                tls.sendall(data)
    except (ssl.SSLError, OSError):
        pass
)PY";

// The lines of an NSS key log as label + client random -> secret.
QMap<QByteArray, QByteArray> keyLogEntries(const QString &path)
{
    QFile file(path);
    QMap<QByteArray, QByteArray> entries;
    if (!file.open(QIODevice::ReadOnly))
        return entries;
    for (const QByteArray &line : file.readAll().split('\n')) {
        const QList<QByteArray> fields = line.trimmed().split(' ');
        if (fields.size() == 3)
            entries.insert(fields[0] + ' ' + fields[1], fields[2]);
    }
    return entries;
}

} // namespace

class tst_KeyLog : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void bothEndsLogTheSameSecrets_data();
    void bothEndsLogTheSameSecrets();
    void ourServerLogsTheSameSecrets();
    void environmentVariableNamesTheFile();
    void unusableFiles();

private:
    bool startServer(PeerProcess &server, const QString &keylog, const QString &version);
    // Connects our client with config, echoes one line, closes; true when the line came back.
    bool echoOnce(const SecureConfiguration &config, quint16 port);

    testpki::PkiDirectory m_dir;
    QString m_ca, m_cert;
};

void tst_KeyLog::initTestCase()
{
    QVERIFY(m_dir.isValid());
    testpki::Issued ca;
    m_ca = m_dir.issue(QStringLiteral("ca"), testpki::caSpec("Key Log Test CA"), nullptr, &ca);
    m_cert = m_dir.issue(QStringLiteral("server"), testpki::localhostSpec(), &ca);
    m_dir.write(QStringLiteral("server.py"), kServer);
    qunsetenv("SSLKEYLOGFILE"); // this machine's environment must not decide
}

bool tst_KeyLog::startServer(PeerProcess &server, const QString &keylog, const QString &version)
{
    return server.startServer(
        QStringLiteral("python3"),
        {m_dir.filePath(QStringLiteral("server.py")), m_cert,
         testpki::PkiDirectory::keyFileOf(m_cert), keylog, version},
        PeerProcess::portFromOutput(QStringLiteral("^listening on 127\\.0\\.0\\.1:(\\d+)$")));
}

bool tst_KeyLog::echoOnce(const SecureConfiguration &config, quint16 port)
{
    SecureSocket socket;
    socket.setConfiguration(config);
    QByteArray received;
    connect(&socket, &QIODevice::readyRead, &socket, [&] { received += socket.readAll(); });
    socket.connectToHostEncrypted(QStringLiteral("localhost"), port);
    socket.write("hello over a logged connection\n");
    const bool echoed = testsupport::waitUntil(
        [&] { return received == "hello over a logged connection\n"; }, 10000);
    if (!echoed)
        qWarning("no echo: %s", qPrintable(socket.errorString()));
    socket.disconnectFromHost();
    testsupport::waitUntil([&] { return socket.state() == QAbstractSocket::UnconnectedState; },
                           5000);
    return echoed;
}

void tst_KeyLog::bothEndsLogTheSameSecrets_data()
{
    QTest::addColumn<QString>("version");
    QTest::addColumn<QByteArrayList>("labels");
    QTest::newRow("TLS 1.3") << QStringLiteral("1.3")
                             << QByteArrayList{"CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                                               "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                                               "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0",
                                               "EXPORTER_SECRET"};
    QTest::newRow("TLS 1.2") << QStringLiteral("1.2") << QByteArrayList{"CLIENT_RANDOM"};
}

void tst_KeyLog::bothEndsLogTheSameSecrets()
{
    QFETCH(QString, version);
    QFETCH(QByteArrayList, labels);
    const QString theirs = m_dir.filePath("python-" + version + ".keys");
    const QString ours = m_dir.filePath("ours-" + version + ".keys");
    PeerProcess server;
    QVERIFY2(startServer(server, theirs, version), qPrintable(server.describe()));

    SecureConfiguration config;
    config.setCaCertificatesFile(m_ca);
    config.setUseSystemCaCertificates(false);
    config.setSessionResumption(false);
    config.setKeyLogFile(ours);
    QCOMPARE(config.keyLogFile(), ours);
    CategoryLog log("securesocket.configuration");
    QVERIFY(echoOnce(config, server.port()));
    QVERIFY(echoOnce(config, server.port()));

    // Made by us, readable by its owner only.
    struct stat info = {};
    QCOMPARE(::stat(QFile::encodeName(ours).constData(), &info), 0);
    QCOMPARE(info.st_mode & 0777, 0600u);

    const auto ourEntries = keyLogEntries(ours);
    const auto theirEntries = keyLogEntries(theirs);
    for (const QByteArray &label : labels) {
        int found = 0;
        for (auto it = ourEntries.begin(); it != ourEntries.end(); ++it) {
            if (!it.key().startsWith(label + ' '))
                continue;
            ++found;
            QVERIFY2(theirEntries.contains(it.key()), it.key().constData());
            QCOMPARE(it.value(), theirEntries.value(it.key()));
            QCOMPARE(it.value().size(), 96); // 48 bytes in hex: SHA-384 suite, or the master secret
        }
        QVERIFY2(found == 2, label.constData()); // one per connection
    }
    QCOMPARE(ourEntries.size(), theirEntries.size());

    // The warning, once per process, whatever the number of files and connections; first here.
    int warnings = 0;
    for (const auto &message : log.messages())
        warnings +=
            message.second.contains(QLatin1String("TLS session secrets are written")) ? 1 : 0;
    QCOMPARE(warnings, QTest::currentDataTag() == QByteArray("TLS 1.3") ? 1 : 0);
}

// Our own server writes its key log too: both ends of each connection agree.
void tst_KeyLog::ourServerLogsTheSameSecrets()
{
    const QString serverLog = m_dir.filePath("our-server.keys");
    const QString clientLog = m_dir.filePath("our-client.keys");
    SecureConfiguration serverConfig;
    serverConfig.setLocalCertificateChainFile(m_cert);
    serverConfig.setPrivateKeyFile(testpki::PkiDirectory::keyFileOf(m_cert));
    serverConfig.setKeyLogFile(serverLog);
    SecureServer server;
    server.setConfiguration(serverConfig);
    connect(&server, &SecureServer::newConnection, &server, [&server] {
        while (SecureSocket *socket = server.nextPendingSecureConnection()) {
            connect(socket, &QIODevice::readyRead, socket,
                    [socket] { socket->write(socket->readAll()); });
            connect(socket, &QAbstractSocket::disconnected, socket, &QObject::deleteLater);
        }
    });
    QVERIFY2(server.listen(QHostAddress::LocalHost, 0), qPrintable(server.errorString()));
    SecureConfiguration config;
    config.setCaCertificatesFile(m_ca);
    config.setUseSystemCaCertificates(false);
    config.setSessionResumption(false);
    config.setKeyLogFile(clientLog);
    for (const auto version : {SecureConfiguration::Tls13, SecureConfiguration::Tls12}) {
        config.setMaximumProtocol(version);
        QVERIFY(echoOnce(config, server.serverPort()));
    }
    const auto ours = keyLogEntries(clientLog);
    QCOMPARE(ours.size(), 6); // five TLS 1.3 secrets and one TLS 1.2 master secret
    QCOMPARE(keyLogEntries(serverLog), ours);
}

void tst_KeyLog::environmentVariableNamesTheFile()
{
    const QString theirs = m_dir.filePath("python-env.keys");
    const QString fromEnv = m_dir.filePath("from-environment.keys");
    PeerProcess server;
    QVERIFY2(startServer(server, theirs, QStringLiteral("1.3")), qPrintable(server.describe()));
    SecureConfiguration config;
    config.setCaCertificatesFile(m_ca);
    config.setUseSystemCaCertificates(false);
    config.setSessionResumption(false);
    config.setAlpnProtocols({"keylog-env"}); // settings no other test function used

    QVERIFY(echoOnce(config, server.port())); // not set: no key log
    QVERIFY(!QFileInfo::exists(fromEnv));

    qputenv("SSLKEYLOGFILE", QFile::encodeName(fromEnv));
    SecureConfiguration withEnvironment = config;
    withEnvironment.setMaximumProtocol(SecureConfiguration::Tls13); // a new object, built anew
    withEnvironment.setCipherSuites("TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384");
    QVERIFY(echoOnce(withEnvironment, server.port()));
    qunsetenv("SSLKEYLOGFILE");
    const auto entries = keyLogEntries(fromEnv);
    QCOMPARE(entries.size(), 5); // the five TLS 1.3 secrets of one connection
    const auto theirEntries = keyLogEntries(theirs);
    for (auto it = entries.begin(); it != entries.end(); ++it)
        QCOMPARE(theirEntries.value(it.key()), it.value());
}

void tst_KeyLog::unusableFiles()
{
    const QString missingDir = m_dir.filePath("no-such-dir/keys.log");
    SecureConfiguration config;
    config.setCaCertificatesFile(m_ca);
    config.setUseSystemCaCertificates(false);
    config.setKeyLogFile(missingDir);
    QCOMPARE(config.validate(),
             "cannot open key log file '" + missingDir + "': No such file or directory");

    // Named by SSLKEYLOGFILE instead: connections go on without a key log, and a warning says
    // why.
    PeerProcess server;
    QVERIFY2(startServer(server, m_dir.filePath("python-unusable.keys"), QStringLiteral("1.3")),
             qPrintable(server.describe()));
    SecureConfiguration fromEnvironment;
    fromEnvironment.setCaCertificatesFile(m_ca);
    fromEnvironment.setUseSystemCaCertificates(false);
    fromEnvironment.setAlpnProtocols({"keylog-unusable"});
    CategoryLog log("securesocket.configuration");
    qputenv("SSLKEYLOGFILE", QFile::encodeName(missingDir));
    QCOMPARE(fromEnvironment.validate(), QString());
    QVERIFY(echoOnce(fromEnvironment, server.port()));
    qunsetenv("SSLKEYLOGFILE");
    QVERIFY(!QFileInfo::exists(missingDir));
    QCOMPARE(log.messages().size(), 1);
    QCOMPARE(log.messages().first().second,
             "cannot open key log file '" + missingDir +
                 "': No such file or directory (named by SSLKEYLOGFILE): no key log is written");
}

QTEST_MAIN(tst_KeyLog)
#include "tst_keylog.moc"
