// The hidden client roles, run in fresh child processes: idle memory (client side) and the
// first connections that need the system CA store.
#include "clientroles.h"

#include "bench.h"
#include "measure.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>

#include <SecureSocket/secureconfiguration.h>

namespace bench {

namespace {

void printJsonLine(const QJsonObject &object)
{
    std::printf("%s\n", QJsonDocument(object).toJson(QJsonDocument::Compact).constData());
    std::fflush(stdout);
}

void printError(const QString &message)
{
    printJsonLine({{"error", message}});
}

void closeAndDelete(QTcpSocket *socket, QObject *handlers)
{
    QObject::disconnect(socket, nullptr, handlers, nullptr);
    closeSocket(socket);
    spin([socket] { return socket->state() == QAbstractSocket::UnconnectedState; }, 5000);
    delete socket;
}

// Client side of idle memory: a warm-up connection, then `count` connections opened (at most
// `window` handshakes at a time), each idle once its greeting has arrived.
int idleClient(const ClientMaker &maker, quint16 port, int count)
{
    QObject handlers;
    QObject holder;
    int greeted = 0;
    int started = 0;
    QString error;
    auto open = [&]() -> QTcpSocket * {
        QTcpSocket *socket = maker.create(&holder);
        onFailure(socket, &handlers, [&](const QString &message) {
            error = message;
            wake();
        });
        QObject::connect(socket, &QIODevice::readyRead, &handlers, [&, socket] {
            if (!socket->canReadLine())
                return;
            socket->readAll();
            // Idle from now on: no handler of ours stays attached to it.
            QObject::disconnect(socket, nullptr, &handlers, nullptr);
            ++greeted;
            wake();
        });
        maker.connectTo(socket, port);
        ++started;
        return socket;
    };

    QTcpSocket *warm = open();
    if (!spin([&] { return greeted == 1 || !error.isEmpty(); }, 30000)) {
        printError(error.isEmpty() ? QStringLiteral("warm-up connection timed out") : error);
        return 1;
    }
    closeAndDelete(warm, &handlers);
    spin([] { return false; }, 500);
    const qint64 base = rssKiB();

    greeted = 0;
    started = 0;
    constexpr int kWindow = 64;
    const bool done = spin(
        [&] {
            while (started < count && started - greeted < kWindow)
                open();
            return greeted == count || !error.isEmpty();
        },
        600000);
    if (!done || !error.isEmpty()) {
        printError(error.isEmpty()
                       ? QStringLiteral("%1 of %2 connections encrypted").arg(greeted).arg(count)
                       : error);
        return 1;
    }
    spin([] { return false; }, 300);
    const qint64 after = rssKiB();
    printJsonLine({{"role", "client"},
                   {"base_kib", base},
                   {"after_kib", after},
                   {"count", count},
                   {"kib_per_connection", double(after - base) / count}});
    return QCoreApplication::exec(); // hold the connections until the parent ends us
}

// The first and the second verified connection of a fresh process, with the system store on.
int systemCaClient(const ClientMaker &maker, quint16 port)
{
    QJsonObject result;
    for (const char *name : {"first_ms", "second_ms"}) {
        QObject handlers;
        bool greeted = false;
        QString error;
        const double start = nowMs();
        QTcpSocket *socket = maker.create(nullptr);
        onFailure(socket, &handlers, [&](const QString &message) {
            error = message;
            wake();
        });
        QObject::connect(socket, &QIODevice::readyRead, &handlers, [&] {
            greeted = true;
            wake();
        });
        maker.connectTo(socket, port);
        spin([&] { return greeted || !error.isEmpty(); }, 30000);
        const double elapsed = nowMs() - start;
        closeAndDelete(socket, &handlers);
        if (!greeted) {
            printError(error.isEmpty() ? QStringLiteral("connection timed out") : error);
            return 1;
        }
        result.insert(QLatin1String(name), elapsed);
    }
    if (maker.lib() == Lib::Ours)
        result.insert(QStringLiteral("system_store"), systemCaCertificatesSource());
    printJsonLine(result);
    return 0;
}

} // namespace

int clientMain(const QStringList &arguments)
{
    const QString kind = argValue(arguments, QStringLiteral("--client"));
    const auto lib = libFromName(argValue(arguments, QStringLiteral("--lib")));
    const quint16 port = argValue(arguments, QStringLiteral("--port")).toUShort();
    const QString dir = argValue(arguments, QStringLiteral("--dir"));
    if (!lib || port == 0 || dir.isEmpty()) {
        std::fprintf(stderr, "securesocket-bench --client: bad arguments\n");
        return 2;
    }
    const int cpu = argValue(arguments, QStringLiteral("--cpu"), QStringLiteral("-1")).toInt();
    QString pinError;
    if (cpu >= 0 && !pinToCpu(cpu, &pinError))
        std::fprintf(stderr, "securesocket-bench --client: %s\n", qPrintable(pinError));

    ClientSpec spec;
    spec.lib = *lib;
    if (argValue(arguments, QStringLiteral("--style")) == QLatin1String("setters"))
        spec.style = Style::Setters;
    const int count = argValue(arguments, QStringLiteral("--count"), QStringLiteral("1")).toInt();
    if (kind == QLatin1String("handshakes")) {
        // Sequential full handshakes and the server's greeting, for instruction counts.
        ClientMaker maker(pkiIn(dir), spec);
        const Sample sample = measureLatency(maker, port, count, false);
        printJsonLine(sample.error.isEmpty()
                          ? QJsonObject{{"count", count}, {"median_ms", sample.value}}
                          : QJsonObject{{"error", sample.error}});
        return sample.error.isEmpty() ? 0 : 1;
    }
    if (kind == QLatin1String("idle")) {
        const ClientMaker maker(pkiIn(dir), spec);
        return idleClient(maker, port, count);
    }
    if (kind == QLatin1String("systemca")) {
        spec.systemCas = true;
        // Made before the clock starts; for QSslSocket this loads its TLS plug-in.
        const ClientMaker maker(pkiIn(dir), spec);
        return systemCaClient(maker, port);
    }
    std::fprintf(stderr, "securesocket-bench --client: unknown kind\n");
    return 2;
}

} // namespace bench
