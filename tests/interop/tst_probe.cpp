// securesocket-probe (examples/probe), run as a process against openssl s_server, gnutls-serv
// and a Python STARTTLS server, each started by the test on a loopback port of its own, with the
// good and the broken certificates of a PKI made at run time: a root CA, an intermediate, and
// leaves signed by it (the good one, one for other names, an expired one), a self-signed leaf
// and one from a CA nobody trusts. Asserted are the exit status (0 verified, 2 verification
// failed, 1 no TLS connection, 64 bad usage) and the sentences a person reads, and that --json
// prints the same facts as one JSON object.
#include <SecureSocket/securecertificate.h>

#include "peerprocess.h"
#include "pkidirectory.h"
#include "testpki.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTest>

namespace {

constexpr int kRunMsecs = 30000; // one probe run, at most (its own timeouts are shorter)
const QString kRootName = QStringLiteral("Probe Test Root CA");
const QString kIntermediateName = QStringLiteral("Probe Test Intermediate CA");
const QString kOtherCaName = QStringLiteral("Probe Other CA");
const QString kOpensslAccept = QStringLiteral("^ACCEPT 127\\.0\\.0\\.1:(\\d+)$");
const QByteArray kGnutlsListening = "listening on IPv4 0.0.0.0 port 0...done";
const QString kPythonListening = QStringLiteral("^listening on 127\\.0\\.0\\.1:(\\d+)$");

// A plain-text mail server that upgrades to TLS on STARTTLS (or refuses it), one thread per
// connection. argv: protocol (imap|smtp|pop3), mode (accept|refuse), chain, key.
const char kStarttlsServer[] = R"PY(
import socket, ssl, sys, threading
protocol, mode, chain, key = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(chain, key)

def lines(f):
    while True:
        line = f.readline()
        if not line:
            return
        yield line.decode().rstrip("\r\n")

def serve(raw):
    with raw:
        f = raw.makefile("rb")
        say = lambda text: raw.sendall((text + "\r\n").encode())
        go = False
        if protocol == "imap":
            say("* OK test IMAP ready")
            for line in lines(f):
                tag, _, command = line.partition(" ")
                if command == "CAPABILITY":
                    say("* CAPABILITY IMAP4rev1" + (" STARTTLS" if mode == "accept" else ""))
                    say(tag + " OK done")
                elif command == "STARTTLS":
                    go = mode == "accept"
                    say(tag + (" OK Begin TLS" if go else " BAD STARTTLS not available"))
                    break
        elif protocol == "smtp":
            say("220-test.example ESMTP")
            say("220 test.example ready")
            for line in lines(f):
                if line.startswith("EHLO"):
                    say("250-test.example")
                    if mode == "accept":
                        say("250-STARTTLS")
                    say("250 8BITMIME")
                elif line == "STARTTLS":
                    go = mode == "accept"
                    say("220 go ahead" if go else "454 TLS not available")
                    break
        else:
            say("+OK test POP3 ready")
            for line in lines(f):
                if line == "STLS":
                    go = mode == "accept"
                    say("+OK begin TLS" if go else "-ERR STLS not available")
                    break
        if go:
            try:
                with ctx.wrap_socket(raw, server_side=True) as tls:
                    while tls.recv(4096):
                        pass
            except (ssl.SSLError, OSError):
                pass

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
while True:
    raw, _ = listener.accept()
    threading.Thread(target=serve, args=(raw,), daemon=True).start()
)PY";

// A server that accepts TCP and answers with plain text, as a server speaking no TLS does.
const char kPlainServer[] = R"PY(
import socket, threading
def serve(raw):
    with raw:
        raw.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        try:
            raw.recv(4096)
        except OSError:
            pass
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
while True:
    raw, _ = listener.accept()
    threading.Thread(target=serve, args=(raw,), daemon=True).start()
)PY";

struct Run
{
    int exitCode = -1;
    QString out;
    QString err;
    QString describe;
};

} // namespace

class tst_Probe : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void goodChain_data();
    void goodChain();
    void json();
    void ocspStatus_data();
    void ocspStatus();
    void missingIntermediate_data();
    void missingIntermediate();
    void hostnameMismatch();
    void expired();
    void notYetValid();
    void wrongPurpose();
    void untrustedRoot();
    void serverNameIndication();
    void selfSigned();
    void unknownCa();
    void resumptionRefused();
    void noServer();
    void silentServer();
    void ipv6();
    void alpn();
    void caPath();
    void noCommonVersion();
    void notTls();
    void clientCertificate_data();
    void clientCertificate();
    void starttls_data();
    void starttls();
    void starttlsRefused_data();
    void starttlsRefused();
    void badUsage_data();
    void badUsage();

private:
    QString path(const QString &name) const { return m_dir.filePath(name); }
    bool startOpenssl(PeerProcess &peer, const QString &leaf, const QStringList &extra = {});
    bool startGnutls(PeerProcess &peer, const QString &leaf);
    Run probe(const QStringList &arguments);
    Run probeAt(quint16 port, const QStringList &extra = {});

    testpki::PkiDirectory m_dir;
};

void tst_Probe::initTestCase()
{
    QVERIFY(m_dir.isValid());
    using namespace testpki;
    Issued root, intermediate, otherCa, leaf;
    m_dir.issue(QStringLiteral("root"), caSpec(kRootName.toStdString()), nullptr, &root);
    m_dir.issue(QStringLiteral("intermediate"), caSpec(kIntermediateName.toStdString()), &root,
                &intermediate);
    const std::string chain = intermediate.certPem;

    // The good leaf tells where its issuer is published (authorityInfoAccess caIssuers), as
    // public certificates do: that is how a missing intermediate is told from an unknown CA.
    CertSpec good = localhostSpec();
    good.aiaCaIssuersUrl = "http://ca.probe.test/intermediate.crt";
    m_dir.issue(QStringLiteral("good"), good, &intermediate, &leaf, chain);
    m_dir.write(QStringLiteral("leafonly.pem"), leaf.certPem);
    m_dir.write(QStringLiteral("leafonly.key"), leaf.keyPem);

    m_dir.issue(QStringLiteral("wrongname"),
                serverSpec("www.example.test", {"www.example.test", "example.test"}), &intermediate,
                nullptr, chain);
    CertSpec expired = localhostSpec();
    expired.notBeforeOffset = -40L * 24 * 3600;
    expired.notAfterOffset = -5L * 24 * 3600 - 3600;
    m_dir.issue(QStringLiteral("expired"), expired, &intermediate, nullptr, chain);
    CertSpec early = localhostSpec();
    early.notBeforeOffset = 3L * 24 * 3600 + 3600;
    early.notAfterOffset = 60L * 24 * 3600;
    m_dir.issue(QStringLiteral("notyetvalid"), early, &intermediate, nullptr, chain);
    CertSpec clientOnly = localhostSpec();
    clientOnly.extendedKeyUsage = {"clientAuth"};
    m_dir.issue(QStringLiteral("clientonly"), clientOnly, &intermediate, nullptr, chain);
    // The whole chain up to the root, which a server need not send but some do.
    m_dir.issue(QStringLiteral("withroot"), localhostSpec(), &intermediate, nullptr,
                chain + root.certPem);
    m_dir.issue(QStringLiteral("selfsigned"), localhostSpec(), nullptr);
    m_dir.issue(QStringLiteral("otherca"), caSpec(kOtherCaName.toStdString()), nullptr, &otherCa);
    m_dir.issue(QStringLiteral("unknownca"), localhostSpec(), &otherCa);

    Issued clientCa;
    m_dir.issue(QStringLiteral("clientca"), caSpec("Probe Client CA"), nullptr, &clientCa);
    m_dir.issue(QStringLiteral("client"), clientSpec("probe-client"), &clientCa);

    m_dir.write(QStringLiteral("starttls.py"), kStarttlsServer);
    m_dir.write(QStringLiteral("plain.py"), kPlainServer);
}

// openssl s_server presenting "<leaf>.pem" (with what else that file holds, sent by
// -cert_chain) and its key.
bool tst_Probe::startOpenssl(PeerProcess &peer, const QString &leaf, const QStringList &extra)
{
    const QString cert = path(leaf + QStringLiteral(".pem"));
    QStringList args{QStringLiteral("s_server"),
                     QStringLiteral("-accept"),
                     QStringLiteral("127.0.0.1:0"),
                     QStringLiteral("-cert"),
                     cert,
                     QStringLiteral("-key"),
                     testpki::PkiDirectory::keyFileOf(cert)};
    if (SecureCertificate::fromPemFile(cert).size() > 1)
        args << QStringLiteral("-cert_chain") << cert;
    return peer.startServer(QStringLiteral("openssl"), args + extra,
                            PeerProcess::portFromOutput(kOpensslAccept));
}

bool tst_Probe::startGnutls(PeerProcess &peer, const QString &leaf)
{
    const QString cert = path(leaf + QStringLiteral(".pem"));
    return peer.startServer(
        QStringLiteral("gnutls-serv"),
        {QStringLiteral("--echo"), QStringLiteral("--disable-client-cert"),
         QStringLiteral("--x509certfile=") + cert,
         QStringLiteral("--x509keyfile=") + testpki::PkiDirectory::keyFileOf(cert),
         QStringLiteral("--port=0")},
        PeerProcess::listeningIpv4Port(kGnutlsListening));
}

Run tst_Probe::probe(const QStringList &arguments)
{
    PeerProcess process;
    Run run;
    if (!process.start(QStringLiteral(PROBE_PATH), arguments) || !process.waitForExit(kRunMsecs)) {
        run.describe = process.describe();
        return run;
    }
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    run.out = QString::fromUtf8(process.standardOutput());
    run.err = QString::fromUtf8(process.standardError());
    run.describe = process.describe();
    // SECURESOCKET_PROBE_ECHO=1 shows each run's output (for doc/probe.md's examples).
    if (qEnvironmentVariableIsSet("SECURESOCKET_PROBE_ECHO"))
        qInfo().noquote() << "$ securesocket-probe" << arguments.join(QLatin1Char(' ')) << '\n'
                          << run.out << run.err << "[exit" << run.exitCode << ']';
    return run;
}

// The probe on localhost:port trusting the test root, with the test's own flags after.
Run tst_Probe::probeAt(quint16 port, const QStringList &extra)
{
    return probe(QStringList{QStringLiteral("localhost:%1").arg(port), QStringLiteral("--cafile"),
                             path(QStringLiteral("root.pem"))} +
                 extra);
}

#define CHECK_EXIT(run, code) QVERIFY2((run).exitCode == (code), qPrintable((run).describe))
#define CHECK_OUT(run, text) QVERIFY2((run).out.contains(text), qPrintable((run).describe))
#define CHECK_OUT_RE(run, pattern)                                                                 \
    QVERIFY2(QRegularExpression(pattern, QRegularExpression::MultilineOption)                      \
                 .match((run).out)                                                                 \
                 .hasMatch(),                                                                      \
             qPrintable(QStringLiteral("no match for /%1/ in:\n%2").arg(pattern, (run).describe)))

void tst_Probe::goodChain_data()
{
    QTest::addColumn<QString>("server");
    QTest::addColumn<QStringList>("serverFlags");
    QTest::addColumn<QString>("protocol");
    QTest::newRow("openssl TLS 1.3") << "openssl" << QStringList() << "TLSv1.3";
    QTest::newRow("openssl TLS 1.2") << "openssl" << QStringList{"-tls1_2"} << "TLSv1.2";
    QTest::newRow("gnutls") << "gnutls" << QStringList() << "TLSv1.3";
}

void tst_Probe::goodChain()
{
    QFETCH(QString, server);
    QFETCH(QStringList, serverFlags);
    QFETCH(QString, protocol);
    PeerProcess peer;
    const bool started = server == QLatin1String("openssl")
                             ? startOpenssl(peer, QStringLiteral("good"), serverFlags)
                             : startGnutls(peer, QStringLiteral("good"));
    QVERIFY2(started, qPrintable(peer.describe()));

    const Run run = probeAt(peer.port());
    CHECK_EXIT(run, 0);
    CHECK_OUT_RE(run, QStringLiteral("^Protocol: +%1$").arg(QRegularExpression::escape(protocol)));
    CHECK_OUT_RE(run, QStringLiteral("^Cipher: +\\S+$"));
    CHECK_OUT_RE(run, QStringLiteral("^Key exchange: +(x25519|secp256r1|x448|secp384r1)$"));
    CHECK_OUT_RE(run, QStringLiteral("^ALPN: +.* \\(offered h2,http/1.1\\)$"));
    CHECK_OUT_RE(run, QStringLiteral("^Handshake: +\\d+ ms$"));
    CHECK_OUT_RE(run, QStringLiteral("^Resumption: +(yes|no): "));
    CHECK_OUT_RE(run, QStringLiteral("^OCSP: +none stapled$"));
    CHECK_OUT(run, QStringLiteral("Certificate chain as sent by the server (2):"));
    CHECK_OUT_RE(run, QStringLiteral("^  0 subject:   CN=localhost$"));
    CHECK_OUT_RE(run, QStringLiteral("^    issuer:    CN=%1$").arg(kIntermediateName));
    CHECK_OUT_RE(run, QStringLiteral("^  1 subject:   CN=%1$").arg(kIntermediateName));
    CHECK_OUT_RE(run, QStringLiteral("^    issuer:    CN=%1$").arg(kRootName));
    CHECK_OUT_RE(run,
                 QStringLiteral("^    valid:     \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC "
                                "to \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC "
                                "\\(29 days left\\)$"));
    CHECK_OUT_RE(run, QStringLiteral("^    names:     DNS:localhost, IP:127.0.0.1$"));
    CHECK_OUT_RE(run, QStringLiteral("^    key:       EC P-256$"));
    CHECK_OUT_RE(run, QStringLiteral("^    signature: ecdsa-with-SHA256$"));
    CHECK_OUT_RE(run, QStringLiteral("^    sha256:    ([0-9A-F]{2}:){31}[0-9A-F]{2}$"));
    CHECK_OUT_RE(run, QStringLiteral("^Verification: OK"));
    // openssl s_server resumes sessions by default (TLS 1.3 tickets, TLS 1.2 tickets too).
    if (server == QLatin1String("openssl"))
        CHECK_OUT_RE(run, QStringLiteral("^Resumption: +yes: the second connection resumed"));
}

// An OCSP response for the good leaf, signed by its issuer, made with `openssl ocsp`: status
// "V" (good) or "R" (revoked). Returns the response file, or empty.
static QString makeOcspResponse(const QString &dir, const QString &status)
{
    const SecureCertificate leaf = SecureCertificate::fromPemFile(dir + "/good.pem").value(0);
    const QString index = dir + "/index-" + status + ".txt";
    QFile file(index);
    if (!file.open(QIODevice::WriteOnly))
        return {};
    file.write(status.toLatin1() + "\t" +
               leaf.notAfter().toString(QStringLiteral("yyMMddHHmmss")).toLatin1() + "Z\t" +
               (status == QLatin1String("R") ? "240101000000Z" : "") + "\t" +
               leaf.serialNumber().toUpper() + "\tunknown\t/CN=localhost\n");
    file.close();
    const QString response = dir + "/good-" + status + ".ocsp";
    PeerProcess openssl;
    const QString issuer = dir + "/intermediate.pem";
    if (!openssl.start(QStringLiteral("openssl"),
                       {"ocsp", "-index", index, "-rsigner", issuer, "-rkey",
                        dir + "/intermediate.key", "-CA", issuer, "-issuer", issuer, "-cert",
                        dir + "/good.pem", "-respout", response, "-ndays", "1"}) ||
        !openssl.waitForExit(10000) || openssl.exitCode() != 0) {
        qWarning("openssl ocsp failed: %s", qPrintable(openssl.describe()));
        return {};
    }
    return response;
}

void tst_Probe::ocspStatus_data()
{
    QTest::addColumn<QString>("status"); // index status; empty: no response stapled
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("json");
    QTest::newRow("none") << QString() << 0 << "none stapled"
                          << "none";
    QTest::newRow("good") << "V" << 0 << "good \\(a current response"
                          << "good";
    QTest::newRow("revoked") << "R" << 2 << "REVOKED: the stapled response says"
                             << "revoked";
}

// The stapled OCSP response, from openssl s_server -status_file.
void tst_Probe::ocspStatus()
{
    QFETCH(QString, status);
    QFETCH(int, exitCode);
    QFETCH(QString, text);
    QFETCH(QString, json);
    QStringList extra;
    if (!status.isEmpty()) {
        const QString response = makeOcspResponse(m_dir.path(), status);
        QVERIFY(!response.isEmpty());
        extra << QStringLiteral("-status_file") << response;
    }
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("good"), extra), qPrintable(peer.describe()));
    const Run run = probeAt(peer.port());
    CHECK_EXIT(run, exitCode);
    CHECK_OUT_RE(run, QStringLiteral("^OCSP: +") + text);
    const Run jsonRun = probeAt(peer.port(), {QStringLiteral("--json")});
    const QJsonObject o = QJsonDocument::fromJson(jsonRun.out.toUtf8()).object();
    QCOMPARE(o.value("ocsp").toString(), json);
}

void tst_Probe::json()
{
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("good"),
                          {QStringLiteral("-alpn"), QStringLiteral("http/1.1")}),
             qPrintable(peer.describe()));
    const Run run = probeAt(peer.port(), {QStringLiteral("--json")});
    CHECK_EXIT(run, 0);
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(run.out.toUtf8(), &error);
    QVERIFY2(error.error == QJsonParseError::NoError && document.isObject(),
             qPrintable(error.errorString() + QLatin1Char('\n') + run.describe));
    const QJsonObject o = document.object();
    QCOMPARE(o.value("host").toString(), QStringLiteral("localhost"));
    QCOMPARE(o.value("port").toInt(), int(peer.port()));
    QCOMPARE(o.value("servername").toString(), QStringLiteral("localhost"));
    QVERIFY(o.value("starttls").isNull());
    QCOMPARE(o.value("connected").toBool(), true);
    QVERIFY(o.value("error").isNull());
    QVERIFY(o.value("failed_step").isNull());
    QCOMPARE(o.value("protocol").toString(), QStringLiteral("TLSv1.3"));
    QVERIFY(o.value("cipher").toString().startsWith(QLatin1String("TLS_")));
    QVERIFY(!o.value("group").toString().isEmpty());
    QCOMPARE(o.value("alpn").toString(), QStringLiteral("http/1.1"));
    QCOMPARE(o.value("alpn_offered").toArray(), (QJsonArray{"h2", "http/1.1"}));
    QVERIFY(o.value("handshake_ms").toInt(-1) >= 0);
    const QJsonObject resumption = o.value("resumption").toObject();
    QCOMPARE(resumption.value("tested").toBool(), true);
    QCOMPARE(resumption.value("resumed").toBool(), true);
    QCOMPARE(resumption.value("verified").toBool(), true);
    QVERIFY(!resumption.value("note").toString().isEmpty());
    QCOMPARE(o.value("ocsp").toString(), QStringLiteral("none"));

    const QJsonArray chain = o.value("chain").toArray();
    QCOMPARE(chain.size(), 2);
    const QJsonObject leaf = chain.at(0).toObject();
    QCOMPARE(leaf.value("subject").toString(), QStringLiteral("CN=localhost"));
    QCOMPARE(leaf.value("issuer").toString(), QStringLiteral("CN=") + kIntermediateName);
    QVERIFY(QDateTime::fromString(leaf.value("not_before").toString(), Qt::ISODate).isValid());
    QVERIFY(QDateTime::fromString(leaf.value("not_after").toString(), Qt::ISODate).isValid());
    QCOMPARE(leaf.value("days_left").toInt(), 29);
    QCOMPARE(leaf.value("sans").toArray(), (QJsonArray{"DNS:localhost", "IP:127.0.0.1"}));
    QCOMPARE(leaf.value("key").toString(), QStringLiteral("EC P-256"));
    QCOMPARE(leaf.value("key_bits").toInt(), 256);
    QCOMPARE(leaf.value("signature_algorithm").toString(), QStringLiteral("ecdsa-with-SHA256"));
    const QByteArray fingerprint =
        SecureCertificate::fromPemFile(path("good.pem")).value(0).sha256Fingerprint().toHex();
    QCOMPARE(leaf.value("sha256").toString(), QString::fromLatin1(fingerprint));
    QCOMPARE(chain.at(1).toObject().value("subject").toString(),
             QStringLiteral("CN=") + kIntermediateName);

    const QJsonObject verification = o.value("verification").toObject();
    QCOMPARE(verification.value("ok").toBool(), true);
    QCOMPARE(verification.value("problems").toArray().size(), 0);
}

void tst_Probe::missingIntermediate_data()
{
    QTest::addColumn<QString>("server");
    QTest::newRow("openssl") << "openssl";
    QTest::newRow("gnutls") << "gnutls";
}

void tst_Probe::missingIntermediate()
{
    QFETCH(QString, server);
    PeerProcess peer;
    const bool started = server == QLatin1String("openssl")
                             ? startOpenssl(peer, QStringLiteral("leafonly"))
                             : startGnutls(peer, QStringLiteral("leafonly"));
    QVERIFY2(started, qPrintable(peer.describe()));
    const Run run = probeAt(peer.port());
    CHECK_EXIT(run, 2);
    CHECK_OUT(run, QStringLiteral("Certificate chain as sent by the server (1):"));
    CHECK_OUT(run, QStringLiteral("Verification: FAILED (1 problem)"));
    CHECK_OUT(run, QStringLiteral("Missing intermediate certificate: the server did not send "
                                  "'CN=%1', the intermediate CA that issued 'CN=localhost'.")
                       .arg(kIntermediateName));
    CHECK_OUT(run, QStringLiteral("Fix: The server must send it: its certificate file should "
                                  "hold the chain: its own certificate first, then the "
                                  "intermediates."));
    // Sessions whose verification failed are never reused: resumption is tested without it.
    CHECK_OUT(run, QStringLiteral("tested with two connections made without verification"));

    const Run json = probeAt(peer.port(), {QStringLiteral("--json")});
    CHECK_EXIT(json, 2);
    const QJsonObject o = QJsonDocument::fromJson(json.out.toUtf8()).object();
    const QJsonObject verification = o.value("verification").toObject();
    QCOMPARE(verification.value("ok").toBool(), false);
    const QJsonArray problems = verification.value("problems").toArray();
    QCOMPARE(problems.size(), 1);
    QCOMPARE(problems.at(0).toObject().value("code").toString(),
             QStringLiteral("missing-intermediate"));
    QVERIFY(problems.at(0).toObject().value("fix").toString().contains("must send it"));
    QCOMPARE(o.value("resumption").toObject().value("verified").toBool(), false);
}

void tst_Probe::hostnameMismatch()
{
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("wrongname")), qPrintable(peer.describe()));
    const Run run = probeAt(peer.port());
    CHECK_EXIT(run, 2);
    CHECK_OUT(run, QStringLiteral("Hostname mismatch: the certificate is not valid for "
                                  "localhost; it is valid for: www.example.test, example.test."));
    CHECK_OUT(run, QStringLiteral("--servername NAME"));

    // The name asked for is the one verified (and sent as SNI): a listed one passes.
    const Run named =
        probeAt(peer.port(), {QStringLiteral("--servername"), QStringLiteral("example.test")});
    CHECK_EXIT(named, 0);
    CHECK_OUT(named, QStringLiteral("server name example.test"));
}

void tst_Probe::expired()
{
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("expired")), qPrintable(peer.describe()));
    const Run run = probeAt(peer.port());
    CHECK_EXIT(run, 2);
    const QDateTime notAfter =
        SecureCertificate::fromPemFile(path("expired.pem")).value(0).notAfter();
    CHECK_OUT(run, QStringLiteral("The certificate 'CN=localhost' expired on %1 (expired 5 days "
                                  "ago).")
                       .arg(notAfter.toString(QStringLiteral("yyyy-MM-dd HH:mm:ss 'UTC'"))));
    CHECK_OUT(run, QStringLiteral("Fix: The server must renew it"));
    CHECK_OUT_RE(run, QStringLiteral("^    valid: .* \\(expired 5 days ago\\)$"));
}

void tst_Probe::notYetValid()
{
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("notyetvalid")), qPrintable(peer.describe()));
    const Run run = probeAt(peer.port());
    CHECK_EXIT(run, 2);
    const QDateTime notBefore =
        SecureCertificate::fromPemFile(path("notyetvalid.pem")).value(0).notBefore();
    CHECK_OUT(run, QStringLiteral("The certificate 'CN=localhost' is not valid before %1 (in 3 "
                                  "days).")
                       .arg(notBefore.toString(QStringLiteral("yyyy-MM-dd HH:mm:ss 'UTC'"))));
    CHECK_OUT(run, QStringLiteral("Fix: Check this machine's clock"));
}

void tst_Probe::wrongPurpose()
{
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("clientonly")), qPrintable(peer.describe()));
    const Run run = probeAt(peer.port());
    CHECK_EXIT(run, 2);
    CHECK_OUT(run, QStringLiteral("wrong certificate purpose: the (extended) key usage of "
                                  "certificate 'CN=localhost' does not allow a TLS server"));
    CHECK_OUT(run, QStringLiteral("Fix: The server needs a certificate whose extended key usage "
                                  "allows a TLS server (serverAuth)."));
}

// The server sends its root too, and it is not trusted here (only the system store is).
void tst_Probe::untrustedRoot()
{
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("withroot")), qPrintable(peer.describe()));
    const Run run = probe({QStringLiteral("localhost:%1").arg(peer.port())});
    CHECK_EXIT(run, 2);
    CHECK_OUT(run, QStringLiteral("Certificate chain as sent by the server (3):"));
    CHECK_OUT(run, QStringLiteral("The chain ends in the root CA 'CN=%1', which is not trusted "
                                  "here.")
                       .arg(kRootName));
    CHECK_OUT(run, QStringLiteral("If you mean to trust this CA, trust it with --cafile FILE"));
    // As sent: the root is shown because the server sent it; with it trusted, all is well.
    const Run trusted = probeAt(peer.port());
    CHECK_EXIT(trusted, 0);
    CHECK_OUT(trusted, QStringLiteral("Certificate chain as sent by the server (3):"));
}

// --servername is sent as SNI: s_server presents its second certificate for that name.
void tst_Probe::serverNameIndication()
{
    PeerProcess peer;
    const QString second = path(QStringLiteral("wrongname.pem"));
    QVERIFY2(startOpenssl(peer, QStringLiteral("good"),
                          {QStringLiteral("-servername"), QStringLiteral("example.test"),
                           QStringLiteral("-cert2"), second, QStringLiteral("-key2"),
                           testpki::PkiDirectory::keyFileOf(second)}),
             qPrintable(peer.describe()));
    const Run named =
        probeAt(peer.port(), {QStringLiteral("--servername"), QStringLiteral("example.test")});
    // s_server sends no intermediate with its second certificate: its name is what counts here.
    CHECK_EXIT(named, 2);
    CHECK_OUT(named, QStringLiteral("Certificate chain as sent by the server (1):"));
    QVERIFY2(!named.out.contains(QLatin1String("mismatch")), qPrintable(named.describe));
    CHECK_OUT_RE(named, QStringLiteral("^  0 subject:   CN=www.example.test$"));
    const Run plain = probeAt(peer.port());
    CHECK_EXIT(plain, 0);
    CHECK_OUT_RE(plain, QStringLiteral("^  0 subject:   CN=localhost$"));
}

void tst_Probe::selfSigned()
{
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("selfsigned")), qPrintable(peer.describe()));
    const Run run = probeAt(peer.port());
    CHECK_EXIT(run, 2);
    CHECK_OUT(run, QStringLiteral("The server's certificate 'CN=localhost' is self-signed"));
    CHECK_OUT(run, QStringLiteral("trust it with --cafile FILE"));
    // Trusting it as told makes it pass.
    const Run trusted = probe({QStringLiteral("localhost:%1").arg(peer.port()),
                               QStringLiteral("--cafile"), path("selfsigned.pem")});
    CHECK_EXIT(trusted, 0);
}

void tst_Probe::unknownCa()
{
    PeerProcess peer;
    QVERIFY2(startGnutls(peer, QStringLiteral("unknownca")), qPrintable(peer.describe()));
    const Run run = probeAt(peer.port());
    CHECK_EXIT(run, 2);
    CHECK_OUT(run, QStringLiteral("The certificate 'CN=localhost' was issued by 'CN=%1', which "
                                  "the server did not send and which is not a trusted CA here.")
                       .arg(kOtherCaName));
    CHECK_OUT(run, QStringLiteral("trust it with --cafile FILE"));
    const Run trusted = probe({QStringLiteral("localhost:%1").arg(peer.port()),
                               QStringLiteral("--cafile"), path("otherca.pem")});
    CHECK_EXIT(trusted, 0);
}

void tst_Probe::resumptionRefused()
{
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("good"),
                          {QStringLiteral("-no_ticket"), QStringLiteral("-no_cache")}),
             qPrintable(peer.describe()));
    const Run run = probeAt(peer.port());
    CHECK_EXIT(run, 0);
    CHECK_OUT_RE(run, QStringLiteral("^Resumption: +no: the server did not resume"));
}

void tst_Probe::noServer()
{
    const testsupport::RefusingPort refusing;
    QVERIFY(refusing.port() != 0);
    const Run run = probeAt(refusing.port());
    CHECK_EXIT(run, 1);
    CHECK_OUT(run, QStringLiteral("No TLS connection: connection refused: nothing listens on "
                                  "localhost port %1")
                       .arg(refusing.port()));
    const Run json = probeAt(refusing.port(), {QStringLiteral("--json")});
    CHECK_EXIT(json, 1);
    const QJsonObject o = QJsonDocument::fromJson(json.out.toUtf8()).object();
    QCOMPARE(o.value("connected").toBool(true), false);
    QVERIFY(o.value("error").toString().startsWith(QLatin1String("connection refused")));
    QCOMPARE(o.value("failed_step").toString(), QStringLiteral("connect"));
}

// A server that accepts the TCP connection (the kernel does, in this test's own listener) and
// never answers the ClientHello.
void tst_Probe::silentServer()
{
    QTcpServer silent;
    QVERIFY(silent.listen(QHostAddress::LocalHost));
    const Run run =
        probeAt(silent.serverPort(), {QStringLiteral("--timeout"), QStringLiteral("1000")});
    CHECK_EXIT(run, 1);
    CHECK_OUT(run, QStringLiteral("No TLS connection: TLS handshake timed out: the server did not "
                                  "complete the handshake within 1000 ms"));
}

// An IPv6 address in brackets, verified against the name given with --servername.
void tst_Probe::ipv6()
{
    PeerProcess peer;
    const QString cert = path(QStringLiteral("good.pem"));
    QVERIFY2(peer.startServer(
                 QStringLiteral("openssl"),
                 {QStringLiteral("s_server"), QStringLiteral("-accept"), QStringLiteral("[::1]:0"),
                  QStringLiteral("-cert"), cert, QStringLiteral("-cert_chain"), cert,
                  QStringLiteral("-key"), testpki::PkiDirectory::keyFileOf(cert)},
                 PeerProcess::portFromOutput(QStringLiteral("^ACCEPT \\[::1\\]:(\\d+)$"))),
             qPrintable(peer.describe()));
    const Run run =
        probe({QStringLiteral("[::1]:%1").arg(peer.port()), QStringLiteral("--cafile"),
               path("root.pem"), QStringLiteral("--servername"), QStringLiteral("localhost")});
    CHECK_EXIT(run, 0);
    CHECK_OUT_RE(run,
                 QStringLiteral("^Target: +::1 port %1, server name localhost$").arg(peer.port()));
    CHECK_OUT_RE(run, QStringLiteral("^Connected to: +::1$"));
    // Without --servername the address itself is verified, and the certificate lacks it.
    const Run address = probe({QStringLiteral("[::1]:%1").arg(peer.port()),
                               QStringLiteral("--cafile"), path("root.pem")});
    CHECK_EXIT(address, 2);
    CHECK_OUT(address, QStringLiteral("Address mismatch: the certificate is not valid for the "
                                      "address ::1; it is valid for: localhost, 127.0.0.1."));
}

void tst_Probe::alpn()
{
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("good"),
                          {QStringLiteral("-alpn"), QStringLiteral("h2,http/1.1")}),
             qPrintable(peer.describe()));
    const Run byDefault = probeAt(peer.port());
    CHECK_EXIT(byDefault, 0);
    CHECK_OUT_RE(byDefault, QStringLiteral("^ALPN: +h2 \\(offered h2,http/1.1\\)$"));
    const Run chosen = probeAt(peer.port(), {QStringLiteral("--alpn"), QStringLiteral("http/1.1")});
    CHECK_EXIT(chosen, 0);
    CHECK_OUT_RE(chosen, QStringLiteral("^ALPN: +http/1.1 \\(offered http/1.1\\)$"));
    const Run none = probeAt(peer.port(), {QStringLiteral("--alpn"), QString()});
    CHECK_EXIT(none, 0);
    CHECK_OUT_RE(none, QStringLiteral("^ALPN: +not offered$"));
}

// A hashed CA directory (openssl rehash), trusted alone.
void tst_Probe::caPath()
{
    const QString dir = path(QStringLiteral("cadir"));
    QVERIFY(QDir().mkpath(dir));
    QVERIFY(QFile::copy(path("root.pem"), dir + QStringLiteral("/root.pem")));
    PeerProcess rehash;
    QVERIFY2(rehash.start(QStringLiteral("openssl"), {QStringLiteral("rehash"), dir}) &&
                 rehash.waitForExit(10000) && rehash.exitCode() == 0,
             qPrintable(rehash.describe()));
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("good")), qPrintable(peer.describe()));
    const Run run = probe({QStringLiteral("localhost:%1").arg(peer.port()),
                           QStringLiteral("--capath"), dir, QStringLiteral("--no-system-ca")});
    CHECK_EXIT(run, 0);
    // Without it, and without the system store, nothing is trusted: an unknown root.
    const Run untrusted =
        probe({QStringLiteral("localhost:%1").arg(peer.port()), QStringLiteral("--cafile"),
               path("otherca.pem"), QStringLiteral("--no-system-ca")});
    CHECK_EXIT(untrusted, 2);
}

// A server that speaks only TLS 1.1, which OpenSSL 3 still offers at security level 0: we allow
// TLS 1.2 and 1.3 only.
void tst_Probe::noCommonVersion()
{
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("good"),
                          {QStringLiteral("-tls1_1"), QStringLiteral("-cipher"),
                           QStringLiteral("DEFAULT:@SECLEVEL=0")}),
             qPrintable(peer.describe()));
    const Run run = probeAt(peer.port());
    CHECK_EXIT(run, 1);
    CHECK_OUT(run, QStringLiteral("No TLS connection: TLS handshake with localhost failed: the "
                                  "server aborted with the alert 'protocol version' (the server "
                                  "and this client have no TLS version in common; this client "
                                  "speaks TLS 1.2 and 1.3)"));
}

void tst_Probe::notTls()
{
    PeerProcess peer;
    QVERIFY2(peer.startServer(QStringLiteral("python3"), {path("plain.py")},
                              PeerProcess::portFromOutput(kPythonListening)),
             qPrintable(peer.describe()));
    const Run run = probeAt(peer.port(), {QStringLiteral("--timeout"), QStringLiteral("3000")});
    CHECK_EXIT(run, 1);
    CHECK_OUT(run, QStringLiteral("No TLS connection: TLS handshake with localhost failed: the "
                                  "server sent data that is not valid TLS"));
}

void tst_Probe::clientCertificate_data()
{
    QTest::addColumn<QString>("version");
    QTest::addColumn<QString>("refusal");
    // TLS 1.3 lets the client finish first: the server's refusal comes after the handshake.
    QTest::newRow("TLS 1.3") << "-tls1_3"
                             << "No TLS connection: the server refused the connection right "
                                "after the handshake: TLS connection with localhost failed: the "
                                "server aborted with the alert 'certificate required': it "
                                "requires a client certificate (give one with --client-cert "
                                "FILE --client-key FILE)";
    QTest::newRow("TLS 1.2") << "-tls1_2"
                             << "No TLS connection: TLS handshake with localhost failed: the "
                                "server aborted with the alert 'handshake failure' (if the "
                                "server requires a client certificate, give one with "
                                "--client-cert FILE --client-key FILE)";
}

void tst_Probe::clientCertificate()
{
    QFETCH(QString, version);
    QFETCH(QString, refusal);
    PeerProcess peer;
    QVERIFY2(startOpenssl(peer, QStringLiteral("good"),
                          {version, QStringLiteral("-Verify"), QStringLiteral("1"),
                           QStringLiteral("-verify_return_error"), QStringLiteral("-CAfile"),
                           path("clientca.pem")}),
             qPrintable(peer.describe()));
    const Run without = probeAt(peer.port());
    CHECK_EXIT(without, 1);
    CHECK_OUT(without, refusal);

    const Run with = probeAt(peer.port(), {QStringLiteral("--client-cert"), path("client.pem"),
                                           QStringLiteral("--client-key"), path("client.key")});
    CHECK_EXIT(with, 0);
    QVERIFY2(peer.waitForOutput("subject=CN = probe-client", 5000), qPrintable(peer.describe()));

    // One from a CA the server does not trust.
    const Run wrong = probeAt(peer.port(), {QStringLiteral("--client-cert"), path("unknownca.pem"),
                                            QStringLiteral("--client-key"), path("unknownca.key")});
    CHECK_EXIT(wrong, 1);
    CHECK_OUT(wrong, QStringLiteral("(the server does not accept the client certificate given)"));

    // A client key file that does not exist is named, as bad usage.
    const Run missing = probeAt(peer.port(), {QStringLiteral("--client-cert"), path("client.pem"),
                                              QStringLiteral("--client-key"), path("no-such.key")});
    CHECK_EXIT(missing, 64);
    QVERIFY2(missing.err.contains(QLatin1String("no-such.key")), qPrintable(missing.describe));
}

void tst_Probe::starttls_data()
{
    QTest::addColumn<QString>("protocol");
    QTest::addColumn<QString>("reply");
    QTest::newRow("imap") << "imap"
                          << "a2 OK Begin TLS";
    QTest::newRow("smtp") << "smtp"
                          << "220 go ahead";
    QTest::newRow("pop3") << "pop3"
                          << "+OK begin TLS";
}

void tst_Probe::starttls()
{
    QFETCH(QString, protocol);
    QFETCH(QString, reply);
    PeerProcess peer;
    QVERIFY2(peer.startServer(QStringLiteral("python3"),
                              {path("starttls.py"), protocol, QStringLiteral("accept"),
                               path("good.pem"), path("good.key")},
                              PeerProcess::portFromOutput(kPythonListening)),
             qPrintable(peer.describe()));
    const Run run = probeAt(peer.port(), {QStringLiteral("--starttls"), protocol});
    CHECK_EXIT(run, 0);
    CHECK_OUT(run, QStringLiteral("STARTTLS:      %1, accepted (\"%2\")").arg(protocol, reply));
    CHECK_OUT_RE(run, QStringLiteral("^ALPN: +not offered$"));
    CHECK_OUT_RE(run, QStringLiteral("^Verification: OK"));
}

void tst_Probe::starttlsRefused_data()
{
    QTest::addColumn<QString>("protocol");
    QTest::addColumn<QString>("sentence");
    QTest::newRow("imap") << "imap"
                          << "STARTTLS failed: the IMAP server refused STARTTLS: it answered "
                             "'a2 BAD STARTTLS not available' (its capabilities do not list "
                             "STARTTLS)";
    QTest::newRow("smtp") << "smtp"
                          << "STARTTLS failed: the SMTP server refused STARTTLS: it answered "
                             "'454 TLS not available' (its EHLO answer does not list STARTTLS)";
    QTest::newRow("pop3") << "pop3"
                          << "STARTTLS failed: the POP3 server refused STLS (STARTTLS): it "
                             "answered '-ERR STLS not available'";
}

void tst_Probe::starttlsRefused()
{
    QFETCH(QString, protocol);
    QFETCH(QString, sentence);
    PeerProcess peer;
    QVERIFY2(peer.startServer(QStringLiteral("python3"),
                              {path("starttls.py"), protocol, QStringLiteral("refuse"),
                               path("good.pem"), path("good.key")},
                              PeerProcess::portFromOutput(kPythonListening)),
             qPrintable(peer.describe()));
    const Run run = probeAt(peer.port(), {QStringLiteral("--starttls"), protocol});
    CHECK_EXIT(run, 1);
    CHECK_OUT(run, QStringLiteral("No TLS connection: ") + sentence);
}

void tst_Probe::badUsage_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("message");
    QTest::newRow("no host") << QStringList() << "missing HOST";
    QTest::newRow("unknown option")
        << QStringList{"localhost", "--frobnicate"} << "Unknown option 'frobnicate'";
    QTest::newRow("port 0") << QStringList{"localhost:0"} << "bad port '0'";
    QTest::newRow("port too big") << QStringList{"localhost:65536"} << "bad port '65536'";
    QTest::newRow("port not a number") << QStringList{"localhost:https"} << "bad port 'https'";
    QTest::newRow("empty port") << QStringList{"localhost:"} << "no port after ':'";
    QTest::newRow("unbracketed IPv6 with port") << QStringList{"[::1:443"} << "lacks its ']'";
    QTest::newRow("two hosts") << QStringList{"a.test", "b.test"} << "one HOST[:PORT] only";
    QTest::newRow("client cert without key") << QStringList{"localhost", "--client-cert", "c.pem"}
                                             << "--client-cert and --client-key go together";
    QTest::newRow("client key without cert") << QStringList{"localhost", "--client-key", "k.pem"}
                                             << "--client-cert and --client-key go together";
    QTest::newRow("unknown starttls")
        << QStringList{"localhost", "--starttls", "ftp"} << "unknown --starttls protocol 'ftp'";
    QTest::newRow("bad timeout") << QStringList{"localhost", "--timeout", "soon"}
                                 << "bad --timeout 'soon'";
    QTest::newRow("missing CA file")
        << QStringList{"localhost", "--cafile", "/nonexistent/ca.pem"} << "/nonexistent/ca.pem";
}

void tst_Probe::badUsage()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, message);
    const Run run = probe(arguments);
    CHECK_EXIT(run, 64);
    QVERIFY2(run.err.contains(message), qPrintable(run.describe));
    QVERIFY2(run.err.contains(QLatin1String("usage: securesocket-probe HOST[:PORT]")),
             qPrintable(run.describe));
    QVERIFY2(run.out.isEmpty(), qPrintable(run.describe));
}

QTEST_GUILESS_MAIN(tst_Probe)
#include "tst_probe.moc"
