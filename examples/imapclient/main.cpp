// imapclient: a short IMAP session over TLS (IMAPS, or STARTTLS on the plain port), showing
// the intended use of SecureSocket: certificate problems handled in a slot, nothing sent before
// the server is verified, and the same session written event-driven or with waitFor...().
#include <SecureSocket/securesocket.h>

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QFile>
#include <QSet>
#include <QTimer>

#include <cstdio>
#include <cstdlib>

namespace {

enum Exit { Success = 0, NetworkError = 1, CertificateError = 2, UsageError = 64 };

struct Options
{
    QString host;
    quint16 port = 993;
    bool starttls = false;
    bool blocking = false;
    QString caFile, caPath;
    bool systemCa = true;
    QString user;
    QByteArray password;
    QStringList commands;
    QSet<QString> acceptedErrors; // VerifyError names, e.g. "self-signed"
    int timeoutMsecs = 15000;     // a server silent this long ends the session
};

void say(const QString &line)
{
    std::printf("%s\n", qPrintable(line));
    std::fflush(stdout);
}

[[noreturn]] void usage(const QString &message)
{
    std::fprintf(stderr, "imapclient: %s (see --help)\n", qPrintable(message));
    std::exit(UsageError);
}

Options parseArguments(const QCoreApplication &app)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("A short IMAP session over TLS."));
    parser.addHelpOption();
    parser.addPositionalArgument(QStringLiteral("HOST"), QStringLiteral("The IMAP server."));
    parser.addPositionalArgument(QStringLiteral("PORT"),
                                 QStringLiteral("Default 993 (IMAPS), 143 with --starttls."),
                                 QStringLiteral("[PORT]"));
    const QCommandLineOption starttls(QStringLiteral("starttls"),
                                      QStringLiteral("Connect in plain text, then upgrade with "
                                                     "STARTTLS."));
    const QCommandLineOption cafile(QStringLiteral("cafile"),
                                    QStringLiteral("Trust the CA certificates of this PEM file."),
                                    QStringLiteral("FILE"));
    const QCommandLineOption capath(QStringLiteral("capath"),
                                    QStringLiteral("Trust the CA certificates of this hashed "
                                                   "directory."),
                                    QStringLiteral("DIR"));
    const QCommandLineOption noSystemCa(QStringLiteral("no-system-ca"),
                                        QStringLiteral("Do not trust the system CA store."));
    const QCommandLineOption user(QStringLiteral("user"), QStringLiteral("Log in as NAME."),
                                  QStringLiteral("NAME"));
    const QCommandLineOption passwordFile(QStringLiteral("password-file"),
                                          QStringLiteral("File whose first line is the password."),
                                          QStringLiteral("FILE"));
    const QCommandLineOption command(QStringLiteral("command"),
                                     QStringLiteral("An IMAP command to run (repeatable), e.g. "
                                                    "'LIST \"\" \"*\"'."),
                                     QStringLiteral("CMD"));
    const QCommandLineOption accept(QStringLiteral("accept-cert-error"),
                                    QStringLiteral("Forgive this certificate error (repeatable), "
                                                   "e.g. self-signed, hostname-mismatch."),
                                    QStringLiteral("NAME"));
    const QCommandLineOption blocking(QStringLiteral("blocking"),
                                      QStringLiteral("Run the session with the blocking "
                                                     "waitFor...() API."));
    const QCommandLineOption timeout(QStringLiteral("timeout"),
                                     QStringLiteral("Give up when the server is silent this long "
                                                    "(default 15)."),
                                     QStringLiteral("SECONDS"), QStringLiteral("15"));
    parser.addOptions({starttls, cafile, capath, noSystemCa, user, passwordFile, command, accept,
                       blocking, timeout});
    if (!parser.parse(app.arguments()))
        usage(parser.errorText());
    if (parser.isSet(QStringLiteral("help")))
        parser.showHelp(Success);

    Options options;
    const QStringList args = parser.positionalArguments();
    if (args.isEmpty() || args.size() > 2)
        usage(QStringLiteral("give HOST and optionally PORT"));
    options.host = args[0];
    options.starttls = parser.isSet(starttls);
    options.port = options.starttls ? 143 : 993;
    if (args.size() == 2) {
        bool ok = false;
        options.port = args[1].toUShort(&ok);
        if (!ok || options.port == 0)
            usage(QStringLiteral("invalid port '%1'").arg(args[1]));
    }
    options.blocking = parser.isSet(blocking);
    bool isNumber = false;
    const int seconds = parser.value(timeout).toInt(&isNumber);
    if (!isNumber || seconds <= 0 || seconds > 3600)
        usage(QStringLiteral("invalid timeout '%1'").arg(parser.value(timeout)));
    options.timeoutMsecs = seconds * 1000;
    options.caFile = parser.value(cafile);
    options.caPath = parser.value(capath);
    options.systemCa = !parser.isSet(noSystemCa);
    options.commands = parser.values(command);
    for (const QString &name : parser.values(accept)) {
        if (verifyErrorFromName(name.toLatin1().constData()) == VerifyError::Other &&
            name != QLatin1String("other"))
            usage(QStringLiteral("unknown certificate error name '%1'").arg(name));
        options.acceptedErrors.insert(name);
    }
    options.user = parser.value(user);
    if (!options.user.isEmpty()) {
        QFile file(parser.value(passwordFile));
        if (!parser.isSet(passwordFile) || !file.open(QIODevice::ReadOnly))
            usage(QStringLiteral("--user needs a readable --password-file"));
        options.password = file.readLine().trimmed();
    }
    return options;
}

QByteArray quoted(const QByteArray &text)
{
    QByteArray out = text;
    out.replace('\\', "\\\\").replace('"', "\\\"");
    return '"' + out + '"';
}

// The session as a list of steps, driven either by signals or by waitFor...() calls.
class ImapSession : public QObject
{
public:
    explicit ImapSession(const Options &options) : m_options(options)
    {
        SecureConfiguration config;
        config.setCaCertificatesFile(options.caFile);
        config.setCaCertificatesDirectory(options.caPath);
        config.setUseSystemCaCertificates(options.systemCa);
        m_socket.setConfiguration(config);

        connect(&m_socket, &SecureSocket::connected, this,
                [] { say(QStringLiteral("Connected")); });
        connect(&m_socket, &SecureSocket::certCheckFailed, this, &ImapSession::onCertCheckFailed);
        connect(&m_socket, &SecureSocket::certificateErrors, this,
                [this](const QList<SecureCertificateError> &errors) {
                    for (const SecureCertificateError &error : errors) {
                        if (!m_options.acceptedErrors.contains(error.name()))
                            return; // not forgiven: the handshake is aborted
                    }
                    m_socket.ignoreCertErrors();
                });
        connect(&m_socket, &SecureSocket::encrypted, this, &ImapSession::onEncrypted);
        connect(&m_socket, &SecureSocket::errorOccurred, this, &ImapSession::onError);
    }

    ~ImapSession() override
    {
        if (!m_options.password.isEmpty())
            m_options.password.fill('\0');
    }

    int runBlocking();
    void start()
    {
        // A server that stops answering (or a plain client on a TLS port) ends the session.
        m_idle.setSingleShot(true);
        m_idle.setInterval(m_options.timeoutMsecs);
        connect(&m_idle, &QTimer::timeout, this, [this] {
            noAnswer();
            m_exit = NetworkError;
            m_socket.abort();
            finish(m_exit);
        });
        m_idle.start();
        connect(&m_socket, &SecureSocket::readyRead, this, [this] {
            m_idle.start();
            onReadyRead();
        });
        connect(&m_socket, &SecureSocket::disconnected, this, [this] { finish(m_exit); });
        if (m_options.starttls)
            m_socket.connectToHost(m_options.host, m_options.port);
        else
            m_socket.connectToHostEncrypted(m_options.host, m_options.port);
    }

private:
    void onCertCheckFailed(int error, const QString &reason)
    {
        const QString name = QString::fromLatin1(verifyErrorName(static_cast<VerifyError>(error)));
        const bool accepted = m_options.acceptedErrors.contains(name);
        say(QStringLiteral("Certificate check failed: %1%2")
                .arg(reason, accepted ? QStringLiteral(" (accepted: ") + name + QLatin1Char(')')
                                      : QString()));
        if (!accepted)
            m_exit = CertificateError;
    }

    void onEncrypted()
    {
        const SecureCertificate cert = m_socket.peerCertificate();
        say(QStringLiteral("Encrypted: %1, %2")
                .arg(m_socket.sessionProtocol(), m_socket.sessionCipher()));
        say(QStringLiteral("Server certificate: %1").arg(cert.subject()));
        say(QStringLiteral("Issued by: %1").arg(cert.issuer()));
        m_verified = true;
        if (!m_options.blocking && m_options.starttls)
            send(); // no second greeting after STARTTLS
    }

    void onError(QAbstractSocket::SocketError error)
    {
        if (error == QAbstractSocket::SocketTimeoutError)
            return; // a waitFor...() call gave up: runBlocking() says so
        if (error == QAbstractSocket::RemoteHostClosedError && m_loggingOut)
            return; // the server may close as soon as it has answered LOGOUT
        if (m_exit == Success)
            m_exit = m_socket.tlsError() == SecureSocket::CertificateRejected ? CertificateError
                                                                              : NetworkError;
        if (m_exit == NetworkError)
            std::fprintf(stderr, "imapclient: %s\n", qPrintable(m_socket.errorString()));
        if (!m_options.blocking && m_socket.state() == QAbstractSocket::UnconnectedState)
            finish(m_exit);
    }

    // Handles one server line; returns true when the current command is complete.
    bool handleLine(const QByteArray &line)
    {
        say(QStringLiteral("Received: ") + QString::fromUtf8(line).trimmed());
        if (m_tag.isEmpty()) // the greeting
            return line.startsWith("* ");
        if (line.startsWith("* CAPABILITY") && line.contains(" STARTTLS"))
            m_canStarttls = true;
        if (!line.startsWith(m_tag + ' '))
            return false;
        const QByteArray status = line.mid(m_tag.size() + 1, 3).toUpper();
        if (!status.startsWith("OK")) {
            std::fprintf(stderr, "imapclient: the server refused %s: %s\n", m_step.constData(),
                         line.trimmed().constData());
            m_exit = NetworkError;
        }
        return true;
    }

    // Reads whole lines (and IMAP literals announced by {n}) as they arrive.
    bool readLines()
    {
        while (m_socket.canReadLine() || (m_literal > 0 && m_socket.bytesAvailable() > 0)) {
            if (m_literal > 0) {
                m_literal -= m_socket.read(m_literal).size();
                continue;
            }
            const QByteArray line = m_socket.readLine();
            if (line.endsWith("}\r\n") && line.contains('{'))
                m_literal = line.mid(line.lastIndexOf('{') + 1).chopped(3).toLongLong();
            if (handleLine(line))
                return true;
        }
        return false;
    }

    // The next command: STARTTLS first when asked, LOGIN only once encrypted, LOGOUT last.
    QByteArray nextCommand()
    {
        if (m_exit != Success)
            return "LOGOUT";
        if (m_options.starttls && !m_verified && m_step.isEmpty())
            return "CAPABILITY";
        if (m_options.starttls && !m_verified)
            return "STARTTLS";
        if (!m_options.user.isEmpty() && !m_loggedIn) {
            m_loggedIn = true;
            return "LOGIN " + quoted(m_options.user.toUtf8()) + ' ' + quoted(m_options.password);
        }
        if (m_next < m_options.commands.size())
            return m_options.commands[m_next++].toUtf8();
        return "LOGOUT";
    }

    // Sends the next command; returns false when the session is over.
    bool send()
    {
        const QByteArray command = nextCommand();
        if (command == "STARTTLS" && !m_canStarttls) {
            std::fprintf(stderr, "imapclient: the server does not offer STARTTLS\n");
            m_exit = NetworkError;
            m_socket.disconnectFromHost();
            return false;
        }
        m_step = command.left(command.indexOf(' ') < 0 ? command.size() : command.indexOf(' '));
        m_tag = "a" + QByteArray::number(++m_counter);
        m_loggingOut = m_step == "LOGOUT";
        m_socket.write(m_tag + ' ' + command + "\r\n");
        if (m_step == "LOGIN")
            say(QStringLiteral("Sent: %1 LOGIN %2 ****")
                    .arg(QString::fromLatin1(m_tag), m_options.user));
        else
            say(QStringLiteral("Sent: %1 %2")
                    .arg(QString::fromLatin1(m_tag), QString::fromUtf8(command)));
        return true;
    }

    // After the greeting or a completed command: upgrade after STARTTLS, close after LOGOUT,
    // else send the next command. Returns false when the session waits for something else.
    bool afterResponse()
    {
        if (m_loggingOut) {
            m_socket.disconnectFromHost(); // close_notify, then TCP close
            return false;
        }
        if (m_step == "STARTTLS" && m_exit == Success) {
            m_step = "TLS"; // the next step is sent once encrypted() says it is safe
            m_socket.startClientEncryption();
            return false;
        }
        return send();
    }

    void onReadyRead()
    {
        while (readLines() && afterResponse()) {
        }
    }

    void finish(int status)
    {
        QTimer::singleShot(0, qApp, [status] { QCoreApplication::exit(status); });
    }

    void noAnswer() const
    {
        std::fprintf(stderr, "imapclient: no answer from %s:%u in %d s\n",
                     qPrintable(m_options.host), m_options.port, m_options.timeoutMsecs / 1000);
    }

    Options m_options;
    SecureSocket m_socket;
    QTimer m_idle;
    QByteArray m_tag;  // of the command in progress; empty while waiting for the greeting
    QByteArray m_step; // its name
    int m_counter = 0;
    int m_next = 0;
    qint64 m_literal = 0;
    bool m_canStarttls = false;
    bool m_verified = false;
    bool m_loggedIn = false;
    bool m_loggingOut = false;
    int m_exit = Success;
};

int ImapSession::runBlocking()
{
    const int timeout = m_options.timeoutMsecs;
    auto failed = [this] {
        if (m_socket.error() == QAbstractSocket::SocketTimeoutError)
            noAnswer();
        return m_exit == Success ? int(NetworkError) : m_exit;
    };
    auto waitForResponse = [&] {
        while (!readLines()) {
            if (!m_socket.waitForReadyRead(timeout))
                return false;
        }
        return m_exit == Success;
    };
    if (m_options.starttls)
        m_socket.connectToHost(m_options.host, m_options.port);
    else
        m_socket.connectToHostEncrypted(m_options.host, m_options.port);
    if (!m_socket.waitForConnected(timeout) ||
        (!m_options.starttls && !m_socket.waitForEncrypted(timeout)) || !waitForResponse())
        return failed();
    if (m_options.starttls) {
        if (!send() || !waitForResponse() || !send() || !waitForResponse())
            return failed();
        m_socket.startClientEncryption();
        if (!m_socket.waitForEncrypted(timeout))
            return failed();
    }
    do {
        if (!send() || !waitForResponse())
            return failed();
    } while (!m_loggingOut);
    m_socket.disconnectFromHost();
    if (m_socket.state() != QAbstractSocket::UnconnectedState)
        m_socket.waitForDisconnected(timeout);
    return m_exit;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const Options options = parseArguments(app);
    ImapSession session(options);
    if (options.blocking)
        return session.runBlocking();
    session.start();
    return app.exec();
}
