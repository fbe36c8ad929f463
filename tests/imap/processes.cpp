#include "processes.h"

#include "peerprocess.h"

#include <QElapsedTimer>
#include <QRegularExpression>

namespace {

QStringList splitLines(const QByteArray &text)
{
    QStringList lines = QString::fromUtf8(text).split(QLatin1Char('\n'));
    for (QString &line : lines) {
        if (line.endsWith(QLatin1Char('\r')))
            line.chop(1);
    }
    if (!lines.isEmpty() && lines.last().isEmpty())
        lines.removeLast();
    return lines;
}

} // namespace

QStringList ProgramRun::outLines() const
{
    return splitLines(out);
}

QStringList ProgramRun::errLines() const
{
    return splitLines(err);
}

QString ProgramRun::describe() const
{
    QString state;
    if (!finished)
        state = QStringLiteral("still running after %1 ms: killed").arg(msecs);
    else if (crashed)
        state = QStringLiteral("crashed after %1 ms").arg(msecs);
    else
        state = QStringLiteral("exited with %1 after %2 ms").arg(exitCode).arg(msecs);
    return QStringLiteral("\n$ %1 %2\n%3\n--- stdout:\n%4--- stderr:\n%5")
        .arg(program, arguments.join(QLatin1Char(' ')), state, QString::fromUtf8(out),
             QString::fromUtf8(err));
}

ProgramRun runProgram(const QString &program, const QStringList &arguments, int msecs)
{
    ProgramRun run;
    run.program = program;
    run.arguments = arguments;
    PeerProcess process;
    process.setStandardInputFile(QProcess::nullDevice());
    QElapsedTimer clock;
    clock.start();
    if (!process.start(program, arguments)) {
        run.msecs = clock.elapsed();
        run.err =
            "(test) could not start " + program.toUtf8() + ": " + process.errorString().toUtf8();
        return run;
    }
    run.finished = process.waitForExit(msecs);
    run.msecs = clock.elapsed();
    if (run.finished) {
        run.crashed = process.exitStatus() == QProcess::CrashExit;
        run.exitCode = run.crashed ? -1 : process.exitCode();
    } else {
        process.kill();
    }
    run.out = process.standardOutput();
    run.err = process.standardError();
    return run;
}

QString firstMissingInOrder(const QStringList &lines, const QStringList &patterns)
{
    qsizetype next = 0;
    for (const QString &pattern : patterns) {
        const QRegularExpression re(pattern);
        while (next < lines.size() && !re.match(lines[next]).hasMatch())
            ++next;
        if (next == lines.size())
            return pattern;
        ++next;
    }
    return {};
}
