// A program run by one test: a real TLS peer (openssl, gnutls, python, curl...), the echoserver
// or imapclient example, a scanner. The one subprocess helper of the suite.
#ifndef SECURESOCKET_TESTS_PEERPROCESS_H
#define SECURESOCKET_TESTS_PEERPROCESS_H

#include <QByteArray>
#include <QProcess>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QString>
#include <QStringList>

#include <csignal>
#include <functional>
#include <memory>
#include <optional>

// Starts one program, collects what it prints on stdout and stderr, feeds its stdin, and kills
// the process it started (by its own QProcess, never by name) when destroyed. Every wait is
// bounded and runs the event loop, so Qt sockets in the same thread keep working meanwhile.
class PeerProcess
{
public:
    PeerProcess();
    ~PeerProcess();
    PeerProcess(const PeerProcess &) = delete;
    PeerProcess &operator=(const PeerProcess &) = delete;

    // Settings for the next start().
    void setStandardInputFile(const QString &file) { m_stdinFile = file; }
    // stderr merged into stdout, in the order the program wrote them.
    void setMergedChannels(bool merged) { m_merged = merged; }
    // The environment to start with instead of this process's own (QT_MESSAGE_PATTERN and
    // QT_LOGGING_RULES are removed from either).
    void setEnvironment(const QProcessEnvironment &environment) { m_environment = environment; }

    // Starts program (looked up in PATH unless it is a path). False, with errorString() and
    // describe() saying why, when it is missing or does not start within msecs.
    bool start(const QString &program, const QStringList &arguments, int msecs = 10000);

    // How a server tells the port it listens on; 0 while it does not listen yet.
    using PortFinder = std::function<quint16(PeerProcess &)>;
    // The port is group 1 of pattern, matched on the lines the server prints (stdout or stderr).
    static PortFinder portFromOutput(const QString &pattern);
    // For a server that does not print the port it was given: once readyText has been printed
    // (empty: at once), the IPv4 TCP port the process itself listens on, read from /proc (its
    // socket descriptors and /proc/PID/net/tcp). The process must hold one IPv4 listener.
    static PortFinder listeningIpv4Port(const QByteArray &readyText);

    // Starts a server that listens on port 0 itself, and waits until it listens: port() is the
    // one the system gave it, as found by findPort. No port is ever picked ahead and released,
    // so no other process can take it in between.
    bool startServer(const QString &program, const QStringList &arguments,
                     const PortFinder &findPort, int msecs = 10000);

    quint16 port() const { return m_port; }
    qint64 pid() const;
    bool isRunning() const;
    QString errorString() const { return m_error; }

    // Everything printed so far (the event loop must have run to collect it). With merged
    // channels, standardOutput() holds both.
    QByteArray standardOutput() const;
    QByteArray standardError() const;
    // Called, in the event loop, with each complete line printed on stdout from now on.
    void onOutputLine(const std::function<void(const QByteArray &)> &handler);

    void write(const QByteArray &data);
    void closeWriteChannel();

    // Each runs the event loop until its condition holds or msecs pass, and returns whether it
    // holds.
    bool waitForOutput(const QByteArray &needle, int msecs);
    bool waitForError(const QByteArray &needle, int msecs);
    bool waitForStdout(const std::function<bool(const QByteArray &)> &done, int msecs);
    bool waitForExit(int msecs); // exits on its own
    int exitCode() const;
    QProcess::ExitStatus exitStatus() const;

    void terminate(int signal = SIGTERM); // to its own process id
    void kill();                          // SIGKILL, and waits for the end

    // "`program args...` (state)", then stdout and stderr: for failure messages.
    QString describe() const;

private:
    void collect() const;

    std::unique_ptr<QProcess> m_process;
    QString m_program;
    QStringList m_arguments;
    QString m_stdinFile;
    std::optional<QProcessEnvironment> m_environment;
    bool m_merged = false;
    quint16 m_port = 0;
    QString m_error;
    mutable QByteArray m_stdout;
    mutable QByteArray m_stderr;
    mutable qsizetype m_linesSeen = 0;
    std::function<void(const QByteArray &)> m_lineHandler;
};

namespace testsupport {

// Runs the event loop (posted events and deferred deletes included) until done() returns true
// or msecs pass; returns done().
bool waitUntil(const std::function<bool()> &done, int msecs);

// Runs the event loop until a zero-time timer started now has fired: every event posted before
// it (a queued signal, a deferred emission) has been delivered by then. The positive event to
// wait for before asserting that something queued did not happen.
void deliverPostedEvents();

// A loopback TCP port where nothing listens, for connections that must be refused. A socket is
// bound to it and never listens: the system refuses connections to it, and no other process can
// take the port while this object lives (unlike a listener closed to free its port).
class RefusingPort
{
public:
    RefusingPort();
    ~RefusingPort();
    RefusingPort(const RefusingPort &) = delete;
    RefusingPort &operator=(const RefusingPort &) = delete;
    quint16 port() const { return m_port; } // 0 if no port could be bound

private:
    int m_descriptor = -1;
    quint16 m_port = 0;
};

} // namespace testsupport

#endif
