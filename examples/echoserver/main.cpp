// echoserver: echoes every byte it receives, over TLS, to each client. One-way or two-way TLS,
// one or more listening addresses, connections spread over worker threads.
#include <SecureSocket/secureserver.h>

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QFileInfo>
#include <QLoggingCategory>
#include <QPointer>
#include <QSettings>
#include <QSocketNotifier>
#include <QThread>
#include <QTimer>

#include <csignal>
#include <cstdio>
#include <sys/socket.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcEcho, "echoserver", QtInfoMsg)

namespace {

struct Listener
{
    QString name;
    QHostAddress address;
    quint16 port = 0;
    SecureConfiguration config;
};

struct Options
{
    QList<Listener> listeners;
    int workers = 1;
    bool verbose = false;
};

[[noreturn]] void die(const QString &message, int status = 1)
{
    std::fprintf(stderr, "echoserver: %s\n", qPrintable(message));
    std::exit(status);
}

SecureConfiguration tlsConfig(const QString &cert, const QString &key, const QString &passFile,
                              const QString &clientCa, bool requireClientCert)
{
    SecureConfiguration config;
    config.setLocalCertificateChainFile(cert);
    config.setPrivateKeyFile(key);
    config.setPrivateKeyPassphraseFile(passFile);
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    if (!clientCa.isEmpty()) {
        config.setCaCertificatesFile(clientCa);
        config.setUseSystemCaCertificates(false);
        config.setPeerVerifyMode(requireClientCert ? SecureConfiguration::VerifyPeer
                                                   : SecureConfiguration::QueryPeer);
    }
    return config;
}

// The INI file: [Common] logLevel, workerCount; one [Listener.NAME] section per address.
void readConfigFile(const QString &path, Options &options)
{
    if (!QFileInfo(path).isReadable())
        die(QStringLiteral("cannot read configuration file '%1'").arg(path));
    QSettings ini(path, QSettings::IniFormat);
    if (ini.status() != QSettings::NoError)
        die(QStringLiteral("configuration file '%1' is not a valid INI file").arg(path));
    const QString level =
        ini.value(QStringLiteral("Common/logLevel"), QStringLiteral("Info")).toString().toLower();
    options.verbose = options.verbose || level == QLatin1String("debug");
    options.workers = ini.value(QStringLiteral("Common/workerCount"), options.workers).toInt();
    for (const QString &group : ini.childGroups()) {
        if (!group.startsWith(QLatin1String("Listener.")))
            continue;
        ini.beginGroup(group);
        Listener listener;
        listener.name = group.mid(9);
        listener.address = QHostAddress(ini.value(QStringLiteral("address")).toString());
        bool ok = false;
        listener.port = static_cast<quint16>(ini.value(QStringLiteral("port")).toUInt(&ok));
        if (listener.address.isNull() || !ok)
            die(QStringLiteral("[%1] in '%2' needs a valid address and port").arg(group, path));
        listener.config =
            tlsConfig(ini.value(QStringLiteral("certificate")).toString(),
                      ini.value(QStringLiteral("privateKey")).toString(),
                      ini.value(QStringLiteral("privateKeyPassphraseFile")).toString(),
                      ini.value(QStringLiteral("caCertificates")).toString(),
                      ini.value(QStringLiteral("twoWaySSL")).toBool());
        options.listeners.append(listener);
        ini.endGroup();
    }
    if (options.listeners.isEmpty())
        die(QStringLiteral("configuration file '%1' has no [Listener.NAME] section").arg(path));
}

Options parseArguments(const QCoreApplication &app)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Echoes every byte it receives, over TLS, to each client.\n"
                       "One-way TLS:  echoserver --port 8440 --cert server.pem --key server.key\n"
                       "Two-way TLS:  add --client-ca client-ca.pem --require-client-cert"));
    parser.addHelpOption();
    const QCommandLineOption address(QStringLiteral("address"),
                                     QStringLiteral("Address to listen on (default 127.0.0.1)."),
                                     QStringLiteral("ADDRESS"), QStringLiteral("127.0.0.1"));
    const QCommandLineOption port(QStringLiteral("port"),
                                  QStringLiteral("Port to listen on (default 8440; 0 = any)."),
                                  QStringLiteral("PORT"), QStringLiteral("8440"));
    const QCommandLineOption cert(QStringLiteral("cert"),
                                  QStringLiteral("Server certificate chain, PEM (leaf first)."),
                                  QStringLiteral("FILE"));
    const QCommandLineOption key(QStringLiteral("key"), QStringLiteral("Private key, PEM."),
                                 QStringLiteral("FILE"));
    const QCommandLineOption passFile(
        QStringLiteral("key-passphrase-file"),
        QStringLiteral("File whose first line is the key's passphrase."), QStringLiteral("FILE"));
    const QCommandLineOption clientCa(QStringLiteral("client-ca"),
                                      QStringLiteral("CA certificates for client certificates; "
                                                     "clients are asked for one."),
                                      QStringLiteral("FILE"));
    const QCommandLineOption require(QStringLiteral("require-client-cert"),
                                     QStringLiteral("Refuse clients without a valid certificate "
                                                    "from --client-ca (two-way TLS)."));
    const QCommandLineOption threads(QStringLiteral("threads"),
                                     QStringLiteral("Worker threads for connections (default 1)."),
                                     QStringLiteral("N"), QStringLiteral("1"));
    const QCommandLineOption config(QStringLiteral("config"),
                                    QStringLiteral("Read the settings from an INI file "
                                                   "([Common], [Listener.NAME] sections)."),
                                    QStringLiteral("FILE"));
    const QCommandLineOption verbose(QStringLiteral("verbose"), QStringLiteral("Log more."));
    parser.addOptions(
        {address, port, cert, key, passFile, clientCa, require, threads, config, verbose});
    if (!parser.parse(app.arguments()))
        die(parser.errorText(), 64);
    if (parser.isSet(QStringLiteral("help")))
        parser.showHelp(0);

    Options options;
    options.verbose = parser.isSet(verbose);
    bool ok = false;
    options.workers = parser.value(threads).toInt(&ok);
    if (!ok || options.workers < 1)
        die(QStringLiteral("--threads needs a number of at least 1"), 64);
    if (parser.isSet(config)) {
        readConfigFile(parser.value(config), options);
        return options;
    }
    if (!parser.isSet(cert) || !parser.isSet(key))
        die(QStringLiteral("--cert and --key are required (or --config); see --help"), 64);
    if (parser.isSet(require) && !parser.isSet(clientCa))
        die(QStringLiteral("--require-client-cert needs --client-ca"), 64);
    Listener listener;
    listener.name = QStringLiteral("default");
    listener.address = QHostAddress(parser.value(address));
    listener.port = static_cast<quint16>(parser.value(port).toUInt(&ok));
    if (listener.address.isNull() || !ok)
        die(QStringLiteral("invalid --address or --port"), 64);
    listener.config = tlsConfig(parser.value(cert), parser.value(key), parser.value(passFile),
                                parser.value(clientCa), parser.isSet(require));
    options.listeners.append(listener);
    return options;
}

// Owns the connections given to it and echoes their data, in the thread it lives in.
class Worker : public QObject
{
public:
    void adopt(SecureSocket *socket)
    {
        socket->setParent(this);
        const QString peer =
            QStringLiteral("%1:%2").arg(socket->peerAddress().toString()).arg(socket->peerPort());
        const QString client =
            socket->peerCertificate().isNull()
                ? QStringLiteral("none")
                : QLatin1Char('"') + socket->peerCertificate().subject() + QLatin1Char('"');
        qCDebug(lcEcho, "%s connected", qPrintable(peer));
        auto echoed = std::make_shared<qint64>(0);
        auto ended = std::make_shared<QString>(QStringLiteral("close_notify"));
        connect(socket, &SecureSocket::readyRead, socket, [socket, echoed] {
            const QByteArray data = socket->readAll();
            *echoed += data.size();
            socket->write(data);
        });
        connect(socket, &SecureSocket::errorOccurred, socket, [socket, ended] {
            if (socket->tlsError() == SecureSocket::Truncated)
                *ended = QStringLiteral("truncated (closed without close_notify)");
            else if (socket->error() != QAbstractSocket::RemoteHostClosedError)
                *ended = QStringLiteral("error: ") + socket->errorString();
        });
        ++m_live;
        connect(socket, &SecureSocket::disconnected, this, [=] {
            qCInfo(lcEcho, "%s %s %s client=%s echoed=%lld bytes ended=%s", qPrintable(peer),
                   qPrintable(socket->sessionProtocol()), qPrintable(socket->sessionCipher()),
                   qPrintable(client), static_cast<long long>(*echoed), qPrintable(*ended));
            socket->deleteLater();
            if (--m_live == 0 && m_stopping)
                thread()->quit();
        });
        if (m_stopping)
            stop();
    }

    // Sends close_notify to every client; the thread quits when the last one is gone.
    void stop()
    {
        m_stopping = true;
        for (SecureSocket *socket : findChildren<SecureSocket *>(Qt::FindDirectChildrenOnly))
            socket->disconnectFromHost();
        if (m_live == 0)
            thread()->quit();
    }

private:
    bool m_stopping = false;
    int m_live = 0;
};

// SIGINT and SIGTERM, turned into a Qt signal through a socket pair.
int g_signalPipe[2] = {-1, -1};
void onSignal(int)
{
    const char byte = 1;
    [[maybe_unused]] const auto n = ::write(g_signalPipe[1], &byte, 1);
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const Options options = parseArguments(app);
    if (!options.verbose)
        QLoggingCategory::setFilterRules(QStringLiteral("*.debug=false"));
    else
        QLoggingCategory::setFilterRules(QStringLiteral("echoserver.debug=true"));

    // Every problem is reported before anything listens.
    for (const Listener &listener : options.listeners) {
        const QString problem = listener.config.validate(true);
        if (!problem.isEmpty())
            die(QStringLiteral("listener %1: %2").arg(listener.name, problem));
    }

    QList<QThread *> threads;
    QList<Worker *> workers;
    for (int i = 0; i < options.workers; ++i) {
        auto *thread = new QThread(&app);
        auto *worker = new Worker;
        worker->moveToThread(thread);
        QObject::connect(thread, &QThread::finished, worker, &QObject::deleteLater);
        thread->start();
        threads << thread;
        workers << worker;
    }

    QList<SecureServer *> servers;
    int next = 0;
    for (const Listener &listener : options.listeners) {
        auto *server = new SecureServer(&app);
        server->setConfiguration(listener.config);
        QObject::connect(server, &SecureServer::handshakeFailed, server,
                         [](SecureSocket *socket, const QString &reason) {
                             qCInfo(lcEcho, "%s:%u handshake failed: %s",
                                    qPrintable(socket->peerAddress().toString()),
                                    socket->peerPort(), qPrintable(reason));
                         });
        QObject::connect(server, &SecureServer::newConnection, server, [&, server] {
            while (SecureSocket *socket = server->nextPendingSecureConnection()) {
                Worker *worker = workers[next++ % workers.size()];
                socket->setParent(nullptr);
                socket->moveToThread(worker->thread());
                QMetaObject::invokeMethod(worker, [worker, socket] { worker->adopt(socket); });
            }
        });
        if (!server->listen(listener.address, listener.port))
            die(QStringLiteral("listener %1: cannot listen on %2:%3: %4")
                    .arg(listener.name, listener.address.toString())
                    .arg(listener.port)
                    .arg(server->errorString()));
        qCInfo(lcEcho, "listener %s on %s:%u (%s TLS)", qPrintable(listener.name),
               qPrintable(listener.address.toString()), server->serverPort(),
               listener.config.peerVerifyMode() == SecureConfiguration::VerifyPeer ? "two-way"
                                                                                   : "one-way");
        servers << server;
    }
    std::fflush(stdout);

    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, g_signalPipe) != 0)
        die(QStringLiteral("cannot create the signal socket pair"));
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    QSocketNotifier notifier(g_signalPipe[0], QSocketNotifier::Read);
    QObject::connect(&notifier, &QSocketNotifier::activated, &app, [&] {
        notifier.setEnabled(false);
        qCInfo(lcEcho, "stopping: no new connections, close_notify to every client");
        for (SecureServer *server : servers)
            server->close();
        for (Worker *worker : workers)
            QMetaObject::invokeMethod(worker, [worker] { worker->stop(); });
        // Clients get a few seconds to take their close_notify; then the threads end anyway.
        QTimer::singleShot(3000, &app, [&] {
            for (QThread *thread : threads)
                thread->quit();
        });
        auto remaining = std::make_shared<int>(threads.size());
        for (QThread *thread : threads) {
            QObject::connect(thread, &QThread::finished, &app, [remaining] {
                if (--*remaining == 0)
                    QCoreApplication::exit(0);
            });
        }
    });
    const int status = app.exec();
    for (QThread *thread : threads)
        thread->wait(5000);
    return status;
}
