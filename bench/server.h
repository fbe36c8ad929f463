// The server side of every socket figure, for either library, in the benchmark process itself
// (one-process figures) or in a child started with the hidden --serve role.
#ifndef SECURESOCKET_BENCH_SERVER_H
#define SECURESOCKET_BENCH_SERVER_H

#include "bench.h"

#include <QTcpServer>

#include <functional>

namespace bench {

enum class ServeKind {
    Sink,      // reads an 8-byte little-endian length, then that many bytes, then answers
               // "K<its CPU ms for them>\n"
    Echo,      // writes back every byte it reads
    Handshake, // after its handshake writes a line: 'R' if it was resumed, 'F' if full ('?' if
               // unknown), then its CPU milliseconds so far
    Idle       // as Handshake; the child also reports its memory (see serveMain)
};
const char *serveKindName(ServeKind kind);
std::optional<ServeKind> serveKindFromName(const QString &name);

struct ServerSpec
{
    ServeKind kind = ServeKind::Sink;
    Lib lib = Lib::Ours;
    KeyType key = KeyType::Ecdsa;
    Style style = Style::Shared;
    bool noDelay = false; // TCP_NODELAY on every accepted socket; off: default options
};

class BenchServer : public QTcpServer
{
public:
    BenchServer(const Pki &pki, const ServerSpec &spec, QObject *parent = nullptr);
    ~BenchServer() override;

    int encryptedCount() const { return m_encrypted; } // handshakes done so far
    int liveCount() const { return m_live; }           // connections not yet closed
    std::function<void()> onEncrypted;                 // after each handshake
    std::function<void()> onClosed;                    // after each connection closed

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    QTcpSocket *makeSocket();
    void serveSink(QTcpSocket *socket, QObject *handlers);
    void serveEcho(QTcpSocket *socket, QObject *handlers);
    void serveHandshake(QTcpSocket *socket, QObject *handlers);

    ServerSpec m_spec;
    Pki m_pki;
    SecureConfiguration m_ours;
    QSslConfiguration m_qt;
    // Below this many bytes sent before the handshake ends, the server cannot have sent its
    // certificate: the handshake was resumed.
    qint64 m_certificateSize = 0;
    int m_encrypted = 0;
    int m_live = 0;
};

// The hidden child role: --serve KIND --lib LIB --dir PKI --port-file FILE [--key K]
// [--style S] [--nodelay] [--count N] [--exit-after N] [--cpu C]. Writes the port to FILE once
// listening. With KIND idle it prints one JSON line when N handshakes (after a first, warm-up
// connection) are done: its resident memory before and after, per connection. With
// --exit-after N it exits once N connections have closed (so that a profiler wrapped around it
// writes its totals).
int serveMain(const QStringList &arguments);

} // namespace bench

#endif
