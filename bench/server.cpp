#include "server.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QSaveFile>
#include <QSslCertificate>
#include <QSslSocket>
#include <QTimer>
#include <QtEndian>

#include <cstdio>
#include <memory>

namespace bench {

namespace {
const char *const kKindNames[] = {"sink", "echo", "handshake", "idle"};
}

const char *serveKindName(ServeKind kind)
{
    return kKindNames[static_cast<int>(kind)];
}

std::optional<ServeKind> serveKindFromName(const QString &name)
{
    for (ServeKind kind :
         {ServeKind::Sink, ServeKind::Echo, ServeKind::Handshake, ServeKind::Idle}) {
        if (name == QLatin1String(serveKindName(kind)))
            return kind;
    }
    return std::nullopt;
}

BenchServer::BenchServer(const Pki &pki, const ServerSpec &spec, QObject *parent)
    : QTcpServer(parent), m_spec(spec), m_pki(pki)
{
    if (spec.lib == Lib::Ours)
        m_ours = oursServerConfig(pki, spec.key, spec.style == Style::Shared);
    else if (spec.lib == Lib::Qt)
        m_qt = qtServerConfig(pki, spec.key, spec.style == Style::Shared);
    const QList<QSslCertificate> chain = QSslCertificate::fromPath(pki.certFile(spec.key));
    m_certificateSize = chain.isEmpty() ? 0 : chain.first().toDer().size();
}

// Connections still open go first, while this is still a BenchServer: a socket deleted with
// its parent signals disconnected(), and the handlers of that signal use this object.
BenchServer::~BenchServer()
{
    qDeleteAll(findChildren<QTcpSocket *>(Qt::FindDirectChildrenOnly));
}

QTcpSocket *BenchServer::makeSocket()
{
    QTcpSocket *socket = nullptr;
    if (m_spec.lib == Lib::Ours) {
        auto *ours = new SecureSocket(this);
        ours->setConfiguration(m_ours);
        socket = ours;
    } else if (m_spec.lib == Lib::Qt) {
        auto *qt = new QSslSocket(this);
        qt->setSslConfiguration(m_qt);
        socket = qt;
    } else {
        return new QTcpSocket(this);
    }
    if (m_spec.style == Style::Setters)
        setServerFiles(socket, m_pki, m_spec.key); // per socket, from the files
    return socket;
}

void BenchServer::incomingConnection(qintptr descriptor)
{
    QTcpSocket *socket = makeSocket();
    if (!socket->setSocketDescriptor(descriptor)) {
        delete socket;
        return;
    }
    if (m_spec.noDelay)
        socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    ++m_live;
    // Every handler of this connection has this context: one disconnect() removes them all,
    // so a closing socket that still signals reaches none of them.
    auto *handlers = new QObject(this);
    connect(socket, &QAbstractSocket::disconnected, handlers, [this, socket, handlers] {
        QObject::disconnect(socket, nullptr, handlers, nullptr);
        socket->deleteLater();
        handlers->deleteLater();
        --m_live;
        if (onClosed)
            onClosed();
    });
    switch (m_spec.kind) {
    case ServeKind::Sink:
        serveSink(socket, handlers);
        break;
    case ServeKind::Echo:
        serveEcho(socket, handlers);
        break;
    case ServeKind::Handshake:
    case ServeKind::Idle:
        serveHandshake(socket, handlers);
        break;
    }
    if (auto *ours = qobject_cast<SecureSocket *>(socket))
        ours->startServerEncryption();
    else if (auto *qt = qobject_cast<QSslSocket *>(socket))
        qt->startServerEncryption();
}

void BenchServer::serveSink(QTcpSocket *socket, QObject *handlers)
{
    struct State
    {
        QByteArray header;
        qint64 expected = -1;
        qint64 received = 0;
        double cpuStart = -1; // this thread's CPU time when the first byte came
        bool answered = false;
    };
    auto state = std::make_shared<State>();
    connect(socket, &QIODevice::readyRead, handlers, [socket, state] {
        static char buffer[64 * 1024]; // one thread serves every connection
        if (state->cpuStart < 0)
            state->cpuStart = threadCpuMs();
        for (qint64 got; (got = socket->read(buffer, sizeof buffer)) > 0;) {
            const char *data = buffer;
            if (state->header.size() < 8) {
                const qint64 take = std::min<qint64>(8 - state->header.size(), got);
                state->header.append(data, take);
                data += take;
                got -= take;
                if (state->header.size() == 8)
                    state->expected = qFromLittleEndian<qint64>(state->header.constData());
            }
            state->received += got;
        }
        if (!state->answered && state->expected >= 0 && state->received >= state->expected) {
            state->answered = true;
            // "K", then the server's CPU milliseconds for this transfer.
            socket->write("K" + QByteArray::number(threadCpuMs() - state->cpuStart) + '\n');
        }
    });
}

void BenchServer::serveEcho(QTcpSocket *socket, QObject *handlers)
{
    connect(socket, &QIODevice::readyRead, handlers, [socket] {
        char buffer[16 * 1024];
        for (qint64 got; (got = socket->read(buffer, sizeof buffer)) > 0;)
            socket->write(buffer, got);
    });
}

void BenchServer::serveHandshake(QTcpSocket *socket, QObject *handlers)
{
    // Bytes sent before the handshake ended: a full TLS 1.3 handshake sends the certificate,
    // a resumed one does not. Neither library says whether a server handshake was resumed.
    auto flight = std::make_shared<qint64>(0);
    auto counting = std::make_shared<QMetaObject::Connection>();
    if (auto *ours = qobject_cast<SecureSocket *>(socket))
        *counting = connect(ours, &SecureSocket::encryptedBytesWritten, handlers,
                            [flight](qint64 bytes) { *flight += bytes; });
    else if (auto *qt = qobject_cast<QSslSocket *>(socket))
        *counting = connect(qt, &QSslSocket::encryptedBytesWritten, handlers,
                            [flight](qint64 bytes) { *flight += bytes; });
    auto ready = [this, socket, flight, counting] {
        QObject::disconnect(*counting);
        ++m_encrypted;
        const char verdict = *flight == 0 ? '?' : *flight < m_certificateSize ? 'R' : 'F';
        // The verdict, then this server's CPU milliseconds so far (all connections).
        socket->write(verdict + QByteArray::number(threadCpuMs()) + '\n');
        if (onEncrypted)
            onEncrypted();
    };
    connect(socket, &QIODevice::readyRead, handlers, [socket] { socket->readAll(); });
    if (m_spec.lib == Lib::Plain)
        ready(); // plain TCP: an accepted socket is ready at once
    else
        onReady(socket, handlers, ready);
}

namespace {

bool writePortFile(const QString &path, quint16 port)
{
    QSaveFile file(path); // appears complete or not at all
    return file.open(QIODevice::WriteOnly) && file.write(QByteArray::number(port)) > 0 &&
           file.commit();
}

void printJsonLine(const QJsonObject &object)
{
    std::printf("%s\n", QJsonDocument(object).toJson(QJsonDocument::Compact).constData());
    std::fflush(stdout);
}

// Idle memory, server side: the resident size once the warm-up connection has come and gone,
// and again once `count` more connections are encrypted and idle.
struct IdleReport
{
    BenchServer *server;
    int count;
    qint64 base = -1;
    int encryptedAtBase = 0;
    bool baseScheduled = false;
    bool reported = false;

    void attach()
    {
        server->onClosed = [this] {
            if (baseScheduled)
                return;
            baseScheduled = true;
            QTimer::singleShot(200, server, [this] {
                base = rssKiB();
                encryptedAtBase = server->encryptedCount();
            });
        };
        server->onEncrypted = [this] {
            if (reported || base < 0 || server->encryptedCount() - encryptedAtBase < count)
                return;
            reported = true;
            QTimer::singleShot(300, server, [this] {
                const qint64 after = rssKiB();
                printJsonLine({{"role", "server"},
                               {"base_kib", base},
                               {"after_kib", after},
                               {"count", count},
                               {"live", server->liveCount()},
                               {"kib_per_connection", double(after - base) / count}});
            });
        };
    }
};

} // namespace

int serveMain(const QStringList &arguments)
{
    const auto kind = serveKindFromName(argValue(arguments, QStringLiteral("--serve")));
    const auto lib = libFromName(argValue(arguments, QStringLiteral("--lib")));
    const QString portFile = argValue(arguments, QStringLiteral("--port-file"));
    const QString dir = argValue(arguments, QStringLiteral("--dir"));
    if (!kind || !lib || portFile.isEmpty() || dir.isEmpty()) {
        std::fprintf(stderr, "securesocket-bench --serve: bad arguments\n");
        return 2;
    }
    const int cpu = argValue(arguments, QStringLiteral("--cpu"), QStringLiteral("-1")).toInt();
    QString pinError;
    if (cpu >= 0 && !pinToCpu(cpu, &pinError))
        std::fprintf(stderr, "securesocket-bench --serve: %s\n", qPrintable(pinError));

    ServerSpec spec;
    spec.kind = *kind;
    spec.lib = *lib;
    spec.key = argValue(arguments, QStringLiteral("--key")) == QLatin1String("rsa")
                   ? KeyType::Rsa
                   : KeyType::Ecdsa;
    spec.style = argValue(arguments, QStringLiteral("--style")) == QLatin1String("setters")
                     ? Style::Setters
                     : Style::Shared;
    spec.noDelay = arguments.contains(QStringLiteral("--nodelay"));
    BenchServer server(pkiIn(dir), spec);
    server.setListenBacklogSize(4096); // 500 clients connect at once
    if (!server.listen(QHostAddress::LocalHost, 0)) {
        std::fprintf(stderr, "securesocket-bench --serve: cannot listen: %s\n",
                     qPrintable(server.errorString()));
        return 1;
    }
    IdleReport idle{&server,
                    argValue(arguments, QStringLiteral("--count"), QStringLiteral("1")).toInt()};
    if (spec.kind == ServeKind::Idle)
        idle.attach();
    const int exitAfter = argValue(arguments, QStringLiteral("--exit-after")).toInt();
    int closed = 0;
    if (exitAfter > 0) {
        server.onClosed = [&closed, exitAfter] {
            if (++closed == exitAfter)
                QCoreApplication::exit(0);
        };
    }
    if (!writePortFile(portFile, server.serverPort())) {
        std::fprintf(stderr, "securesocket-bench --serve: cannot write %s\n", qPrintable(portFile));
        return 1;
    }
    return QCoreApplication::exec();
}

} // namespace bench
