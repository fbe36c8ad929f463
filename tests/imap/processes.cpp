#include "processes.h"

#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTest>
#include <QTimer>

#include <algorithm>

namespace {

constexpr int kStartAttempts = 4;
constexpr int kAttemptMsecs = 4000; // a healthy server listens within a few hundred ms
constexpr int kPollMsecs = 20;

QStringList splitLines(const QByteArray &text)
{
    QStringList lines = QString::fromUtf8(text).split(QLatin1Char('\n'));
    for (QString &line : lines) {
        if (line.endsWith(QLatin1Char('\r')))
            line.chop(1);
    }
    if (!lines.isEmpty() && lines.last().isEmpty())
        lines.removeLast();
    return lines;
}

bool waitUntil(const std::function<bool()> &done, int msecs)
{
    const QDeadlineTimer deadline(msecs);
    while (!done()) {
        if (deadline.hasExpired())
            return false;
        QTest::qWait(kPollMsecs);
    }
    return true;
}

} // namespace

QStringList ProgramRun::outLines() const
{
    return splitLines(out);
}

QStringList ProgramRun::errLines() const
{
    return splitLines(err);
}

QString ProgramRun::describe() const
{
    QString state;
    if (!finished)
        state = QStringLiteral("still running after %1 ms: killed").arg(msecs);
    else if (crashed)
        state = QStringLiteral("crashed after %1 ms").arg(msecs);
    else
        state = QStringLiteral("exited with %1 after %2 ms").arg(exitCode).arg(msecs);
    return QStringLiteral("\n$ %1 %2\n%3\n--- stdout:\n%4--- stderr:\n%5")
        .arg(program, arguments.join(QLatin1Char(' ')), state, QString::fromUtf8(out),
             QString::fromUtf8(err));
}

ProgramRun runProgram(const QString &program, const QStringList &arguments, int msecs)
{
    ProgramRun run;
    run.program = program;
    run.arguments = arguments;
    QProcess process;
    process.setProgram(program);
    process.setArguments(arguments);
    process.setStandardInputFile(QProcess::nullDevice());
    QEventLoop loop;
    QObject::connect(&process, &QProcess::finished, &loop, &QEventLoop::quit);
    QObject::connect(&process, &QProcess::errorOccurred, &loop, [&](QProcess::ProcessError e) {
        if (e == QProcess::FailedToStart)
            loop.quit();
    });
    QTimer deadline;
    deadline.setSingleShot(true);
    QObject::connect(&deadline, &QTimer::timeout, &loop, &QEventLoop::quit);
    QElapsedTimer clock;
    clock.start();
    process.start();
    deadline.start(msecs);
    if (process.state() != QProcess::NotRunning)
        loop.exec();
    run.msecs = clock.elapsed();
    if (process.state() != QProcess::NotRunning) {
        process.kill();
        process.waitForFinished(3000);
    } else {
        run.finished = process.error() != QProcess::FailedToStart;
        run.crashed = process.exitStatus() == QProcess::CrashExit;
        run.exitCode = run.crashed ? -1 : process.exitCode();
    }
    run.out = process.readAllStandardOutput();
    run.err = process.readAllStandardError();
    if (process.error() == QProcess::FailedToStart)
        run.err +=
            "(test) could not start " + program.toUtf8() + ": " + process.errorString().toUtf8();
    return run;
}

QString firstMissingInOrder(const QStringList &lines, const QStringList &patterns)
{
    qsizetype next = 0;
    for (const QString &pattern : patterns) {
        const QRegularExpression re(pattern);
        while (next < lines.size() && !re.match(lines[next]).hasMatch())
            ++next;
        if (next == lines.size())
            return pattern;
        ++next;
    }
    return {};
}

StandInServer::~StandInServer()
{
    if (m_process && m_process->state() != QProcess::NotRunning) {
        m_process->kill(); // the one process this object started
        m_process->waitForFinished(3000);
    }
}

bool StandInServer::start(const QString &program,
                          const std::function<QStringList(quint16)> &arguments,
                          const std::function<QByteArray(quint16)> &readyText, int msecs)
{
    const QDeadlineTimer deadline(msecs);
    m_program = program;
    const QString path = QStandardPaths::findExecutable(program);
    if (path.isEmpty()) {
        m_error = QStringLiteral("%1 is not installed (not found in PATH)").arg(program);
        return false;
    }
    QString failures;
    for (int attempt = 1; attempt <= kStartAttempts && !deadline.hasExpired(); ++attempt) {
        {
            QTcpServer probe;
            if (!probe.listen(QHostAddress::LocalHost, 0)) {
                m_error = QStringLiteral("no free loopback port");
                return false;
            }
            m_port = probe.serverPort();
        }
        m_output.clear();
        m_linesSeen = 0;
        m_process = std::make_unique<QProcess>();
        m_process->setProgram(path);
        m_process->setArguments(arguments(m_port));
        m_process->setProcessChannelMode(QProcess::MergedChannels);
        QObject::connect(m_process.get(), &QProcess::readyReadStandardOutput, m_process.get(),
                         [this] { output(); });
        m_process->start();
        const QByteArray ready = readyText(m_port);
        waitUntil(
            [&] { return output().contains(ready) || m_process->state() == QProcess::NotRunning; },
            static_cast<int>(std::min<qint64>(kAttemptMsecs, deadline.remainingTime())));
        if (m_process->state() != QProcess::NotRunning && output().contains(ready))
            return true;
        failures += QStringLiteral("\n  attempt %1: %2").arg(attempt).arg(describe());
        m_process->kill();
        m_process->waitForFinished(3000);
    }
    m_error = QStringLiteral("%1 never got ready:%2").arg(program, failures);
    return false;
}

QByteArray StandInServer::output()
{
    if (!m_process)
        return m_output;
    m_output += m_process->readAllStandardOutput();
    qsizetype end;
    while (m_lineHandler && (end = m_output.indexOf('\n', m_linesSeen)) >= 0) {
        const QByteArray line = m_output.mid(m_linesSeen, end + 1 - m_linesSeen);
        m_linesSeen = end + 1;
        m_lineHandler(line);
    }
    return m_output;
}

void StandInServer::onLine(const std::function<void(const QByteArray &)> &handler)
{
    m_linesSeen = m_output.size();
    m_lineHandler = handler;
}

bool StandInServer::waitForOutput(const QByteArray &needle, int msecs)
{
    return waitUntil([&] { return output().contains(needle); }, msecs);
}

bool StandInServer::waitForExit(int msecs)
{
    return waitUntil([&] { return !m_process || m_process->state() == QProcess::NotRunning; },
                     msecs);
}

QString StandInServer::describe()
{
    QString state = QStringLiteral("not started");
    if (m_process && m_process->state() != QProcess::NotRunning)
        state = QStringLiteral("running");
    else if (m_process)
        state = QStringLiteral("exited with %1").arg(m_process->exitCode());
    return QStringLiteral("%1 %2 on port %3 (%4), output:\n%5")
        .arg(m_program, m_process ? m_process->arguments().join(QLatin1Char(' ')) : QString())
        .arg(m_port)
        .arg(state, QString::fromUtf8(output()));
}
