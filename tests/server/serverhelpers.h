// Shared by the server tests: the run-time PKI they use, the echoserver run as a PeerProcess, and
// the Python TLS client they run.
#ifndef SECURESOCKET_TESTS_SERVERHELPERS_H
#define SECURESOCKET_TESTS_SERVERHELPERS_H

#include "peerprocess.h"

#include "peerprocess.h"

#include <QByteArray>
#include <QHash>
#include <QProcess>
#include <QString>
#include <QStringList>

#include <functional>

namespace servertest {

// Every file of the server tests' PKI, issued into one directory by testpki::PkiDirectory.
struct Pki
{
    QString dir;
    QString ca;                  // trusted by clients: issued the server certificates
    QString serverCert;          // CN=localhost, DNS:localhost, IP:127.0.0.1; 90 days
    QString serverKey;           // plain
    QString serverKeyEncrypted;  // the same key under kPassphrase
    QString passphraseFile;      // kPassphrase on one line
    QString wrongPassphraseFile; // another passphrase
    QString otherKey;            // a key that belongs to no certificate here
    QString dnsOnlyCert;         // DNS:example.test only, from ca
    QString dnsOnlyKey;
    QString clientCa;     // issued the client certificates the servers accept
    QString aliceCert;    // CN=alice, DNS:alice.example, from clientCa
    QString aliceKey;     //
    QString malloryCert;  // CN=mallory, from "Other Client CA", which no server trusts
    QString malloryKey;   //
    QString expiredCert;  // CN=old-alice, from clientCa, expired an hour ago
    QString expiredKey;   //
    QString clientCaName; // "CN=..." of clientCa
    QString otherCaName;  // "CN=..." of the CA that issued mallory

    // Makes every key and certificate; throws on failure.
    static Pki create(const QString &dir);
};

inline constexpr char kPassphrase[] = "correct horse battery staple";

// Runs the event loop (posted events and deferred deletes included) until done() or msecs.
using testsupport::waitUntil;

// The echoserver example as a process: started with "--port 0" (or a configuration file), its
// real ports read from its log, one per listener ("default" for the command-line one).
class EchoServer
{
public:
    explicit EchoServer(const QString &program) : m_program(program) {}

    // False if the program does not start or does not report every listener within 30 s.
    bool start(const QStringList &arguments, int listeners = 1);
    // The same under `ulimit -n descriptors` (through sh, whose exec keeps the process id, so
    // /proc/PID is the server's).
    bool startWithDescriptorLimit(int descriptors, const QStringList &arguments);
    bool isUp() const { return m_up; }
    quint16 port(const QString &listener = QStringLiteral("default")) const
    {
        return m_ports.value(listener);
    }
    QString portText(const QString &listener = QStringLiteral("default")) const
    {
        return QString::number(port(listener));
    }
    QByteArray log() const { return m_child.standardError(); }
    // Lines that are neither the program's own log nor the library's (Qt warnings, sanitizer
    // reports...).
    QByteArray unexpectedLog() const;
    bool waitForLog(const QByteArray &needle, int msecs = 10000)
    {
        return m_child.waitForError(needle, msecs);
    }
    PeerProcess &process() { return m_child; }

private:
    bool started(bool running, int listeners);

    QString m_program;
    PeerProcess m_child;
    QHash<QString, quint16> m_ports;
    bool m_up = false;
};

// A file of size pseudo-random bytes (deterministic for a seed).
void writeRandomFile(const QString &path, qint64 size, quint32 seed);
QByteArray sha256OfFile(const QString &path);
QByteArray sha256Hex(const QByteArray &data);

// A Python 3 TLS client, written to dir/tlsclient.py; returns its path. Run it with
//   python3 tlsclient.py --port P [--ca FILE] [--cert FILE --key FILE] [--tls 1.0|1.2|1.3]
//     [--insecure] [--send FILE] [--connections N] [--wait-close] [--timeout S]
// It prints one JSON line: {"ok": bool, "error": str, "connections": [{"version", "cipher",
// "received", "sha256", "end"}]}. --send echoes the file on every connection (all open at once,
// interleaved); then it ends each with a clean TLS close (end "clean"), or with --wait-close
// prints "ready" and waits for the server to close (end "close_notify" or "truncated").
QString writePythonClient(const QString &dir);

// The last line of a process's stdout parsed as the Python client's JSON; empty on failure.
struct ClientResult
{
    bool ok = false;
    bool parsed = false;
    QString error;
    struct Connection
    {
        QString version, cipher, end;
        qint64 received = 0;
        QByteArray sha256;
    };
    QList<Connection> connections;
};
ClientResult parseClientResult(const QByteArray &output);

} // namespace servertest

#endif
