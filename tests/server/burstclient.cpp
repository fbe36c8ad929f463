// burstclient: opens N TLS connections at once to HOST:PORT, sends SIZE bytes of deterministic
// per-connection pseudo-random data on each (in 64 KiB pieces as the socket drains), reads the
// echo back and compares the SHA-256 of what was sent and what came back, per connection.
//
//   burstclient --clients N --bytes SIZE --cafile CA.pem [--timeout-ms MS] HOST PORT
//
// Prints one summary line
//   burst: clients=N served=X mismatched=Y failed=Z seconds=T
// and one line per connection that was not served byte-exact, with the reason. Exits 0 only if
// every connection was served byte-exact; 1 otherwise (2 for bad usage). The server's name is
// verified as "localhost".
#include <SecureSocket/secureconfiguration.h>
#include <SecureSocket/securesocket.h>

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QTimer>
#include <QtEndian>

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <sys/resource.h>
#include <utility>

namespace {

constexpr qint64 kPiece = 64 * 1024;

// The bytes a connection sends: xorshift64* from a per-connection seed.
class Generator
{
public:
    explicit Generator(quint64 seed) : m_state(seed * 0x9E3779B97F4A7C15ULL + 1) {}
    QByteArray next(qint64 size)
    {
        QByteArray out(size, Qt::Uninitialized);
        for (qint64 i = 0; i < size; i += 8) {
            m_state ^= m_state >> 12;
            m_state ^= m_state << 25;
            m_state ^= m_state >> 27;
            const quint64 word = qToLittleEndian(m_state * 0x2545F4914F6CDD1DULL);
            std::memcpy(out.data() + i, &word, static_cast<size_t>(std::min<qint64>(8, size - i)));
        }
        return out;
    }

private:
    quint64 m_state;
};

// Descriptors for every connection: the soft limit up to the hard one.
void raiseDescriptorLimit()
{
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

// SHA-256 through OpenSSL, which uses the CPU's SHA instructions: with QCryptographicHash
// hashing everything sent and received, the client itself would be the bottleneck.
class Sha256
{
public:
    Sha256() : m_context(EVP_MD_CTX_new()) { EVP_DigestInit_ex(m_context, EVP_sha256(), nullptr); }
    ~Sha256() { EVP_MD_CTX_free(m_context); }
    Sha256(const Sha256 &) = delete;
    Sha256 &operator=(const Sha256 &) = delete;
    void addData(const QByteArray &data)
    {
        EVP_DigestUpdate(m_context, data.constData(), static_cast<size_t>(data.size()));
    }
    QByteArray result()
    {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int length = 0;
        EVP_DigestFinal_ex(m_context, digest, &length);
        return QByteArray(reinterpret_cast<const char *>(digest), static_cast<int>(length));
    }

private:
    EVP_MD_CTX *m_context;
};

struct Connection
{
    enum State { Running, Served, Mismatched, Failed };

    int index = 0;
    SecureSocket *socket = nullptr;
    std::unique_ptr<Generator> generator;
    Sha256 sent;
    Sha256 received;
    qint64 written = 0;
    qint64 read = 0;
    State state = Running;
    bool closed = false;
    QString why;
};

class Burst : public QObject
{
public:
    Burst(int clients, qint64 bytes, const SecureConfiguration &config, int timeoutMs)
        : m_clients(clients), m_bytes(bytes), m_config(config), m_timeoutMs(timeoutMs)
    {}

    void start(const QString &host, quint16 port)
    {
        m_clock.start();
        QTimer::singleShot(m_timeoutMs, this, [this] { timeOut(); });
        for (int i = 0; i < m_clients; ++i) {
            Connection &c = m_connections.emplace_back();
            c.index = i;
            c.generator = std::make_unique<Generator>(i);
            c.socket = new SecureSocket(this);
            c.socket->setConfiguration(m_config);
            SecureSocket *socket = c.socket;
            connect(socket, &SecureSocket::encrypted, this, [this, &c] { pump(c); });
            connect(socket, &SecureSocket::bytesWritten, this, [this, &c] { pump(c); });
            connect(socket, &SecureSocket::readyRead, this, [this, &c] { drain(c); });
            connect(socket, &SecureSocket::errorOccurred, this, [this, &c] {
                if (c.state == Connection::Running)
                    finish(c, Connection::Failed, describe(c, c.socket->errorString()));
            });
            connect(socket, &SecureSocket::disconnected, this, [this, &c] {
                if (c.state == Connection::Running)
                    finish(c, Connection::Failed, describe(c, QStringLiteral("disconnected")));
                if (!std::exchange(c.closed, true))
                    ++m_closed;
                checkDone();
            });
            socket->connectToHostEncrypted(host, port);
        }
    }

    int result() const { return m_served == m_clients ? 0 : 1; }

private:
    static QString describe(const Connection &c, const QString &what)
    {
        return QStringLiteral("%1 (sent %2, received %3)").arg(what).arg(c.written).arg(c.read);
    }

    // Writes the next pieces while less than one is queued.
    void pump(Connection &c)
    {
        if (c.state != Connection::Running || !c.socket->isEncrypted())
            return;
        while (c.written < m_bytes && c.socket->bytesToWrite() < kPiece) {
            const QByteArray piece = c.generator->next(std::min(kPiece, m_bytes - c.written));
            c.sent.addData(piece);
            c.written += piece.size();
            c.socket->write(piece);
        }
        drain(c);
    }

    void drain(Connection &c)
    {
        if (c.state != Connection::Running)
            return;
        const QByteArray data = c.socket->readAll();
        c.received.addData(data);
        c.read += data.size();
        if (c.read > m_bytes) {
            finish(c, Connection::Mismatched, describe(c, QStringLiteral("more than was sent")));
        } else if (c.read == m_bytes && c.written == m_bytes) {
            if (c.sent.result() == c.received.result())
                finish(c, Connection::Served, QString());
            else
                finish(c, Connection::Mismatched, describe(c, QStringLiteral("SHA-256 differs")));
        }
    }

    void finish(Connection &c, Connection::State state, const QString &why)
    {
        c.state = state;
        c.why = why;
        if (state == Connection::Served)
            ++m_served;
        ++m_finished;
        if (c.socket->state() == QAbstractSocket::UnconnectedState) {
            if (!c.closed) {
                c.closed = true;
                ++m_closed;
            }
        } else {
            c.socket->disconnectFromHost(); // close_notify
        }
        checkDone();
    }

    void timeOut()
    {
        for (Connection &c : m_connections) {
            if (c.state == Connection::Running)
                finish(c, Connection::Failed,
                       describe(c, QStringLiteral("timed out after %1 ms, %2")
                                       .arg(m_timeoutMs)
                                       .arg(c.socket->isEncrypted() ? "encrypted"
                                                                    : "not encrypted yet")));
        }
        report();
    }

    // Every connection finished: the report once the close_notify alerts are out (2 s at most).
    void checkDone()
    {
        if (m_finished < m_clients || m_reported)
            return;
        if (m_seconds < 0)
            m_seconds = m_clock.elapsed() / 1000.0;
        if (m_closed == m_clients)
            report();
        else if (!m_graceStarted) {
            m_graceStarted = true;
            QTimer::singleShot(2000, this, [this] { report(); });
        }
    }

    void report()
    {
        if (m_reported)
            return;
        m_reported = true;
        if (m_seconds < 0)
            m_seconds = m_clock.elapsed() / 1000.0;
        int mismatched = 0;
        int failed = 0;
        for (const Connection &c : m_connections) {
            mismatched += c.state == Connection::Mismatched;
            failed += c.state == Connection::Failed;
        }
        std::printf("burst: clients=%d served=%d mismatched=%d failed=%d seconds=%.2f\n", m_clients,
                    m_served, mismatched, failed, m_seconds);
        for (const Connection &c : m_connections) {
            if (c.state != Connection::Served)
                std::printf("burst: connection %d %s: %s\n", c.index,
                            c.state == Connection::Mismatched ? "mismatched" : "failed",
                            qPrintable(c.why));
        }
        std::fflush(stdout);
        QCoreApplication::exit(result());
    }

    int m_clients;
    qint64 m_bytes;
    SecureConfiguration m_config;
    int m_timeoutMs;
    std::deque<Connection> m_connections; // grows at the end only: references stay valid
    QElapsedTimer m_clock;
    double m_seconds = -1;
    int m_served = 0;
    int m_finished = 0;
    int m_closed = 0;
    bool m_graceStarted = false;
    bool m_reported = false;
};

} // namespace

int main(int argc, char **argv)
{
    raiseDescriptorLimit();
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Opens many TLS connections at once and checks their echoes."));
    parser.addHelpOption();
    const QCommandLineOption clients(QStringLiteral("clients"),
                                     QStringLiteral("Connections opened at once (default 100)."),
                                     QStringLiteral("N"), QStringLiteral("100"));
    const QCommandLineOption bytes(QStringLiteral("bytes"),
                                   QStringLiteral("Bytes sent on each (default 1048576)."),
                                   QStringLiteral("SIZE"), QStringLiteral("1048576"));
    const QCommandLineOption cafile(QStringLiteral("cafile"),
                                    QStringLiteral("The CA that issued the server's certificate."),
                                    QStringLiteral("FILE"));
    const QCommandLineOption timeout(QStringLiteral("timeout-ms"),
                                     QStringLiteral("Give up after this long (default 60000)."),
                                     QStringLiteral("MS"), QStringLiteral("60000"));
    parser.addOptions({clients, bytes, cafile, timeout});
    parser.addPositionalArgument(QStringLiteral("host"), QStringLiteral("The server's address."));
    parser.addPositionalArgument(QStringLiteral("port"), QStringLiteral("The server's port."));
    parser.process(app);

    bool clientsOk = false, bytesOk = false, timeoutOk = false, portOk = false;
    const int clientCount = parser.value(clients).toInt(&clientsOk);
    const qint64 byteCount = parser.value(bytes).toLongLong(&bytesOk);
    const int timeoutMs = parser.value(timeout).toInt(&timeoutOk);
    const QStringList positional = parser.positionalArguments();
    const quint16 port = positional.size() == 2 ? positional[1].toUShort(&portOk) : 0;
    if (!clientsOk || clientCount < 1 || !bytesOk || byteCount < 1 || !timeoutOk || timeoutMs < 1 ||
        !portOk || !parser.isSet(cafile)) {
        std::fprintf(stderr, "burstclient: bad arguments (see --help)\n");
        return 2;
    }

    SecureConfiguration config;
    config.setCaCertificatesFile(parser.value(cafile));
    config.setUseSystemCaCertificates(false);
    config.setPeerVerifyName(QStringLiteral("localhost"));
    // Clients may wait in the server's backlog for most of the run before their handshake.
    config.setHandshakeTimeout(timeoutMs);

    Burst burst(clientCount, byteCount, config, timeoutMs);
    burst.start(positional[0], port);
    return app.exec();
}
