// The logging categories (doc/debugging.md): with "securesocket.*.debug=true" a handshake between
// a SecureServer and a SecureSocket over loopback is traced step by step in securesocket.engine,
// securesocket.socket and securesocket.server; no line ever holds the key's passphrase, a
// pre-shared key (raw, hex or base64), the private key, or a byte of the plaintext exchanged;
// with the rules off, nothing of securesocket.* is printed at debug level.
#include <SecureSocket/secureconfiguration.h>
#include <SecureSocket/secureserver.h>
#include <SecureSocket/securesocket.h>

#include "peerprocess.h"
#include "pkidirectory.h"
#include "testpki.h"

#include <QLoggingCategory>
#include <QTest>

#include <memory>

namespace {

const QByteArray kPassphrase = "Passphrase-Of-The-Server-Key-91b2";
const QByteArray kIdentity = "sensor-logging-4";
const QByteArray kPsk =
    QByteArray::fromHex("5ec7e7000102a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6f00dbabe");
const QByteArray kMarker = "PLAINTEXT-MARKER-q7Zk3Vw9";

struct Message
{
    QtMsgType type;
    QByteArray category;
    QString text;
};

// Every message of a securesocket.* category is kept (and not printed); the rest go on to the
// handler installed before.
class Capture
{
public:
    Capture() { s_previous = qInstallMessageHandler(handler); }
    ~Capture()
    {
        qInstallMessageHandler(s_previous);
        s_messages.clear();
    }
    Capture(const Capture &) = delete;
    Capture &operator=(const Capture &) = delete;

    static const QList<Message> &messages() { return s_messages; }
    // The texts of category, in order.
    static QStringList texts(const QByteArray &category)
    {
        QStringList texts;
        for (const Message &m : s_messages) {
            if (m.category == category)
                texts << m.text;
        }
        return texts;
    }
    static QString dump()
    {
        QString all;
        for (const Message &m : s_messages)
            all += QString::fromLatin1(m.category) + ": " + m.text + '\n';
        return all;
    }

private:
    static void handler(QtMsgType type, const QMessageLogContext &context, const QString &text)
    {
        if (context.category && QByteArray(context.category).startsWith("securesocket."))
            s_messages.append({type, context.category, text});
        else
            s_previous(type, context, text);
    }
    static inline QtMessageHandler s_previous = nullptr;
    static inline QList<Message> s_messages;
};

// The index of the first text at or after from that contains needle, or -1.
qsizetype indexOf(const QStringList &texts, const QString &needle, qsizetype from = 0)
{
    for (qsizetype i = std::max<qsizetype>(from, 0); i < texts.size(); ++i) {
        if (texts[i].contains(needle))
            return i;
    }
    return -1;
}

// A SecureServer that echoes what it receives.
struct EchoServer
{
    SecureServer server;
    QStringList failures;

    explicit EchoServer(const SecureConfiguration &config)
    {
        server.setConfiguration(config);
        QObject::connect(&server, &SecureServer::handshakeFailed, &server,
                         [this](SecureSocket *, const QString &reason) { failures << reason; });
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

} // namespace

class tst_Logging : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();
    void tracesCertificateHandshake_data();
    void tracesCertificateHandshake();
    void tracesPreSharedKeyHandshake();
    void tracesForgivenFailures();
    void tracesRefusedCertificate();
    void quietByDefault();

private:
    // Connects a client with clientConfig to a server with serverConfig, sends the marker,
    // reads its echo and closes; fails the test if any step does not happen.
    void exchange(const SecureConfiguration &serverConfig, const SecureConfiguration &clientConfig,
                  bool forgive = false);
    // No captured line holds a secret or the plaintext.
    void checkNoSecrets();

    std::unique_ptr<testpki::PkiDirectory> m_dir;
    SecureConfiguration m_server;
    SecureConfiguration m_client;
    std::string m_serverKeyPem;
};

void tst_Logging::initTestCase()
{
    m_dir = std::make_unique<testpki::PkiDirectory>();
    QVERIFY(m_dir->isValid());
    const testpki::Issued ca = testpki::makeCertificate(testpki::caSpec("Logging CA"));
    const testpki::Issued server = testpki::makeCertificate(testpki::localhostSpec(), &ca);
    const testpki::Issued client =
        testpki::makeCertificate(testpki::clientSpec("logging-client"), &ca);
    m_serverKeyPem = server.keyPem;

    m_server.setLocalCertificateChainFile(m_dir->write("server.pem", server.certPem));
    m_server.setPrivateKeyFile(
        m_dir->write("server.key", testpki::encryptKey(server.keyPem, kPassphrase.toStdString())));
    m_server.setPrivateKeyPassphrase(kPassphrase);
    m_server.setCaCertificatesFile(m_dir->write("ca.pem", ca.certPem));
    m_server.setUseSystemCaCertificates(false);
    m_server.setPeerVerifyMode(SecureConfiguration::VerifyPeer); // two-way TLS

    m_client.setCaCertificatesFile(m_dir->filePath("ca.pem"));
    m_client.setUseSystemCaCertificates(false);
    m_client.setLocalCertificateChainFile(m_dir->write("client.pem", client.certPem));
    m_client.setPrivateKeyFile(m_dir->write("client.key", client.keyPem));
    m_client.setPeerVerifyName(QStringLiteral("localhost")); // sent as SNI
}

void tst_Logging::cleanup()
{
    QLoggingCategory::setFilterRules(QString());
}

void tst_Logging::exchange(const SecureConfiguration &serverConfig,
                           const SecureConfiguration &clientConfig, bool forgive)
{
    EchoServer echo(serverConfig);
    QVERIFY2(echo.server.listen(QHostAddress::LocalHost, 0), qPrintable(echo.server.errorString()));
    SecureSocket socket;
    socket.setConfiguration(clientConfig);
    if (forgive)
        QObject::connect(&socket, &SecureSocket::certificateErrors, &socket,
                         [&socket] { socket.ignoreCertErrors(); });
    QByteArray received;
    QObject::connect(&socket, &QIODevice::readyRead, &socket,
                     [&] { received += socket.readAll(); });
    socket.connectToHostEncrypted(QStringLiteral("127.0.0.1"), echo.server.serverPort());
    socket.write(kMarker + '\n');
    const bool echoed = testsupport::waitUntil(
        [&] {
            return received.endsWith('\n') || socket.state() == QAbstractSocket::UnconnectedState;
        },
        10000);
    QVERIFY2(echoed && received == kMarker + '\n',
             qPrintable(socket.errorString() + " / " + echo.failures.join("; ")));
    socket.disconnectFromHost();
    QVERIFY(testsupport::waitUntil(
        [&] { return socket.state() == QAbstractSocket::UnconnectedState; }, 10000));
    // And the server's side of the close, once its socket has seen the end.
    QVERIFY(testsupport::waitUntil([&] { return echo.server.connectionCount() == 0; }, 10000));
}

void tst_Logging::checkNoSecrets()
{
    QVERIFY(!Capture::messages().isEmpty());
    // The lines of the PEM key's body: any one of them in a line would be a leak.
    QList<QByteArray> keyLines;
    for (const QByteArray &line : QByteArray::fromStdString(m_serverKeyPem).split('\n')) {
        if (!line.isEmpty() && !line.startsWith("-----"))
            keyLines << line;
    }
    const QList<QByteArray> secrets = {
        kPassphrase,     kPsk,    kPsk.toHex(),    kPsk.toHex().toUpper(), kPsk.toHex(':'),
        kPsk.toBase64(), kMarker, kMarker.toHex(),
    };
    for (const Message &m : Capture::messages()) {
        const QByteArray text = m.text.toUtf8();
        const QByteArray latin = m.text.toLatin1();
        for (const QByteArray &secret : secrets) {
            QVERIFY2(!text.contains(secret) && !latin.contains(secret),
                     qPrintable(QStringLiteral("a secret in: ") + m.text));
        }
        for (const QByteArray &line : keyLines)
            QVERIFY2(!text.contains(line), qPrintable(QStringLiteral("key PEM in: ") + m.text));
    }
}

void tst_Logging::tracesCertificateHandshake_data()
{
    QTest::addColumn<int>("version");
    QTest::newRow("TLS 1.3") << int(SecureConfiguration::Tls13);
    QTest::newRow("TLS 1.2") << int(SecureConfiguration::Tls12);
}

void tst_Logging::tracesCertificateHandshake()
{
    QFETCH(int, version);
    const Capture capture;
    QLoggingCategory::setFilterRules(QStringLiteral("securesocket.*.debug=true"));
    SecureConfiguration client = m_client;
    client.setMaximumProtocol(SecureConfiguration::TlsVersion(version));
    exchange(m_server, client);
    if (QTest::currentTestFailed())
        return;

    const QStringList engine = Capture::texts("securesocket.engine");
    const QStringList socket = Capture::texts("securesocket.socket");
    const QStringList server = Capture::texts("securesocket.server");
    const QString all = Capture::dump();
    QVERIFY2(!engine.isEmpty() && !socket.isEmpty() && !server.isEmpty(), qPrintable(all));

    // The engine, for the client: new connection with SNI, handshake started, state steps,
    // traffic, the server's certificate verified, handshake done, close_notify.
    const QString expectedVersion = version == SecureConfiguration::Tls13 ? "TLSv1.3" : "TLSv1.2";
    qsizetype at = indexOf(engine, "client");
    for (const QString &step :
         {QStringLiteral("server name (SNI) 'localhost'"), QStringLiteral("handshake started"),
          QStringLiteral("state: SSLv3/TLS write client hello"), QStringLiteral("records in"),
          QStringLiteral("certificate 'CN=localhost' verified: no failure"),
          QStringLiteral("handshake done: ") + expectedVersion,
          QStringLiteral("close_notify sent")}) {
        at = indexOf(engine, step, at);
        QVERIFY2(at >= 0, qPrintable("no \"" + step + "\" in order in:\n" + all));
    }
    // And for the server: the client's certificate, the SNI the client asked for.
    QVERIFY2(indexOf(engine, "the client's certificate 'CN=logging-client' verified") >= 0,
             qPrintable(all));
    QVERIFY2(indexOf(engine, "the client asked for the server name (SNI) 'localhost'") >= 0,
             qPrintable(all));
    QVERIFY2(indexOf(engine, "alert sent: warning close notify") >= 0, qPrintable(all));

    // The socket: connecting, connected, TLS started, encrypted, closing, disconnected.
    at = 0;
    for (const QString &step :
         {QStringLiteral("connecting to 127.0.0.1:"), QStringLiteral("connected to 127.0.0.1"),
          QStringLiteral("TLS started as client"), QStringLiteral("encrypted: ") + expectedVersion,
          QStringLiteral("closing: close_notify"), QStringLiteral("disconnected")}) {
        at = indexOf(socket, step, at);
        QVERIFY2(at >= 0, qPrintable("no \"" + step + "\" in order in:\n" + all));
    }
    QVERIFY2(indexOf(socket, "TLS started as server") >= 0, qPrintable(all));
    QVERIFY2(indexOf(socket, "QAbstractSocket::ConnectedState") >= 0, qPrintable(all));

    // The server: listening, accepted, handshake done.
    at = 0;
    for (const QString &step :
         {QStringLiteral("listening on 127.0.0.1:"), QStringLiteral("accepted 127.0.0.1:"),
          QStringLiteral("handshake with 127.0.0.1:")}) {
        at = indexOf(server, step, at);
        QVERIFY2(at >= 0, qPrintable("no \"" + step + "\" in order in:\n" + all));
    }
    QVERIFY2(server[at].contains(" done (" + expectedVersion), qPrintable(all));

    for (const Message &m : Capture::messages())
        QCOMPARE(m.type, QtDebugMsg); // a run without trouble says nothing above debug
    checkNoSecrets();
}

void tst_Logging::tracesPreSharedKeyHandshake()
{
    const Capture capture;
    QLoggingCategory::setFilterRules(QStringLiteral("securesocket.*.debug=true"));
    SecureConfiguration server;
    server.setPreSharedKeys({{kIdentity, kPsk}});
    SecureConfiguration client;
    client.setPreSharedKey(kIdentity, kPsk);
    exchange(server, client);
    if (QTest::currentTestFailed())
        return;
    const QStringList engine = Capture::texts("securesocket.engine");
    const QString all = Capture::dump();
    QVERIFY2(indexOf(engine, "pre-shared key: offering the identity '" + kIdentity +
                                 "' (key of 32 bytes)") >= 0,
             qPrintable(all));
    QVERIFY2(indexOf(engine, "the client offered the identity '" + kIdentity +
                                 "'; key found (32 bytes)") >= 0,
             qPrintable(all));
    QVERIFY2(indexOf(engine, "authenticated by the pre-shared key of '" + kIdentity + "'") >= 0,
             qPrintable(all));
    checkNoSecrets();
}

// A client that trusts no CA forgives the failures: the engine and the socket trace them, the
// socket through SecureCertificateError's QDebug operator.
void tst_Logging::tracesForgivenFailures()
{
    const Capture capture;
    QLoggingCategory::setFilterRules(QStringLiteral("securesocket.*.debug=true"));
    SecureConfiguration server = m_server;
    server.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    SecureConfiguration client;
    client.setUseSystemCaCertificates(false);
    client.setPeerVerifyName(QStringLiteral("localhost"));
    exchange(server, client, true);
    if (QTest::currentTestFailed())
        return;
    const QString all = Capture::dump();
    QVERIFY2(indexOf(Capture::texts("securesocket.engine"),
                     "the server's certificate 'CN=localhost' failed verification") >= 0,
             qPrintable(all));
    const QStringList socket = Capture::texts("securesocket.socket");
    const qsizetype failures = indexOf(socket, "certificate verification failures:");
    QVERIFY2(failures >= 0, qPrintable(all));
    QVERIFY2(socket[failures].contains("SecureCertificateError(VerifyError::UnknownIssuer"),
             qPrintable(all));
    QVERIFY2(indexOf(socket, "certificate failures forgiven", failures) >= 0, qPrintable(all));
    checkNoSecrets();
}

// A client that trusts no CA and forgives nothing: the failure, the alert and the server's
// failed handshake are traced (the last at info level, as before).
void tst_Logging::tracesRefusedCertificate()
{
    const Capture capture;
    QLoggingCategory::setFilterRules(QStringLiteral("securesocket.*.debug=true"));
    SecureConfiguration client;
    client.setUseSystemCaCertificates(false);
    EchoServer echo(m_server);
    QVERIFY(echo.server.listen(QHostAddress::LocalHost, 0));
    SecureSocket socket;
    socket.setConfiguration(client);
    socket.connectToHostEncrypted(QStringLiteral("127.0.0.1"), echo.server.serverPort());
    socket.write(kMarker + '\n');
    QVERIFY(testsupport::waitUntil(
        [&] { return socket.state() == QAbstractSocket::UnconnectedState; }, 10000));
    QCOMPARE(socket.tlsError(), SecureSocket::CertificateRejected);
    QVERIFY(testsupport::waitUntil([&] { return !echo.failures.isEmpty(); }, 10000));
    const QString all = Capture::dump();
    const QStringList engine = Capture::texts("securesocket.engine");
    qsizetype at = indexOf(engine, "client");
    for (const QString &step : {QStringLiteral("failed verification"),
                                QStringLiteral("certificate failures not forgiven"),
                                QStringLiteral("failed: unknown issuer")}) {
        at = indexOf(engine, step, at);
        QVERIFY2(at >= 0, qPrintable("no \"" + step + "\" in order in:\n" + all));
    }
    QVERIFY2(indexOf(engine, "alert received: fatal") >= 0, qPrintable(all));
    const QStringList socketLines = Capture::texts("securesocket.socket");
    QVERIFY2(indexOf(socketLines, "SecureSocket::CertificateRejected") >= 0, qPrintable(all));
    QVERIFY2(indexOf(Capture::texts("securesocket.server"), "failed") >= 0, qPrintable(all));
    checkNoSecrets();
}

void tst_Logging::quietByDefault()
{
    const Capture capture;
    QLoggingCategory::setFilterRules(QString());
    exchange(m_server, m_client);
    if (QTest::currentTestFailed())
        return;
    for (const Message &m : Capture::messages())
        QVERIFY2(m.type != QtDebugMsg, qPrintable(Capture::dump()));
    QVERIFY2(Capture::messages().isEmpty(), qPrintable(Capture::dump()));
}

QTEST_MAIN(tst_Logging)
#include "tst_logging.moc"
