// SecureSocket's TLS behaviour over loopback: STARTTLS, certificate failures and how they are
// forgiven, mutual TLS, session details and TLS signals, clean close and truncation,
// configuration errors, the blocking API in worker threads, and a long reconnect loop that
// must leak neither file descriptors nor objects. Every server listens on 127.0.0.1, port 0.
#include "handshake.h"
#include "socketfixture.h"
#include "testhooks_p.h"

#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QHostAddress>
#include <QProcess>
#include <QSignalSpy>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <atomic>
#include <vector>

namespace {

constexpr int kTimeout = 10000;
const QString kIp = QStringLiteral("127.0.0.1");
const QString kLocalhost = QStringLiteral("localhost");

#ifdef SECURESOCKET_TEST_SANITIZE
constexpr int kReconnectCycles = 300; // AddressSanitizer runs several times slower
#else
constexpr int kReconnectCycles = 2000;
#endif

// Everything a client socket reported, for the tests to inspect after the fact.
class ClientLog
{
public:
    explicit ClientLog(SecureSocket *socket) : m_socket(socket)
    {
        QObject::connect(socket, &QIODevice::readyRead, &m_context,
                         [this] { received += m_socket->readAll(); });
        QObject::connect(socket, &QAbstractSocket::errorOccurred, &m_context,
                         [this](QAbstractSocket::SocketError error) {
                             errors.append(error);
                             receivedAtError.append(received.size() + m_socket->bytesAvailable());
                         });
        QObject::connect(socket, &SecureSocket::encrypted, &m_context, [this] { ++encrypted; });
        QObject::connect(socket, &QAbstractSocket::disconnected, &m_context,
                         [this] { ++disconnected; });
        QObject::connect(socket, &SecureSocket::certCheckFailed, &m_context,
                         [this](int error, const QString &reason) {
                             certCodes.append(error);
                             certReasons.append(reason);
                         });
        QObject::connect(socket, &SecureSocket::certificateErrors, &m_context,
                         [this](const QList<SecureCertificateError> &errors) {
                             certificateErrors.append(errors);
                         });
    }

    bool waitClosed(int msecs = kTimeout)
    {
        return waitUntil(
            [this] {
                return disconnected > 0 && m_socket->state() == QAbstractSocket::UnconnectedState;
            },
            msecs);
    }

    QByteArray received;
    QList<QAbstractSocket::SocketError> errors;
    QList<qint64> receivedAtError; // bytes delivered (read or readable) when each error came
    int encrypted = 0;
    int disconnected = 0;
    QList<int> certCodes;
    QStringList certReasons;
    QList<QList<SecureCertificateError>> certificateErrors; // one entry per emission

private:
    SecureSocket *m_socket;
    QObject m_context;
};

QList<int> codesOf(const QList<SecureCertificateError> &errors)
{
    QList<int> codes;
    for (const SecureCertificateError &error : errors)
        codes.append(static_cast<int>(error.error));
    return codes;
}

QList<int> sorted(QList<int> list)
{
    std::sort(list.begin(), list.end());
    return list;
}

// A blocking client in a thread of its own, with no event loop: connections sockets opened at
// once, each handshaking, echoing payload (tagged with its number) and closing.
class BlockingClients : public QThread
{
public:
    BlockingClients(const SecureConfiguration &config, quint16 port, int connections,
                    const QByteArray &payload, qint64 readLimit = 0)
        : m_config(config), m_port(port), m_connections(connections), m_payload(payload),
          m_readLimit(readLimit)
    {}

    // Read failures and succeeded only once done() is true.
    QStringList failures;
    int succeeded = 0;
    // Published with release/acquire (not only through QThread::isFinished(), whose
    // synchronisation inside Qt ThreadSanitizer cannot see).
    bool done() const { return m_done.load(std::memory_order_acquire) && isFinished(); }

protected:
    void run() override
    {
        {
            std::vector<std::unique_ptr<SecureSocket>> sockets;
            for (int i = 0; i < m_connections; ++i) {
                sockets.push_back(std::make_unique<SecureSocket>());
                sockets.back()->setConfiguration(m_config);
                sockets.back()->setReadBufferSize(m_readLimit);
                sockets.back()->connectToHostEncrypted(kIp, m_port);
            }
            for (int i = 0; i < m_connections; ++i)
                runOne(i, *sockets[size_t(i)]);
        }
        m_done.store(true, std::memory_order_release);
    }

private:
    bool check(bool ok, int index, const char *what, const SecureSocket &socket)
    {
        if (!ok)
            failures.append(QStringLiteral("connection %1: %2 failed: %3")
                                .arg(index)
                                .arg(QLatin1String(what), socket.errorString()));
        return ok;
    }

    void runOne(int index, SecureSocket &socket)
    {
        if (!check(socket.waitForConnected(kTimeout), index, "waitForConnected", socket) ||
            !check(socket.waitForEncrypted(kTimeout), index, "waitForEncrypted", socket))
            return;
        const QByteArray message = QByteArray::number(index) + ':' + m_payload;
        if (!check(socket.write(message) == message.size(), index, "write", socket) ||
            !check(socket.waitForBytesWritten(kTimeout), index, "waitForBytesWritten", socket))
            return;
        QByteArray echoed;
        QDeadlineTimer deadline(kTimeout);
        while (echoed.size() < message.size() && !deadline.hasExpired()) {
            if (socket.bytesAvailable() == 0 &&
                !socket.waitForReadyRead(int(deadline.remainingTime())))
                break;
            if (m_readLimit > 0 && socket.bytesAvailable() > m_readLimit)
                failures.append(QStringLiteral("connection %1: %2 bytes buffered, limit %3")
                                    .arg(index)
                                    .arg(socket.bytesAvailable())
                                    .arg(m_readLimit));
            echoed += socket.readAll();
        }
        if (!check(echoed == message, index, "echo", socket))
            return;
        socket.disconnectFromHost();
        if (socket.state() != QAbstractSocket::UnconnectedState &&
            !check(socket.waitForDisconnected(kTimeout), index, "waitForDisconnected", socket))
            return;
        ++succeeded;
    }

    SecureConfiguration m_config;
    quint16 m_port;
    int m_connections;
    QByteArray m_payload;
    qint64 m_readLimit;
    std::atomic<bool> m_done{false};
};

// A TLS server in Python's ssl module. "truncate": sends `size` bytes, then closes the TCP
// connection without close_notify, as an attacker truncating the stream would. "reset": sends
// `size` bytes, waits, then resets the connection (RST). "silent": completes the handshake,
// then neither reads nor writes until killed. "stall": completes the handshake, sends close_notify
// without reading anything, waits, then resets the connection.
const char kPythonServer[] = R"(
import socket, ssl, struct, sys, time
cert, key, size, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
listener.settimeout(20)
print(listener.getsockname()[1], flush=True)
raw, _ = listener.accept()
raw.settimeout(20)
tls = context.wrap_socket(raw, server_side=True)
if mode == "silent":
    time.sleep(60)
if mode == "finwatch":
    import os
    while tls.recv(4096):  # until the client's close_notify
        pass
    time.sleep(0.1)
    raw_end = socket.socket(fileno=os.dup(tls.fileno()))
    raw_end.setblocking(False)
    try:
        print("fin" if raw_end.recv(1, socket.MSG_PEEK) == b"" else "data", flush=True)
    except BlockingIOError:
        print("no fin", flush=True)
    sys.exit(0)
if mode == "stall":
    tls.setblocking(False)
    try:
        tls.unwrap()  # sends close_notify; the client's answer is never read
    except ssl.SSLError:  # want-read, or the client's data (sent with its Finished) came
        pass
    time.sleep(0.5)
    tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    tls.close()
    sys.exit(0)
tls.sendall(bytes(i % 251 for i in range(size)))
if mode == "reset":
    time.sleep(0.3)
    tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    tls.close()  # no close_notify, and a reset instead of an orderly end
    sys.exit(0)
tls.shutdown(socket.SHUT_RDWR)  # drops the TLS layer first: no close_notify is sent
tls.close()
listener.close()
)";

} // namespace

class tst_Socket : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();

    void startTls();
    void startTlsDiscardsInjectedPlaintext_data();
    void startTlsDiscardsInjectedPlaintext();

    void certificateFailures_data();
    void certificateFailures();
    void ignoreInSlot_data();
    void ignoreInSlot();
    void ignoreListBeforeConnecting_data();
    void ignoreListBeforeConnecting();
    void ignoreListNamesTheCertificate_data();
    void ignoreListNamesTheCertificate();

    void mutualTls();
    void mutualTlsWithoutClientCertificate();
    void sessionDetails();
    void tlsSignals();

    void disconnectSendsPendingDataThenCloseNotify();
    void abortDropsAtOnce();
    void endInReadyRead_data();
    void endInReadyRead();
    void truncation();
    void reset();
    void writeCounters();
    void finLeavesWithCloseNotify();
    void closeWithSilentPeer();
    void peerStopsReadingAfterCloseNotify();
    void nothingStaleAfterFailedConnect();

    void missingCaFile();
    void wrongServerKeyPassphrase();
    void settersShareOneConfiguration();
    void encryptedConnectionKeepsNoTcpSocket();
    void quietConnectionReleasesBuffers();
    void bulkWritesLeaveInFewSends();
    void encryptedBytesWrittenFromConnection();
    void readerTakingAllGetsAMegabytePerPass();
    void windowWriterPostsFewEvents();
    void busyConnectionKeepsBuffers();

    void blockingRejectionSendsAlert();
    void blockingInWorkerThread_data();
    void blockingInWorkerThread();
    void manyThreads();
    void reconnectLoop();

private:
    quint16 startPythonServer(QProcess &python, const QString &mode, int size);
    // A server certificate for spec, issued by the test CA unless issuer says otherwise.
    QString makeServerCert(const QString &name, testpki::CertSpec spec,
                           const testpki::Issued *issuer);
    // Starts server, connects client to it with the test CA and waits until both sides are
    // encrypted: empty, or what failed.
    QString connectToNewServer(TestServer &server, SecureSocket &client);

    TestPki m_pki;
    testpki::Issued m_untrustedCa;
};

QString tst_Socket::connectToNewServer(TestServer &server, SecureSocket &client)
{
    if (!server.start())
        return QStringLiteral("the test server did not start");
    client.setConfiguration(clientConfiguration(m_pki));
    const QString failure = testsupport::connectEncrypted(client, kLocalhost, server.port());
    if (!failure.isEmpty())
        return failure;
    if (!waitUntil([&] { return server.peers.size() == 1 && server.logs.first()->ready; },
                   kTimeout))
        return QStringLiteral("the server's side of the connection never became ready");
    return {};
}

QString tst_Socket::makeServerCert(const QString &name, testpki::CertSpec spec,
                                   const testpki::Issued *issuer)
{
    spec.commonName = name.toStdString() + ".test";
    return m_pki.issue(name, spec, issuer);
}

void tst_Socket::initTestCase()
{
    QVERIFY(m_pki.isValid());
    testpki::CertSpec caSpec;
    caSpec.commonName = "Untrusted CA";
    caSpec.isCa = true;
    m_untrustedCa = testpki::makeCertificate(caSpec);
}

// --- STARTTLS ------------------------------------------------------------------------------

namespace {

// The server side of a line protocol with STARTTLS, on a SecurePlain TestServer. Before the
// upgrade it answers line by line; after it, it logs what it decrypts and echoes it.
// With delayInjection, what is injected follows the OK 100 ms later, in a segment of its own.
void scriptStartTlsServer(TestServer &server, const QByteArray &injectAfterOk,
                          bool delayInjection = false)
{
    server.readIncoming = false;
    server.onReady = [&server, injectAfterOk, delayInjection](QTcpSocket *peer) {
        auto *secure = static_cast<SecureSocket *>(peer);
        auto log = server.logs.last();
        peer->write("220 ready\r\n");
        QObject::connect(peer, &QIODevice::readyRead, peer, [=] {
            if (secure->mode() == SecureSocket::UnencryptedMode) {
                while (secure->canReadLine()) {
                    const QByteArray line = secure->readLine();
                    if (line != "STARTTLS\r\n") {
                        secure->write("500 say STARTTLS first\r\n");
                        continue;
                    }
                    if (!delayInjection) {
                        secure->write("220 go ahead\r\n" + injectAfterOk);
                        secure->startServerEncryption();
                        return;
                    }
                    secure->write("220 go ahead\r\n");
                    QTimer::singleShot(100, secure, [secure, injectAfterOk] {
                        secure->write(injectAfterOk);
                        secure->startServerEncryption();
                    });
                    return;
                }
                return;
            }
            if (!secure->isEncrypted())
                return;
            const QByteArray data = secure->readAll();
            log->received += data;
            secure->write("echo:" + data);
        });
    };
    server.onEncrypted = [](SecureSocket *peer) { peer->write("* secured\r\n"); };
}

} // namespace

void tst_Socket::startTls()
{
    TestServer server(TestServer::SecurePlain, serverConfiguration(m_pki.serverCert));
    scriptStartTlsServer(server, {});
    QVERIFY(server.start());

    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    QSignalSpy modes(&client, &SecureSocket::modeChanged);
    client.connectToHost(kLocalhost, server.port());
    QVERIFY(waitUntil([&] { return client.canReadLine(); }, kTimeout));
    QCOMPARE(client.readLine(), QByteArray("220 ready\r\n"));
    QCOMPARE(client.mode(), SecureSocket::UnencryptedMode);
    client.write("STARTTLS\r\n");
    QVERIFY(waitUntil([&] { return client.canReadLine(); }, kTimeout));
    QCOMPARE(client.readLine(), QByteArray("220 go ahead\r\n"));

    ClientLog log(&client);
    client.startClientEncryption();
    QCOMPARE(client.mode(), SecureSocket::ClientMode);
    client.write("secret\r\n"); // queued until the handshake is done
    QVERIFY(waitUntil([&] { return log.received == "* secured\r\necho:secret\r\n"; }, kTimeout));
    QVERIFY(client.isEncrypted());
    QCOMPARE(log.encrypted, 1);
    QCOMPARE(modes.count(), 1);
    QCOMPARE(server.logs.first()->received, QByteArray("secret\r\n"));
    QCOMPARE(client.peerCertificate().commonName(), QStringLiteral("localhost"));
    QVERIFY(log.errors.isEmpty());
}

void tst_Socket::startTlsDiscardsInjectedPlaintext_data()
{
    QTest::addColumn<QByteArray>("serverInjects");
    QTest::addColumn<QByteArray>("clientInjects");
    QTest::addColumn<bool>("delayed");
    const QByteArray byServer("* injected by the server\r\n");
    QTest::newRow("after the server's OK") << byServer << QByteArray() << false;
    QTest::newRow("after the server's OK, in a later segment") << byServer << QByteArray() << true;
    QTest::newRow("after the client's STARTTLS")
        << QByteArray() << QByteArray("RSET injected by the client\r\n") << false;
}

// Plaintext that follows the OK (or the STARTTLS command) in the same segment was sent before
// the upgrade: it must not come out of the socket as if it had been encrypted.
void tst_Socket::startTlsDiscardsInjectedPlaintext()
{
    QFETCH(QByteArray, serverInjects);
    QFETCH(QByteArray, clientInjects);
    QFETCH(bool, delayed);
    TestServer server(TestServer::SecurePlain, serverConfiguration(m_pki.serverCert));
    scriptStartTlsServer(server, serverInjects, delayed);
    QVERIFY(server.start());

    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    client.connectToHost(kIp, server.port());
    QVERIFY(waitUntil([&] { return client.canReadLine(); }, kTimeout));
    QCOMPARE(client.readLine(), QByteArray("220 ready\r\n"));
    client.write("STARTTLS\r\n" + clientInjects);
    QVERIFY(waitUntil([&] { return client.canReadLine(); }, kTimeout));
    QCOMPARE(client.readLine(), QByteArray("220 go ahead\r\n"));
    // Let what the server injected arrive (and, when delayed, sit in the transport's buffer).
    QVERIFY(waitUntil([&] { return client.bytesAvailable() == serverInjects.size(); }, kTimeout));
    QTest::qWait(20);

    ClientLog log(&client);
    client.startClientEncryption();
    QVERIFY(waitUntil([&] { return log.encrypted == 1; }, kTimeout));
    client.write("hello\r\n");
    QVERIFY(waitUntil([&] { return log.received.endsWith("echo:hello\r\n"); }, kTimeout));
    QCOMPARE(log.received, QByteArray("* secured\r\necho:hello\r\n"));
    QCOMPARE(server.logs.first()->received, QByteArray("hello\r\n"));
    QVERIFY(log.errors.isEmpty());
}

// --- certificate failures ------------------------------------------------------------------

void tst_Socket::certificateFailures_data()
{
    QTest::addColumn<QString>("certFile");
    QTest::addColumn<QString>("host");
    QTest::addColumn<QList<int>>("expected");
    QTest::addColumn<QString>("cause"); // a word errorString() must contain

    auto spec = [] {
        testpki::CertSpec s;
        s.dnsNames = {"localhost"};
        s.ipAddresses = {"127.0.0.1"};
        return s;
    };
    auto code = [](VerifyError e) { return QList<int>{static_cast<int>(e)}; };

    testpki::CertSpec expired = spec();
    expired.notBeforeOffset = -2 * 24 * 3600;
    expired.notAfterOffset = -24 * 3600;
    QTest::newRow("expired") << makeServerCert(QStringLiteral("expired"), expired, &m_pki.ca)
                             << kLocalhost << code(VerifyError::Expired)
                             << QStringLiteral("expired");

    testpki::CertSpec future = spec();
    future.notBeforeOffset = 24 * 3600;
    future.notAfterOffset = 30 * 24 * 3600;
    QTest::newRow("not yet valid")
        << makeServerCert(QStringLiteral("future"), future, &m_pki.ca) << kLocalhost
        << code(VerifyError::NotYetValid) << QStringLiteral("not yet valid");

    QTest::newRow("self-signed") << makeServerCert(QStringLiteral("selfsigned"), spec(), nullptr)
                                 << kLocalhost << code(VerifyError::SelfSigned)
                                 << QStringLiteral("self-signed");

    QTest::newRow("unknown issuer")
        << makeServerCert(QStringLiteral("stranger"), spec(), &m_untrustedCa) << kLocalhost
        << code(VerifyError::UnknownIssuer) << QStringLiteral("issuer");

    testpki::CertSpec otherHost;
    otherHost.dnsNames = {"other.example"};
    QTest::newRow("wrong hostname")
        << makeServerCert(QStringLiteral("otherhost"), otherHost, &m_pki.ca) << kLocalhost
        << code(VerifyError::HostnameMismatch) << QStringLiteral("hostname mismatch");

    testpki::CertSpec otherIp;
    otherIp.dnsNames = {"localhost"};
    otherIp.ipAddresses = {"127.0.0.2"};
    QTest::newRow("IP mismatch") << makeServerCert(QStringLiteral("otherip"), otherIp, &m_pki.ca)
                                 << kIp << code(VerifyError::IpAddressMismatch)
                                 << QStringLiteral("IP address mismatch");

    testpki::CertSpec ipAsDns;
    ipAsDns.dnsNames = {"127.0.0.1"};
    QTest::newRow("IP address as a DNS name")
        << makeServerCert(QStringLiteral("ipasdns"), ipAsDns, &m_pki.ca) << kIp
        << code(VerifyError::IpAddressMismatch)
        << QStringLiteral("lists 127.0.0.1 only as a DNS name, not as an IP address");

    testpki::CertSpec clientOnly = spec();
    clientOnly.extendedKeyUsage = {"clientAuth"};
    QTest::newRow("clientAuth-only EKU")
        << makeServerCert(QStringLiteral("clientonly"), clientOnly, &m_pki.ca) << kLocalhost
        << code(VerifyError::InvalidPurpose) << QStringLiteral("purpose");
}

// A certificate failure not forgiven: reported once per problem and once as a list, then the
// connection is refused before a single byte of application data has passed either way.
void tst_Socket::certificateFailures()
{
    QFETCH(QString, certFile);
    QFETCH(QString, host);
    QFETCH(QList<int>, expected);
    QFETCH(QString, cause);

    TestServer server(TestServer::Tls, serverConfiguration(certFile));
    server.onReady = [](QTcpSocket *peer) { peer->write("server data on encrypted\n"); };
    QVERIFY(server.start());

    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    client.connectToHostEncrypted(host, server.port());
    client.write("client data written before encrypted()\n");
    QVERIFY(log.waitClosed());

    QCOMPARE(log.certCodes, expected);
    QCOMPARE(log.certReasons.size(), expected.size());
    for (const QString &reason : std::as_const(log.certReasons))
        QVERIFY(!reason.isEmpty());
    QCOMPARE(log.certificateErrors.size(), 1);
    QCOMPARE(codesOf(log.certificateErrors.first()), expected);
    QCOMPARE(codesOf(client.peerVerifyErrors()), expected);
    for (int i = 0; i < expected.size(); ++i) {
        QCOMPARE(client.peerVerifyErrors().at(i).message, log.certReasons.at(i));
        QCOMPARE(log.certificateErrors.first().at(i).message, log.certReasons.at(i));
    }

    QCOMPARE(log.errors,
             QList<QAbstractSocket::SocketError>{QAbstractSocket::SslHandshakeFailedError});
    QCOMPARE(client.error(), QAbstractSocket::SslHandshakeFailedError);
    QCOMPARE(client.tlsError(), SecureSocket::CertificateRejected);
    const QString subject =
        QStringLiteral("CN=") + QFileInfo(certFile).baseName() + QStringLiteral(".test");
    QVERIFY2(client.errorString().contains(subject), qPrintable(client.errorString()));
    QVERIFY2(client.errorString().contains(cause, Qt::CaseInsensitive),
             qPrintable(client.errorString()));
    QVERIFY(!client.isEncrypted());
    QCOMPARE(log.encrypted, 0);
    QCOMPARE(log.received, QByteArray());
    QCOMPARE(client.bytesAvailable(), qint64(0));

    QVERIFY(waitUntil([&] { return server.logs.size() == 1 && server.logs.first()->disconnected; },
                      kTimeout));
    QVERIFY(!server.logs.first()->ready);
    QCOMPARE(server.logs.first()->received, QByteArray());
}

void tst_Socket::ignoreInSlot_data()
{
    QTest::addColumn<bool>("fromCertificateErrors");
    QTest::newRow("certCheckFailed") << false;
    QTest::newRow("certificateErrors") << true;
}

// ignoreCertErrors() called from a slot lets the paused handshake continue; data then flows.
void tst_Socket::ignoreInSlot()
{
    QFETCH(bool, fromCertificateErrors);
    testpki::CertSpec expiredSpec;
    expiredSpec.dnsNames = {"localhost"};
    expiredSpec.notBeforeOffset = -2 * 24 * 3600;
    expiredSpec.notAfterOffset = -24 * 3600;
    const QString cert = makeServerCert(QStringLiteral("expired-forgiven"), expiredSpec, &m_pki.ca);
    TestServer server(TestServer::Tls, serverConfiguration(cert));
    server.onReady = [](QTcpSocket *peer) { peer->write("server data\n"); };
    QVERIFY(server.start());

    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    if (fromCertificateErrors)
        QObject::connect(&client, &SecureSocket::certificateErrors, &client,
                         [&client] { client.ignoreCertErrors(); });
    else
        QObject::connect(&client, &SecureSocket::certCheckFailed, &client,
                         [&client] { client.ignoreCertErrors(); });
    client.connectToHostEncrypted(kLocalhost, server.port());
    client.write("client data\n");
    QVERIFY(waitUntil([&] { return log.received == "server data\nclient data\n"; }, kTimeout));
    QVERIFY(client.isEncrypted());
    QCOMPARE(log.certCodes, QList<int>{int(VerifyError::Expired)});
    QCOMPARE(codesOf(client.peerVerifyErrors()), QList<int>{int(VerifyError::Expired)});
    QCOMPARE(server.logs.first()->received, QByteArray("client data\n"));
    QVERIFY(log.errors.isEmpty());
}

void tst_Socket::ignoreListBeforeConnecting_data()
{
    QTest::addColumn<bool>("alsoExpired");
    QTest::addColumn<bool>("accepted");
    QTest::newRow("wrong host, forgiven") << false << true;
    QTest::newRow("wrong host and expired, only the host forgiven") << true << false;
}

// ignoreCertErrors(list) forgives exactly the listed failures.
void tst_Socket::ignoreListBeforeConnecting()
{
    QFETCH(bool, alsoExpired);
    QFETCH(bool, accepted);
    testpki::CertSpec spec;
    spec.dnsNames = {"other.example"};
    if (alsoExpired) {
        spec.notBeforeOffset = -2 * 24 * 3600;
        spec.notAfterOffset = -24 * 3600;
    }
    const QString cert = makeServerCert(alsoExpired ? QStringLiteral("otherhost-expired")
                                                    : QStringLiteral("otherhost-listed"),
                                        spec, &m_pki.ca);
    TestServer server(TestServer::Tls, serverConfiguration(cert));
    QVERIFY(server.start());

    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    client.ignoreCertErrors({VerifyError::HostnameMismatch});
    ClientLog log(&client);
    client.connectToHostEncrypted(kLocalhost, server.port());
    client.write("ping\n");

    QList<int> expected{int(VerifyError::HostnameMismatch)};
    if (alsoExpired)
        expected.append(int(VerifyError::Expired));
    if (accepted) {
        QVERIFY(waitUntil([&] { return log.received == "ping\n"; }, kTimeout));
        QVERIFY(client.isEncrypted());
        QVERIFY(log.errors.isEmpty());
    } else {
        QVERIFY(log.waitClosed());
        QCOMPARE(log.encrypted, 0);
        QCOMPARE(client.error(), QAbstractSocket::SslHandshakeFailedError);
        QCOMPARE(client.tlsError(), SecureSocket::CertificateRejected);
        QCOMPARE(log.received, QByteArray());
        QVERIFY(waitUntil([&] { return server.logs.first()->disconnected; }, kTimeout));
        QCOMPARE(server.logs.first()->received, QByteArray());
    }
    QCOMPARE(sorted(log.certCodes), sorted(expected)); // still reported
    QCOMPARE(log.certificateErrors.size(), 1);
}

void tst_Socket::ignoreListNamesTheCertificate_data()
{
    QTest::addColumn<QString>("forgiven"); // the certificate named with the error
    QTest::addColumn<bool>("accepted");
    QTest::newRow("the server's certificate") << QStringLiteral("server") << true;
    QTest::newRow("another certificate") << QStringLiteral("other") << false;
    QTest::newRow("no certificate") << QString() << false;
}

// ignoreCertErrors(QList<SecureCertificateError>) forgives an error for the certificate it
// names only, as QSslSocket::ignoreSslErrors(QList<QSslError>) does.
void tst_Socket::ignoreListNamesTheCertificate()
{
    QFETCH(QString, forgiven);
    QFETCH(bool, accepted);
    testpki::CertSpec spec;
    spec.dnsNames = {"other.example"};
    const QString cert = makeServerCert(QStringLiteral("otherhost-named"), spec, &m_pki.ca);
    const QString other = makeServerCert(QStringLiteral("otherhost-unrelated"), spec, &m_pki.ca);
    TestServer server(TestServer::Tls, serverConfiguration(cert));
    QVERIFY(server.start());

    SecureCertificateError error;
    error.error = VerifyError::HostnameMismatch;
    if (!forgiven.isEmpty())
        error.certificate =
            SecureCertificate::fromPemFile(forgiven == "server" ? cert : other).value(0);
    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    client.ignoreCertErrors(QList<SecureCertificateError>{error});
    ClientLog log(&client);
    client.connectToHostEncrypted(kLocalhost, server.port());
    client.write("ping\n");
    if (accepted) {
        QVERIFY(waitUntil([&] { return log.received == "ping\n"; }, kTimeout));
        QVERIFY(client.isEncrypted());
    } else {
        QVERIFY(log.waitClosed());
        QCOMPARE(log.encrypted, 0);
        QCOMPARE(client.tlsError(), SecureSocket::CertificateRejected);
    }
    // The failure reported names the certificate it concerns.
    QCOMPARE(client.peerVerifyErrors().size(), 1);
    QCOMPARE(client.peerVerifyErrors().first().certificate.subject(),
             SecureCertificate::fromPemFile(cert).value(0).subject());
    QCOMPARE(client.peerVerifyErrors().first().certificate,
             SecureCertificate::fromPemFile(cert).value(0));
}

// --- mutual TLS, session details, signals --------------------------------------------------

namespace {
SecureConfiguration mutualServerConfiguration(const TestPki &pki)
{
    SecureConfiguration config = serverConfiguration(pki.serverCert);
    config.setPeerVerifyMode(SecureConfiguration::VerifyPeer);
    config.setUseSystemCaCertificates(false);
    config.setCaCertificatesFile(pki.clientCaFile);
    return config;
}
} // namespace

void tst_Socket::mutualTls()
{
    TestServer server(TestServer::Tls, mutualServerConfiguration(m_pki));
    QVERIFY(server.start());

    SecureSocket client;
    SecureConfiguration config = clientConfiguration(m_pki);
    config.setLocalCertificateChainFile(m_pki.clientCert);
    config.setPrivateKeyFile(m_pki.clientKey);
    client.setConfiguration(config);
    ClientLog log(&client);
    client.connectToHostEncrypted(kLocalhost, server.port());
    client.write("authenticated\n");
    QVERIFY(waitUntil([&] { return log.received == "authenticated\n"; }, kTimeout));
    QVERIFY(server.logs.first()->ready);
    QVERIFY2(server.logs.first()->peerSubject.contains(QStringLiteral("CN=client.test")),
             qPrintable(server.logs.first()->peerSubject));
    auto *peer = qobject_cast<SecureSocket *>(server.lastPeer());
    QVERIFY(peer);
    QCOMPARE(peer->peerCertificate().commonName(), QStringLiteral("client.test"));
    QVERIFY(peer->peerVerifyErrors().isEmpty());
}

void tst_Socket::mutualTlsWithoutClientCertificate()
{
    TestServer server(TestServer::Tls, mutualServerConfiguration(m_pki));
    QVERIFY(server.start());

    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    client.connectToHostEncrypted(kLocalhost, server.port());
    client.write("anonymous\n");
    QVERIFY(log.waitClosed());
    QVERIFY(waitUntil([&] { return server.logs.first()->disconnected; }, kTimeout));
    const PeerLog &peer = *server.logs.first();
    QVERIFY(!peer.ready);
    QCOMPARE(peer.received, QByteArray());
    QVERIFY(!peer.errors.isEmpty());
    QCOMPARE(peer.errors.first(), QAbstractSocket::SslHandshakeFailedError);
    QCOMPARE(peer.tlsError, SecureSocket::CertificateRejected);
    QVERIFY2(peer.errorString.contains(QStringLiteral("certificate")),
             qPrintable(peer.errorString));
    // With TLS 1.3 the client may finish its side first; the server's alert then ends it.
    QVERIFY(!log.errors.isEmpty());
    QCOMPARE(client.tlsError(), SecureSocket::AlertReceived);
    QCOMPARE(log.received, QByteArray());
}

void tst_Socket::sessionDetails()
{
    SecureConfiguration serverConfig;
    serverConfig.setLocalCertificateChainFile(m_pki.chainServerCert);
    serverConfig.setPrivateKeyFile(m_pki.chainServerKey);
    serverConfig.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    TestServer server(TestServer::Tls, serverConfig);
    QVERIFY(server.start());

    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    QCOMPARE(client.mode(), SecureSocket::UnencryptedMode);
    QVERIFY(client.sessionProtocol().isEmpty());
    QVERIFY(client.sessionKeyExchangeGroup().isEmpty());
    QVERIFY(client.peerCertificateChain().isEmpty());
    ClientLog log(&client);
    client.connectToHostEncrypted(kLocalhost, server.port());
    QVERIFY(waitUntil([&] { return log.encrypted == 1; }, kTimeout));

    QCOMPARE(client.mode(), SecureSocket::ClientMode);
    QCOMPARE(client.sessionProtocol(), QStringLiteral("TLSv1.3"));
    QVERIFY(client.sessionCipher().startsWith(QStringLiteral("TLS_")));
    const QList<SecureCertificate> chain = client.peerCertificateChain();
    QCOMPARE(chain.size(), 2);
    QCOMPARE(chain.at(0).commonName(), QStringLiteral("chain.localhost"));
    QCOMPARE(chain.at(1).commonName(), QStringLiteral("SecureSocket Test Intermediate"));
    QCOMPARE(chain.at(0).issuer(), chain.at(1).subject());
    QCOMPARE(client.peerCertificate(), chain.at(0));
    QVERIFY(client.peerVerifyErrors().isEmpty());

    QVERIFY(waitUntil([&] { return server.logs.first()->ready; }, kTimeout));
    auto *peer = qobject_cast<SecureSocket *>(server.lastPeer());
    QVERIFY(peer);
    QCOMPARE(peer->mode(), SecureSocket::ServerMode);
    QVERIFY(peer->isEncrypted());
    QCOMPARE(peer->sessionCipher(), client.sessionCipher());
    QCOMPARE(client.sessionKeyExchangeGroup(), QStringLiteral("x25519"));
    QCOMPARE(peer->sessionKeyExchangeGroup(), client.sessionKeyExchangeGroup());
    QVERIFY(peer->peerCertificateChain().isEmpty()); // no client certificate asked for

    // Once aborted the socket is no longer encrypted, and asking is safe.
    client.abort();
    QVERIFY(!client.isEncrypted());
    QVERIFY(client.sessionProtocol().isEmpty());
    QVERIFY(client.sessionCipher().isEmpty());
    QVERIFY(client.sessionKeyExchangeGroup().isEmpty());
    QVERIFY(client.negotiatedAlpnProtocol().isEmpty());
}

void tst_Socket::tlsSignals()
{
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    QVERIFY(server.start());
    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    QStringList order;
    QObject::connect(&client, &QAbstractSocket::connected, &client,
                     [&] { order.append(QStringLiteral("connected")); });
    QObject::connect(&client, &SecureSocket::modeChanged, &client, [&](SecureSocket::Mode mode) {
        order.append(QStringLiteral("mode:%1").arg(int(mode)));
    });
    QObject::connect(&client, &SecureSocket::encrypted, &client,
                     [&] { order.append(QStringLiteral("encrypted")); });
    qint64 encryptedWritten = 0;
    QObject::connect(&client, &SecureSocket::encryptedBytesWritten, &client,
                     [&](qint64 n) { encryptedWritten += n; });
    QSignalSpy alertsSent(&client, &SecureSocket::alertSent);
    QSignalSpy alertsReceived(&client, &SecureSocket::alertReceived);
    ClientLog log(&client);

    client.connectToHostEncrypted(kIp, server.port());
    const QByteArray payload = pattern(1000);
    client.write(payload);
    QVERIFY(waitUntil([&] { return log.received.size() == payload.size(); }, kTimeout));
    // As QSslSocket: the handshake has started when connected() comes.
    QCOMPARE(order, (QStringList{QStringLiteral("mode:1"), QStringLiteral("connected"),
                                 QStringLiteral("encrypted")}));
    QVERIFY2(encryptedWritten > payload.size() + 22, QByteArray::number(encryptedWritten));
    QCOMPARE(alertsSent.count(), 0);

    client.disconnectFromHost();
    QVERIFY(log.waitClosed());
    QCOMPARE(alertsSent.count(), 1);
    QCOMPARE(alertsSent.first().at(0).toInt(), 1); // warning
    QCOMPARE(alertsSent.first().at(1).toInt(), 0); // close_notify
    QVERIFY(!alertsSent.first().at(2).toString().isEmpty());
    QVERIFY(waitUntil([&] { return server.logs.first()->disconnected; }, kTimeout));
    QCOMPARE(server.logs.first()->alertsReceived, QList<int>{0});
    // As QSslSocket, the client is unconnected once its close_notify has left; the server's
    // answer is read (and dropped) by the lingering close.
    QCOMPARE(alertsReceived.count(), 0);
    QVERIFY(log.errors.isEmpty());
}

// bytesToWrite() counts the plaintext not yet encrypted (as QSslSocket's: none once the event
// loop has run); encryptedBytesToWrite() the ciphertext the kernel has not taken yet, which
// drains once the peer reads. Flow control uses both.
void tst_Socket::writeCounters()
{
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    server.readIncoming = false;
    QVERIFY(server.start());
    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    client.connectToHostEncrypted(kIp, server.port());
    QVERIFY(waitUntil([&] { return log.encrypted == 1 && server.lastPeer(); }, kTimeout));
    QCOMPARE(client.encryptedBytesToWrite(), qint64(0));
    const QByteArray data = pattern(32 * 1024 * 1024);
    QSignalSpy written(&client, &QIODevice::bytesWritten);
    QCOMPARE(client.write(data), data.size());
    QCOMPARE(client.bytesToWrite(), data.size());
    QVERIFY(written.wait(kTimeout));
    QCOMPARE(client.bytesToWrite(), qint64(0));
    // The peer reads nothing: the kernel cannot have taken 32 MiB.
    QVERIFY2(client.encryptedBytesToWrite() > 0, "all sent?");
    QTcpSocket *peer = server.lastPeer();
    QByteArray received;
    QObject::connect(peer, &QIODevice::readyRead, peer, [&] { received += peer->readAll(); });
    received += peer->readAll();
    QVERIFY(waitUntil([&] { return received.size() == data.size(); }, 30000));
    QVERIFY(received == data);
    QCOMPARE(client.encryptedBytesToWrite(), qint64(0));
}

// --- closing -------------------------------------------------------------------------------

// disconnectFromHost() right after a large write: everything is sent, then close_notify, and
// the server sees a clean close (RemoteHostClosedError, not a truncation).
void tst_Socket::disconnectSendsPendingDataThenCloseNotify()
{
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    server.onData = nullptr;
    QVERIFY(server.start());
    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    const QByteArray payload = pattern(2 * 1024 * 1024, 5);
    client.connectToHostEncrypted(kIp, server.port());
    QVERIFY(waitUntil([&] { return log.encrypted == 1; }, kTimeout));
    client.write(payload);
    client.disconnectFromHost();
    QVERIFY(client.state() != QAbstractSocket::ConnectedState);
    QVERIFY(log.waitClosed(30000));
    QVERIFY(waitUntil([&] { return server.logs.first()->disconnected; }, kTimeout));
    const PeerLog &peer = *server.logs.first();
    QCOMPARE(peer.received.size(), payload.size());
    QVERIFY(peer.received == payload);
    QCOMPARE(peer.errors,
             QList<QAbstractSocket::SocketError>{QAbstractSocket::RemoteHostClosedError});
    QCOMPARE(peer.tlsError, SecureSocket::NoTlsError);
    QCOMPARE(peer.alertsReceived, QList<int>{0});
    QVERIFY(log.errors.isEmpty());
    QCOMPARE(client.bytesToWrite(), qint64(0));
}

// abort() drops everything at once: no close_notify, nothing of what the kernel did not take yet
// is sent.
void tst_Socket::abortDropsAtOnce()
{
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    server.onData = nullptr;
    QVERIFY(server.start());
    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    QSignalSpy alertsSent(&client, &SecureSocket::alertSent);
    client.connectToHostEncrypted(kIp, server.port());
    QVERIFY(waitUntil([&] { return log.encrypted == 1; }, kTimeout));
    const qint64 total = 16 * 1024 * 1024; // more than the kernel takes at once
    client.write(pattern(total));
    client.abort();
    QCOMPARE(client.state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(log.disconnected, 1);
    QCOMPARE(client.bytesToWrite(), qint64(0));
    QCOMPARE(alertsSent.count(), 0);
    QVERIFY(waitUntil([&] { return server.logs.first()->disconnected; }, kTimeout));
    const PeerLog &peer = *server.logs.first();
    QVERIFY2(peer.received.size() < total, QByteArray::number(peer.received.size()));
    // A FIN or, when the server's session tickets reached the client after the abort, a reset
    // (the kernel answers data for a closed socket so): both end without close_notify.
    QVERIFY2(peer.tlsError == SecureSocket::Truncated ||
                 peer.tlsError == SecureSocket::ConnectionReset,
             qPrintable(QString::number(peer.tlsError)));
    QVERIFY(peer.alertsReceived.isEmpty());
    QVERIFY(log.errors.isEmpty());
}

void tst_Socket::endInReadyRead_data()
{
    QTest::addColumn<bool>("destroy");
    QTest::newRow("abort()") << false;
    QTest::newRow("delete") << true;
}

// A slot that aborts or deletes the socket while the pump that emitted readyRead() still has
// the peer's close_notify to handle: nothing more is emitted, nothing is touched after.
void tst_Socket::endInReadyRead()
{
    QFETCH(bool, destroy);
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    server.onReady = [](QTcpSocket *peer) {
        peer->write("last words\n");
        peer->disconnectFromHost();
    };
    QVERIFY(server.start());
    auto *client = new SecureSocket;
    QPointer<SecureSocket> guard(client);
    client->setConfiguration(clientConfiguration(m_pki));
    int readyReads = 0;
    int errors = 0;
    int disconnects = 0;
    QObject::connect(client, &QAbstractSocket::errorOccurred, [&] { ++errors; });
    QObject::connect(client, &QAbstractSocket::disconnected, [&] { ++disconnects; });
    QObject::connect(client, &QIODevice::readyRead, [&, client] {
        ++readyReads;
        if (destroy)
            delete client;
        else
            client->abort();
    });
    client->connectToHostEncrypted(kIp, server.port());
    QVERIFY(waitUntil([&] { return readyReads > 0; }, kTimeout));
    testsupport::deliverPostedEvents(); // a second readyRead or an error would be queued
    QCOMPARE(readyReads, 1);
    QCOMPARE(errors, 0);
    QCOMPARE(guard.isNull(), destroy);
    if (!destroy) {
        QCOMPARE(disconnects, 1);
        QCOMPARE(client->state(), QAbstractSocket::UnconnectedState);
        QVERIFY(!client->isOpen());
        delete client;
    }
    QVERIFY(waitUntil([&] { return server.logs.first()->disconnected; }, kTimeout));
}

// A peer that closes TCP without close_notify: all data is delivered first, then the error
// says the stream may have been truncated (RemoteHostClosedError, as QSslSocket, with
// tlsError() Truncated), not a clean close.
// The Python server ended with status 0. It may have ended, and QProcess noticed, while the
// test waited in the event loop: waitForFinished() would then say false.
static bool peerFinished(QProcess &python)
{
    const bool ended = python.state() == QProcess::NotRunning || python.waitForFinished(kTimeout);
    return ended && python.exitStatus() == QProcess::NormalExit && python.exitCode() == 0;
}

// Starts the Python server in mode and returns its port, or 0 (having failed the test).
quint16 tst_Socket::startPythonServer(QProcess &python, const QString &mode, int size)
{
    const QString script = m_pki.write(QStringLiteral("server.py"), kPythonServer);
    python.setProgram(QStringLiteral("python3"));
    python.setArguments({script, m_pki.serverCert, m_pki.serverKey, QString::number(size), mode});
    python.start();
    [&] {
        QVERIFY2(python.waitForStarted(kTimeout), qPrintable(python.errorString()));
        QVERIFY2(python.waitForReadyRead(kTimeout), python.readAllStandardError().constData());
    }();
    bool ok = false;
    const quint16 port = python.readLine().trimmed().toUShort(&ok);
    if (!QTest::currentTestFailed() && (!ok || port == 0))
        QTest::qFail(python.readAllStandardError().constData(), __FILE__, __LINE__);
    return ok ? port : 0;
}

void tst_Socket::truncation()
{
    constexpr int size = 300000;
    QProcess python;
    const quint16 port = startPythonServer(python, QStringLiteral("truncate"), size);
    if (QTest::currentTestFailed())
        return;

    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    client.connectToHostEncrypted(kIp, port);
    QVERIFY(log.waitClosed());
    QVERIFY2(peerFinished(python), python.readAllStandardError().constData());
    QCOMPARE(python.exitCode(), 0);

    QByteArray expected(size, Qt::Uninitialized);
    for (int i = 0; i < size; ++i)
        expected[i] = char(i % 251);
    QCOMPARE(log.received.size(), expected.size());
    QVERIFY(log.received == expected);
    // As QSslSocket: a remote close; tlsError() tells that close_notify was missing.
    QCOMPARE(log.errors,
             QList<QAbstractSocket::SocketError>{QAbstractSocket::RemoteHostClosedError});
    QCOMPARE(log.receivedAtError.first(), qint64(size)); // everything came before the error
    QCOMPARE(client.error(), QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(client.tlsError(), SecureSocket::Truncated);
    QVERIFY2(client.errorString().contains(QStringLiteral("close_notify")),
             qPrintable(client.errorString()));
}

// A reset is told apart from an orderly end without close_notify.
void tst_Socket::reset()
{
    QProcess python;
    const quint16 port = startPythonServer(python, QStringLiteral("reset"), 1000);
    if (QTest::currentTestFailed())
        return;
    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    client.connectToHostEncrypted(kIp, port);
    QVERIFY(log.waitClosed());
    QVERIFY2(peerFinished(python), python.readAllStandardError().constData());
    QCOMPARE(client.error(), QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(client.tlsError(), SecureSocket::ConnectionReset);
    QVERIFY2(client.errorString().contains(QStringLiteral("reset")),
             qPrintable(client.errorString()));
}

// The peer says close_notify while we are sending more than the kernel takes, then reads
// nothing and finally resets: the engine reads no more, yet the end of the stream is seen and
// the socket ends (it used to wait for ever, its read notifier firing in vain).
void tst_Socket::peerStopsReadingAfterCloseNotify()
{
    QProcess python;
    const quint16 port = startPythonServer(python, QStringLiteral("stall"), 0);
    if (QTest::currentTestFailed())
        return;
    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    QObject::connect(&client, &SecureSocket::encrypted, &client,
                     [&client] { client.write(pattern(32 * 1024 * 1024)); });
    client.connectToHostEncrypted(kIp, port);
    QVERIFY(waitUntil([&] { return log.disconnected == 1; }, kTimeout));
    QVERIFY2(peerFinished(python), python.readAllStandardError().constData());
    QCOMPARE(log.errors.value(0), QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(client.state(), QAbstractSocket::UnconnectedState);
}

// close_notify and the FIN leave together: the peer sees the end of the stream while the
// client's thread is still busy (no event loop has run since disconnectFromHost()).
void tst_Socket::finLeavesWithCloseNotify()
{
    QProcess python;
    const quint16 port = startPythonServer(python, QStringLiteral("finwatch"), 0);
    if (QTest::currentTestFailed())
        return;
    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    client.connectToHostEncrypted(kIp, port);
    QVERIFY(waitUntil([&] { return log.encrypted == 1; }, kTimeout));
    client.disconnectFromHost();
    // Blocks this thread: no event loop runs.
    QByteArray verdict;
    for (int i = 0; i < 50 && verdict.isEmpty() && python.waitForReadyRead(kTimeout); ++i) {
        while (verdict.isEmpty() && python.canReadLine())
            verdict = python.readLine().trimmed();
    }
    QVERIFY2(!verdict.isEmpty(), python.readAllStandardError().constData());
    QCOMPARE(verdict, QByteArray("fin"));
    QVERIFY(log.waitClosed(kTimeout));
    QVERIFY2(peerFinished(python), python.readAllStandardError().constData());
}

// A peer that never answers close_notify: the socket closes anyway, a little later.
void tst_Socket::closeWithSilentPeer()
{
    QProcess python;
    const quint16 port = startPythonServer(python, QStringLiteral("silent"), 0);
    if (QTest::currentTestFailed())
        return;
    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    QSignalSpy alertsSent(&client, &SecureSocket::alertSent);
    client.connectToHostEncrypted(kIp, port);
    QVERIFY(waitUntil([&] { return log.encrypted == 1; }, kTimeout));
    QElapsedTimer timer;
    timer.start();
    client.disconnectFromHost();
    QCOMPARE(client.state(), QAbstractSocket::ClosingState);
    QCOMPARE(alertsSent.count(), 1);
    QVERIFY(log.waitClosed(kTimeout));
    QVERIFY2(timer.elapsed() < 5000, QByteArray::number(timer.elapsed()));
    QVERIFY(log.errors.isEmpty());
    python.kill();
    python.waitForFinished(kTimeout);
}

// Data written to a connection that never came up is not sent on the next one.
void tst_Socket::nothingStaleAfterFailedConnect()
{
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    server.onData = nullptr;
    QVERIFY(server.start());
    const testsupport::RefusingPort closed;
    const quint16 closedPort = closed.port();
    QVERIFY(closedPort != 0);

    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));
    ClientLog log(&client);
    client.connectToHostEncrypted(kIp, closedPort);
    client.write("stale\n");
    QVERIFY(waitUntil([&] { return !log.errors.isEmpty(); }, kTimeout));
    QCOMPARE(log.errors.first(), QAbstractSocket::ConnectionRefusedError);

    client.connectToHostEncrypted(kIp, server.port());
    QCOMPARE(client.bytesToWrite(), qint64(0));
    client.write("fresh\n");
    QVERIFY(waitUntil([&] { return server.receivedByAll() == "fresh\n"; }, kTimeout));
    client.disconnectFromHost();
    QVERIFY(log.waitClosed());
    QCOMPARE(server.receivedByAll(), QByteArray("fresh\n"));
}

// --- configuration errors ------------------------------------------------------------------

void tst_Socket::missingCaFile()
{
    TestServer server(TestServer::Plain);
    server.onData = nullptr;
    QVERIFY(server.start());
    SecureSocket client;
    SecureConfiguration config;
    config.setUseSystemCaCertificates(false);
    const QString missing =
        m_pki.write(QStringLiteral("placeholder"), "") + QStringLiteral("-missing/ca.pem");
    config.setCaCertificatesFile(missing);
    client.setConfiguration(config);
    ClientLog log(&client);
    QSignalSpy states(&client, &QAbstractSocket::stateChanged);
    client.connectToHostEncrypted(kIp, server.port());
    QVERIFY(waitUntil([&] { return !log.errors.isEmpty(); }, kTimeout));
    QCOMPARE(log.errors,
             QList<QAbstractSocket::SocketError>{QAbstractSocket::SslInvalidUserDataError});
    QCOMPARE(client.tlsError(), SecureSocket::ConfigurationError);
    QVERIFY2(client.errorString().contains(missing), qPrintable(client.errorString()));
    QCOMPARE(client.state(), QAbstractSocket::UnconnectedState);
    // No event marks "nothing was sent": bytes already sent would reach the server within this
    // settle.
    QTest::qWait(100);
    QCOMPARE(server.receivedByAll(), QByteArray()); // not a byte of TLS
}

void tst_Socket::wrongServerKeyPassphrase()
{
    testpki::CertSpec spec;
    spec.commonName = "locked.test";
    spec.dnsNames = {"localhost"};
    const testpki::Issued issued = testpki::makeCertificate(spec, &m_pki.ca);
    const QString certFile = m_pki.write(QStringLiteral("locked.pem"), issued.certPem);
    const QString keyFile =
        m_pki.write(QStringLiteral("locked.key"), testpki::encryptKey(issued.keyPem, "right"));
    SecureConfiguration config;
    config.setLocalCertificateChainFile(certFile);
    config.setPrivateKeyFile(keyFile);
    config.setPrivateKeyPassphrase("wrong");
    TestServer server(TestServer::Tls, config);
    QVERIFY(server.start());

    QTcpSocket client; // counts every byte the server sends
    QByteArray received;
    QObject::connect(&client, &QIODevice::readyRead, &client,
                     [&] { received += client.readAll(); });
    client.connectToHost(kIp, server.port());
    QVERIFY(client.waitForConnected(kTimeout));
    QVERIFY(waitUntil([&] { return !server.logs.isEmpty() && server.logs.first()->disconnected; },
                      kTimeout));
    const PeerLog &peer = *server.logs.first();
    QCOMPARE(peer.errors.first(), QAbstractSocket::SslInvalidUserDataError);
    QCOMPARE(peer.tlsError, SecureSocket::ConfigurationError);
    QVERIFY2(peer.errorString.contains(keyFile), qPrintable(peer.errorString));
    QVERIFY(
        waitUntil([&] { return client.state() == QAbstractSocket::UnconnectedState; }, kTimeout));
    QCOMPARE(received, QByteArray());
}

// --- threads and endurance -----------------------------------------------------------------

// The blocking API from a thread with no event loop, against the server in the main thread.
// A blocking client that refuses the certificate and ends at once (no event loop to flush
// anything later) has still told the server why, with a fatal alert.
void tst_Socket::blockingRejectionSendsAlert()
{
    testpki::CertSpec spec;
    spec.dnsNames = {"localhost"};
    const QString cert = makeServerCert(QStringLiteral("stranger-blocking"), spec, &m_untrustedCa);
    TestServer server(TestServer::Tls, serverConfiguration(cert));
    QVERIFY(server.start());
    const SecureConfiguration config = clientConfiguration(m_pki);
    const quint16 port = server.port();
    // Atomics: the results cross threads (see BlockingClients::done()).
    std::atomic<bool> encrypted{true};
    std::atomic<SecureSocket::TlsError> tlsError{SecureSocket::NoTlsError};
    std::atomic<bool> done{false};
    std::unique_ptr<QThread> worker(QThread::create([&] {
        {
            SecureSocket socket;
            socket.setConfiguration(config);
            socket.connectToHostEncrypted(kLocalhost, port);
            encrypted = socket.waitForConnected(kTimeout) && socket.waitForEncrypted(kTimeout);
            tlsError = socket.tlsError();
        }
        done = true;
    }));
    worker->start();
    QVERIFY(waitUntil([&] { return done && worker->isFinished(); }, 3 * kTimeout));
    QVERIFY(!encrypted);
    QCOMPARE(tlsError.load(), SecureSocket::CertificateRejected);
    QVERIFY(waitUntil([&] { return !server.logs.isEmpty() && server.logs.first()->disconnected; },
                      kTimeout));
    QCOMPARE(server.logs.first()->alertsReceived, QList<int>{48}); // unknown_ca
}

void tst_Socket::blockingInWorkerThread_data()
{
    QTest::addColumn<qint64>("readLimit");
    QTest::newRow("unlimited read buffer") << qint64(0);
    QTest::newRow("read buffer of 1 KiB") << qint64(1024);
}

void tst_Socket::blockingInWorkerThread()
{
    QFETCH(qint64, readLimit);
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    QVERIFY(server.start());
    BlockingClients worker(clientConfiguration(m_pki), server.port(), 1, pattern(256 * 1024),
                           readLimit);
    worker.start();
    QVERIFY(waitUntil([&] { return worker.done(); }, 4 * kTimeout));
    QVERIFY2(worker.failures.isEmpty(), qPrintable(worker.failures.join(QLatin1Char('\n'))));
    QCOMPARE(worker.succeeded, 1);
}

void tst_Socket::manyThreads()
{
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    QVERIFY(server.start());
    std::vector<std::unique_ptr<BlockingClients>> workers;
    for (int i = 0; i < 4; ++i)
        workers.push_back(std::make_unique<BlockingClients>(clientConfiguration(m_pki),
                                                            server.port(), 25, pattern(4096, i)));
    for (auto &worker : workers)
        worker->start();
    QVERIFY(waitUntil(
        [&] {
            return std::all_of(workers.begin(), workers.end(),
                               [](const auto &w) { return w->done(); });
        },
        60000));
    for (auto &worker : workers) {
        QVERIFY2(worker->failures.isEmpty(), qPrintable(worker->failures.join(QLatin1Char('\n'))));
        QCOMPARE(worker->succeeded, 25);
    }
    QCOMPARE(server.logs.size(), 100);
}

// One SecureSocket connects, handshakes and closes thousands of times: afterwards the process
// has no more open file descriptors, and both sides as many objects, as before.
void tst_Socket::reconnectLoop()
{
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    QVERIFY(server.start());
    SecureSocket client;
    client.setConfiguration(clientConfiguration(m_pki));

    int target = 0;
    int completed = 0;
    int encrypted = 0;
    QStringList failures;
    QObject::connect(&client, &SecureSocket::encrypted, &client, [&] {
        ++encrypted;
        client.disconnectFromHost();
    });
    QObject::connect(&client, &QAbstractSocket::errorOccurred, &client,
                     [&] { failures.append(client.errorString()); });
    QObject::connect(&client, &QAbstractSocket::disconnected, &client, [&] {
        if (++completed < target)
            QTimer::singleShot(0, &client,
                               [&] { client.connectToHostEncrypted(kIp, server.port()); });
    });
    auto run = [&](int cycles, int msecs) {
        target = completed + cycles;
        client.connectToHostEncrypted(kIp, server.port());
        return waitUntil([&] { return completed == target || !failures.isEmpty(); }, msecs);
    };
    auto serverPeers = [&] {
        return server.findChildren<QTcpSocket *>(Qt::FindDirectChildrenOnly).size();
    };

    QVERIFY(run(10, kTimeout)); // warm up: lazily created state of Qt and OpenSSL
    QVERIFY(waitUntil([&] { return serverPeers() == 0; }, kTimeout));
    // Every descriptor but the eventfds of Qt's event dispatchers: an idle pooled thread (of
    // the host lookups of earlier tests) may end, and close its own, during the loop.
    auto countedFds = [] {
        return openFileDescriptors() - openFileDescriptors(QStringLiteral("anon_inode:[eventfd]"));
    };
    const int fdsBefore = countedFds();
    const int socketsBefore = openFileDescriptors(QStringLiteral("socket:"));
    const qsizetype objectsBefore = client.findChildren<QObject *>().size();

    QElapsedTimer timer;
    timer.start();
    QVERIFY2(run(kReconnectCycles, 120000), qPrintable(failures.join(QLatin1Char('\n'))));
    const qint64 elapsed = timer.elapsed();
    QVERIFY2(failures.isEmpty(), qPrintable(failures.join(QLatin1Char('\n'))));
    QCOMPARE(encrypted, kReconnectCycles + 10);
    QCOMPARE(server.logs.size(), kReconnectCycles + 10);

    // A leak shows as growth. The count may also fall: an earlier test's lingering socket may
    // close during the loop, or another thread held a descriptor for a moment (a host lookup
    // reading a file) in the first count.
    QVERIFY(waitUntil([&] { return serverPeers() == 0; }, kTimeout));
    waitUntil([&] { return countedFds() <= fdsBefore; }, kTimeout);
    QVERIFY2(
        countedFds() <= fdsBefore,
        qPrintable(
            QStringLiteral("%1 descriptors before, %2 after").arg(fdsBefore).arg(countedFds())));
    QVERIFY(openFileDescriptors(QStringLiteral("socket:")) <= socketsBefore);
    QCOMPARE(client.findChildren<QObject *>().size(), objectsBefore);
    qInfo("%d connect/handshake/close cycles in %lld ms", kReconnectCycles,
          static_cast<long long>(elapsed));
}

QTEST_MAIN(tst_Socket)
// Sockets configured one by one with equal settings end up with one configuration's data, and
// so one set of contexts, once they connect; other settings, or a key held in memory (never
// kept beyond its owner), stay apart.
void tst_Socket::settersShareOneConfiguration()
{
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    QVERIFY(server.start());
    const auto configured = [&](SecureConfiguration::PeerVerifyMode mode) {
        auto socket = std::make_unique<SecureSocket>();
        socket->setCaCertificatesFile(m_pki.caFile);
        socket->setPeerVerifyName(QStringLiteral("localhost"));
        socket->setPeerVerifyMode(mode);
        return socket;
    };
    const auto a = configured(SecureConfiguration::VerifyPeer);
    const auto b = configured(SecureConfiguration::VerifyPeer);
    const auto other = configured(SecureConfiguration::QueryPeer);
    const auto withKey = configured(SecureConfiguration::VerifyPeer);
    SecureConfiguration keyed = withKey->configuration();
    QFile key(m_pki.clientKey);
    QVERIFY(key.open(QIODevice::ReadOnly));
    keyed.setPrivateKeyPem(key.readAll());
    keyed.setLocalCertificateChainFile(m_pki.clientCert);
    withKey->setConfiguration(keyed);
    const auto keyedTwin = std::make_unique<SecureSocket>();
    keyedTwin->setConfiguration(keyed);
    QVERIFY(!securesocket::testing::sharesData(a->configuration(), b->configuration()));

    for (SecureSocket *socket : {a.get(), b.get(), other.get(), withKey.get()}) {
        const QString failure =
            testsupport::connectEncrypted(*socket, QStringLiteral("127.0.0.1"), server.port());
        QVERIFY2(failure.isEmpty(), qPrintable(failure));
    }
    QVERIFY(securesocket::testing::sharesData(a->configuration(), b->configuration()));
    QVERIFY(!securesocket::testing::sharesData(a->configuration(), other->configuration()));
    QVERIFY(!securesocket::testing::sharesData(a->configuration(), withKey->configuration()));
    // A socket given the same object keeps sharing it, key or not.
    QVERIFY(
        securesocket::testing::sharesData(withKey->configuration(), keyedTwin->configuration()));
}

// Once TLS reads and writes the descriptor itself, neither side keeps an inner QTcpSocket (the
// memory of an idle connection); a server socket given its descriptor with
// setSocketDescriptor() and encrypted at once never makes one, and a plain one still works as
// QTcpSocket does (readyRead() without any call first).
void tst_Socket::encryptedConnectionKeepsNoTcpSocket()
{
    const auto tcpChildren = [](QObject *socket) {
        return socket->findChildren<QTcpSocket *>(Qt::FindDirectChildrenOnly).size();
    };
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    SecureSocket client;
    const QString failure = connectToNewServer(server, client);
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    QVERIFY(waitUntil([&] { return tcpChildren(&client) == 0; }, kTimeout)); // let go later
    QCOMPARE(tcpChildren(server.peers.first()), 0);                          // never made
    client.write("ping\n");
    QVERIFY(waitUntil([&] { return client.canReadLine(); }, kTimeout));
    QCOMPARE(client.readLine(), QByteArray("ping\n"));

    TestServer plain(TestServer::SecurePlain, serverConfiguration(m_pki.serverCert));
    QVERIFY(plain.start());
    QTcpSocket tcp;
    tcp.connectToHost(kIp, plain.port());
    QVERIFY(tcp.waitForConnected(kTimeout));
    tcp.write("plain\n");
    QVERIFY(waitUntil([&] { return plain.receivedByAll() == "plain\n"; }, kTimeout));
    QVERIFY(waitUntil([&] { return tcp.bytesAvailable() == 6; }, kTimeout)); // echoed
}

// A busy connection keeps its engine buffers between bursts, and lets them go once it is quiet:
// default socket options, many writes of both sizes, both directions; a socket that ends
// while it holds them (its release timer running) ends cleanly.
void tst_Socket::quietConnectionReleasesBuffers()
{
    using securesocket::testing::holdsIdleBuffers;
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    bool serverHeld = false;
    server.onData = [&](QTcpSocket *peer, const QByteArray &data) {
        serverHeld = serverHeld || holdsIdleBuffers(*qobject_cast<SecureSocket *>(peer));
        peer->write(data); // echo
    };
    auto client = std::make_unique<SecureSocket>();
    const QString failure = connectToNewServer(server, *client);
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    auto *peer = qobject_cast<SecureSocket *>(server.peers.first().data());
    QVERIFY(peer);

    QByteArray echoed;
    bool clientHeld = false;
    QObject::connect(client.get(), &QIODevice::readyRead, client.get(), [&] {
        clientHeld = clientHeld || holdsIdleBuffers(*client);
        echoed += client->readAll();
    });
    const QByteArray data = pattern(4 * 1024 * 1024, 3);
    for (qint64 offset = 0; offset < data.size(); offset += 64 * 1024)
        QCOMPARE(client->write(data.mid(offset, 64 * 1024)), qint64(64 * 1024));
    const QByteArray small = pattern(100 * 300, 4);
    for (qint64 offset = 0; offset < small.size(); offset += 100)
        client->write(small.mid(offset, 100));
    QVERIFY(waitUntil([&] { return echoed.size() == data.size() + small.size(); }, 4 * kTimeout));
    QVERIFY(echoed == data + small);
    QVERIFY(clientHeld);
    QVERIFY(serverHeld);
    QVERIFY(waitUntil([&] { return !holdsIdleBuffers(*client) && !holdsIdleBuffers(*peer); },
                      kTimeout));

    // Released: the other way, intact, then released again.
    echoed.clear();
    const QByteArray back = pattern(1024 * 1024, 5);
    peer->write(back);
    QVERIFY(waitUntil([&] { return echoed.size() == back.size(); }, kTimeout));
    QVERIFY(echoed == back);
    QVERIFY(waitUntil([&] { return !holdsIdleBuffers(*client) && !holdsIdleBuffers(*peer); },
                      kTimeout));

    // Ending while the buffers are held: deleted in the slot that saw them held, nothing fires
    // later.
    bool deletedHolding = false;
    QObject::disconnect(client.get(), &QIODevice::readyRead, nullptr, nullptr);
    QObject::connect(client.get(), &QIODevice::readyRead, client.get(), [&] {
        client->readAll();
        if (!holdsIdleBuffers(*client))
            return;
        deletedHolding = true;
        client->abort();
        client.release()->deleteLater();
    });
    peer->write(pattern(100 * 1024, 6)); // less than one pump reads: held at its readyRead()
    QVERIFY(waitUntil([&] { return deletedHolding; }, kTimeout));
    QTest::qWait(3 * 20); // past the release delay
    QVERIFY(waitUntil([&] { return server.livePeers() == 0; }, kTimeout));
}

// A bulk writer's 64 KiB writes made in one event-loop pass leave together at its end, in one
// send() per MiB (as QAbstractSocket's buffer does for plain TCP), not one each: default
// socket options, what the kernel refuses sent later, everything arriving intact.
void tst_Socket::bulkWritesLeaveInFewSends()
{
    using securesocket::testing::sendCallsOnThisThread;
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    server.onData = nullptr; // receives only: every send() of this thread is the client's
    SecureSocket client;
    const QString failure = connectToNewServer(server, client);
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    QTest::qWait(50); // the server's session tickets are in

    // Under a MiB: the records wait in the engine for the end of the pass, counted as
    // encryptedBytesToWrite(); bytesWritten() comes from the event loop.
    constexpr qint64 kWrite = 64 * 1024;
    constexpr qint64 kRecord = 16 * 1024;
    constexpr qint64 kRecordOnWire = kRecord + 5 + 17; // TLS 1.3 AES-GCM: header, tag, type
    const QByteArray data = pattern(32 * kWrite, 7);
    quint64 before = sendCallsOnThisThread();
    for (qint64 offset = 0; offset < 8 * kWrite; offset += kWrite)
        QCOMPARE(client.write(data.mid(offset, kWrite)), kWrite);
    QCOMPARE(sendCallsOnThisThread(), before);
    QCOMPARE(client.encryptedBytesToWrite(), 8 * kWrite / kRecord * kRecordOnWire);
    QCOMPARE(client.bytesToWrite(), 8 * kWrite);
    QVERIFY(waitUntil([&] { return server.receivedByAll().size() == 8 * kWrite; }, kTimeout));
    const quint64 small = sendCallsOnThisThread() - before;
    QVERIFY2(small <= 3, qPrintable(QString::number(small))); // one, and what the kernel refused
    QCOMPARE(client.bytesToWrite(), 0);

    // 24 more in one pass: a send() per MiB of records, and the rest at the end of the pass.
    before = sendCallsOnThisThread();
    for (qint64 offset = 8 * kWrite; offset < data.size(); offset += kWrite)
        QCOMPARE(client.write(data.mid(offset, kWrite)), kWrite);
    const quint64 duringPass = sendCallsOnThisThread() - before;
    QCOMPARE(duringPass, quint64(1)); // the first MiB (16 writes)
    QVERIFY(waitUntil([&] { return server.receivedByAll().size() == data.size(); }, 4 * kTimeout));
    const quint64 sends = sendCallsOnThisThread() - before;
    qInfo("send() calls for 24 writes of 64 KiB in one pass: %llu", sends);
    QVERIFY2(sends < 12, qPrintable(QString::number(sends)));
    QVERIFY(server.receivedByAll() == data);
    QCOMPARE(client.encryptedBytesToWrite(), 0);
}

// encryptedBytesWritten() counts what the kernel took from the moment a slot is connected: a
// socket that nobody listens to posts no report per send(), and one connected later is told
// of later bytes only, exactly.
void tst_Socket::encryptedBytesWrittenFromConnection()
{
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    server.onData = nullptr;
    SecureSocket client;
    const QString failure = connectToNewServer(server, client);
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    const QByteArray unheard = pattern(5000, 8);
    client.write(unheard);
    QVERIFY(waitUntil([&] { return server.receivedByAll() == unheard; }, kTimeout));

    qint64 reported = 0;
    QObject::connect(&client, &SecureSocket::encryptedBytesWritten, &client,
                     [&](qint64 n) { reported += n; });
    const QByteArray heard = pattern(1000, 9);
    client.write(heard);
    QVERIFY(waitUntil([&] { return server.receivedByAll() == unheard + heard; }, kTimeout));
    QVERIFY(waitUntil([&] { return reported > 0; }, kTimeout));
    QTest::qWait(20);                                  // nothing more comes
    QCOMPARE(reported, qint64(heard.size() + 5 + 17)); // one TLS 1.3 record: header, tag, type
}

namespace {

// A bulk writer that keeps at most a window of data pending, writing 64 KiB at a time from
// bytesWritten() and encryptedBytesWritten(), as applications that stream a file do.
struct WindowWriter
{
    static constexpr qint64 kWrite = 64 * 1024;
    static constexpr qint64 kWindow = 1024 * 1024;

    WindowWriter(SecureSocket &socket, QByteArray data) : socket(socket), data(std::move(data))
    {
        QObject::connect(&socket, &QIODevice::bytesWritten, &socket, [this] { fill(); });
        QObject::connect(&socket, &SecureSocket::encryptedBytesWritten, &socket,
                         [this] { fill(); });
    }
    void fill()
    {
        ++rounds;
        while (sent < data.size() &&
               socket.bytesToWrite() + socket.encryptedBytesToWrite() < kWindow) {
            const qint64 size = std::min(kWrite, data.size() - sent);
            if (socket.write(data.constData() + sent, size) != size) {
                writeFailed = true;
                return;
            }
            sent += size;
            if (sent == data.size() && lastWrite)
                lastWrite();
        }
    }
    QString describe(qint64 received) const
    {
        return QStringLiteral("%1 of %2 bytes written, %3 received; %4 + %5 to write")
            .arg(sent)
            .arg(data.size())
            .arg(received)
            .arg(socket.bytesToWrite())
            .arg(socket.encryptedBytesToWrite());
    }

    SecureSocket &socket;
    const QByteArray data;
    qint64 sent = 0;
    int rounds = 0;
    bool writeFailed = false;        // write() took less than it was given
    std::function<void()> lastWrite; // called when the last byte has been written
};

} // namespace

// A writer that keeps a window of bytes in flight, writing from bytesWritten() and
// encryptedBytesWritten() as most bulk senders do: its writes leave in the pass that reported
// the last ones, not from an event posted per write and per report (two or more per round
// before, each a wake-up of the event dispatcher).
void tst_Socket::windowWriterPostsFewEvents()
{
    using securesocket::testing::writeEventsPostedOnThisThread;
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    QByteArray received;
    server.onData = [&](QTcpSocket *, const QByteArray &data) { received += data; };
    SecureSocket client;
    const QString failure = connectToNewServer(server, client);
    QVERIFY2(failure.isEmpty(), qPrintable(failure));

    WindowWriter writer(client, pattern(8 * 1024 * 1024, 11));
    const quint64 before = writeEventsPostedOnThisThread();
    writer.fill();
    const bool all = waitUntil([&] { return received.size() == writer.data.size(); }, 4 * kTimeout);
    QVERIFY(!writer.writeFailed);
    QVERIFY2(all, qPrintable(writer.describe(received.size())));
    QVERIFY(received == writer.data);
    const quint64 posted = writeEventsPostedOnThisThread() - before;
    qInfo("8 MiB in %d rounds of writing, %llu events posted", writer.rounds, posted);
    QVERIFY2(posted * 3 <= quint64(writer.rounds), qPrintable(QString::number(posted)));
}

// Both ends of a long transfer keep their engine buffers for as long as it lasts (released
// and taken again whenever the connection was idle for a moment, they cost a megabyte of
// allocations and page faults 50 times a second), and let them go once it is over: default
// socket options, a writer that keeps a window full.
void tst_Socket::busyConnectionKeepsBuffers()
{
    using securesocket::testing::holdsIdleBuffers;
    using securesocket::testing::idleBufferReleasesOnThisThread;
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    qint64 received = 0;
    server.onData = [&](QTcpSocket *, const QByteArray &data) { received += data.size(); };
    SecureSocket client;
    const QString failure = connectToNewServer(server, client);
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    auto *peer = qobject_cast<SecureSocket *>(server.peers.first().data());
    QVERIFY(peer);
    const auto released = [&] { return !holdsIdleBuffers(client) && !holdsIdleBuffers(*peer); };
    QVERIFY(waitUntil(released, kTimeout)); // the handshake's buffers are gone

    // Counted until the writer's last write: after it the writer goes quiet, and lets its
    // buffers go, while the server still reads.
    WindowWriter writer(client, QByteArray(64 * 1024 * 1024, 'b'));
    const quint64 before = idleBufferReleasesOnThisThread();
    QElapsedTimer timer;
    quint64 during = 0;
    qint64 elapsed = 0;
    writer.lastWrite = [&] {
        during = idleBufferReleasesOnThisThread() - before;
        elapsed = timer.elapsed();
    };
    timer.start();
    writer.fill();
    const bool all = waitUntil([&] { return received == writer.data.size(); }, 8 * kTimeout);
    QVERIFY(!writer.writeFailed);
    QVERIFY2(all, qPrintable(writer.describe(received)));
    qInfo("64 MiB written in %lld ms, buffers released %llu times meanwhile",
          static_cast<long long>(elapsed), during);
    // A release comes only after a whole release period (20 ms) without a pass: when the
    // process did not run for that long (a loaded machine), not once per idle moment (about
    // once per 50 ms of this transfer before).
    QVERIFY2(during <= quint64(1 + elapsed / 200), qPrintable(QString::number(during)));
    QVERIFY(waitUntil(released, kTimeout));
    QVERIFY(idleBufferReleasesOnThisThread() - before >= 2);
}

// A receiver that reads everything in its readyRead() slot gets up to 1 MiB per notification,
// in parts of 32 KiB (a readyRead() each), with no posted event in between; one that leaves
// the data unread gets the rest later, and never more than that waiting unread.
void tst_Socket::readerTakingAllGetsAMegabytePerPass()
{
    using securesocket::testing::pumpsPostedOnThisThread;
    TestServer server(TestServer::Tls, serverConfiguration(m_pki.serverCert));
    server.onData = nullptr;
    SecureSocket client;
    const QString failure = connectToNewServer(server, client);
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    auto *peer = qobject_cast<SecureSocket *>(server.peers.first().data());
    QVERIFY(peer);

    QByteArray received;
    int readyReads = 0;
    QObject::connect(&client, &QIODevice::readyRead, &client, [&] {
        ++readyReads;
        received += client.readAll();
    });
    const QByteArray data = pattern(4 * 1024 * 1024, 10);
    const quint64 before = pumpsPostedOnThisThread();
    peer->write(data);
    QVERIFY(waitUntil([&] { return received.size() == data.size(); }, 4 * kTimeout));
    QVERIFY(received == data);
    const quint64 posted = pumpsPostedOnThisThread() - before;
    qInfo("4 MiB read in %d readyRead(), %llu posted reads", readyReads, posted);
    QVERIFY2(posted <= 4, qPrintable(QString::number(posted))); // one per MiB at most
    QVERIFY(readyReads >= 128);                                 // 32 KiB at most each

    // Left unread in the slot (read from a posted call instead): the rest comes later, and what
    // waits unread stays bounded.
    QObject::disconnect(&client, &QIODevice::readyRead, nullptr, nullptr);
    received.clear();
    bool lateReader = false;
    qint64 mostUnread = 0;
    QObject::connect(&client, &QIODevice::readyRead, &client, [&] {
        if (lateReader)
            return;
        lateReader = true;
        QTimer::singleShot(0, &client, [&] {
            mostUnread = std::max(mostUnread, client.bytesAvailable());
            received += client.readAll();
            lateReader = false;
        });
    });
    peer->write(data);
    QVERIFY(waitUntil([&] { return received.size() == data.size(); }, 4 * kTimeout));
    QVERIFY(received == data);
    qInfo("read late: at most %lld bytes waited unread", mostUnread);
    // A part per notification or posted read, until the application reads: several may wait
    // (five were seen, before the reads of a whole MiB per pass too), never all that came.
    QVERIFY2(mostUnread <= data.size() / 2, qPrintable(QString::number(mostUnread)));
}

#include "tst_socket.moc"
