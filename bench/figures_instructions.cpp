// Instructions per full handshake, counted by callgrind (opt-in: --only instructions; not in a
// full run, not in CI). Each side runs twice in a process of its own under
// `valgrind --tool=callgrind`, with fewer and with more handshakes; the difference of the
// totals over the difference of the counts removes what starting the process costs. The floor
// is OpenSSL's own pair, `openssl s_time -new` against `openssl s_server`, counted the same way.
#include "figures.h"

#include "child.h"
#include "figuresupport.h"
#include "opensslpair.h"
#include "server.h"

#include <QDir>
#include <QFile>
#include <QStandardPaths>

#include <cmath>

namespace bench {

namespace {

// Instructions of both sides over `count` handshakes, in one pair of processes.
struct Totals
{
    double client = kNaN;
    double server = kNaN;
    int count = 0;
    QString error;
};

QString valgrindPath()
{
    return QStandardPaths::findExecutable(QStringLiteral("valgrind"));
}

QStringList callgrind(const QString &outFile)
{
    return {valgrindPath(), QStringLiteral("--quiet"), QStringLiteral("--tool=callgrind"),
            QStringLiteral("--callgrind-out-file=") + outFile};
}

// The instructions (Ir) of a callgrind output file: its "summary:" or "totals:" line.
double callgrindTotal(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("no callgrind output %1").arg(QFileInfo(path).fileName());
        return kNaN;
    }
    double total = kNaN;
    while (!file.atEnd()) {
        const QByteArray line = file.readLine().trimmed();
        if (line.startsWith("summary:") || line.startsWith("totals:"))
            total = line.mid(line.indexOf(':') + 1).trimmed().split(' ').first().toDouble();
    }
    if (std::isnan(total))
        *error = QStringLiteral("no total in %1").arg(QFileInfo(path).fileName());
    return total;
}

void readTotals(Totals &t, const QString &clientOut, const QString &serverOut, int count)
{
    QString error;
    t.client = callgrindTotal(clientOut, &error);
    t.server = callgrindTotal(serverOut, &error);
    t.count = count;
    if (!error.isEmpty())
        t.error = error;
}

// Millions of instructions per handshake: (more - fewer) / (its count - fewer's count).
Sample perHandshake(const Totals &fewer, const Totals &more)
{
    Sample sample;
    if (!fewer.error.isEmpty() || !more.error.isEmpty()) {
        sample.error = !fewer.error.isEmpty() ? fewer.error : more.error;
        return sample;
    }
    if (more.count <= fewer.count) {
        sample.error = QStringLiteral("the longer run made no more handshakes (%1 and %2)")
                           .arg(fewer.count)
                           .arg(more.count);
        return sample;
    }
    const double n = more.count - fewer.count;
    const double client = (more.client - fewer.client) / n / 1e6;
    const double server = (more.server - fewer.server) / n / 1e6;
    sample.value = client + server;
    sample.info = {{"client", client},
                   {"server", server},
                   {"handshakes", QJsonObject{{"fewer", fewer.count}, {"more", more.count}}}};
    return sample;
}

} // namespace

Sample Runner::countInstructions(Lib lib)
{
    if (valgrindPath().isEmpty())
        return {kNaN, kNaN, {}, QStringLiteral("valgrind is not installed")};
    const bool pinned = m_affinity.value(QLatin1String("pinned")).toBool();
    auto run = [&](int count) {
        Totals t;
        const QString tag = QStringLiteral("%1-%2").arg(QLatin1String(libName(lib))).arg(count);
        const QString serverOut = QDir(m_scratchDir).filePath(QStringLiteral("cg-server-") + tag);
        const QString clientOut = QDir(m_scratchDir).filePath(QStringLiteral("cg-client-") + tag);
        Child server(m_scratchDir);
        server.setWrapper(callgrind(serverOut));
        QStringList serverArgs{QStringLiteral("--serve"),      QStringLiteral("handshake"),
                               QStringLiteral("--lib"),        QLatin1String(libName(lib)),
                               QStringLiteral("--dir"),        m_pki.dir,
                               QStringLiteral("--exit-after"), QString::number(count)};
        if (pinned)
            serverArgs << QStringLiteral("--cpu") << QStringLiteral("1");
        if (!server.startServer(serverArgs, &t.error))
            return t;
        Child client(m_scratchDir);
        client.setWrapper(callgrind(clientOut));
        QStringList clientArgs{QStringLiteral("--client"), QStringLiteral("handshakes"),
                               QStringLiteral("--lib"),    QLatin1String(libName(lib)),
                               QStringLiteral("--port"),   QString::number(server.port()),
                               QStringLiteral("--dir"),    m_pki.dir,
                               QStringLiteral("--count"),  QString::number(count)};
        if (pinned)
            clientArgs << QStringLiteral("--cpu") << QStringLiteral("0");
        if (!client.startClient(clientArgs, &t.error) || !client.readJson(600000, &t.error))
            return t;
        if (!client.waitForExit(120000) || !server.waitForExit(120000)) {
            t.error = QStringLiteral("a process under callgrind did not exit");
            return t;
        }
        readTotals(t, clientOut, serverOut, count);
        return t;
    };
    const Totals fewer = run(m_scale.instructionsFewer);
    return perHandshake(fewer, fewer.error.isEmpty() ? run(m_scale.instructionsMore) : fewer);
}

Sample Runner::countOpensslInstructions()
{
    if (valgrindPath().isEmpty())
        return {kNaN, kNaN, {}, QStringLiteral("valgrind is not installed")};
    auto run = [&](int seconds) {
        Totals t;
        const QString tag = QStringLiteral("openssl-%1").arg(seconds);
        const QString serverOut = QDir(m_scratchDir).filePath(QStringLiteral("cg-server-") + tag);
        const QString clientOut = QDir(m_scratchDir).filePath(QStringLiteral("cg-client-") + tag);
        // -www: the server reads no standard input (which would end it at its end).
        OpensslServer server;
        if (!server.start(m_pki, KeyType::Ecdsa, QStringLiteral("-www"), callgrind(serverOut), -1,
                          &t.error))
            return t;
        const STimeRun client =
            runOpensslSTime(m_pki, server.port(), seconds, {}, callgrind(clientOut), -1);
        // callgrind writes its totals when the server ends on SIGTERM
        if (!server.stop(&t.error))
            return t;
        if (!client.error.isEmpty()) {
            t.error = client.error;
            return t;
        }
        readTotals(t, clientOut, serverOut, client.connections);
        return t;
    };
    const Totals fewer = run(m_scale.opensslFewerSeconds);
    Sample sample =
        perHandshake(fewer, fewer.error.isEmpty() ? run(m_scale.opensslMoreSeconds) : fewer);
    sample.info.insert(QStringLiteral("commands"),
                       QStringLiteral("openssl s_server -accept 127.0.0.1:0 -www -cert LEAF -key "
                                      "KEY -tls1_3 -ciphersuites %1; openssl s_time -connect "
                                      "127.0.0.1:PORT -new -verify 1 -CAfile CA -time SECONDS "
                                      "-tls1_3 -ciphersuites %1")
                           .arg(QLatin1String(kCipherSuite)));
    return sample;
}

QList<Figure> Runner::instructions()
{
    // Instruction counts do not depend on the machine's load: one repetition, no warm-up.
    const Results r = alternate(
        QStringLiteral("instructions"),
        {{QStringLiteral("ours"), [this](bool) { return countInstructions(Lib::Ours); }},
         {QStringLiteral("qt"), [this](bool) { return countInstructions(Lib::Qt); }},
         {QStringLiteral("openssl"), [this](bool) { return countOpensslInstructions(); }}},
        1, false);
    Figure f = makeFigure(QStringLiteral("instructions_handshake"),
                          QStringLiteral("instructions per full handshake, ECDSA, client + "
                                         "server, counted by callgrind (millions)"),
                          QStringLiteral("M instr"), false, r,
                          {{QStringLiteral("ours"), QStringLiteral("ours")},
                           {QStringLiteral("qt"), QStringLiteral("qt")},
                           {QStringLiteral("openssl"), QStringLiteral("openssl")}});
    const double vsOpenssl =
        f.medianOf(QStringLiteral("ours")) / f.medianOf(QStringLiteral("openssl"));
    f.target = QStringLiteral("ours/openssl <= 1.03");
    if (!std::isnan(vsOpenssl))
        f.met = vsOpenssl <= 1.03;
    QJsonObject sides;
    for (const char *variant : {"ours", "qt", "openssl"}) {
        const QList<Sample> &samples = r.value(QLatin1String(variant));
        if (!samples.isEmpty())
            sides.insert(QLatin1String(variant), samples.first().info);
    }
    f.extra = {{"per_side_millions", sides},
               {"ours_vs_openssl", orNull(vsOpenssl)},
               {"qt_vs_openssl",
                orNull(f.medianOf(QStringLiteral("qt")) / f.medianOf(QStringLiteral("openssl")))},
               {"method",
                "valgrind --tool=callgrind on each side, in processes of their own; two runs "
                "with fewer and more handshakes, (total of the longer - total of the shorter) / "
                "(difference of their handshake counts), so that process start-up cancels. Ours "
                "and Qt: connect, full handshake (client resumption off), the server's greeting "
                "line, close; openssl: s_time -new (handshake, close) against s_server -www"}};
    f.note = QStringLiteral("ours/openssl %1 (openssl s_time + s_server, the floor); the ratio "
                            "column is ours/Qt")
                 .arg(vsOpenssl, 0, 'f', 3);
    return {f};
}

} // namespace bench
