// The echoserver example, run as a process, against real TLS clients on loopback: openssl
// s_client (TLS 1.2 and 1.3), gnutls-cli and Python's ssl module each get back exactly what they
// sent (compared by SHA-256, 1 byte to 64 MiB); curl talks to a small HTTPS responder built on
// SecureServer in this process. Two-way TLS, the INI file, start-up failures, SIGTERM and worker
// threads are checked through the program's exit status, its log and what the clients saw.
#include <SecureSocket/secureserver.h>

#include "serverhelpers.h"

#include <QDir>
#include <QFile>
#include <QHash>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using servertest::ClientResult;
using servertest::EchoServer;
using servertest::waitUntil;

namespace {

constexpr qint64 kKiB = 1024;
constexpr qint64 kMiB = 1024 * 1024;
constexpr qint64 kLargest = LARGEST_ECHO;

// A tiny HTTPS responder on SecureServer: GET / answers kHttpBody, POST answers the request
// body. One request per connection; "Expect: 100-continue" is honoured.
const QByteArray kHttpBody = "hello over HTTPS from SecureServer\n";

class HttpsResponder : public QObject
{
public:
    bool listen(const SecureConfiguration &config)
    {
        m_server.setConfiguration(config);
        connect(&m_server, &SecureServer::newConnection, this, [this] {
            while (SecureSocket *socket = m_server.nextPendingSecureConnection())
                serve(socket);
        });
        return m_server.listen(QHostAddress::LocalHost, 0);
    }
    quint16 port() const { return m_server.serverPort(); }
    int served() const { return m_served; }

private:
    void serve(SecureSocket *socket)
    {
        struct Exchange
        {
            QByteArray request;
            bool continued = false; // "100 Continue" sent
            bool answered = false;
        };
        auto exchange = std::make_shared<Exchange>();
        connect(socket, &SecureSocket::disconnected, socket, &QObject::deleteLater);
        connect(socket, &SecureSocket::readyRead, socket, [this, socket, exchange] {
            exchange->request += socket->readAll();
            const qsizetype end = exchange->request.indexOf("\r\n\r\n");
            if (end < 0 || exchange->answered)
                return;
            const QByteArray head = exchange->request.left(end).toLower();
            static const QRegularExpression lengthHeader(
                QStringLiteral("\r\ncontent-length: *(\\d+)"));
            const auto match = lengthHeader.match(QString::fromLatin1(head));
            const qint64 length = match.hasMatch() ? match.captured(1).toLongLong() : 0;
            if (exchange->request.size() - end - 4 < length) {
                if (!exchange->continued && head.contains("\r\nexpect: 100-continue")) {
                    exchange->continued = true;
                    socket->write("HTTP/1.1 100 Continue\r\n\r\n");
                }
                return;
            }
            const QByteArray body =
                head.startsWith("post ") ? exchange->request.mid(end + 4, length) : kHttpBody;
            socket->write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                          "Connection: close\r\nContent-Length: " +
                          QByteArray::number(body.size()) + "\r\n\r\n" + body);
            socket->disconnectFromHost();
            exchange->answered = true;
            ++m_served;
        });
    }

    SecureServer m_server;
    int m_served = 0;
};

} // namespace

class TestEchoServer : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void opensslClient_data();
    void opensslClient();
    void gnutlsClient_data();
    void gnutlsClient();
    void pythonClient_data();
    void pythonClient();
    void endingsAreLogged_data();
    void endingsAreLogged();
    void curlAgainstSecureServer_data();
    void curlAgainstSecureServer();
    void twoWayAcceptsClientCertificate();
    void twoWayRefusesClient_data();
    void twoWayRefusesClient();
    void configFileWithTwoListeners();
    void sessionTickets_data();
    void sessionTickets();
    void startupFailure_data();
    void startupFailure();
    void stopSignalSendsCloseNotify_data();
    void stopSignalSendsCloseNotify();
    void threadsServeConcurrently();
    void helpListsEveryOption();

private:
    QString dataFile(qint64 size);
    QStringList oneWay() const
    {
        return {"--port", "0", "--cert", m_pki.serverCert, "--key", m_pki.serverKey};
    }
    QStringList twoWay() const
    {
        return oneWay() + QStringList{"--client-ca", m_pki.clientCa, "--require-client-cert"};
    }
    bool runPython(PeerProcess &python, const QStringList &arguments, int msecs = 120000);
    EchoServer &startEchoServer(const QStringList &arguments, int listeners = 1);

    std::unique_ptr<EchoServer> m_server; // the one of the test running, checked in cleanup()

    QTemporaryDir m_dir;
    servertest::Pki m_pki;
    QString m_python;
    QHash<qint64, QString> m_files;
};

void TestEchoServer::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pki = servertest::Pki::create(m_dir.path());
    m_python = servertest::writePythonClient(m_dir.path());
    QVERIFY2(QFile::exists(QStringLiteral(ECHOSERVER_PATH)), ECHOSERVER_PATH);
}

void TestEchoServer::cleanup()
{
    if (!m_server)
        return;
    const QByteArray unexpected = m_server->unexpectedLog();
    m_server.reset();
    QVERIFY2(unexpected.isEmpty(), unexpected.constData());
}

EchoServer &TestEchoServer::startEchoServer(const QStringList &arguments, int listeners)
{
    m_server = std::make_unique<EchoServer>(QStringLiteral(ECHOSERVER_PATH));
    m_server->start(arguments, listeners);
    return *m_server;
}

// A file of size pseudo-random bytes, made once.
QString TestEchoServer::dataFile(qint64 size)
{
    if (!m_files.contains(size)) {
        const QString path = m_dir.filePath(QStringLiteral("data-%1.bin").arg(size));
        servertest::writeRandomFile(path, size, static_cast<quint32>(size));
        m_files.insert(size, path);
    }
    return m_files.value(size);
}

bool TestEchoServer::runPython(PeerProcess &python, const QStringList &arguments, int msecs)
{
    return python.start(QStringLiteral("python3"), QStringList{m_python} + arguments) &&
           python.waitForExit(msecs);
}

void TestEchoServer::opensslClient_data()
{
    QTest::addColumn<QString>("version");
    QTest::addColumn<qint64>("size");
    for (const char *version : {"-tls1_2", "-tls1_3"}) {
        for (const qint64 size : {qint64(1), qint64(1000), 64 * kKiB, kMiB}) {
            const QByteArray name = version + (' ' + QByteArray::number(size)) + " bytes";
            QTest::newRow(name.constData()) << QString::fromLatin1(version) << size;
        }
    }
}

void TestEchoServer::opensslClient()
{
    QFETCH(QString, version);
    QFETCH(qint64, size);
    EchoServer &server = startEchoServer(oneWay());
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));

    // s_client sends its stdin and prints what it receives; -quiet keeps it running after the
    // end of its input, so it is stopped once every byte has come back.
    PeerProcess client;
    const QString input = dataFile(size);
    client.setStandardInputFile(input);
    QVERIFY2(client.start(QStringLiteral("openssl"),
                          {"s_client", "-connect", "127.0.0.1:" + server.portText(), "-CAfile",
                           m_pki.ca, "-verify_return_error", "-verify_hostname", "localhost",
                           "-servername", "localhost", "-quiet", version}),
             qPrintable(client.describe()));
    QVERIFY2(
        client.waitForStdout([size](const QByteArray &out) { return out.size() >= size; }, 60000),
        qPrintable(client.describe()));
    // Anything beyond what was sent would show now. No event marks "no more": s_client -quiet
    // stays connected, and without -quiet it would close before the echo came back.
    QTest::qWait(50);
    QCOMPARE(client.standardOutput().size(), size);
    QCOMPARE(servertest::sha256Hex(client.standardOutput()), servertest::sha256OfFile(input));
    client.kill();
    // Verified: the chain up to the test CA, and the name (-verify_return_error aborts if not).
    QVERIFY2(client.standardError().contains("depth=0 CN = localhost\nverify return:1"),
             qPrintable(client.describe()));

    const QByteArray expected = (version == QLatin1String("-tls1_2") ? "TLSv1.2" : "TLSv1.3");
    const QByteArray echoed = " echoed=" + QByteArray::number(size) + " bytes";
    QVERIFY2(server.waitForLog(echoed), server.log().constData());
    const QByteArray log = server.log();
    const QByteArray line = log.mid(log.lastIndexOf('\n', log.indexOf(echoed)) + 1);
    QVERIFY2(line.left(line.indexOf('\n')).contains(" " + expected + " "), log.constData());
}

void TestEchoServer::gnutlsClient_data()
{
    QTest::addColumn<qint64>("size");
    // gnutls-cli itself moves about 1 MB/s through stdin and stdout, whatever the server.
    for (const qint64 size : {qint64(1), qint64(1000), 64 * kKiB, kMiB})
        QTest::addRow("%lld bytes", static_cast<long long>(size)) << size;
}

void TestEchoServer::gnutlsClient()
{
    QFETCH(qint64, size);
    EchoServer &server = startEchoServer(oneWay());
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));

    // gnutls-cli verifies the chain and the name by default; at the end of its input it sends
    // close_notify and prints what arrives until the server closes too.
    PeerProcess client;
    const QString input = dataFile(size);
    const QString info = m_dir.filePath(QStringLiteral("gnutls-info.txt"));
    client.setStandardInputFile(input);
    QVERIFY2(
        client.start(QStringLiteral("gnutls-cli"), {"--logfile=" + info, "--x509cafile", m_pki.ca,
                                                    "-p", server.portText(), "localhost"}),
        qPrintable(client.describe()));
    QVERIFY2(client.waitForExit(60000), qPrintable(client.describe()));
    QVERIFY2(client.exitStatus() == QProcess::NormalExit && client.exitCode() == 0,
             qPrintable(client.describe()));
    QCOMPARE(client.standardOutput().size(), size);
    QCOMPARE(servertest::sha256Hex(client.standardOutput()), servertest::sha256OfFile(input));
    QVERIFY2(server.waitForLog(" echoed=" + QByteArray::number(size) + " bytes ended=close_notify"),
             server.log().constData());
}

void TestEchoServer::pythonClient_data()
{
    QTest::addColumn<qint64>("size");
    QTest::addColumn<QString>("tls");
    QTest::addColumn<int>("connections");
    for (const qint64 size : {qint64(1), qint64(1000), 64 * kKiB, kMiB, kLargest})
        QTest::addRow("%lld bytes", static_cast<long long>(size)) << size << "any" << 1;
    QTest::newRow("1 MiB, TLS 1.2") << kMiB << "1.2" << 1;
    QTest::newRow("1 MiB on 4 connections at once") << kMiB << "any" << 4;
}

void TestEchoServer::pythonClient()
{
    QFETCH(qint64, size);
    QFETCH(QString, tls);
    QFETCH(int, connections);
    EchoServer &server = startEchoServer(oneWay());
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));
    const QString input = dataFile(size);
    PeerProcess python;
    QVERIFY2(runPython(python, {"--port", server.portText(), "--ca", m_pki.ca, "--tls", tls,
                                "--send", input, "--connections", QString::number(connections)}),
             qPrintable(python.describe()));
    const ClientResult result = servertest::parseClientResult(python.standardOutput());
    QVERIFY2(result.ok, qPrintable(python.describe()));
    QCOMPARE(result.connections.size(), connections);
    for (const ClientResult::Connection &connection : result.connections) {
        QCOMPARE(connection.received, size);
        QCOMPARE(connection.sha256, servertest::sha256OfFile(input));
        QCOMPARE(connection.end, QStringLiteral("clean"));
        if (tls == QLatin1String("1.2"))
            QCOMPARE(connection.version, QStringLiteral("TLSv1.2"));
    }
    const QByteArray echoed = " echoed=" + QByteArray::number(size) + " bytes ended=close_notify";
    QVERIFY2(waitUntil([&] { return server.log().count(echoed) == connections; }, 10000),
             server.log().constData());
}

// Each connection's log line says how it ended: close_notify, truncated, or reset.
void TestEchoServer::endingsAreLogged_data()
{
    QTest::addColumn<QString>("end");
    QTest::addColumn<QByteArray>("logged");
    QTest::newRow("close_notify") << "clean" << QByteArray("ended=close_notify");
    QTest::newRow("truncated") << "truncate" << QByteArray("ended=truncated");
    QTest::newRow("reset") << "reset" << QByteArray("ended=reset");
}

void TestEchoServer::endingsAreLogged()
{
    QFETCH(QString, end);
    QFETCH(QByteArray, logged);
    EchoServer &server = startEchoServer(oneWay());
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));
    const QString input = dataFile(1000);
    PeerProcess python;
    QVERIFY2(runPython(python, {"--port", server.portText(), "--ca", m_pki.ca, "--send", input,
                                "--end", end}),
             qPrintable(python.describe()));
    QVERIFY2(servertest::parseClientResult(python.standardOutput()).ok,
             qPrintable(python.describe()));
    QVERIFY2(server.waitForLog(" echoed=1000 bytes " + logged), server.log().constData());
}

void TestEchoServer::curlAgainstSecureServer_data()
{
    QTest::addColumn<qint64>("size"); // -1: GET
    QTest::newRow("GET") << qint64(-1);
    for (const qint64 size : {qint64(1), qint64(1000), 64 * kKiB, kMiB, 8 * kMiB})
        QTest::addRow("POST %lld bytes", static_cast<long long>(size)) << size;
}

void TestEchoServer::curlAgainstSecureServer()
{
    QFETCH(qint64, size);
    HttpsResponder responder;
    SecureConfiguration config;
    config.setLocalCertificateChainFile(m_pki.serverCert);
    config.setPrivateKeyFile(m_pki.serverKey);
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    QVERIFY(responder.listen(config));

    const QString output = m_dir.filePath(QStringLiteral("curl-output.bin"));
    QFile::remove(output);
    QStringList arguments{"-sS",
                          "--fail",
                          "--max-time",
                          "60",
                          "--cacert",
                          m_pki.ca,
                          "-o",
                          output,
                          "-w",
                          "%{http_code} %{ssl_verify_result}",
                          QStringLiteral("https://localhost:%1/").arg(responder.port())};
    if (size >= 0) {
        arguments << "--data-binary"
                  << "@" + dataFile(size) << "-H"
                  << "Content-Type: application/octet-stream";
    }
    PeerProcess curl;
    // The responder runs in this thread: the wait below runs the event loop.
    QVERIFY2(curl.start(QStringLiteral("curl"), arguments), qPrintable(curl.describe()));
    QVERIFY2(curl.waitForExit(90000), qPrintable(curl.describe()));
    QVERIFY2(curl.exitStatus() == QProcess::NormalExit && curl.exitCode() == 0,
             qPrintable(curl.describe()));
    QCOMPARE(curl.standardOutput(), QByteArray("200 0"));
    QCOMPARE(responder.served(), 1);
    const QByteArray expected =
        size >= 0 ? servertest::sha256OfFile(dataFile(size)) : servertest::sha256Hex(kHttpBody);
    QCOMPARE(servertest::sha256OfFile(output), expected);
}

void TestEchoServer::twoWayAcceptsClientCertificate()
{
    EchoServer &server = startEchoServer(twoWay());
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));
    QVERIFY2(server.log().contains("(two-way TLS)"), server.log().constData());
    for (const char *tls : {"1.2", "1.3"}) {
        PeerProcess python;
        QVERIFY2(runPython(python, {"--port", server.portText(), "--ca", m_pki.ca, "--cert",
                                    m_pki.aliceCert, "--key", m_pki.aliceKey, "--tls", tls,
                                    "--send", dataFile(64 * kKiB)}),
                 qPrintable(python.describe()));
        const ClientResult result = servertest::parseClientResult(python.standardOutput());
        QVERIFY2(result.ok, qPrintable(python.describe()));
        QCOMPARE(result.connections.first().sha256, servertest::sha256OfFile(dataFile(64 * kKiB)));
    }
    QVERIFY2(waitUntil([&] { return server.log().count("client=\"CN=alice\" echoed=65536") == 2; },
                       10000),
             server.log().constData());
}

void TestEchoServer::twoWayRefusesClient_data()
{
    QTest::addColumn<QString>("cert");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("tls");
    QTest::addColumn<QByteArray>("reason"); // in the server's log
    QTest::addColumn<QString>("alert");     // in the client's error
    for (const char *tls : {"1.2", "1.3"}) {
        QTest::addRow("no certificate, TLS %s", tls)
            << QString() << QString() << tls << QByteArray("client certificate missing")
            << (tls == QLatin1String("1.2") ? "alert handshake failure"
                                            : "alert certificate required");
        QTest::addRow("certificate from another CA, TLS %s", tls)
            << m_pki.malloryCert << m_pki.malloryKey << tls << QByteArray("unknown issuer")
            << "alert unknown ca";
        QTest::addRow("expired certificate, TLS %s", tls)
            << m_pki.expiredCert << m_pki.expiredKey << tls << QByteArray("certificate expired")
            << "alert certificate expired";
    }
}

void TestEchoServer::twoWayRefusesClient()
{
    QFETCH(QString, cert);
    QFETCH(QString, key);
    QFETCH(QString, tls);
    QFETCH(QByteArray, reason);
    QFETCH(QString, alert);
    EchoServer &server = startEchoServer(twoWay());
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));
    QStringList arguments{"--port", server.portText(), "--ca", m_pki.ca, "--tls",
                          tls,      "--timeout",       "10",   "--send", dataFile(1000)};
    if (!cert.isEmpty())
        arguments << "--cert" << cert << "--key" << key;
    PeerProcess python;
    QVERIFY2(runPython(python, arguments, 30000), qPrintable(python.describe()));
    const ClientResult result = servertest::parseClientResult(python.standardOutput());
    QVERIFY2(result.parsed && !result.ok, qPrintable(python.describe()));
    qInfo("client saw: %s", qPrintable(result.error));
    QVERIFY2(result.error.contains(alert), qPrintable(result.error));
    for (const ClientResult::Connection &connection : result.connections)
        QCOMPARE(connection.received, 0); // TLS 1.3: the handshake "ended" for the client
    QVERIFY2(server.waitForLog("handshake failed: "), server.log().constData());
    QVERIFY2(server.waitForLog(reason), server.log().constData());
    QVERIFY2(!server.log().contains(" echoed="), server.log().constData());
}

void TestEchoServer::configFileWithTwoListeners()
{
    const QString ini = m_dir.filePath(QStringLiteral("two-listeners.ini"));
    QFile file(ini);
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(QStringLiteral("[Common]\nlogLevel = Info\nworkerCount = 2\n\n"
                              "[Listener.OneWay]\naddress = 127.0.0.1\nport = 0\n"
                              "certificate = %1\nprivateKey = %2\n\n"
                              "[Listener.TwoWay]\naddress = 127.0.0.1\nport = 0\n"
                              "certificate = %1\nprivateKey = %3\n"
                              "privateKeyPassphraseFile = %4\n"
                              "twoWaySSL = true\ncaCertificates = %5\n")
                   .arg(m_pki.serverCert, m_pki.serverKey, m_pki.serverKeyEncrypted,
                        m_pki.passphraseFile, m_pki.clientCa)
                   .toUtf8());
    file.close();

    EchoServer &server = startEchoServer({"--config", ini}, 2);
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));
    QVERIFY(server.port("OneWay") != 0 && server.port("TwoWay") != 0);
    QVERIFY(server.port("OneWay") != server.port("TwoWay"));
    QVERIFY2(server.log().contains("listener TwoWay on 127.0.0.1:" +
                                   server.portText("TwoWay").toLatin1() + " (two-way TLS)"),
             server.log().constData());

    const QString input = dataFile(64 * kKiB);
    PeerProcess oneWay;
    QVERIFY2(
        runPython(oneWay, {"--port", server.portText("OneWay"), "--ca", m_pki.ca, "--send", input}),
        qPrintable(oneWay.describe()));
    QVERIFY2(servertest::parseClientResult(oneWay.standardOutput()).ok,
             qPrintable(oneWay.describe()));
    PeerProcess twoWay;
    QVERIFY2(runPython(twoWay, {"--port", server.portText("TwoWay"), "--ca", m_pki.ca, "--cert",
                                m_pki.aliceCert, "--key", m_pki.aliceKey, "--send", input}),
             qPrintable(twoWay.describe()));
    const ClientResult result = servertest::parseClientResult(twoWay.standardOutput());
    QVERIFY2(result.ok, qPrintable(twoWay.describe()));
    QCOMPARE(result.connections.first().sha256, servertest::sha256OfFile(input));
    PeerProcess anonymous;
    QVERIFY2(runPython(anonymous,
                       {"--port", server.portText("TwoWay"), "--ca", m_pki.ca, "--send", input,
                        "--timeout", "10"},
                       30000),
             qPrintable(anonymous.describe()));
    QVERIFY2(!servertest::parseClientResult(anonymous.standardOutput()).ok,
             qPrintable(anonymous.describe()));

    QVERIFY2(server.waitForLog("client=none echoed=65536"), server.log().constData());
    QVERIFY2(server.waitForLog("client=\"CN=alice\" echoed=65536"), server.log().constData());
    QVERIFY2(server.waitForLog("client certificate missing"), server.log().constData());
}

void TestEchoServer::sessionTickets_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<int>("tickets");
    QTest::addColumn<QString>("port"); // the listener's name
    const QString ini = m_dir.filePath(QStringLiteral("tickets.ini"));
    QFile file(ini);
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(QStringLiteral("[Common]\nsessionTickets = 0\n\n[Listener.A]\naddress = "
                              "127.0.0.1\nport = 0\ncertificate = %1\nprivateKey = %2\n")
                   .arg(m_pki.serverCert, m_pki.serverKey)
                   .toUtf8());
    QTest::newRow("default") << oneWay() << 1 << QStringLiteral("default");
    QTest::newRow("--session-tickets 2")
        << oneWay() + QStringList{"--session-tickets", "2"} << 2 << QStringLiteral("default");
    QTest::newRow("--session-tickets 0")
        << oneWay() + QStringList{"--session-tickets", "0"} << 0 << QStringLiteral("default");
    QTest::newRow("INI sessionTickets = 0")
        << QStringList{"--config", ini} << 0 << QStringLiteral("A");
}

void TestEchoServer::sessionTickets()
{
    QFETCH(QStringList, arguments);
    QFETCH(int, tickets);
    QFETCH(QString, port);
    EchoServer &server = startEchoServer(arguments);
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));
    // With -sess_out (and not -quiet) s_client prints each ticket that arrives, before the
    // echo (the server sends its tickets first); it exits at the end of its input.
    PeerProcess client;
    QVERIFY2(client.start(QStringLiteral("openssl"),
                          {"s_client", "-connect", "127.0.0.1:" + server.portText(port), "-CAfile",
                           m_pki.ca, "-verify_return_error", "-tls1_3", "-sess_out",
                           m_dir.filePath(QStringLiteral("tickets.session"))}),
             qPrintable(client.describe()));
    client.write("hello\n");
    QVERIFY2(client.waitForOutput("\nhello\n", 10000), qPrintable(client.describe()));
    client.closeWriteChannel();
    QVERIFY2(client.waitForExit(10000), qPrintable(client.describe()));
    QCOMPARE(client.standardOutput().count("New Session Ticket arrived"), tickets);
}

void TestEchoServer::startupFailure_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("ini");         // written to a file given with --config
    QTest::addColumn<QStringList>("message"); // every part must be in the one line
    QTest::addColumn<bool>("occupyPort");     // %PORT% in the arguments/ini: a port in use

    const QString missingKey = m_dir.filePath(QStringLiteral("missing.key"));
    const QString listener = QStringLiteral("[Listener.A]\naddress = 127.0.0.1\nport = 0\n"
                                            "certificate = %1\nprivateKey = %2\n")
                                 .arg(m_pki.serverCert, m_pki.serverKey);
    const QString config = m_dir.filePath(QStringLiteral("startup.ini"));
    const QStringList withConfig{"--config", config};

    QTest::newRow("missing INI file")
        << QStringList{"--config", m_dir.filePath(QStringLiteral("none.ini"))} << QString()
        << QStringList{"cannot read configuration file", "none.ini"} << false;
    QTest::newRow("malformed INI file")
        << withConfig << "[Listener.A\naddress = 127.0.0.1\n"
        << QStringList{"startup.ini", "not a valid INI file"} << false;
    QTest::newRow("INI without listeners")
        << withConfig << "[Common]\nworkerCount = 2\n"
        << QStringList{"startup.ini", "no [Listener.NAME] section"} << false;
    QTest::newRow("INI listener without port")
        << withConfig << "[Listener.A]\naddress = 127.0.0.1\n"
        << QStringList{"[Listener.A]", "valid address and port"} << false;
    QTest::newRow("INI unknown key")
        << withConfig << listener + "privatekey = typo.key\n"
        << QStringList{"[Listener.A]", "unknown key 'privatekey'"} << false;
    QTest::newRow("INI two-way without CA")
        << withConfig << listener + "twoWaySSL = true\n"
        << QStringList{"[Listener.A]", "caCertificates"} << false;
    QTest::newRow("INI missing key file")
        << withConfig
        << QStringLiteral("[Listener.A]\naddress = 127.0.0.1\nport = 0\ncertificate = %1\n"
                          "privateKey = %2\n")
               .arg(m_pki.serverCert, missingKey)
        << QStringList{"listener A", "missing.key"} << false;
    QTest::newRow("missing key file")
        << QStringList{"--port", "0", "--cert", m_pki.serverCert, "--key", missingKey} << QString()
        << QStringList{"listener default", "missing.key"} << false;
    QTest::newRow("wrong passphrase file")
        << QStringList{"--port",
                       "0",
                       "--cert",
                       m_pki.serverCert,
                       "--key",
                       m_pki.serverKeyEncrypted,
                       "--key-passphrase-file",
                       m_pki.wrongPassphraseFile}
        << QString() << QStringList{"listener default", "server-encrypted.key"} << false;
    QTest::newRow("key not matching the certificate")
        << QStringList{"--port", "0", "--cert", m_pki.serverCert, "--key", m_pki.otherKey}
        << QString() << QStringList{"listener default", "other.key"} << false;
    QTest::newRow("port in use") << QStringList{"--port",         "%PORT%", "--cert",
                                                m_pki.serverCert, "--key",  m_pki.serverKey}
                                 << QString()
                                 << QStringList{"listener default",
                                                "cannot listen on 127.0.0.1:%PORT%"}
                                 << true;
    QTest::newRow("INI second listener's port in use")
        << withConfig
        << listener + "[Listener.B]\naddress = 127.0.0.1\nport = %PORT%\ncertificate = " +
               m_pki.serverCert + "\nprivateKey = " + m_pki.serverKey + "\n"
        << QStringList{"listener B", "cannot listen on 127.0.0.1:%PORT%"} << true;
    QTest::newRow("port out of range")
        << QStringList{"--port", "70000", "--cert", m_pki.serverCert, "--key", m_pki.serverKey}
        << QString() << QStringList{"invalid --address or --port"} << false;
    QTest::newRow("--require-client-cert without --client-ca")
        << QStringList{"--port",
                       "0",
                       "--cert",
                       m_pki.serverCert,
                       "--key",
                       m_pki.serverKey,
                       "--require-client-cert"}
        << QString() << QStringList{"--client-ca"} << false;
}

void TestEchoServer::startupFailure()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, ini);
    QFETCH(QStringList, message);
    QFETCH(bool, occupyPort);

    QTcpServer occupier;
    if (occupyPort) {
        QVERIFY(occupier.listen(QHostAddress::LocalHost, 0));
        const QString port = QString::number(occupier.serverPort());
        arguments.replaceInStrings(QStringLiteral("%PORT%"), port);
        message.replaceInStrings(QStringLiteral("%PORT%"), port);
        ini.replace(QStringLiteral("%PORT%"), port);
    }
    if (!ini.isEmpty()) {
        QFile file(m_dir.filePath(QStringLiteral("startup.ini")));
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        file.write(ini.toUtf8());
    }
    PeerProcess server;
    QVERIFY2(server.start(QStringLiteral(ECHOSERVER_PATH), arguments),
             qPrintable(server.describe()));
    QVERIFY2(server.waitForExit(10000), qPrintable(server.describe()));
    QCOMPARE(server.exitStatus(), QProcess::NormalExit);
    QVERIFY2(server.exitCode() != 0, qPrintable(server.describe()));
    const QByteArray error = server.standardError().trimmed();
    qInfo("stderr: %s", error.constData());
    QVERIFY2(!error.isEmpty() && !error.contains('\n'), qPrintable(server.describe()));
    QVERIFY2(error.startsWith("echoserver: "), qPrintable(server.describe()));
    for (const QString &part : message)
        QVERIFY2(error.contains(part.toUtf8()), qPrintable(server.describe()));
    QVERIFY2(!QRegularExpression(QStringLiteral("listener \\S+ on ")).match(error).hasMatch(),
             qPrintable(server.describe()));
}

void TestEchoServer::stopSignalSendsCloseNotify_data()
{
    QTest::addColumn<int>("signal");
    QTest::newRow("SIGTERM") << int(SIGTERM);
    QTest::newRow("SIGINT") << int(SIGINT);
}

void TestEchoServer::stopSignalSendsCloseNotify()
{
    QFETCH(int, signal);
    EchoServer &server = startEchoServer(oneWay());
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));
    // Three Python connections and a gnutls-cli one, each echoed, then waiting.
    PeerProcess python;
    QVERIFY2(
        python.start(QStringLiteral("python3"),
                     {m_python, "--port", server.portText(), "--ca", m_pki.ca, "--send",
                      dataFile(1000), "--connections", "3", "--wait-close", "--timeout", "20"}),
        qPrintable(python.describe()));
    PeerProcess gnutls;
    const QString info = m_dir.filePath(QStringLiteral("gnutls-sigterm.txt"));
    QFile::remove(info);
    QVERIFY2(
        gnutls.start(QStringLiteral("gnutls-cli"), {"--logfile=" + info, "--x509cafile", m_pki.ca,
                                                    "-p", server.portText(), "localhost"}),
        qPrintable(gnutls.describe()));
    gnutls.write("ping\n");
    QVERIFY2(
        python.waitForStdout([](const QByteArray &out) { return out.contains("ready"); }, 20000),
        qPrintable(python.describe()));
    QVERIFY2(gnutls.waitForStdout([](const QByteArray &out) { return out == "ping\n"; }, 20000),
             qPrintable(gnutls.describe()));

    server.process().terminate(signal);
    QVERIFY2(server.process().waitForExit(10000), server.log().constData());
    QCOMPARE(server.process().exitStatus(), QProcess::NormalExit);
    QCOMPARE(server.process().exitCode(), 0);

    QVERIFY2(python.waitForExit(20000), qPrintable(python.describe()));
    const ClientResult result = servertest::parseClientResult(python.standardOutput());
    QVERIFY2(result.ok, qPrintable(python.describe()));
    QCOMPARE(result.connections.size(), 3);
    for (const ClientResult::Connection &connection : result.connections) {
        QCOMPARE(connection.received, qint64(1000));
        QCOMPARE(connection.end, QStringLiteral("close_notify"));
    }
    QVERIFY2(gnutls.waitForExit(10000), qPrintable(gnutls.describe()));
    QFile infoFile(info);
    QVERIFY(infoFile.open(QIODevice::ReadOnly));
    const QByteArray gnutlsInfo = infoFile.readAll();
    QVERIFY2(gnutlsInfo.contains("Peer has closed the GnuTLS connection"), gnutlsInfo.constData());
    QVERIFY2(server.log().contains("stopping"), server.log().constData());
}

void TestEchoServer::threadsServeConcurrently()
{
    EchoServer &server = startEchoServer(oneWay() + QStringList{"--threads", "2"});
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));
    // Every worker accepts on a duplicate of the one listening socket: both wake for each new
    // connection, and whichever accepts first serves it. Over 16 connections, each worker wins
    // some (the client connects them one after another).
    constexpr int kConnections = 16;
    PeerProcess python;
    const QString input = dataFile(kMiB / 4);
    QVERIFY2(runPython(python, {"--port", server.portText(), "--ca", m_pki.ca, "--send", input,
                                "--connections", QString::number(kConnections)}),
             qPrintable(python.describe()));
    const ClientResult result = servertest::parseClientResult(python.standardOutput());
    QVERIFY2(result.ok, qPrintable(python.describe()));
    QCOMPARE(result.connections.size(), kConnections);
    for (const ClientResult::Connection &connection : result.connections)
        QCOMPARE(connection.sha256, servertest::sha256OfFile(input));
    QVERIFY2(server.waitForLog("worker=0") && server.waitForLog("worker=1"),
             server.log().constData());
}

void TestEchoServer::helpListsEveryOption()
{
    PeerProcess help;
    QVERIFY2(help.start(QStringLiteral(ECHOSERVER_PATH), {"--help"}), qPrintable(help.describe()));
    QVERIFY2(help.waitForExit(10000), qPrintable(help.describe()));
    QCOMPARE(help.exitCode(), 0);
    const QByteArray text = help.standardOutput();
    for (const char *option : {"--address", "--port", "--cert", "--key", "--key-passphrase-file",
                               "--client-ca", "--require-client-cert", "--threads", "--config",
                               "--session-tickets", "--verbose", "--help"}) {
        QVERIFY2(text.contains(QByteArray(option) + ' ') ||
                     text.contains(QByteArray(option) + " <"),
                 option);
    }
    QVERIFY2(text.contains("[Listener.NAME]"), text.constData());
}

QTEST_MAIN(TestEchoServer)
#include "tst_echoserver.moc"
