// securesocket-probe (examples/probe) against a real IMAP server: Dovecot, started by the test on
// loopback with a chain (leaf and intermediate) from a PKI made at run time. STARTTLS on the
// plain port, implicit TLS on the IMAPS port, and the mistakes a person makes: --starttls on a
// port that speaks TLS at once, a name the certificate does not list.
#include "dovecotserver.h"
#include "processes.h"
#include "testpki.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

namespace {

constexpr int kRunMsecs = 30000;
const QString kUser = QStringLiteral("alice");
const QByteArray kPassword = "Pw-probe-unused";

bool matches(const QByteArray &text, const QString &pattern)
{
    return QRegularExpression(pattern, QRegularExpression::MultilineOption)
        .match(QString::fromUtf8(text))
        .hasMatch();
}

} // namespace

class tst_ProbeImap : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void starttls();
    void starttlsJson();
    void implicitTls();
    void starttlsOnTheTlsPort();
    void wrongName();

private:
    ProgramRun probe(quint16 port, const QStringList &extra) const;

    QTemporaryDir m_dir;
    QString m_rootFile;
    DovecotServer m_dovecot{kUser, kPassword, 1};
};

void tst_ProbeImap::initTestCase()
{
    QVERIFY2(QFile::exists(QStringLiteral(PROBE_PATH)), PROBE_PATH);
    QVERIFY(m_dir.isValid());
    testpki::Issued root, intermediate, leaf;
    try {
        root = testpki::makeCertificate(testpki::caSpec("Probe IMAP Root CA"));
        intermediate =
            testpki::makeCertificate(testpki::caSpec("Probe IMAP Intermediate CA"), &root);
        leaf = testpki::makeCertificate(testpki::localhostSpec(), &intermediate);
        m_rootFile = m_dir.filePath(QStringLiteral("root.pem"));
        testpki::writeFile(m_rootFile.toStdString(), root.certPem);
    } catch (const std::exception &e) {
        QFAIL(e.what());
    }
    QVERIFY2(m_dovecot.start(QByteArray::fromStdString(leaf.certPem + intermediate.certPem),
                             QByteArray::fromStdString(leaf.keyPem)),
             qPrintable(m_dovecot.errorString()));
}

void tst_ProbeImap::cleanupTestCase()
{
    QVERIFY2(m_dovecot.stop(), qPrintable(m_dovecot.errorString()));
}

ProgramRun tst_ProbeImap::probe(quint16 port, const QStringList &extra) const
{
    ProgramRun run = runProgram(QStringLiteral(PROBE_PATH),
                                QStringList{QStringLiteral("localhost:%1").arg(port),
                                            QStringLiteral("--cafile"), m_rootFile} +
                                    extra,
                                kRunMsecs);
    // SECURESOCKET_PROBE_ECHO=1 shows each run's output (for doc/probe.md's examples).
    if (qEnvironmentVariableIsSet("SECURESOCKET_PROBE_ECHO"))
        qInfo().noquote() << run.describe();
    return run;
}

void tst_ProbeImap::starttls()
{
    const ProgramRun run =
        probe(m_dovecot.imapPort(), {QStringLiteral("--starttls"), QStringLiteral("imap")});
    QVERIFY2(run.finished && run.exitCode == 0, qPrintable(run.describe()));
    QVERIFY2(matches(run.out, QStringLiteral("^STARTTLS: +imap, accepted \\(\"a2 OK .*\"\\)$")),
             qPrintable(run.describe()));
    QVERIFY2(matches(run.out, QStringLiteral("^Protocol: +TLSv1\\.3$")),
             qPrintable(run.describe()));
    QVERIFY2(matches(run.out, QStringLiteral("^ALPN: +not offered$")), qPrintable(run.describe()));
    QVERIFY2(matches(run.out, QStringLiteral("^Resumption: +(yes|no): ")),
             qPrintable(run.describe()));
    QVERIFY2(run.out.contains("Certificate chain as sent by the server (2):"),
             qPrintable(run.describe()));
    QVERIFY2(matches(run.out, QStringLiteral("^    issuer:    CN=Probe IMAP Intermediate CA$")),
             qPrintable(run.describe()));
    QVERIFY2(matches(run.out, QStringLiteral("^Verification: OK")), qPrintable(run.describe()));
}

void tst_ProbeImap::starttlsJson()
{
    const ProgramRun run =
        probe(m_dovecot.imapPort(),
              {QStringLiteral("--starttls"), QStringLiteral("imap"), QStringLiteral("--json")});
    QVERIFY2(run.finished && run.exitCode == 0, qPrintable(run.describe()));
    const QJsonObject o = QJsonDocument::fromJson(run.out).object();
    QCOMPARE(o.value("starttls").toString(), QStringLiteral("imap"));
    QVERIFY(o.value("starttls_reply").toString().startsWith(QLatin1String("a2 OK")));
    QCOMPARE(o.value("port").toInt(), int(m_dovecot.imapPort()));
    QCOMPARE(o.value("verification").toObject().value("ok").toBool(), true);
}

void tst_ProbeImap::implicitTls()
{
    const ProgramRun run = probe(m_dovecot.imapsPort(), {});
    QVERIFY2(run.finished && run.exitCode == 0, qPrintable(run.describe()));
    QVERIFY2(!run.out.contains("STARTTLS"), qPrintable(run.describe()));
    QVERIFY2(matches(run.out, QStringLiteral("^Verification: OK")), qPrintable(run.describe()));
}

// The IMAPS port waits for a ClientHello: no greeting ever comes, and the probe says so.
void tst_ProbeImap::starttlsOnTheTlsPort()
{
    const ProgramRun run =
        probe(m_dovecot.imapsPort(), {QStringLiteral("--starttls"), QStringLiteral("imap"),
                                      QStringLiteral("--timeout"), QStringLiteral("1500")});
    QVERIFY2(run.finished && run.exitCode == 1, qPrintable(run.describe()));
    QVERIFY2(run.out.contains("No TLS connection: STARTTLS failed: no IMAP greeting: the server "
                              "sent no line within 1500 ms"),
             qPrintable(run.describe()));
    QVERIFY2(run.out.contains("needs no --starttls"), qPrintable(run.describe()));
}

void tst_ProbeImap::wrongName()
{
    const ProgramRun run = probe(m_dovecot.imapPort(),
                                 {QStringLiteral("--starttls"), QStringLiteral("imap"),
                                  QStringLiteral("--servername"), QStringLiteral("mail.example")});
    QVERIFY2(run.finished && run.exitCode == 2, qPrintable(run.describe()));
    QVERIFY2(run.out.contains("Hostname mismatch: the certificate is not valid for mail.example; "
                              "it is valid for: localhost, 127.0.0.1."),
             qPrintable(run.describe()));
}

QTEST_GUILESS_MAIN(tst_ProbeImap)
#include "tst_probeimap.moc"
