// The results of a run: one Figure per measured quantity, printed as a table, written as JSON
// and drawn as a chart normalised to QSslSocket.
#ifndef SECURESOCKET_BENCH_REPORT_H
#define SECURESOCKET_BENCH_REPORT_H

#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QString>
#include <QStringList>

#include <limits>
#include <optional>

namespace bench {

struct Figure
{
    QString key;   // stable JSON name, e.g. "bulk_2proc"
    QString title; // e.g. "bulk throughput, two processes"
    QString unit;  // e.g. "MB/s"
    bool higherIsBetter = true;
    // Samples of each series, in the order measured: "ours" and "qt" are compared; others
    // (e.g. "plain", "ceiling") are shown beside them.
    QMap<QString, QList<double>> series;
    QString target; // e.g. "ours >= 1.5 x QSslSocket"; empty when the issue sets none
    double targetRatio = std::numeric_limits<double>::quiet_NaN(); // bound on ours/Qt, if any
    std::optional<bool> met; // whether the target is met, when there is one
    QString note;            // what else the reader must know about this figure
    QJsonObject extra;       // more detail for the JSON
    QStringList errors;      // failed measurements

    double medianOf(const QString &series) const;
    double ratio() const; // median ours / median qt, NaN when either is missing
};

struct RunInfo
{
    QJsonObject machine;
    QJsonObject settings;
    QJsonObject negotiated;
    QJsonObject affinity;
    bool quick = false;
    double seconds = 0;
};

void printTable(const QList<Figure> &figures);
QJsonObject toJson(const QList<Figure> &figures, const RunInfo &info);
bool writeJson(const QString &path, const QJsonObject &document, QString *error);
// The chart as SVG (PNG when path ends with .png), made by gnuplot from a data file written
// beside it.
bool drawChart(const QString &path, const QList<Figure> &figures, QString *error);
// Every figure has a number for each series it must have, and the file parses as JSON.
QStringList checkJsonFile(const QString &path, const QStringList &expectedFigures);

} // namespace bench

#endif
