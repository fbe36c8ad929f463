// Internal helpers of the figure runner: turning samples into figures and logging progress.
#ifndef SECURESOCKET_BENCH_FIGURESUPPORT_H
#define SECURESOCKET_BENCH_FIGURESUPPORT_H

#include "bench.h"
#include "report.h"

#include <QJsonValue>
#include <QMap>

#include <utility>

namespace bench {

inline constexpr qint64 kMiB = 1024 * 1024;

// The samples of each variant of a group, by variant name ("ours", "qt_systemca", ...).
using Results = QMap<QString, QList<Sample>>;

QList<double> valuesOf(const QList<Sample> &samples, bool second = false);
QStringList errorsOf(const QString &variant, const QList<Sample> &samples);
double infoMedian(const QList<Sample> &samples, const char *key); // of a numeric info member
double infoSum(const QList<Sample> &samples, const char *key);
QJsonValue orNull(double value);

// A figure whose series are the given variants' values (value2 when `second`).
Figure makeFigure(const QString &key, const QString &title, const QString &unit,
                  bool higherIsBetter, const Results &results,
                  const QList<std::pair<QString, QString>> &seriesFromVariant, bool second = false);
// Target "ours/Qt >= bound" (or <=), and whether the medians meet it.
void ratioTarget(Figure &f, double bound, bool atLeast);
Figure failedFigure(const QString &key, const QString &error);
// One line of progress on stderr.
void logSample(const QString &group, const QString &round, const QString &variant, const Sample &s);

} // namespace bench

#endif
