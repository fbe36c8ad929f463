// Child processes for the imap test: the imapclient example run once to its end, and stand-in
// TLS servers (openssl s_server, gnutls-serv) kept running while a client talks to them.
#ifndef SECURESOCKET_TESTS_IMAP_PROCESSES_H
#define SECURESOCKET_TESTS_IMAP_PROCESSES_H

#include <QByteArray>
#include <QProcess>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>

// One finished (or given up) run of a program.
struct ProgramRun
{
    QString program;
    QStringList arguments;
    bool finished = false; // false: it was still running at the deadline and was killed
    bool crashed = false;
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
    qint64 msecs = 0;

    QStringList outLines() const;
    QStringList errLines() const;
    // The command line, how it ended, stdout and stderr: for failure messages.
    QString describe() const;
};

// Runs program to its end with the event loop running (so relays and servers living in this
// thread keep working), for at most msecs; killed (SIGKILL to its own pid) past that.
ProgramRun runProgram(const QString &program, const QStringList &arguments, int msecs);

// The first pattern (a regular expression) of patterns that does not match a line of lines
// after the line that matched the pattern before it; empty when all match, in order.
QString firstMissingInOrder(const QStringList &lines, const QStringList &patterns);

// A TLS server program run by one test on a free loopback port, killed when destroyed.
class StandInServer
{
public:
    StandInServer() = default;
    ~StandInServer();
    StandInServer(const StandInServer &) = delete;
    StandInServer &operator=(const StandInServer &) = delete;

    // Starts program with arguments(port) and waits until it prints readyText(port). The port
    // is picked free and released first, so another process may take it: when the program
    // exits before it is ready, it is started again on another port (a few times). False,
    // with errorString(), when it never gets ready within msecs.
    bool start(const QString &program, const std::function<QStringList(quint16)> &arguments,
               const std::function<QByteArray(quint16)> &readyText, int msecs = 10000);

    quint16 port() const { return m_port; }
    QString errorString() const { return m_error; }
    QProcess &process() { return *m_process; }

    // Everything it printed so far (stdout and stderr merged; the event loop must have run).
    QByteArray output();
    // Called, in the event loop, with each complete line it prints from now on.
    void onLine(const std::function<void(const QByteArray &)> &handler);

    bool waitForOutput(const QByteArray &needle, int msecs);
    bool waitForExit(int msecs);
    QString describe();

private:
    std::unique_ptr<QProcess> m_process;
    QString m_program;
    quint16 m_port = 0;
    QString m_error;
    QByteArray m_output;
    qsizetype m_linesSeen = 0;
    std::function<void(const QByteArray &)> m_lineHandler;
};

#endif
