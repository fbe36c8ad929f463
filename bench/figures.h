// The figures of issue 6: what is measured, in which processes, how often, in which order.
#ifndef SECURESOCKET_BENCH_FIGURES_H
#define SECURESOCKET_BENCH_FIGURES_H

#include "bench.h"
#include "report.h"

#include <functional>
#include <memory>

namespace bench {

class Child;
struct ServerSpec;
enum class ServeKind;

// How big and how often; --quick makes every figure small.
struct Scale
{
    bool quick = false;
    int reps = 5;     // repetitions of each short figure
    int slowReps = 3; // of each 5-second handshake figure and of idle memory
    qint64 bulkBytes = qint64(1) << 30;
    double handshakeMs = 5000;
    double handshakeWarmupMs = 1000;
    int concurrent = 500;
    int idleCount = 5000;
    int idleWarmupCount = 500;
    int echoCount = 20000;
    int latencyCount = 300; // sequential connections per repetition of each latency variant
    // Handshakes of the two runs whose difference gives instructions per handshake.
    int instructionsFewer = 10;
    int instructionsMore = 40;
    // The same for openssl s_time: CPU seconds of its two runs (it counts its connections).
    int opensslFewerSeconds = 2;
    int opensslMoreSeconds = 6;
    qint64 engineBytes = qint64(1) << 30;
    double engineHandshakeSeconds = 1;

    static Scale full();
    static Scale quickScale(bool sanitized);
    QJsonObject toJson() const;
};

// The figure groups a full run measures, in the order they run; --only takes a comma-separated
// subset of them or of the opt-in groups.
QStringList figureGroups();
// Groups measured only when --only names them: "instructions" (callgrind, minutes).
QStringList optInGroups();
// The JSON names of the figures a complete run produces.
QStringList expectedFigures();

class Runner
{
public:
    Runner(const Scale &scale, const Pki &pki, const QString &scratchDir);
    ~Runner();

    QList<Figure> run(const QStringList &groups);
    // Profiling: measure only these libraries ("ours", "qt", "plain") or variants
    // ("ours_systemca", ...); empty means all.
    void setLibraries(const QStringList &libraries) { m_libraries = libraries; }
    // Profiling: measure only the variants of exactly these names ("ours", "qt_resumed", ...).
    void setVariants(const QStringList &variants) { m_variants = variants; }
    QJsonObject negotiated() const { return m_negotiated; }
    QJsonObject affinity() const { return m_affinity; }
    QString engineOpenssl() const { return m_engineOpenssl; }

private:
    struct Variant
    {
        QString name;
        std::function<Sample(bool warmup)> measure;
    };
    // Each variant once as an unreported warm-up, then `reps` rounds, the order rotated each
    // round so that no variant always runs first.
    QMap<QString, QList<Sample>> alternate(const QString &group, const QList<Variant> &variants,
                                           int reps, bool warmup = true);
    // The variants ours, qt, plain, ours_nodelay and qt_nodelay of a two-process figure, each
    // against a server child of its own (*_nodelay: TCP_NODELAY set on both sides).
    QMap<QString, QList<Sample>>
    alternateWithNoDelay(const QString &group, ServeKind kind,
                         const std::function<Sample(ClientMaker &, quint16)> &measure,
                         QString *error);
    std::unique_ptr<Child> startServer(const ServerSpec &spec, QString *error);

    QList<Figure> bulk();
    QList<Figure> handshakes(KeyType key);
    QList<Figure> concurrent();
    QList<Figure> idleMemory();
    QList<Figure> echo();
    QList<Figure> latency(bool clientFirst);
    QList<Figure> instructions();
    QList<Figure> engineOnly();
    QList<Figure> systemCa();

    Sample measureIdle(Lib lib, Style style, int count);
    Sample countInstructions(Lib lib);
    Sample countOpensslInstructions();
    Sample measureSystemCa(Lib lib, quint16 port);
    Sample runEngine(const QStringList &arguments);
    Sample runOpensslSpeed();
    void noteNegotiated(Lib lib, const Sample &sample);

    Scale m_scale;
    Pki m_pki;
    QString m_scratchDir;
    QJsonObject m_negotiated;
    QJsonObject m_affinity;
    QString m_engineOpenssl;
    QStringList m_libraries;
    QStringList m_variants;
};

} // namespace bench

#endif
