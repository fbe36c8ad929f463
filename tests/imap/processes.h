// The imapclient example run once to its end, for the imap test. The stand-in TLS servers
// (openssl s_server, gnutls-serv) are PeerProcess servers (peerprocess.h).
#ifndef SECURESOCKET_TESTS_IMAP_PROCESSES_H
#define SECURESOCKET_TESTS_IMAP_PROCESSES_H

#include <QByteArray>
#include <QString>
#include <QStringList>

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

#endif
