#include "figures.h"

#include "child.h"
#include "figuresupport.h"
#include "measure.h"
#include "opensslbulk.h"
#include "opensslpair.h"
#include "server.h"

#include <QJsonArray>
#include <QThread>

#include <cmath>
#include <cstdio>

namespace bench {

Scale Scale::full()
{
    return Scale();
}

Scale Scale::quickScale(bool sanitized)
{
    Scale s;
    s.quick = true;
    s.reps = 1;
    s.slowReps = 1;
    s.bulkBytes = (sanitized ? 4 : 16) * kMiB;
    s.handshakeMs = sanitized ? 150 : 300;
    s.handshakeWarmupMs = sanitized ? 50 : 100;
    s.concurrent = sanitized ? 20 : 50;
    s.idleCount = sanitized ? 30 : 100;
    s.idleWarmupCount = 10;
    s.echoCount = sanitized ? 100 : 500;
    s.latencyCount = sanitized ? 10 : 20;
    s.instructionsFewer = 2;
    s.instructionsMore = 6;
    s.opensslFewerSeconds = 1;
    s.opensslMoreSeconds = 2;
    s.engineBytes = (sanitized ? 4 : 16) * kMiB;
    s.engineHandshakeSeconds = sanitized ? 0.05 : 0.2;
    return s;
}

QJsonObject Scale::toJson() const
{
    return {{"repetitions", reps},
            {"repetitions_slow_figures", slowReps},
            {"warmups_per_figure", 1},
            {"bulk_bytes", double(bulkBytes)},
            {"bulk_write_bytes", 64 * 1024},
            {"handshake_seconds", handshakeMs / 1e3},
            {"handshake_warmup_seconds", handshakeWarmupMs / 1e3},
            {"concurrent_clients", concurrent},
            {"idle_connections", idleCount},
            {"idle_warmup_connections", idleWarmupCount},
            {"echo_round_trips", echoCount},
            {"echo_message_bytes", 64},
            {"latency_connections", latencyCount},
            {"socket_options",
             "default socket options on every socket (Nagle on); only the *_nodelay series of "
             "echo and latency set LowDelayOption (TCP_NODELAY) on both sides"},
            {"engine_bytes", double(engineBytes)},
            {"cipher_suite", kCipherSuite},
            {"peer_name_checked", kPeerName}};
}

QStringList figureGroups()
{
    return {QStringLiteral("bulk"),           QStringLiteral("handshakes_ecdsa"),
            QStringLiteral("handshakes_rsa"), QStringLiteral("concurrent"),
            QStringLiteral("idle"),           QStringLiteral("echo"),
            QStringLiteral("latency"),        QStringLiteral("engine"),
            QStringLiteral("systemca")};
}

QStringList optInGroups()
{
    return {QStringLiteral("instructions")};
}

QStringList expectedFigures()
{
    return {QStringLiteral("bulk_2proc"),
            QStringLiteral("bulk_1proc"),
            QStringLiteral("handshakes_ecdsa"),
            QStringLiteral("handshakes_ecdsa_setters"),
            QStringLiteral("handshakes_ecdsa_systemca"),
            QStringLiteral("handshakes_resumed"),
            QStringLiteral("handshakes_rsa"),
            QStringLiteral("handshakes_rsa_setters"),
            QStringLiteral("concurrent_500"),
            QStringLiteral("idle_memory_client"),
            QStringLiteral("idle_memory_server"),
            QStringLiteral("idle_memory_client_setters"),
            QStringLiteral("idle_memory_server_setters"),
            QStringLiteral("echo_rtt_median"),
            QStringLiteral("echo_rtt_p99"),
            QStringLiteral("latency_server_greets_median"),
            QStringLiteral("latency_server_greets_p99"),
            QStringLiteral("latency_client_first_median"),
            QStringLiteral("latency_client_first_p99"),
            QStringLiteral("engine_only"),
            QStringLiteral("system_ca_first"),
            QStringLiteral("system_ca_second")};
}

Runner::Runner(const Scale &scale, const Pki &pki, const QString &scratchDir)
    : m_scale(scale), m_pki(pki), m_scratchDir(scratchDir)
{
    QString error;
    const bool twoCores = QThread::idealThreadCount() >= 2;
    const bool pinned = twoCores && pinToCpu(0, &error);
    m_affinity = {{"pinned", pinned},
                  {"client_cpu", pinned ? QJsonValue(0) : QJsonValue()},
                  {"server_cpu", pinned ? QJsonValue(1) : QJsonValue()},
                  {"note", pinned     ? QStringLiteral("this process (clients) on CPU 0, server "
                                                           "children on CPU 1; the engine's two threads "
                                                           "on CPU 0 and 1")
                           : twoCores ? QStringLiteral("not pinned: ") + error
                                      : QStringLiteral("not pinned: fewer than 2 CPUs")}};
}

Runner::~Runner() = default;

std::unique_ptr<Child> Runner::startServer(const ServerSpec &spec, QString *error)
{
    auto child = std::make_unique<Child>(m_scratchDir);
    QStringList arguments{QStringLiteral("--serve"),
                          QLatin1String(serveKindName(spec.kind)),
                          QStringLiteral("--lib"),
                          QLatin1String(libName(spec.lib)),
                          QStringLiteral("--dir"),
                          m_pki.dir,
                          QStringLiteral("--key"),
                          QLatin1String(keyName(spec.key)),
                          QStringLiteral("--style"),
                          spec.style == Style::Setters ? QStringLiteral("setters")
                                                       : QStringLiteral("shared")};
    if (spec.noDelay)
        arguments << QStringLiteral("--nodelay");
    if (m_affinity.value(QLatin1String("pinned")).toBool())
        arguments << QStringLiteral("--cpu") << QStringLiteral("1");
    if (!child->startServer(arguments, error))
        return nullptr;
    return child;
}

Results Runner::alternate(const QString &group, const QList<Variant> &all, int reps, bool warmup)
{
    QList<Variant> variants;
    for (const Variant &v : all) {
        const QString lib = v.name.section(QLatin1Char('_'), 0, 0);
        const bool wanted = m_libraries.isEmpty() || !libFromName(lib) ||
                            m_libraries.contains(lib) || m_libraries.contains(v.name);
        if (wanted && (m_variants.isEmpty() || m_variants.contains(v.name)))
            variants.append(v);
    }
    Results results;
    for (const Variant &v : variants) {
        if (warmup)
            logSample(group, QStringLiteral("warm-up"), v.name, v.measure(true));
    }
    const qsizetype n = variants.size();
    for (int rep = 0; rep < reps; ++rep) {
        for (qsizetype i = 0; i < n; ++i) {
            const Variant &v = variants[(i + rep) % n];
            const Sample sample = v.measure(false);
            logSample(group, QStringLiteral("%1/%2").arg(rep + 1).arg(reps), v.name, sample);
            results[v.name].append(sample);
        }
    }
    return results;
}

void Runner::noteNegotiated(Lib lib, const Sample &sample)
{
    const QString name = QLatin1String(libName(lib));
    if (m_negotiated.contains(name) || !sample.error.isEmpty())
        return;
    m_negotiated.insert(name, QJsonObject{{"protocol", sample.info.value("protocol")},
                                          {"cipher", sample.info.value("cipher")},
                                          {"group", sample.info.value("group")}});
}

QList<Figure> Runner::run(const QStringList &groups)
{
    QList<Figure> figures;
    for (const QString &group : figureGroups() + optInGroups()) {
        const bool optIn = optInGroups().contains(group);
        if ((!groups.isEmpty() || optIn) && !groups.contains(group))
            continue;
        std::fprintf(stderr, "== %s\n", qPrintable(group));
        if (group == QLatin1String("bulk"))
            figures += bulk();
        else if (group == QLatin1String("handshakes_ecdsa"))
            figures += handshakes(KeyType::Ecdsa);
        else if (group == QLatin1String("handshakes_rsa"))
            figures += handshakes(KeyType::Rsa);
        else if (group == QLatin1String("concurrent"))
            figures += concurrent();
        else if (group == QLatin1String("idle"))
            figures += idleMemory();
        else if (group == QLatin1String("echo"))
            figures += echo();
        else if (group == QLatin1String("latency"))
            figures += latency(false) + latency(true);
        else if (group == QLatin1String("instructions"))
            figures += instructions();
        else if (group == QLatin1String("engine"))
            figures += engineOnly();
        else if (group == QLatin1String("systemca"))
            figures += systemCa();
    }
    return figures;
}

// --- 1. bulk throughput ----------------------------------------------------------------------

QList<Figure> Runner::bulk()
{
    // plain: the same transfer in plain TCP (QTcpSocket), the floor that the kernel and Qt set.
    const Lib libs[3] = {Lib::Ours, Lib::Qt, Lib::Plain};
    std::unique_ptr<Child> servers[3];
    QString error;
    for (int i = 0; i < 3; ++i) {
        servers[i] = startServer({ServeKind::Sink, libs[i]}, &error);
        if (!servers[i])
            return {failedFigure(QStringLiteral("bulk_2proc"), error),
                    failedFigure(QStringLiteral("bulk_1proc"), error)};
    }
    const ClientMaker makers[3] = {ClientMaker(m_pki, {Lib::Ours}), ClientMaker(m_pki, {Lib::Qt}),
                                   ClientMaker(m_pki, {Lib::Plain})};
    const qint64 bytes = m_scale.bulkBytes;
    QList<Variant> variants;
    for (int i = 0; i < 3; ++i) {
        variants.append({QLatin1String(libName(libs[i])), [&, i](bool) {
                             return measureBulk(makers[i], servers[i]->port(), bytes);
                         }});
    }
    // The ceiling: our sender replaced by OpenSSL alone, into the same sink (opensslbulk.h).
    for (const auto &[name, mode] : {std::pair{"openssl", OpensslWrite::Socket},
                                     std::pair{"openssl_membio", OpensslWrite::MemoryBio}}) {
        variants.append({QLatin1String(name), [&, mode = mode](bool) {
                             return measureOpensslBulk(m_pki, servers[0]->port(), bytes, mode);
                         }});
    }
    const Results two = alternate(QStringLiteral("bulk_2proc"), variants, m_scale.reps);
    for (auto &server : servers)
        server.reset();
    variants.clear();

    std::unique_ptr<BenchServer> local[3];
    for (int i = 0; i < 3; ++i) {
        local[i] = std::make_unique<BenchServer>(m_pki, ServerSpec{ServeKind::Sink, libs[i]});
        local[i]->listen(QHostAddress::LocalHost, 0);
        variants.append({QLatin1String(libName(libs[i])), [&, i](bool) {
                             return measureBulk(makers[i], local[i]->serverPort(), bytes);
                         }});
    }
    variants.append({QStringLiteral("openssl_membio"),
                     [&](bool) { return measureOpensslBulkOneThread(m_pki, bytes); }});
    const Results one = alternate(QStringLiteral("bulk_1proc"), variants, m_scale.reps);
    for (Lib lib : {Lib::Ours, Lib::Qt}) {
        for (const Sample &s : two.value(QLatin1String(libName(lib))))
            noteNegotiated(lib, s);
    }

    const QString size = QStringLiteral("%1 MiB").arg(bytes / kMiB);
    auto named = [](std::initializer_list<const char *> names) {
        QList<std::pair<QString, QString>> series;
        for (const char *name : names)
            series.append({QLatin1String(name), QLatin1String(name)});
        return series;
    };
    Figure f2 = makeFigure(QStringLiteral("bulk_2proc"),
                           QStringLiteral("bulk throughput, %1 client to server in 64 KiB "
                                          "writes, two processes (one core each)")
                               .arg(size),
                           QStringLiteral("MB/s"), true, two,
                           named({"ours", "qt", "plain", "openssl", "openssl_membio"}));
    ratioTarget(f2, 1.25, true);
    Figure f1 = makeFigure(QStringLiteral("bulk_1proc"),
                           QStringLiteral("bulk throughput, %1, client and server in one "
                                          "process (one core)")
                               .arg(size),
                           QStringLiteral("MB/s"), true, one,
                           named({"ours", "qt", "plain", "openssl_membio"}));
    ratioTarget(f1, 1.1, true);
    for (Figure *f : {&f2, &f1}) {
        const Results &r = f == &f2 ? two : one;
        // CPU seconds per transfer: the busier side bounds the throughput.
        auto cpu = [&r](const char *key) {
            QJsonObject sides;
            for (const char *lib : {"ours", "qt", "plain", "openssl", "openssl_membio"}) {
                if (r.contains(QLatin1String(lib)))
                    sides.insert(QLatin1String(lib), orNull(infoMedian(r.value(lib), key)));
            }
            return sides;
        };
        f->extra.insert(QStringLiteral("client_thread_cpu_s"), cpu("thread_cpu_s"));
        f->extra.insert(QStringLiteral("server_cpu_s"), cpu("server_cpu_s"));
        f->note = QStringLiteral("plain: QTcpSocket without TLS, for reference; default socket "
                                 "options");
    }
    // The ceiling: what OpenSSL alone reaches in the same rounds (opensslbulk.h).
    auto addCeiling = [](Figure &f, const Results &r, const QJsonObject &what) {
        const double qtRate = median(valuesOf(r.value("qt")));
        const double oursRate = median(valuesOf(r.value("ours")));
        QJsonObject ceiling = what;
        for (auto it = what.begin(); it != what.end(); ++it) {
            const double rate = median(valuesOf(r.value(it.key())));
            ceiling.insert(it.key(), QJsonObject{{"what", it.value()},
                                                 {"median", orNull(rate)},
                                                 {"ours_vs_it", orNull(oursRate / rate)},
                                                 {"it_vs_qt", orNull(rate / qtRate)}});
            f.note += QStringLiteral("; %1 (OpenSSL alone): %1/Qt %2, ours/%1 %3")
                          .arg(it.key())
                          .arg(rate / qtRate, 0, 'f', 2)
                          .arg(oursRate / rate, 0, 'f', 2);
        }
        f.extra.insert(QStringLiteral("openssl_ceiling"), ceiling);
    };
    addCeiling(f2, two,
               {{"openssl", "our client replaced by a blocking one written on libssl: SSL_set_fd, "
                            "one send() per 16 KiB record, no copy"},
                {"openssl_membio", "our client replaced by a blocking one written on libssl "
                                   "through a BIO pair of 1 MiB, sent when a 64 KiB write no "
                                   "longer fits: one copy of the records, as our library, and "
                                   "a send() per MiB (ours: per 512 KiB in this harness)"}});
    addCeiling(f1, one,
               {{"openssl_membio",
                 "an OpenSSL client and server in one thread, each through a BIO pair of 1 MiB "
                 "over a non-blocking loopback socket, taking turns: our pair without Qt"}});
    return {f2, f1};
}

// --- 2, 3. handshakes ----------------------------------------------------------------------

QList<Figure> Runner::handshakes(KeyType key)
{
    const bool ecdsa = key == KeyType::Ecdsa;
    const QString keyText = ecdsa ? QStringLiteral("ECDSA P-256") : QStringLiteral("RSA-2048");
    const QString prefix = QStringLiteral("handshakes_") + QLatin1String(keyName(key));
    QString error;
    auto oursServer = startServer({ServeKind::Handshake, Lib::Ours, key, Style::Shared}, &error);
    auto settersServer =
        oursServer ? startServer({ServeKind::Handshake, Lib::Ours, key, Style::Setters}, &error)
                   : nullptr;
    auto qtServer =
        settersServer ? startServer({ServeKind::Handshake, Lib::Qt, key}, &error) : nullptr;
    auto qtSettersServer =
        qtServer ? startServer({ServeKind::Handshake, Lib::Qt, key, Style::Setters}, &error)
                 : nullptr;
    // The floor: the same connect, first byte and close in plain TCP (QTcpSocket).
    auto plainServer = qtSettersServer && ecdsa
                           ? startServer({ServeKind::Handshake, Lib::Plain}, &error)
                           : nullptr;
    if (!qtSettersServer || (ecdsa && !plainServer))
        return {failedFigure(prefix, error)};
    // OpenSSL's own pair, the floor: it fails only its own series.
    const bool pinned = m_affinity.value(QLatin1String("pinned")).toBool();
    OpensslServer opensslServer;
    QString opensslError;
    opensslServer.start(m_pki, key, QStringLiteral("-WWW"), {}, pinned ? 1 : -1, &opensslError);

    ClientSpec spec;
    ClientMaker ours(m_pki, spec);
    spec.style = Style::Setters;
    ClientMaker oursSetters(m_pki, spec);
    spec = {};
    spec.systemCas = true;
    ClientMaker oursSystem(m_pki, spec);
    spec = {};
    spec.resumption = true;
    spec.caAsPem = true; // a context of its own even if the cache ignores the resumption flag
    ClientMaker oursResumed(m_pki, spec);
    ClientMaker qt(m_pki, {Lib::Qt});
    ClientMaker qtSetters(m_pki, {Lib::Qt, Style::Setters});
    spec = {Lib::Qt};
    spec.systemCas = true;
    ClientMaker qtSystem(m_pki, spec);
    spec = {Lib::Qt};
    spec.resumption = true;
    ClientMaker qtResumed(m_pki, spec);
    // The control of the resumption count: Qt's client keeps and offers its ticket, and our
    // server accepts tickets, so these handshakes must count as resumed.
    ClientMaker qtResumedToOurs(m_pki, spec);
    ClientMaker plain(m_pki, {Lib::Plain});

    auto rate = [this](ClientMaker &maker, Child &server) {
        return [this, &maker, &server](bool warmup) {
            return measureHandshakes(maker, server.port(),
                                     warmup ? m_scale.handshakeWarmupMs : m_scale.handshakeMs);
        };
    };
    auto opensslHandshakes = [&](bool warmup) {
        if (!opensslError.isEmpty())
            return Sample{kNaN, kNaN, {}, opensslError};
        return measureOpensslHandshakes(m_pki, opensslServer, pinned ? 0 : -1,
                                        warmup ? m_scale.handshakeWarmupMs : m_scale.handshakeMs);
    };
    QList<Variant> variants{{QStringLiteral("ours"), rate(ours, *oursServer)},
                            {QStringLiteral("ours_setters"), rate(oursSetters, *settersServer)},
                            {QStringLiteral("qt"), rate(qt, *qtServer)},
                            {QStringLiteral("qt_setters"), rate(qtSetters, *qtSettersServer)},
                            {QStringLiteral("openssl"), opensslHandshakes}};
    if (ecdsa) {
        variants.append({QStringLiteral("ours_systemca"), rate(oursSystem, *oursServer)});
        variants.append({QStringLiteral("qt_systemca"), rate(qtSystem, *qtServer)});
        variants.append({QStringLiteral("ours_resumed"), rate(oursResumed, *oursServer)});
        variants.append({QStringLiteral("qt_resumed"), rate(qtResumed, *qtServer)});
        variants.append({QStringLiteral("qt_resumed_to_ours"), rate(qtResumedToOurs, *oursServer)});
        variants.append({QStringLiteral("plain"), rate(plain, *plainServer)});
    }
    const Results r = alternate(prefix, variants, m_scale.slowReps);

    auto resumedFraction = [&r](const QString &variant) {
        const double count = infoSum(r.value(variant), "count");
        return count > 0 ? infoSum(r.value(variant), "resumed_server_view") / count : kNaN;
    };
    // CPU milliseconds per handshake of the client (this thread) and of the server, told by
    // its greetings: the sum bounds the sequential rate.
    auto cpu = [&r](const QString &ours, const QString &qt) {
        auto side = [&r](const QString &variant) {
            return QJsonObject{
                {"client", orNull(infoMedian(r.value(variant), "client_cpu_ms_per_handshake"))},
                {"server", orNull(infoMedian(r.value(variant), "server_cpu_ms_per_handshake"))}};
        };
        QJsonObject both{{"ours", side(ours)}};
        if (!qt.isEmpty())
            both.insert(QStringLiteral("qt"), side(qt));
        return both;
    };
    const QString seconds = QString::number(m_scale.handshakeMs / 1e3);
    QList<Figure> figures;

    Figure shared = makeFigure(
        prefix,
        QStringLiteral("full handshakes/s, %1 server key, sequential for %2 s, two processes")
            .arg(keyText, seconds),
        QStringLiteral("1/s"), true, r,
        {{QStringLiteral("ours"), QStringLiteral("ours")},
         {QStringLiteral("qt"), QStringLiteral("qt")}});
    ratioTarget(shared, 1.7, true);
    shared.extra = {{"cpu_ms_per_handshake", cpu(QStringLiteral("ours"), QStringLiteral("qt"))},
                    {"resumed_fraction", QJsonObject{{"ours", orNull(resumedFraction("ours"))},
                                                     {"qt", orNull(resumedFraction("qt"))}}},
                    {"ours_resumption_switch", ours.resumptionNote()}};
    shared.note = QStringLiteral("client resumption off: %1; one shared configuration "
                                 "(SecureConfiguration, QSslConfiguration); default socket "
                                 "options")
                      .arg(ours.resumptionNote());
    if (ecdsa) {
        const double plainRate = median(valuesOf(r.value("plain")));
        shared.extra.insert(
            QStringLiteral("plain_tcp_floor"),
            QJsonObject{{"per_s", orNull(plainRate)},
                        {"cpu_ms_per_connection",
                         cpu(QStringLiteral("plain"), QString())["ours"].toObject()},
                        {"what", "QTcpSocket: connect, the server's first line, close; no TLS"}});
        shared.note +=
            QStringLiteral("; plain TCP, the same without TLS: %1/s").arg(plainRate, 0, 'f', 0);
        shared.errors += errorsOf(QStringLiteral("plain"), r.value("plain"));
    }
    // The floor for any library over OpenSSL: its own pair doing the same handshakes.
    const double opensslRate = median(valuesOf(r.value("openssl")));
    const double oursVsOpenssl = shared.medianOf(QStringLiteral("ours")) / opensslRate;
    const double opensslVsQt = opensslRate / shared.medianOf(QStringLiteral("qt"));
    QJsonArray opensslValues;
    for (double v : valuesOf(r.value("openssl")))
        opensslValues.append(v);
    shared.extra.insert(
        QStringLiteral("openssl_pair"),
        QJsonObject{
            {"per_s", orNull(opensslRate)},
            {"values", opensslValues},
            {"cpu_ms_per_handshake", cpu(QStringLiteral("openssl"), QString())["ours"].toObject()},
            {"ours_vs_openssl", orNull(oursVsOpenssl)},
            {"openssl_vs_qt", orNull(opensslVsQt)},
            {"what", "openssl s_time -new -verify 1 -CAfile CA -www /greeting.txt (connect, "
                     "full handshake, a request, a line back, close) against openssl "
                     "s_server -WWW with the same leaf and suite, pinned as ours; rate = "
                     "its connections / the s_time process's wall-clock time"}});
    shared.note += QStringLiteral("; OpenSSL's own pair (s_time + s_server): %1/s, ours/openssl "
                                  "%2, openssl/Qt %3")
                       .arg(opensslRate, 0, 'f', 0)
                       .arg(oursVsOpenssl, 0, 'f', 2)
                       .arg(opensslVsQt, 0, 'f', 2);
    shared.errors += errorsOf(QStringLiteral("openssl"), r.value("openssl"));
    figures << shared;

    Figure setters = makeFigure(
        prefix + QStringLiteral("_setters"),
        QStringLiteral("full handshakes/s, %1, client and server sockets configured per socket "
                       "with their setters and the same files")
            .arg(keyText),
        QStringLiteral("1/s"), true, r,
        {{QStringLiteral("ours"), QStringLiteral("ours_setters")},
         {QStringLiteral("qt"), QStringLiteral("qt_setters")}});
    ratioTarget(setters, 1.7, true);
    const double perSocketVsShared =
        setters.medianOf(QStringLiteral("ours")) / shared.medianOf(QStringLiteral("ours"));
    setters.extra = {
        {"ours_setters_vs_shared", orNull(perSocketVsShared)},
        {"qt_setters_vs_shared",
         orNull(setters.medianOf(QStringLiteral("qt")) / shared.medianOf(QStringLiteral("qt")))},
        {"cpu_ms_per_handshake", cpu(QStringLiteral("ours_setters"), QStringLiteral("qt_setters"))},
        {"setters",
         "ours: setCaCertificatesFile + setPeerVerifyName (client), setLocalCertificate + "
         "setPrivateKey (server); Qt: the CA file read into the socket's own configuration + "
         "setPeerVerifyName (client), setLocalCertificate(path) + setPrivateKey(path) (server)"}};
    setters.note = QStringLiteral("Qt configured per socket too (qt_setters); ours per-socket / "
                                  "shared configuration: %1")
                       .arg(perSocketVsShared, 0, 'f', 2);
    figures << setters;
    if (!ecdsa)
        return figures;

    Figure system = makeFigure(
        prefix + QStringLiteral("_systemca"),
        QStringLiteral("full handshakes/s, ECDSA, system CA store trusted as well (ours: "
                       "useSystemCaCertificates + CA file; Qt: default configuration + CA)"),
        QStringLiteral("1/s"), true, r,
        {{QStringLiteral("ours"), QStringLiteral("ours_systemca")},
         {QStringLiteral("qt"), QStringLiteral("qt_systemca")}});
    const double systemVsNot =
        system.medianOf(QStringLiteral("ours")) / shared.medianOf(QStringLiteral("ours"));
    system.target = QStringLiteral("ours with system CAs >= 0.95 x ours without");
    if (!std::isnan(systemVsNot))
        system.met = systemVsNot >= 0.95;
    system.extra = {{"ours_systemca_vs_without", orNull(systemVsNot)},
                    {"qt_systemca_vs_without", orNull(system.medianOf(QStringLiteral("qt")) /
                                                      shared.medianOf(QStringLiteral("qt")))},
                    {"cpu_ms_per_handshake",
                     cpu(QStringLiteral("ours_systemca"), QStringLiteral("qt_systemca"))}};
    system.note = QStringLiteral("ours with / without the system store: %1 (5% allowed for "
                                 "noise)")
                      .arg(systemVsNot, 0, 'f', 2);
    figures << system;

    Figure resumed =
        makeFigure(QStringLiteral("handshakes_resumed"),
                   QStringLiteral("resumed handshakes/s (TLS 1.3 tickets), ECDSA, sequential, two "
                                  "processes"),
                   QStringLiteral("1/s"), true, r,
                   {{QStringLiteral("ours"), QStringLiteral("ours_resumed")},
                    {QStringLiteral("qt"), QStringLiteral("qt_resumed")}});
    const double oursFraction = resumedFraction(QStringLiteral("ours_resumed"));
    const double qtFraction = resumedFraction(QStringLiteral("qt_resumed"));
    const double resumedVsFull =
        resumed.medianOf(QStringLiteral("ours")) / shared.medianOf(QStringLiteral("ours"));
    resumed.target = QStringLiteral("ours resumed >= 1.6 x ours full, and 100% resumed");
    if (!std::isnan(resumedVsFull) && !std::isnan(oursFraction))
        resumed.met = resumedVsFull >= 1.6 && oursFraction >= 1;
    QJsonObject clientView;
    for (const char *variant : {"ours_resumed", "qt_resumed"}) {
        const QList<Sample> &samples = r.value(QLatin1String(variant));
        if (!samples.isEmpty() && samples.first().info.contains("resumed_client_view"))
            clientView.insert(QLatin1String(variant),
                              infoSum(samples, "resumed_client_view") / infoSum(samples, "count"));
    }
    resumed.extra = {
        {"resumed_fraction",
         QJsonObject{{"ours", orNull(oursFraction)}, {"qt", orNull(qtFraction)}}},
        {"resumed_fraction_client_view", clientView},
        {"ours_resumed_vs_full", orNull(resumedVsFull)},
        {"control_qt_client_to_ours_server",
         QJsonObject{{"per_s", orNull(median(valuesOf(r.value("qt_resumed_to_ours"))))},
                     {"resumed_fraction", orNull(resumedFraction("qt_resumed_to_ours"))}}},
        {"counting",
         "a server handshake counts as resumed when the server sent fewer bytes before it ended "
         "than its certificate's size (a full TLS 1.3 handshake sends the certificate); "
         "SecureSocket::isSessionResumed() is used as well when the library has it"},
        {"ours_resumption_switch", oursResumed.resumptionNote()},
        {"qt_session_api", qtResumed.resumptionNote()},
        {"cpu_ms_per_handshake",
         cpu(QStringLiteral("ours_resumed"), QStringLiteral("qt_resumed"))}};
    resumed.note = QStringLiteral("resumed (server view): ours %1%, Qt %2%; ours resumed / "
                                  "ours full: %3; control, Qt client to our server: %4% "
                                  "resumed")
                       .arg(oursFraction * 100, 0, 'f', 1)
                       .arg(qtFraction * 100, 0, 'f', 1)
                       .arg(resumedVsFull, 0, 'f', 2)
                       .arg(resumedFraction(QStringLiteral("qt_resumed_to_ours")) * 100, 0, 'f', 1);
    figures << resumed;
    return figures;
}

} // namespace bench
