// A private Dovecot IMAP server on loopback, started and stopped by one test program.
#ifndef SECURESOCKET_TESTS_DOVECOTSERVER_H
#define SECURESOCKET_TESTS_DOVECOTSERVER_H

#include <QByteArray>
#include <QDeadlineTimer>
#include <QString>
#include <QTemporaryDir>

#include <memory>

class QProcess;

// Everything lives in a temporary directory under /tmp (short: Dovecot's unix sockets live in
// it and their paths are limited to about 100 characters): the configuration, the certificate
// and key it presents, a passwd-file with one user, that user's Maildir holding `messages`
// messages, and the log (auth_verbose, so each login attempt is logged). Dovecot listens on
// 127.0.0.1 only, plain IMAP (STARTTLS required before LOGIN) on imapPort() and implicit TLS on
// imapsPort(), both picked free at start. It runs as root with its processes dropping to
// nobody, the way the Debian package runs it. The destructor stops it.
class DovecotServer
{
public:
    DovecotServer(const QString &user, const QByteArray &password, int messages);
    ~DovecotServer();
    DovecotServer(const DovecotServer &) = delete;
    DovecotServer &operator=(const DovecotServer &) = delete;

    // Starts Dovecot presenting this certificate chain and key (PEM), and waits until both
    // ports accept connections. False, with errorString() holding Dovecot's own output and log,
    // when it does not get there within msecs.
    bool start(const QByteArray &certPem, const QByteArray &keyPem, int msecs = 15000);
    // Asks it to stop (SIGTERM to its master process) without waiting: Dovecot takes about a
    // second to shut down, so several servers are best stopped together.
    void requestStop();
    // Stops it and waits for its master process to exit. False, with errorString(), when the
    // master is still running after msecs (it is then killed).
    bool stop(int msecs = 10000);

    quint16 imapPort() const { return m_imapPort; }
    quint16 imapsPort() const { return m_imapsPort; }
    QString errorString() const { return m_error; }

    // The log written so far; log().mid(mark) is what was logged after logSize() returned mark.
    QByteArray log() const;
    qint64 logSize() const { return log().size(); }
    // Waits (running the event loop) until the log after mark contains needle.
    bool waitForLog(qint64 mark, const QByteArray &needle, int msecs = 5000) const;

private:
    bool writeFiles(const QByteArray &certPem, const QByteArray &keyPem);
    bool writeConfig();
    bool launch(const QDeadlineTimer &deadline, bool *portTaken);
    QString path(const QString &name) const;
    QString describe(const QString &what) const;

    QString m_user;
    QByteArray m_password;
    int m_messages;
    std::unique_ptr<QTemporaryDir> m_dir;
    quint16 m_imapPort = 0;
    quint16 m_imapsPort = 0;
    std::unique_ptr<QProcess> m_master; // dovecot -F: this test's child, stopped by its pid
    bool m_stopRequested = false;
    QString m_error;
};

#endif
