// OpenSSL alone moving the bulk transfer (see opensslbulk.h).
#include "opensslbulk.h"

#include <QtEndian>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace bench {

namespace {

constexpr int kChunk = 64 * 1024;
// A BIO pair's room, each way: the most our library sends or receives in one system call.
constexpr size_t kPairBytes = 1024 * 1024;
// Room a 64 KiB write needs in the pair: four full records and their headers and tags.
constexpr size_t kChunkRecords = kChunk + 4 * 64;
constexpr int kTimeoutMs = 300000;

struct CtxFree
{
    void operator()(SSL_CTX *ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree
{
    void operator()(SSL *ssl) const { SSL_free(ssl); }
};
struct BioFree
{
    void operator()(BIO *bio) const { BIO_free(bio); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

class Fd
{
public:
    explicit Fd(int fd = -1) : m_fd(fd) {}
    ~Fd()
    {
        if (m_fd >= 0)
            ::close(m_fd);
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    int get() const { return m_fd; }

private:
    int m_fd;
};

// what, then OpenSSL's first queued error (the queue is emptied).
QString sslError(const QString &what)
{
    char text[256] = "no OpenSSL error queued";
    if (const unsigned long code = ERR_get_error())
        ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    return what + QStringLiteral(": ") + QString::fromLatin1(text);
}

QString systemError(const QString &what)
{
    return what + QStringLiteral(": ") + QString::fromLocal8Bit(std::strerror(errno));
}

// OpenSSL's error if it queued one, else the system's.
QString failure(const QString &what)
{
    return ERR_peek_error() ? sslError(what) : systemError(what);
}

// TLS 1.3 with kCipherSuite; the server with the ECDSA leaf (as the Sink servers) and no
// tickets, the client verifying the server against the CA and kPeerName.
CtxPtr makeContext(const Pki &pki, bool server, QString *error)
{
    CtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
    bool ok = ctx && SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) == 1 &&
              SSL_CTX_set_ciphersuites(ctx.get(), kCipherSuite) == 1;
    if (ok && server) {
        const QByteArray cert = pki.certFile(KeyType::Ecdsa).toLocal8Bit();
        const QByteArray key = pki.keyFile(KeyType::Ecdsa).toLocal8Bit();
        ok = SSL_CTX_use_certificate_chain_file(ctx.get(), cert.constData()) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx.get(), key.constData(), SSL_FILETYPE_PEM) == 1 &&
             SSL_CTX_set_num_tickets(ctx.get(), 0) == 1;
    } else if (ok) {
        ok = SSL_CTX_load_verify_locations(ctx.get(), pki.caFile.toLocal8Bit().constData(),
                                           nullptr) == 1;
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    }
    if (!ok) {
        *error = sslError(server ? QStringLiteral("OpenSSL server context")
                                 : QStringLiteral("OpenSSL client context"));
        return nullptr;
    }
    return ctx;
}

SslPtr makeClient(SSL_CTX *ctx, QString *error)
{
    SslPtr ssl(SSL_new(ctx));
    if (!ssl || SSL_set1_host(ssl.get(), kPeerName) != 1 ||
        SSL_set_tlsext_host_name(ssl.get(), kPeerName) != 1) {
        *error = sslError(QStringLiteral("OpenSSL client"));
        return nullptr;
    }
    return ssl;
}

sockaddr_in loopback(quint16 port)
{
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

bool connectTo(const Fd &fd, quint16 port)
{
    const sockaddr_in address = loopback(port);
    return fd.get() >= 0 &&
           ::connect(fd.get(), reinterpret_cast<const sockaddr *>(&address), sizeof address) == 0;
}

void noteSession(Sample &sample, SSL *ssl)
{
    sample.info.insert(QStringLiteral("protocol"), QLatin1String(SSL_get_version(ssl)));
    sample.info.insert(QStringLiteral("cipher"),
                       QLatin1String(SSL_CIPHER_get_name(SSL_get_current_cipher(ssl))));
    sample.info.insert(QStringLiteral("group"),
                       QLatin1String(SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl))));
}

void finishSample(Sample &sample, qint64 bytes, double wallMs, double cpuMs)
{
    sample.value = double(bytes) / 1e6 / (wallMs / 1e3);
    sample.info.insert(QStringLiteral("thread_cpu_s"), cpuMs / 1e3);
}

// Whether the pair whose network half is `network` has room for a 64 KiB write's records.
bool hasRoom(BIO *network)
{
    return kPairBytes - BIO_ctrl_pending(network) >= kChunkRecords;
}

// Sends what the pair whose network half is `network` holds, straight from its buffer: all of
// it on a blocking socket, until the socket is full (EAGAIN) on a non-blocking one; false on a
// socket error.
bool sendFromPair(BIO *network, int fd)
{
    char *data = nullptr;
    for (int n; (n = BIO_nread0(network, &data)) > 0;) {
        const ssize_t sent = ::send(fd, data, size_t(n), MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0 && errno == EAGAIN)
            return true;
        if (sent <= 0)
            return false;
        BIO_nread(network, &data, int(sent));
    }
    return true;
}

// One end of a connection through a BIO pair: the SSL owns one half, `network` is ours.
struct PairedEnd
{
    SslPtr ssl;
    BioPtr network;
    int fd = -1;

    bool attach(SslPtr s, int socket, QString *error)
    {
        ssl = std::move(s);
        fd = socket;
        BIO *internal = nullptr;
        BIO *outer = nullptr;
        if (!ssl || BIO_new_bio_pair(&internal, kPairBytes, &outer, kPairBytes) != 1) {
            *error = sslError(QStringLiteral("BIO pair"));
            return false;
        }
        network.reset(outer);
        SSL_set_bio(ssl.get(), internal, internal);
        return true;
    }
    bool send() { return sendFromPair(network.get(), fd); }
    // Receives what the socket holds straight into the pair; false on end of stream or an
    // error.
    bool receive()
    {
        char *room = nullptr;
        for (int n; (n = BIO_nwrite0(network.get(), &room)) > 0;) {
            const ssize_t got = ::recv(fd, room, size_t(n), 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0 && errno == EAGAIN)
                return true;
            if (got <= 0)
                return false;
            BIO_nwrite(network.get(), &room, int(got));
        }
        return true;
    }
    bool wants(int result) const
    {
        const int code = SSL_get_error(ssl.get(), result);
        return code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE;
    }
};

} // namespace

Sample measureOpensslBulk(const Pki &pki, quint16 port, qint64 bytes, OpensslWrite mode)
{
    Sample sample;
    const CtxPtr ctx = makeContext(pki, false, &sample.error);
    if (!ctx)
        return sample;
    const Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!connectTo(fd, port)) {
        sample.error = systemError(QStringLiteral("connect to 127.0.0.1:%1").arg(port));
        return sample;
    }
    SslPtr ssl = makeClient(ctx.get(), &sample.error);
    if (!ssl)
        return sample;
    if (SSL_set_fd(ssl.get(), fd.get()) != 1 || SSL_connect(ssl.get()) != 1) {
        sample.error = sslError(QStringLiteral("OpenSSL client handshake"));
        return sample;
    }
    noteSession(sample, ssl.get());
    // MemoryBio: from here the records go into a pair, read from the socket as before.
    BIO *network = nullptr;
    if (mode == OpensslWrite::MemoryBio) {
        BIO *internal = nullptr;
        if (BIO_new_bio_pair(&internal, kPairBytes, &network, kPairBytes) != 1) {
            sample.error = sslError(QStringLiteral("BIO pair"));
            return sample;
        }
        SSL_set0_wbio(ssl.get(), internal);
    }
    const BioPtr networkOwner(network);
    auto drain = [&] { return !network || sendFromPair(network, fd.get()); };
    // Batches records in the pair, as our library batches its sends.
    auto write = [&](const char *data, int size) {
        return SSL_write(ssl.get(), data, size) == size &&
               (!network || hasRoom(network) || drain());
    };

    const std::vector<char> chunk(kChunk, 'b');
    char header[8];
    qToLittleEndian<qint64>(bytes, header);
    const double start = nowMs();
    const double cpuStart = threadCpuMs();
    bool ok = write(header, sizeof header);
    for (qint64 sent = 0; ok && sent < bytes; sent += kChunk)
        ok = write(chunk.data(), int(std::min<qint64>(kChunk, bytes - sent)));
    ok = ok && drain();
    QByteArray answer;
    char buffer[256];
    while (ok && !answer.endsWith('\n')) {
        const int got = SSL_read(ssl.get(), buffer, sizeof buffer);
        ok = got > 0;
        if (ok)
            answer.append(buffer, got);
    }
    const double end = nowMs();
    const double cpu = threadCpuMs() - cpuStart;
    if (!ok || !answer.startsWith('K')) {
        sample.error = failure(QStringLiteral("OpenSSL bulk transfer"));
        return sample;
    }
    if (SSL_shutdown(ssl.get()) >= 0)
        drain();
    ERR_clear_error();
    finishSample(sample, bytes, end - start, cpu);
    sample.info.insert(QStringLiteral("server_cpu_s"), answer.mid(1).trimmed().toDouble() / 1e3);
    return sample;
}

Sample measureOpensslBulkOneThread(const Pki &pki, qint64 bytes)
{
    Sample sample;
    const CtxPtr clientCtx = makeContext(pki, false, &sample.error);
    const CtxPtr serverCtx = clientCtx ? makeContext(pki, true, &sample.error) : nullptr;
    if (!serverCtx)
        return sample;
    const Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address = loopback(0);
    socklen_t length = sizeof address;
    const Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (listener.get() < 0 ||
        ::bind(listener.get(), reinterpret_cast<sockaddr *>(&address), sizeof address) ||
        ::listen(listener.get(), 1) ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr *>(&address), &length) ||
        !connectTo(client, ntohs(address.sin_port))) {
        sample.error = systemError(QStringLiteral("loopback connection"));
        return sample;
    }
    const Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (server.get() < 0 || ::fcntl(client.get(), F_SETFL, O_NONBLOCK) != 0) {
        sample.error = systemError(QStringLiteral("accept"));
        return sample;
    }
    PairedEnd c;
    PairedEnd s;
    if (!c.attach(makeClient(clientCtx.get(), &sample.error), client.get(), &sample.error) ||
        !s.attach(SslPtr(SSL_new(serverCtx.get())), server.get(), &sample.error))
        return sample;
    SSL_set_connect_state(c.ssl.get());
    SSL_set_accept_state(s.ssl.get());

    // Both ends take turns, each sending what it made and receiving what came, until done()
    // holds; `step` is one end's TLS work, false on an error.
    const double deadline = nowMs() + kTimeoutMs;
    auto turns = [&](const auto &step, const auto &done) {
        while (!done()) {
            for (PairedEnd *end : {&c, &s}) {
                if (!end->receive() || !step(*end) || !end->send())
                    return false;
            }
            if (nowMs() > deadline) {
                errno = ETIMEDOUT;
                return false;
            }
        }
        return true;
    };
    auto handshake = [](PairedEnd &end) {
        const int result = SSL_do_handshake(end.ssl.get());
        return result == 1 || end.wants(result);
    };
    if (!turns(handshake, [&] {
            return SSL_is_init_finished(c.ssl.get()) && SSL_is_init_finished(s.ssl.get());
        })) {
        sample.error = failure(QStringLiteral("OpenSSL handshake in one thread"));
        return sample;
    }
    noteSession(sample, c.ssl.get());

    const std::vector<char> chunk(kChunk, 'b');
    std::vector<char> buffer(kChunk);
    qint64 sent = 0;
    qint64 received = 0;
    auto transfer = [&](PairedEnd &end) {
        if (&end == &c) { // writes while the pair has room for a whole 64 KiB write
            while (sent < bytes && hasRoom(c.network.get())) {
                const int n = int(std::min<qint64>(kChunk, bytes - sent));
                if (SSL_write(c.ssl.get(), chunk.data(), n) != n)
                    return false;
                sent += n;
            }
            return true;
        }
        for (;;) {
            const int got = SSL_read(s.ssl.get(), buffer.data(), int(buffer.size()));
            if (got <= 0)
                return s.wants(got);
            received += got;
        }
    };
    const double start = nowMs();
    const double cpuStart = threadCpuMs();
    if (!turns(transfer, [&] { return received >= bytes; })) {
        sample.error = failure(QStringLiteral("OpenSSL transfer in one thread"));
        return sample;
    }
    finishSample(sample, bytes, nowMs() - start, threadCpuMs() - cpuStart);
    return sample;
}

} // namespace bench
