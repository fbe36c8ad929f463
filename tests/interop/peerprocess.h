// A real TLS peer (openssl, gnutls, python, curl...) run as a child process by one test.
#ifndef SECURESOCKET_TESTS_PEERPROCESS_H
#define SECURESOCKET_TESTS_PEERPROCESS_H

#include <QByteArray>
#include <QProcess>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>

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

    // Starts a client program. False, with errorString(), when the program is missing or does
    // not start within msecs.
    bool startClient(const QString &program, const QStringList &arguments, int msecs = 5000);

    // Starts a server on a free loopback port: arguments(port) builds its command line. The
    // port is taken from a QTcpServer bound to port 0 and released, so another process may grab
    // it first; when the peer exits, or does not get ready in time, it is tried again on a new
    // port, a few times. Ready means: readyText(port), when given, has appeared on the peer's
    // stdout or stderr (proof that the peer itself bound the port: gnutls-serv keeps running
    // when its IPv4 bind fails), and 127.0.0.1:port accepts a TCP connection. That probe
    // connection is closed at once, so the server must survive a client that hangs up.
    bool startServer(const QString &program, const std::function<QStringList(quint16)> &arguments,
                     const std::function<QByteArray(quint16)> &readyText = {}, int msecs = 10000);

    quint16 port() const { return m_port; }
    bool isRunning() const;
    QString errorString() const { return m_error; }

    // Everything printed so far (the event loop must have run to collect it).
    QByteArray standardOutput() const;
    QByteArray standardError() const;

    void write(const QByteArray &data);
    void closeWriteChannel();

    // Runs the event loop until the peer's stdout (or stderr) contains needle, or msecs pass.
    bool waitForOutput(const QByteArray &needle, int msecs);
    bool waitForError(const QByteArray &needle, int msecs);
    // Runs the event loop until the peer exits on its own, or msecs pass.
    bool waitForExit(int msecs);
    int exitCode() const;
    QProcess::ExitStatus exitStatus() const;

    // "program args...", its exit state, stdout and stderr: for failure messages.
    QString describe() const;

private:
    bool launch(const QString &program, const QStringList &arguments, int msecs);
    void stop();
    bool waitUntil(const std::function<bool()> &done, int msecs);

    std::unique_ptr<QProcess> m_process;
    QString m_program;
    QStringList m_arguments;
    quint16 m_port = 0;
    QString m_error;
    mutable QByteArray m_stdout;
    mutable QByteArray m_stderr;
};

// The port of a TCP listener just closed on 127.0.0.1: free at this instant, or 0.
quint16 pickFreeLoopbackPort();

#endif
