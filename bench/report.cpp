#include "report.h"

#include "bench.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QSaveFile>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace bench {

double Figure::medianOf(const QString &name) const
{
    return median(series.value(name));
}

double Figure::ratio() const
{
    const double ours = medianOf(QStringLiteral("ours"));
    const double qt = medianOf(QStringLiteral("qt"));
    return std::isnan(ours) || std::isnan(qt) || qt == 0 ? kNaN : ours / qt;
}

namespace {

QString number(double value)
{
    if (std::isnan(value))
        return QStringLiteral("n/a");
    const double magnitude = std::fabs(value);
    const int decimals = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3;
    return QString::number(value, 'f', decimals);
}

QString cell(const QList<double> &samples)
{
    if (samples.isEmpty())
        return QStringLiteral("-");
    const auto [low, high] = std::minmax_element(samples.begin(), samples.end());
    return QStringLiteral("%1 [%2..%3]").arg(number(median(samples)), number(*low), number(*high));
}

QString metText(const Figure &figure)
{
    if (!figure.met)
        return figure.target.isEmpty() ? QStringLiteral("-") : QStringLiteral("?");
    return *figure.met ? QStringLiteral("yes") : QStringLiteral("NO");
}

QJsonObject seriesJson(const QList<double> &samples)
{
    QJsonArray values;
    for (double v : samples)
        values.append(std::isnan(v) ? QJsonValue() : QJsonValue(v));
    QList<double> finite = samples;
    finite.removeIf([](double v) { return std::isnan(v); });
    const auto [low, high] = std::minmax_element(finite.begin(), finite.end());
    auto orNull = [](double v) { return std::isnan(v) ? QJsonValue() : QJsonValue(v); };
    return {{"median", orNull(median(samples))},
            {"min", finite.isEmpty() ? QJsonValue() : QJsonValue(*low)},
            {"max", finite.isEmpty() ? QJsonValue() : QJsonValue(*high)},
            {"samples", values}};
}

} // namespace

void printTable(const QList<Figure> &figures)
{
    std::printf("\n%-28s %-7s %-26s %-26s %-7s %-34s %s\n", "figure", "unit",
                "ours median [min..max]", "QSslSocket median [min..max]", "ours/Qt", "target",
                "met");
    for (const Figure &f : figures) {
        std::printf("%-28s %-7s %-26s %-26s %-7s %-34s %s\n", qPrintable(f.key), qPrintable(f.unit),
                    qPrintable(cell(f.series.value(QStringLiteral("ours")))),
                    qPrintable(cell(f.series.value(QStringLiteral("qt")))),
                    qPrintable(number(f.ratio())),
                    qPrintable(f.target.isEmpty() ? QStringLiteral("-") : f.target),
                    qPrintable(metText(f)));
        for (auto it = f.series.cbegin(); it != f.series.cend(); ++it) {
            if (it.key() != QLatin1String("ours") && it.key() != QLatin1String("qt"))
                std::printf("%-28s %-7s %s: %s\n", "", "", qPrintable(it.key()),
                            qPrintable(cell(it.value())));
        }
        if (!f.note.isEmpty())
            std::printf("%-28s note: %s\n", "", qPrintable(f.note));
        for (const QString &error : f.errors)
            std::printf("%-28s ERROR: %s\n", "", qPrintable(error));
    }
    std::fflush(stdout);
}

QJsonObject toJson(const QList<Figure> &figures, const RunInfo &info)
{
    QJsonObject all;
    for (const Figure &f : figures) {
        QJsonObject figure = f.extra;
        figure.insert(QStringLiteral("title"), f.title);
        figure.insert(QStringLiteral("unit"), f.unit);
        figure.insert(QStringLiteral("better"), f.higherIsBetter ? "higher" : "lower");
        for (auto it = f.series.cbegin(); it != f.series.cend(); ++it)
            figure.insert(it.key(), seriesJson(it.value()));
        const double ratio = f.ratio();
        figure.insert(QStringLiteral("ratio"), std::isnan(ratio) ? QJsonValue() : ratio);
        figure.insert(QStringLiteral("target"), f.target.isEmpty() ? QJsonValue() : f.target);
        figure.insert(QStringLiteral("met"), f.met ? QJsonValue(*f.met) : QJsonValue());
        if (!f.note.isEmpty())
            figure.insert(QStringLiteral("note"), f.note);
        if (!f.errors.isEmpty())
            figure.insert(QStringLiteral("errors"), QJsonArray::fromStringList(f.errors));
        all.insert(f.key, figure);
    }
    return {{"program", "securesocket-bench"},
            {"format", 1},
            {"mode", info.quick ? "quick" : "full"},
            {"duration_s", info.seconds},
            {"machine", info.machine},
            {"affinity", info.affinity},
            {"settings", info.settings},
            {"negotiated", info.negotiated},
            {"figures", all}};
}

bool writeJson(const QString &path, const QJsonObject &document, QString *error)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) ||
        file.write(QJsonDocument(document).toJson(QJsonDocument::Indented)) < 0 || !file.commit()) {
        *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

bool drawChart(const QString &path, const QList<Figure> &figures, QString *error)
{
    const QString dataPath = QFileInfo(path).absolutePath() + QLatin1Char('/') +
                             QFileInfo(path).completeBaseName() + QStringLiteral(".dat");
    QByteArray data =
        "# figure  ours_relative  qt_relative(=1)  target_relative  (higher is better)\n";
    int rows = 0;
    for (const Figure &f : figures) {
        const double ratio = f.ratio();
        if (std::isnan(ratio) || ratio <= 0)
            continue; // no QSslSocket equivalent (engine only) or no number
        const double relative = f.higherIsBetter ? ratio : 1 / ratio;
        const double target = f.higherIsBetter ? f.targetRatio : 1 / f.targetRatio;
        data +=
            QStringLiteral("\"%1%2\" %3 1 %4\n")
                .arg(f.key, f.higherIsBetter ? QString() : QStringLiteral(" (inv.)"))
                .arg(relative, 0, 'f', 4)
                .arg(std::isnan(target) ? QStringLiteral("NaN") : QString::number(target, 'f', 4))
                .toUtf8();
        ++rows;
    }
    QSaveFile dataFile(dataPath);
    if (rows == 0 || !dataFile.open(QIODevice::WriteOnly) || dataFile.write(data) < 0 ||
        !dataFile.commit()) {
        *error = rows == 0 ? QStringLiteral("no figure to draw")
                           : QStringLiteral("cannot write %1").arg(dataPath);
        return false;
    }
    const QString script =
        QStringLiteral(
            "%3\n"
            "set output '%1'\n"
            "set title \"SecureSocket vs QSslSocket, same run, normalised to QSslSocket = 1. "
            "Higher is better:\\ntime and memory figures (inv.) are drawn inverted, as "
            "QSslSocket / ours\" noenhanced\n"
            "set style data histograms\n"
            "set style histogram clustered gap 1\n"
            "set style fill solid 0.85 border -1\n"
            "set boxwidth 0.9\n"
            "set ylabel 'relative to QSslSocket (x)'\n"
            "set xtics rotate by -35 scale 0 noenhanced\n"
            "set yrange [0:*]\n"
            "set grid ytics\n"
            "set key top right\n"
            "set bmargin 10\n"
            "set rmargin 12\n"
            "set datafile missing 'NaN'\n"
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb 'gray30'\n"
            "plot '%2' using 2:xtic(1) title 'SecureSocket' lc rgb '#1f77b4', "
            "'' using 3 title 'QSslSocket' lc rgb '#ff7f0e', "
            "'' using ($0-1.0/6):(0):(sprintf('%.2f',$2)) with labels offset 0,0.7 "
            "font ',8' tc rgb 'white' notitle, "
            "'' using ($0-1.0/6):4 with points pt 9 ps 1.6 lc rgb 'black' "
            "title 'target for SecureSocket (issue 14)'\n")
            .arg(path, dataPath,
                 path.endsWith(QLatin1String(".png"))
                     ? QStringLiteral("set terminal pngcairo size 1400,650 font 'sans,10'")
                     : QStringLiteral("set terminal svg size 1400,650 dynamic font 'sans,11' "
                                      "background rgb 'white'"));
    QProcess gnuplot;
    gnuplot.start(QStringLiteral("gnuplot"), {});
    if (!gnuplot.waitForStarted(10000)) {
        *error = QStringLiteral("cannot run gnuplot: ") + gnuplot.errorString();
        return false;
    }
    gnuplot.write(script.toUtf8());
    gnuplot.closeWriteChannel();
    if (!gnuplot.waitForFinished(30000) || gnuplot.exitCode() != 0) {
        *error = QStringLiteral("gnuplot failed: ") +
                 QString::fromLocal8Bit(gnuplot.readAllStandardError());
        return false;
    }
    return true;
}

QStringList checkJsonFile(const QString &path, const QStringList &expectedFigures)
{
    QStringList problems;
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {QStringLiteral("cannot read %1").arg(path)};
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(file.readAll(), &parseError);
    if (!document.isObject())
        return {QStringLiteral("%1 is not valid JSON: %2").arg(path, parseError.errorString())};
    const QJsonObject figures = document.object().value(QLatin1String("figures")).toObject();
    for (const QString &key : expectedFigures) {
        const QJsonObject figure = figures.value(key).toObject();
        if (figure.isEmpty()) {
            problems << QStringLiteral("figure %1 is missing").arg(key);
            continue;
        }
        const bool engineOnly = key == QLatin1String("engine_only");
        for (const char *series : {"ours", "qt"}) {
            if (engineOnly && QLatin1String(series) == QLatin1String("qt"))
                continue;
            if (!figure.value(QLatin1String(series))
                     .toObject()
                     .value(QLatin1String("median"))
                     .isDouble())
                problems << QStringLiteral("figure %1 has no number for %2")
                                .arg(key, QLatin1String(series));
        }
    }
    return problems;
}

} // namespace bench
