// securesocket-probe: the findings in words (for people) or as one JSON object (for scripts).
#ifndef SECURESOCKET_PROBE_REPORT_H
#define SECURESOCKET_PROBE_REPORT_H

#include "probe.h"

#include <QDateTime>
#include <QJsonObject>
#include <QString>

namespace probe {

// One verification failure in plain words, with what most likely fixes it.
struct Problem
{
    VerifyError code = VerifyError::NoError;
    QString message; // a sentence for a person
    QString fix;     // what to do about it; may be empty
    QString detail;  // the library's own sentence
};

Problem explain(const SecureCertificateError &error, const Options &options, const Attempt &attempt,
                const QDateTime &now);

QString textReport(const Options &options, const Findings &findings, const QDateTime &now);
QJsonObject jsonReport(const Options &options, const Findings &findings, const QDateTime &now);

} // namespace probe

#endif
