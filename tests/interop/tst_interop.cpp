// Interoperability: SecureSocket against independent TLS implementations started on loopback
// (OpenSSL's s_server and s_client, GnuTLS, Python's ssl module, curl, and Qt's own QSslSocket).
// The PKI is made at run time: a root CA, an intermediate that issues the server certificates
// (so every server must send its chain), and a separate client CA for mutual TLS.
#include <SecureSocket/securesocket.h>

#include "handshake.h"
#include "peerprocess.h"
#include "pkidirectory.h"
#include "testpki.h"

#include <QCryptographicHash>
#include <QDeadlineTimer>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslServer>
#include <QSslSocket>
#include <QTcpServer>
#include <QTest>

#include <deque>
#include <functional>

namespace {

constexpr int kHandshakeMsecs = testsupport::kHandshakeMsecs;
constexpr int kDataMsecs = 10000;
constexpr int kExitMsecs = 5000;

// The TLS 1.2/1.3 alert descriptions the tests expect (RFC 8446, section 6).
constexpr int kAlertHandshakeFailure = 40;
constexpr int kAlertBadCertificate = 42;
constexpr int kAlertCertificateRequired = 116;

bool waitFor(const std::function<bool()> &done, int msecs)
{
    const QDeadlineTimer deadline(msecs);
    while (!done()) {
        if (deadline.hasExpired())
            return false;
        QTest::qWait(10);
    }
    return true;
}

QByteArray sha256(const QByteArray &data)
{
    return QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex();
}

enum class Payload {
    Binary, // every byte value
    Line    // no NUL and no newline except the last byte, which is one
};

QByteArray randomPayload(qsizetype size, quint32 seed, Payload kind)
{
    QByteArray payload(size, Qt::Uninitialized);
    QRandomGenerator generator(seed);
    for (char &byte : payload) {
        byte = static_cast<char>(generator.bounded(256));
        if (kind == Payload::Line && (byte == '\0' || byte == '\n'))
            byte = 'x';
    }
    if (kind == Payload::Line)
        payload.back() = '\n';
    return payload;
}

QByteArray readFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// What a SecureSocket did, recorded from its signals as they came.
struct SocketLog
{
    QByteArray received;
    int encrypted = 0;
    int disconnected = 0;
    QList<QAbstractSocket::SocketError> errors;
    QStringList errorStrings;
    QList<int> certFailures; // VerifyError values from certCheckFailed
    QStringList certFailureReasons;
    QList<int> alertsReceived; // descriptions
    QStringList alertTextsReceived;
    QList<int> alertsSent;
    QByteArray receivedBeforeEncrypted;

    void attach(SecureSocket *socket)
    {
        QObject::connect(socket, &SecureSocket::encrypted, socket, [this] { ++encrypted; });
        QObject::connect(socket, &SecureSocket::readyRead, socket, [this, socket] {
            const QByteArray data = socket->readAll();
            if (encrypted == 0)
                receivedBeforeEncrypted += data;
            received += data;
        });
        QObject::connect(socket, &SecureSocket::disconnected, socket, [this] { ++disconnected; });
        QObject::connect(socket, &SecureSocket::errorOccurred, socket,
                         [this, socket](QAbstractSocket::SocketError error) {
                             errors.append(error);
                             errorStrings.append(socket->errorString());
                         });
        QObject::connect(socket, &SecureSocket::certCheckFailed, socket,
                         [this](int error, const QString &reason) {
                             certFailures.append(error);
                             certFailureReasons.append(reason);
                         });
        QObject::connect(socket, &SecureSocket::alertReceived, socket,
                         [this](int, int description, const QString &text) {
                             alertsReceived.append(description);
                             alertTextsReceived.append(text);
                         });
        QObject::connect(
            socket, &SecureSocket::alertSent, socket,
            [this](int, int description, const QString &) { alertsSent.append(description); });
    }

    bool failed() const { return !errors.isEmpty(); }

    // Errors other than the peer's orderly close: a clean session has none.
    QStringList realErrors() const
    {
        QStringList list;
        for (qsizetype i = 0; i < errors.size(); ++i) {
            if (errors.at(i) != QAbstractSocket::RemoteHostClosedError)
                list.append(QStringLiteral("%1: %2").arg(errors.at(i)).arg(errorStrings.at(i)));
        }
        return list;
    }

    QString summary() const
    {
        QStringList all;
        for (qsizetype i = 0; i < errors.size(); ++i)
            all.append(QStringLiteral("%1: %2").arg(errors.at(i)).arg(errorStrings.at(i)));
        return QStringLiteral("encrypted=%1 disconnected=%2 received=%3 bytes errors=[%4] "
                              "certCheckFailed=[%5] alertsReceived=%6 (%8) alertsSent=%7")
            .arg(encrypted)
            .arg(disconnected)
            .arg(received.size())
            .arg(all.join(QStringLiteral("; ")), certFailureReasons.join(QStringLiteral("; ")))
            .arg(QDebug::toString(alertsReceived), QDebug::toString(alertsSent),
                 alertTextsReceived.join(QStringLiteral(", ")));
    }
};

// A TLS server made as in examples/demo: QTcpServer + setSocketDescriptor() +
// startServerEncryption(). Every accepted socket is logged; onSocket may add handlers.
class SecureTestServer : public QTcpServer
{
public:
    explicit SecureTestServer(const SecureConfiguration &config) : m_config(config) {}

    std::function<void(SecureSocket *, SocketLog *)> onSocket;
    std::deque<SocketLog> logs; // stable addresses
    QList<SecureSocket *> sockets;

protected:
    void incomingConnection(qintptr descriptor) override
    {
        auto *socket = new SecureSocket(this);
        socket->setConfiguration(m_config);
        if (!socket->setSocketDescriptor(descriptor)) {
            qWarning("setSocketDescriptor failed: %s", qPrintable(socket->errorString()));
            delete socket;
            return;
        }
        logs.emplace_back();
        logs.back().attach(socket);
        sockets.append(socket);
        if (onSocket)
            onSocket(socket, &logs.back());
        socket->startServerEncryption();
    }

private:
    SecureConfiguration m_config;
};

using testsupport::Expected;

// A client's handshake with a peer: connectEncrypted() to localhost on the peer's port, failures
// told with the socket's log and the peer's output.
QString connectEncrypted(SecureSocket &client, const PeerProcess &peer, const SocketLog &log,
                         const Expected &expected)
{
    return testsupport::connectEncrypted(
        client, QStringLiteral("localhost"), peer.port(), expected,
        [&] { return log.summary() + QLatin1Char('\n') + peer.describe(); });
}

// The server side: waits for the first connection a client peer makes to end its handshake (or
// for the peer to exit), then checks it as connectEncrypted() does.
QString acceptEncrypted(const SecureTestServer &server, const PeerProcess &peer,
                        const Expected &expected)
{
    const auto ended = [&] {
        return (!server.logs.empty() &&
                (server.logs.front().encrypted > 0 || server.logs.front().failed())) ||
               !peer.isRunning();
    };
    if (!testsupport::waitUntil(ended, testsupport::kHandshakeMsecs))
        return QStringLiteral("the handshake did not end in time\n") + peer.describe();
    if (server.logs.empty())
        return QStringLiteral("no connection\n") + peer.describe();
    const SocketLog &log = server.logs.front();
    return testsupport::checkEncrypted(*server.sockets.first(), log.encrypted, expected, [&] {
        return log.summary() + QLatin1Char('\n') + peer.describe();
    });
}

// Every server peer listens on port 0 and says which port it got (gnutls-serv cannot say: its
// port is read from the system, see PeerProcess::listeningIpv4Port()).
const QString kOpensslAccept = QStringLiteral("^ACCEPT 127\\.0\\.0\\.1:(\\d+)$");
const QString kPythonListening = QStringLiteral("^listening on 127\\.0\\.0\\.1:(\\d+)$");
// gnutls-serv with --port=0 prints "port 0" and binds IPv4 and IPv6 to two different ports; the
// tests connect to localhost, which is 127.0.0.1 here.
const QByteArray kGnutlsListening = "listening on IPv4 0.0.0.0 port 0...done";

const char kPythonEchoServer[] = R"PY(
# A TLS echo server on Python's ssl module: one thread per connection, so a client that hangs up
# at once costs nothing. argv: chain key version(1.2|1.3); it listens on a port of the system's
# choosing and prints it.
import socket, ssl, sys, threading

chain, key, version = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(chain, key)
pinned = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
ctx.minimum_version = pinned
ctx.maximum_version = pinned
ctx.set_alpn_protocols(["h2", "http/1.1"])

def serve(raw):
    try:
        # No ragged EOFs: an EOF without close_notify raises instead of reading as b"".
        with ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False) as tls:
            print("session", tls.version(), "alpn", tls.selected_alpn_protocol(), flush=True)
            total = 0
            while True:
                data = tls.recv(65536)
                if not data:
                    break
                total += len(data)
                tls.sendall(data)
            print("echoed", total, "bytes; close_notify received", flush=True)
            tls.unwrap()
    except (OSError, ssl.SSLError) as error:
        print("connection error:", error, file=sys.stderr, flush=True)

listener = socket.create_server(("127.0.0.1", 0))
print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
while True:
    raw, _ = listener.accept()
    threading.Thread(target=serve, args=(raw,), daemon=True).start()
)PY";

} // namespace

class tst_Interop : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();

    // SecureSocket as a client.
    void opensslServer_data();
    void opensslServer();
    void opensslServerMutualTls_data();
    void opensslServerMutualTls();
    void opensslServerRequiresClientCertificate_data();
    void opensslServerRequiresClientCertificate();
    void opensslServerHostnameMismatch_data();
    void opensslServerHostnameMismatch();
    void gnutlsEchoServer_data();
    void gnutlsEchoServer();
    void pythonEchoServer_data();
    void pythonEchoServer();
    void qsslConfigurationAgainstOpensslServer();
    void qsslConfigurationTls13OrLaterRefusesTls12Server();
    void qsslServer();

    // SecureSocket as a server.
    void opensslClient_data();
    void opensslClient();
    void opensslClientCipherChoice_data();
    void opensslClientCipherChoice();
    void gnutlsClient();
    void curlClient_data();
    void curlClient();
    void qsslSocketClient();

private:
    QString path(const char *name) const { return m_dir.filePath(QLatin1String(name)); }
    SecureConfiguration clientConfig() const;
    SecureConfiguration serverConfig() const;
    bool startOpensslServer(PeerProcess &peer, const QString &versionFlag,
                            const QStringList &extra = {}, const char *leaf = "server") const;
    bool startOpensslServerForClientCertificates(PeerProcess &peer,
                                                 const QString &versionFlag) const;
    bool startGnutlsServer(PeerProcess &peer, const QString &priority) const;
    bool startPythonServer(PeerProcess &peer, const QString &version) const;
    QStringList opensslClientArgs(quint16 port, const QStringList &extra) const;
    void echoRoundTrips(SecureSocket &client, SocketLog &log, PeerProcess &peer, Payload kind);
    void closeCleanly(SecureSocket &client, SocketLog &log, PeerProcess &peer);

    testpki::PkiDirectory m_dir;
    QByteArray m_passphrase = "interop passphrase";
};

void tst_Interop::initTestCase()
{
    QVERIFY2(m_dir.isValid(), "cannot make a temporary directory");
    using testpki::CertSpec;
    try {
        testpki::Issued root;
        testpki::Issued intermediate;
        testpki::Issued clientCa;
        testpki::Issued client;
        m_dir.issue(QStringLiteral("ca"), testpki::caSpec("Interop Root CA"), nullptr, &root);
        CertSpec intermediateSpec = testpki::caSpec("Interop Intermediate CA");
        intermediateSpec.pathLength = 0;
        m_dir.issue(QStringLiteral("intermediate"), intermediateSpec, &root, &intermediate);

        CertSpec serverSpec = testpki::localhostSpec();
        serverSpec.extendedKeyUsage = {"serverAuth"};
        testpki::Issued server;
        m_dir.issue(QStringLiteral("server"), serverSpec, &intermediate, &server);
        m_dir.write(QStringLiteral("server-chain.pem"), server.certPem + intermediate.certPem);

        // Valid, from the same CA, but for another name.
        CertSpec otherSpec = testpki::serverSpec("other.example", {"other.example"});
        otherSpec.extendedKeyUsage = {"serverAuth"};
        m_dir.issue(QStringLiteral("other"), otherSpec, &intermediate);

        m_dir.issue(QStringLiteral("clientca"), testpki::caSpec("Interop Client CA"), nullptr,
                    &clientCa);
        m_dir.issue(QStringLiteral("client"), testpki::clientSpec("interop client"), &clientCa,
                    &client);
        m_dir.write(QStringLiteral("client-encrypted.key"),
                    testpki::encryptKey(client.keyPem, m_passphrase.toStdString()));
        m_dir.write(QStringLiteral("echo_server.py"), kPythonEchoServer);
    } catch (const std::exception &error) {
        QFAIL(error.what());
    }
}

SecureConfiguration tst_Interop::clientConfig() const
{
    SecureConfiguration config;
    config.setCaCertificatesFile(path("ca.pem"));
    config.setUseSystemCaCertificates(false); // only our CA: a pass proves the chain was checked
    return config;
}

SecureConfiguration tst_Interop::serverConfig() const
{
    SecureConfiguration config;
    config.setLocalCertificateChainFile(path("server-chain.pem"));
    config.setPrivateKeyFile(path("server.key"));
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    return config;
}

// openssl s_server presenting leaf ("<leaf>.pem", its key, and the intermediate), on a port of its
// own choosing. versionFlag: -tls1_2, -tls1_3, or empty for both; extra flags after. Without
// -quiet, s_server prints what happened ("DONE" on close_notify, the client's certificate...).
// Its stdin command letters only act on a line starting with one of them, so the tests never
// send such a line.
bool tst_Interop::startOpensslServer(PeerProcess &peer, const QString &versionFlag,
                                     const QStringList &extra, const char *leaf) const
{
    const QString cert = m_dir.filePath(QLatin1String(leaf) + QStringLiteral(".pem"));
    QStringList args{QStringLiteral("s_server"),
                     QStringLiteral("-accept"),
                     QStringLiteral("127.0.0.1:0"),
                     QStringLiteral("-cert"),
                     cert,
                     QStringLiteral("-cert_chain"),
                     path("intermediate.pem"),
                     QStringLiteral("-key"),
                     testpki::PkiDirectory::keyFileOf(cert)};
    if (!versionFlag.isEmpty())
        args << versionFlag;
    return peer.startServer(QStringLiteral("openssl"), args + extra,
                            PeerProcess::portFromOutput(kOpensslAccept));
}

// s_server -Verify 1: it asks for a client certificate from the client CA and refuses a client
// without one.
bool tst_Interop::startOpensslServerForClientCertificates(PeerProcess &peer,
                                                          const QString &versionFlag) const
{
    return startOpensslServer(peer, versionFlag,
                              {QStringLiteral("-Verify"), QStringLiteral("1"),
                               QStringLiteral("-CAfile"), path("clientca.pem")});
}

// gnutls-serv --echo with the server chain, at priority, asking for no client certificate.
bool tst_Interop::startGnutlsServer(PeerProcess &peer, const QString &priority) const
{
    return peer.startServer(QStringLiteral("gnutls-serv"),
                            {QStringLiteral("--echo"), QStringLiteral("--disable-client-cert"),
                             QStringLiteral("--x509certfile=") + path("server-chain.pem"),
                             QStringLiteral("--x509keyfile=") + path("server.key"),
                             QStringLiteral("--priority=") + priority, QStringLiteral("--port=0")},
                            PeerProcess::listeningIpv4Port(kGnutlsListening));
}

// The Python echo server with the server chain, pinned to version ("1.2" or "1.3").
bool tst_Interop::startPythonServer(PeerProcess &peer, const QString &version) const
{
    return peer.startServer(
        QStringLiteral("python3"),
        {path("echo_server.py"), path("server-chain.pem"), path("server.key"), version},
        PeerProcess::portFromOutput(kPythonListening));
}

// openssl s_client to our server on port, trusting only the test CA and failing on any
// verification error, with the test's own flags after.
QStringList tst_Interop::opensslClientArgs(quint16 port, const QStringList &extra) const
{
    return QStringList{QStringLiteral("s_client"),
                       QStringLiteral("-connect"),
                       QStringLiteral("127.0.0.1:%1").arg(port),
                       QStringLiteral("-CAfile"),
                       path("ca.pem"),
                       QStringLiteral("-verify_return_error")} +
           extra;
}

// Payloads of several sizes (record boundaries, 64 KiB reads, 1 MiB), each echoed back exactly.
void tst_Interop::echoRoundTrips(SecureSocket &client, SocketLog &log, PeerProcess &peer,
                                 Payload kind)
{
    const qsizetype sizes[] = {1, 100, 16384, 16385, 65536 + 7, 1024 * 1024};
    quint32 seed = 1;
    for (const qsizetype size : sizes) {
        const QByteArray payload = randomPayload(size, seed++, kind);
        log.received.clear();
        QCOMPARE(client.write(payload), size);
        QVERIFY2(waitFor([&] { return log.received.size() >= size || log.failed(); }, kDataMsecs),
                 qPrintable(QStringLiteral("echo of %1 bytes: got %2\n%3\n%4")
                                .arg(size)
                                .arg(log.received.size())
                                .arg(log.summary(), peer.describe())));
        QVERIFY2(!log.failed(), qPrintable(log.summary()));
        QCOMPARE(log.received.size(), size);
        QCOMPARE(sha256(log.received), sha256(payload));
    }
}

// The client sends close_notify; the socket must end unconnected without any error.
void tst_Interop::closeCleanly(SecureSocket &client, SocketLog &log, PeerProcess &peer)
{
    client.disconnectFromHost();
    QVERIFY2(
        waitFor([&] { return client.state() == QAbstractSocket::UnconnectedState; }, kDataMsecs),
        qPrintable(log.summary() + QLatin1Char('\n') + peer.describe()));
    QCOMPARE(log.disconnected, 1);
    QVERIFY2(log.realErrors().isEmpty(), qPrintable(log.summary()));
    QCOMPARE(client.tlsError(), SecureSocket::NoTlsError);
}

// --- SecureSocket client -> openssl s_server ------------------------------------------------

void tst_Interop::opensslServer_data()
{
    QTest::addColumn<QString>("versionFlag");
    QTest::addColumn<QString>("protocol");
    QTest::addColumn<QString>("serverGroups"); // s_server -groups, or none
    QTest::addColumn<QString>("group");        // what sessionKeyExchangeGroup() says
    QTest::newRow("TLS 1.2") << "-tls1_2"
                             << "TLSv1.2"
                             << ""
                             << "x25519";
    QTest::newRow("TLS 1.3") << "-tls1_3"
                             << "TLSv1.3"
                             << ""
                             << "x25519";
    // Our client's key share is for X25519: the server asks again (HelloRetryRequest).
    QTest::newRow("TLS 1.3, server only P-256") << "-tls1_3"
                                                << "TLSv1.3"
                                                << "P-256"
                                                << "secp256r1";
    QTest::newRow("TLS 1.2, server only P-384") << "-tls1_2"
                                                << "TLSv1.2"
                                                << "P-384"
                                                << "secp384r1";
}

void tst_Interop::opensslServer()
{
    QFETCH(QString, versionFlag);
    QFETCH(QString, protocol);
    QFETCH(QString, serverGroups);
    QFETCH(QString, group);
    PeerProcess peer;
    const QStringList groups = serverGroups.isEmpty()
                                   ? QStringList()
                                   : QStringList{QStringLiteral("-groups"), serverGroups};
    QVERIFY2(startOpensslServer(peer, versionFlag, groups), qPrintable(peer.errorString()));

    SecureSocket client;
    SocketLog log;
    log.attach(&client);
    client.setConfiguration(clientConfig());
    const QString failure = connectEncrypted(client, peer, log, Expected{protocol, {}, group});
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    QVERIFY(!client.sessionCipher().isEmpty());
    QVERIFY(client.peerVerifyErrors().isEmpty());
    QVERIFY(log.certFailures.isEmpty());
    // The server sent its intermediate: the chain seen is leaf, intermediate.
    const QList<SecureCertificate> chain = client.peerCertificateChain();
    QCOMPARE(chain.size(), 2);
    QCOMPARE(chain.at(0).commonName(), QStringLiteral("localhost"));
    QCOMPARE(chain.at(1).commonName(), QStringLiteral("Interop Intermediate CA"));

    // Client to server: shows on s_server's stdout.
    const QByteArray ping = "ping from SecureSocket " + protocol.toLatin1() + "\n";
    QCOMPARE(client.write(ping), ping.size());
    QVERIFY2(peer.waitForOutput(ping, kDataMsecs), qPrintable(peer.describe()));
    // Server to client: written to s_server's stdin.
    const QByteArray pong = "pong from s_server\n";
    peer.write(pong);
    QVERIFY2(waitFor([&] { return log.received.contains(pong) || log.failed(); }, kDataMsecs),
             qPrintable(log.summary() + QLatin1Char('\n') + peer.describe()));
    QCOMPARE(log.received, pong);

    closeCleanly(client, log, peer);
    if (QTest::currentTestFailed())
        return;
    // s_server prints DONE when it reads the close_notify (a bare TCP close would be an error).
    QVERIFY2(peer.waitForOutput("DONE", kDataMsecs), qPrintable(peer.describe()));
}

// --- mutual TLS against s_server -Verify 1 ------------------------------------------------

void tst_Interop::opensslServerMutualTls_data()
{
    QTest::addColumn<QString>("versionFlag");
    QTest::addColumn<QString>("protocol");
    QTest::addColumn<QString>("keyFile");
    QTest::addColumn<QByteArray>("passphrase");
    const QByteArray none;
    QTest::newRow("TLS 1.2, plain key") << "-tls1_2"
                                        << "TLSv1.2"
                                        << "client.key" << none;
    QTest::newRow("TLS 1.3, plain key") << "-tls1_3"
                                        << "TLSv1.3"
                                        << "client.key" << none;
    QTest::newRow("TLS 1.2, encrypted key") << "-tls1_2"
                                            << "TLSv1.2"
                                            << "client-encrypted.key" << m_passphrase;
    QTest::newRow("TLS 1.3, encrypted key") << "-tls1_3"
                                            << "TLSv1.3"
                                            << "client-encrypted.key" << m_passphrase;
}

void tst_Interop::opensslServerMutualTls()
{
    QFETCH(QString, versionFlag);
    QFETCH(QString, protocol);
    QFETCH(QString, keyFile);
    QFETCH(QByteArray, passphrase);
    PeerProcess peer;
    QVERIFY2(startOpensslServerForClientCertificates(peer, versionFlag),
             qPrintable(peer.errorString()));

    SecureSocket client;
    SocketLog log;
    log.attach(&client);
    client.setConfiguration(clientConfig());
    client.setLocalCertificate(path("client.pem"));
    client.setPrivateKey(m_dir.filePath(keyFile), passphrase);
    const QString failure = connectEncrypted(client, peer, log, Expected{protocol});
    QVERIFY2(failure.isEmpty(), qPrintable(failure));

    const QByteArray ping = "hello from an authenticated client\n";
    client.write(ping);
    QVERIFY2(peer.waitForOutput(ping, kDataMsecs), qPrintable(peer.describe()));
    // s_server verified the client certificate against the client CA and shows whose it is.
    const QByteArray seen = peer.standardOutput() + peer.standardError();
    QVERIFY2(seen.contains("interop client"), qPrintable(peer.describe()));
    QVERIFY2(!seen.contains("verify error"), qPrintable(peer.describe()));
    const QByteArray pong = "welcome\n";
    peer.write(pong);
    QVERIFY2(waitFor([&] { return log.received.contains(pong) || log.failed(); }, kDataMsecs),
             qPrintable(log.summary() + QLatin1Char('\n') + peer.describe()));
    QCOMPARE(log.received, pong);
    closeCleanly(client, log, peer);
}

void tst_Interop::opensslServerRequiresClientCertificate_data()
{
    QTest::addColumn<QString>("versionFlag");
    QTest::addColumn<int>("alert");
    QTest::addColumn<QString>("alertText");
    QTest::newRow("TLS 1.2") << "-tls1_2" << kAlertHandshakeFailure << "handshake failure";
    QTest::newRow("TLS 1.3") << "-tls1_3" << kAlertCertificateRequired << "certificate required";
}

// No client certificate configured: the server refuses with an alert, which the client must
// report as such. In TLS 1.2 the alert ends the handshake. In TLS 1.3 the client has finished
// its side of the handshake before the server reads its (empty) Certificate message, so it may
// emit encrypted() first; the alert must still arrive as alertReceived and an error, and no
// application data can have come from the server.
void tst_Interop::opensslServerRequiresClientCertificate()
{
    QFETCH(QString, versionFlag);
    QFETCH(int, alert);
    QFETCH(QString, alertText);
    PeerProcess peer;
    QVERIFY2(startOpensslServerForClientCertificates(peer, versionFlag),
             qPrintable(peer.errorString()));

    SecureSocket client;
    SocketLog log;
    log.attach(&client);
    client.setConfiguration(clientConfig());
    client.connectToHostEncrypted(QStringLiteral("localhost"), peer.port());
    QVERIFY2(waitFor([&] { return log.failed(); }, kHandshakeMsecs),
             qPrintable(log.summary() + QLatin1Char('\n') + peer.describe()));
    QVERIFY2(log.alertsReceived.contains(alert),
             qPrintable(log.summary() + QLatin1Char('\n') + peer.describe()));
    QCOMPARE(client.tlsError(), SecureSocket::AlertReceived);
    QVERIFY2(client.errorString().contains(alertText),
             qPrintable(QStringLiteral("errorString: ") + client.errorString()));
    QVERIFY2(client.errorString().contains(QLatin1String("localhost")), // names the peer
             qPrintable(QStringLiteral("errorString: ") + client.errorString()));
    QVERIFY2(log.alertTextsReceived.contains(alertText), qPrintable(log.summary()));
    if (versionFlag == QLatin1String("-tls1_2")) {
        QCOMPARE(log.encrypted, 0);
        QVERIFY(!client.isEncrypted());
        QCOMPARE(log.errors.first(), QAbstractSocket::SslHandshakeFailedError);
    }
    QVERIFY(log.received.isEmpty());
    QVERIFY2(
        waitFor([&] { return client.state() == QAbstractSocket::UnconnectedState; }, kDataMsecs),
        qPrintable(log.summary()));
}

// --- a certificate for another name ---------------------------------------------------------

void tst_Interop::opensslServerHostnameMismatch_data()
{
    QTest::addColumn<QString>("versionFlag");
    QTest::newRow("TLS 1.2") << "-tls1_2";
    QTest::newRow("TLS 1.3") << "-tls1_3";
}

void tst_Interop::opensslServerHostnameMismatch()
{
    QFETCH(QString, versionFlag);
    PeerProcess peer;
    QVERIFY2(startOpensslServer(peer, versionFlag, {}, "other"), qPrintable(peer.errorString()));

    SecureSocket client;
    SocketLog log;
    log.attach(&client);
    client.setConfiguration(clientConfig());
    QSignalSpy errorSpy(&client, &SecureSocket::errorOccurred);
    client.connectToHostEncrypted(QStringLiteral("localhost"), peer.port());
    const QByteArray secret = "SECRET-written-before-encrypted";
    QCOMPARE(client.write(secret + "\n"), secret.size() + 1); // queued until encrypted()
    QVERIFY2(waitFor([&] { return log.failed(); }, kHandshakeMsecs),
             qPrintable(log.summary() + QLatin1Char('\n') + peer.describe()));

    QCOMPARE(log.encrypted, 0);
    QVERIFY(!client.isEncrypted());
    QVERIFY2(log.certFailures.contains(static_cast<int>(VerifyError::HostnameMismatch)),
             qPrintable(log.summary()));
    QCOMPARE(errorSpy.size(), 1);
    QCOMPARE(errorSpy.first().first().value<QAbstractSocket::SocketError>(),
             QAbstractSocket::SslHandshakeFailedError);
    QCOMPARE(client.tlsError(), SecureSocket::CertificateRejected);
    QVERIFY2(client.errorString().contains(QLatin1String("other.example")),
             qPrintable(client.errorString()));
    QVERIFY2(log.alertsSent.contains(kAlertBadCertificate), qPrintable(log.summary()));

    // s_server logs the client's bad_certificate alert once it has read it. It serves one
    // connection at a time: once a second client's handshake is done, it is done with the first
    // and has printed anything the client had sent. The secret must be nowhere in its output.
    QVERIFY2(peer.waitForError("SSL alert number 42", kDataMsecs), qPrintable(peer.describe()));
    SecureSocket second;
    second.setConfiguration(clientConfig());
    second.setPeerVerifyName(QStringLiteral("other.example"));
    const QString secondFailure =
        testsupport::connectEncrypted(second, QStringLiteral("localhost"), peer.port(), Expected(),
                                      [&] { return peer.describe(); });
    QVERIFY2(secondFailure.isEmpty(), qPrintable(secondFailure));
    QVERIFY2(!peer.standardOutput().contains(secret), qPrintable(peer.describe()));
    QVERIFY2(!peer.standardError().contains(secret), qPrintable(peer.describe()));
    QVERIFY2(log.errors.size() == 1, qPrintable(log.summary())); // reported once, not twice
    QVERIFY2(
        waitFor([&] { return client.state() == QAbstractSocket::UnconnectedState; }, kDataMsecs),
        qPrintable(log.summary()));
}

// --- gnutls-serv --echo ---------------------------------------------------------------------

void tst_Interop::gnutlsEchoServer_data()
{
    QTest::addColumn<QString>("priority");
    QTest::addColumn<QString>("protocol");
    QTest::newRow("TLS 1.2") << "NORMAL:-VERS-ALL:+VERS-TLS1.2"
                             << "TLSv1.2";
    QTest::newRow("TLS 1.3") << "NORMAL:-VERS-ALL:+VERS-TLS1.3"
                             << "TLSv1.3";
}

void tst_Interop::gnutlsEchoServer()
{
    QFETCH(QString, priority);
    QFETCH(QString, protocol);
    PeerProcess peer;
    QVERIFY2(startGnutlsServer(peer, priority), qPrintable(peer.errorString()));

    SecureSocket client;
    SocketLog log;
    log.attach(&client);
    client.setConfiguration(clientConfig());
    const QString failure = connectEncrypted(client, peer, log, Expected{protocol});
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    // gnutls-serv --echo answers a line at a time and scans its buffer as a C string, so the
    // payloads are lines without NUL bytes (the Python peer below takes any byte).
    echoRoundTrips(client, log, peer, Payload::Line);
    if (QTest::currentTestFailed())
        return;
    closeCleanly(client, log, peer);
}

// --- Python ssl echo server with ALPN -------------------------------------------------------

void tst_Interop::pythonEchoServer_data()
{
    QTest::addColumn<QString>("version");
    QTest::addColumn<QString>("protocol");
    QTest::newRow("TLS 1.3") << "1.3"
                             << "TLSv1.3";
    QTest::newRow("TLS 1.2") << "1.2"
                             << "TLSv1.2";
}

void tst_Interop::pythonEchoServer()
{
    QFETCH(QString, version);
    QFETCH(QString, protocol);
    PeerProcess peer;
    QVERIFY2(startPythonServer(peer, version), qPrintable(peer.errorString()));

    SecureSocket client;
    SocketLog log;
    log.attach(&client);
    SecureConfiguration config = clientConfig();
    config.setAlpnProtocols({"http/1.1"}); // the server offers h2 too; only this one is common
    client.setConfiguration(config);
    const QString failure =
        connectEncrypted(client, peer, log, Expected{protocol, {}, {}, "http/1.1"});
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    QVERIFY2(peer.waitForOutput("session " + protocol.toLatin1() + " alpn http/1.1", kDataMsecs),
             qPrintable(peer.describe()));
    echoRoundTrips(client, log, peer, Payload::Binary);
    if (QTest::currentTestFailed())
        return;
    closeCleanly(client, log, peer);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(peer.waitForOutput("close_notify received", kDataMsecs), qPrintable(peer.describe()));
}

// --- QSslConfiguration handed to SecureSocket -------------------------------------------------

namespace {
// What code migrating from QSslSocket would build: the default configuration plus a CA, a
// client certificate with its key, and TLS 1.3 only.
QSslConfiguration migratedConfiguration(const QString &ca, const QString &cert, const QString &key)
{
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setCaCertificates(QSslCertificate::fromPath(ca));
    config.setLocalCertificate(QSslCertificate::fromPath(cert).value(0));
    config.setPrivateKey(QSslKey(readFile(key), QSsl::Ec));
    config.setProtocol(QSsl::TlsV1_3OrLater);
    config.setPeerVerifyMode(QSslSocket::VerifyPeer);
    return config;
}
} // namespace

void tst_Interop::qsslConfigurationAgainstOpensslServer()
{
    const QSslConfiguration qt =
        migratedConfiguration(path("ca.pem"), path("client.pem"), path("client.key"));
    QVERIFY(!qt.privateKey().isNull());
    QVERIFY(!qt.localCertificate().isNull());
    PeerProcess peer;
    QVERIFY2(startOpensslServerForClientCertificates(peer, QString()),
             qPrintable(peer.errorString()));

    SecureSocket client;
    SocketLog log;
    log.attach(&client);
    client.setConfiguration(qt);
    const QString failure =
        connectEncrypted(client, peer, log, Expected{QStringLiteral("TLSv1.3")});
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    const QByteArray ping = "configured through QSslConfiguration\n";
    client.write(ping);
    QVERIFY2(peer.waitForOutput(ping, kDataMsecs), qPrintable(peer.describe()));
    QVERIFY2((peer.standardOutput() + peer.standardError()).contains("interop client"),
             qPrintable(peer.describe()));
    peer.write("ack\n");
    QVERIFY2(waitFor([&] { return log.received.contains("ack\n") || log.failed(); }, kDataMsecs),
             qPrintable(log.summary()));
    closeCleanly(client, log, peer);
}

// The same QSslConfiguration (TlsV1_3OrLater) against a server that only speaks TLS 1.2: the
// protocol floor must have been carried over, so the handshake fails.
void tst_Interop::qsslConfigurationTls13OrLaterRefusesTls12Server()
{
    const QSslConfiguration qt =
        migratedConfiguration(path("ca.pem"), path("client.pem"), path("client.key"));
    PeerProcess peer;
    QVERIFY2(startOpensslServer(peer, QStringLiteral("-tls1_2")), qPrintable(peer.errorString()));
    SecureSocket client;
    SocketLog log;
    log.attach(&client);
    client.setConfiguration(qt);
    client.connectToHostEncrypted(QStringLiteral("localhost"), peer.port());
    QVERIFY2(waitFor([&] { return log.encrypted > 0 || log.failed(); }, kHandshakeMsecs),
             qPrintable(peer.describe()));
    QCOMPARE(log.encrypted, 0);
    QCOMPARE(log.errors.value(0), QAbstractSocket::SslHandshakeFailedError);
}

// --- SecureSocket client -> QSslServer ------------------------------------------------------

void tst_Interop::qsslServer()
{
    QVERIFY2(QSslSocket::supportsSsl(),
             qPrintable(QStringLiteral("Qt has no TLS backend: ") +
                        QSslSocket::availableBackends().join(QLatin1Char(','))));
    QSslConfiguration serverConfig = QSslConfiguration::defaultConfiguration();
    serverConfig.setLocalCertificateChain(QSslCertificate::fromPath(path("server-chain.pem")));
    serverConfig.setPrivateKey(QSslKey(readFile(path("server.key")), QSsl::Ec));
    serverConfig.setPeerVerifyMode(QSslSocket::VerifyNone);
    QSslServer server;
    server.setSslConfiguration(serverConfig);
    QVERIFY2(server.listen(QHostAddress::LocalHost, 0), qPrintable(server.errorString()));
    QStringList serverErrors;
    QObject::connect(&server, &QSslServer::errorOccurred, &server,
                     [&](QSslSocket *socket, QAbstractSocket::SocketError) {
                         serverErrors.append(socket->errorString());
                     });
    QPointer<QSslSocket> accepted;
    QByteArray serverReceived;
    bool serverDisconnected = false;
    // Qt 6.4 emits newConnection() before the handshake; a socket is pending only once encrypted.
    QObject::connect(&server, &QSslServer::pendingConnectionAvailable, &server, [&] {
        accepted = qobject_cast<QSslSocket *>(server.nextPendingConnection());
        QVERIFY(accepted);
        QObject::connect(accepted, &QSslSocket::readyRead, &server,
                         [&] { serverReceived += accepted->readAll(); });
        QObject::connect(accepted, &QSslSocket::disconnected, &server,
                         [&] { serverDisconnected = true; });
    });

    SecureSocket client;
    SocketLog log;
    log.attach(&client);
    client.setConfiguration(clientConfig());
    const QString failure = testsupport::connectEncrypted(
        client, QStringLiteral("localhost"), server.serverPort(),
        Expected{QStringLiteral("TLSv1.3")},
        [&] { return log.summary() + QLatin1Char('\n') + serverErrors.join('\n'); });
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    QVERIFY2(waitFor([&] { return accepted || log.failed(); }, kHandshakeMsecs),
             qPrintable(log.summary() + QLatin1Char('\n') + serverErrors.join('\n')));
    QVERIFY(accepted->isEncrypted());
    QCOMPARE(accepted->sessionProtocol(), QSsl::TlsV1_3);

    const QByteArray ping = "hello QSslServer\n";
    client.write(ping);
    QVERIFY2(waitFor([&] { return serverReceived == ping; }, kDataMsecs),
             qPrintable(QString::fromLatin1(serverReceived)));
    const QByteArray pong = "hello SecureSocket\n";
    accepted->write(pong);
    QVERIFY2(waitFor([&] { return log.received == pong || log.failed(); }, kDataMsecs),
             qPrintable(log.summary()));

    // Both ends must be closed: SecureSocket's close_notify read by Qt, and the TCP close.
    client.disconnectFromHost();
    const auto closeState = [&] {
        return QStringLiteral("SecureSocket client: state %1, %2\nQSslSocket server side: %3")
            .arg(client.state())
            .arg(log.summary(), accepted
                                    ? QStringLiteral("state %1, disconnected() %2, error %3 '%4'")
                                          .arg(accepted->state())
                                          .arg(serverDisconnected)
                                          .arg(accepted->error())
                                          .arg(accepted->errorString())
                                    : QStringLiteral("deleted"));
    };
    QVERIFY2(waitFor(
                 [&] {
                     return serverDisconnected &&
                            client.state() == QAbstractSocket::UnconnectedState;
                 },
                 kDataMsecs),
             qPrintable(closeState()));
    QVERIFY2(log.realErrors().isEmpty(), qPrintable(log.summary()));
    QCOMPARE(client.tlsError(), SecureSocket::NoTlsError);
    QVERIFY2(serverErrors.isEmpty() ||
                 (serverErrors.size() == 1 && accepted &&
                  accepted->error() == QAbstractSocket::RemoteHostClosedError),
             qPrintable(serverErrors.join('\n')));
}

// --- SecureSocket server <- openssl s_client ------------------------------------------------

void tst_Interop::opensslClient_data()
{
    QTest::addColumn<QString>("versionFlag");
    QTest::addColumn<QString>("protocol");
    QTest::newRow("TLS 1.2") << "-tls1_2"
                             << "TLSv1.2";
    QTest::newRow("TLS 1.3") << "-tls1_3"
                             << "TLSv1.3";
}

void tst_Interop::opensslClient()
{
    QFETCH(QString, versionFlag);
    QFETCH(QString, protocol);
    SecureTestServer server(serverConfig());
    QVERIFY2(server.listen(QHostAddress::LocalHost, 0), qPrintable(server.errorString()));

    PeerProcess peer;
    if (!peer.start(
            QStringLiteral("openssl"),
            opensslClientArgs(server.serverPort(),
                              {QStringLiteral("-verify_hostname"), QStringLiteral("localhost"),
                               QStringLiteral("-nocommands"), versionFlag})))
        QFAIL(qPrintable(peer.errorString()));
    const QString failure = acceptEncrypted(server, peer, Expected{protocol});
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    SocketLog &log = server.logs.front();
    SecureSocket *socket = server.sockets.first();
    QCOMPARE(socket->mode(), SecureSocket::ServerMode);

    QVERIFY2(peer.waitForOutput("Verify return code: 0 (ok)", kDataMsecs),
             qPrintable(peer.describe()));
    const QByteArray ping = "hello from s_client\n";
    peer.write(ping);
    QVERIFY2(waitFor([&] { return log.received.contains(ping) || log.failed(); }, kDataMsecs),
             qPrintable(log.summary() + QLatin1Char('\n') + peer.describe()));
    QCOMPARE(log.received, ping);
    const QByteArray pong = "reply from the SecureSocket server\n";
    socket->write(pong);
    QVERIFY2(peer.waitForOutput(pong, kDataMsecs), qPrintable(peer.describe()));

    // The server closes: s_client reads close_notify, says "closed" and exits by itself.
    socket->disconnectFromHost();
    QVERIFY2(peer.waitForExit(kExitMsecs), qPrintable(peer.describe()));
    QCOMPARE(peer.exitStatus(), QProcess::NormalExit);
    QVERIFY2(peer.exitCode() == 0, qPrintable(peer.describe()));
    QVERIFY2(peer.standardOutput().contains("closed"), qPrintable(peer.describe()));
    QVERIFY2(
        waitFor([&] { return socket->state() == QAbstractSocket::UnconnectedState; }, kDataMsecs),
        qPrintable(log.summary()));
    QVERIFY2(log.realErrors().isEmpty(), qPrintable(log.summary()));
    QCOMPARE(socket->tlsError(), SecureSocket::NoTlsError);
}

// The default TLS 1.2 list refuses CBC suites, and the server chooses by its own order.
void tst_Interop::opensslClientCipherChoice_data()
{
    QTest::addColumn<QString>("clientCiphers");
    QTest::addColumn<QString>("expected"); // empty: the handshake fails
    QTest::newRow("CBC only") << "ECDHE-ECDSA-AES128-SHA"
                              << "";
    QTest::newRow("ChaCha20 first") << "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"
                                    << "ECDHE-ECDSA-AES128-GCM-SHA256";
}

void tst_Interop::opensslClientCipherChoice()
{
    QFETCH(QString, clientCiphers);
    QFETCH(QString, expected);
    SecureTestServer server(serverConfig());
    QVERIFY2(server.listen(QHostAddress::LocalHost, 0), qPrintable(server.errorString()));

    PeerProcess peer;
    if (!peer.start(
            QStringLiteral("openssl"),
            opensslClientArgs(server.serverPort(), {QStringLiteral("-tls1_2"),
                                                    QStringLiteral("-cipher"), clientCiphers})))
        QFAIL(qPrintable(peer.errorString()));
    QVERIFY2(waitFor(
                 [&] {
                     return (!server.logs.empty() &&
                             (server.logs.front().encrypted > 0 || server.logs.front().failed())) ||
                            !peer.isRunning();
                 },
                 kHandshakeMsecs),
             qPrintable(peer.describe()));
    QVERIFY2(!server.logs.empty(), qPrintable(peer.describe()));
    const SocketLog &log = server.logs.front();
    SecureSocket *socket = server.sockets.first();
    if (expected.isEmpty()) {
        QVERIFY2(waitFor([&] { return log.failed(); }, kHandshakeMsecs), qPrintable(log.summary()));
        QCOMPARE(log.encrypted, 0);
        QCOMPARE(socket->tlsError(), SecureSocket::HandshakeFailed);
        QVERIFY2(peer.waitForExit(kExitMsecs), qPrintable(peer.describe()));
        QVERIFY2(peer.exitCode() != 0, qPrintable(peer.describe()));
        QVERIFY2(peer.standardError().contains("handshake failure"), qPrintable(peer.describe()));
        return;
    }
    const QString failure =
        testsupport::checkEncrypted(*socket, log.encrypted, Expected{{}, expected}, [&] {
            return log.summary() + QLatin1Char('\n') + peer.describe();
        });
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    QVERIFY2(peer.waitForOutput("Cipher is " + expected.toLatin1(), kDataMsecs),
             qPrintable(peer.describe()));
    // Closed while the log it reports to still exists.
    socket->abort();
}

// --- SecureSocket server <- gnutls-cli ------------------------------------------------------

void tst_Interop::gnutlsClient()
{
    SecureTestServer server(serverConfig());
    QVERIFY2(server.listen(QHostAddress::LocalHost, 0), qPrintable(server.errorString()));

    PeerProcess peer;
    if (!peer.start(QStringLiteral("gnutls-cli"),
                    {QStringLiteral("--x509cafile=") + path("ca.pem"),
                     QStringLiteral("--port=%1").arg(server.serverPort()),
                     QStringLiteral("localhost")}))
        QFAIL(qPrintable(peer.errorString()));
    const QString failure = acceptEncrypted(server, peer, Expected{QStringLiteral("TLSv1.3")});
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    SocketLog &log = server.logs.front();
    SecureSocket *socket = server.sockets.first();
    // gnutls-cli verifies by default and reports the result on stdout before it reads stdin.
    QVERIFY2(peer.waitForOutput("- Simple Client Mode", kDataMsecs), qPrintable(peer.describe()));
    QVERIFY2(peer.standardOutput().contains("- Status: The certificate is trusted."),
             qPrintable(peer.describe()));

    const QByteArray ping = "hello from gnutls-cli\n";
    peer.write(ping);
    QVERIFY2(waitFor([&] { return log.received.contains(ping) || log.failed(); }, kDataMsecs),
             qPrintable(log.summary() + QLatin1Char('\n') + peer.describe()));
    QCOMPARE(log.received, ping);
    const QByteArray pong = "reply from the SecureSocket server\n";
    socket->write(pong);
    QVERIFY2(peer.waitForOutput(pong, kDataMsecs), qPrintable(peer.describe()));

    // This time the client closes: at EOF on stdin gnutls-cli sends close_notify and waits for
    // ours. The server must answer it and close without reporting anything but the peer's close.
    peer.closeWriteChannel();
    QVERIFY2(
        waitFor([&] { return socket->state() == QAbstractSocket::UnconnectedState; }, kDataMsecs),
        qPrintable(log.summary() + QLatin1Char('\n') + peer.describe()));
    QCOMPARE(log.disconnected, 1);
    QVERIFY2(log.realErrors().isEmpty(), qPrintable(log.summary()));
    QCOMPARE(socket->tlsError(), SecureSocket::NoTlsError);
    QVERIFY2(peer.waitForExit(kExitMsecs), qPrintable(peer.describe()));
    QVERIFY2(peer.exitStatus() == QProcess::NormalExit && peer.exitCode() == 0,
             qPrintable(peer.describe()));
    QVERIFY2(peer.standardOutput().contains("- Peer has closed the GnuTLS connection"),
             qPrintable(peer.describe()));
}

// --- SecureSocket server <- curl ------------------------------------------------------------

void tst_Interop::curlClient_data()
{
    QTest::addColumn<QStringList>("versionFlags");
    QTest::addColumn<QString>("protocol");
    QTest::newRow("TLS 1.2") << QStringList{QStringLiteral("--tlsv1.2"),
                                            QStringLiteral("--tls-max"), QStringLiteral("1.2")}
                             << "TLSv1.2";
    QTest::newRow("TLS 1.3") << QStringList{QStringLiteral("--tlsv1.3")} << "TLSv1.3";
}

void tst_Interop::curlClient()
{
    QFETCH(QStringList, versionFlags);
    QFETCH(QString, protocol);
    const QByteArray body = "Hello from the SecureSocket HTTPS server\n";
    SecureTestServer server(serverConfig());
    server.onSocket = [&body](SecureSocket *socket, SocketLog *log) {
        // The log's own readyRead slot runs first and collects the request.
        QObject::connect(socket, &SecureSocket::readyRead, socket, [socket, log, &body] {
            if (!log->received.contains("\r\n\r\n") || socket->bytesToWrite() > 0)
                return;
            socket->write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                          QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
            socket->disconnectFromHost();
        });
    };
    QVERIFY2(server.listen(QHostAddress::LocalHost, 0), qPrintable(server.errorString()));
    const QString port = QString::number(server.serverPort());

    PeerProcess peer;
    QVERIFY2(peer.start(QStringLiteral("curl"),
                        QStringList{QStringLiteral("--silent"), QStringLiteral("--show-error"),
                                    QStringLiteral("--max-time"), QStringLiteral("10"),
                                    QStringLiteral("--cacert"), path("ca.pem"),
                                    // localhost is 127.0.0.1 only, where the server is
                                    QStringLiteral("--resolve"),
                                    QStringLiteral("localhost:%1:127.0.0.1").arg(port)}
                            << versionFlags << QStringLiteral("https://localhost:%1/").arg(port)),
             qPrintable(peer.errorString()));
    QVERIFY2(peer.waitForExit(kHandshakeMsecs), qPrintable(peer.describe()));
    QVERIFY2(peer.exitStatus() == QProcess::NormalExit && peer.exitCode() == 0,
             qPrintable(peer.describe() + QLatin1Char('\n') +
                        (server.logs.empty() ? QString() : server.logs.front().summary())));
    QCOMPARE(peer.standardOutput(), body);
    QVERIFY(!server.logs.empty());
    QVERIFY(server.logs.front().received.startsWith("GET / HTTP/1.1\r\n"));
    QCOMPARE(server.sockets.first()->sessionProtocol(), protocol);
}

// --- SecureSocket server <- QSslSocket ------------------------------------------------------

void tst_Interop::qsslSocketClient()
{
    QVERIFY2(QSslSocket::supportsSsl(),
             qPrintable(QStringLiteral("Qt has no TLS backend: ") +
                        QSslSocket::availableBackends().join(QLatin1Char(','))));
    SecureTestServer server(serverConfig());
    QVERIFY2(server.listen(QHostAddress::LocalHost, 0), qPrintable(server.errorString()));

    QSslSocket client;
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setCaCertificates(QSslCertificate::fromPath(path("ca.pem")));
    config.setPeerVerifyMode(QSslSocket::VerifyPeer);
    client.setSslConfiguration(config);
    QList<QSslError> sslErrors;
    QObject::connect(&client, &QSslSocket::sslErrors, &client,
                     [&](const QList<QSslError> &errors) { sslErrors += errors; });
    QByteArray clientReceived;
    QObject::connect(&client, &QSslSocket::readyRead, &client,
                     [&] { clientReceived += client.readAll(); });
    QSignalSpy clientErrors(&client, &QSslSocket::errorOccurred);
    client.connectToHostEncrypted(QStringLiteral("localhost"), server.serverPort());
    QVERIFY2(waitFor(
                 [&] {
                     return (client.isEncrypted() && !server.logs.empty() &&
                             server.logs.front().encrypted > 0) ||
                            clientErrors.size() > 0;
                 },
                 kHandshakeMsecs),
             qPrintable(client.errorString()));
    QVERIFY2(client.isEncrypted(), qPrintable(client.errorString()));
    QVERIFY(sslErrors.isEmpty());
    QCOMPARE(client.peerCertificateChain().size(), 2); // leaf and intermediate were sent
    SocketLog &log = server.logs.front();
    SecureSocket *socket = server.sockets.first();
    const QString failure = testsupport::checkEncrypted(
        *socket, log.encrypted, Expected{QStringLiteral("TLSv1.3")}, [&] { return log.summary(); });
    QVERIFY2(failure.isEmpty(), qPrintable(failure));

    const QByteArray ping = "hello from QSslSocket\n";
    client.write(ping);
    QVERIFY2(waitFor([&] { return log.received == ping || log.failed(); }, kDataMsecs),
             qPrintable(log.summary()));
    const QByteArray pong = "hello from SecureSocket\n";
    socket->write(pong);
    QVERIFY2(waitFor([&] { return clientReceived == pong; }, kDataMsecs),
             qPrintable(QString::fromLatin1(clientReceived)));

    // QSslSocket closes with close_notify: the server sees an orderly close, not truncation.
    client.disconnectFromHost();
    QVERIFY2(
        waitFor([&] { return socket->state() == QAbstractSocket::UnconnectedState; }, kDataMsecs),
        qPrintable(log.summary()));
    QCOMPARE(log.disconnected, 1);
    QVERIFY2(log.realErrors().isEmpty(), qPrintable(log.summary()));
    QCOMPARE(socket->tlsError(), SecureSocket::NoTlsError);
    QVERIFY(
        waitFor([&] { return client.state() == QAbstractSocket::UnconnectedState; }, kDataMsecs));
}

QTEST_GUILESS_MAIN(tst_Interop)
#include "tst_interop.moc"
