// The imapclient example (examples/imapclient) against a real IMAP server and stand-in TLS
// servers, all on loopback, with a PKI made at run time: a test CA and, signed by it, a server
// certificate for localhost and 127.0.0.1, one for another name only, and an expired one. Each
// test runs the example as a child process, in both of its styles (event-driven and
// --blocking), and asserts on what it prints, its exit status and what the server saw.
//
// Dovecot is the real server: one private instance per server certificate, started in
// initTestCase; one that cannot start fails the test, with its log. openssl s_server and
// gnutls-serv stand in for an IMAP server to check TLS 1.2 and 1.3 with two other
// implementations:
// - s_server sends what the test writes to its stdin and prints what the client sends, so the
//   test plays the IMAP server through it (a greeting, then "OK" to each command): the whole
//   session runs and ends with the client's close_notify (s_server prints DONE), exit 0.
// - gnutls-serv cannot speak first (it only echoes, or answers HTTP requests), so no greeting
//   ever comes: asserted are the handshake at the forced version (the client's "Encrypted:"
//   line and gnutls-serv's own report), the verified certificate, and then the client giving
//   up after --timeout 1 with exit 1 and one "no answer" line.
#include "dovecotserver.h"
#include "loopbackrelay.h"
#include "peerprocess.h"
#include "pkidirectory.h"
#include "processes.h"
#include "testpki.h"

#include <QRegularExpression>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

namespace {

const QString kUser = QStringLiteral("alice");
// Distinctive, so that finding it in a capture cannot be a coincidence.
const QByteArray kPassword = "Pw-4f9c2-never-in-clear";
constexpr int kMessages = 3;
const QString kCaName = QStringLiteral("SecureSocket IMAP Test CA");
constexpr int kRunMsecs = 30000; // one client run, at most (its own timeouts are shorter)
constexpr int kLogMsecs = 5000;  // Dovecot logs a connection's end within milliseconds

const char *style(bool blocking)
{
    return blocking ? "blocking" : "event-driven";
}

// The commands of a full session, run after LOGIN.
const QStringList kCommands = {QStringLiteral("--command"), QStringLiteral("CAPABILITY"),
                               QStringLiteral("--command"), QStringLiteral("LIST \"\" \"*\""),
                               QStringLiteral("--command"), QStringLiteral("SELECT INBOX")};

// What the client prints for a full session once encrypted, from LOGIN (tag a<tag>) to LOGOUT.
QStringList sessionPatterns(int tag)
{
    const auto a = [tag](int n) { return QStringLiteral("a%1").arg(tag + n); };
    return {
        QStringLiteral("^Sent: %1 LOGIN %2 \\*\\*\\*\\*$").arg(a(0), kUser),
        QStringLiteral("^Received: %1 OK .*Logged in$").arg(a(0)),
        QStringLiteral("^Sent: %1 CAPABILITY$").arg(a(1)),
        QStringLiteral("^Received: \\* CAPABILITY IMAP4rev1 "),
        QStringLiteral("^Received: %1 OK ").arg(a(1)),
        QStringLiteral("^Sent: %1 LIST \"\" \"\\*\"$").arg(a(2)),
        QStringLiteral("^Received: \\* LIST \\(.*\\) \"\\.\" INBOX$"),
        QStringLiteral("^Received: %1 OK ").arg(a(2)),
        QStringLiteral("^Sent: %1 SELECT INBOX$").arg(a(3)),
        QStringLiteral("^Received: \\* %1 EXISTS$").arg(kMessages),
        QStringLiteral("^Received: %1 OK \\[READ-WRITE\\] ").arg(a(3)),
        QStringLiteral("^Sent: %1 LOGOUT$").arg(a(4)),
        QStringLiteral("^Received: \\* BYE "),
        QStringLiteral("^Received: %1 OK ").arg(a(4)),
    };
}

QStringList tlsPatterns(const QString &protocol, const QString &subject)
{
    return {
        QStringLiteral("^Encrypted: %1, \\S+$").arg(QRegularExpression::escape(protocol)),
        QStringLiteral("^Server certificate: CN=%1$").arg(QRegularExpression::escape(subject)),
        QStringLiteral("^Issued by: CN=%1$").arg(kCaName),
    };
}

QStringList linesStartingWith(const QStringList &lines, const QString &prefix)
{
    QStringList found;
    for (const QString &line : lines) {
        if (line.startsWith(prefix))
            found << line;
    }
    return found;
}

// The offset of the first byte of data that is not part of a complete TLS record (content type
// 20 to 23, version 3.x, length), or -1 when it is all TLS records.
qsizetype firstNonTlsByte(const QByteArray &data)
{
    qsizetype at = 0;
    while (at < data.size()) {
        if (at + 5 > data.size())
            return at;
        const auto type = static_cast<quint8>(data[at]);
        const auto major = static_cast<quint8>(data[at + 1]);
        const qsizetype length =
            (static_cast<quint8>(data[at + 3]) << 8) | static_cast<quint8>(data[at + 4]);
        if (type < 20 || type > 23 || major != 3 || at + 5 + length > data.size())
            return at;
        at += 5 + length;
    }
    return -1;
}

} // namespace

class tst_ImapClient : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();

    void imapsSession_data();
    void imapsSession();
    void starttlsSession_data();
    void starttlsSession();
    void starttlsInjectionIgnored_data();
    void starttlsInjectionIgnored();
    void starttlsNotOffered_data();
    void starttlsNotOffered();
    void certificateRejected_data();
    void certificateRejected();
    void certificateRejectedWithAlert_data();
    void certificateRejectedWithAlert();
    void certificateErrorAccepted_data();
    void certificateErrorAccepted();
    void opensslServer_data();
    void opensslServer();
    void gnutlsServer_data();
    void gnutlsServer();
    void usageError_data();
    void usageError();
    void connectionRefused_data();
    void connectionRefused();
    void silentServer_data();
    void silentServer();

private:
    ProgramRun runClient(bool blocking, const QStringList &arguments) const;
    QStringList trusting(const QString &caFile) const;
    QStringList login() const;
    DovecotServer &dovecot(const QString &name);
    void verifyTlsLogin(DovecotServer &server, qint64 mark);
    void verifyNoLoginAttempt(DovecotServer &server, qint64 mark);

    testpki::PkiDirectory m_files;
    QString m_caFile;
    QString m_otherCaFile;
    QString m_passwordFile;
    QString m_leafCert; // localhost and 127.0.0.1, for the stand-in servers
    QString m_leafKey;
    DovecotServer m_dovecot{kUser, kPassword, kMessages};   // localhost, 127.0.0.1
    DovecotServer m_wrongName{kUser, kPassword, kMessages}; // imap.example.test only
    DovecotServer m_expired{kUser, kPassword, kMessages};   // localhost, 127.0.0.1, expired
};

ProgramRun tst_ImapClient::runClient(bool blocking, const QStringList &arguments) const
{
    return runProgram(QStringLiteral(IMAPCLIENT_PATH),
                      blocking ? QStringList{QStringLiteral("--blocking")} + arguments : arguments,
                      kRunMsecs);
}

QStringList tst_ImapClient::trusting(const QString &caFile) const
{
    return {QStringLiteral("--cafile"), caFile, QStringLiteral("--no-system-ca")};
}

QStringList tst_ImapClient::login() const
{
    return {QStringLiteral("--user"), kUser, QStringLiteral("--password-file"), m_passwordFile};
}

DovecotServer &tst_ImapClient::dovecot(const QString &name)
{
    if (name == QLatin1String("wrong name"))
        return m_wrongName;
    if (name == QLatin1String("expired"))
        return m_expired;
    return m_dovecot;
}

void tst_ImapClient::initTestCase()
{
    QVERIFY2(QFile::exists(QStringLiteral(IMAPCLIENT_PATH)), IMAPCLIENT_PATH);
    QVERIFY(m_files.isValid());
    testpki::Issued ca, leaf, wrongName, expired;
    try {
        m_caFile = m_files.issue(QStringLiteral("ca"), testpki::caSpec(kCaName.toStdString()),
                                 nullptr, &ca);
        m_otherCaFile =
            m_files.issue(QStringLiteral("other-ca"), testpki::caSpec("Some Other CA"), nullptr);
        const testpki::CertSpec leafSpec = testpki::localhostSpec();
        m_leafCert = m_files.issue(QStringLiteral("leaf"), leafSpec, &ca, &leaf);
        m_leafKey = testpki::PkiDirectory::keyFileOf(m_leafCert);
        // Dovecot takes these as PEM text: only the stand-in servers' leaf needs files.
        testpki::CertSpec expiredSpec = leafSpec;
        expiredSpec.notBeforeOffset = -30L * 24 * 3600;
        expiredSpec.notAfterOffset = -24L * 3600;
        expired = testpki::makeCertificate(expiredSpec, &ca);
        wrongName = testpki::makeCertificate(
            testpki::serverSpec("imap.example.test", {"imap.example.test"}), &ca);
        m_passwordFile = m_files.write(QStringLiteral("password"), kPassword.toStdString() + "\n");
    } catch (const std::exception &e) {
        QFAIL(e.what());
    }
    const struct
    {
        DovecotServer &server;
        const testpki::Issued &cert;
    } servers[] = {{m_dovecot, leaf}, {m_wrongName, wrongName}, {m_expired, expired}};
    for (const auto &s : servers) {
        QVERIFY2(s.server.start(QByteArray::fromStdString(s.cert.certPem),
                                QByteArray::fromStdString(s.cert.keyPem)),
                 qPrintable(s.server.errorString()));
    }
}

void tst_ImapClient::cleanupTestCase()
{
    const std::initializer_list<DovecotServer *> servers = {&m_dovecot, &m_wrongName, &m_expired};
    for (DovecotServer *server : servers)
        server->requestStop();
    for (DovecotServer *server : servers)
        QVERIFY2(server->stop(), qPrintable(server->errorString()));
}

// Dovecot logged one successful login of the test user, made over TLS.
void tst_ImapClient::verifyTlsLogin(DovecotServer &server, qint64 mark)
{
    QVERIFY2(server.waitForLog(mark, "Logged out", kLogMsecs), server.log().mid(mark));
    const QString log = QString::fromUtf8(server.log().mid(mark));
    const QRegularExpression tlsLogin(
        QStringLiteral("imap-login: Info: Login: user=<%1>, method=PLAIN, .*, TLS, ").arg(kUser));
    QVERIFY2(tlsLogin.match(log).hasMatch(), qPrintable(log));
    QCOMPARE(log.count(QStringLiteral("Login: ")), 1);
}

// Dovecot logged the connection's end, and no login attempt (auth_verbose logs each one).
void tst_ImapClient::verifyNoLoginAttempt(DovecotServer &server, qint64 mark)
{
    QVERIFY2(server.waitForLog(mark, "Disconnected", kLogMsecs), server.log().mid(mark));
    const QString log = QString::fromUtf8(server.log().mid(mark));
    // Dovecot's reasons for a client that never tried to log in (login-common/client-common.c).
    static const QRegularExpression noAttempt(
        QStringLiteral("\\((no auth attempts|disconnected before auth was ready)"));
    QVERIFY2(noAttempt.match(log).hasMatch(), qPrintable(log));
    QVERIFY2(!log.contains(QLatin1String("Login: ")), qPrintable(log));
    QVERIFY2(!log.contains(kUser), qPrintable(log));
}

void tst_ImapClient::imapsSession_data()
{
    QTest::addColumn<QString>("host");
    QTest::addColumn<bool>("blocking");
    for (const bool blocking : {false, true}) {
        for (const char *host : {"localhost", "127.0.0.1"})
            QTest::addRow("%s, %s", host, style(blocking)) << QString::fromLatin1(host) << blocking;
    }
}

// Implicit TLS on Dovecot's imaps port: the whole session, logged in over TLS.
void tst_ImapClient::imapsSession()
{
    QFETCH(QString, host);
    QFETCH(bool, blocking);
    const qint64 mark = m_dovecot.logSize();
    const ProgramRun run =
        runClient(blocking, trusting(m_caFile) + login() + kCommands +
                                QStringList{host, QString::number(m_dovecot.imapsPort())});
    QVERIFY2(run.finished && run.exitCode == 0 && run.err.isEmpty(), qPrintable(run.describe()));
    const QString missing = firstMissingInOrder(
        run.outLines(), QStringList{QStringLiteral("^Connected$")} +
                            tlsPatterns(QStringLiteral("TLSv1.3"), QStringLiteral("localhost")) +
                            QStringList{QStringLiteral(
                                "^Received: \\* OK \\[CAPABILITY IMAP4rev1 .*\\] .*ready\\.$")} +
                            sessionPatterns(1));
    QVERIFY2(missing.isEmpty(),
             qPrintable(QStringLiteral("no line matches ") + missing + run.describe()));
    QVERIFY(!run.out.contains("Certificate check failed"));
    QVERIFY(!run.out.contains(kPassword));
    verifyTlsLogin(m_dovecot, mark);
}

void tst_ImapClient::starttlsSession_data()
{
    QTest::addColumn<bool>("blocking");
    for (const bool blocking : {false, true})
        QTest::addRow("%s", style(blocking)) << blocking;
}

// STARTTLS on Dovecot's plain port, through a relay that records what the client sends: the
// plaintext part is exactly CAPABILITY and STARTTLS, everything after it is TLS records, and
// neither the password nor the LOGIN command ever appears on the wire.
void tst_ImapClient::starttlsSession()
{
    QFETCH(bool, blocking);
    LoopbackRelay relay(m_dovecot.imapPort());
    QVERIFY2(relay.listen(), qPrintable(relay.errorString()));
    const qint64 mark = m_dovecot.logSize();
    const ProgramRun run = runClient(
        blocking, QStringList{QStringLiteral("--starttls")} + trusting(m_caFile) + login() +
                      kCommands +
                      QStringList{QStringLiteral("localhost"), QString::number(relay.port())});
    QVERIFY2(run.finished && run.exitCode == 0 && run.err.isEmpty(), qPrintable(run.describe()));
    const QStringList lines = run.outLines();
    const QString missing = firstMissingInOrder(
        lines,
        QStringList{
            QStringLiteral("^Connected$"),
            QStringLiteral(
                "^Received: \\* OK \\[CAPABILITY IMAP4rev1 .* STARTTLS .*\\] .*ready\\.$"),
            QStringLiteral("^Sent: a1 CAPABILITY$"),
            QStringLiteral("^Received: \\* CAPABILITY .* STARTTLS"),
            QStringLiteral("^Received: a1 OK "),
            QStringLiteral("^Sent: a2 STARTTLS$"),
            QStringLiteral("^Received: a2 OK Begin TLS"),
        } + tlsPatterns(QStringLiteral("TLSv1.3"), QStringLiteral("localhost")) +
            sessionPatterns(3));
    QVERIFY2(missing.isEmpty(),
             qPrintable(QStringLiteral("no line matches ") + missing + run.describe()));
    // Nothing was read between the STARTTLS answer and the end of the handshake.
    const qsizetype upgrade =
        lines.indexOf(QStringLiteral("Received: a2 OK Begin TLS negotiation now."));
    QVERIFY2(upgrade >= 0 && lines.value(upgrade + 1).startsWith(QLatin1String("Encrypted: ")),
             qPrintable(run.describe()));
    QVERIFY(!run.out.contains(kPassword));

    const QByteArray wire = relay.clientBytes();
    const QByteArray plaintext = "a1 CAPABILITY\r\na2 STARTTLS\r\n";
    QVERIFY2(wire.startsWith(plaintext), wire.left(200).toHex(' '));
    const QByteArray tls = wire.mid(plaintext.size());
    QVERIFY2(!tls.isEmpty() && tls.at(0) == 22, tls.left(16).toHex(' ')); // a handshake record
    const qsizetype stray = firstNonTlsByte(tls);
    QVERIFY2(stray < 0, qPrintable(QStringLiteral("not a TLS record at %1 after STARTTLS: %2")
                                       .arg(stray)
                                       .arg(QString::fromLatin1(tls.mid(stray, 32).toHex(' ')))));
    QVERIFY2(!wire.contains(kPassword), "the password crossed the wire in clear");
    QVERIFY2(!wire.contains("LOGIN"), "LOGIN crossed the wire in clear");
    verifyTlsLogin(m_dovecot, mark);
}

void tst_ImapClient::starttlsInjectionIgnored_data()
{
    starttlsSession_data();
}

// A man in the middle appends a plaintext response right after the server's STARTTLS answer,
// in the same TCP segment: it must never be read as part of the encrypted session.
void tst_ImapClient::starttlsInjectionIgnored()
{
    QFETCH(bool, blocking);
    LoopbackRelay relay(m_dovecot.imapPort());
    QVERIFY2(relay.listen(), qPrintable(relay.errorString()));
    relay.injectAfter("OK Begin TLS negotiation now.\r\n", "* 99 EXISTS\r\n");
    const ProgramRun run = runClient(
        blocking, QStringList{QStringLiteral("--starttls")} + trusting(m_caFile) + login() +
                      kCommands +
                      QStringList{QStringLiteral("localhost"), QString::number(relay.port())});
    QVERIFY2(run.finished && run.exitCode == 0, qPrintable(run.describe()));
    QVERIFY2(!run.out.contains("99 EXISTS"), qPrintable(run.describe()));
    QVERIFY2(run.outLines().contains(QStringLiteral("Received: * %1 EXISTS").arg(kMessages)),
             qPrintable(run.describe()));
}

void tst_ImapClient::starttlsNotOffered_data()
{
    starttlsSession_data();
}

// A plain server whose capabilities lack STARTTLS (as a man in the middle stripping it would
// make them): the client gives up, exit 1, having sent nothing but CAPABILITY.
void tst_ImapClient::starttlsNotOffered()
{
    QFETCH(bool, blocking);
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    QByteArray received;
    connect(&server, &QTcpServer::newConnection, this, [&] {
        QTcpSocket *socket = server.nextPendingConnection();
        socket->write("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] plain only\r\n");
        connect(socket, &QTcpSocket::readyRead, socket, [&received, socket] {
            received += socket->readAll();
            if (received == "a1 CAPABILITY\r\n")
                socket->write("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na1 OK done\r\n");
        });
    });
    const ProgramRun run =
        runClient(blocking, QStringList{QStringLiteral("--starttls"), QStringLiteral("--timeout"),
                                        QStringLiteral("5")} +
                                trusting(m_caFile) + login() +
                                QStringList{QStringLiteral("127.0.0.1"),
                                            QString::number(server.serverPort())});
    QVERIFY2(run.finished && run.exitCode == 1, qPrintable(run.describe()));
    QCOMPARE(run.errLines(),
             QStringList{QStringLiteral("imapclient: the server does not offer STARTTLS")});
    QCOMPARE(received, QByteArray("a1 CAPABILITY\r\n"));
}

void tst_ImapClient::certificateRejected_data()
{
    QTest::addColumn<QString>("server");
    QTest::addColumn<bool>("starttls");
    QTest::addColumn<QString>("host");
    QTest::addColumn<QString>("caFile"); // "test", "other" or empty for the system store
    QTest::addColumn<QStringList>("accepted");
    QTest::addColumn<QString>("reason"); // what follows "Certificate check failed: "
    QTest::addColumn<bool>("blocking");

    const QString unknownIssuer =
        QStringLiteral("unknown issuer: certificate 'CN=localhost' was issued by 'CN=%1', which "
                       "is neither a trusted CA nor sent by the peer$")
            .arg(kCaName);
    const QString wrongName = QStringLiteral("hostname mismatch: certificate "
                                             "'CN=imap.example.test' is valid for "
                                             "imap.example.test; connected to localhost$");
    const QString wrongIp = QStringLiteral("IP address mismatch: certificate "
                                           "'CN=imap.example.test' is valid for "
                                           "imap.example.test; connected to 127.0.0.1$");
    const QString expired = QStringLiteral("certificate expired: certificate 'CN=localhost' was "
                                           "valid until [^(]+$");
    const QString dovecot = QStringLiteral("test"), otherName = QStringLiteral("wrong name"),
                  expiredCert = QStringLiteral("expired");
    const QString localhost = QStringLiteral("localhost"), ip = QStringLiteral("127.0.0.1");
    const QString testCa = QStringLiteral("test"), otherCa = QStringLiteral("other"), systemCa;
    for (const bool blocking : {false, true}) {
        const auto row = [blocking](const char *name) -> QTestData & {
            return QTest::addRow("%s, %s", name, style(blocking));
        };
        row("wrong CA") << dovecot << false << localhost << otherCa << QStringList()
                        << unknownIssuer << blocking;
        row("wrong CA, STARTTLS") << dovecot << true << localhost << otherCa << QStringList()
                                  << unknownIssuer << blocking;
        row("system CAs only") << dovecot << false << localhost << systemCa << QStringList()
                               << unknownIssuer << blocking;
        row("wrong host name") << otherName << false << localhost << testCa << QStringList()
                               << wrongName << blocking;
        row("wrong host name, STARTTLS")
            << otherName << true << localhost << testCa << QStringList() << wrongName << blocking;
        row("wrong IP address") << otherName << false << ip << testCa << QStringList() << wrongIp
                                << blocking;
        row("expired") << expiredCert << false << localhost << testCa << QStringList() << expired
                       << blocking;
        row("expired, other errors forgiven")
            << expiredCert << false << localhost << testCa
            << QStringList{QStringLiteral("hostname-mismatch"), QStringLiteral("unknown-issuer")}
            << expired << blocking;
    }
}

// A certificate that fails verification: its reason printed (once), exit 2, and nothing sent
// once TLS started, so no password: Dovecot saw the connection end with no login attempt.
void tst_ImapClient::certificateRejected()
{
    QFETCH(QString, server);
    QFETCH(bool, starttls);
    QFETCH(QString, host);
    QFETCH(QString, caFile);
    QFETCH(QStringList, accepted);
    QFETCH(QString, reason);
    QFETCH(bool, blocking);
    DovecotServer &dovecot = this->dovecot(server);
    QStringList arguments = login();
    if (!caFile.isEmpty())
        arguments += trusting(caFile == QLatin1String("other") ? m_otherCaFile : m_caFile);
    for (const QString &name : accepted)
        arguments << QStringLiteral("--accept-cert-error") << name;
    if (starttls)
        arguments << QStringLiteral("--starttls");
    arguments << host << QString::number(starttls ? dovecot.imapPort() : dovecot.imapsPort());
    const qint64 mark = dovecot.logSize();
    const ProgramRun run = runClient(blocking, arguments);

    QVERIFY2(run.finished && run.exitCode == 2 && run.err.isEmpty(), qPrintable(run.describe()));
    const QStringList lines = run.outLines();
    const QStringList failures =
        linesStartingWith(lines, QStringLiteral("Certificate check failed: "));
    QVERIFY2(failures.size() == 1, qPrintable(run.describe()));
    QVERIFY2(QRegularExpression(QStringLiteral("^Certificate check failed: ") + reason)
                 .match(failures.first())
                 .hasMatch(),
             qPrintable(QStringLiteral("expected the reason ") + reason + run.describe()));
    QVERIFY2(linesStartingWith(lines, QStringLiteral("Encrypted: ")).isEmpty(),
             qPrintable(run.describe()));
    const QStringList sent = linesStartingWith(lines, QStringLiteral("Sent: "));
    const QStringList expectedSent = starttls ? QStringList{QStringLiteral("Sent: a1 CAPABILITY"),
                                                            QStringLiteral("Sent: a2 STARTTLS")}
                                              : QStringList();
    QCOMPARE(sent, expectedSent);
    // Nothing was read once TLS started (with STARTTLS: after the answer to STARTTLS).
    const qsizetype upgrade =
        starttls ? lines.indexOf(QStringLiteral("Received: a2 OK Begin TLS negotiation now.")) : 0;
    QVERIFY2(upgrade >= 0 && linesStartingWith(lines.mid(upgrade + (starttls ? 1 : 0)),
                                               QStringLiteral("Received: "))
                                 .isEmpty(),
             qPrintable(run.describe()));
    verifyNoLoginAttempt(dovecot, mark);
}

void tst_ImapClient::certificateRejectedWithAlert_data()
{
    starttlsSession_data();
}

// The server is told why: a rejected handshake ends with a fatal alert (unknown_ca, 48, for an
// unknown issuer), which Dovecot logs, in both styles. A blocking program ends right after
// waitForEncrypted() returns false, with no event loop to flush the transport later.
void tst_ImapClient::certificateRejectedWithAlert()
{
    QFETCH(bool, blocking);
    const qint64 mark = m_dovecot.logSize();
    const ProgramRun run = runClient(
        blocking, trusting(m_otherCaFile) + QStringList{QStringLiteral("localhost"),
                                                        QString::number(m_dovecot.imapsPort())});
    QVERIFY2(run.finished && run.exitCode == 2, qPrintable(run.describe()));
    QVERIFY2(m_dovecot.waitForLog(mark, "Disconnected", kLogMsecs), m_dovecot.log().mid(mark));
    const QByteArray log = m_dovecot.log().mid(mark);
    QVERIFY2(log.contains("alert unknown ca: SSL alert number 48"), log);
}

void tst_ImapClient::certificateErrorAccepted_data()
{
    QTest::addColumn<QString>("server");
    QTest::addColumn<QString>("host");
    QTest::addColumn<bool>("otherCa");
    QTest::addColumn<QString>("accepted");
    QTest::addColumn<QString>("subject");
    QTest::addColumn<bool>("blocking");
    const QString otherName = QStringLiteral("wrong name"), dovecot = QStringLiteral("test");
    const QString localhost = QStringLiteral("localhost"), ip = QStringLiteral("127.0.0.1");
    const QString exampleName = QStringLiteral("imap.example.test");
    for (const bool blocking : {false, true}) {
        QTest::addRow("hostname-mismatch, %s", style(blocking))
            << otherName << localhost << false << QStringLiteral("hostname-mismatch") << exampleName
            << blocking;
        QTest::addRow("ip-mismatch, %s", style(blocking))
            << otherName << ip << false << QStringLiteral("ip-mismatch") << exampleName << blocking;
        QTest::addRow("unknown-issuer, %s", style(blocking))
            << dovecot << localhost << true << QStringLiteral("unknown-issuer") << localhost
            << blocking;
    }
}

// --accept-cert-error NAME forgives that one failure, in the slot: the session goes on.
void tst_ImapClient::certificateErrorAccepted()
{
    QFETCH(QString, server);
    QFETCH(QString, host);
    QFETCH(bool, otherCa);
    QFETCH(QString, accepted);
    QFETCH(QString, subject);
    QFETCH(bool, blocking);
    DovecotServer &dovecot = this->dovecot(server);
    const qint64 mark = dovecot.logSize();
    const ProgramRun run =
        runClient(blocking, trusting(otherCa ? m_otherCaFile : m_caFile) + login() + kCommands +
                                QStringList{QStringLiteral("--accept-cert-error"), accepted, host,
                                            QString::number(dovecot.imapsPort())});
    QVERIFY2(run.finished && run.exitCode == 0 && run.err.isEmpty(), qPrintable(run.describe()));
    const QStringList failures =
        linesStartingWith(run.outLines(), QStringLiteral("Certificate check failed: "));
    QVERIFY2(failures.size() == 1 &&
                 failures.first().endsWith(QStringLiteral(" (accepted: %1)").arg(accepted)),
             qPrintable(run.describe()));
    const QString missing = firstMissingInOrder(
        run.outLines(), tlsPatterns(QStringLiteral("TLSv1.3"), subject) + sessionPatterns(1));
    QVERIFY2(missing.isEmpty(),
             qPrintable(QStringLiteral("no line matches ") + missing + run.describe()));
    verifyTlsLogin(dovecot, mark);
}

void tst_ImapClient::opensslServer_data()
{
    QTest::addColumn<QString>("protocol");
    QTest::addColumn<bool>("blocking");
    for (const bool blocking : {false, true}) {
        for (const char *protocol : {"TLSv1.2", "TLSv1.3"})
            QTest::addRow("%s, %s", protocol, style(blocking))
                << QString::fromLatin1(protocol) << blocking;
    }
}

// openssl s_server with the version forced: the test plays the IMAP server through its stdin
// and stdout, and the whole session runs, ending with the client's close_notify.
void tst_ImapClient::opensslServer()
{
    QFETCH(QString, protocol);
    QFETCH(bool, blocking);
    const QString version = protocol == QLatin1String("TLSv1.2") ? QStringLiteral("-tls1_2")
                                                                 : QStringLiteral("-tls1_3");
    PeerProcess server;
    server.setMergedChannels(true);
    // On port 0: s_server prints the port it got ("ACCEPT 127.0.0.1:PORT").
    const QStringList arguments{QStringLiteral("s_server"), version,
                                QStringLiteral("-naccept"), QStringLiteral("1"),
                                QStringLiteral("-cert"),    m_leafCert,
                                QStringLiteral("-key"),     m_leafKey,
                                QStringLiteral("-accept"),  QStringLiteral("127.0.0.1:0")};
    QVERIFY2(server.startServer(
                 QStringLiteral("openssl"), arguments,
                 PeerProcess::portFromOutput(QStringLiteral("^ACCEPT 127\\.0\\.0\\.1:(\\d+)$"))),
             qPrintable(server.errorString()));
    // s_server sends its stdin to the client once connected, and prints what the client sends.
    server.write("* OK [CAPABILITY IMAP4rev1] stand-in ready\r\n");
    server.onOutputLine([&server](const QByteArray &line) {
        static const QRegularExpression command(QStringLiteral("^(a\\d+) (\\w+)"));
        const QRegularExpressionMatch m = command.match(QString::fromLatin1(line));
        if (!m.hasMatch())
            return;
        QByteArray reply;
        if (m.captured(2) == QLatin1String("LOGOUT"))
            reply += "* BYE stand-in closing\r\n";
        reply += m.captured(1).toLatin1() + " OK " + m.captured(2).toLatin1() + " done\r\n";
        server.write(reply);
    });
    const ProgramRun run = runClient(
        blocking, trusting(m_caFile) +
                      QStringList{QStringLiteral("--command"), QStringLiteral("NOOP"),
                                  QStringLiteral("localhost"), QString::number(server.port())});
    const QString context = run.describe() + QStringLiteral("\n--- server: ") + server.describe();
    QVERIFY2(run.finished && run.exitCode == 0 && run.err.isEmpty(), qPrintable(context));
    const QString missing = firstMissingInOrder(
        run.outLines(),
        QStringList{QStringLiteral("^Connected$")} +
            tlsPatterns(protocol, QStringLiteral("localhost")) +
            QStringList{
                QStringLiteral("^Received: \\* OK \\[CAPABILITY IMAP4rev1\\] stand-in ready$"),
                QStringLiteral("^Sent: a1 NOOP$"),
                QStringLiteral("^Received: a1 OK NOOP done$"),
                QStringLiteral("^Sent: a2 LOGOUT$"),
                QStringLiteral("^Received: \\* BYE stand-in closing$"),
                QStringLiteral("^Received: a2 OK LOGOUT done$"),
            });
    QVERIFY2(missing.isEmpty(), qPrintable(QStringLiteral("no line matches ") + missing + context));
    // s_server prints DONE when it reads close_notify, and exits after its one connection.
    QVERIFY2(server.waitForExit(5000) && server.exitCode() == 0, qPrintable(context));
    QVERIFY2(server.standardOutput().contains("\nDONE\n"), qPrintable(context));
}

void tst_ImapClient::gnutlsServer_data()
{
    opensslServer_data();
}

// gnutls-serv with the version forced. It cannot send a greeting (see the top of this file):
// the handshake completes at that version, on both sides, then the client gives up waiting.
void tst_ImapClient::gnutlsServer()
{
    QFETCH(QString, protocol);
    QFETCH(bool, blocking);
    const bool tls12 = protocol == QLatin1String("TLSv1.2");
    PeerProcess server;
    server.setMergedChannels(true);
    const QStringList arguments{QStringLiteral("--echo"),
                                QStringLiteral("--priority"),
                                QStringLiteral("NORMAL:-VERS-ALL:+VERS-TLS1.%1").arg(tls12 ? 2 : 3),
                                QStringLiteral("--x509certfile"),
                                m_leafCert,
                                QStringLiteral("--x509keyfile"),
                                m_leafKey,
                                QStringLiteral("-p"),
                                QStringLiteral("0")};
    // On port 0 gnutls-serv prints "port 0" and binds IPv4 and IPv6 to two different ports: the
    // IPv4 one (localhost is 127.0.0.1 here) is read from the system once it says it listens.
    QVERIFY2(server.startServer(QStringLiteral("gnutls-serv"), arguments,
                                PeerProcess::listeningIpv4Port("IPv4 0.0.0.0 port 0...done")),
             qPrintable(server.errorString()));
    const ProgramRun run = runClient(
        blocking, trusting(m_caFile) + QStringList{QStringLiteral("--timeout"), QStringLiteral("1"),
                                                   QStringLiteral("localhost"),
                                                   QString::number(server.port())});
    const QString context = run.describe() + QStringLiteral("\n--- server: ") + server.describe();
    QVERIFY2(run.finished && run.exitCode == 1, qPrintable(context));
    const QString missing =
        firstMissingInOrder(run.outLines(), QStringList{QStringLiteral("^Connected$")} +
                                                tlsPatterns(protocol, QStringLiteral("localhost")));
    QVERIFY2(missing.isEmpty(), qPrintable(QStringLiteral("no line matches ") + missing + context));
    QVERIFY2(linesStartingWith(run.outLines(), QStringLiteral("Received: ")).isEmpty(),
             qPrintable(context));
    QCOMPARE(
        run.errLines(),
        QStringList{
            QStringLiteral("imapclient: no answer from localhost:%1 in 1 s").arg(server.port())});
    QVERIFY2(server.waitForOutput(tls12 ? "- Version: TLS1.2" : "- Version: TLS1.3", 5000),
             qPrintable(context));
}

void tst_ImapClient::usageError_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("message");
    const auto args = [](std::initializer_list<const char *> list) {
        QStringList out;
        for (const char *arg : list)
            out << QString::fromLatin1(arg);
        return out;
    };
    QTest::newRow("no host") << QStringList() << QStringLiteral("give HOST and optionally PORT");
    QTest::newRow("too many arguments")
        << args({"localhost", "993", "extra"}) << QStringLiteral("give HOST and optionally PORT");
    QTest::newRow("port not a number")
        << args({"localhost", "imaps"}) << QStringLiteral("invalid port 'imaps'");
    QTest::newRow("port out of range")
        << args({"localhost", "70000"}) << QStringLiteral("invalid port '70000'");
    QTest::newRow("port zero") << args({"localhost", "0"}) << QStringLiteral("invalid port '0'");
    QTest::newRow("unknown certificate error name")
        << args({"--accept-cert-error", "self-sign", "localhost"})
        << QStringLiteral("unknown certificate error name 'self-sign'");
    QTest::newRow("user without password file")
        << args({"--user", "alice", "localhost"})
        << QStringLiteral("--user needs a readable --password-file");
    QTest::newRow("unreadable password file")
        << args({"--user", "alice", "--password-file", "/nonexistent/password", "localhost"})
        << QStringLiteral("--user needs a readable --password-file");
    QTest::newRow("bad timeout") << args({"--timeout", "0", "localhost"})
                                 << QStringLiteral("invalid timeout '0'");
    QTest::newRow("unknown option") << args({"--no-such-option", "localhost"})
                                    << QStringLiteral("Unknown option 'no-such-option'");
}

// Exit 64 and one line on stderr, before any connection.
void tst_ImapClient::usageError()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, message);
    const ProgramRun run = runClient(false, arguments);
    QVERIFY2(run.finished && run.exitCode == 64 && run.out.isEmpty(), qPrintable(run.describe()));
    const QStringList err = run.errLines();
    QVERIFY2(err.size() == 1 && err.first().startsWith(QLatin1String("imapclient: ")) &&
                 err.first().endsWith(QLatin1String(" (see --help)")) &&
                 err.first().contains(message),
             qPrintable(run.describe()));
}

void tst_ImapClient::connectionRefused_data()
{
    starttlsSession_data();
}

// Nothing listens on the port: exit 1 and one line on stderr.
void tst_ImapClient::connectionRefused()
{
    QFETCH(bool, blocking);
    const testsupport::RefusingPort refusing;
    const quint16 port = refusing.port();
    QVERIFY(port != 0);
    const ProgramRun run =
        runClient(blocking, trusting(m_caFile) +
                                QStringList{QStringLiteral("127.0.0.1"), QString::number(port)});
    QVERIFY2(run.finished && run.exitCode == 1 && run.out.isEmpty(), qPrintable(run.describe()));
    QCOMPARE(run.errLines(), QStringList{QStringLiteral("imapclient: Connection refused")});
}

void tst_ImapClient::silentServer_data()
{
    QTest::addColumn<bool>("starttls");
    QTest::addColumn<bool>("blocking");
    for (const bool blocking : {false, true}) {
        QTest::addRow("IMAPS, %s", style(blocking)) << false << blocking;
        QTest::addRow("STARTTLS, %s", style(blocking)) << true << blocking;
    }
}

// A server that accepts and never answers (no TLS handshake, no greeting): the client gives up
// after its --timeout, exit 1 and one line on stderr.
void tst_ImapClient::silentServer()
{
    QFETCH(bool, starttls);
    QFETCH(bool, blocking);
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    QStringList arguments = trusting(m_caFile);
    if (starttls)
        arguments << QStringLiteral("--starttls");
    arguments << QStringLiteral("--timeout") << QStringLiteral("1") << QStringLiteral("127.0.0.1")
              << QString::number(server.serverPort());
    const ProgramRun run = runClient(blocking, arguments);
    QVERIFY2(run.finished && run.exitCode == 1, qPrintable(run.describe()));
    QCOMPARE(run.outLines(), QStringList{QStringLiteral("Connected")});
    QCOMPARE(run.errLines(), QStringList{QStringLiteral("imapclient: no answer from "
                                                        "127.0.0.1:%1 in 1 s")
                                             .arg(server.serverPort())});
    // After its timeout of one second (a coarse timer may fire up to 5% early), and soon after:
    // the rest is the start of a process, slower under sanitizers.
    QVERIFY2(run.msecs >= 900 && run.msecs < 6000, qPrintable(run.describe()));
}

QTEST_GUILESS_MAIN(tst_ImapClient)
#include "tst_imapclient.moc"
