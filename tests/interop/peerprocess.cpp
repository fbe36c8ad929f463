#include "peerprocess.h"

#include <QDeadlineTimer>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <algorithm>

namespace {
constexpr int kStartAttempts = 4;   // a port stolen between pick and bind is rare; four is plenty
constexpr int kAttemptMsecs = 4000; // a healthy peer listens within a few hundred ms
constexpr int kProbeMsecs = 250;
constexpr int kPollMsecs = 20;
} // namespace

quint16 pickFreeLoopbackPort()
{
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        return 0;
    const quint16 port = server.serverPort();
    server.close();
    return port;
}

PeerProcess::PeerProcess() = default;

PeerProcess::~PeerProcess()
{
    stop();
}

bool PeerProcess::isRunning() const
{
    return m_process && m_process->state() != QProcess::NotRunning;
}

void PeerProcess::stop()
{
    if (!m_process)
        return;
    if (m_process->state() != QProcess::NotRunning) {
        m_process->kill(); // SIGKILL to the one process this object started
        m_process->waitForFinished(3000);
    }
    standardOutput(); // keep everything it printed, for describe()
    standardError();
}

bool PeerProcess::launch(const QString &program, const QStringList &arguments, int msecs)
{
    stop();
    m_program = program;
    m_arguments = arguments;
    m_stdout.clear();
    m_stderr.clear();
    const QString path = QStandardPaths::findExecutable(program);
    if (path.isEmpty()) {
        m_error = QStringLiteral("the peer program '%1' is not installed (not found in PATH)")
                      .arg(program);
        return false;
    }
    m_process = std::make_unique<QProcess>();
    m_process->setProgram(path);
    m_process->setArguments(arguments);
    m_process->setProcessChannelMode(QProcess::SeparateChannels);
    m_process->start();
    if (!m_process->waitForStarted(msecs)) {
        m_error = QStringLiteral("the peer '%1' did not start: %2")
                      .arg(program, m_process->errorString());
        return false;
    }
    return true;
}

bool PeerProcess::startClient(const QString &program, const QStringList &arguments, int msecs)
{
    return launch(program, arguments, msecs);
}

bool PeerProcess::startServer(const QString &program,
                              const std::function<QStringList(quint16)> &arguments,
                              const std::function<QByteArray(quint16)> &readyText, int msecs)
{
    const QDeadlineTimer deadline(msecs);
    QString failures;
    for (int attempt = 1; attempt <= kStartAttempts && !deadline.hasExpired(); ++attempt) {
        m_port = pickFreeLoopbackPort();
        if (m_port == 0) {
            m_error = QStringLiteral("no free loopback port");
            return false;
        }
        if (!launch(program, arguments(m_port), static_cast<int>(deadline.remainingTime())))
            return false;
        const QByteArray marker = readyText ? readyText(m_port) : QByteArray();
        const QDeadlineTimer attemptDeadline(
            std::min<qint64>(kAttemptMsecs, deadline.remainingTime()));
        bool ready = false;
        while (!ready && isRunning() && !attemptDeadline.hasExpired()) {
            if (marker.isEmpty() || standardOutput().contains(marker) ||
                standardError().contains(marker)) {
                QTcpSocket probe;
                probe.connectToHost(QHostAddress::LocalHost, m_port);
                ready = probe.waitForConnected(kProbeMsecs);
                probe.abort();
            }
            if (!ready)
                QTest::qWait(kPollMsecs);
        }
        if (ready && isRunning())
            return true;
        // It exited (most likely it could not bind this port) or never got ready: try again.
        failures += QStringLiteral("\n  attempt %1 on port %2: %3")
                        .arg(attempt)
                        .arg(m_port)
                        .arg(describe());
        stop();
    }
    m_error =
        QStringLiteral("the peer '%1' never got ready on 127.0.0.1:%2").arg(program).arg(m_port) +
        failures;
    return false;
}

QByteArray PeerProcess::standardOutput() const
{
    if (m_process)
        m_stdout += m_process->readAllStandardOutput();
    return m_stdout;
}

QByteArray PeerProcess::standardError() const
{
    if (m_process)
        m_stderr += m_process->readAllStandardError();
    return m_stderr;
}

void PeerProcess::write(const QByteArray &data)
{
    if (m_process)
        m_process->write(data);
}

void PeerProcess::closeWriteChannel()
{
    if (m_process)
        m_process->closeWriteChannel();
}

bool PeerProcess::waitUntil(const std::function<bool()> &done, int msecs)
{
    const QDeadlineTimer deadline(msecs);
    while (!done()) {
        if (deadline.hasExpired())
            return false;
        QTest::qWait(kPollMsecs);
    }
    return true;
}

bool PeerProcess::waitForOutput(const QByteArray &needle, int msecs)
{
    return waitUntil([&] { return standardOutput().contains(needle); }, msecs);
}

bool PeerProcess::waitForError(const QByteArray &needle, int msecs)
{
    return waitUntil([&] { return standardError().contains(needle); }, msecs);
}

bool PeerProcess::waitForExit(int msecs)
{
    return waitUntil([this] { return !isRunning(); }, msecs);
}

int PeerProcess::exitCode() const
{
    return m_process ? m_process->exitCode() : -1;
}

QProcess::ExitStatus PeerProcess::exitStatus() const
{
    return m_process ? m_process->exitStatus() : QProcess::CrashExit;
}

QString PeerProcess::describe() const
{
    QString state;
    if (!m_process)
        state = QStringLiteral("not started");
    else if (isRunning())
        state = QStringLiteral("running");
    else if (m_process->exitStatus() == QProcess::CrashExit)
        state = QStringLiteral("killed or crashed");
    else
        state = QStringLiteral("exited with code %1").arg(m_process->exitCode());
    const auto tail = [](const QByteArray &text) {
        constexpr qsizetype kShown = 2000; // enough to see the cause, not a 1 MiB echo
        return QString::fromLocal8Bit(text.size() > kShown ? "..." + text.right(kShown) : text);
    };
    return QStringLiteral("`%1 %2` (%3)\n--- stdout:\n%4\n--- stderr:\n%5")
        .arg(m_program, m_arguments.join(QLatin1Char(' ')), state, tail(standardOutput()),
             tail(standardError()));
}
