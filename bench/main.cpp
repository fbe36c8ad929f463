// securesocket-bench: SecureSocket against QSslSocket, side by side in one run (issue 6).
//
//   securesocket-bench [--quick] [--json FILE] [--chart FILE.svg] [--only GROUPS] [--reps N]
//                      [--libs ours,qt,plain] [--variants NAMES]
//
// Prints a table and writes the same figures as JSON; each figure is the median of several
// repetitions (with min and max), the two libraries measured alternately, with the ratio
// ours / QSslSocket. See bench/README.md.
#include "bench.h"
#include "clientroles.h"
#include "figures.h"
#include "report.h"
#include "server.h"

#include <QCoreApplication>
#include <QFile>
#include <QProcess>
#include <QSslSocket>
#include <QSysInfo>
#include <QTemporaryDir>
#include <QThread>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#ifndef SECURESOCKET_BENCH_SANITIZED
#define SECURESOCKET_BENCH_SANITIZED 0
#endif
#ifndef SECURESOCKET_BENCH_BUILD_TYPE
#define SECURESOCKET_BENCH_BUILD_TYPE ""
#endif
#ifndef SECURESOCKET_BENCH_SOURCE_DIR
#define SECURESOCKET_BENCH_SOURCE_DIR "."
#endif

namespace {

using namespace bench;

void usage()
{
    std::printf(
        "usage: securesocket-bench [--quick] [--json FILE] [--chart FILE.svg] [--only GROUPS] "
        "[--reps N]\n"
        "  --quick       every figure small (seconds in all): proves the benchmark works\n"
        "  (every socket uses default socket options; echo and latency add *_nodelay series)\n"
        "  --json FILE   write the figures as JSON\n"
        "  --chart FILE  draw the comparison with gnuplot (SVG), normalised to QSslSocket = 1\n"
        "  --only LIST   comma-separated groups: %s\n"
        "                or the opt-in group(s), never part of a full run: %s\n"
        "                (instructions: instructions per handshake under valgrind "
        "--tool=callgrind,\n"
        "                ours, QSslSocket and openssl s_time + s_server; minutes)\n"
        "  --reps N      repetitions of every figure (default 5, 3 for 5-second figures)\n"
        "  --libs LIST   profiling: measure only these libraries (ours,qt,plain) or variants\n"
        "                (e.g. ours_systemca); figures then lack their ratios\n"
        "  --variants L  profiling: measure only the variants of exactly these names\n",
        qPrintable(figureGroups().join(QLatin1Char(','))),
        qPrintable(optInGroups().join(QLatin1Char(','))));
}

QString firstLine(const QString &path, const QByteArray &prefix)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    for (const QByteArray &line : file.readAll().split('\n')) {
        if (line.startsWith(prefix))
            return QString::fromUtf8(line.mid(line.indexOf(':') + 1).trimmed());
    }
    return {};
}

QString loadAverage()
{
    QFile file(QStringLiteral("/proc/loadavg"));
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QString::fromLatin1(file.readAll()).section(QLatin1Char(' '), 0, 2);
}

QString commandOutput(const QString &program, const QStringList &arguments)
{
    QProcess process;
    process.start(program, arguments);
    process.waitForFinished(10000);
    return QString::fromLocal8Bit(process.readAllStandardOutput()).trimmed();
}

QJsonObject machine()
{
    return {{"cpu_model", firstLine(QStringLiteral("/proc/cpuinfo"), "model name")},
            {"cpus", QThread::idealThreadCount()},
            {"kernel", QSysInfo::kernelType() + QLatin1Char(' ') + QSysInfo::kernelVersion()},
            {"os", QSysInfo::prettyProductName()},
            {"qt", QString::fromLatin1(qVersion())},
            {"qt_tls_backend", QSslSocket::activeBackend()},
            {"qt_openssl", QSslSocket::sslLibraryVersionString()},
            {"openssl_cli", commandOutput(QStringLiteral("openssl"), {QStringLiteral("version")})},
            {"build_type", QStringLiteral(SECURESOCKET_BENCH_BUILD_TYPE)},
            {"source_commit",
             commandOutput(QStringLiteral("git"),
                           {QStringLiteral("-C"), QStringLiteral(SECURESOCKET_BENCH_SOURCE_DIR),
                            QStringLiteral("describe"), QStringLiteral("--always"),
                            QStringLiteral("--dirty")})},
            {"sanitized", bool(SECURESOCKET_BENCH_SANITIZED)},
            {"load_average_start", loadAverage()}};
}

// Every figure has its numbers: ours and QSslSocket (engine only: ours and the ceiling).
QStringList missingNumbers(const QList<Figure> &figures)
{
    QStringList problems;
    for (const Figure &f : figures) {
        const bool engineOnly = f.key == QLatin1String("engine_only");
        const QStringList required =
            engineOnly ? QStringList{QStringLiteral("ours"), QStringLiteral("ceiling")}
                       : QStringList{QStringLiteral("ours"), QStringLiteral("qt")};
        for (const QString &series : required) {
            if (std::isnan(f.medianOf(series)))
                problems << QStringLiteral("%1: no number for %2").arg(f.key, series);
        }
        for (const QString &error : f.errors)
            problems << f.key + QStringLiteral(": ") + error;
    }
    return problems;
}

int runBenchmark(const QStringList &args)
{
    const bool quick = args.contains(QStringLiteral("--quick"));
    const QString jsonPath = argValue(args, QStringLiteral("--json"));
    const QString chartPath = argValue(args, QStringLiteral("--chart"));
    const QString only = argValue(args, QStringLiteral("--only"));
    const QStringList groups = only.isEmpty() ? QStringList() : only.split(QLatin1Char(','));
    for (const QString &group : groups) {
        if (!figureGroups().contains(group) && !optInGroups().contains(group)) {
            std::fprintf(stderr, "unknown group '%s'\n", qPrintable(group));
            usage();
            return 2;
        }
    }
    Scale scale = quick ? Scale::quickScale(SECURESOCKET_BENCH_SANITIZED) : Scale::full();
    if (const int reps = argValue(args, QStringLiteral("--reps")).toInt(); reps > 0)
        scale.reps = scale.slowReps = reps;

    if (!QSslSocket::supportsSsl()) {
        std::fprintf(stderr, "QSslSocket has no TLS backend: install Qt's OpenSSL plug-in\n");
        return 1;
    }
    QTemporaryDir scratch;
    if (!scratch.isValid()) {
        std::fprintf(stderr, "cannot create a temporary directory\n");
        return 1;
    }
    // For profiling: SECURESOCKET_BENCH_KEEP=1 keeps the certificates and the callgrind outputs.
    if (qEnvironmentVariableIntValue("SECURESOCKET_BENCH_KEEP") != 0) {
        scratch.setAutoRemove(false);
        std::fprintf(stderr, "scratch directory kept: %s\n", qPrintable(scratch.path()));
    }
    Pki pki;
    try {
        pki = makePki(scratch.path());
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cannot make the certificates: %s\n", e.what());
        return 1;
    }

    RunInfo info;
    info.quick = quick;
    info.machine = machine();
    info.settings = scale.toJson();
    const double start = nowMs();
    Runner runner(scale, pki, scratch.path());
    if (const QString libs = argValue(args, QStringLiteral("--libs")); !libs.isEmpty())
        runner.setLibraries(libs.split(QLatin1Char(',')));
    if (const QString variants = argValue(args, QStringLiteral("--variants")); !variants.isEmpty())
        runner.setVariants(variants.split(QLatin1Char(',')));
    const QList<Figure> figures = runner.run(groups);
    info.seconds = (nowMs() - start) / 1e3;
    info.machine.insert(QStringLiteral("load_average_end"), loadAverage());
    info.machine.insert(QStringLiteral("ours_openssl"), runner.engineOpenssl());
    info.negotiated = runner.negotiated();
    info.affinity = runner.affinity();

    printTable(figures);
    std::printf("\n%s run: %.0f s\n", quick ? "quick" : "full", info.seconds);
    QStringList problems = missingNumbers(figures);
    QString error;
    if (!jsonPath.isEmpty()) {
        if (!writeJson(jsonPath, toJson(figures, info), &error)) {
            problems << error;
        } else {
            QStringList keys;
            for (const Figure &f : figures)
                keys << f.key;
            if (groups.isEmpty())
                keys = expectedFigures();
            problems += checkJsonFile(jsonPath, keys);
            std::printf("JSON: %s\n", qPrintable(jsonPath));
        }
    }
    if (!chartPath.isEmpty()) {
        if (drawChart(chartPath, figures, &error))
            std::printf("chart: %s\n", qPrintable(chartPath));
        else
            problems << error;
    }
    for (const QString &problem : problems)
        std::fprintf(stderr, "PROBLEM: %s\n", qPrintable(problem));
    return problems.isEmpty() ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    bench::raiseFileLimit();
    const QStringList args = app.arguments();
    if (args.contains(QStringLiteral("--help")) || args.contains(QStringLiteral("-h"))) {
        usage();
        return 0;
    }
    if (args.contains(QStringLiteral("--serve")))
        return bench::serveMain(args);
    if (args.contains(QStringLiteral("--client")))
        return bench::clientMain(args);
    return runBenchmark(args);
}
