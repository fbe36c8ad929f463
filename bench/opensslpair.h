// OpenSSL's own client and server, `openssl s_time` against `openssl s_server`: the floor of the
// handshake figures. The same certificates and suite as ours and Qt's, blocking I/O, no event
// loop, no Qt. Counted by callgrind (figures_instructions.cpp) and timed on the wall clock
// beside the other variants of the handshake figures (figures.cpp).
#ifndef SECURESOCKET_BENCH_OPENSSLPAIR_H
#define SECURESOCKET_BENCH_OPENSSLPAIR_H

#include "bench.h"

#include <QProcess>

namespace bench {

// The `openssl` command, or empty.
QString opensslPath();
// -tls1_3 -ciphersuites kCipherSuite, for both sides.
QStringList opensslTlsArguments();

// `openssl s_server` on 127.0.0.1 port 0, serving the leaf of the given key type, run in
// the PKI directory (where `-WWW` finds the greeting file, kOpensslGreetingPath). Ended by
// stop() (SIGTERM, after which callgrind writes its totals) or with this object.
class OpensslServer
{
public:
    ~OpensslServer();
    // mode: "-www" (answers with a page of its own) or "-WWW" (serves files). wrapper: a
    // command the server runs under (callgrind), or empty; cpu: pinned to it unless -1.
    bool start(const Pki &pki, KeyType key, const QString &mode, const QStringList &wrapper,
               int cpu, QString *error);
    quint16 port() const { return m_port; }
    double cpuMs() const; // user + system time so far (from /proc), NaN if unknown
    bool stop(QString *error);

private:
    QProcess m_process;
    quint16 m_port = 0;
};

// The file `s_server -WWW` serves for `s_time -www`, relative to the PKI directory (written by
// OpensslServer::start()): a line, as short as the greeting of our handshake servers.
inline constexpr char kOpensslGreetingPath[] = "/greeting.txt";

// One run of `openssl s_time -new -verify 1 -CAfile CA` for `seconds` (at least 1).
struct STimeRun
{
    int connections = 0;
    double wallMs = kNaN; // the process, from start to exit
    double cpuMs = kNaN;  // its user + system time (from this process's reaped children)
    QString error;
};
// extra: more s_time arguments (e.g. -www PATH); wrapper and cpu as for OpensslServer.
STimeRun runOpensslSTime(const Pki &pki, quint16 port, int seconds, const QStringList &extra,
                         const QStringList &wrapper, int cpu);

// Sequential handshakes per second of the wall clock, as the handshake figures count ours and
// Qt's: `s_time -new -www kOpensslGreetingPath` (connect, full handshake, a request, the
// greeting, close) against a server started with "-WWW", for about ms (whole seconds, at
// least 2: s_time stops at a change of the second), the client pinned to clientCpu unless -1. Each
// side's CPU per handshake in info.
Sample measureOpensslHandshakes(const Pki &pki, const OpensslServer &server, int clientCpu,
                                double ms);

} // namespace bench

#endif
