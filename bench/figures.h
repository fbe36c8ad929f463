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
    qint64 engineBytes = qint64(1) << 30;
    double engineHandshakeSeconds = 1;

    static Scale full();
    static Scale quickScale(bool sanitized);
    QJsonObject toJson() const;
};

// The figure groups, in the order they run; --only takes a comma-separated subset.
QStringList figureGroups();
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
                                           int reps);
    std::unique_ptr<Child> startServer(const ServerSpec &spec, QString *error);

    QList<Figure> bulk();
    QList<Figure> handshakes(KeyType key);
    QList<Figure> concurrent();
    QList<Figure> idleMemory();
    QList<Figure> echo();
    QList<Figure> engineOnly();
    QList<Figure> systemCa();

    Sample measureIdle(Lib lib, int count);
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
