// echoserver: echoes every byte it receives, over TLS, to each client. One-way or two-way TLS,
// one or more listening addresses, connections spread over worker threads.
#include <SecureSocket/secureserver.h>

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QFileInfo>
#include <QLoggingCategory>
#include <QSettings>
#include <QSocketNotifier>
#include <QThread>
#include <QTimer>

#include <csignal>
#include <cstdio>
#include <memory>
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
    QString logLevel = QStringLiteral("info"); // debug, info or warning
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

// A port number; 0 means any free port.
bool parsePort(const QString &text, quint16 *port)
{
    bool ok = false;
    const uint value = text.toUInt(&ok);
    *port = static_cast<quint16>(value);
    return ok && value <= 65535;
}

// The INI file: [Common] logLevel, workerCount; one [Listener.NAME] section per address.
void readConfigFile(const QString &path, Options &options)
{
    if (!QFileInfo(path).isFile() || !QFileInfo(path).isReadable())
        die(QStringLiteral("cannot read configuration file '%1'").arg(path));
    QSettings ini(path, QSettings::IniFormat);
    if (ini.status() != QSettings::NoError)
        die(QStringLiteral("configuration file '%1' is not a valid INI file").arg(path));
    auto bad = [&path](const QString &where, const QString &what) {
        die(QStringLiteral("%1: [%2] %3").arg(path, where, what));
    };
    options.logLevel =
        ini.value(QStringLiteral("Common/logLevel"), options.logLevel).toString().toLower();
    if (!QStringList{"debug", "info", "warning"}.contains(options.logLevel))
        bad(QStringLiteral("Common"), QStringLiteral("logLevel must be Debug, Info or Warning"));
    bool ok = true;
    options.workers = ini.value(QStringLiteral("Common/workerCount"), options.workers).toInt(&ok);
    if (!ok || options.workers < 1)
        bad(QStringLiteral("Common"), QStringLiteral("workerCount must be a number >= 1"));

    const QStringList known{"address",    "port",           "certificate",
                            "privateKey", "caCertificates", "privateKeyPassphraseFile",
                            "twoWaySSL"};
    for (const QString &group : ini.childGroups()) {
        if (!group.startsWith(QLatin1String("Listener.")))
            continue;
        ini.beginGroup(group);
        for (const QString &key : ini.childKeys()) {
            if (!known.contains(key))
                bad(group, QStringLiteral("unknown key '%1'").arg(key));
        }
        Listener listener;
        listener.name = group.mid(9);
        listener.address = QHostAddress(ini.value(QStringLiteral("address")).toString());
        if (listener.address.isNull() ||
            !parsePort(ini.value(QStringLiteral("port")).toString(), &listener.port))
            bad(group, QStringLiteral("needs a valid address and port"));
        const QString cert = ini.value(QStringLiteral("certificate")).toString();
        const QString key = ini.value(QStringLiteral("privateKey")).toString();
        const QString ca = ini.value(QStringLiteral("caCertificates")).toString();
        const QString twoWay = ini.value(QStringLiteral("twoWaySSL"), "false").toString().toLower();
        if (cert.isEmpty() || key.isEmpty())
            bad(group, QStringLiteral("needs certificate and privateKey"));
        if (!QStringList{"true", "false", "yes", "no", "1", "0"}.contains(twoWay))
            bad(group, QStringLiteral("twoWaySSL must be true or false"));
        const bool requireClientCert = QStringList{"true", "yes", "1"}.contains(twoWay);
        if (requireClientCert && ca.isEmpty())
            bad(group, QStringLiteral("twoWaySSL needs caCertificates"));
        listener.config =
            tlsConfig(cert, key, ini.value(QStringLiteral("privateKeyPassphraseFile")).toString(),
                      ca, requireClientCert);
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
                       "Two-way TLS:  add --client-ca client-ca.pem --require-client-cert\n"
                       "Stops cleanly (close_notify to every client) on SIGINT or SIGTERM."));
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
    const QCommandLineOption config(
        QStringLiteral("config"),
        QStringLiteral("Read the settings from an INI file: [Common] logLevel, workerCount; "
                       "[Listener.NAME] address, port, certificate, privateKey, "
                       "privateKeyPassphraseFile, caCertificates, twoWaySSL."),
        QStringLiteral("FILE"));
    const QCommandLineOption verbose(QStringLiteral("verbose"), QStringLiteral("Log more."));
    parser.addOptions(
        {address, port, cert, key, passFile, clientCa, require, threads, config, verbose});
    if (!parser.parse(app.arguments()))
        die(parser.errorText(), 64);
    if (parser.isSet(QStringLiteral("help")))
        parser.showHelp(0);

    Options options;
    bool ok = false;
    options.workers = parser.value(threads).toInt(&ok);
    if (!ok || options.workers < 1)
        die(QStringLiteral("--threads needs a number of at least 1"), 64);
    if (parser.isSet(config))
        readConfigFile(parser.value(config), options);
    if (parser.isSet(verbose))
        options.logLevel = QStringLiteral("debug");
    if (parser.isSet(config))
        return options;
    if (!parser.isSet(cert) || !parser.isSet(key))
        die(QStringLiteral("--cert and --key are required (or --config); see --help"), 64);
    if (parser.isSet(require) && !parser.isSet(clientCa))
        die(QStringLiteral("--require-client-cert needs --client-ca"), 64);
    Listener listener;
    listener.name = QStringLiteral("default");
    listener.address = QHostAddress(parser.value(address));
    if (listener.address.isNull() || !parsePort(parser.value(port), &listener.port))
        die(QStringLiteral("invalid --address or --port"), 64);
    listener.config = tlsConfig(parser.value(cert), parser.value(key), parser.value(passFile),
                                parser.value(clientCa), parser.isSet(require));
    options.listeners.append(listener);
    return options;
}

// A SecureServer that does not listen: it is given connections accepted elsewhere.
class TlsAcceptor : public SecureServer
{
public:
    using SecureServer::SecureServer;
    void take(qintptr descriptor) { incomingConnection(descriptor); }
};

// Runs the TLS handshakes of the connections given to it and echoes their data, all in the
// thread it lives in. One TlsAcceptor per listener, for that listener's settings.
class Worker : public QObject
{
public:
    Worker(int index, const QList<Listener> &listeners) : m_index(index)
    {
        for (const Listener &listener : listeners) {
            auto *acceptor = new TlsAcceptor(this);
            acceptor->setConfiguration(listener.config);
            connect(acceptor, &SecureServer::newConnection, this, [this, acceptor] {
                while (SecureSocket *socket = acceptor->nextPendingSecureConnection())
                    adopt(socket);
            });
            connect(acceptor, &SecureServer::handshakeFailed, this,
                    [](SecureSocket *socket, const QString &reason) {
                        qCInfo(lcEcho, "%s:%u handshake failed: %s",
                               qPrintable(socket->peerAddress().toString()), socket->peerPort(),
                               qPrintable(reason));
                    });
            m_acceptors << acceptor;
        }
    }

    void take(int listener, qintptr descriptor) { m_acceptors[listener]->take(descriptor); }

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
    void adopt(SecureSocket *socket)
    {
        // Echo no faster than the client reads: at most this much plaintext queued each way.
        constexpr qint64 kMaxQueued = 1024 * 1024;
        socket->setParent(this);
        socket->setReadBufferSize(kMaxQueued);
        struct Stats
        {
            qint64 echoed = 0;
            QString ended;
        };
        auto stats = std::make_shared<Stats>();
        const QString peer =
            QStringLiteral("%1:%2").arg(socket->peerAddress().toString()).arg(socket->peerPort());
        const SecureCertificate cert = socket->peerCertificate();
        const QString client = cert.isNull() ? QStringLiteral("none")
                                             : QLatin1Char('"') + cert.subject() + QLatin1Char('"');
        qCDebug(lcEcho, "%s connected", qPrintable(peer));

        auto echo = [socket, stats] {
            while (socket->bytesAvailable() > 0 && socket->bytesToWrite() < kMaxQueued) {
                const QByteArray data = socket->readAll(); // at most about kMaxQueued
                stats->echoed += data.size();
                socket->write(data);
            }
        };
        connect(socket, &SecureSocket::readyRead, socket, echo);
        connect(socket, &SecureSocket::bytesWritten, socket, echo);
        connect(socket, &SecureSocket::errorOccurred, socket, [socket, stats] {
            if (!stats->ended.isEmpty())
                return;
            if (socket->tlsError() == SecureSocket::Truncated)
                stats->ended = QStringLiteral("truncated (closed without close_notify)");
            else if (socket->tlsError() == SecureSocket::ConnectionReset)
                stats->ended = QStringLiteral("reset (TCP RST without close_notify)");
            else if (socket->error() == QAbstractSocket::RemoteHostClosedError)
                stats->ended = QStringLiteral("close_notify");
            else
                stats->ended = QStringLiteral("error: ") + socket->errorString();
        });
        ++m_live;
        connect(socket, &SecureSocket::disconnected, this, [this, socket, stats, peer, client] {
            qCInfo(lcEcho, "%s %s %s client=%s echoed=%lld bytes ended=%s worker=%d",
                   qPrintable(peer), qPrintable(socket->sessionProtocol()),
                   qPrintable(socket->sessionCipher()), qPrintable(client),
                   static_cast<long long>(stats->echoed),
                   qPrintable(stats->ended.isEmpty() ? QStringLiteral("closed") : stats->ended),
                   m_index);
            socket->deleteLater();
            if (--m_live == 0 && m_stopping)
                thread()->quit();
        });
        if (m_stopping)
            socket->disconnectFromHost();
    }

    int m_index;
    QList<TlsAcceptor *> m_acceptors;
    bool m_stopping = false;
    int m_live = 0;
};

// Accepts TCP connections on one address and gives them to the workers in turn.
class Dispatcher : public QTcpServer
{
public:
    Dispatcher(int listener, const QList<Worker *> &workers, QObject *parent)
        : QTcpServer(parent), m_listener(listener), m_workers(workers)
    {}

protected:
    void incomingConnection(qintptr descriptor) override
    {
        Worker *worker = m_workers[m_next++ % m_workers.size()];
        QMetaObject::invokeMethod(worker, [worker, listener = m_listener, descriptor] {
            worker->take(listener, descriptor);
        });
    }

private:
    int m_listener;
    QList<Worker *> m_workers;
    int m_next = 0;
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
    if (options.logLevel == QLatin1String("debug"))
        QLoggingCategory::setFilterRules(QStringLiteral("echoserver.debug=true"));
    else if (options.logLevel == QLatin1String("warning"))
        QLoggingCategory::setFilterRules(QStringLiteral("*.debug=false\n*.info=false"));
    else // each failed handshake is logged once, by this program
        QLoggingCategory::setFilterRules(
            QStringLiteral("*.debug=false\nsecuresocket.server.info=false"));

    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, g_signalPipe) != 0)
        die(QStringLiteral("cannot create the signal socket pair"));
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);

    // Every problem is reported before anything accepts a connection.
    for (const Listener &listener : options.listeners) {
        const QString problem = listener.config.validate(true);
        if (!problem.isEmpty())
            die(QStringLiteral("listener %1: %2").arg(listener.name, problem));
        // Served anyway: clients decide what an expired certificate means to them.
        for (const QString &warning : listener.config.certificateWarnings(true))
            std::fprintf(stderr, "echoserver: listener %s: warning: %s\n",
                         qPrintable(listener.name), qPrintable(warning));
    }
    QList<QThread *> threads;
    QList<Worker *> workers;
    for (int i = 0; i < options.workers; ++i) {
        threads << new QThread(&app);
        workers << new Worker(i, options.listeners);
    }
    QList<Dispatcher *> dispatchers;
    for (int i = 0; i < options.listeners.size(); ++i) {
        const Listener &listener = options.listeners[i];
        auto *dispatcher = new Dispatcher(i, workers, &app);
        if (!dispatcher->listen(listener.address, listener.port))
            die(QStringLiteral("listener %1: cannot listen on %2:%3: %4")
                    .arg(listener.name, listener.address.toString())
                    .arg(listener.port)
                    .arg(dispatcher->errorString()));
        dispatchers << dispatcher;
    }
    for (int i = 0; i < options.workers; ++i) {
        workers[i]->moveToThread(threads[i]);
        QObject::connect(threads[i], &QThread::finished, workers[i], &QObject::deleteLater);
        threads[i]->start();
    }
    for (int i = 0; i < options.listeners.size(); ++i) {
        const Listener &listener = options.listeners[i];
        std::fprintf(
            stderr, "echoserver: listener %s on %s:%u (%s TLS)\n", qPrintable(listener.name),
            qPrintable(listener.address.toString()), dispatchers[i]->serverPort(),
            listener.config.peerVerifyMode() == SecureConfiguration::VerifyPeer ? "two-way"
                                                                                : "one-way");
    }

    QSocketNotifier notifier(g_signalPipe[0], QSocketNotifier::Read);
    QObject::connect(&notifier, &QSocketNotifier::activated, &app, [&] {
        notifier.setEnabled(false);
        qCInfo(lcEcho, "stopping: no new connections, close_notify to every client");
        for (Dispatcher *dispatcher : dispatchers)
            dispatcher->close();
        auto remaining = std::make_shared<int>(threads.size());
        for (QThread *thread : threads) {
            QObject::connect(thread, &QThread::finished, &app, [remaining] {
                if (--*remaining == 0)
                    QCoreApplication::exit(0);
            });
        }
        for (Worker *worker : workers)
            QMetaObject::invokeMethod(worker, [worker] { worker->stop(); });
        // Clients get a few seconds to take their close_notify; then the threads end anyway.
        QTimer::singleShot(3000, &app, [&] {
            for (QThread *thread : threads)
                thread->quit();
        });
    });
    const int status = app.exec();
    for (QThread *thread : threads)
        thread->wait(5000);
    return status;
}
