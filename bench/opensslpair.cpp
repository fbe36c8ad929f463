// OpenSSL's own pair as the handshake floor (see opensslpair.h).
#include "opensslpair.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QRegularExpression>
#include <QStandardPaths>

#include <algorithm>
#include <cmath>
#include <csignal>

#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace bench {

namespace {

double childrenCpuMs()
{
    rusage usage{};
    ::getrusage(RUSAGE_CHILDREN, &usage);
    auto ms = [](const timeval &t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
    return ms(usage.ru_utime) + ms(usage.ru_stime);
}

QByteArray readFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// Starts command (wrapper + openssl + arguments): dies with us, pinned to cpu unless -1.
bool startOpenssl(QProcess &process, const QStringList &command, int cpu)
{
    process.setProgram(command.first());
    process.setArguments(command.mid(1));
    process.setChildProcessModifier([cpu] {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            ::sched_setaffinity(0, sizeof set, &set);
        }
    });
    process.start();
    return process.waitForStarted(10000);
}

} // namespace

QString opensslPath()
{
    return QStandardPaths::findExecutable(QStringLiteral("openssl"));
}

QStringList opensslTlsArguments()
{
    return {QStringLiteral("-tls1_3"), QStringLiteral("-ciphersuites"),
            QLatin1String(kCipherSuite)};
}

OpensslServer::~OpensslServer()
{
    if (m_process.state() != QProcess::NotRunning) {
        m_process.kill();
        m_process.waitForFinished(10000);
    }
}

bool OpensslServer::start(const Pki &pki, KeyType key, const QString &mode,
                          const QStringList &wrapper, int cpu, QString *error)
{
    const QString openssl = opensslPath();
    if (openssl.isEmpty()) {
        *error = QStringLiteral("openssl (the command) is not installed");
        return false;
    }
    QFile greeting(QDir(pki.dir).filePath(QLatin1String(kOpensslGreetingPath + 1)));
    if (!greeting.open(QIODevice::WriteOnly) || greeting.write("hello from openssl\n") < 0) {
        *error =
            QStringLiteral("cannot write %1: %2").arg(greeting.fileName(), greeting.errorString());
        return false;
    }
    greeting.close();
    m_process.setWorkingDirectory(pki.dir);
    // Its output goes to files: it prints a line per request, and a pipe nobody drains while
    // the client runs would stop it once full.
    const QString out = QDir(pki.dir).filePath(QStringLiteral("s_server.out"));
    const QString err = QDir(pki.dir).filePath(QStringLiteral("s_server.err"));
    m_process.setStandardOutputFile(out);
    m_process.setStandardErrorFile(err);
    const QStringList command = wrapper +
                                QStringList{openssl,
                                            QStringLiteral("s_server"),
                                            QStringLiteral("-accept"),
                                            QStringLiteral("127.0.0.1:0"),
                                            mode,
                                            QStringLiteral("-cert"),
                                            pki.certFile(key),
                                            QStringLiteral("-key"),
                                            pki.keyFile(key)} +
                                opensslTlsArguments();
    if (!startOpenssl(m_process, command, cpu)) {
        *error = QStringLiteral("cannot start openssl s_server: ") + m_process.errorString();
        return false;
    }
    // "ACCEPT 127.0.0.1:PORT" once it listens.
    const QRegularExpression acceptLine(QStringLiteral("ACCEPT [^\\n]*:(\\d+)"));
    QRegularExpressionMatch match;
    for (int i = 0; i < 600 && !match.hasMatch() && m_process.state() == QProcess::Running; ++i) {
        m_process.waitForFinished(100);
        match = acceptLine.match(QString::fromLatin1(readFile(out)));
    }
    if (!match.hasMatch()) {
        *error = QStringLiteral("openssl s_server did not listen: ") +
                 QString::fromLocal8Bit(readFile(err).right(300));
        return false;
    }
    m_port = static_cast<quint16>(match.captured(1).toUInt());
    return true;
}

// Fields 14 and 15 of /proc/PID/stat (after the command name in parentheses), in clock ticks.
double OpensslServer::cpuMs() const
{
    QFile stat(QStringLiteral("/proc/%1/stat").arg(m_process.processId()));
    if (m_process.processId() <= 0 || !stat.open(QIODevice::ReadOnly))
        return kNaN;
    const QByteArray text = stat.readAll();
    const QList<QByteArray> fields = text.mid(text.lastIndexOf(')') + 2).split(' ');
    if (fields.size() < 13)
        return kNaN;
    const double ticks = fields.at(11).toDouble() + fields.at(12).toDouble();
    return ticks * 1e3 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

bool OpensslServer::stop(QString *error)
{
    m_process.terminate();
    if (m_process.waitForFinished(60000))
        return true;
    *error = QStringLiteral("openssl s_server did not end");
    return false;
}

STimeRun runOpensslSTime(const Pki &pki, quint16 port, int seconds, const QStringList &extra,
                         const QStringList &wrapper, int cpu)
{
    STimeRun run;
    const QString openssl = opensslPath();
    if (openssl.isEmpty()) {
        run.error = QStringLiteral("openssl (the command) is not installed");
        return run;
    }
    const QStringList command = wrapper +
                                QStringList{openssl,
                                            QStringLiteral("s_time"),
                                            QStringLiteral("-connect"),
                                            QStringLiteral("127.0.0.1:%1").arg(port),
                                            QStringLiteral("-new"),
                                            QStringLiteral("-verify"),
                                            QStringLiteral("1"),
                                            QStringLiteral("-CAfile"),
                                            pki.caFile,
                                            QStringLiteral("-time"),
                                            QString::number(std::max(seconds, 1))} +
                                extra + opensslTlsArguments();
    QProcess client;
    const QString out = QDir(pki.dir).filePath(QStringLiteral("s_time.out"));
    const QString err = QDir(pki.dir).filePath(QStringLiteral("s_time.err"));
    client.setStandardOutputFile(out);
    client.setStandardErrorFile(err);
    const double cpuBefore = childrenCpuMs();
    QElapsedTimer wall;
    wall.start();
    // Its own clock ends it; a minute more under callgrind's slowness is plenty.
    const int limitMs = (std::max(seconds, 1) + 60) * 1000 * (wrapper.isEmpty() ? 1 : 10);
    if (!startOpenssl(client, command, cpu) || !client.waitForFinished(limitMs) ||
        client.exitStatus() != QProcess::NormalExit || client.exitCode() != 0) {
        run.error = client.state() == QProcess::Running
                        ? QStringLiteral("openssl s_time did not end in %1 s").arg(limitMs / 1000)
                        : QStringLiteral("openssl s_time failed: ") +
                              QString::fromLocal8Bit(readFile(err).right(300));
        client.kill();
        client.waitForFinished(10000);
        return run;
    }
    run.wallMs = static_cast<double>(wall.nsecsElapsed()) / 1e6;
    run.cpuMs = childrenCpuMs() - cpuBefore;
    // "N connections in T.TTs; R connections/user sec, bytes read B"
    const QRegularExpressionMatch counted =
        QRegularExpression(QStringLiteral("(\\d+) connections in [\\d.]+s;"))
            .match(QString::fromLatin1(readFile(out)));
    if (!counted.hasMatch() || counted.captured(1).toInt() <= 0) {
        run.error = QStringLiteral("openssl s_time printed no count of connections");
        return run;
    }
    run.connections = counted.captured(1).toInt();
    return run;
}

Sample measureOpensslHandshakes(const Pki &pki, const OpensslServer &server, int clientCpu,
                                double ms)
{
    const double serverBefore = server.cpuMs();
    const STimeRun run = runOpensslSTime(
        pki, server.port(), std::max(2, static_cast<int>(std::lround(ms / 1e3))),
        {QStringLiteral("-www"), QLatin1String(kOpensslGreetingPath)}, {}, clientCpu);
    if (!run.error.isEmpty())
        return {kNaN, kNaN, {}, run.error};
    const double count = run.connections;
    Sample sample;
    sample.value = count / (run.wallMs / 1e3);
    sample.info = {{"count", run.connections},
                   {"client_cpu_ms_per_handshake", run.cpuMs / count},
                   {"server_cpu_ms_per_handshake", (server.cpuMs() - serverBefore) / count}};
    return sample;
}

} // namespace bench
