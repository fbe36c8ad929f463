#include "child.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QJsonDocument>

#include <csignal>

#include <sys/prctl.h>

namespace bench {

Child::Child(const QString &scratchDir) : m_scratchDir(scratchDir) {}

Child::~Child()
{
    stop();
}

bool Child::start(const QStringList &arguments, QString *error)
{
    // Profiling: SECURESOCKET_BENCH_CHILD_WRAPPER="valgrind --tool=callgrind" runs every child
    // under that command.
    QStringList command = m_wrapper.isEmpty()
                              ? QString::fromLocal8Bit(qgetenv("SECURESOCKET_BENCH_CHILD_WRAPPER"))
                                    .split(QLatin1Char(' '), Qt::SkipEmptyParts)
                              : m_wrapper;
    command << QCoreApplication::applicationFilePath() << arguments;
    m_process.setProgram(command.takeFirst());
    m_process.setArguments(command);
    m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    // A child must not outlive a benchmark that crashed or was interrupted.
    m_process.setChildProcessModifier([] { ::prctl(PR_SET_PDEATHSIG, SIGTERM); });
    m_process.start();
    if (!m_process.waitForStarted(10000)) {
        *error = QStringLiteral("cannot start %1: %2")
                     .arg(arguments.join(QLatin1Char(' ')), m_process.errorString());
        return false;
    }
    return true;
}

bool Child::startServer(const QStringList &arguments, QString *error)
{
    static int counter = 0;
    const QString portFile = QDir(m_scratchDir).filePath(QStringLiteral("port-%1").arg(++counter));
    if (!start(arguments + QStringList{QStringLiteral("--port-file"), portFile}, error))
        return false;
    QDeadlineTimer deadline(30000);
    while (!deadline.hasExpired()) {
        QFile file(portFile);
        if (file.open(QIODevice::ReadOnly)) {
            m_port = file.readAll().trimmed().toUShort();
            if (m_port != 0)
                return true;
        }
        if (m_process.waitForFinished(10)) {
            *error = QStringLiteral("server child %1 exited with code %2")
                         .arg(arguments.join(QLatin1Char(' ')))
                         .arg(m_process.exitCode());
            return false;
        }
    }
    *error = QStringLiteral("server child %1 did not listen within 30 s")
                 .arg(arguments.join(QLatin1Char(' ')));
    return false;
}

bool Child::startClient(const QStringList &arguments, QString *error)
{
    return start(arguments, error);
}

std::optional<QJsonObject> Child::readJson(int timeoutMs, QString *error)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!m_process.canReadLine()) {
        if (m_process.state() == QProcess::NotRunning) {
            *error =
                QStringLiteral("child exited (code %1) without a result").arg(m_process.exitCode());
            return std::nullopt;
        }
        if (deadline.hasExpired()) {
            *error = QStringLiteral("child gave no result within %1 s").arg(timeoutMs / 1000);
            return std::nullopt;
        }
        m_process.waitForReadyRead(
            static_cast<int>(std::min<qint64>(deadline.remainingTime(), 1000)));
    }
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(m_process.readLine(), &parseError);
    if (!document.isObject()) {
        *error = QStringLiteral("child printed no JSON object: ") + parseError.errorString();
        return std::nullopt;
    }
    const QJsonObject object = document.object();
    if (object.contains(QLatin1String("error"))) {
        *error = object.value(QLatin1String("error")).toString();
        return std::nullopt;
    }
    return object;
}

bool Child::waitForExit(int timeoutMs)
{
    return m_process.state() == QProcess::NotRunning || m_process.waitForFinished(timeoutMs);
}

void Child::stop()
{
    if (m_process.state() == QProcess::NotRunning)
        return;
    m_process.terminate();
    if (!m_process.waitForFinished(5000)) {
        m_process.kill();
        m_process.waitForFinished(5000);
    }
}

} // namespace bench
