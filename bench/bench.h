// securesocket-bench: SecureSocket against QSslSocket (issue 6). Shared declarations of the
// benchmark program: the libraries compared, the run-time PKI, sockets of either library,
// statistics and the small helpers every figure uses.
#ifndef SECURESOCKET_BENCH_BENCH_H
#define SECURESOCKET_BENCH_BENCH_H

#include <SecureSocket/secureconfiguration.h>
#include <SecureSocket/securesocket.h>

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QSslConfiguration>
#include <QString>
#include <QStringList>
#include <QTcpSocket>

#include <functional>
#include <limits>
#include <optional>

namespace bench {

// The TLS 1.3 suite both libraries are restricted to, so that they do the same work.
inline constexpr char kCipherSuite[] = "TLS_AES_256_GCM_SHA384";
// The name both clients check the server's certificate against (they connect to 127.0.0.1
// so that no host name lookup is timed).
inline constexpr char kPeerName[] = "localhost";

enum class Lib { Ours, Qt, Plain };
const char *libName(Lib lib); // "ours", "qt", "plain"
std::optional<Lib> libFromName(const QString &name);

enum class KeyType { Ecdsa, Rsa };
const char *keyName(KeyType key); // "ecdsa", "rsa"

// How sockets get their settings: one shared configuration object, or each socket's own
// setters with the same file paths. Ours: SecureSocket's convenience setters (which must share
// one context as well); QSslSocket: its per-socket setters (setLocalCertificate(path),
// setPrivateKey(path), setPeerVerifyName) and, for the CA, which QSslSocket has no setter of
// in Qt 6, the socket's own configuration with the CA file read for that socket.
enum class Style { Shared, Setters };

// Certificates made at start: one ECDSA P-256 CA, an ECDSA P-256 and an RSA-2048 leaf for
// "localhost" and 127.0.0.1, written as PEM files to dir.
struct Pki
{
    QString dir;
    QString caFile;
    QString certFile(KeyType key) const;
    QString keyFile(KeyType key) const;
};
Pki makePki(const QString &dir); // throws std::runtime_error
Pki pkiIn(const QString &dir);   // the files made by makePki() in dir, for child processes

// --- settings of either library ------------------------------------------------------------

// Client settings: CA file given, peer name checked, TLS 1.3 with kCipherSuite.
struct ClientSpec
{
    Lib lib = Lib::Ours;
    Style style = Style::Shared;
    bool systemCas = false;  // also trust the system store
    bool resumption = false; // client session resumption
    // Work around a context cache that ignores the resumption setting: give the configuration
    // its CA as PEM text instead of a file so that it gets a context of its own.
    bool caAsPem = false;
    // TCP_NODELAY (LowDelayOption) once connected; off: the default socket options.
    bool noDelay = false;
};

// Makes, configures and connects client sockets of one library.
class ClientMaker
{
public:
    ClientMaker(const Pki &pki, const ClientSpec &spec);

    QTcpSocket *create(QObject *parent) const;
    void connectTo(QTcpSocket *socket, quint16 port) const;
    // Qt only: keeps the session ticket of a finished connection for the next ones.
    void learnSession(QTcpSocket *socket);
    Lib lib() const { return m_spec.lib; }
    // How resumption was switched for our sockets, for the report.
    QString resumptionNote() const { return m_resumptionNote; }

private:
    Pki m_pki;
    ClientSpec m_spec;
    SecureConfiguration m_ours;
    QSslConfiguration m_qt;
    QString m_resumptionNote;
};

// Server settings: the leaf of the given key type (unless !withFiles: the socket's setters
// give it), no client certificate.
SecureConfiguration oursServerConfig(const Pki &pki, KeyType key, bool withFiles = true);
QSslConfiguration qtServerConfig(const Pki &pki, KeyType key, bool withFiles = true);
// The server socket's own setters with the leaf's files (Style::Setters).
void setServerFiles(QTcpSocket *socket, const Pki &pki, KeyType key);

// Sets SecureConfiguration::setSessionResumption() when the library has it; false otherwise.
bool setSessionResumption(SecureConfiguration &config, bool enabled);
// SecureSocket::isSessionResumed() when the library has it.
std::optional<bool> clientSaysResumed(const QTcpSocket *socket);

// Connects f to the moment the socket can carry data: encrypted(), or connected() for Plain.
void onReady(QTcpSocket *socket, QObject *context, const std::function<void()> &f);
// Connects f to every failure: socket errors (except the peer closing), certificate failures.
void onFailure(QTcpSocket *socket, QObject *context, const std::function<void(QString)> &f);
// Bytes accepted by the socket and not yet handed to the kernel. For QSslSocket also the
// encrypted bytes pending: its bytesToWrite() drops to 0 as soon as data is encrypted.
qint64 pendingWrite(const QTcpSocket *socket);
// Connects f to the signals after which pendingWrite() may have dropped.
void onWritten(QTcpSocket *socket, QObject *context, const std::function<void()> &f);
void closeSocket(QTcpSocket *socket); // disconnectFromHost() through the right type
void abortSocket(QTcpSocket *socket); // abort() through the right type

struct SessionInfo
{
    QString protocol;
    QString cipher;
    QString group;
};
SessionInfo sessionInfo(const QTcpSocket *socket);

// --- event loop ----------------------------------------------------------------------------

// Runs the event loop until done() holds or timeoutMs passed; returns done(). Handlers call
// wake() when done() may have become true so that the loop notices at once.
bool spin(const std::function<bool()> &done, int timeoutMs);
void wake();

// --- statistics ----------------------------------------------------------------------------

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One measurement: one or two values (e.g. an echo's median and p99) and what else was seen.
struct Sample
{
    double value = kNaN;
    double value2 = kNaN;
    QJsonObject info;
    QString error; // set when the measurement failed
};

double median(QList<double> values);
double percentile(QList<double> values, double fraction); // nearest rank, fraction in (0, 1]

// --- process ---------------------------------------------------------------------------------

qint64 rssKiB();                        // resident set size of this process
bool pinToCpu(int cpu, QString *error); // sched_setaffinity of the calling thread
void raiseFileLimit();                  // RLIMIT_NOFILE to its hard limit
double nowMs();                         // monotonic, milliseconds
double threadCpuMs();                   // CPU time of the calling thread, milliseconds

// The value after "--name" in arguments, or fallback.
QString argValue(const QStringList &arguments, const QString &name, const QString &fallback = {});

} // namespace bench

#endif
