#include "peerprocess.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QObject>
#include <QProcessEnvironment>
#include <QSet>
#include <QStandardPaths>
#include <QTest>
#include <QTimer>

#include <csignal>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace testsupport {

bool waitUntil(const std::function<bool()> &done, int msecs)
{
    const QDeadlineTimer deadline(msecs);
    while (!done()) {
        if (deadline.hasExpired())
            return done();
        QTest::qWait(5);
    }
    return true;
}

void deliverPostedEvents()
{
    QObject context; // no call once this returns, even if the wait was cut short
    bool fired = false;
    QTimer::singleShot(0, &context, [&fired] { fired = true; });
    waitUntil([&fired] { return fired; }, 10000);
}

RefusingPort::RefusingPort()
{
    m_descriptor = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_descriptor < 0)
        return;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(m_descriptor, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0 &&
        ::getsockname(m_descriptor, reinterpret_cast<sockaddr *>(&address), &length) == 0)
        m_port = ntohs(address.sin_port);
}

RefusingPort::~RefusingPort()
{
    if (m_descriptor >= 0)
        ::close(m_descriptor);
}

} // namespace testsupport

namespace {

// "socket:[12345]" descriptors of process pid: their inodes.
QSet<QByteArray> socketInodes(qint64 pid)
{
    QSet<QByteArray> inodes;
    const QDir fds(QStringLiteral("/proc/%1/fd").arg(pid));
    for (const QString &name : fds.entryList(QDir::System | QDir::NoDotAndDotDot)) {
        char target[128] = {};
        const QByteArray path = QFile::encodeName(fds.filePath(name));
        const ssize_t size = ::readlink(path.constData(), target, sizeof target - 1);
        const QByteArray link(target, size > 0 ? size : 0);
        if (link.startsWith("socket:[") && link.endsWith(']'))
            inodes.insert(link.mid(8, link.size() - 9));
    }
    return inodes;
}

// The IPv4 TCP ports in LISTEN state held by process pid; /proc/PID/net/tcp lists every socket
// of its network namespace, its descriptors say which are its own.
QList<quint16> listeningIpv4Ports(qint64 pid)
{
    const QSet<QByteArray> own = socketInodes(pid);
    QFile table(QStringLiteral("/proc/%1/net/tcp").arg(pid));
    QList<quint16> ports;
    if (own.isEmpty() || !table.open(QIODevice::ReadOnly))
        return ports;
    table.readLine(); // header
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    for (QByteArray line = table.readLine(); !line.isEmpty(); line = table.readLine()) {
        const QList<QByteArray> fields = line.simplified().split(' ');
        constexpr char kListen[] = "0A";
        if (fields.size() > 9 && fields.at(3) == kListen && own.contains(fields.at(9)))
            ports.append(
                static_cast<quint16>(fields.at(1).split(':').value(1).toUInt(nullptr, 16)));
    }
    return ports;
}

} // namespace

PeerProcess::PeerProcess() = default;

PeerProcess::~PeerProcess()
{
    kill();
}

bool PeerProcess::isRunning() const
{
    return m_process && m_process->state() != QProcess::NotRunning;
}

qint64 PeerProcess::pid() const
{
    return m_process ? m_process->processId() : 0;
}

void PeerProcess::kill()
{
    if (!m_process)
        return;
    if (m_process->state() != QProcess::NotRunning) {
        m_process->kill(); // SIGKILL to the one process this object started
        m_process->waitForFinished(5000);
    }
    collect(); // keep everything it printed, for describe()
}

void PeerProcess::terminate(int signal)
{
    if (isRunning())
        ::kill(static_cast<pid_t>(m_process->processId()), signal);
}

bool PeerProcess::start(const QString &program, const QStringList &arguments, int msecs)
{
    kill();
    m_program = program;
    m_arguments = arguments;
    m_error.clear();
    m_port = 0;
    m_stdout.clear();
    m_stderr.clear();
    m_linesSeen = 0;
    const QString path =
        QFileInfo(program).isAbsolute() ? program : QStandardPaths::findExecutable(program);
    if (path.isEmpty() || !QFileInfo(path).isExecutable()) {
        m_error =
            QStringLiteral("the program '%1' is not installed (not found in PATH)").arg(program);
        return false;
    }
    m_process = std::make_unique<QProcess>();
    QProcess *process = m_process.get();
    process->setProgram(path);
    process->setArguments(arguments);
    process->setProcessChannelMode(m_merged ? QProcess::MergedChannels
                                            : QProcess::SeparateChannels);
    if (!m_stdinFile.isEmpty())
        process->setStandardInputFile(m_stdinFile);
    // Output formats the tests parse must not depend on the caller's environment.
    QProcessEnvironment env = m_environment.value_or(QProcessEnvironment::systemEnvironment());
    env.remove(QStringLiteral("QT_MESSAGE_PATTERN"));
    env.remove(QStringLiteral("QT_LOGGING_RULES"));
    process->setProcessEnvironment(env);
    QObject::connect(process, &QProcess::readyReadStandardOutput, process, [this] { collect(); });
    QObject::connect(process, &QProcess::readyReadStandardError, process, [this] { collect(); });
    process->start();
    if (!process->waitForStarted(msecs)) {
        m_error = QStringLiteral("'%1' did not start: %2").arg(program, process->errorString());
        return false;
    }
    return true;
}

PeerProcess::PortFinder PeerProcess::portFromOutput(const QString &pattern)
{
    const QRegularExpression re(pattern, QRegularExpression::MultilineOption);
    return [re](PeerProcess &peer) -> quint16 {
        for (const QByteArray &text : {peer.standardOutput(), peer.standardError()}) {
            const QRegularExpressionMatch match = re.match(QString::fromUtf8(text));
            if (match.hasMatch())
                return static_cast<quint16>(match.captured(1).toUInt());
        }
        return 0;
    };
}

PeerProcess::PortFinder PeerProcess::listeningIpv4Port(const QByteArray &readyText)
{
    return [readyText](PeerProcess &peer) -> quint16 {
        if (!peer.standardOutput().contains(readyText) && !peer.standardError().contains(readyText))
            return 0;
        const QList<quint16> ports = listeningIpv4Ports(peer.pid());
        return ports.size() == 1 ? ports.first() : 0;
    };
}

bool PeerProcess::startServer(const QString &program, const QStringList &arguments,
                              const PortFinder &findPort, int msecs)
{
    const QDeadlineTimer deadline(msecs);
    if (!start(program, arguments, msecs))
        return false;
    quint16 port = 0;
    testsupport::waitUntil(
        [&] {
            port = findPort(*this);
            return port != 0 || !isRunning();
        },
        static_cast<int>(deadline.remainingTime()));
    if (port != 0 && isRunning()) {
        m_port = port;
        return true;
    }
    m_error = QStringLiteral("the server '%1' never said which port it listens on: %2")
                  .arg(program, describe());
    return false;
}

void PeerProcess::collect() const
{
    if (!m_process)
        return;
    m_stdout += m_process->readAllStandardOutput();
    if (!m_merged)
        m_stderr += m_process->readAllStandardError();
    qsizetype end;
    while (m_lineHandler && (end = m_stdout.indexOf('\n', m_linesSeen)) >= 0) {
        const QByteArray line = m_stdout.mid(m_linesSeen, end + 1 - m_linesSeen);
        m_linesSeen = end + 1;
        m_lineHandler(line);
    }
}

QByteArray PeerProcess::standardOutput() const
{
    collect();
    return m_stdout;
}

QByteArray PeerProcess::standardError() const
{
    collect();
    return m_stderr;
}

void PeerProcess::onOutputLine(const std::function<void(const QByteArray &)> &handler)
{
    collect();
    m_linesSeen = m_stdout.size();
    m_lineHandler = handler;
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

bool PeerProcess::waitForOutput(const QByteArray &needle, int msecs)
{
    return testsupport::waitUntil([&] { return standardOutput().contains(needle); }, msecs);
}

bool PeerProcess::waitForError(const QByteArray &needle, int msecs)
{
    return testsupport::waitUntil([&] { return standardError().contains(needle); }, msecs);
}

bool PeerProcess::waitForStdout(const std::function<bool(const QByteArray &)> &done, int msecs)
{
    return testsupport::waitUntil([&] { return done(standardOutput()); }, msecs);
}

bool PeerProcess::waitForExit(int msecs)
{
    const bool exited = testsupport::waitUntil([this] { return !isRunning(); }, msecs);
    collect(); // what it printed just before the exit
    return exited;
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
    if (!m_error.isEmpty() && !m_process)
        state = m_error;
    else if (!m_process)
        state = QStringLiteral("not started");
    else if (isRunning())
        state = QStringLiteral("running");
    else if (m_process->error() == QProcess::FailedToStart)
        state = QStringLiteral("could not start: ") + m_process->errorString();
    else if (m_process->exitStatus() == QProcess::CrashExit)
        state = QStringLiteral("killed or crashed");
    else
        state = QStringLiteral("exited with code %1").arg(m_process->exitCode());
    if (m_port != 0)
        state += QStringLiteral(", port %1").arg(m_port);
    const auto tail = [](const QByteArray &text) {
        constexpr qsizetype kShown = 3000; // enough to see the cause, not a 1 MiB echo
        return QString::fromLocal8Bit(text.size() > kShown ? "..." + text.right(kShown) : text);
    };
    return QStringLiteral("`%1 %2` (%3)\n--- stdout:\n%4\n--- stderr:\n%5")
        .arg(m_program, m_arguments.join(QLatin1Char(' ')), state, tail(standardOutput()),
             tail(standardError()));
}
