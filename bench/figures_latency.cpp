// The figures of time per connection and per message: many handshakes at once, the echo round
// trip on one connection, and the latency of a new connection to its first application byte.
// Default socket options (Nagle on) everywhere; echo and latency also have *_nodelay series
// with TCP_NODELAY on both sides, shown beside them and not used for the ratio.
#include "figures.h"

#include "child.h"
#include "figuresupport.h"
#include "measure.h"
#include "server.h"

#include <memory>
#include <vector>

namespace bench {

namespace {

// The series of a figure measured with alternateWithNoDelay(): the ratio is ours / qt, both
// with default socket options.
const QList<std::pair<QString, QString>> kNoDelaySeries{
    {QStringLiteral("ours"), QStringLiteral("ours")},
    {QStringLiteral("qt"), QStringLiteral("qt")},
    {QStringLiteral("plain"), QStringLiteral("plain")},
    {QStringLiteral("ours_nodelay"), QStringLiteral("ours_nodelay")},
    {QStringLiteral("qt_nodelay"), QStringLiteral("qt_nodelay")}};

// A median and a 99th-percentile figure (value and value2 of each sample), lower is better,
// each with the target ours/Qt <= bound.
QList<Figure> medianAndP99(const QString &prefix, const QString &title, const QString &unit,
                           const Results &r, double bound, const QString &note)
{
    QList<Figure> figures;
    for (const bool p99 : {false, true}) {
        Figure f = makeFigure(
            prefix + (p99 ? QStringLiteral("_p99") : QStringLiteral("_median")),
            title.arg(p99 ? QStringLiteral("99th percentile") : QStringLiteral("median")), unit,
            false, r, kNoDelaySeries, p99);
        ratioTarget(f, bound, false);
        const double noDelayRatio =
            f.medianOf(QStringLiteral("ours_nodelay")) / f.medianOf(QStringLiteral("qt_nodelay"));
        f.extra.insert(QStringLiteral("nodelay_ratio"), orNull(noDelayRatio));
        // Plain TCP through QTcpSocket against QSslSocket: not a floor (a socket that reads and
        // writes its descriptor itself, as ours does once encrypted, can beat QTcpSocket).
        const double plainRatio =
            f.medianOf(QStringLiteral("plain")) / f.medianOf(QStringLiteral("qt"));
        f.extra.insert(QStringLiteral("plain_vs_qt"), orNull(plainRatio));
        f.extra.insert(QStringLiteral("socket_options"),
                       QStringLiteral("ours, qt, plain: default socket options on both sides; "
                                      "ours_nodelay, qt_nodelay: LowDelayOption (TCP_NODELAY) on "
                                      "both sides, not used for the ratio"));
        f.note = note + QStringLiteral(" (plain/Qt %1); default "
                                       "socket options (ours_nodelay / qt_nodelay with "
                                       "TCP_NODELAY on both sides: %2)")
                            .arg(plainRatio, 0, 'f', 2)
                            .arg(noDelayRatio, 0, 'f', 2);
        figures << f;
    }
    return figures;
}

} // namespace

Results Runner::alternateWithNoDelay(const QString &group, ServeKind kind,
                                     const std::function<Sample(ClientMaker &, quint16)> &measure,
                                     QString *error)
{
    struct Setup
    {
        const char *name;
        Lib lib;
        bool noDelay;
    };
    const Setup setups[] = {{"ours", Lib::Ours, false},
                            {"qt", Lib::Qt, false},
                            {"plain", Lib::Plain, false},
                            {"ours_nodelay", Lib::Ours, true},
                            {"qt_nodelay", Lib::Qt, true}};
    std::vector<std::unique_ptr<Child>> servers;
    std::vector<std::unique_ptr<ClientMaker>> makers;
    QList<Variant> variants;
    for (const Setup &setup : setups) {
        ServerSpec spec{kind, setup.lib};
        spec.noDelay = setup.noDelay;
        servers.push_back(startServer(spec, error));
        if (!servers.back())
            return {};
        ClientSpec client{setup.lib};
        client.noDelay = setup.noDelay;
        makers.push_back(std::make_unique<ClientMaker>(m_pki, client));
        ClientMaker *maker = makers.back().get();
        const quint16 port = servers.back()->port();
        variants.append({QLatin1String(setup.name),
                         [&measure, maker, port](bool) { return measure(*maker, port); }});
    }
    return alternate(group, variants, m_scale.reps);
}

// --- 4. concurrent handshakes --------------------------------------------------------------

QList<Figure> Runner::concurrent()
{
    QString error;
    auto oursServer = startServer({ServeKind::Handshake, Lib::Ours}, &error);
    auto qtServer = oursServer ? startServer({ServeKind::Handshake, Lib::Qt}, &error) : nullptr;
    if (!qtServer)
        return {failedFigure(QStringLiteral("concurrent_500"), error)};
    const ClientMaker ours(m_pki, {Lib::Ours});
    const ClientMaker qt(m_pki, {Lib::Qt});
    const int count = m_scale.concurrent;
    const Results r =
        alternate(QStringLiteral("concurrent"),
                  {{QStringLiteral("ours"),
                    [&](bool) { return measureConcurrent(ours, oursServer->port(), count); }},
                   {QStringLiteral("qt"),
                    [&](bool) { return measureConcurrent(qt, qtServer->port(), count); }}},
                  m_scale.reps);
    Figure f = makeFigure(QStringLiteral("concurrent_500"),
                          QStringLiteral("%1 clients connecting at once (ECDSA), time until all "
                                         "are encrypted, two processes")
                              .arg(count),
                          QStringLiteral("ms"), false, r,
                          {{QStringLiteral("ours"), QStringLiteral("ours")},
                           {QStringLiteral("qt"), QStringLiteral("qt")}});
    f.extra.insert(QStringLiteral("clients"), count);
    return {f};
}

// --- 6. echo round trip ----------------------------------------------------------------------

QList<Figure> Runner::echo()
{
    QString error;
    const int count = m_scale.echoCount;
    const Results r = alternateWithNoDelay(
        QStringLiteral("echo"), ServeKind::Echo,
        [count](ClientMaker &maker, quint16 port) { return measureEcho(maker, port, count); },
        &error);
    if (r.isEmpty())
        return {failedFigure(QStringLiteral("echo_rtt_median"), error)};
    return medianAndP99(QStringLiteral("echo_rtt"),
                        QStringLiteral("echo round trip, 64-byte messages, %1 ping-pongs on one "
                                       "connection, two processes: %2")
                            .arg(count),
                        QStringLiteral("us"), r, 0.8,
                        QStringLiteral("plain: QTcpSocket without TLS, for reference"));
}

// --- 7. latency of a new connection ------------------------------------------------------------

QList<Figure> Runner::latency(bool clientFirst)
{
    const QString prefix = clientFirst ? QStringLiteral("latency_client_first")
                                       : QStringLiteral("latency_server_greets");
    QString error;
    const int count = m_scale.latencyCount;
    const Results r = alternateWithNoDelay(
        prefix, clientFirst ? ServeKind::Echo : ServeKind::Handshake,
        [count, clientFirst](ClientMaker &maker, quint16 port) {
            return measureLatency(maker, port, count, clientFirst);
        },
        &error);
    if (r.isEmpty())
        return {failedFigure(prefix + QStringLiteral("_median"), error)};
    const QString how =
        clientFirst ? QStringLiteral("the client writes a request once encrypted, the server "
                                     "answers it")
                    : QStringLiteral("the server writes a line once encrypted");
    QList<Figure> figures = medianAndP99(
        prefix,
        QStringLiteral("connect + handshake + first byte, %1: %2 sequential connections, from "
                       "connectToHostEncrypted() to the first application byte at the client, "
                       "ECDSA, client resumption off, closed by the client, two processes: %3")
            .arg(how)
            .arg(count),
        QStringLiteral("ms"), r, 0.8,
        QStringLiteral("plain: QTcpSocket without TLS (connectToHost), the floor"));
    for (Figure &f : figures)
        f.extra.insert(QStringLiteral("connections"), count);
    return figures;
}

} // namespace bench
