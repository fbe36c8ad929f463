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

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/resource.h>
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

[[noreturn]] void die(const QString &message, int status = 1)
{
    std::fprintf(stderr, "echoserver: %s\n", qPrintable(message));
    std::exit(status);
}

// How many connections the server takes on, for how long (see SecureServer), and what it
// sends them for resumption.
struct Limits
{
    int maxPendingHandshakes = 256;
    int handshakeTimeoutMs = 5000;
    int backlog = 1024;
    int idleTimeoutSecs = 120; // 0: never
    int maxConnections = -1;   // -1: what the descriptor limit allows; 0: no bound
    int sessionTickets = 1;    // TLS 1.3 tickets per full handshake; 0: none, no resumption
};

struct Options
{
    QList<Listener> listeners;
    int workers = 1;
    QString logLevel = QStringLiteral("info"); // debug, info or warning
    Limits limits;
    QString ticketKeyFile; // Session tickets across processes
};

// Session tickets across processes
// --ticket-key-file FILE, or [Common] ticketKeyFile in the INI file (the flag wins): every
// listener derives its session ticket keys from FILE, so that several echoservers sharing it
// (or one restarted) resume each other's sessions. Handshakes and resumed sessions are counted
// and said on exit.

std::atomic<long long> g_handshakes{0};
std::atomic<long long> g_resumed{0};

const QString kTicketKeyFileFlag = QStringLiteral("ticket-key-file");

void addTicketKeyOption(QCommandLineParser &parser)
{
    parser.addOption(QCommandLineOption(
        kTicketKeyFileFlag,
        QStringLiteral("Derive the session ticket keys from FILE (80 random bytes: openssl rand "
                       "80 > FILE; chmod 600 FILE), so that servers sharing it resume each "
                       "other's sessions (INI: [Common] ticketKeyFile)."),
        QStringLiteral("FILE")));
}

void readTicketKeyOption(const QCommandLineParser &parser, Options &options)
{
    if (parser.isSet(kTicketKeyFileFlag))
        options.ticketKeyFile = parser.value(kTicketKeyFileFlag);
}

void applyTicketKeyFile(Options &options)
{
    for (Listener &listener : options.listeners)
        listener.config.setTicketKeyFile(options.ticketKeyFile);
}

void countHandshake(const SecureSocket &socket)
{
    ++g_handshakes;
    if (socket.isSessionResumed())
        ++g_resumed;
}

void reportSessions()
{
    std::fprintf(stderr, "echoserver: sessions: %lld handshakes, %lld resumed\n",
                 g_handshakes.load(), g_resumed.load());
}
// -------------------------------------------------------------------------------------------------

// Room for the connections within the process's descriptor limit, less a reserve for the
// listeners, the event loop and files read at run time.
int defaultMaxConnections()
{
    constexpr rlim_t kReserve = 64;
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return 0;
    return static_cast<int>(std::max<rlim_t>(16, std::min<rlim_t>(limit.rlim_cur, 1 << 20) -
                                                     std::min(limit.rlim_cur, kReserve)));
}

// A whole number of at least min, or die naming the setting.
int parseCount(const QString &text, int min, const QString &what)
{
    bool ok = false;
    const int value = text.toInt(&ok);
    if (!ok || value < min)
        die(QStringLiteral("%1 must be a whole number of at least %2 (got '%3')")
                .arg(what)
                .arg(min)
                .arg(text),
            64);
    return value;
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

// SNI: several certificates on one listener
// "chain.pem:key.pem" or "chain.pem:key.pem:passphrase-file", added to config; dies naming where
// (the flag or the INI key) on a malformed entry.
void addCertificatePair(SecureConfiguration &config, const QString &entry, const QString &where)
{
    const QStringList parts = entry.trimmed().split(QLatin1Char(':'));
    if (parts.size() < 2 || parts.size() > 3 || parts[0].isEmpty() || parts[1].isEmpty())
        die(QStringLiteral("%1: '%2' is not CERT:KEY or CERT:KEY:PASSPHRASEFILE")
                .arg(where, entry.trimmed()),
            64);
    SecureConfiguration::LocalCertificateChain chain;
    chain.chainFile = parts[0];
    chain.keyFile = parts[1];
    if (parts.size() == 3)
        chain.passphraseFile = parts[2];
    config.addLocalCertificateChain(chain);
}

bool isTrue(const QString &text)
{
    return QStringList{"true", "yes", "1"}.contains(text.trimmed().toLower());
}

// The certificate a connection was served, for its log line: subject and the start of the
// SHA-256 fingerprint, and the name the client asked for.
QString servedCertificateText(const SecureSocket *socket)
{
    const SecureCertificate served = socket->localCertificate();
    const QString name = socket->requestedServerName();
    return QStringLiteral("served=\"%1\" served-sha256=%2 sni=%3")
        .arg(served.subject(), QString::fromLatin1(served.sha256Fingerprint().toHex().left(16)),
             name.isEmpty() ? QStringLiteral("none") : name);
}

// A port number; 0 means any free port.
bool parsePort(const QString &text, quint16 *port)
{
    bool ok = false;
    const uint value = text.toUInt(&ok);
    *port = static_cast<quint16>(value);
    return ok && value <= 65535;
}

// OCSP stapling: a DER OCSP response stapled for clients that ask, the flag --ocsp-response
// for the command-line listener and the INI key ocspResponse for a [Listener.NAME].
constexpr char kOcspIniKey[] = "ocspResponse";

QCommandLineOption ocspResponseOption()
{
    return QCommandLineOption(
        QStringLiteral("ocsp-response"),
        QStringLiteral("DER OCSP response for the certificate (e.g. from `openssl ocsp "
                       "-respout`), stapled for clients that ask; re-read when the file "
                       "changes. INI: [Listener.NAME] ocspResponse."),
        QStringLiteral("FILE"));
}

void addOcspOptions(QCommandLineParser &parser)
{
    parser.addOption(ocspResponseOption());
}

void applyOcspOptions(const QCommandLineParser &parser, SecureConfiguration &config)
{
    if (parser.isSet(ocspResponseOption()))
        config.setOcspResponseFile(parser.value(ocspResponseOption()));
}

void applyOcspIni(const QSettings &ini, SecureConfiguration &config)
{
    config.setOcspResponseFile(ini.value(QLatin1String(kOcspIniKey)).toString());
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
    const auto count = [&](const char *key, int *value, int min) {
        const QString name = QStringLiteral("Common/") + QLatin1String(key);
        if (ini.contains(name))
            *value = parseCount(ini.value(name).toString(), min,
                                QStringLiteral("%1: [Common] %2").arg(path, QLatin1String(key)));
    };
    Limits &limits = options.limits;
    count("maxPendingHandshakes", &limits.maxPendingHandshakes, 0);
    count("handshakeTimeout", &limits.handshakeTimeoutMs, 1);
    count("listenBacklog", &limits.backlog, 1);
    count("idleTimeout", &limits.idleTimeoutSecs, 0);
    count("maxConnections", &limits.maxConnections, 0);
    count("sessionTickets", &limits.sessionTickets, 0);
    options.ticketKeyFile = ini.value(QStringLiteral("Common/ticketKeyFile")).toString();

    QStringList known{"address",    "port",           "certificate",
                      "privateKey", "caCertificates", "privateKeyPassphraseFile",
                      "twoWaySSL"};
    known << QLatin1String(kOcspIniKey);                                  // OCSP stapling
    const QStringList sniKeys{"certificates", "refuseUnknownServerName"}; // SNI
    for (const QString &group : ini.childGroups()) {
        if (!group.startsWith(QLatin1String("Listener.")))
            continue;
        ini.beginGroup(group);
        for (const QString &key : ini.childKeys()) {
            if (!known.contains(key) && !sniKeys.contains(key))
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
        // SNI: QSettings splits a value at its commas.
        const QStringList pairs = ini.value(QStringLiteral("certificates")).toStringList();
        const QString refuse =
            ini.value(QStringLiteral("refuseUnknownServerName"), "false").toString().toLower();
        if (!QStringList{"true", "false", "yes", "no", "1", "0"}.contains(refuse))
            bad(group, QStringLiteral("refuseUnknownServerName must be true or false"));
        if ((cert.isEmpty() || key.isEmpty()) &&
            (pairs.isEmpty() || !cert.isEmpty() || !key.isEmpty()))
            bad(group, QStringLiteral("needs certificate and privateKey, or certificates"));
        if (!QStringList{"true", "false", "yes", "no", "1", "0"}.contains(twoWay))
            bad(group, QStringLiteral("twoWaySSL must be true or false"));
        const bool requireClientCert = QStringList{"true", "yes", "1"}.contains(twoWay);
        if (requireClientCert && ca.isEmpty())
            bad(group, QStringLiteral("twoWaySSL needs caCertificates"));
        listener.config =
            tlsConfig(cert, key, ini.value(QStringLiteral("privateKeyPassphraseFile")).toString(),
                      ca, requireClientCert);
        applyOcspIni(ini, listener.config); // OCSP stapling
        for (const QString &pair : pairs) {
            if (!pair.trimmed().isEmpty())
                addCertificatePair(listener.config, pair,
                                   QStringLiteral("%1: [%2] certificates").arg(path, group));
        }
        listener.config.setRefuseUnknownServerName(isTrue(refuse));
        options.listeners.append(listener);
        ini.endGroup();
    }
    if (options.listeners.isEmpty())
        die(QStringLiteral("configuration file '%1' has no [Listener.NAME] section").arg(path));
}

// SNI: the command-line flags, for the listener the command line describes
struct SniOptions
{
    QCommandLineOption certificates{QStringLiteral("certificates"),
                                    QStringLiteral("One more certificate chain and its key, "
                                                   "CERT:KEY or CERT:KEY:PASSPHRASEFILE, served "
                                                   "to clients whose server name (SNI) it has; "
                                                   "repeatable. Without --cert/--key the first "
                                                   "is the default."),
                                    QStringLiteral("PAIR")};
    QCommandLineOption refuse{QStringLiteral("refuse-unknown-names"),
                              QStringLiteral("Refuse (unrecognized_name alert) clients asking "
                                             "for a server name no certificate has.")};
};

SniOptions addSniOptions(QCommandLineParser &parser)
{
    SniOptions options;
    parser.addOption(options.certificates);
    parser.addOption(options.refuse);
    return options;
}

void applySniOptions(const QCommandLineParser &parser, const SniOptions &options,
                     SecureConfiguration &config)
{
    for (const QString &pair : parser.values(options.certificates))
        addCertificatePair(config, pair, QStringLiteral("--certificates"));
    config.setRefuseUnknownServerName(parser.isSet(options.refuse));
}

Options parseArguments(const QCoreApplication &app)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Echoes every byte it receives, over TLS, to each client.\n"
                       "One-way TLS:  echoserver --port 8440 --cert server.pem --key server.key\n"
                       "Two-way TLS:  add --client-ca client-ca.pem --require-client-cert\n"
                       "Stops cleanly (close_notify to every client) on SIGINT or SIGTERM;\n"
                       "reads its certificate, key and CA files again on SIGHUP."));
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
                       "privateKeyPassphraseFile, caCertificates, twoWaySSL, certificates "
                       "(CERT:KEY[:PASSFILE], comma-separated), refuseUnknownServerName."),
        QStringLiteral("FILE"));
    const QCommandLineOption handshakes(
        QStringLiteral("max-handshakes"),
        QStringLiteral("Handshakes in progress at once per listener, in equal shares for the "
                       "workers; more clients wait in the listen backlog (default 256; 0 = no "
                       "bound)."),
        QStringLiteral("N"));
    const QCommandLineOption handshakeTimeout(
        QStringLiteral("handshake-timeout"),
        QStringLiteral("Milliseconds a client has to complete its handshake (default 5000)."),
        QStringLiteral("MS"));
    const QCommandLineOption backlog(
        QStringLiteral("backlog"),
        QStringLiteral("Listen backlog: connections the kernel holds while the server is busy "
                       "(default 1024; the kernel caps it at net.core.somaxconn)."),
        QStringLiteral("N"));
    const QCommandLineOption idle(
        QStringLiteral("idle-timeout"),
        QStringLiteral("Close (with close_notify) connections idle for this many seconds "
                       "(default 120; 0 = never)."),
        QStringLiteral("SECONDS"));
    const QCommandLineOption maxConnections(
        QStringLiteral("max-connections"),
        QStringLiteral("Connections open at once in the whole process, in equal shares for "
                       "each worker and listener; more clients wait in the listen backlog "
                       "(default: the descriptor limit less 64; 0 = no bound)."),
        QStringLiteral("N"));
    const QCommandLineOption tickets(
        QStringLiteral("session-tickets"),
        QStringLiteral("TLS 1.3 session tickets sent after each full handshake (default 1; 0 = "
                       "none, for clients that never resume: no resumption at all then)."),
        QStringLiteral("N"));
    const QCommandLineOption verbose(QStringLiteral("verbose"), QStringLiteral("Log more."));
    const SniOptions sni = addSniOptions(parser);
    parser.addOptions({address, port, cert, key, passFile, clientCa, require, threads, config,
                       handshakes, handshakeTimeout, backlog, idle, maxConnections, tickets,
                       verbose});
    addOcspOptions(parser); // OCSP stapling
    addTicketKeyOption(parser);
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
    // Flags win over the INI file.
    const auto count = [&](const QCommandLineOption &option, int *value, int min) {
        if (parser.isSet(option))
            *value = parseCount(parser.value(option), min,
                                QStringLiteral("--") + option.names().constFirst());
    };
    count(handshakes, &options.limits.maxPendingHandshakes, 0);
    count(handshakeTimeout, &options.limits.handshakeTimeoutMs, 1);
    count(backlog, &options.limits.backlog, 1);
    count(idle, &options.limits.idleTimeoutSecs, 0);
    count(maxConnections, &options.limits.maxConnections, 0);
    count(tickets, &options.limits.sessionTickets, 0);
    readTicketKeyOption(parser, options);
    if (options.limits.maxConnections < 0)
        options.limits.maxConnections = defaultMaxConnections();
    if (parser.isSet(verbose))
        options.logLevel = QStringLiteral("debug");
    if (parser.isSet(config))
        return options;
    if ((!parser.isSet(cert) || !parser.isSet(key)) &&
        (!parser.isSet(sni.certificates) || parser.isSet(cert) || parser.isSet(key)))
        die(QStringLiteral("--cert and --key are required (or --certificates, or --config); see "
                           "--help"),
            64);
    if (parser.isSet(require) && !parser.isSet(clientCa))
        die(QStringLiteral("--require-client-cert needs --client-ca"), 64);
    Listener listener;
    listener.name = QStringLiteral("default");
    listener.address = QHostAddress(parser.value(address));
    if (listener.address.isNull() || !parsePort(parser.value(port), &listener.port))
        die(QStringLiteral("invalid --address or --port"), 64);
    listener.config = tlsConfig(parser.value(cert), parser.value(key), parser.value(passFile),
                                parser.value(clientCa), parser.isSet(require));
    applyOcspOptions(parser, listener.config); // OCSP stapling
    applySniOptions(parser, sni, listener.config);
    options.listeners.append(listener);
    return options;
}

// Accepts, runs the TLS handshakes and echoes the data of its connections, all in the thread it
// lives in: one SecureServer per listener, each on a duplicate of the listener's socket, so that
// a worker accepts only while it has room and the others take the rest. Each has its share of
// the limits: a listener's handshake bound divided among the workers, the process's connection
// bound among the workers and the listeners (equal, fixed shares: a busy listener does not
// borrow an idle one's).
class Worker : public QObject
{
public:
    Worker(int index, int workers, int listeners, const Limits &limits) : m_index(index)
    {
        // Equal shares, never more in all than the total (0, no bound, stays 0).
        const auto share = [](int total, int parts) {
            return total == 0 ? 0 : std::max(1, total / parts);
        };
        m_limits = limits;
        m_limits.maxPendingHandshakes = share(limits.maxPendingHandshakes, workers);
        m_limits.maxConnections = share(limits.maxConnections, workers * listeners);
    }

    // Takes ownership of a listening descriptor; false (with *error) if it cannot be used.
    bool addListener(const Listener &listener, int fd, QString *error)
    {
        auto *server = new SecureServer(this);
        SecureConfiguration config = listener.config;
        config.setSessionTicketCount(m_limits.sessionTickets);
        server->setConfiguration(config);
        server->setMaxPendingHandshakes(m_limits.maxPendingHandshakes);
        server->setHandshakeTimeout(m_limits.handshakeTimeoutMs);
        server->setIdleTimeout(m_limits.idleTimeoutSecs * 1000);
        server->setMaxConnections(m_limits.maxConnections);
        if (!server->setSocketDescriptor(fd)) {
            *error = server->errorString();
            ::close(fd);
            delete server;
            return false;
        }
        connect(server, &SecureServer::newConnection, this, [this, server] {
            while (SecureSocket *socket = server->nextPendingSecureConnection())
                adopt(socket);
        });
        connect(server, &SecureServer::handshakeFailed, this,
                [](SecureSocket *socket, const QString &reason) {
                    qCInfo(lcEcho, "%s:%u handshake failed: %s",
                           qPrintable(socket->peerAddress().toString()), socket->peerPort(),
                           qPrintable(reason));
                });
        m_servers << server;
        m_listenerNames << listener.name;
        return true;
    }

    // Asks the worker, from any thread, to stop in its own: an event, owned and deleted by the
    // worker's thread (a queued functor's slot object would be freed by whichever thread drops
    // it last).
    static constexpr QEvent::Type kStopEvent = QEvent::User;
    // The same, to read the certificate, key and CA files again.
    static constexpr QEvent::Type kReloadEvent = static_cast<QEvent::Type>(QEvent::User + 1);
    bool event(QEvent *event) override
    {
        if (event->type() == kStopEvent)
            stop();
        else if (event->type() == kReloadEvent)
            reload();
        else
            return QObject::event(event);
        return true;
    }

private:
    // New handshakes use the files as they are now; a file that does not load leaves the
    // listener serving with what it loaded before. Connections go on untouched either way.
    void reload()
    {
        for (int i = 0; i < m_servers.size(); ++i) {
            if (m_servers[i]->reloadConfiguration())
                qCInfo(lcEcho, "listener %s: configuration reloaded worker=%d",
                       qPrintable(m_listenerNames[i]), m_index);
            else
                qCWarning(lcEcho,
                          "listener %s: configuration not reloaded, the files loaded before stay "
                          "in use: %s worker=%d",
                          qPrintable(m_listenerNames[i]), qPrintable(m_servers[i]->errorString()),
                          m_index);
        }
    }

    // No new connections; close_notify to every client; the thread quits when the last one is
    // gone.
    void stop()
    {
        for (SecureServer *server : std::as_const(m_servers))
            server->close();
        m_stopping = true;
        for (SecureSocket *socket : findChildren<SecureSocket *>(Qt::FindDirectChildrenOnly))
            socket->disconnectFromHost();
        if (m_live == 0)
            thread()->quit();
    }

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
            QString served; // SNI: which certificate, for which name
        };
        auto stats = std::make_shared<Stats>();
        stats->served = servedCertificateText(socket);
        const QString peer =
            QStringLiteral("%1:%2").arg(socket->peerAddress().toString()).arg(socket->peerPort());
        const SecureCertificate cert = socket->peerCertificate();
        const QString client = cert.isNull() ? QStringLiteral("none")
                                             : QLatin1Char('"') + cert.subject() + QLatin1Char('"');
        qCDebug(lcEcho, "%s connected", qPrintable(peer));
        countHandshake(*socket);

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
            else if (socket->tlsError() == SecureSocket::IdleTimedOut)
                stats->ended = QStringLiteral("idle (no data either way for %1 s, close_notify "
                                              "sent)")
                                   .arg(socket->idleTimeout() / 1000);
            else if (socket->tlsError() == SecureSocket::ConnectionReset)
                stats->ended = QStringLiteral("reset (TCP RST without close_notify)");
            else if (socket->error() == QAbstractSocket::RemoteHostClosedError)
                stats->ended = QStringLiteral("close_notify");
            else
                stats->ended = QStringLiteral("error: ") + socket->errorString();
        });
        ++m_live;
        connect(socket, &SecureSocket::disconnected, this, [this, socket, stats, peer, client] {
            qCInfo(lcEcho, "%s %s %s client=%s echoed=%lld bytes ended=%s worker=%d %s",
                   qPrintable(peer), qPrintable(socket->sessionProtocol()),
                   qPrintable(socket->sessionCipher()), qPrintable(client),
                   static_cast<long long>(stats->echoed),
                   qPrintable(stats->ended.isEmpty() ? QStringLiteral("closed") : stats->ended),
                   m_index, qPrintable(stats->served));
            socket->deleteLater();
            if (--m_live == 0 && m_stopping)
                thread()->quit();
        });
        if (m_stopping)
            socket->disconnectFromHost();
    }

    int m_index;
    Limits m_limits;
    QList<SecureServer *> m_servers;
    QStringList m_listenerNames; // of each server
    bool m_stopping = false;
    int m_live = 0;
};

// SIGINT, SIGTERM and SIGHUP, turned into a Qt signal through a socket pair: one byte, the
// signal's number.
int g_signalPipe[2] = {-1, -1};
void onSignal(int signal)
{
    const char byte = static_cast<char>(signal);
    [[maybe_unused]] const auto n = ::write(g_signalPipe[1], &byte, 1);
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    Options options = parseArguments(app);
    applyTicketKeyFile(options);
    QString logRules;
    if (options.logLevel == QLatin1String("debug"))
        logRules = QStringLiteral("echoserver.debug=true");
    else if (options.logLevel == QLatin1String("warning"))
        logRules = QStringLiteral("*.debug=false\n*.info=false");
    else // each failed handshake is logged once, by this program
        logRules = QStringLiteral("*.debug=false\nsecuresocket.server.info=false");
    QLoggingCategory::setFilterRules(logRules);

    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, g_signalPipe) != 0)
        die(QStringLiteral("cannot create the signal socket pair"));
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    std::signal(SIGHUP, onSignal);

    // Every problem is reported before anything accepts a connection. The library logs the
    // warnings about a certificate too: here they are said once, naming the listener.
    QLoggingCategory::setFilterRules(logRules +
                                     QStringLiteral("\nsecuresocket.configuration.warning=false"));
    for (const Listener &listener : options.listeners) {
        const QString problem = listener.config.validate(true);
        if (!problem.isEmpty())
            die(QStringLiteral("listener %1: %2").arg(listener.name, problem));
        // Served anyway: clients decide what an expired certificate means to them.
        for (const QString &warning : listener.config.certificateWarnings(true))
            std::fprintf(stderr, "echoserver: listener %s: warning: %s\n",
                         qPrintable(listener.name), qPrintable(warning));
    }
    QLoggingCategory::setFilterRules(logRules);
    QList<QThread *> threads;
    QList<Worker *> workers;
    for (int i = 0; i < options.workers; ++i) {
        threads << new QThread(&app);
        workers << new Worker(i, options.workers, options.listeners.size(), options.limits);
    }
    // One listening socket per address; every worker accepts on a duplicate of it.
    QList<QTcpServer *> sockets;
    for (const Listener &listener : options.listeners) {
        auto *socket = new QTcpServer(&app);
        socket->setListenBacklogSize(options.limits.backlog);
        QString error;
        if (socket->listen(listener.address, listener.port)) {
            socket->pauseAccepting(); // the workers accept
            for (Worker *worker : std::as_const(workers)) {
                const int fd =
                    ::fcntl(static_cast<int>(socket->socketDescriptor()), F_DUPFD_CLOEXEC, 0);
                if (fd < 0)
                    error = QString::fromLocal8Bit(std::strerror(errno));
                if (fd < 0 || !worker->addListener(listener, fd, &error))
                    break;
            }
        } else {
            error = socket->errorString();
        }
        if (!error.isEmpty())
            die(QStringLiteral("listener %1: cannot listen on %2:%3: %4")
                    .arg(listener.name, listener.address.toString())
                    .arg(listener.port)
                    .arg(error));
        sockets << socket;
    }
    for (int i = 0; i < options.listeners.size(); ++i) {
        const Listener &listener = options.listeners[i];
        std::fprintf(
            stderr, "echoserver: listener %s on %s:%u (%s TLS)\n", qPrintable(listener.name),
            qPrintable(listener.address.toString()), sockets[i]->serverPort(),
            listener.config.peerVerifyMode() == SecureConfiguration::VerifyPeer ? "two-way"
                                                                                : "one-way");
    }
    for (int i = 0; i < options.workers; ++i) {
        workers[i]->moveToThread(threads[i]);
        QObject::connect(threads[i], &QThread::finished, workers[i], &QObject::deleteLater);
        threads[i]->start();
    }

    QSocketNotifier notifier(g_signalPipe[0], QSocketNotifier::Read);
    QObject::connect(&notifier, &QSocketNotifier::activated, &app, [&] {
        char signal = 0;
        if (::read(g_signalPipe[0], &signal, 1) == 1 && signal == SIGHUP) {
            qCInfo(lcEcho, "SIGHUP: reading the certificate, key and CA files again");
            for (Worker *worker : workers)
                QCoreApplication::postEvent(worker, new QEvent(Worker::kReloadEvent));
            return;
        }
        notifier.setEnabled(false);
        qCInfo(lcEcho, "stopping: no new connections, close_notify to every client");
        for (QTcpServer *socket : std::as_const(sockets))
            socket->close();
        auto remaining = std::make_shared<int>(threads.size());
        for (QThread *thread : threads) {
            QObject::connect(thread, &QThread::finished, &app, [remaining] {
                if (--*remaining == 0)
                    QCoreApplication::exit(0);
            });
        }
        for (Worker *worker : workers)
            QCoreApplication::postEvent(worker, new QEvent(Worker::kStopEvent));
        // Clients get a few seconds to take their close_notify; then the threads end anyway.
        QTimer::singleShot(3000, &app, [&] {
            for (QThread *thread : threads)
                thread->quit();
        });
    });
    const int status = app.exec();
    for (QThread *thread : threads)
        thread->wait(5000);
    reportSessions();
    return status;
}
