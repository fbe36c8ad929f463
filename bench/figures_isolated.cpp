// The figures measured in processes of their own: idle memory (fresh client and server
// processes), the engine alone (a helper program beside openssl speed) and the first
// connections that load the system CA store (a fresh client process each time).
#include "figures.h"

#include "child.h"
#include "figuresupport.h"
#include "server.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QProcess>

#include <cmath>

namespace bench {

// --- 5. idle memory ------------------------------------------------------------------------

Sample Runner::measureIdle(Lib lib, Style style, int count)
{
    Sample sample;
    QString error;
    Child server(m_scratchDir);
    Child client(m_scratchDir);
    const bool pinned = m_affinity.value(QLatin1String("pinned")).toBool();
    const QString styleName =
        style == Style::Setters ? QStringLiteral("setters") : QStringLiteral("shared");
    QStringList serverArgs{QStringLiteral("--serve"), QStringLiteral("idle"),
                           QStringLiteral("--lib"),   QLatin1String(libName(lib)),
                           QStringLiteral("--dir"),   m_pki.dir,
                           QStringLiteral("--count"), QString::number(count),
                           QStringLiteral("--style"), styleName};
    if (pinned)
        serverArgs << QStringLiteral("--cpu") << QStringLiteral("1");
    if (!server.startServer(serverArgs, &error)) {
        sample.error = error;
        return sample;
    }
    QStringList clientArgs{QStringLiteral("--client"), QStringLiteral("idle"),
                           QStringLiteral("--lib"),    QLatin1String(libName(lib)),
                           QStringLiteral("--port"),   QString::number(server.port()),
                           QStringLiteral("--dir"),    m_pki.dir,
                           QStringLiteral("--count"),  QString::number(count),
                           QStringLiteral("--style"),  styleName};
    if (pinned)
        clientArgs << QStringLiteral("--cpu") << QStringLiteral("0");
    if (!client.startClient(clientArgs, &error)) {
        sample.error = error;
        return sample;
    }
    const auto clientResult = client.readJson(600000, &error);
    const auto serverResult = clientResult ? server.readJson(60000, &error) : std::nullopt;
    if (!clientResult || !serverResult) {
        sample.error = error;
        return sample;
    }
    sample.value = clientResult->value(QLatin1String("kib_per_connection")).toDouble();
    sample.value2 = serverResult->value(QLatin1String("kib_per_connection")).toDouble();
    sample.info = {{"client", *clientResult}, {"server", *serverResult}};
    return sample;
}

QList<Figure> Runner::idleMemory()
{
    auto measure = [this](Lib lib, Style style) {
        return [this, lib, style](bool warmup) {
            return measureIdle(lib, style, warmup ? m_scale.idleWarmupCount : m_scale.idleCount);
        };
    };
    const Results r =
        alternate(QStringLiteral("idle"),
                  {{QStringLiteral("ours"), measure(Lib::Ours, Style::Shared)},
                   {QStringLiteral("qt"), measure(Lib::Qt, Style::Shared)},
                   {QStringLiteral("ours_setters"), measure(Lib::Ours, Style::Setters)},
                   {QStringLiteral("qt_setters"), measure(Lib::Qt, Style::Setters)}},
                  m_scale.slowReps);
    QList<Figure> figures;
    for (const bool setters : {false, true}) {
        const QString suffix = setters ? QStringLiteral("_setters") : QString();
        for (const bool server : {false, true}) {
            const QString side = server ? QStringLiteral("server") : QStringLiteral("client");
            Figure f = makeFigure(
                QStringLiteral("idle_memory_") + side + suffix,
                QStringLiteral("memory per idle encrypted connection, %1 side, %2: RSS growth / "
                               "%3 connections, fresh processes")
                    .arg(side, setters ? QStringLiteral("each socket configured with its setters")
                                       : QStringLiteral("one shared configuration"))
                    .arg(m_scale.idleCount),
                QStringLiteral("KiB"), false, r,
                {{QStringLiteral("ours"), QStringLiteral("ours") + suffix},
                 {QStringLiteral("qt"), QStringLiteral("qt") + suffix}},
                server);
            ratioTarget(f, 0.3, false);
            f.extra.insert(QStringLiteral("connections"), m_scale.idleCount);
            f.note = QStringLiteral("default socket options");
            if (setters)
                f.note += QStringLiteral("; Qt configured per socket too (its setters, the CA "
                                         "file read into each client socket's configuration)");
            figures << f;
        }
    }
    return figures;
}

// --- 7. engine only ----------------------------------------------------------------------------

Sample Runner::runEngine(const QStringList &arguments)
{
    Sample sample;
    QProcess helper;
    helper.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    helper.start(QCoreApplication::applicationDirPath() +
                     QStringLiteral("/securesocket-bench-engine"),
                 arguments + QStringList{QStringLiteral("--dir"), m_pki.dir});
    if (!helper.waitForFinished(600000)) {
        sample.error = QStringLiteral("securesocket-bench-engine: ") + helper.errorString();
        return sample;
    }
    const QJsonObject result = QJsonDocument::fromJson(helper.readAllStandardOutput()).object();
    if (helper.exitCode() != 0 || result.isEmpty() || result.contains(QLatin1String("error"))) {
        sample.error = QStringLiteral("securesocket-bench-engine failed: ") +
                       result.value(QLatin1String("error")).toString();
        return sample;
    }
    sample.value = result.value(QLatin1String("mbps_cpu")).toDouble();
    sample.value2 = result.value(QLatin1String("mbps_wall")).toDouble();
    sample.info = result;
    m_engineOpenssl = result.value(QLatin1String("openssl")).toString();
    return sample;
}

Sample Runner::runOpensslSpeed()
{
    Sample sample;
    QProcess speed;
    speed.start(QStringLiteral("openssl"),
                {QStringLiteral("speed"), QStringLiteral("-evp"), QStringLiteral("aes-256-gcm"),
                 QStringLiteral("-bytes"), QStringLiteral("16384"), QStringLiteral("-seconds"),
                 QStringLiteral("1")});
    if (!speed.waitForFinished(60000) || speed.exitCode() != 0) {
        sample.error = QStringLiteral("openssl speed failed: ") + speed.errorString();
        return sample;
    }
    // "AES-256-GCM    2117483.05k": thousands of bytes per second of CPU time.
    for (const QByteArray &line : speed.readAllStandardOutput().split('\n')) {
        const QList<QByteArray> fields = line.simplified().split(' ');
        if (fields.size() == 2 && fields[0].toUpper() == "AES-256-GCM" && fields[1].endsWith('k')) {
            sample.value = fields[1].chopped(1).toDouble() / 1e3;
            return sample;
        }
    }
    sample.error = QStringLiteral("openssl speed: no AES-256-GCM line in its output");
    return sample;
}

QList<Figure> Runner::engineOnly()
{
    const QStringList pipeline{QStringLiteral("--mode"), QStringLiteral("pipeline"),
                               QStringLiteral("--bytes"), QString::number(m_scale.engineBytes)};
    const Results r =
        alternate(QStringLiteral("engine"),
                  {{QStringLiteral("engine"), [&](bool) { return runEngine(pipeline); }},
                   {QStringLiteral("openssl_speed"), [&](bool) { return runOpensslSpeed(); }}},
                  m_scale.reps);
    const Sample single =
        runEngine({QStringLiteral("--mode"), QStringLiteral("single"), QStringLiteral("--bytes"),
                   QString::number(m_scale.engineBytes), QStringLiteral("--handshakes"),
                   QString::number(m_scale.engineHandshakeSeconds)});
    logSample(QStringLiteral("engine"), QStringLiteral("once"), QStringLiteral("single_thread"),
              single);

    Figure f;
    f.key = QStringLiteral("engine_only");
    f.title = QStringLiteral("engine only, in memory, two engines back to back, %1 MiB through "
                             "(client engine encrypting on one core, server engine decrypting on "
                             "the other)")
                  .arg(m_scale.engineBytes / kMiB);
    f.unit = QStringLiteral("MB/s");
    f.series.insert(QStringLiteral("ours"), valuesOf(r.value("engine")));
    f.series.insert(QStringLiteral("ours_wall_clock"), valuesOf(r.value("engine"), true));
    f.series.insert(QStringLiteral("ceiling"), valuesOf(r.value("openssl_speed")));
    f.errors += errorsOf(QStringLiteral("engine"), r.value("engine"));
    f.errors += errorsOf(QStringLiteral("openssl_speed"), r.value("openssl_speed"));
    if (!single.error.isEmpty())
        f.errors << QStringLiteral("single thread: ") + single.error;
    const double percent =
        f.medianOf(QStringLiteral("ours")) / f.medianOf(QStringLiteral("ceiling")) * 100;
    f.target = QStringLiteral(">= 70% of openssl speed (ratio to Qt n/a)");
    if (!std::isnan(percent))
        f.met = percent >= 70;
    f.note = QStringLiteral("%1% of `openssl speed -evp aes-256-gcm -bytes 16384 -seconds 1` "
                            "(ceiling); both per second of CPU time of the busier thread, as "
                            "openssl speed counts; QSslSocket has no equivalent")
                 .arg(percent, 0, 'f', 1);
    f.extra = {{"percent_of_ceiling", orNull(percent)},
               {"ceiling_command", "openssl speed -evp aes-256-gcm -bytes 16384 -seconds 1"},
               {"single_thread", single.info},
               {"negotiated", QJsonObject{{"protocol", single.info.value("protocol")},
                                          {"cipher", single.info.value("cipher")},
                                          {"group", single.info.value("group")}}}};
    return {f};
}

// --- 8. system CA store ------------------------------------------------------------------------

Sample Runner::measureSystemCa(Lib lib, quint16 port)
{
    Sample sample;
    QString error;
    Child client(m_scratchDir);
    QStringList arguments{QStringLiteral("--client"), QStringLiteral("systemca"),
                          QStringLiteral("--lib"),    QLatin1String(libName(lib)),
                          QStringLiteral("--port"),   QString::number(port),
                          QStringLiteral("--dir"),    m_pki.dir};
    if (m_affinity.value(QLatin1String("pinned")).toBool())
        arguments << QStringLiteral("--cpu") << QStringLiteral("0");
    if (!client.startClient(arguments, &error)) {
        sample.error = error;
        return sample;
    }
    const auto result = client.readJson(120000, &error);
    if (!result) {
        sample.error = error;
        return sample;
    }
    sample.value = result->value(QLatin1String("first_ms")).toDouble();
    sample.value2 = result->value(QLatin1String("second_ms")).toDouble();
    sample.info = *result;
    return sample;
}

QList<Figure> Runner::systemCa()
{
    QString error;
    auto oursServer = startServer({ServeKind::Handshake, Lib::Ours}, &error);
    auto qtServer = oursServer ? startServer({ServeKind::Handshake, Lib::Qt}, &error) : nullptr;
    if (!qtServer)
        return {failedFigure(QStringLiteral("system_ca_first"), error)};
    const Results r = alternate(
        QStringLiteral("systemca"),
        {{QStringLiteral("ours"),
          [&](bool) { return measureSystemCa(Lib::Ours, oursServer->port()); }},
         {QStringLiteral("qt"), [&](bool) { return measureSystemCa(Lib::Qt, qtServer->port()); }}},
        m_scale.reps);
    QList<Figure> figures;
    for (const bool second : {false, true}) {
        Figure f = makeFigure(
            second ? QStringLiteral("system_ca_second") : QStringLiteral("system_ca_first"),
            QStringLiteral("%1 verified connection of a fresh process with the system CA store "
                           "trusted (ours: useSystemCaCertificates + CA file; Qt: default "
                           "configuration + CA)")
                .arg(second ? QStringLiteral("second") : QStringLiteral("first")),
            QStringLiteral("ms"), false, r,
            {{QStringLiteral("ours"), QStringLiteral("ours")},
             {QStringLiteral("qt"), QStringLiteral("qt")}},
            second);
        const QList<Sample> &ours = r.value(QStringLiteral("ours"));
        if (!ours.isEmpty())
            f.extra.insert(QStringLiteral("ours_system_store"),
                           ours.first().info.value(QLatin1String("system_store")));
        f.note = QStringLiteral("from connectToHostEncrypted() to the server's first byte; the "
                                "configuration objects are made before the clock starts (for "
                                "Qt that loads its TLS plug-in)");
        figures << f;
    }
    return figures;
}

} // namespace bench
