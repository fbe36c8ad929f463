// Qt compatibility cross-checks: behaviours of qtbase's tst_qtcpsocket and tst_qsslsocket, each
// run as data rows against the reference class and against SecureSocket.
//   Unencrypted tests: rows "QTcpSocket" (the reference) and "SecureSocket-plain".
//   Encrypted tests:   rows "QSslSocket" (the reference, Qt's openssl backend, trusting the test
//                      CA through QSslConfiguration) and "SecureSocket".
// Where a test is about the server side, the row names the class of the server-side socket (made
// the QSslSocket way: setSocketDescriptor(), certificate, key, startServerEncryption()) and the
// client is a QSslSocket in both rows; otherwise the row names the client's class and the peer is
// the same Qt server in both rows. A reference row states what Qt really does: where a test
// asserts "what Qt does", the value was read from the reference row and is written here as a
// constant, which the reference row checks again on every run. One exception: QSslSocket
// ignores SSL_CERT_FILE and SSL_CERT_DIR, so the system-CA test's reference is OpenSSL's own
// client. Deliberate differences are commented where they are asserted (a write to a closed
// connection is refused, as QTcpSocket does).
// Peers are loopback servers started by the test on port 0 (some in a thread of their own, for
// the blocking API); certificates come from the run-time test PKI.
#include "socketfixture.h"

#include <SecureSocket/secureserver.h>

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QHostAddress>
#include <QMutex>
#include <QMutexLocker>
#include <QPointer>
#include <QProcess>
#include <QProcessEnvironment>
#include <QSemaphore>
#include <QSignalSpy>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslError>
#include <QSslKey>
#include <QSslServer>
#include <QSslSocket>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace {

// Which class a row runs: the Qt reference (QTcpSocket or QSslSocket) or SecureSocket.
enum class Impl { Qt, Secure };

constexpr int kTimeout = 10000;
const QString kIp = QStringLiteral("127.0.0.1");
const QString kLocalhost = QStringLiteral("localhost");

const char *plainName(Impl impl)
{
    return impl == Impl::Qt ? "QTcpSocket" : "SecureSocket-plain";
}
const char *tlsName(Impl impl)
{
    return impl == Impl::Qt ? "QSslSocket" : "SecureSocket";
}

// --- one API over both TLS classes -----------------------------------------------------------
// Called through each class's own type: abort() and flush() are not virtual in QAbstractSocket.

QSslSocket *qtSocket(QTcpSocket *socket)
{
    return qobject_cast<QSslSocket *>(socket);
}
SecureSocket *secureSocket(QTcpSocket *socket)
{
    return qobject_cast<SecureSocket *>(socket);
}

void connectEncrypted(QTcpSocket *socket, const QString &host, quint16 port)
{
    if (QSslSocket *qt = qtSocket(socket))
        qt->connectToHostEncrypted(host, port);
    else
        secureSocket(socket)->connectToHostEncrypted(host, port);
}

void startClientEncryption(QTcpSocket *socket)
{
    if (QSslSocket *qt = qtSocket(socket))
        qt->startClientEncryption();
    else
        secureSocket(socket)->startClientEncryption();
}

void startServerEncryption(QTcpSocket *socket)
{
    if (QSslSocket *qt = qtSocket(socket))
        qt->startServerEncryption();
    else
        secureSocket(socket)->startServerEncryption();
}

bool waitForEncrypted(QTcpSocket *socket, int msecs)
{
    if (QSslSocket *qt = qtSocket(socket))
        return qt->waitForEncrypted(msecs);
    return secureSocket(socket)->waitForEncrypted(msecs);
}

bool isEncrypted(QTcpSocket *socket)
{
    if (QSslSocket *qt = qtSocket(socket))
        return qt->isEncrypted();
    if (SecureSocket *secure = secureSocket(socket))
        return secure->isEncrypted();
    return false;
}

void abortSocket(QTcpSocket *socket)
{
    if (QSslSocket *qt = qtSocket(socket))
        qt->abort();
    else if (SecureSocket *secure = secureSocket(socket))
        secure->abort();
    else
        socket->abort();
}

bool flushSocket(QTcpSocket *socket)
{
    if (QSslSocket *qt = qtSocket(socket))
        return qt->flush();
    if (SecureSocket *secure = secureSocket(socket))
        return secure->flush();
    return socket->flush();
}

QMetaObject::Connection onEncrypted(QTcpSocket *socket, QObject *context,
                                    const std::function<void()> &slot)
{
    if (QSslSocket *qt = qtSocket(socket))
        return QObject::connect(qt, &QSslSocket::encrypted, context, slot);
    return QObject::connect(secureSocket(socket), &SecureSocket::encrypted, context, slot);
}

// The common name of the peer's certificate, empty when there is none.
QString peerCommonName(QTcpSocket *socket)
{
    if (QSslSocket *qt = qtSocket(socket))
        return qt->peerCertificate().subjectInfo(QSslCertificate::CommonName).value(0);
    if (SecureSocket *secure = secureSocket(socket))
        return secure->peerCertificate().commonName();
    return {};
}

// --- credentials -----------------------------------------------------------------------------

QSslCertificate qtCertificate(const QString &file)
{
    return QSslCertificate::fromPath(file).value(0);
}

QSslKey qtKey(const QString &file)
{
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    const QByteArray pem = f.readAll();
    for (QSsl::KeyAlgorithm algorithm : {QSsl::Ec, QSsl::Rsa}) {
        const QSslKey key(pem, algorithm);
        if (!key.isNull())
            return key;
    }
    return {};
}

QSslConfiguration qtClientConfiguration(const QString &caFile)
{
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setCaCertificates(QSslCertificate::fromPath(caFile));
    return config;
}

std::unique_ptr<QTcpSocket> newPlainSocket(Impl impl)
{
    if (impl == Impl::Qt)
        return std::make_unique<QTcpSocket>();
    return std::make_unique<SecureSocket>();
}

// A TLS client that trusts only the test CA.
std::unique_ptr<QTcpSocket> newTlsClient(Impl impl, const TestPki &pki)
{
    if (impl == Impl::Qt) {
        auto socket = std::make_unique<QSslSocket>();
        socket->setSslConfiguration(qtClientConfiguration(pki.caFile));
        return socket;
    }
    auto socket = std::make_unique<SecureSocket>();
    socket->setConfiguration(clientConfiguration(pki));
    return socket;
}

// How a server-side socket is set up, the QSslSocket way.
struct ServerSettings
{
    QString certFile;
    QString keyFile;
    std::optional<QSslSocket::PeerVerifyMode> verifyMode; // unset: the class's default
    QString caFile; // trusted for client certificates, when set
    // When set, the socket takes this configuration instead (QSslSocket::setSslConfiguration(),
    // SecureSocket::setConfiguration(const QSslConfiguration &)).
    std::optional<QSslConfiguration> qtConfiguration;
};

SecureConfiguration::PeerVerifyMode secureVerifyMode(QSslSocket::PeerVerifyMode mode)
{
    switch (mode) {
    case QSslSocket::VerifyNone:
        return SecureConfiguration::VerifyNone;
    case QSslSocket::QueryPeer:
        return SecureConfiguration::QueryPeer;
    default:
        return SecureConfiguration::VerifyPeer;
    }
}

// A server-side socket of impl, not connected yet: certificate, key and settings only.
QTcpSocket *newServerSocket(Impl impl, QObject *parent, const ServerSettings &settings)
{
    if (settings.qtConfiguration) {
        if (impl == Impl::Qt) {
            auto *socket = new QSslSocket(parent);
            socket->setSslConfiguration(*settings.qtConfiguration);
            return socket;
        }
        auto *socket = new SecureSocket(parent);
        socket->setConfiguration(*settings.qtConfiguration);
        return socket;
    }
    if (impl == Impl::Qt) {
        auto *socket = new QSslSocket(parent);
        socket->setLocalCertificate(qtCertificate(settings.certFile));
        socket->setPrivateKey(qtKey(settings.keyFile));
        if (settings.verifyMode)
            socket->setPeerVerifyMode(*settings.verifyMode);
        if (!settings.caFile.isEmpty()) {
            QSslConfiguration config = socket->sslConfiguration();
            config.setCaCertificates(QSslCertificate::fromPath(settings.caFile));
            socket->setSslConfiguration(config);
        }
        return socket;
    }
    auto *socket = new SecureSocket(parent);
    socket->setLocalCertificate(settings.certFile);
    socket->setPrivateKey(settings.keyFile);
    if (settings.verifyMode)
        socket->setPeerVerifyMode(secureVerifyMode(*settings.verifyMode));
    if (!settings.caFile.isEmpty())
        socket->setCaCertificatesFile(settings.caFile);
    return socket;
}

// --- servers ---------------------------------------------------------------------------------

// What a server saw of one connection. Written in the server's thread, read from the test's.
class ConnLog
{
public:
    void append(const QByteArray &data)
    {
        QMutexLocker lock(&m_mutex);
        m_received += data;
    }
    QByteArray received() const
    {
        QMutexLocker lock(&m_mutex);
        return m_received;
    }
    qint64 receivedSize() const
    {
        QMutexLocker lock(&m_mutex);
        return m_received.size();
    }
    void addError(QAbstractSocket::SocketError error, const QString &text)
    {
        QMutexLocker lock(&m_mutex);
        m_errors.append(error);
        m_errorString = text;
    }
    QList<QAbstractSocket::SocketError> errors() const
    {
        QMutexLocker lock(&m_mutex);
        return m_errors;
    }
    QString errorString() const
    {
        QMutexLocker lock(&m_mutex);
        return m_errorString;
    }
    void setPeerName(const QString &name)
    {
        QMutexLocker lock(&m_mutex);
        m_peerName = name;
    }
    QString peerName() const
    {
        QMutexLocker lock(&m_mutex);
        return m_peerName;
    }

    std::atomic<bool> ready{false}; // connected (plain) or encrypted (TLS)
    std::atomic<bool> disconnected{false};

private:
    mutable QMutex m_mutex;
    QByteArray m_received;
    QList<QAbstractSocket::SocketError> m_errors;
    QString m_errorString;
    QString m_peerName;
};

// A loopback server whose connections are QTcpSockets (Plain) or server-side TLS sockets of
// impl (Tls), made the QSslSocket way. By default each connection echoes what it reads. It may
// live in the test's thread or in a ServerThread; the hooks run in the server's thread.
class PeerServer : public QTcpServer
{
public:
    enum Kind { Plain, Tls };
    PeerServer(Kind kind, Impl impl, const ServerSettings &settings = {})
        : m_kind(kind), m_impl(impl), m_settings(settings)
    {
        onData = [](QTcpSocket *peer, const QByteArray &data) { peer->write(data); };
    }
    ~PeerServer() override
    {
        close();
        for (const QPointer<QTcpSocket> &peer : std::as_const(m_peers))
            delete peer.data();
    }

    bool start() { return listen(QHostAddress::LocalHost, 0); }

    // After setSocketDescriptor(), before the handshake starts.
    std::function<void(QTcpSocket *peer, qintptr descriptor)> onAccepted;
    // Tls: right after startServerEncryption().
    std::function<void(QTcpSocket *peer)> onStarted;
    // Plain: at once; Tls: on encrypted().
    std::function<void(QTcpSocket *peer)> onReady;
    // Each chunk read (Tls: once encrypted); the default echoes it.
    std::function<void(QTcpSocket *peer, const QByteArray &data)> onData;
    bool readIncoming = true;
    int encryptionDelay = 0; // Tls: milliseconds between accepting and startServerEncryption()

    int connectionCount() const
    {
        QMutexLocker lock(&m_mutex);
        return int(m_logs.size());
    }
    std::shared_ptr<ConnLog> log(int index) const
    {
        QMutexLocker lock(&m_mutex);
        return m_logs.value(index);
    }
    // Only from the server's thread.
    QTcpSocket *peer(int index) const { return m_peers.value(index).data(); }

protected:
    void incomingConnection(qintptr descriptor) override
    {
        auto log = std::make_shared<ConnLog>();
        QTcpSocket *peer =
            m_kind == Plain ? new QTcpSocket(this) : newServerSocket(m_impl, this, m_settings);
        const bool tls = m_kind == Tls;
        auto drain = [this, peer, log, tls] {
            if (!readIncoming || (tls && !isEncrypted(peer)))
                return;
            const QByteArray data = peer->readAll();
            if (data.isEmpty())
                return;
            log->append(data);
            if (onData)
                onData(peer, data);
        };
        connect(peer, &QIODevice::readyRead, peer, drain);
        connect(peer, &QAbstractSocket::errorOccurred, peer,
                [peer, log](QAbstractSocket::SocketError error) {
                    log->addError(error, peer->errorString());
                });
        connect(peer, &QAbstractSocket::disconnected, peer, [log] { log->disconnected = true; });
        if (tls) {
            onEncrypted(peer, peer, [this, peer, log, drain] {
                log->setPeerName(peerCommonName(peer));
                log->ready = true;
                if (onReady)
                    onReady(peer);
                drain(); // data decrypted with the last handshake message
            });
        }
        {
            QMutexLocker lock(&m_mutex);
            m_logs.append(log);
            m_peers.append(peer);
        }
        if (!peer->setSocketDescriptor(descriptor)) {
            log->addError(peer->error(), peer->errorString());
            return;
        }
        if (onAccepted)
            onAccepted(peer, descriptor);
        if (!tls) {
            log->ready = true;
            if (onReady)
                onReady(peer);
            return;
        }
        auto start = [this, peer] {
            startServerEncryption(peer);
            if (onStarted)
                onStarted(peer);
        };
        if (encryptionDelay > 0)
            QTimer::singleShot(encryptionDelay, peer, start);
        else
            start();
    }

private:
    Kind m_kind;
    Impl m_impl;
    ServerSettings m_settings;
    mutable QMutex m_mutex;
    QList<std::shared_ptr<ConnLog>> m_logs;
    QList<QPointer<QTcpSocket>> m_peers;
};

// Runs a server made by make() in a thread of its own, with its own event loop, so that a client
// in the test's thread may block (waitFor*()) without stopping the server.
class ServerThread : public QThread
{
public:
    explicit ServerThread(std::function<PeerServer *()> make) : m_make(std::move(make)) {}
    ~ServerThread() override
    {
        quit();
        wait(kTimeout);
    }
    // Starts the thread; returns the port once listening, 0 on failure.
    quint16 startServer()
    {
        start();
        if (!m_ready.tryAcquire(1, kTimeout))
            return 0;
        return m_port;
    }
    PeerServer *server() const { return m_server; } // thread-safe members only

protected:
    void run() override
    {
        std::unique_ptr<PeerServer> server(m_make());
        m_port = server->start() ? server->serverPort() : 0;
        m_server = server.get();
        m_ready.release();
        exec();
    }

private:
    std::function<PeerServer *()> m_make;
    QSemaphore m_ready;
    std::atomic<quint16> m_port{0};
    std::atomic<PeerServer *> m_server{nullptr};
};

// qtbug18498_peek's server: each connection, opened unbuffered, peeks at the first bytes the
// client sends (its plaintext ClientHello) before it starts the server handshake.
class PeekFirstServer : public QTcpServer
{
public:
    PeekFirstServer(Impl impl, const ServerSettings &settings) : m_impl(impl), m_settings(settings)
    {}
    QPointer<QTcpSocket> socket;
    QByteArray firstPeek;

protected:
    void incomingConnection(qintptr descriptor) override
    {
        QTcpSocket *peer = newServerSocket(m_impl, this, m_settings);
        socket = peer;
        if (!peer->setSocketDescriptor(descriptor, QAbstractSocket::ConnectedState,
                                       QIODevice::ReadWrite | QIODevice::Unbuffered))
            return;
        auto first = std::make_shared<QMetaObject::Connection>();
        *first = connect(peer, &QIODevice::readyRead, this, [this, peer, first] {
            firstPeek = peer->peek(1);
            disconnect(*first);
            startServerEncryption(peer);
        });
    }

private:
    Impl m_impl;
    ServerSettings m_settings;
};

// waitForMinusOne's server (qtbase's ThreadedSslServer): a QSslSocket server in a thread,
// blocking, that sleeps 100 ms before each step: accept, handshake, read, write, read and
// answer, disconnect. Its socket is deleted when it stops, on failure too, so that a client
// waiting with no time limit is released.
class DelayedTlsServer : public QThread
{
public:
    explicit DelayedTlsServer(const ServerSettings &settings) : m_settings(settings) {}
    ~DelayedTlsServer() override { wait(kTimeout); }
    quint16 waitListening() { return m_listening.tryAcquire(1, kTimeout) ? m_port.load() : 0; }

    QSemaphore dataRead;
    std::atomic<bool> ok{false};
    std::atomic<int> failedStep{0};

protected:
    void run() override
    {
        DescriptorServer server;
        m_port = server.listen(QHostAddress::LocalHost, 0) ? server.serverPort() : 0;
        m_listening.release();
        // delayed acceptance
        QTest::qSleep(100);
        if (!server.waitForNewConnection(2000) || server.descriptor == -1)
            return failedStep.store(1);
        std::unique_ptr<QTcpSocket> socket(newServerSocket(Impl::Qt, nullptr, m_settings));
        if (!socket->setSocketDescriptor(server.descriptor))
            return failedStep.store(2);
        // delayed start of encryption
        QTest::qSleep(100);
        startServerEncryption(socket.get());
        if (!waitForEncrypted(socket.get(), 2000))
            return failedStep.store(3);
        // delayed reading data
        QTest::qSleep(100);
        if (!socket->waitForReadyRead(2000) && socket->bytesAvailable() == 0)
            return failedStep.store(4);
        socket->readAll();
        dataRead.release();
        // delayed sending data
        QTest::qSleep(100);
        socket->write("Hello, World");
        while (socket->bytesToWrite()) {
            if (!socket->waitForBytesWritten(2000))
                return failedStep.store(5);
        }
        // delayed replying (reading then sending)
        QTest::qSleep(100);
        if (!socket->waitForReadyRead(2000))
            return failedStep.store(6);
        socket->write("Hello, World");
        while (socket->bytesToWrite()) {
            if (!socket->waitForBytesWritten(2000))
                return failedStep.store(7);
        }
        // delayed disconnection
        QTest::qSleep(100);
        socket->disconnectFromHost();
        if (socket->state() != QAbstractSocket::UnconnectedState &&
            !socket->waitForDisconnected(2000))
            return failedStep.store(8);
        ok = true;
    }

private:
    class DescriptorServer : public QTcpServer
    {
    public:
        qintptr descriptor = -1;

    protected:
        void incomingConnection(qintptr socketDescriptor) override
        {
            descriptor = socketDescriptor;
        }
    };

    ServerSettings m_settings;
    QSemaphore m_listening;
    std::atomic<quint16> m_port{0};
};

// --- warnings about thread affinity ----------------------------------------------------------

// While it lives, records the warnings that say an object was used from the wrong thread (from
// any thread), and passes every message on.
class ThreadWarnings
{
public:
    ThreadWarnings() { s_previous = qInstallMessageHandler(handler); }
    ~ThreadWarnings() { qInstallMessageHandler(s_previous); }
    QStringList caught() const
    {
        QMutexLocker lock(&s_mutex);
        return s_caught;
    }

private:
    static void handler(QtMsgType type, const QMessageLogContext &context, const QString &text)
    {
        static const char *const patterns[] = {"QSocketNotifier", "another thread",
                                               "different thread", "Timers cannot",
                                               "Cannot create children"};
        for (const char *pattern : patterns) {
            if (text.contains(QLatin1String(pattern))) {
                QMutexLocker lock(&s_mutex);
                s_caught.append(text);
                break;
            }
        }
        if (s_previous)
            s_previous(type, context, text);
    }
    static inline QMutex s_mutex;
    static inline QStringList s_caught;
    static inline QtMessageHandler s_previous = nullptr;
};

// --- a relay that counts TLS records ---------------------------------------------------------

// Forwards one connection to target and parses the client's ciphertext into TLS records
// (5-byte headers: type, version, length), counting them by type, and counting its reads.
class RecordCountingRelay : public QTcpServer
{
public:
    explicit RecordCountingRelay(quint16 target) : m_target(target) {}
    bool start() { return listen(QHostAddress::LocalHost, 0); }
    int records(quint8 type) const { return m_records.value(type); }
    int clientReads() const { return m_clientReads; }

protected:
    void incomingConnection(qintptr descriptor) override
    {
        auto *down = new QTcpSocket(this);
        auto *up = new QTcpSocket(this);
        if (!down->setSocketDescriptor(descriptor))
            return;
        up->connectToHost(QHostAddress::LocalHost, m_target);
        connect(down, &QIODevice::readyRead, this, [this, down, up] {
            const QByteArray data = down->readAll();
            ++m_clientReads;
            parse(data);
            up->write(data);
        });
        connect(up, &QIODevice::readyRead, this, [down, up] { down->write(up->readAll()); });
        connect(down, &QAbstractSocket::disconnected, up, &QAbstractSocket::disconnectFromHost);
        connect(up, &QAbstractSocket::disconnected, down, &QAbstractSocket::disconnectFromHost);
    }

private:
    void parse(const QByteArray &data)
    {
        m_pending += data;
        while (m_pending.size() >= 5) {
            const auto type = quint8(m_pending.at(0));
            const int length = (quint8(m_pending.at(3)) << 8) | quint8(m_pending.at(4));
            if (m_pending.size() < 5 + length)
                break;
            ++m_records[type];
            m_pending.remove(0, 5 + length);
        }
    }

    quint16 m_target;
    QByteArray m_pending;
    QHash<quint8, int> m_records;
    int m_clientReads = 0;
};

// --- system CAs: the child process -----------------------------------------------------------

const char kSystemCaChild[] = "--system-ca-child";

// The reference client of systemCaFileAndDirectory: OpenSSL itself, with its default verify
// paths (SSL_CTX_set_default_verify_paths(), which is what gives SSL_CERT_FILE and SSL_CERT_DIR
// their meaning), blocking, bounded by socket timeouts. Returns "ok" or "failed: <why>".
QString opensslConnect(quint16 port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return QStringLiteral("failed: socket()");
    timeval timeout{kTimeout / 1000, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0) {
        ::close(fd);
        return QStringLiteral("failed: connect()");
    }
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_default_verify_paths(context);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
    SSL *ssl = SSL_new(context);
    SSL_set_fd(ssl, fd);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
    const bool ok = SSL_connect(ssl) == 1;
    const QString result =
        ok ? QStringLiteral("ok")
           : QStringLiteral("failed: ") +
                 QString::fromLatin1(X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
    if (ok)
        SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(context);
    ::close(fd);
    return result;
}

// Run as `tst_qtcompat --system-ca-child openssl|qt|secure PORT...` with SSL_CERT_FILE and
// SSL_CERT_DIR set: connects to each port with the default configuration (system CAs) and
// prints one line per port, "PORT ok" or "PORT failed: <why>". ("qt", a QSslSocket, is not a
// row of the test, see systemCaFileAndDirectory_data(); it is kept to compare by hand.)
int systemCaChild(const QString &client, const QStringList &ports)
{
    if (client == QLatin1String("qt") && QSslSocket::activeBackend() != QLatin1String("openssl"))
        QSslSocket::setActiveBackend(QStringLiteral("openssl"));
    for (const QString &port : ports) {
        QString line;
        if (client == QLatin1String("openssl")) {
            line = port + QLatin1Char(' ') + opensslConnect(port.toUShort());
        } else {
            std::unique_ptr<QTcpSocket> socket;
            if (client == QLatin1String("qt"))
                socket = std::make_unique<QSslSocket>();
            else
                socket = std::make_unique<SecureSocket>();
            connectEncrypted(socket.get(), kIp, port.toUShort());
            const bool ok = waitForEncrypted(socket.get(), kTimeout);
            line = port + (ok ? QStringLiteral(" ok")
                              : QStringLiteral(" failed: ") + socket->errorString());
            abortSocket(socket.get());
        }
        std::printf("%s\n", qPrintable(line));
        std::fflush(stdout);
    }
    return 0;
}

// The name OpenSSL looks a CA up by in a hashed directory: "<subject hash>.0".
QString hashedName(const std::string &certPem)
{
    BIO *bio = BIO_new_mem_buf(certPem.data(), int(certPem.size()));
    X509 *cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!cert)
        return {};
    const unsigned long hash = X509_subject_name_hash(cert);
    X509_free(cert);
    return QStringLiteral("%1.0").arg(qulonglong(hash), 8, 16, QLatin1Char('0'));
}

// Appends what socket has to data (nothing, and no warning, once it is closed); true once data
// holds size bytes.
bool gather(QTcpSocket *socket, QByteArray &data, qint64 size)
{
    if (socket->isOpen())
        data += socket->readAll();
    return data.size() >= size;
}

qint64 median(QList<qint64> values)
{
    std::sort(values.begin(), values.end());
    return values.isEmpty() ? -1 : values.at(values.size() / 2);
}

} // namespace

Q_DECLARE_METATYPE(Impl)
Q_DECLARE_METATYPE(QAbstractSocket::BindMode)

class tst_QtCompat : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();

    // Unencrypted: QTcpSocket and SecureSocket-plain.
    void bind_data();
    void bind();
    void bindThenConnect_data() { addPlainRows(); }
    void bindThenConnect();
    void flushWithoutEventLoop_data() { addPlainRows(); }
    void flushWithoutEventLoop();
    void movedToThread_data() { addPlainRows(); }
    void movedToThread();
    void movedToNoThread_data();
    void movedToNoThread();
    void closeWhileConnecting_data() { addPlainRows(); }
    void closeWhileConnecting();

    // Encrypted: QSslSocket and SecureSocket.
    void disconnectFromHostAfterRequest_data() { addTlsRows(); }
    void disconnectFromHostAfterRequest();
    void openCloseOpenClose_data() { addTlsRows(); }
    void openCloseOpenClose();
    void readFromClosedSocket_data() { addTlsRows(); }
    void readFromClosedSocket();
    void readAfterPeerClosed_data() { addTlsRows(); }
    void readAfterPeerClosed();
    void waitForMinusOne_data() { addTlsRows(); }
    void waitForMinusOne();
    void waitForReadyReadInReadyRead_data() { addTlsRows(); }
    void waitForReadyReadInReadyRead();
    void waitForReadyReadInConnected_data() { addTlsRows(); }
    void waitForReadyReadInConnected();
    void abortConnected_data() { addTlsRows(); }
    void abortConnected();
    void serverSocketDescriptor_data() { addTlsRows(); }
    void serverSocketDescriptor();
    void writeBeforeConnected_data() { addTlsRows(); }
    void writeBeforeConnected();
    void peerClosesWithoutCloseNotify_data();
    void peerClosesWithoutCloseNotify();
    void reconnectRightAfterClose_data() { addTlsRows(); }
    void reconnectRightAfterClose();
    void serverDisconnectsWhileClientConnects_data() { addTlsRows(); }
    void serverDisconnectsWhileClientConnects();
    void disconnectFromHostWhenConnecting_data() { addTlsRows(); }
    void disconnectFromHostWhenConnecting();
    void disconnectFromHostWhenConnected_data() { addTlsRows(); }
    void disconnectFromHostWhenConnected();
    void serverWritesAndDisconnects_data() { addTlsRows(); }
    void serverWritesAndDisconnects();
    void qtbug18498_peek_data() { addTlsRows(); }
    void qtbug18498_peek();
    void clientCertificateOnServer_data() { addTlsRows(); }
    void clientCertificateOnServer();
    void peerCertificateAfterRejection_data() { addTlsRows(); }
    void peerCertificateAfterRejection();
    void ignoreListWithoutTheError_data();
    void ignoreListWithoutTheError();
    void bytesToWriteAfterBigWrite_data() { addTlsRows(); }
    void bytesToWriteAfterBigWrite();
    void serverDefaultVerifyMode_data() { addTlsRows(); }
    void serverDefaultVerifyMode();
    void tlsServerDefaultVerifyMode_data();
    void tlsServerDefaultVerifyMode();
    void autoVerifyPeerClient_data();
    void autoVerifyPeerClient();
    void autoVerifyPeerServer_data() { addTlsRows(); }
    void autoVerifyPeerServer();
    void writeCoalescing_data() { addTlsRows(); }
    void writeCoalescing();
    void noNagleStall_data() { addTlsRows(); }
    void noNagleStall();
    void ignoreErrorsWithCertificate_data();
    void ignoreErrorsWithCertificate();
    void systemCaFileAndDirectory_data();
    void systemCaFileAndDirectory();

private:
    static void addPlainRows();
    static void addTlsRows();
    // The Qt server most tests talk to: the test server certificate, no client certificate.
    ServerSettings serverSettings(const QString &certFile = {}) const
    {
        const QString cert = certFile.isEmpty() ? m_pki.serverCert : certFile;
        return {cert, TestPki::keyFileOf(cert), QSslSocket::VerifyNone, {}, std::nullopt};
    }
    // A Qt TLS echo server in a thread of its own, for clients that block.
    std::unique_ptr<ServerThread> threadedServer(std::function<void(PeerServer *)> setup = {})
    {
        const ServerSettings settings = serverSettings();
        return std::make_unique<ServerThread>([settings, setup] {
            auto *server = new PeerServer(PeerServer::Tls, Impl::Qt, settings);
            if (setup)
                setup(server);
            return server;
        });
    }

    TestPki m_pki;
    QString m_otherHostCert;   // CN and DNS other.example, issued by the test CA
    QString m_rogueClientCert; // self-signed client certificate
};

void tst_QtCompat::addPlainRows()
{
    QTest::addColumn<Impl>("impl");
    for (Impl impl : {Impl::Qt, Impl::Secure})
        QTest::newRow(plainName(impl)) << impl;
}

void tst_QtCompat::addTlsRows()
{
    QTest::addColumn<Impl>("impl");
    for (Impl impl : {Impl::Qt, Impl::Secure})
        QTest::newRow(tlsName(impl)) << impl;
}

void tst_QtCompat::initTestCase()
{
    QVERIFY(m_pki.isValid());
    if (QSslSocket::activeBackend() != QLatin1String("openssl"))
        QVERIFY2(QSslSocket::setActiveBackend(QStringLiteral("openssl")),
                 qPrintable(QSslSocket::availableBackends().join(QLatin1Char(' '))));
    QVERIFY(QSslSocket::supportsSsl());

    m_otherHostCert =
        m_pki.issue(QStringLiteral("otherhost"),
                    testpki::serverSpec("other.example", {"other.example"}), &m_pki.ca);
    m_rogueClientCert =
        m_pki.issue(QStringLiteral("rogue-client"), testpki::clientSpec("rogue.client"), nullptr);
}

// === Unencrypted ===============================================================================

void tst_QtCompat::bind_data()
{
    QTest::addColumn<Impl>("impl");
    QTest::addColumn<QHostAddress>("address");
    QTest::addColumn<bool>("givenPort");
    QTest::addColumn<int>("mode");
    QTcpServer probe;
    const bool ipv6 = probe.listen(QHostAddress::LocalHostIPv6, 0);
    probe.close();
    const QHostAddress v4(QHostAddress::LocalHost);
    for (Impl impl : {Impl::Qt, Impl::Secure}) {
        const char *name = plainName(impl);
        QTest::addRow("%s:127.0.0.1 port 0", name)
            << impl << v4 << false << int(QAbstractSocket::DefaultForPlatform);
        QTest::addRow("%s:127.0.0.1 given port", name)
            << impl << v4 << true << int(QAbstractSocket::DefaultForPlatform);
        QTest::addRow("%s:ShareAddress", name)
            << impl << v4 << false << int(QAbstractSocket::ShareAddress);
        QTest::addRow("%s:ReuseAddressHint", name)
            << impl << v4 << true << int(QAbstractSocket::ReuseAddressHint);
        QTest::addRow("%s:ShareAddress|ReuseAddressHint", name)
            << impl << v4 << true
            << int(QAbstractSocket::ShareAddress | QAbstractSocket::ReuseAddressHint);
        if (ipv6)
            QTest::addRow("%s:::1 port 0", name)
                << impl << QHostAddress(QHostAddress::LocalHostIPv6) << false
                << int(QAbstractSocket::DefaultForPlatform);
    }
}

// bind() before connecting: BoundState, the local address and port, a descriptor.
void tst_QtCompat::bind()
{
    QFETCH(Impl, impl);
    QFETCH(QHostAddress, address);
    QFETCH(bool, givenPort);
    QFETCH(int, mode);
    std::unique_ptr<QTcpSocket> socket = newPlainSocket(impl);
    quint16 port = 0;
    bool bound = false;
    // A given port is one that was free a moment ago; taken since by someone else, another one.
    for (int attempt = 0; attempt < 5 && !bound; ++attempt) {
        if (givenPort) {
            QTcpServer probe;
            QVERIFY(probe.listen(address, 0));
            port = probe.serverPort();
        }
        bound = socket->bind(address, port, QAbstractSocket::BindMode(mode));
        if (!givenPort || socket->error() != QAbstractSocket::AddressInUseError)
            break;
    }
    QVERIFY2(bound, qPrintable(socket->errorString()));
    QCOMPARE(socket->state(), QAbstractSocket::BoundState);
    QCOMPARE(socket->localAddress(), address);
    if (givenPort)
        QCOMPARE(socket->localPort(), port);
    else
        QVERIFY(socket->localPort() != 0);
    QVERIFY(socket->socketDescriptor() != -1);
    QCOMPARE(socket->peerPort(), quint16(0));
}

// bind() then connectToHost(): the connection leaves from the bound port.
void tst_QtCompat::bindThenConnect()
{
    QFETCH(Impl, impl);
    TestServer server(TestServer::Plain);
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> socket = newPlainSocket(impl);
    QVERIFY2(socket->bind(QHostAddress(QHostAddress::LocalHost), 0),
             qPrintable(socket->errorString()));
    const quint16 boundPort = socket->localPort();
    QVERIFY(boundPort != 0);
    socket->connectToHost(kIp, server.port());
    QVERIFY(
        waitUntil([&] { return socket->state() == QAbstractSocket::ConnectedState; }, kTimeout));
    QCOMPARE(socket->localPort(), boundPort);
    QVERIFY(waitUntil([&] { return server.lastPeer() != nullptr; }, kTimeout));
    QCOMPARE(server.lastPeer()->peerPort(), boundPort);
    socket->write("bound\n");
    QVERIFY(waitUntil([&] { return socket->bytesAvailable() == 6; }, kTimeout));
    QCOMPARE(socket->readAll(), QByteArray("bound\n"));
}

// flush() sends pending data at once: the server, blocking in its own read, gets it while the
// client's event loop never runs. (tst_behaviour::flush checks the same with an event loop.)
void tst_QtCompat::flushWithoutEventLoop()
{
    QFETCH(Impl, impl);
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    std::unique_ptr<QTcpSocket> socket = newPlainSocket(impl);
    socket->connectToHost(kIp, server.serverPort());
    QVERIFY2(socket->waitForConnected(kTimeout), qPrintable(socket->errorString()));
    QVERIFY(server.waitForNewConnection(kTimeout));
    std::unique_ptr<QTcpSocket> peer(server.nextPendingConnection());
    QVERIFY(peer);

    const QByteArray data = "flushed without an event loop\n";
    QCOMPARE(socket->write(data), qint64(data.size()));
    QCOMPARE(socket->bytesToWrite(), qint64(data.size()));
    QVERIFY(flushSocket(socket.get()));
    QCOMPARE(socket->bytesToWrite(), qint64(0));
    QByteArray received;
    QDeadlineTimer deadline(kTimeout);
    while (received.size() < data.size() &&
           peer->waitForReadyRead(int(std::max<qint64>(1, deadline.remainingTime()))))
        received += peer->readAll();
    QCOMPARE(received, data);
}

// A socket made in one thread and moved to another connects, writes and reads there; its
// internals follow it (no warning about an object used from another thread).
void tst_QtCompat::movedToThread()
{
    QFETCH(Impl, impl);
    ThreadWarnings warnings;
    TestServer server(TestServer::Plain);
    QVERIFY(server.start());
    const quint16 port = server.port();

    QThread worker;
    worker.start();
    QTcpSocket *socket = newPlainSocket(impl).release();
    socket->moveToThread(&worker);
    QCOMPARE(socket->thread(), &worker);

    const QByteArray message = "echo me from the worker\n";
    QMutex mutex;
    QByteArray echoed;
    std::atomic<bool> disconnected{false};
    std::atomic<bool> allInWorker{true};
    auto inWorker = [&] {
        if (QThread::currentThread() != &worker)
            allInWorker = false;
    };
    QObject::connect(socket, &QAbstractSocket::connected, socket, [&, socket] {
        inWorker();
        socket->write(message);
    });
    QObject::connect(socket, &QIODevice::readyRead, socket, [&, socket] {
        inWorker();
        QMutexLocker lock(&mutex);
        echoed += socket->readAll();
        if (echoed.size() >= message.size())
            socket->disconnectFromHost();
    });
    QObject::connect(socket, &QAbstractSocket::disconnected, socket, [&] {
        inWorker();
        disconnected = true;
    });
    QMetaObject::invokeMethod(
        socket, [socket, port] { socket->connectToHost(kIp, port); }, Qt::QueuedConnection);

    const bool done = waitUntil([&] { return disconnected.load(); }, kTimeout);
    QMetaObject::invokeMethod(
        socket, [socket] { delete socket; }, Qt::BlockingQueuedConnection);
    worker.quit();
    QVERIFY(worker.wait(kTimeout));
    QVERIFY(done);
    QCOMPARE(echoed, message);
    QVERIFY(allInWorker);
    QCOMPARE(server.logs.first()->received, message);
    QVERIFY2(warnings.caught().isEmpty(), qPrintable(warnings.caught().join(QLatin1Char('\n'))));
}

void tst_QtCompat::movedToNoThread_data()
{
    QTest::addColumn<Impl>("impl");
    QTest::addColumn<int>("when");
    for (Impl impl : {Impl::Qt, Impl::Secure}) {
        QTest::addRow("%s:after connectToHost", plainName(impl)) << impl << 1;
        QTest::addRow("%s:before connectToHost", plainName(impl)) << impl << 2;
        QTest::addRow("%s:after write", plainName(impl)) << impl << 3;
        QTest::addRow("%s:waiting for the answer", plainName(impl)) << impl << 4;
    }
}

// qtbase's moveToThread0: moveToThread(nullptr) at four points, then the blocking API without
// any event loop: connect, send LOGOUT, wait for the server to answer and close.
void tst_QtCompat::movedToNoThread()
{
    QFETCH(Impl, impl);
    QFETCH(int, when);
    ServerThread thread([] {
        auto *server = new PeerServer(PeerServer::Plain, Impl::Qt);
        server->onData = [](QTcpSocket *peer, const QByteArray &data) {
            if (data.contains("LOGOUT")) {
                peer->write("* BYE\r\n");
                peer->disconnectFromHost();
            }
        };
        return server;
    });
    const quint16 port = thread.startServer();
    QVERIFY(port != 0);

    std::unique_ptr<QTcpSocket> owner = newPlainSocket(impl);
    QTcpSocket *socket = owner.get();
    if (when == 2)
        socket->moveToThread(nullptr);
    socket->connectToHost(kIp, port);
    if (when == 1)
        socket->moveToThread(nullptr);
    QVERIFY2(socket->waitForConnected(kTimeout), qPrintable(socket->errorString()));
    socket->write("XXX LOGOUT\r\n");
    if (when == 3)
        socket->moveToThread(nullptr);
    QVERIFY2(socket->waitForBytesWritten(kTimeout), qPrintable(socket->errorString()));
    if (when == 4)
        socket->moveToThread(nullptr);
    QVERIFY2(socket->waitForDisconnected(kTimeout), qPrintable(socket->errorString()));
    QCOMPARE(socket->state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(socket->readAll(), QByteArray("* BYE\r\n"));
    QCOMPARE(thread.server()->log(0)->received(), QByteArray("XXX LOGOUT\r\n"));
}

// close() while connecting, with data written: what waitForConnected() says then, the state,
// and what reaches the server, as QTcpSocket does (values read from the QTcpSocket row).
void tst_QtCompat::closeWhileConnecting()
{
    QFETCH(Impl, impl);
    TestServer server(TestServer::Plain);
    server.onData = nullptr;
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> socket = newPlainSocket(impl);
    QSignalSpy disconnected(socket.get(), &QAbstractSocket::disconnected);
    socket->connectToHost(kIp, server.port());
    const QAbstractSocket::SocketState connecting = socket->state();
    QVERIFY(connecting == QAbstractSocket::HostLookupState ||
            connecting == QAbstractSocket::ConnectingState);
    QCOMPARE(socket->write("pending\n"), qint64(8));
    socket->close();
    const QAbstractSocket::SocketState afterClose = socket->state();
    QElapsedTimer timer;
    timer.start();
    const bool connected = socket->waitForConnected(kTimeout);
    const qint64 waited = timer.elapsed();
    const QAbstractSocket::SocketState afterWait = socket->state();
    qInfo("state after close(): %d, waitForConnected(): %d after %lld ms, state then: %d",
          int(afterClose), int(connected), waited, int(afterWait));

    // What QTcpSocket does (Qt 6.4): the close waits for the connection, which is made; the
    // pending data is then sent and the socket closes.
    QCOMPARE(afterClose, connecting);
    QCOMPARE(connected, true);
    QCOMPARE(afterWait, QAbstractSocket::ClosingState);
    QVERIFY(!socket->isOpen());
    QVERIFY(waitUntil([&] { return !server.logs.isEmpty() && server.logs.first()->disconnected; },
                      kTimeout));
    QCOMPARE(server.logs.first()->received, QByteArray("pending\n"));
    QVERIFY(
        waitUntil([&] { return socket->state() == QAbstractSocket::UnconnectedState; }, kTimeout));
    QCOMPARE(disconnected.count(), 1);
}

// === Encrypted =================================================================================

// The blocking API after a request and its answer: disconnectFromHost() leaves the socket in the
// state QSslSocket leaves it in, and waitForDisconnected() ends it.
void tst_QtCompat::disconnectFromHostAfterRequest()
{
    QFETCH(Impl, impl);
    std::unique_ptr<ServerThread> thread = threadedServer();
    const quint16 port = thread->startServer();
    QVERIFY(port != 0);
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();

    connectEncrypted(socket, kIp, port);
    QVERIFY2(waitForEncrypted(socket, kTimeout), qPrintable(socket->errorString()));
    const QByteArray request = "request\n";
    QCOMPARE(socket->write(request), qint64(request.size()));
    QVERIFY2(socket->waitForBytesWritten(kTimeout), qPrintable(socket->errorString()));
    QByteArray answer;
    while (answer.size() < request.size() && socket->waitForReadyRead(kTimeout))
        answer += socket->readAll();
    QCOMPARE(answer, request);

    socket->disconnectFromHost();
    // What QSslSocket does: ClosingState at once (close_notify sent, waiting for the transport).
    QCOMPARE(socket->state(), QAbstractSocket::ClosingState);
    QVERIFY2(socket->waitForDisconnected(kTimeout), qPrintable(socket->errorString()));
    QCOMPARE(socket->state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(socket->bytesToWrite(), qint64(0));
    QVERIFY(waitUntil([&] { return thread->server()->log(0)->disconnected.load(); }, kTimeout));
}

// qtbase's openCloseOpenClose, encrypted: the same object connects, is encrypted and is closed
// three times, and is pristine before each connection. (tst_behaviour::reuseAfterDisconnect
// reconnects after disconnectFromHost() instead, with an event loop.)
void tst_QtCompat::openCloseOpenClose()
{
    QFETCH(Impl, impl);
    std::unique_ptr<ServerThread> thread = threadedServer();
    const quint16 port = thread->startServer();
    QVERIFY(port != 0);
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();

    for (int i = 0; i < 3; ++i) {
        QCOMPARE(socket->state(), QAbstractSocket::UnconnectedState);
        QCOMPARE(int(socket->openMode()), int(QIODevice::NotOpen));
        QVERIFY(socket->isSequential());
        QVERIFY(!socket->isOpen());
        QCOMPARE(socket->socketType(), QAbstractSocket::TcpSocket);
        QCOMPARE(socket->bytesAvailable(), qint64(0));
        QCOMPARE(socket->canReadLine(), false);
        QCOMPARE(socket->socketDescriptor(), qintptr(-1));
        QCOMPARE(socket->localPort(), quint16(0));
        QCOMPARE(socket->localAddress(), QHostAddress());
        QCOMPARE(socket->peerPort(), quint16(0));
        QCOMPARE(socket->peerAddress(), QHostAddress());
        QCOMPARE(socket->error(), QAbstractSocket::UnknownSocketError);
        QCOMPARE(socket->errorString(), QStringLiteral("Unknown error"));

        connectEncrypted(socket, kIp, port);
        QVERIFY2(socket->waitForConnected(kTimeout), qPrintable(socket->errorString()));
        QVERIFY2(waitForEncrypted(socket, kTimeout), qPrintable(socket->errorString()));
        QVERIFY(isEncrypted(socket));
        socket->close();
    }
    QVERIFY(waitUntil(
        [&] {
            PeerServer *server = thread->server();
            return server->connectionCount() == 3 && server->log(0)->ready &&
                   server->log(1)->ready && server->log(2)->ready;
        },
        kTimeout));
}

// qtbase's readFromClosedSocket: after close(), nothing is available and nothing is left to
// write.
void tst_QtCompat::readFromClosedSocket()
{
    QFETCH(Impl, impl);
    std::unique_ptr<ServerThread> thread = threadedServer();
    const quint16 port = thread->startServer();
    QVERIFY(port != 0);
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();

    connectEncrypted(socket, kIp, port);
    QVERIFY(socket->waitForConnected(kTimeout));
    QVERIFY2(waitForEncrypted(socket, kTimeout), qPrintable(socket->errorString()));
    socket->write("GET / HTTP/1.1\r\n");
    socket->write("Host: localhost\r\n\r\n");
    QVERIFY(socket->waitForBytesWritten(kTimeout));
    QVERIFY(socket->waitForReadyRead(kTimeout));
    QVERIFY(socket->bytesAvailable());
    socket->close();
    QVERIFY(!socket->bytesAvailable());
    QVERIFY(!socket->bytesToWrite());
    QCOMPARE(socket->state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(socket->readAll(), QByteArray());
}

// After the peer closed (close_notify, then FIN): what was sent is read, then read() says -1, as
// QSslSocket's does (qtbase's waitForMinusOne checks the same).
void tst_QtCompat::readAfterPeerClosed()
{
    QFETCH(Impl, impl);
    PeerServer server(PeerServer::Tls, Impl::Qt, serverSettings());
    server.onReady = [](QTcpSocket *peer) {
        peer->write("bye\n");
        peer->disconnectFromHost();
    };
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();
    QSignalSpy disconnected(socket, &QAbstractSocket::disconnected);
    connectEncrypted(socket, kIp, server.serverPort());
    QVERIFY(waitUntil(
        [&] {
            return disconnected.count() == 1 &&
                   socket->state() == QAbstractSocket::UnconnectedState;
        },
        kTimeout));
    QCOMPARE(socket->error(), QAbstractSocket::RemoteHostClosedError);
    QVERIFY(socket->isOpen());
    QCOMPARE(socket->bytesAvailable(), qint64(4));
    QCOMPARE(socket->readAll(), QByteArray("bye\n"));
    char c = 0;
    QCOMPARE(socket->read(&c, 1), qint64(-1));
    QCOMPARE(socket->read(1), QByteArray());
    QVERIFY(socket->atEnd());
}

// qtbase's waitForMinusOne: -1 means no time limit, against a server that takes 100 to 200 ms
// for each step.
void tst_QtCompat::waitForMinusOne()
{
    QFETCH(Impl, impl);
    DelayedTlsServer server(serverSettings());
    server.start();
    const quint16 port = server.waitListening();
    QVERIFY(port != 0);
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();

    socket->connectToHost(kIp, port);
    QVERIFY(socket->waitForConnected(-1));
    startClientEncryption(socket);
    // first verification: this waiting should take 200 ms
    QVERIFY2(waitForEncrypted(socket, -1), qPrintable(socket->errorString()));
    QVERIFY(isEncrypted(socket));
    QCOMPARE(socket->state(), QAbstractSocket::ConnectedState);
    QCOMPARE(socket->bytesAvailable(), qint64(0));
    // second verification: write and make sure the other side got it (100 ms)
    socket->write("How are you doing?");
    QVERIFY(socket->bytesToWrite() != 0);
    QVERIFY(socket->waitForBytesWritten(-1));
    QVERIFY(server.dataRead.tryAcquire(1, 2500));
    // third verification: it should wait for 100 ms
    QVERIFY(socket->waitForReadyRead(-1));
    QVERIFY(isEncrypted(socket));
    QCOMPARE(socket->state(), QAbstractSocket::ConnectedState);
    QVERIFY(socket->bytesAvailable() != 0);
    // fourth verification: deadlock prevention: we write and then wait for reading; the other
    // side needs to receive before replying (100 ms delay)
    socket->write("I'm doing just fine!");
    QVERIFY(socket->bytesToWrite() != 0);
    QVERIFY(socket->waitForReadyRead(-1));
    // fifth verification: it should wait for 200 ms more
    QVERIFY(socket->waitForDisconnected(-1));
    // sixth verification: reading from a disconnected socket returns -1 once we deplete the
    // read buffer
    QCOMPARE(socket->state(), QAbstractSocket::UnconnectedState);
    socket->readAll();
    char aux;
    QCOMPARE(socket->read(&aux, 1), qint64(-1));
    QVERIFY(server.wait(kTimeout));
    QVERIFY2(server.ok, qPrintable(QStringLiteral("server step %1").arg(server.failedStep)));
}

// waitForReadyRead() inside a readyRead() slot: returns true when the rest arrives.
void tst_QtCompat::waitForReadyReadInReadyRead()
{
    QFETCH(Impl, impl);
    std::unique_ptr<ServerThread> thread = threadedServer([](PeerServer *server) {
        server->onReady = [](QTcpSocket *peer) {
            peer->write("first\n");
            QTimer::singleShot(200, peer, [peer] { peer->write("second\n"); });
        };
    });
    const quint16 port = thread->startServer();
    QVERIFY(port != 0);
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();

    QByteArray received;
    QByteArray readAfterWait;
    bool inSlot = false;
    bool waited = false;
    bool waitResult = false;
    int reentered = 0;
    QObject::connect(socket, &QIODevice::readyRead, socket, [&] {
        if (inSlot) {
            ++reentered;
            return;
        }
        inSlot = true;
        received += socket->readAll();
        if (!waited) {
            waited = true;
            waitResult = socket->waitForReadyRead(kTimeout);
            readAfterWait = socket->readAll();
            received += readAfterWait;
        }
        inSlot = false;
    });
    connectEncrypted(socket, kIp, port);
    QVERIFY(waitUntil([&] { return received == "first\nsecond\n"; }, 2 * kTimeout));
    qInfo("readyRead emitted again inside the wait: %d time(s)", reentered);
    QVERIFY(waitResult);
    QCOMPARE(readAfterWait, QByteArray("second\n"));
}

// qtbase's waitForReadyReadInASlot, encrypted: waitForReadyRead() inside a connected() slot
// runs the handshake and returns the first data, well before its timeout.
void tst_QtCompat::waitForReadyReadInConnected()
{
    QFETCH(Impl, impl);
    std::unique_ptr<ServerThread> thread = threadedServer([](PeerServer *server) {
        server->onReady = [](QTcpSocket *peer) { peer->write("hello\n"); };
    });
    const quint16 port = thread->startServer();
    QVERIFY(port != 0);
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();

    bool done = false;
    bool result = false;
    qint64 elapsed = -1;
    QByteArray data;
    QObject::connect(socket, &QAbstractSocket::connected, socket, [&] {
        QElapsedTimer timer;
        timer.start();
        result = socket->waitForReadyRead(kTimeout);
        elapsed = timer.elapsed();
        data = socket->readAll();
        done = true;
    });
    connectEncrypted(socket, kIp, port);
    QVERIFY(waitUntil([&] { return done; }, 2 * kTimeout));
    QVERIFY2(result, qPrintable(socket->errorString()));
    QVERIFY2(elapsed < kTimeout / 2, QByteArray::number(elapsed));
    QCOMPARE(data, QByteArray("hello\n"));
    QVERIFY(isEncrypted(socket));
}

// abort() on a connected encrypted socket: unconnected at once, disconnected() emitted once,
// nothing written is sent afterwards, and the server sees the end. (tst_socket::abortDropsAtOnce
// checks SecureSocket's side in more detail.)
void tst_QtCompat::abortConnected()
{
    QFETCH(Impl, impl);
    PeerServer server(PeerServer::Tls, Impl::Qt, serverSettings());
    server.onData = nullptr;
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();
    QSignalSpy disconnected(socket, &QAbstractSocket::disconnected);
    connectEncrypted(socket, kIp, server.serverPort());
    QVERIFY(waitUntil([&] { return isEncrypted(socket) && server.log(0) && server.log(0)->ready; },
                      kTimeout));

    const qint64 total = 16 * 1024 * 1024;
    QCOMPARE(socket->write(pattern(total)), total);
    abortSocket(socket);
    QCOMPARE(socket->state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(disconnected.count(), 1);
    QVERIFY(!socket->isOpen());
    QCOMPARE(socket->bytesToWrite(), qint64(0));
    QVERIFY(!isEncrypted(socket));

    QVERIFY(waitUntil([&] { return server.log(0)->disconnected.load(); }, kTimeout));
    const qint64 received = server.log(0)->receivedSize();
    qInfo("the server received %lld of the %lld bytes written before abort()", received, total);
    QVERIFY(received < total);
    QTest::qWait(50); // nothing more comes
    QCOMPARE(server.log(0)->receivedSize(), received);
    QCOMPARE(disconnected.count(), 1);
}

// A server-side socket keeps the descriptor it was given: after setSocketDescriptor(), after
// startServerEncryption() and after the handshake.
void tst_QtCompat::serverSocketDescriptor()
{
    QFETCH(Impl, impl);
    PeerServer server(PeerServer::Tls, impl, serverSettings());
    qintptr given = -1;
    qintptr afterSet = -2;
    qintptr afterStart = -2;
    qintptr afterHandshake = -2;
    server.onAccepted = [&](QTcpSocket *peer, qintptr descriptor) {
        given = descriptor;
        afterSet = peer->socketDescriptor();
    };
    server.onStarted = [&](QTcpSocket *peer) { afterStart = peer->socketDescriptor(); };
    server.onReady = [&](QTcpSocket *peer) { afterHandshake = peer->socketDescriptor(); };
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(Impl::Qt, m_pki);
    connectEncrypted(client.get(), kIp, server.serverPort());
    QVERIFY(waitUntil([&] { return isEncrypted(client.get()) && afterHandshake != -2; }, kTimeout));
    QVERIFY(given != -1);
    QCOMPARE(afterSet, given);
    QCOMPARE(afterStart, given);
    QCOMPARE(afterHandshake, given);
    QCOMPARE(server.peer(0)->socketDescriptor(), given);
}

// write() between connectToHostEncrypted() and the connection is queued (returns its length)
// and the data arrives after the handshake. (tst_behaviour::writesBeforeConnected checks the
// same against a SecureSocket server.)
void tst_QtCompat::writeBeforeConnected()
{
    QFETCH(Impl, impl);
    PeerServer server(PeerServer::Tls, Impl::Qt, serverSettings());
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();
    connectEncrypted(socket, kIp, server.serverPort());
    QVERIFY(socket->state() == QAbstractSocket::HostLookupState ||
            socket->state() == QAbstractSocket::ConnectingState);
    QCOMPARE(socket->write("early\n"), qint64(6));
    QCOMPARE(socket->write("bird\n"), qint64(5));
    QByteArray echoed;
    QVERIFY(waitUntil([&] { return gather(socket, echoed, 11); }, kTimeout));
    QCOMPARE(echoed, QByteArray("early\nbird\n"));
    QCOMPARE(server.log(0)->received(), QByteArray("early\nbird\n"));
}

void tst_QtCompat::peerClosesWithoutCloseNotify_data()
{
    QTest::addColumn<Impl>("impl");
    QTest::addColumn<bool>("rawShutdown");
    for (Impl impl : {Impl::Qt, Impl::Secure}) {
        QTest::addRow("%s:server abort()", tlsName(impl)) << impl << false;
        QTest::addRow("%s:server shutdown(fd)", tlsName(impl)) << impl << true;
    }
}

// The peer ends TCP without close_notify after the handshake (abort(), or shutdown() of its
// descriptor): the client reads what came, then gets RemoteHostClosedError, like QSslSocket;
// SecureSocket also says the stream was truncated. (qtbase's abortiveClose, encrypted.)
void tst_QtCompat::peerClosesWithoutCloseNotify()
{
    QFETCH(Impl, impl);
    QFETCH(bool, rawShutdown);
    PeerServer server(PeerServer::Tls, Impl::Qt, serverSettings());
    server.onReady = [rawShutdown](QTcpSocket *peer) {
        peer->write("last words\n");
        flushSocket(peer);
        if (rawShutdown)
            ::shutdown(int(peer->socketDescriptor()), SHUT_WR);
        else
            abortSocket(peer);
    };
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();
    QByteArray received;
    QList<QAbstractSocket::SocketError> errors;
    qint64 receivedAtError = -1;
    QSignalSpy disconnected(socket, &QAbstractSocket::disconnected);
    QObject::connect(socket, &QIODevice::readyRead, socket, [&] { received += socket->readAll(); });
    QObject::connect(socket, &QAbstractSocket::errorOccurred, socket,
                     [&](QAbstractSocket::SocketError error) {
                         errors.append(error);
                         receivedAtError = received.size() + socket->bytesAvailable();
                     });
    connectEncrypted(socket, kIp, server.serverPort());
    QVERIFY(waitUntil(
        [&] {
            return disconnected.count() == 1 &&
                   socket->state() == QAbstractSocket::UnconnectedState;
        },
        kTimeout));
    received += socket->readAll();
    QCOMPARE(received, QByteArray("last words\n"));
    QCOMPARE(errors, QList<QAbstractSocket::SocketError>{QAbstractSocket::RemoteHostClosedError});
    QCOMPARE(receivedAtError, qint64(11));
    if (SecureSocket *secure = secureSocket(socket))
        QCOMPARE(secure->tlsError(), SecureSocket::Truncated);
}

// connectToHostEncrypted() again right after close() works, three times over.
void tst_QtCompat::reconnectRightAfterClose()
{
    QFETCH(Impl, impl);
    PeerServer server(PeerServer::Tls, Impl::Qt, serverSettings());
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();
    connectEncrypted(socket, kIp, server.serverPort());
    for (int round = 0; round < 3; ++round) {
        QVERIFY2(waitUntil([&] { return isEncrypted(socket); }, kTimeout),
                 qPrintable(socket->errorString()));
        const QByteArray line = "round " + QByteArray::number(round) + '\n';
        socket->write(line);
        QByteArray echoed;
        QVERIFY(waitUntil([&] { return gather(socket, echoed, line.size()); }, kTimeout));
        QCOMPARE(echoed, line);
        socket->close();
        if (round < 2)
            connectEncrypted(socket, kIp, server.serverPort());
    }
    QVERIFY(waitUntil([&] { return server.connectionCount() == 3; }, kTimeout));
    for (int i = 0; i < 3; ++i)
        QCOMPARE(server.log(i)->received(), "round " + QByteArray::number(i) + '\n');
}

// The server closes each connection as soon as it accepts it, before any handshake; the client
// uses the blocking API without an event loop: waitForEncrypted() fails early, not at its
// timeout, and the socket ends as QSslSocket does.
void tst_QtCompat::serverDisconnectsWhileClientConnects()
{
    QFETCH(Impl, impl);
    ServerThread thread([] {
        auto *server = new PeerServer(PeerServer::Plain, Impl::Qt);
        server->onReady = [](QTcpSocket *peer) { peer->disconnectFromHost(); };
        return server;
    });
    const quint16 port = thread.startServer();
    QVERIFY(port != 0);
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();
    QElapsedTimer timer;
    timer.start();
    connectEncrypted(socket, kIp, port);
    const bool encrypted = waitForEncrypted(socket, kTimeout);
    const qint64 elapsed = timer.elapsed();
    QVERIFY(!encrypted);
    QVERIFY2(elapsed < kTimeout / 2, QByteArray::number(elapsed));
    if (socket->state() != QAbstractSocket::UnconnectedState)
        QVERIFY(socket->waitForDisconnected(kTimeout));
    QCOMPARE(socket->state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(socket->error(), QAbstractSocket::RemoteHostClosedError);
    QVERIFY(!isEncrypted(socket));
}

namespace {
// The IMAP-like peer of qtbase's disconnectFromHostWhen* tests: answers LOGOUT and closes.
void answerLogout(PeerServer *server)
{
    server->onData = [](QTcpSocket *peer, const QByteArray &data) {
        if (data.contains("LOGOUT")) {
            peer->write("* BYE\r\n");
            peer->disconnectFromHost();
        }
    };
}
} // namespace

// qtbase's disconnectFromHostWhenConnecting: disconnectFromHost() while still connecting keeps
// the state; the blocking waitForDisconnected() then sees the connection through and closed.
void tst_QtCompat::disconnectFromHostWhenConnecting()
{
    QFETCH(Impl, impl);
    std::unique_ptr<ServerThread> thread = threadedServer(answerLogout);
    const quint16 port = thread->startServer();
    QVERIFY(port != 0);
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();

    connectEncrypted(socket, kIp, port);
    socket->write("XXXX LOGOUT\r\n");
    const QAbstractSocket::SocketState state = socket->state();
    QVERIFY(state == QAbstractSocket::HostLookupState || state == QAbstractSocket::ConnectingState);
    socket->disconnectFromHost();
    // the state of the socket must be the same before and after calling disconnectFromHost()
    QCOMPARE(socket->state(), state);
    QVERIFY2(socket->waitForDisconnected(kTimeout), qPrintable(socket->errorString()));
    QCOMPARE(socket->state(), QAbstractSocket::UnconnectedState);
    // we did not call close, so the socket must be still open
    QVERIFY(socket->isOpen());
    QCOMPARE(socket->bytesToWrite(), qint64(0));
    // QSslSocket takes (and silently drops) a write to the closed connection; SecureSocket
    // refuses it, as QTcpSocket does: a deliberate difference, so no data is lost unseen.
    QCOMPARE(int(socket->write("USER ftptest\r\n")), impl == Impl::Qt ? 14 : -1);
    QVERIFY(waitUntil([&] { return thread->server()->connectionCount() == 1; }, kTimeout));
    QVERIFY(waitUntil([&] { return thread->server()->log(0)->disconnected.load(); }, kTimeout));
    QCOMPARE(thread->server()->log(0)->received(), QByteArray("XXXX LOGOUT\r\n"));
}

// qtbase's disconnectFromHostWhenConnected.
void tst_QtCompat::disconnectFromHostWhenConnected()
{
    QFETCH(Impl, impl);
    std::unique_ptr<ServerThread> thread = threadedServer(answerLogout);
    const quint16 port = thread->startServer();
    QVERIFY(port != 0);
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();

    connectEncrypted(socket, kIp, port);
    QVERIFY2(waitForEncrypted(socket, kTimeout), qPrintable(socket->errorString()));
    socket->write("XXXX LOGOUT\r\n");
    QCOMPARE(socket->state(), QAbstractSocket::ConnectedState);
    socket->disconnectFromHost();
    QCOMPARE(socket->state(), QAbstractSocket::ClosingState);
    QVERIFY2(socket->waitForDisconnected(kTimeout), qPrintable(socket->errorString()));
    QCOMPARE(socket->bytesToWrite(), qint64(0));
    QVERIFY(waitUntil([&] { return thread->server()->log(0)->disconnected.load(); }, kTimeout));
    QCOMPARE(thread->server()->log(0)->received(), QByteArray("XXXX LOGOUT\r\n"));
}

// A server-side socket that writes and disconnects at once: the client gets all the data, then
// the disconnection. (tst_behaviour::remoteClose checks SecureSocket on both sides.)
void tst_QtCompat::serverWritesAndDisconnects()
{
    QFETCH(Impl, impl);
    const QByteArray payload = pattern(300000) + "END\n";
    PeerServer server(PeerServer::Tls, impl, serverSettings());
    server.onReady = [&payload](QTcpSocket *peer) {
        peer->write(payload);
        peer->disconnectFromHost();
    };
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(Impl::Qt, m_pki);
    QTcpSocket *socket = client.get();
    QByteArray received;
    qint64 deliveredAtDisconnect = -1;
    QSignalSpy disconnected(socket, &QAbstractSocket::disconnected);
    QObject::connect(socket, &QIODevice::readyRead, socket, [&] { received += socket->readAll(); });
    QObject::connect(socket, &QAbstractSocket::disconnected, socket,
                     [&] { deliveredAtDisconnect = received.size() + socket->bytesAvailable(); });
    connectEncrypted(socket, kIp, server.serverPort());
    QVERIFY(waitUntil(
        [&] {
            return disconnected.count() == 1 &&
                   socket->state() == QAbstractSocket::UnconnectedState;
        },
        3 * kTimeout));
    QCOMPARE(deliveredAtDisconnect, qint64(payload.size()));
    received += socket->readAll();
    QVERIFY(received == payload);
    QCOMPARE(socket->error(), QAbstractSocket::RemoteHostClosedError);
    QVERIFY(waitUntil([&] { return server.log(0)->disconnected.load(); }, kTimeout));
}

// qtbase's qtbug18498_peek: the server-side socket peeks at the client's first bytes (its
// ClientHello) before starting the handshake, then peeks at and reads decrypted data.
void tst_QtCompat::qtbug18498_peek()
{
    QFETCH(Impl, impl);
    PeekFirstServer server(impl, serverSettings());
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    std::unique_ptr<QTcpSocket> client = newTlsClient(Impl::Qt, m_pki);
    client->connectToHost(kIp, server.serverPort());
    QVERIFY(client->waitForConnected(kTimeout));
    QVERIFY(server.waitForNewConnection(kTimeout));
    startClientEncryption(client.get());
    QPointer<QTcpSocket> serverSocket = server.socket;
    QVERIFY(serverSocket);
    QVERIFY2(
        waitUntil(
            [&] { return serverSocket && isEncrypted(serverSocket) && isEncrypted(client.get()); },
            kTimeout),
        qPrintable(client->errorString()));
    QCOMPARE(server.firstPeek, QByteArray(1, char(0x16))); // a handshake record

    const QByteArray data("abc123");
    client->write(data);
    QVERIFY(waitUntil([&] { return serverSocket->bytesAvailable() >= data.size(); }, kTimeout));
    char buffer[10];
    const qint64 length = serverSocket->peek(buffer, sizeof buffer);
    QCOMPARE(QByteArray(buffer, int(std::max<qint64>(0, length))), data);
    QCOMPARE(serverSocket->peek(10), data);
    QCOMPARE(serverSocket->readAll(), data);
}

// With VerifyPeer, the server-side socket sees the client's certificate. (tst_socket::mutualTls
// checks the same with a SecureSocket client.)
void tst_QtCompat::clientCertificateOnServer()
{
    QFETCH(Impl, impl);
    ServerSettings settings = serverSettings();
    settings.verifyMode = QSslSocket::VerifyPeer;
    settings.caFile = m_pki.clientCaFile;
    PeerServer server(PeerServer::Tls, impl, settings);
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(Impl::Qt, m_pki);
    qtSocket(client.get())->setLocalCertificate(qtCertificate(m_pki.clientCert));
    qtSocket(client.get())->setPrivateKey(qtKey(m_pki.clientKey));
    connectEncrypted(client.get(), kIp, server.serverPort());
    client->write("with a certificate\n");
    QByteArray echoed;
    QVERIFY(waitUntil([&] { return gather(client.get(), echoed, 19); }, kTimeout));
    QCOMPARE(echoed, QByteArray("with a certificate\n"));
    QVERIFY(server.log(0)->ready);
    QCOMPARE(server.log(0)->peerName(), QStringLiteral("client.test"));
    QCOMPARE(peerCommonName(server.peer(0)), QStringLiteral("client.test"));
}

// A server-side socket that rejected the client's certificate: what peerCertificate() says
// then, when the error is reported and once disconnected, as QSslSocket says.
void tst_QtCompat::peerCertificateAfterRejection()
{
    QFETCH(Impl, impl);
    ServerSettings settings = serverSettings();
    settings.verifyMode = QSslSocket::VerifyPeer;
    settings.caFile = m_pki.clientCaFile;
    PeerServer server(PeerServer::Tls, impl, settings);
    bool errored = false;
    QAbstractSocket::SocketError firstError = QAbstractSocket::UnknownSocketError;
    QString nameAtError;
    QString nameAtDisconnect = QStringLiteral("(not disconnected)");
    server.onAccepted = [&](QTcpSocket *peer, qintptr) {
        QObject::connect(peer, &QAbstractSocket::errorOccurred, peer,
                         [&, peer](QAbstractSocket::SocketError error) {
                             if (errored)
                                 return;
                             errored = true;
                             firstError = error;
                             nameAtError = peerCommonName(peer);
                         });
        QObject::connect(peer, &QAbstractSocket::disconnected, peer,
                         [&, peer] { nameAtDisconnect = peerCommonName(peer); });
    };
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(Impl::Qt, m_pki);
    qtSocket(client.get())->setLocalCertificate(qtCertificate(m_rogueClientCert));
    qtSocket(client.get())->setPrivateKey(qtKey(TestPki::keyFileOf(m_rogueClientCert)));
    connectEncrypted(client.get(), kIp, server.serverPort());
    QVERIFY(waitUntil([&] { return server.log(0) && server.log(0)->disconnected; }, kTimeout));
    const QString nameAfter = peerCommonName(server.peer(0));
    qInfo("peer certificate: at the error '%s', at disconnected() '%s', after '%s'",
          qPrintable(nameAtError), qPrintable(nameAtDisconnect), qPrintable(nameAfter));
    QVERIFY(!server.log(0)->ready);
    QVERIFY(!isEncrypted(server.peer(0)));
    QCOMPARE(firstError, QAbstractSocket::SslHandshakeFailedError);
    // What QSslSocket does: the rejected certificate stays readable.
    QCOMPARE(nameAtError, QStringLiteral("rogue.client"));
    QCOMPARE(nameAtDisconnect, QStringLiteral("rogue.client"));
    QCOMPARE(nameAfter, QStringLiteral("rogue.client"));
    QCOMPARE(server.log(0)->received(), QByteArray());
}

namespace {
// Connects socket to host, at server's port, and writes a line. Accepted: the server echoes it
// back. Otherwise: the handshake fails (SslHandshakeFailedError), encrypted() never comes, and no
// data passes either way. A failure is reported through QTest (check currentTestFailed()).
void checkHandshake(QTcpSocket *socket, const QString &host, PeerServer &server, bool accepted)
{
    int encryptedCount = 0;
    QList<QAbstractSocket::SocketError> errors;
    QByteArray received;
    QObject context;
    onEncrypted(socket, &context, [&] { ++encryptedCount; });
    QObject::connect(socket, &QAbstractSocket::errorOccurred, &context,
                     [&](QAbstractSocket::SocketError error) { errors.append(error); });
    QObject::connect(socket, &QIODevice::readyRead, &context,
                     [&] { received += socket->readAll(); });
    connectEncrypted(socket, host, server.serverPort());
    socket->write("ping\n");
    if (accepted) {
        QVERIFY2(waitUntil([&] { return received == "ping\n"; }, kTimeout),
                 qPrintable(socket->errorString()));
        QVERIFY(isEncrypted(socket));
        QCOMPARE(encryptedCount, 1);
        QVERIFY(errors.isEmpty());
        return;
    }
    QVERIFY(waitUntil(
        [&] { return !errors.isEmpty() && socket->state() == QAbstractSocket::UnconnectedState; },
        kTimeout));
    QCOMPARE(errors.first(), QAbstractSocket::SslHandshakeFailedError);
    QCOMPARE(encryptedCount, 0);
    QVERIFY(!isEncrypted(socket));
    QCOMPARE(received, QByteArray());
    QVERIFY(waitUntil([&] { return server.log(0) && server.log(0)->disconnected; }, kTimeout));
    QCOMPARE(server.log(0)->received(), QByteArray());
}
} // namespace

void tst_QtCompat::ignoreListWithoutTheError_data()
{
    QTest::addColumn<Impl>("impl");
    QTest::addColumn<bool>("listsTheError");
    for (Impl impl : {Impl::Qt, Impl::Secure}) {
        QTest::addRow("%s:only self-signed forgiven", tlsName(impl)) << impl << false;
        QTest::addRow("%s:host name mismatch forgiven", tlsName(impl)) << impl << true;
    }
}

// ignoreSslErrors(list) / ignoreCertErrors(list) given before connecting forgive only what is
// listed: a server whose certificate names another host fails the handshake when only
// "self-signed" is listed (and passes when the mismatch is). (tst_socket::
// ignoreListBeforeConnecting checks SecureSocket's side against a SecureSocket server.)
void tst_QtCompat::ignoreListWithoutTheError()
{
    QFETCH(Impl, impl);
    QFETCH(bool, listsTheError);
    PeerServer server(PeerServer::Tls, Impl::Qt, serverSettings(m_otherHostCert));
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    if (QSslSocket *qt = qtSocket(client.get())) {
        qt->ignoreSslErrors(
            {listsTheError ? QSslError(QSslError::HostNameMismatch, qtCertificate(m_otherHostCert))
                           : QSslError(QSslError::SelfSignedCertificate)});
    } else {
        secureSocket(client.get())
            ->ignoreCertErrors(
                {listsTheError ? VerifyError::HostnameMismatch : VerifyError::SelfSigned});
    }
    checkHandshake(client.get(), kLocalhost, server, listsTheError);
}

// After a 10 MiB write and one pass of the event loop, bytesToWrite() has dropped as
// QSslSocket's has. QSslSocket encrypts all of it in that pass into its plain socket's
// (unbounded) buffer and counts only what it has not encrypted yet: it reports 0 (checked
// here on every run). A driver that keeps ciphertext bounded may keep some plaintext back,
// but at most a reasonable window beyond QSslSocket's figure: 1 MiB, a tenth of the write,
// what a kernel socket buffer plus a few records in flight amount to. Anything more means the
// data waits for later passes of the event loop, which is the behaviour this test rules out.
void tst_QtCompat::bytesToWriteAfterBigWrite()
{
    QFETCH(Impl, impl);
    constexpr qint64 kQtBytesToWriteAfterOnePass = 0; // QSslSocket's figure, Qt 6.4 + OpenSSL
    constexpr qint64 kSlack = 1024 * 1024;
    PeerServer server(PeerServer::Tls, Impl::Qt, serverSettings());
    server.onData = nullptr;
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();
    connectEncrypted(socket, kIp, server.serverPort());
    QVERIFY(waitUntil([&] { return isEncrypted(socket) && server.log(0) && server.log(0)->ready; },
                      kTimeout));

    const qint64 total = 10 * 1024 * 1024;
    QCOMPARE(socket->write(pattern(total)), total);
    const qint64 atOnce = socket->bytesToWrite();
    QCoreApplication::processEvents();
    const qint64 afterOnePass = socket->bytesToWrite();
    qInfo("%s: bytesToWrite() after writing 10 MiB: %lld at once, %lld after one event-loop pass",
          tlsName(impl), atOnce, afterOnePass);
    QVERIFY(afterOnePass < total);
    QVERIFY2(afterOnePass <= kQtBytesToWriteAfterOnePass + kSlack,
             qPrintable(QStringLiteral("%1 bytes still to write").arg(afterOnePass)));
    QVERIFY(waitUntil([&] { return server.log(0)->receivedSize() == total; }, 6 * kTimeout));
    QCOMPARE(socket->bytesToWrite(), qint64(0));
}

// A server-side socket made the QSslSocket way with its default settings accepts an ordinary
// client without a certificate (QSslSocket's AutoVerifyPeer is QueryPeer on a server).
void tst_QtCompat::serverDefaultVerifyMode()
{
    QFETCH(Impl, impl);
    ServerSettings settings = serverSettings();
    settings.verifyMode.reset();
    PeerServer server(PeerServer::Tls, impl, settings);
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(Impl::Qt, m_pki);
    checkHandshake(client.get(), kIp, server, true);
    if (QTest::currentTestFailed())
        return;
    QVERIFY(server.log(0)->ready);
    QCOMPARE(server.log(0)->peerName(), QString());
}

void tst_QtCompat::tlsServerDefaultVerifyMode_data()
{
    QTest::addColumn<Impl>("impl");
    QTest::newRow("QSslServer") << Impl::Qt;
    QTest::newRow("SecureServer") << Impl::Secure;
}

// QSslServer and SecureServer with default settings (a certificate and key only) hand out an
// ordinary client that has no certificate.
void tst_QtCompat::tlsServerDefaultVerifyMode()
{
    QFETCH(Impl, impl);
    std::unique_ptr<QTcpServer> server;
    if (impl == Impl::Qt) {
        auto *qt = new QSslServer;
        server.reset(qt);
        QSslConfiguration config = QSslConfiguration::defaultConfiguration();
        config.setLocalCertificate(qtCertificate(m_pki.serverCert));
        config.setPrivateKey(qtKey(m_pki.serverKey));
        qt->setSslConfiguration(config);
        QVERIFY(qt->listen(QHostAddress::LocalHost, 0));
    } else {
        auto *secure = new SecureServer;
        server.reset(secure);
        SecureConfiguration config;
        config.setLocalCertificateChainFile(m_pki.serverCert);
        config.setPrivateKeyFile(m_pki.serverKey);
        secure->setConfiguration(config);
        QVERIFY2(secure->listen(QHostAddress::LocalHost, 0), qPrintable(secure->errorString()));
    }
    std::unique_ptr<QTcpSocket> client = newTlsClient(Impl::Qt, m_pki);
    connectEncrypted(client.get(), kIp, server->serverPort());
    QVERIFY2(waitUntil([&] { return server->hasPendingConnections(); }, kTimeout),
             qPrintable(client->errorString()));
    std::unique_ptr<QTcpSocket> peer(server->nextPendingConnection());
    QVERIFY(peer);
    QVERIFY(isEncrypted(peer.get()));
    QCOMPARE(peerCommonName(peer.get()), QString());
    peer->write("welcome\n");
    QByteArray received;
    QVERIFY(waitUntil([&] { return gather(client.get(), received, 8); }, kTimeout));
    QCOMPARE(received, QByteArray("welcome\n"));
    QVERIFY(isEncrypted(client.get()));
}

void tst_QtCompat::autoVerifyPeerClient_data()
{
    QTest::addColumn<Impl>("impl");
    QTest::addColumn<bool>("rightHost");
    for (Impl impl : {Impl::Qt, Impl::Secure}) {
        QTest::addRow("%s:certificate for the host", tlsName(impl)) << impl << true;
        QTest::addRow("%s:certificate for another host", tlsName(impl)) << impl << false;
    }
}

// A client configured with a QSslConfiguration whose peerVerifyMode is AutoVerifyPeer verifies
// the server (QSslSocket::setSslConfiguration(), SecureSocket::setConfiguration()).
void tst_QtCompat::autoVerifyPeerClient()
{
    QFETCH(Impl, impl);
    QFETCH(bool, rightHost);
    PeerServer server(PeerServer::Tls, Impl::Qt,
                      serverSettings(rightHost ? m_pki.serverCert : m_otherHostCert));
    QVERIFY(server.start());
    QSslConfiguration config = qtClientConfiguration(m_pki.caFile);
    config.setPeerVerifyMode(QSslSocket::AutoVerifyPeer);
    std::unique_ptr<QTcpSocket> client;
    if (impl == Impl::Qt) {
        auto *qt = new QSslSocket;
        client.reset(qt);
        qt->setSslConfiguration(config);
    } else {
        auto *secure = new SecureSocket;
        client.reset(secure);
        secure->setConfiguration(config);
    }
    checkHandshake(client.get(), kLocalhost, server, rightHost);
}

// A server-side socket configured with a QSslConfiguration whose peerVerifyMode is
// AutoVerifyPeer (and a CA for client certificates) does not require a client certificate.
void tst_QtCompat::autoVerifyPeerServer()
{
    QFETCH(Impl, impl);
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setLocalCertificate(qtCertificate(m_pki.serverCert));
    config.setPrivateKey(qtKey(m_pki.serverKey));
    config.setCaCertificates(QSslCertificate::fromPath(m_pki.clientCaFile));
    config.setPeerVerifyMode(QSslSocket::AutoVerifyPeer);
    ServerSettings settings;
    settings.qtConfiguration = config;
    PeerServer server(PeerServer::Tls, impl, settings);
    QVERIFY(server.start());
    std::unique_ptr<QTcpSocket> client = newTlsClient(Impl::Qt, m_pki);
    checkHandshake(client.get(), kIp, server, true);
}

// 100 one-byte writes in one slot go out in a few TLS records, not 100: a relay between client
// and server parses the client's ciphertext into records (type 23: application data).
void tst_QtCompat::writeCoalescing()
{
    QFETCH(Impl, impl);
    constexpr int kMaxRecords = 4;
    PeerServer server(PeerServer::Tls, Impl::Qt, serverSettings());
    server.onData = nullptr;
    server.onReady = [](QTcpSocket *peer) { peer->write("go\n"); };
    QVERIFY(server.start());
    RecordCountingRelay relay(server.serverPort());
    QVERIFY(relay.start());

    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    QTcpSocket *socket = client.get();
    int baseRecords = -1;
    int baseReads = -1;
    QObject::connect(socket, &QIODevice::readyRead, socket, [&] {
        if (!socket->readAll().contains("go") || baseRecords >= 0)
            return;
        // The server is encrypted: the client's handshake records have all been counted.
        baseRecords = relay.records(23);
        baseReads = relay.clientReads();
        for (int i = 0; i < 100; ++i)
            socket->write("x", 1);
    });
    connectEncrypted(socket, kIp, relay.serverPort());
    QVERIFY(
        waitUntil([&] { return server.log(0) && server.log(0)->receivedSize() == 100; }, kTimeout));
    QTest::qWait(20); // let the relay count anything still in flight
    const int records = relay.records(23) - baseRecords;
    const int reads = relay.clientReads() - baseReads;
    qInfo("%s: 100 one-byte writes -> %d application-data records in %d relay reads", tlsName(impl),
          records, reads);
    QCOMPARE(server.log(0)->received(), QByteArray(100, 'x'));
    QVERIFY2(records <= kMaxRecords, QByteArray::number(records));
}

// No Nagle stall: a server that writes a greeting when the handshake ends (its encrypted()
// slot) reaches the client quickly, with default socket options (no LowDelayOption). Both ends
// are of the row's class: QSslSocket on a QTcpServer, or SecureServer and SecureSocket. The
// time is from connectToHostEncrypted() to the first readyRead(), over 10 connections, once
// with default options and once with LowDelayOption (TCP_NODELAY) on both ends, which cannot
// stall. A Nagle + delayed-ACK stall adds about 40 ms on Linux to every connection: the fastest
// connection with default options must be within 20 ms of the fastest without Nagle (an
// absolute bound would not hold under a sanitizer on a loaded machine, where QSslSocket's
// handshake alone can pass 30 ms).
void tst_QtCompat::noNagleStall()
{
    QFETCH(Impl, impl);
    const QByteArray greeting = "* OK ready\r\n";
    bool serverNoDelay = false;
    const auto greet = [&](QTcpSocket *peer) {
        if (serverNoDelay)
            peer->setSocketOption(QAbstractSocket::LowDelayOption, 1);
        peer->write(greeting);
    };
    std::unique_ptr<QTcpServer> server;
    if (impl == Impl::Qt) {
        auto *qt = new PeerServer(PeerServer::Tls, Impl::Qt, serverSettings());
        server.reset(qt);
        qt->onReady = greet;
        QVERIFY(qt->start());
    } else {
        auto *secure = new SecureServer;
        server.reset(secure);
        secure->setConfiguration(serverConfiguration(m_pki.serverCert));
        QObject::connect(secure, &QTcpServer::newConnection, secure, [secure, &greet] {
            while (SecureSocket *peer = secure->nextPendingSecureConnection()) {
                peer->setParent(secure);
                greet(peer);
            }
        });
        QVERIFY(secure->listen(QHostAddress::LocalHost, 0));
    }
    qint64 fastest[2] = {};
    for (const bool noDelay : {false, true}) {
        serverNoDelay = noDelay;
        QList<qint64> times; // microseconds
        for (int i = 0; i < 10; ++i) {
            std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
            if (noDelay)
                client->setSocketOption(QAbstractSocket::LowDelayOption, 1);
            QElapsedTimer timer;
            qint64 firstByte = -1;
            QObject::connect(client.get(), &QIODevice::readyRead, client.get(), [&] {
                if (firstByte < 0)
                    firstByte = timer.nsecsElapsed() / 1000;
            });
            timer.start();
            connectEncrypted(client.get(), kIp, server->serverPort());
            QVERIFY2(waitUntil([&] { return firstByte >= 0; }, kTimeout),
                     qPrintable(client->errorString()));
            times.append(firstByte);
            abortSocket(client.get());
        }
        QStringList shown;
        for (qint64 t : times)
            shown.append(QString::number(t / 1000.0, 'f', 1));
        qInfo("%s%s: connect to first byte, ms: median %.1f (%s)", tlsName(impl),
              noDelay ? " with TCP_NODELAY" : "", median(times) / 1000.0,
              qPrintable(shown.join(QLatin1Char(' '))));
        fastest[noDelay] = *std::min_element(times.cbegin(), times.cend());
    }
    QVERIFY2(fastest[false] < fastest[true] + 20000,
             qPrintable(QStringLiteral("fastest %1 us with default options, %2 us without Nagle")
                            .arg(fastest[false])
                            .arg(fastest[true])));
}

void tst_QtCompat::ignoreErrorsWithCertificate_data()
{
    QTest::addColumn<Impl>("impl");
    QTest::addColumn<bool>("sameCertificate");
    for (Impl impl : {Impl::Qt, Impl::Secure}) {
        QTest::addRow("%s:error for the server's certificate", tlsName(impl)) << impl << true;
        QTest::addRow("%s:error for another certificate", tlsName(impl)) << impl << false;
    }
}

// The ignore list names the certificate as well as the error (QSslError(error, certificate)):
// the error listed for another certificate is not forgiven. SecureSocket's form:
// ignoreCertErrors(QList<SecureCertificateError>), each entry with its code and certificate.
void tst_QtCompat::ignoreErrorsWithCertificate()
{
    QFETCH(Impl, impl);
    QFETCH(bool, sameCertificate);
    PeerServer server(PeerServer::Tls, Impl::Qt, serverSettings(m_otherHostCert));
    QVERIFY(server.start());
    const QString listedCert = sameCertificate ? m_otherHostCert : m_pki.serverCert;
    std::unique_ptr<QTcpSocket> client = newTlsClient(impl, m_pki);
    if (QSslSocket *qt = qtSocket(client.get())) {
        qt->ignoreSslErrors({QSslError(QSslError::HostNameMismatch, qtCertificate(listedCert))});
    } else {
        SecureCertificateError error;
        error.error = VerifyError::HostnameMismatch;
        error.certificate = SecureCertificate::fromPemFile(listedCert).value(0);
        secureSocket(client.get())->ignoreCertErrors(QList<SecureCertificateError>{error});
    }
    checkHandshake(client.get(), kLocalhost, server, sameCertificate);
}

void tst_QtCompat::systemCaFileAndDirectory_data()
{
    // QSslSocket cannot be the reference here: Qt 6.4 reads neither variable (it looks for
    // system CAs in fixed directories only), so its row would fail all three connections. The
    // reference is OpenSSL's own client with its default verify paths, which is what defines
    // the two variables (and what curl, Python's ssl and `openssl s_client` do).
    QTest::addColumn<QString>("client");
    QTest::newRow("OpenSSL") << QStringLiteral("openssl");
    QTest::newRow("SecureSocket") << QStringLiteral("secure");
}

// System CAs: with both SSL_CERT_FILE and SSL_CERT_DIR set, both are used. A child process (the
// variables must be set before the first TLS context of the process) connects with the default
// configuration to three servers: one whose CA is only in the file, one whose CA is only in the
// (hashed) directory, and, as a control, one whose CA is in neither.
void tst_QtCompat::systemCaFileAndDirectory()
{
    QFETCH(QString, client);
    const testpki::Issued fileCa =
        testpki::makeCertificate(testpki::caSpec("System CA in the file"));
    const testpki::Issued dirCa =
        testpki::makeCertificate(testpki::caSpec("System CA in the directory"));
    const testpki::Issued unknownCa = testpki::makeCertificate(testpki::caSpec("Unknown CA"));

    const QString caFile = m_pki.write(QStringLiteral("system-ca-file.pem"), fileCa.certPem);
    const QString caDir = QFileInfo(caFile).absolutePath() + QStringLiteral("/system-ca-dir");
    QVERIFY(QDir().mkpath(caDir));
    const QString hashed = hashedName(dirCa.certPem);
    QVERIFY(!hashed.isEmpty());
    testpki::writeFile((caDir + QLatin1Char('/') + hashed).toStdString(), dirCa.certPem);

    const testpki::CertSpec leaf = testpki::localhostSpec();
    PeerServer fileServer(PeerServer::Tls, Impl::Qt,
                          serverSettings(m_pki.issue(QStringLiteral("sys-file"), leaf, &fileCa)));
    PeerServer dirServer(PeerServer::Tls, Impl::Qt,
                         serverSettings(m_pki.issue(QStringLiteral("sys-dir"), leaf, &dirCa)));
    PeerServer unknownServer(
        PeerServer::Tls, Impl::Qt,
        serverSettings(m_pki.issue(QStringLiteral("sys-unknown"), leaf, &unknownCa)));
    QVERIFY(fileServer.start());
    QVERIFY(dirServer.start());
    QVERIFY(unknownServer.start());
    const QString filePort = QString::number(fileServer.serverPort());
    const QString dirPort = QString::number(dirServer.serverPort());
    const QString unknownPort = QString::number(unknownServer.serverPort());

    PeerProcess child;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SSL_CERT_FILE"), caFile);
    env.insert(QStringLiteral("SSL_CERT_DIR"), caDir);
    child.setEnvironment(env);
    QVERIFY2(child.start(QCoreApplication::applicationFilePath(),
                         {QLatin1String(kSystemCaChild), client, filePort, dirPort, unknownPort},
                         kTimeout),
             qPrintable(child.describe()));
    // The servers live in this process: run the event loop while the child connects.
    QVERIFY2(child.waitForExit(6 * kTimeout), qPrintable(child.describe()));
    const QString out = QString::fromLocal8Bit(child.standardOutput());
    const QString err = QString::fromLocal8Bit(child.standardError());
    qInfo("%s child:\n%s", qPrintable(client), qPrintable(out.trimmed()));
    QCOMPARE(child.exitStatus(), QProcess::NormalExit);
    QVERIFY2(child.exitCode() == 0, qPrintable(err));
    const QStringList lines = out.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 3);
    QVERIFY2(lines.at(2).startsWith(unknownPort + QStringLiteral(" failed")),
             qPrintable(lines.at(2))); // the control: a CA in neither place is not trusted
    QVERIFY2(lines.at(0) == filePort + QStringLiteral(" ok"),
             qPrintable(QStringLiteral("CA only in SSL_CERT_FILE: ") + lines.at(0)));
    QVERIFY2(lines.at(1) == dirPort + QStringLiteral(" ok"),
             qPrintable(QStringLiteral("CA only in SSL_CERT_DIR: ") + lines.at(1)));
}

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    if (argc >= 3 && qstrcmp(argv[1], kSystemCaChild) == 0) {
        QStringList ports;
        for (int i = 3; i < argc; ++i)
            ports.append(QString::fromLocal8Bit(argv[i]));
        return systemCaChild(QString::fromLocal8Bit(argv[2]), ports);
    }
    tst_QtCompat test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}

#include "tst_qtcompat.moc"
