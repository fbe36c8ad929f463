#include "figuresupport.h"

#include <cmath>
#include <cstdio>

namespace bench {

QList<double> valuesOf(const QList<Sample> &samples, bool second)
{
    QList<double> values;
    for (const Sample &s : samples)
        values.append(second ? s.value2 : s.value);
    return values;
}

QStringList errorsOf(const QString &variant, const QList<Sample> &samples)
{
    QStringList errors;
    for (const Sample &s : samples) {
        if (!s.error.isEmpty())
            errors << variant + QStringLiteral(": ") + s.error;
    }
    return errors;
}

double infoMedian(const QList<Sample> &samples, const char *key)
{
    QList<double> values;
    for (const Sample &s : samples) {
        if (s.info.contains(QLatin1String(key)))
            values.append(s.info.value(QLatin1String(key)).toDouble());
    }
    return median(values);
}

double infoSum(const QList<Sample> &samples, const char *key)
{
    double sum = 0;
    for (const Sample &s : samples)
        sum += s.info.value(QLatin1String(key)).toDouble();
    return sum;
}

QJsonValue orNull(double value)
{
    return std::isnan(value) ? QJsonValue() : QJsonValue(value);
}

Figure makeFigure(const QString &key, const QString &title, const QString &unit,
                  bool higherIsBetter, const Results &results,
                  const QList<std::pair<QString, QString>> &seriesFromVariant, bool second)
{
    Figure f;
    f.key = key;
    f.title = title;
    f.unit = unit;
    f.higherIsBetter = higherIsBetter;
    for (const auto &[series, variant] : seriesFromVariant) {
        f.series.insert(series, valuesOf(results.value(variant), second));
        f.errors += errorsOf(variant, results.value(variant));
    }
    return f;
}

void ratioTarget(Figure &f, double bound, bool atLeast)
{
    f.target = QStringLiteral("ours/Qt %1 %2").arg(atLeast ? ">=" : "<=").arg(bound);
    f.targetRatio = bound;
    const double ratio = f.ratio();
    if (!std::isnan(ratio))
        f.met = atLeast ? ratio >= bound : ratio <= bound;
}

void logSample(const QString &group, const QString &round, const QString &variant, const Sample &s)
{
    QString text;
    if (!s.error.isEmpty())
        text = QStringLiteral("ERROR ") + s.error;
    else if (std::isnan(s.value2))
        text = QString::number(s.value, 'g', 6);
    else
        text = QString::number(s.value, 'g', 6) + QStringLiteral(" / ") +
               QString::number(s.value2, 'g', 6);
    if (s.error.isEmpty() && s.info.contains(QLatin1String("count")))
        text += QStringLiteral(" (n=%1)").arg(s.info.value(QLatin1String("count")).toInt());
    std::fprintf(stderr, "  %-20s %-9s %-16s %s\n", qPrintable(group), qPrintable(round),
                 qPrintable(variant), qPrintable(text));
}

Figure failedFigure(const QString &key, const QString &error)
{
    Figure f;
    f.key = key;
    f.title = key;
    f.errors << error;
    return f;
}

} // namespace bench
