#include "dovecotserver.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace {

constexpr int kStartAttempts = 3; // a port taken between pick and bind is rare
constexpr int kPollMsecs = 20;

// The one listen-close-reuse left in the suite, and why: Dovecot cannot listen on a port of the
// system's choosing ("port = 0" in an inet_listener disables that listener), so its two ports are
// picked here, released, and written to its configuration. Another process may take one in
// between: start() sees Dovecot fail to bind and tries again with new ports, a few times.
quint16 freeLoopbackPort()
{
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        return 0;
    return server.serverPort(); // closed when server goes out of scope
}

bool acceptsConnections(quint16 port)
{
    QTcpSocket probe;
    probe.connectToHost(QHostAddress::LocalHost, port);
    const bool ok = probe.waitForConnected(250);
    probe.abort();
    return ok;
}

QString findProgram(const QString &name)
{
    const QString found = QStandardPaths::findExecutable(name);
    if (!found.isEmpty())
        return found;
    return QStandardPaths::findExecutable(
        name, {QStringLiteral("/usr/sbin"), QStringLiteral("/usr/local/sbin")});
}

bool writeFile(const QString &path, const QByteArray &content, QFile::Permissions permissions)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate) &&
           file.write(content) == content.size() && file.setPermissions(permissions);
}

const QFile::Permissions kReadable =
    QFile::ReadOwner | QFile::WriteOwner | QFile::ReadGroup | QFile::ReadOther;

} // namespace

DovecotServer::DovecotServer(const QString &user, const QByteArray &password, int messages)
    : m_user(user), m_password(password), m_messages(messages)
{}

DovecotServer::~DovecotServer()
{
    stop();
}

QString DovecotServer::path(const QString &name) const
{
    return m_dir->filePath(name);
}

QByteArray DovecotServer::log() const
{
    if (!m_dir)
        return {};
    QFile file(path(QStringLiteral("dovecot.log")));
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

bool DovecotServer::waitForLog(qint64 mark, const QByteArray &needle, int msecs) const
{
    const QDeadlineTimer deadline(msecs);
    while (!log().mid(mark).contains(needle)) {
        if (deadline.hasExpired())
            return false;
        QTest::qWait(kPollMsecs);
    }
    return true;
}

QString DovecotServer::describe(const QString &what) const
{
    QString text = what;
    if (m_dir) {
        QFile startup(path(QStringLiteral("startup.out")));
        if (startup.open(QIODevice::ReadOnly))
            text +=
                QStringLiteral("\n--- dovecot output:\n") + QString::fromUtf8(startup.readAll());
        text += QStringLiteral("\n--- %1:\n").arg(path(QStringLiteral("dovecot.log"))) +
                QString::fromUtf8(log());
    }
    return text;
}

bool DovecotServer::writeFiles(const QByteArray &certPem, const QByteArray &keyPem)
{
    const passwd *nobody = getpwnam("nobody");
    if (!nobody) {
        m_error = QStringLiteral("there is no user 'nobody' to run Dovecot's processes as");
        return false;
    }
    const group *nogroup = getgrnam("nogroup");
    const gid_t gid = nogroup ? nogroup->gr_gid : nobody->pw_gid;

    QDir dir(m_dir->path());
    for (const char *sub :
         {"run", "state", "home/Maildir/new", "home/Maildir/cur", "home/Maildir/tmp"}) {
        if (!dir.mkpath(QString::fromLatin1(sub))) {
            m_error = QStringLiteral("cannot create %1 in %2").arg(sub, dir.path());
            return false;
        }
    }
    bool ok = writeFile(path(QStringLiteral("server.pem")), certPem, kReadable) &&
              writeFile(path(QStringLiteral("server.key")), keyPem,
                        QFile::ReadOwner | QFile::WriteOwner) &&
              writeFile(path(QStringLiteral("passwd")),
                        QStringLiteral("%1:{PLAIN}%2:%3:%4::%5\n")
                            .arg(m_user, QString::fromUtf8(m_password))
                            .arg(nobody->pw_uid)
                            .arg(gid)
                            .arg(path(QStringLiteral("home")))
                            .toUtf8(),
                        kReadable);
    for (int i = 1; ok && i <= m_messages; ++i) {
        const QByteArray message = "From: Test Sender <sender@example.test>\r\n"
                                   "To: " +
                                   m_user.toUtf8() +
                                   "@example.test\r\n"
                                   "Subject: Test message " +
                                   QByteArray::number(i) +
                                   "\r\n"
                                   "\r\n"
                                   "Body of test message " +
                                   QByteArray::number(i) + ".\r\n";
        ok = writeFile(path(QStringLiteral("home/Maildir/new/%1.test.localhost").arg(i)), message,
                       kReadable);
    }
    if (!ok) {
        m_error = QStringLiteral("cannot write the Dovecot files in %1").arg(dir.path());
        return false;
    }
    // The mail processes run as nobody: the home must be theirs, the directory above readable.
    QStringList owned{path(QStringLiteral("home"))};
    QDirIterator it(path(QStringLiteral("home")),
                    QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden,
                    QDirIterator::Subdirectories);
    while (it.hasNext())
        owned << it.next();
    for (const QString &entry : owned) {
        if (::chown(QFile::encodeName(entry).constData(), nobody->pw_uid, gid) != 0) {
            m_error = QStringLiteral("cannot give %1 to nobody (Dovecot must be started as "
                                     "root, as the Debian package does)")
                          .arg(entry);
            return false;
        }
    }
    if (!QFile::setPermissions(dir.path(),
                               kReadable | QFile::ExeOwner | QFile::ExeGroup | QFile::ExeOther)) {
        m_error = QStringLiteral("cannot make %1 readable by nobody").arg(dir.path());
        return false;
    }
    return true;
}

bool DovecotServer::writeConfig()
{
    const QString d = m_dir->path();
    const QString config =
        QStringLiteral(R"(# Written by the SecureSocket imap test: a private Dovecot on loopback.
base_dir = %1/run
state_dir = %1/state
log_path = %1/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = yes
ssl_cert = <%1/server.pem
ssl_key = <%1/server.key
disable_plaintext_auth = yes
auth_verbose = yes
auth_mechanisms = plain login
default_login_user = nobody
default_internal_user = nobody
default_internal_group = nogroup
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = %1/passwd
}
userdb {
  driver = passwd-file
  args = %1/passwd
}
service imap-login {
  inet_listener imap {
    port = %2
  }
  inet_listener imaps {
    port = %3
    ssl = yes
  }
  chroot =
}
service anvil {
  chroot =
}
)")
            .arg(d)
            .arg(m_imapPort)
            .arg(m_imapsPort);
    if (!writeFile(path(QStringLiteral("dovecot.conf")), config.toUtf8(), kReadable)) {
        m_error = QStringLiteral("cannot write %1").arg(path(QStringLiteral("dovecot.conf")));
        return false;
    }
    return true;
}

bool DovecotServer::start(const QByteArray &certPem, const QByteArray &keyPem, int msecs)
{
    stop();
    const QDeadlineTimer deadline(msecs);
    m_dir = std::make_unique<QTemporaryDir>(QStringLiteral("/tmp/ssimap-XXXXXX"));
    if (!m_dir->isValid()) {
        m_error = QStringLiteral("cannot create a temporary directory in /tmp: %1")
                      .arg(m_dir->errorString());
        return false;
    }
    if (!writeFiles(certPem, keyPem))
        return false;
    QString failures;
    for (int attempt = 1; attempt <= kStartAttempts && !deadline.hasExpired(); ++attempt) {
        m_imapPort = freeLoopbackPort();
        m_imapsPort = freeLoopbackPort();
        if (m_imapPort == 0 || m_imapsPort == 0 || m_imapPort == m_imapsPort) {
            m_error = QStringLiteral("no free loopback ports");
            return false;
        }
        if (!writeConfig())
            return false;
        bool portTaken = false;
        if (launch(deadline, &portTaken))
            return true;
        if (!portTaken)
            return false;
        failures += m_error + QLatin1Char('\n');
        stop();
        QFile::remove(path(QStringLiteral("dovecot.log")));
    }
    m_error = QStringLiteral("Dovecot could not get free ports:\n") + failures;
    return false;
}

// Starts the master and waits until it listens on both ports. *portTaken tells whether it
// failed only because another process took one of the ports first.
bool DovecotServer::launch(const QDeadlineTimer &deadline, bool *portTaken)
{
    const QString program = findProgram(QStringLiteral("dovecot"));
    if (program.isEmpty()) {
        m_error = QStringLiteral("dovecot is not installed (Debian package dovecot-imapd)");
        return false;
    }
    // In the foreground (-F), as this test's own child: stopped by its process id, and sent
    // SIGTERM by the kernel if the test dies first, so that a crashed or killed test leaves no
    // Dovecot behind. Files, not pipes, take its output: its children inherit them.
    m_master = std::make_unique<QProcess>();
    m_master->setProgram(program);
    m_master->setArguments(
        {QStringLiteral("-F"), QStringLiteral("-c"), path(QStringLiteral("dovecot.conf"))});
    m_master->setStandardInputFile(QProcess::nullDevice());
    m_master->setProcessChannelMode(QProcess::MergedChannels);
    m_master->setStandardOutputFile(path(QStringLiteral("startup.out")));
    m_master->setChildProcessModifier([] { ::prctl(PR_SET_PDEATHSIG, SIGTERM); });
    m_master->start();
    if (!m_master->waitForStarted(static_cast<int>(deadline.remainingTime()))) {
        m_error =
            describe(QStringLiteral("%1 did not start: %2").arg(program, m_master->errorString()));
        return false;
    }
    while (!(acceptsConnections(m_imapPort) && acceptsConnections(m_imapsPort))) {
        if (m_master->state() == QProcess::NotRunning) {
            m_error = describe(
                QStringLiteral("Dovecot exited with code %1 at start").arg(m_master->exitCode()));
            *portTaken = m_error.contains(QLatin1String("Address already in use"));
            return false;
        }
        if (deadline.hasExpired()) {
            m_error = describe(QStringLiteral("Dovecot is not listening on 127.0.0.1 ports %1 "
                                              "and %2 in time")
                                   .arg(m_imapPort)
                                   .arg(m_imapsPort));
            return false;
        }
        QTest::qWait(kPollMsecs);
    }
    return true;
}

void DovecotServer::requestStop()
{
    if (m_master && m_master->state() != QProcess::NotRunning && !m_stopRequested) {
        m_master->terminate(); // SIGTERM: Dovecot's master stops its services, then exits
        m_stopRequested = true;
    }
}

bool DovecotServer::stop(int msecs)
{
    if (!m_master || m_master->state() == QProcess::NotRunning) {
        m_master.reset();
        m_stopRequested = false;
        return true;
    }
    requestStop();
    m_stopRequested = false;
    bool stopped = m_master->waitForFinished(msecs);
    if (!stopped) {
        m_error = describe(QStringLiteral("Dovecot's master (pid %1) still runs %2 ms after "
                                          "SIGTERM: killed")
                               .arg(m_master->processId())
                               .arg(msecs));
        m_master->kill();
        m_master->waitForFinished(3000);
    }
    m_master.reset();
    return stopped;
}
