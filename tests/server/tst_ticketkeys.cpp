// Session tickets across restarts and processes: echoserver processes sharing a ticket key file
// (--ticket-key-file, or [Common] ticketKeyFile) resume each other's sessions, for our own
// SecureSocket (behind one address, as behind a load balancer) and for openssl s_client
// (-sess_out / -sess_in); a restarted server resumes; another file does not. Rotation by the
// wall clock, moved through the test hook, with SecureServer in this process. Bad key files
// stop validate() and the echoserver with a sentence naming the file. A client's session
// exported (sessionTicket()) and imported (setSessionTicket()) resumes in a fresh context; a
// session with forgiven failures exports nothing; a ticket for another host is not used; garbage
// is ignored with a warning.
#include <SecureSocket/secureserver.h>

#include "handshake.h"
#include "recheckclock.h"
#include "serverhelpers.h"
#include "testhooks_p.h"

#include <QFile>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <chrono>
#include <memory>

using servertest::EchoServer;
using servertest::waitUntil;

namespace {

// One address in front of several servers, as a load balancer is: each new connection goes to
// the server of the moment (setBackend()), bytes relayed both ways as they come.
class FrontDoor : public QObject
{
public:
    bool listen() { return m_server.listen(QHostAddress::LocalHost, 0); }
    quint16 port() const { return m_server.serverPort(); }
    void setBackend(quint16 port) { m_backend = port; }

    FrontDoor()
    {
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *client = m_server.nextPendingConnection())
                relay(client);
        });
    }

private:
    void relay(QTcpSocket *client)
    {
        auto *backend = new QTcpSocket(client);
        auto pending = std::make_shared<QByteArray>(); // from the client, before the backend is up
        connect(client, &QTcpSocket::readyRead, backend, [client, backend, pending] {
            if (backend->state() == QAbstractSocket::ConnectedState)
                backend->write(client->readAll());
            else
                *pending += client->readAll();
        });
        connect(backend, &QTcpSocket::connected, client, [client, backend, pending] {
            backend->write(*pending);
            pending->clear();
            backend->write(client->readAll());
        });
        connect(backend, &QTcpSocket::readyRead, client,
                [client, backend] { client->write(backend->readAll()); });
        connect(client, &QTcpSocket::disconnected, backend, &QTcpSocket::disconnectFromHost);
        connect(backend, &QTcpSocket::disconnected, client, &QTcpSocket::disconnectFromHost);
        connect(client, &QTcpSocket::disconnected, client, &QObject::deleteLater);
        backend->connectToHost(QHostAddress::LocalHost, m_backend);
    }

    QTcpServer m_server;
    quint16 m_backend = 0;
};

// SecureServer in this process, echoing, counting the sessions it resumed.
class InProcessEcho : public QObject
{
public:
    bool listen(const SecureConfiguration &config)
    {
        m_server.setConfiguration(config);
        connect(&m_server, &SecureServer::newConnection, this, [this] {
            while (SecureSocket *socket = m_server.nextPendingSecureConnection()) {
                m_resumed += socket->isSessionResumed() ? 1 : 0;
                connect(socket, &SecureSocket::readyRead, socket,
                        [socket] { socket->write(socket->readAll()); });
                connect(socket, &SecureSocket::disconnected, socket, &QObject::deleteLater);
            }
        });
        return m_server.listen(QHostAddress::LocalHost, 0);
    }
    quint16 port() const { return m_server.serverPort(); }
    int resumed() const { return m_resumed; }

private:
    SecureServer m_server;
    int m_resumed = 0;
};

// What one connection of our client saw.
struct Outcome
{
    QString failure; // empty when the echo came back
    bool resumed = false;
    QByteArray ticket; // sessionTicket() at the end
    int ticketSignals = 0;
};

// "echoserver: sessions: N handshakes, M resumed", printed on exit: {N, M}, or {-1, -1}.
QPair<int, int> sessionCounts(const QByteArray &log)
{
    static const QRegularExpression line(
        QStringLiteral("echoserver: sessions: (\\d+) handshakes, (\\d+) resumed"));
    const auto match = line.match(QString::fromUtf8(log));
    return match.hasMatch() ? qMakePair(match.captured(1).toInt(), match.captured(2).toInt())
                            : qMakePair(-1, -1);
}

} // namespace

class TestTicketKeys : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void ourClientResumesOnTheOtherProcess_data();
    void ourClientResumesOnTheOtherProcess();
    void restartedServerResumes();
    void otherKeyFileDoesNotResume();
    void opensslResumesOnTheOtherProcess_data();
    void opensslResumesOnTheOtherProcess();
    void iniKeyFileIsShared();
    void rotationByTheWallClock();
    void badKeyFiles_data();
    void badKeyFiles();
    void keyFileReplacedOnDisk();
    void reloadReadsTheKeyFile();

    void exportedTicketResumesInAFreshClient_data();
    void exportedTicketResumesInAFreshClient();
    void ticketAfterForgivenFailuresIsEmpty();
    void ticketForAnotherHostIsNotUsed();
    void garbageTicketsAreIgnored();

private:
    QString keyFile(const QString &name, const QByteArray &content = {},
                    QFile::Permissions permissions = QFile::ReadOwner | QFile::WriteOwner);
    QStringList serverArguments(const QString &keyFile) const;
    // Starts an echoserver into slot; false (with a message) if it does not come up.
    bool startServer(std::unique_ptr<EchoServer> &slot, const QStringList &arguments);
    // SIGTERM, then its session counts from the log.
    QPair<int, int> stop(EchoServer &server);
    SecureConfiguration clientConfig(const QString &protocol = QStringLiteral("TLSv1.3")) const;
    Outcome connectOnce(const SecureConfiguration &config, quint16 port,
                        const QByteArray &ticket = {}, const QString &host = "127.0.0.1");
    QByteArray runOpenssl(quint16 port, const QString &sessionOption, const QString &sessionFile,
                          const QString &protocol);

    QTemporaryDir m_dir;
    servertest::Pki m_pki;
    QString m_keyA;
    QString m_keyB;
    std::unique_ptr<EchoServer> m_first;
    std::unique_ptr<EchoServer> m_second;
    int m_configVariant = 0;
};

void TestTicketKeys::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pki = servertest::Pki::create(m_dir.path());
    QVERIFY2(QFile::exists(QStringLiteral(ECHOSERVER_PATH)), ECHOSERVER_PATH);
    // Made as the documentation says: openssl rand 80 > FILE; chmod 600 FILE.
    for (QString *path : {&m_keyA, &m_keyB}) {
        *path = m_dir.filePath(path == &m_keyA ? "a.key" : "b.key");
        PeerProcess rand;
        rand.setStandardInputFile(QStringLiteral("/dev/null"));
        QVERIFY2(rand.start(QStringLiteral("sh"),
                            {"-c", "umask 077 && openssl rand 80 > \"$0\"", *path}),
                 qPrintable(rand.describe()));
        QVERIFY2(rand.waitForExit(10000) && rand.exitCode() == 0, qPrintable(rand.describe()));
        QCOMPARE(QFileInfo(*path).size(), 80);
    }
}

void TestTicketKeys::cleanup()
{
    for (auto *slot : {&m_first, &m_second}) {
        if (!*slot)
            continue;
        const QByteArray unexpected = (*slot)->unexpectedLog();
        slot->reset();
        QVERIFY2(unexpected.isEmpty(), unexpected.constData());
    }
    securesocket::testing::setTicketKeyClock({});
}

QString TestTicketKeys::keyFile(const QString &name, const QByteArray &content,
                                QFile::Permissions permissions)
{
    const QString path = m_dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return {};
    file.write(content);
    file.close();
    file.setPermissions(permissions);
    return path;
}

QStringList TestTicketKeys::serverArguments(const QString &keyFile) const
{
    QStringList arguments{"--port", "0", "--cert", m_pki.serverCert, "--key", m_pki.serverKey};
    if (!keyFile.isEmpty())
        arguments << "--ticket-key-file" << keyFile;
    return arguments;
}

bool TestTicketKeys::startServer(std::unique_ptr<EchoServer> &slot, const QStringList &arguments)
{
    slot = std::make_unique<EchoServer>(QStringLiteral(ECHOSERVER_PATH));
    if (slot->start(arguments))
        return true;
    qWarning("%s", qPrintable(slot->process().describe()));
    return false;
}

QPair<int, int> TestTicketKeys::stop(EchoServer &server)
{
    server.process().terminate();
    if (!server.process().waitForExit(10000))
        return {-1, -1};
    return sessionCounts(server.log());
}

SecureConfiguration TestTicketKeys::clientConfig(const QString &protocol) const
{
    SecureConfiguration config;
    config.setCaCertificatesFile(m_pki.ca);
    config.setUseSystemCaCertificates(false);
    if (protocol == QLatin1String("TLSv1.2"))
        config.setMaximumProtocol(SecureConfiguration::Tls12);
    return config;
}

Outcome TestTicketKeys::connectOnce(const SecureConfiguration &config, quint16 port,
                                    const QByteArray &ticket, const QString &host)
{
    Outcome outcome;
    SecureSocket socket;
    socket.setConfiguration(config);
    if (!ticket.isEmpty())
        socket.setSessionTicket(ticket);
    QSignalSpy tickets(&socket, &SecureSocket::sessionTicketReceived);
    outcome.failure = testsupport::connectEncrypted(socket, host, port);
    if (!outcome.failure.isEmpty())
        return outcome;
    socket.write("hello\n");
    if (!waitUntil([&] { return socket.bytesAvailable() >= 6; }, 10000)) {
        outcome.failure = QStringLiteral("no echo: ") + socket.errorString();
        return outcome;
    }
    QByteArray echo = socket.readAll();
    if (echo != "hello\n")
        outcome.failure = QStringLiteral("echo '%1'").arg(QString::fromUtf8(echo));
    // The ticket of a session that may be exported comes before the echo.
    waitUntil([&] { return tickets.count() > 0; }, socket.peerVerifyErrors().isEmpty() ? 2000 : 0);
    outcome.resumed = socket.isSessionResumed();
    socket.disconnectFromHost();
    waitUntil([&] { return socket.state() == QAbstractSocket::UnconnectedState; }, 5000);
    outcome.ticket = socket.sessionTicket(); // still there after the end
    outcome.ticketSignals = static_cast<int>(tickets.count());
    return outcome;
}

QByteArray TestTicketKeys::runOpenssl(quint16 port, const QString &sessionOption,
                                      const QString &sessionFile, const QString &protocol)
{
    PeerProcess client;
    client.setMergedChannels(true);
    if (!client.start(QStringLiteral("openssl"),
                      {"s_client", "-connect", QStringLiteral("127.0.0.1:%1").arg(port), "-CAfile",
                       m_pki.ca, "-verify_return_error", protocol, sessionOption, sessionFile}))
        return client.describe().toLocal8Bit();
    client.write("hello\n");
    client.waitForOutput("\nhello", 10000); // after the tickets: the session is worth saving
    client.closeWriteChannel();
    client.waitForExit(10000);
    return client.standardOutput();
}

void TestTicketKeys::ourClientResumesOnTheOtherProcess_data()
{
    QTest::addColumn<QString>("protocol");
    QTest::newRow("TLS 1.2") << QStringLiteral("TLSv1.2");
    QTest::newRow("TLS 1.3") << QStringLiteral("TLSv1.3");
}

void TestTicketKeys::ourClientResumesOnTheOtherProcess()
{
    QFETCH(QString, protocol);
    QVERIFY(startServer(m_first, serverArguments(m_keyA)));
    QVERIFY(startServer(m_second, serverArguments(m_keyA)));
    FrontDoor door;
    QVERIFY(door.listen());
    // A context of its own: no session of an earlier test function.
    SecureConfiguration config = clientConfig(protocol);
    config.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});

    door.setBackend(m_first->port());
    Outcome first = connectOnce(config, door.port());
    QVERIFY2(first.failure.isEmpty(), qPrintable(first.failure));
    QVERIFY(!first.resumed);
    QCOMPARE(first.ticketSignals, 1);
    QVERIFY(!first.ticket.isEmpty());

    door.setBackend(m_second->port());
    Outcome second = connectOnce(config, door.port());
    QVERIFY2(second.failure.isEmpty(), qPrintable(second.failure));
    QVERIFY2(second.resumed, "the other process's ticket");

    door.setBackend(m_first->port());
    Outcome third = connectOnce(config, door.port());
    QVERIFY2(third.failure.isEmpty(), qPrintable(third.failure));
    QVERIFY2(third.resumed, "the ticket the second process renewed");

    QCOMPARE(stop(*m_first), qMakePair(2, 1));
    QCOMPARE(stop(*m_second), qMakePair(1, 1));
}

void TestTicketKeys::restartedServerResumes()
{
    QVERIFY(startServer(m_first, serverArguments(m_keyA)));
    FrontDoor door;
    QVERIFY(door.listen());
    door.setBackend(m_first->port());
    SecureConfiguration config = clientConfig();
    config.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
    Outcome before = connectOnce(config, door.port());
    QVERIFY2(before.failure.isEmpty(), qPrintable(before.failure));
    QCOMPARE(stop(*m_first), qMakePair(1, 0));

    QVERIFY(startServer(m_first, serverArguments(m_keyA))); // the restart
    door.setBackend(m_first->port());
    Outcome after = connectOnce(config, door.port());
    QVERIFY2(after.failure.isEmpty(), qPrintable(after.failure));
    QVERIFY2(after.resumed, "a ticket from before the restart");
    QCOMPARE(stop(*m_first), qMakePair(1, 1));

    // Without a key file, as before: a restart forgets every ticket.
    QVERIFY(startServer(m_first, serverArguments({})));
    door.setBackend(m_first->port());
    QVERIFY(connectOnce(config, door.port()).failure.isEmpty());
    QCOMPARE(stop(*m_first), qMakePair(1, 0));
    QVERIFY(startServer(m_first, serverArguments({})));
    door.setBackend(m_first->port());
    Outcome random = connectOnce(config, door.port());
    QVERIFY2(random.failure.isEmpty(), qPrintable(random.failure));
    QVERIFY2(!random.resumed, "random keys of the process before");
    QCOMPARE(stop(*m_first), qMakePair(1, 0));
}

void TestTicketKeys::otherKeyFileDoesNotResume()
{
    QVERIFY(startServer(m_first, serverArguments(m_keyA)));
    QVERIFY(startServer(m_second, serverArguments(m_keyB)));
    FrontDoor door;
    QVERIFY(door.listen());
    SecureConfiguration config = clientConfig();
    config.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
    door.setBackend(m_first->port());
    QVERIFY(connectOnce(config, door.port()).failure.isEmpty());
    door.setBackend(m_second->port());
    Outcome other = connectOnce(config, door.port());
    QVERIFY2(other.failure.isEmpty(), qPrintable(other.failure));
    QVERIFY2(!other.resumed, "a ticket of another key file");
    QCOMPARE(stop(*m_first), qMakePair(1, 0));
    QCOMPARE(stop(*m_second), qMakePair(1, 0));
}

void TestTicketKeys::opensslResumesOnTheOtherProcess_data()
{
    QTest::addColumn<QString>("protocol");
    QTest::newRow("TLS 1.2") << QStringLiteral("-tls1_2");
    QTest::newRow("TLS 1.3") << QStringLiteral("-tls1_3");
}

void TestTicketKeys::opensslResumesOnTheOtherProcess()
{
    QFETCH(QString, protocol);
    QVERIFY(startServer(m_first, serverArguments(m_keyA)));
    QVERIFY(startServer(m_second, serverArguments(m_keyA)));
    const QString session = keyFile(QStringLiteral("s_client.session"));
    const QByteArray first = runOpenssl(m_first->port(), "-sess_out", session, protocol);
    QVERIFY2(first.contains("\nhello") && first.contains("New, TLSv1."), first.constData());
    const QByteArray second = runOpenssl(m_second->port(), "-sess_in", session, protocol);
    QVERIFY2(second.contains("\nhello"), second.constData());
    QVERIFY2(second.contains("Reused, TLSv1."), second.constData());
    QCOMPARE(stop(*m_first), qMakePair(1, 0));
    QCOMPARE(stop(*m_second), qMakePair(1, 1));

    // And not on a server with another file.
    QVERIFY(startServer(m_second, serverArguments(m_keyB)));
    const QByteArray other = runOpenssl(m_second->port(), "-sess_in", session, protocol);
    QVERIFY2(other.contains("\nhello") && other.contains("New, TLSv1."), other.constData());
    QCOMPARE(stop(*m_second), qMakePair(1, 0));
}

void TestTicketKeys::iniKeyFileIsShared()
{
    const QString ini = keyFile(QStringLiteral("tickets.ini"),
                                QStringLiteral("[Common]\nticketKeyFile = %1\n"
                                               "[Listener.A]\naddress = 127.0.0.1\nport = 0\n"
                                               "certificate = %2\nprivateKey = %3\n")
                                    .arg(m_keyA, m_pki.serverCert, m_pki.serverKey)
                                    .toUtf8());
    QVERIFY(startServer(m_first, {"--config", ini}));
    QVERIFY(startServer(m_second, serverArguments(m_keyA))); // the flag, in the other
    const QString session = keyFile(QStringLiteral("ini.session"));
    const QByteArray first =
        runOpenssl(m_first->port(QStringLiteral("A")), "-sess_out", session, "-tls1_3");
    QVERIFY2(first.contains("New, TLSv1.3"), first.constData());
    const QByteArray second = runOpenssl(m_second->port(), "-sess_in", session, "-tls1_3");
    QVERIFY2(second.contains("Reused, TLSv1.3"), second.constData());
    QCOMPARE(stop(*m_second), qMakePair(1, 1));
    // The flag wins over the INI file.
    QVERIFY(startServer(m_second, QStringList{"--config", ini, "--ticket-key-file", m_keyB}));
    const QByteArray overridden =
        runOpenssl(m_second->port(QStringLiteral("A")), "-sess_in", session, "-tls1_3");
    QVERIFY2(overridden.contains("New, TLSv1.3"), overridden.constData());
}

void TestTicketKeys::rotationByTheWallClock()
{
    // Keys of 60 s periods; the clock moves by the test hook. Two clients get tickets in one
    // period: a period later the first resumes (and gets a renewed ticket), two periods after
    // the first ticket the second client's ticket resumes nowhere.
    auto now = std::make_shared<std::chrono::system_clock::time_point>(
        std::chrono::seconds(1'800'000'030));
    securesocket::testing::setTicketKeyClock([now] { return *now; });
    SecureConfiguration serverConfig;
    serverConfig.setLocalCertificateChainFile(m_pki.serverCert);
    serverConfig.setPrivateKeyFile(m_pki.serverKey);
    serverConfig.setTicketKeyLifetime(60);
    serverConfig.setTicketKeyFile(m_keyA);
    InProcessEcho first, second; // two servers sharing the file, behind one address
    QVERIFY(first.listen(serverConfig));
    QVERIFY(second.listen(serverConfig));
    FrontDoor door;
    QVERIFY(door.listen());
    SecureConfiguration renewing = clientConfig();
    renewing.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
    SecureConfiguration waiting = clientConfig();
    waiting.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});

    door.setBackend(first.port());
    QVERIFY(connectOnce(renewing, door.port()).failure.isEmpty());
    QVERIFY(connectOnce(waiting, door.port()).failure.isEmpty());
    *now += std::chrono::seconds(60);
    door.setBackend(second.port());
    Outcome renewed = connectOnce(renewing, door.port());
    QVERIFY2(renewed.failure.isEmpty(), qPrintable(renewed.failure));
    QVERIFY2(renewed.resumed, "a ticket of the previous period");
    *now += std::chrono::seconds(60);
    door.setBackend(first.port());
    Outcome again = connectOnce(renewing, door.port());
    QVERIFY2(again.failure.isEmpty(), qPrintable(again.failure));
    QVERIFY2(again.resumed, "the renewed ticket, a period old");
    door.setBackend(second.port());
    Outcome expired = connectOnce(waiting, door.port());
    QVERIFY2(expired.failure.isEmpty(), qPrintable(expired.failure));
    QVERIFY2(!expired.resumed, "a ticket two periods old");
    QCOMPARE(first.resumed(), 1);
    QCOMPARE(second.resumed(), 1);
}

void TestTicketKeys::badKeyFiles_data()
{
    QTest::addColumn<QByteArray>("content"); // "missing": none
    QTest::addColumn<int>("permissions");
    QTest::addColumn<QString>("cause");
    const int owner = int(QFile::ReadOwner | QFile::WriteOwner);
    QTest::newRow("missing") << QByteArray("missing") << owner << "No such file or directory";
    QTest::newRow("empty") << QByteArray() << owner << "is empty";
    QTest::newRow("wrong size") << QByteArray(48, 'k') << owner << "holds 48 bytes";
    QTest::newRow("world-readable")
        << QByteArray(80, 'k') << int(owner | QFile::ReadOther) << "chmod 600";
}

void TestTicketKeys::badKeyFiles()
{
    QFETCH(QByteArray, content);
    QFETCH(int, permissions);
    QFETCH(QString, cause);
    const QString name =
        QStringLiteral("bad-%1.key").arg(QTest::currentDataTag()).replace(' ', '-');
    const QString path = content == "missing"
                             ? m_dir.filePath(name)
                             : keyFile(name, content, QFile::Permissions(permissions));
    const QString naming = QStringLiteral("session ticket key file '%1'").arg(path);

    SecureConfiguration config;
    config.setLocalCertificateChainFile(m_pki.serverCert);
    config.setPrivateKeyFile(m_pki.serverKey);
    config.setTicketKeyFile(path);
    const QString error = config.validate(true);
    QVERIFY2(error.contains(naming) && error.contains(cause), qPrintable(error));
    SecureConfiguration client = clientConfig();
    client.setTicketKeyFile(path);
    QVERIFY2(client.validate(false).isEmpty(), "a client never reads it");

    PeerProcess server;
    QVERIFY2(server.start(QStringLiteral(ECHOSERVER_PATH), serverArguments(path)),
             qPrintable(server.describe()));
    QVERIFY2(server.waitForExit(10000), qPrintable(server.describe()));
    QCOMPARE(server.exitStatus(), QProcess::NormalExit);
    QCOMPARE(server.exitCode(), 1);
    const QByteArray log = server.standardError().trimmed();
    QVERIFY2(log.startsWith("echoserver: listener default: ") && !log.contains('\n'),
             log.constData());
    QVERIFY2(log.contains(naming.toUtf8()) && log.contains(cause.toUtf8()), log.constData());
}

void TestTicketKeys::keyFileReplacedOnDisk()
{
    // A server in this process with a key file that is replaced while it runs: by another
    // secret (tickets of the old one no longer resume, new ones do), then by a broken file
    // (the keys loaded before stay in use; validate() says what is wrong, naming the file).
    RecheckClock recheck;
    const QString path = keyFile(QStringLiteral("replaced.key"), QByteArray(80, 'a'));
    SecureConfiguration serverConfig;
    serverConfig.setLocalCertificateChainFile(m_pki.serverCert);
    serverConfig.setPrivateKeyFile(m_pki.serverKey);
    serverConfig.setTicketKeyFile(path);
    InProcessEcho server;
    QVERIFY(server.listen(serverConfig));
    SecureConfiguration client = clientConfig();
    client.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
    QVERIFY(connectOnce(client, server.port()).failure.isEmpty());
    QVERIFY(connectOnce(client, server.port()).resumed);

    const QString replacement = keyFile(QStringLiteral("replacement.key"), QByteArray(80, 'b'));
    QVERIFY(::rename(QFile::encodeName(replacement).constData(),
                     QFile::encodeName(path).constData()) == 0);
    recheck.secondPasses();
    Outcome afterNewSecret = connectOnce(client, server.port());
    QVERIFY2(afterNewSecret.failure.isEmpty(), qPrintable(afterNewSecret.failure));
    QVERIFY2(!afterNewSecret.resumed, "a ticket of the secret replaced");
    QVERIFY(connectOnce(client, server.port()).resumed);

    QVERIFY(!keyFile(QStringLiteral("replaced.key"), QByteArray(12, 'c')).isEmpty());
    recheck.secondPasses();
    QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("holds 12 bytes")));
    Outcome afterBroken = connectOnce(client, server.port());
    QVERIFY2(afterBroken.failure.isEmpty(), qPrintable(afterBroken.failure));
    QVERIFY2(afterBroken.resumed, "the keys loaded before stay in use");
    const QString error = serverConfig.validate(true);
    QVERIFY2(
        error.contains(QStringLiteral("session ticket key file '%1' holds 12 bytes").arg(path)),
        qPrintable(error));
}

void TestTicketKeys::reloadReadsTheKeyFile()
{
    // SecureServer::reloadConfiguration() reads the key file again at once: a broken one is
    // refused naming it (the keys before stay), a new secret is used by the next handshakes.
    const QString path = keyFile(QStringLiteral("reloaded.key"), QByteArray(80, 'd'));
    SecureConfiguration config;
    config.setLocalCertificateChainFile(m_pki.serverCert);
    config.setPrivateKeyFile(m_pki.serverKey);
    config.setTicketKeyFile(path);
    SecureServer server;
    server.setConfiguration(config);
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    connect(&server, &SecureServer::newConnection, &server, [&server] {
        while (SecureSocket *socket = server.nextPendingSecureConnection()) {
            connect(socket, &SecureSocket::readyRead, socket,
                    [socket] { socket->write(socket->readAll()); });
            connect(socket, &SecureSocket::disconnected, socket, &QObject::deleteLater);
        }
    });
    SecureConfiguration client = clientConfig();
    client.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
    QVERIFY(connectOnce(client, server.serverPort()).failure.isEmpty());

    QVERIFY(!keyFile(QStringLiteral("reloaded.key"), QByteArray()).isEmpty()); // emptied
    QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("is empty")));
    QVERIFY(!server.reloadConfiguration());
    QVERIFY2(server.errorString().contains(
                 QStringLiteral("session ticket key file '%1' is empty").arg(path)),
             qPrintable(server.errorString()));
    QVERIFY2(connectOnce(client, server.serverPort()).resumed, "the keys before stay in use");

    QVERIFY(!keyFile(QStringLiteral("reloaded.key"), QByteArray(80, 'e')).isEmpty());
    QVERIFY2(server.reloadConfiguration(), qPrintable(server.errorString()));
    Outcome afterReload = connectOnce(client, server.serverPort());
    QVERIFY2(afterReload.failure.isEmpty(), qPrintable(afterReload.failure));
    QVERIFY2(!afterReload.resumed, "a ticket of the secret replaced");
}

void TestTicketKeys::exportedTicketResumesInAFreshClient_data()
{
    QTest::addColumn<QString>("protocol");
    QTest::newRow("TLS 1.2") << QStringLiteral("TLSv1.2");
    QTest::newRow("TLS 1.3") << QStringLiteral("TLSv1.3");
}

void TestTicketKeys::exportedTicketResumesInAFreshClient()
{
    // A restarted client, emulated: each configuration below has an engine context (and so a
    // session cache) of its own, as a new process would, with settings equal in all that a
    // session is bound to (ALPN lists differ: they are not part of it).
    QFETCH(QString, protocol);
    QVERIFY(startServer(m_first, serverArguments(m_keyA)));
    SecureConfiguration before = clientConfig(protocol);
    before.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
    Outcome made = connectOnce(before, m_first->port());
    QVERIFY2(made.failure.isEmpty(), qPrintable(made.failure));
    QVERIFY(!made.ticket.isEmpty());

    SecureConfiguration withoutTicket = clientConfig(protocol);
    withoutTicket.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
    Outcome control = connectOnce(withoutTicket, m_first->port());
    QVERIFY2(!control.resumed, "a fresh context has no session of its own");

    SecureConfiguration restarted = clientConfig(protocol);
    restarted.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
    Outcome resumed = connectOnce(restarted, m_first->port(), made.ticket);
    QVERIFY2(resumed.failure.isEmpty(), qPrintable(resumed.failure));
    QVERIFY2(resumed.resumed, "the imported ticket");
    QVERIFY(!resumed.ticket.isEmpty()); // a new one to keep
    QCOMPARE(stop(*m_first), qMakePair(3, 1));
}

void TestTicketKeys::ticketAfterForgivenFailuresIsEmpty()
{
    QVERIFY(startServer(m_first, serverArguments(m_keyA)));
    for (const QString &protocol : {QStringLiteral("TLSv1.2"), QStringLiteral("TLSv1.3")}) {
        SecureConfiguration config = clientConfig(protocol);
        config.setPeerVerifyName(QStringLiteral("wrong.example"));
        SecureSocket socket;
        socket.setConfiguration(config);
        socket.ignoreCertErrors({VerifyError::HostnameMismatch});
        QSignalSpy tickets(&socket, &SecureSocket::sessionTicketReceived);
        const QString failure = testsupport::connectEncrypted(socket, "127.0.0.1", m_first->port());
        QVERIFY2(failure.isEmpty(), qPrintable(failure));
        QCOMPARE(socket.peerVerifyErrors().size(), 1);
        socket.write("hello\n");
        QVERIFY(waitUntil([&] { return socket.bytesAvailable() >= 6; }, 10000));
        testsupport::deliverPostedEvents();
        QCOMPARE(tickets.count(), 0);
        QVERIFY2(socket.sessionTicket().isEmpty(), qPrintable(protocol));
        socket.disconnectFromHost();
        QVERIFY(
            waitUntil([&] { return socket.state() == QAbstractSocket::UnconnectedState; }, 5000));
        QVERIFY(socket.sessionTicket().isEmpty());
    }
}

void TestTicketKeys::ticketForAnotherHostIsNotUsed()
{
    // The other process would accept the ticket (same key file): only the binding refuses it.
    QVERIFY(startServer(m_first, serverArguments(m_keyA)));
    QVERIFY(startServer(m_second, serverArguments(m_keyA)));
    SecureConfiguration config = clientConfig();
    config.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
    Outcome made = connectOnce(config, m_first->port());
    QVERIFY2(made.failure.isEmpty() && !made.ticket.isEmpty(), qPrintable(made.failure));

    for (const auto &[host, port] : {qMakePair(QStringLiteral("127.0.0.1"), m_second->port()),
                                     qMakePair(QStringLiteral("localhost"), m_first->port())}) {
        SecureConfiguration fresh = clientConfig();
        fresh.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
        Outcome other = connectOnce(fresh, port, made.ticket, host);
        QVERIFY2(other.failure.isEmpty(), qPrintable(other.failure));
        QVERIFY2(!other.resumed, qPrintable(host + ':' + QString::number(port)));
    }
}

void TestTicketKeys::garbageTicketsAreIgnored()
{
    QVERIFY(startServer(m_first, serverArguments(m_keyA)));
    SecureConfiguration config = clientConfig();
    config.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
    const QByteArray genuine = connectOnce(config, m_first->port()).ticket;
    QVERIFY(!genuine.isEmpty());
    QRandomGenerator random(15);
    QList<QByteArray> garbage{genuine.left(genuine.size() / 2), genuine.left(5), genuine + "x",
                              QByteArray(300, '\0')};
    for (int i = 0; i < 8; ++i) {
        QByteArray noise(static_cast<int>(random.bounded(1, 400)), '\0');
        for (char &c : noise)
            c = static_cast<char>(random.generate());
        garbage << noise;
    }
    for (const QByteArray &blob : std::as_const(garbage)) {
        SecureConfiguration fresh = clientConfig();
        fresh.setAlpnProtocols({"variant-" + QByteArray::number(++m_configVariant)});
        QTest::ignoreMessage(QtWarningMsg,
                             QRegularExpression(QStringLiteral("^setSessionTicket: \\d+ bytes "
                                                               "that are not a session ticket")));
        Outcome outcome = connectOnce(fresh, m_first->port(), blob);
        QVERIFY2(outcome.failure.isEmpty(), qPrintable(outcome.failure));
        QVERIFY(!outcome.resumed);
    }
}

QTEST_MAIN(TestTicketKeys)
#include "tst_ticketkeys.moc"
