// The echoserver example, run as a process, scanned by testssl.sh and sslscan as an operator's
// audit would: the test fails on every HIGH or CRITICAL testssl finding not excused below, and on
// every weak protocol, cipher or renegotiation setting sslscan sees. A missing scanner fails the
// test; it is never skipped.
#include "serverhelpers.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QXmlStreamReader>

using servertest::EchoServer;

namespace {

// testssl findings that only the throwaway test PKI causes, excused by id with the reason.
// Nothing else is: a HIGH or CRITICAL finding of the server's TLS settings fails the test.
struct Excused
{
    const char *id;
    const char *reason;
};
const Excused kExcused[] = {
    {"cert_revocation", "the test CA, made at run time, publishes neither a CRL nor an OCSP "
                        "responder, so its certificates carry no revocation URI"},
};

// Ids that a complete testssl run reports: without them the scan did not cover protocols,
// ciphers, cipher order, forward secrecy and the known vulnerabilities, whatever it found.
const char kRequiredIds[] =
    "SSLv2 SSLv3 TLS1 TLS1_1 TLS1_2 TLS1_3 "
    "cipherlist_NULL cipherlist_LOW cipherlist_3DES_IDEA cipherlist_AVERAGE PFS cipher_order "
    "cert_chain_of_trust heartbleed CCS ROBOT secure_renego secure_client_renego CRIME_TLS "
    "POODLE_SSL fallback_SCSV SWEET32 FREAK DROWN LOGJAM BEAST LUCKY13 RC4";

// Every object with an "id" and a "severity" anywhere in testssl's JSON.
void collectFindings(const QJsonValue &value, QList<QJsonObject> &findings)
{
    if (value.isArray()) {
        for (const QJsonValue &item : value.toArray())
            collectFindings(item, findings);
        return;
    }
    if (!value.isObject())
        return;
    const QJsonObject object = value.toObject();
    if (object.contains(QLatin1String("id")) && object.contains(QLatin1String("severity")))
        findings.append(object);
    for (const QJsonValue &member : object)
        collectFindings(member, findings);
}

QString excuseFor(const QString &id)
{
    for (const Excused &excused : kExcused) {
        if (id == QLatin1String(excused.id))
            return QString::fromLatin1(excused.reason);
    }
    return {};
}

// A TLS 1.2 suite (OpenSSL's name) without forward secrecy or without an AEAD cipher.
QString tls12Weakness(const QString &cipher)
{
    if (!cipher.startsWith(QLatin1String("ECDHE-")) && !cipher.startsWith(QLatin1String("DHE-")))
        return QStringLiteral("no forward secrecy");
    if (!cipher.contains(QLatin1String("GCM")) && !cipher.contains(QLatin1String("CHACHA20")) &&
        !cipher.contains(QLatin1String("CCM")))
        return QStringLiteral("not AEAD (CBC or a stream cipher)");
    return {};
}

} // namespace

class TestScanners : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void testsslFindsNothingHighOrCritical();
    void sslscanFindsNoWeakSetting();

private:
    EchoServer &startEchoServer();

    QTemporaryDir m_dir;
    servertest::Pki m_pki;
    QString m_testssl;
    QString m_sslscan;
    std::unique_ptr<EchoServer> m_server;
};

void TestScanners::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pki = servertest::Pki::create(m_dir.path());
    QVERIFY2(QFile::exists(QStringLiteral(ECHOSERVER_PATH)), ECHOSERVER_PATH);
    // Debian's testssl.sh installs the command as "testssl".
    m_testssl = QStandardPaths::findExecutable(QStringLiteral("testssl"));
    if (m_testssl.isEmpty())
        m_testssl = QStandardPaths::findExecutable(QStringLiteral("testssl.sh"));
    m_sslscan = QStandardPaths::findExecutable(QStringLiteral("sslscan"));
    QVERIFY2(!m_testssl.isEmpty(), "testssl is not installed (scripts/install-deps.sh)");
    QVERIFY2(!m_sslscan.isEmpty(), "sslscan is not installed (scripts/install-deps.sh)");
}

void TestScanners::cleanup()
{
    if (!m_server)
        return;
    const QByteArray unexpected = m_server->unexpectedLog();
    m_server.reset();
    QVERIFY2(unexpected.isEmpty(), unexpected.constData());
}

// One-way TLS with the library's defaults: what the scanners judge is the default settings.
EchoServer &TestScanners::startEchoServer()
{
    m_server = std::make_unique<EchoServer>(QStringLiteral(ECHOSERVER_PATH));
    m_server->start({"--port", "0", "--cert", m_pki.serverCert, "--key", m_pki.serverKey});
    return *m_server;
}

// A full testssl run less its client simulations (-c: which of some 35 known clients would
// connect, informational only) and HTTP header checks (-h: the echoserver speaks no HTTP). What
// runs: protocols (-p), cipher categories (-s), forward secrecy (-f), the server's cipher order
// (-P), certificate and defaults (-S), every vulnerability check (-U) and each of testssl's 370
// ciphers one by one (-e).
void TestScanners::testsslFindsNothingHighOrCritical()
{
    EchoServer &server = startEchoServer();
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));

    const QString json = m_dir.filePath(QStringLiteral("testssl.json"));
    QFile::remove(json);
    PeerProcess testssl;
    QElapsedTimer timer;
    timer.start();
    // --add-ca: the test CA is trusted, so the chain of trust is judged rather than reported as
    // unknown. --nodns none: the target is an address and this machine has no resolver to ask.
    // --warnings off: never wait for an answer on a terminal.
    testssl.setStandardInputFile(QStringLiteral("/dev/null"));
    QVERIFY2(
        testssl.start(m_testssl, {"--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
                                  "--add-ca", m_pki.ca, "--jsonfile-pretty", json, "-p", "-s", "-f",
                                  "-P", "-S", "-U", "-e", "127.0.0.1:" + server.portText()}),
        qPrintable(testssl.describe()));
    QVERIFY2(testssl.waitForExit(240000), qPrintable(testssl.describe()));
    qInfo("testssl took %.1f s", timer.elapsed() / 1000.0);

    QFile file(json);
    QVERIFY2(file.open(QIODevice::ReadOnly), qPrintable(testssl.describe()));
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(file.readAll(), &parseError);
    QVERIFY2(document.isObject(), qPrintable(parseError.errorString()));
    QList<QJsonObject> findings;
    collectFindings(document.object().value(QLatin1String("scanResult")), findings);

    QStringList seen;
    QStringList failures;
    QStringList excused;
    for (const QJsonObject &finding : findings) {
        const QString id = finding.value(QLatin1String("id")).toString();
        const QString severity = finding.value(QLatin1String("severity")).toString();
        const QString line = severity + QLatin1Char(' ') + id + QLatin1String(": ") +
                             finding.value(QLatin1String("finding")).toString();
        seen.append(id);
        // "scanProblem" says a check could not run: a scan with holes proves nothing.
        const bool failed = severity == QLatin1String("HIGH") ||
                            severity == QLatin1String("CRITICAL") ||
                            id == QLatin1String("scanProblem");
        if (!failed)
            continue;
        const QString reason = excuseFor(id);
        (reason.isEmpty() ? failures : excused).append(line);
    }
    for (const QString &line : excused)
        qInfo("excused: %s", qPrintable(line));
    QStringList missing;
    for (const QString &id : QString::fromLatin1(kRequiredIds).split(QLatin1Char(' '))) {
        if (!seen.contains(id))
            missing.append(id);
    }
    QVERIFY2(missing.isEmpty(), qPrintable("testssl did not report " + missing.join(", ") + "; " +
                                           testssl.describe()));
    QVERIFY2(failures.isEmpty(), qPrintable("testssl found:\n" + failures.join('\n')));
}

// sslscan tries every protocol and every cipher OpenSSL knows, one connection each.
void TestScanners::sslscanFindsNoWeakSetting()
{
    EchoServer &server = startEchoServer();
    QVERIFY2(server.isUp(), qPrintable(server.process().describe()));

    const QString xml = m_dir.filePath(QStringLiteral("sslscan.xml"));
    QFile::remove(xml);
    PeerProcess sslscan;
    sslscan.setStandardInputFile(QStringLiteral("/dev/null"));
    QVERIFY2(
        sslscan.start(m_sslscan, {"--no-colour", "--xml=" + xml, "127.0.0.1:" + server.portText()}),
        qPrintable(sslscan.describe()));
    QVERIFY2(sslscan.waitForExit(120000), qPrintable(sslscan.describe()));
    QVERIFY2(sslscan.exitStatus() == QProcess::NormalExit && sslscan.exitCode() == 0,
             qPrintable(sslscan.describe()));

    QFile file(xml);
    QVERIFY2(file.open(QIODevice::ReadOnly), qPrintable(sslscan.describe()));
    QXmlStreamReader reader(&file);
    QStringList failures;
    QStringList enabled;
    int ciphers = 0;
    bool renegotiationReported = false;
    while (!reader.atEnd()) {
        if (reader.readNext() != QXmlStreamReader::StartElement)
            continue;
        const auto attributes = reader.attributes();
        const QString element = reader.name().toString();
        if (element == QLatin1String("protocol")) {
            const QString name = attributes.value(QLatin1String("type")).toString() +
                                 attributes.value(QLatin1String("version")).toString();
            if (attributes.value(QLatin1String("enabled")) == QLatin1String("1"))
                enabled.append(name);
        } else if (element == QLatin1String("cipher")) {
            ++ciphers;
            const QString version = attributes.value(QLatin1String("sslversion")).toString();
            const QString cipher = attributes.value(QLatin1String("cipher")).toString();
            const int bits = attributes.value(QLatin1String("bits")).toInt();
            QString weakness;
            if (version != QLatin1String("TLSv1.2") && version != QLatin1String("TLSv1.3"))
                weakness = QStringLiteral("offered over ") + version;
            else if (bits < 128)
                weakness = QStringLiteral("%1-bit cipher").arg(bits);
            else if (version == QLatin1String("TLSv1.2"))
                weakness = tls12Weakness(cipher);
            if (!weakness.isEmpty())
                failures.append(version + QLatin1Char(' ') + cipher + QLatin1String(": ") +
                                weakness);
        } else if (element == QLatin1String("renegotiation")) {
            // Refusing renegotiation is fine; allowing it without RFC 5746 is not.
            renegotiationReported = true;
            if (attributes.value(QLatin1String("supported")) == QLatin1String("1") &&
                attributes.value(QLatin1String("secure")) != QLatin1String("1"))
                failures.append(QStringLiteral("insecure (pre-RFC 5746) renegotiation"));
        } else if (element == QLatin1String("compression")) {
            // Debian's sslscan is built without zlib and leaves this element out; testssl's
            // CRIME_TLS check covers compression then.
            if (attributes.value(QLatin1String("supported")) == QLatin1String("1"))
                failures.append(QStringLiteral("TLS compression (CRIME)"));
        } else if (element == QLatin1String("heartbleed")) {
            if (attributes.value(QLatin1String("vulnerable")) == QLatin1String("1"))
                failures.append(QStringLiteral("heartbleed over ") +
                                attributes.value(QLatin1String("sslversion")).toString());
        }
    }
    QVERIFY2(!reader.hasError(), qPrintable(reader.errorString()));
    for (const QString &protocol : enabled) {
        if (protocol != QLatin1String("tls1.2") && protocol != QLatin1String("tls1.3"))
            failures.append(protocol + QLatin1String(" enabled"));
    }
    // The scan reached the server: both versions it should offer, and their ciphers.
    QVERIFY2(enabled.contains(QLatin1String("tls1.2")) && enabled.contains(QLatin1String("tls1.3")),
             qPrintable(sslscan.describe()));
    QVERIFY2(ciphers > 0 && renegotiationReported, qPrintable(sslscan.describe()));
    QVERIFY2(failures.isEmpty(), qPrintable("sslscan found:\n" + failures.join('\n')));
}

QTEST_MAIN(TestScanners)
#include "tst_scanners.moc"
