// OCSP stapling against real peers. Responses are made at run time for a test CA: with
// `openssl ocsp` (good, revoked, unknown, signed by a responder the CA authorized, by one it did
// not, by a responder of another CA) and, for dates `openssl ocsp` cannot make (expired, not
// valid yet) and an unsuccessful status, with OpenSSL's C API. Our client against
// `openssl s_server -status_file`; SecureServer and the echoserver against
// `openssl s_client -status`.
#include <SecureSocket/secureserver.h>
#include <SecureSocket/securesocket.h>
#include <SecureSocket/verifyerror.h>

#include "handshake.h"
#include "logcapture.h"
#include "peerprocess.h"
#include "pkidirectory.h"
#include "recheckclock.h"
#include "serverhelpers.h"
#include "testpki.h"

#include <QFile>
#include <QSignalSpy>
#include <QTest>

#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <vector>

namespace {

constexpr int kMsecs = 10000;
constexpr long kDay = 24L * 3600;

const QString kOpensslAccept = QStringLiteral("^ACCEPT 127\\.0\\.0\\.1:(\\d+)$");

template <typename T, void (*F)(T *)> struct Free
{
    void operator()(T *p) const { F(p); }
};
using X509Ptr = std::unique_ptr<X509, Free<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;

X509Ptr readCert(const std::string &pem)
{
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

KeyPtr readKey(const std::string &pem)
{
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return KeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string serialHex(const std::string &certPem)
{
    const X509Ptr cert = readCert(certPem);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr);
    char *hex = BN_bn2hex(bn);
    std::string text(hex);
    OPENSSL_free(hex);
    BN_free(bn);
    return text;
}

// A response made with the C API, for what `openssl ocsp` cannot make: a "good" response for
// subject (issued by issuer), signed by signer, valid from now + thisOffset to now + nextOffset
// seconds; or, with another responseStatus, an unsuccessful response (no body).
std::string makeResponse(const testpki::Issued &subject, const testpki::Issued &issuer,
                         long thisOffset, long nextOffset,
                         int responseStatus = OCSP_RESPONSE_STATUS_SUCCESSFUL)
{
    OCSP_RESPONSE *response = nullptr;
    if (responseStatus != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        response = OCSP_response_create(responseStatus, nullptr);
    } else {
        const X509Ptr cert = readCert(subject.certPem);
        const X509Ptr ca = readCert(issuer.certPem);
        const KeyPtr key = readKey(issuer.keyPem);
        OCSP_CERTID *id = OCSP_cert_to_id(nullptr, cert.get(), ca.get());
        OCSP_BASICRESP *basic = OCSP_BASICRESP_new();
        ASN1_TIME *thisUpdate = X509_gmtime_adj(nullptr, thisOffset);
        ASN1_TIME *nextUpdate = X509_gmtime_adj(nullptr, nextOffset);
        if (!id || !basic || !thisUpdate || !nextUpdate ||
            !OCSP_basic_add1_status(basic, id, V_OCSP_CERTSTATUS_GOOD, 0, nullptr, thisUpdate,
                                    nextUpdate) ||
            OCSP_basic_sign(basic, ca.get(), key.get(), EVP_sha256(), nullptr, 0) != 1)
            qFatal("cannot make an OCSP response");
        response = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic);
        ASN1_TIME_free(thisUpdate);
        ASN1_TIME_free(nextUpdate);
        OCSP_BASICRESP_free(basic);
        OCSP_CERTID_free(id);
    }
    unsigned char *der = nullptr;
    const int size = i2d_OCSP_RESPONSE(response, &der);
    OCSP_RESPONSE_free(response);
    if (size <= 0)
        qFatal("cannot encode an OCSP response");
    std::string bytes(reinterpret_cast<char *>(der), static_cast<size_t>(size));
    OPENSSL_free(der);
    return bytes;
}

int code(VerifyError error)
{
    return static_cast<int>(error);
}

enum class Forgive {
    No,                 // the failure aborts the handshake
    InSlot,             // ignoreCertErrors() from a slot of certCheckFailed
    InSlotThisCodeOnly, // ignoreCertErrors({code}) from a slot of certCheckFailed
    Beforehand          // ignoreCertErrors({code}) before connecting
};

// What a client saw.
struct ClientRun
{
    bool encrypted = false;
    QList<int> failures; // certCheckFailed codes
    QStringList reasons;
    SecureSocket::TlsError tlsError = SecureSocket::NoTlsError;
    QString errorString;
    bool resumed = false;
    QByteArray ocspResponse;

    QString describe() const
    {
        return QStringLiteral("encrypted=%1 failures=%2 reasons=[%3] error=%4")
            .arg(encrypted)
            .arg(QDebug::toString(failures), reasons.join(QStringLiteral("; ")), errorString);
    }
};

} // namespace

class TestOcsp : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void verifyErrorNamesRoundTrip();
    void clientAgainstOpensslServer_data();
    void clientAgainstOpensslServer();
    void forgivenFailureIsNotResumed();
    void chainFailureThenOcspFailure();
    void secureServerStaples_data();
    void secureServerStaples();
    void secureServerDoesNotStapleWhatDoesNotFit_data();
    void secureServerDoesNotStapleWhatDoesNotFit();
    void replacedFileIsPickedUp();
    void garbageFileIsAConfigurationError();
    void ourClientAgainstOurServer();
    void echoserverFlag();
    void echoserverIniKey();
    void echoserverRefusesGarbage();

private:
    QString path(const QString &name) const { return m_dir.filePath(name); }
    // `openssl ocsp` as a responder over an index file: a response for cert, signed by signer
    // ("<signer>.pem" and its key), written to out.
    void opensslResponse(const QString &index, const QString &signer, const QString &cert,
                         const QString &out);
    SecureConfiguration clientConfig(bool required) const;
    ClientRun connectClient(const SecureConfiguration &config, quint16 port, Forgive forgive,
                            VerifyError forgiven, const QByteArray &send = {}) const;
    bool startOpensslServer(PeerProcess &peer, const QString &response,
                            const QString &version) const;
    // `openssl s_client -status` against port; its output.
    QByteArray sClientStatus(quint16 port, const QString &version = {}) const;
    SecureConfiguration serverConfig(const QString &response) const;

    testpki::PkiDirectory m_dir;
    testpki::Issued m_ca, m_leaf, m_other, m_responder;
};

void TestOcsp::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_ca = testpki::makeCertificate(testpki::caSpec("OCSP Test CA"));
    m_dir.write("ca.pem", m_ca.certPem);
    m_dir.write("ca.key", m_ca.keyPem);
    m_dir.issue("leaf", testpki::localhostSpec(), &m_ca, &m_leaf);
    m_dir.issue("other", testpki::localhostSpec(), &m_ca, &m_other);
    testpki::CertSpec responder = testpki::serverSpec("OCSP Responder", {});
    responder.extendedKeyUsage = {"OCSPSigning"};
    m_dir.issue("responder", responder, &m_ca, &m_responder);
    // Issued by the CA but not for OCSP signing; and an OCSP responder of another CA.
    m_dir.issue("unauthorized", testpki::serverSpec("Not A Responder", {}), &m_ca);
    testpki::Issued rogueCa = testpki::makeCertificate(testpki::caSpec("Rogue CA"));
    m_dir.issue("rogue", responder, &rogueCa);

    const std::string line = "\t491231235959Z\t";
    const std::string subject = "\tunknown\t/CN=localhost\n";
    m_dir.write("index-good.txt", "V" + line + "\t" + serialHex(m_leaf.certPem) + subject);
    m_dir.write("index-revoked.txt",
                "R" + line + "250101000000Z,keyCompromise\t" + serialHex(m_leaf.certPem) + subject);
    m_dir.write("index-other.txt", "V" + line + "\t" + serialHex(m_other.certPem) + subject);

    const QString leaf = path("leaf.pem");
    opensslResponse("index-good.txt", "ca", leaf, "good.der");
    opensslResponse("index-good.txt", "responder", leaf, "good-responder.der");
    opensslResponse("index-revoked.txt", "ca", leaf, "revoked.der");
    opensslResponse("index-other.txt", "ca", leaf, "unknown.der"); // not in its index
    opensslResponse("index-good.txt", "unauthorized", leaf, "unauthorized.der");
    opensslResponse("index-good.txt", "rogue", leaf, "rogue.der");
    opensslResponse("index-other.txt", "ca", path("other.pem"), "other.der");
    m_dir.write("expired.der", makeResponse(m_leaf, m_ca, -2 * kDay, -kDay));
    m_dir.write("future.der", makeResponse(m_leaf, m_ca, kDay, 2 * kDay));
    m_dir.write("trylater.der", makeResponse(m_leaf, m_ca, 0, 0, OCSP_RESPONSE_STATUS_TRYLATER));
    m_dir.write("garbage.der", "this is not an OCSP response\n");
}

void TestOcsp::opensslResponse(const QString &index, const QString &signer, const QString &cert,
                               const QString &out)
{
    PeerProcess ocsp;
    ocsp.setMergedChannels(true);
    const QStringList args{"ocsp",
                           "-index",
                           path(index),
                           "-rsigner",
                           path(signer + ".pem"),
                           "-rkey",
                           path(signer + ".key"),
                           "-CA",
                           path("ca.pem"),
                           "-issuer",
                           path("ca.pem"),
                           "-cert",
                           cert,
                           "-respout",
                           path(out),
                           "-ndays",
                           "1"};
    QVERIFY2(ocsp.start("openssl", args), qPrintable(ocsp.describe()));
    QVERIFY2(ocsp.waitForExit(kMsecs) && ocsp.exitCode() == 0, qPrintable(ocsp.describe()));
    QVERIFY2(QFile(path(out)).size() > 0, qPrintable(ocsp.describe()));
}

void TestOcsp::verifyErrorNamesRoundTrip()
{
    const struct
    {
        VerifyError code;
        int value;
        const char *name;
    } expected[] = {
        {VerifyError::OcspResponseMissing, 18, "ocsp-missing"},
        {VerifyError::OcspResponseInvalid, 19, "ocsp-invalid"},
        {VerifyError::OcspResponseExpired, 20, "ocsp-expired"},
        {VerifyError::OcspRevoked, 21, "ocsp-revoked"},
    };
    for (const auto &entry : expected) {
        QCOMPARE(static_cast<int>(entry.code), entry.value);
        QCOMPARE(verifyErrorName(entry.code), entry.name);
        QCOMPARE(verifyErrorFromName(entry.name), entry.code);
    }
    QCOMPARE(verifyErrorFromName(verifyErrorName(VerifyError::Revoked)), VerifyError::Revoked);
}

SecureConfiguration TestOcsp::clientConfig(bool required) const
{
    SecureConfiguration config;
    config.setCaCertificatesFile(path("ca.pem"));
    config.setUseSystemCaCertificates(false);
    config.setOcspStaplingRequired(required);
    return config;
}

ClientRun TestOcsp::connectClient(const SecureConfiguration &config, quint16 port, Forgive forgive,
                                  VerifyError forgiven, const QByteArray &send) const
{
    ClientRun run;
    SecureSocket socket;
    socket.setConfiguration(config);
    if (forgive == Forgive::Beforehand)
        socket.ignoreCertErrors(QList<VerifyError>{forgiven});
    connect(&socket, &SecureSocket::certCheckFailed, &socket,
            [&](int error, const QString &reason) {
                run.failures << error;
                run.reasons << reason;
                if (forgive == Forgive::InSlot && error == code(forgiven))
                    socket.ignoreCertErrors();
                if (forgive == Forgive::InSlotThisCodeOnly && error == code(forgiven))
                    socket.ignoreCertErrors(QList<VerifyError>{forgiven});
            });
    socket.connectToHostEncrypted(QStringLiteral("localhost"), port);
    testsupport::waitUntil(
        [&] { return socket.isEncrypted() || socket.state() == QAbstractSocket::UnconnectedState; },
        kMsecs);
    run.encrypted = socket.isEncrypted();
    if (run.encrypted && !send.isEmpty()) {
        socket.write(send);
        socket.flush();
    }
    // Session tickets (TLS 1.3) come after the handshake: give them a moment to arrive.
    if (run.encrypted)
        socket.waitForReadyRead(200);
    run.tlsError = socket.tlsError();
    run.errorString = socket.errorString();
    run.resumed = socket.isSessionResumed();
    run.ocspResponse = socket.ocspResponse();
    if (run.encrypted) {
        socket.disconnectFromHost();
        if (socket.state() != QAbstractSocket::UnconnectedState)
            socket.waitForDisconnected(2000);
    }
    return run;
}

bool TestOcsp::startOpensslServer(PeerProcess &peer, const QString &response,
                                  const QString &version) const
{
    QStringList args{"s_server",       "-accept", "127.0.0.1:0",    "-cert",
                     path("leaf.pem"), "-key",    path("leaf.key"), version};
    if (!response.isEmpty())
        args << "-status_file" << path(response);
    peer.setMergedChannels(true);
    return peer.startServer("openssl", args, PeerProcess::portFromOutput(kOpensslAccept));
}

void TestOcsp::clientAgainstOpensslServer_data()
{
    QTest::addColumn<QString>("response"); // s_server -status_file, or none
    QTest::addColumn<bool>("required");
    QTest::addColumn<int>("expected");   // a VerifyError, 0 for none
    QTest::addColumn<QString>("reason"); // in the failure's sentence
    const auto ok = code(VerifyError::NoError);
    const auto missing = code(VerifyError::OcspResponseMissing);
    const auto invalid = code(VerifyError::OcspResponseInvalid);
    const auto expired = code(VerifyError::OcspResponseExpired);
    const auto revoked = code(VerifyError::OcspRevoked);
    const struct
    {
        const char *name;
        const char *response;
        bool required;
        int expected;
        const char *reason;
    } rows[] = {
        {"good", "good.der", true, ok, ""},
        {"good from an authorized responder", "good-responder.der", true, ok, ""},
        {"missing", "", true, missing, "stapled none for certificate 'CN=localhost'"},
        {"revoked", "revoked.der", true, revoked, "was revoked on Jan  1 00:00:00 2025 GMT"},
        {"expired", "expired.der", true, expired, "was valid until"},
        {"not valid yet", "future.der", true, expired, "is valid from"},
        {"signed by an unauthorized certificate", "unauthorized.der", true, invalid,
         "not signed by 'CN=OCSP Test CA'"},
        {"signed by another CA's responder", "rogue.der", true, invalid,
         "not signed by 'CN=OCSP Test CA'"},
        {"for another certificate", "other.der", true, invalid, "not for this certificate"},
        {"status unknown", "unknown.der", true, invalid, "does not know the certificate"},
        {"unsuccessful", "trylater.der", true, invalid, "'trylater'"},
        // Not required: only a valid "revoked" matters.
        {"not required, good", "good.der", false, ok, ""},
        {"not required, missing", "", false, ok, ""},
        {"not required, revoked", "revoked.der", false, revoked, "keyCompromise"},
        {"not required, expired", "expired.der", false, ok, ""},
        {"not required, wrong signer", "rogue.der", false, ok, ""},
    };
    for (const auto &row : rows) {
        for (const char *version : {"-tls1_3", "-tls1_2"}) {
            QTest::addRow("%s %s", row.name, version + 1)
                << QString::fromLatin1(row.response) << row.required << row.expected
                << QString::fromLatin1(row.reason);
        }
    }
}

void TestOcsp::clientAgainstOpensslServer()
{
    QFETCH(QString, response);
    QFETCH(bool, required);
    QFETCH(int, expected);
    QFETCH(QString, reason);
    const QString version = QString::fromLatin1(QTest::currentDataTag()).endsWith("tls1_3")
                                ? QStringLiteral("-tls1_3")
                                : QStringLiteral("-tls1_2");
    PeerProcess server;
    QVERIFY2(startOpensslServer(server, response, version), qPrintable(server.describe()));
    const SecureConfiguration config = clientConfig(required);
    const auto error = static_cast<VerifyError>(expected);
    const QByteArray stapled = response.isEmpty() ? QByteArray() : [&] {
        QFile file(path(response));
        return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
    }();

    if (expected == 0) {
        const ClientRun run =
            connectClient(config, server.port(), Forgive::No, error, "hello-ok\n");
        QVERIFY2(run.encrypted && run.failures.isEmpty(), qPrintable(run.describe()));
        QCOMPARE(run.ocspResponse, stapled);
        QVERIFY2(server.waitForOutput("hello-ok", kMsecs), qPrintable(server.describe()));
        return;
    }

    // Not forgiven: certCheckFailed with the code and a sentence, then the handshake ends.
    const ClientRun refused = connectClient(config, server.port(), Forgive::No, error);
    QVERIFY2(!refused.encrypted, qPrintable(refused.describe()));
    QVERIFY2(refused.failures == QList<int>{expected}, qPrintable(refused.describe()));
    QVERIFY2(refused.reasons.first().contains(reason), qPrintable(refused.describe()));
    QCOMPARE(refused.tlsError, SecureSocket::CertificateRejected);
    // The server is told why, by an alert in place of our Finished.
    const QByteArray alert =
        expected == code(VerifyError::OcspRevoked) ? "alert number 44" : "alert number 113";
    QVERIFY2(server.waitForOutput(alert, kMsecs), qPrintable(server.describe()));

    // Forgiven in the slot, or beforehand: the connection goes through and data flows.
    for (const Forgive forgive : {Forgive::InSlot, Forgive::Beforehand}) {
        const QByteArray token = forgive == Forgive::InSlot ? "hello-slot\n" : "hello-before\n";
        const ClientRun run = connectClient(config, server.port(), forgive, error, token);
        QVERIFY2(run.encrypted, qPrintable(run.describe()));
        QVERIFY2(run.failures == QList<int>{expected}, qPrintable(run.describe()));
        QCOMPARE(run.ocspResponse, stapled);
        QVERIFY2(server.waitForOutput(token.trimmed(), kMsecs), qPrintable(server.describe()));
    }
}

// A session whose OCSP failure was forgiven is never resumed; one with a good response is.
void TestOcsp::forgivenFailureIsNotResumed()
{
    for (const char *version : {"-tls1_3", "-tls1_2"}) {
        PeerProcess good, revoked;
        QVERIFY2(startOpensslServer(good, "good.der", version), qPrintable(good.describe()));
        QVERIFY2(startOpensslServer(revoked, "revoked.der", version),
                 qPrintable(revoked.describe()));
        const SecureConfiguration config = clientConfig(true);
        const auto none = VerifyError::NoError;
        QVERIFY(connectClient(config, good.port(), Forgive::No, none, "a\n").encrypted);
        const ClientRun again = connectClient(config, good.port(), Forgive::No, none, "b\n");
        QVERIFY2(again.encrypted && again.resumed, version);
        QVERIFY(again.failures.isEmpty());

        const auto code = VerifyError::OcspRevoked;
        QVERIFY(connectClient(config, revoked.port(), Forgive::InSlot, code, "c\n").encrypted);
        const ClientRun second =
            connectClient(config, revoked.port(), Forgive::InSlot, code, "d\n");
        QVERIFY2(second.encrypted && !second.resumed, version);
        QVERIFY2(second.failures == QList<int>{int(code)}, qPrintable(second.describe()));
    }
}

// A failure of the chain (here the name) forgiven, then one of the stapled response: two rounds,
// each reporting its own failures once; peerVerifyErrors() lists both.
void TestOcsp::chainFailureThenOcspFailure()
{
    for (const char *version : {"-tls1_3", "-tls1_2"}) {
        PeerProcess server;
        QVERIFY2(startOpensslServer(server, "revoked.der", version), qPrintable(server.describe()));
        SecureConfiguration config = clientConfig(false);
        config.setPeerVerifyName(QStringLiteral("wrong.example"));
        const QList<int> both{code(VerifyError::HostnameMismatch), code(VerifyError::OcspRevoked)};

        // Forgiving the name only: the second round is refused.
        const ClientRun refused = connectClient(config, server.port(), Forgive::InSlotThisCodeOnly,
                                                VerifyError::HostnameMismatch);
        QVERIFY2(!refused.encrypted && refused.failures == both, qPrintable(refused.describe()));
        QCOMPARE(refused.tlsError, SecureSocket::CertificateRejected);

        // Forgiving each as it comes.
        SecureSocket socket;
        socket.setConfiguration(config);
        QList<int> failures;
        connect(&socket, &SecureSocket::certCheckFailed, &socket, [&](int error) {
            failures << error;
            socket.ignoreCertErrors(
                QList<VerifyError>{VerifyError::HostnameMismatch, VerifyError::OcspRevoked});
        });
        socket.connectToHostEncrypted(QStringLiteral("localhost"), server.port());
        testsupport::waitUntil(
            [&] {
                return socket.isEncrypted() || socket.state() == QAbstractSocket::UnconnectedState;
            },
            kMsecs);
        QVERIFY2(socket.isEncrypted(), qPrintable(socket.errorString()));
        QCOMPARE(failures, both);
        QCOMPARE(socket.peerVerifyErrors().size(), 2);
        QCOMPARE(socket.peerVerifyErrors().at(1).error, VerifyError::OcspRevoked);
    }
}

SecureConfiguration TestOcsp::serverConfig(const QString &response) const
{
    SecureConfiguration config;
    config.setLocalCertificateChainFile(path("leaf.pem"));
    config.setPrivateKeyFile(path("leaf.key"));
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    config.setOcspResponseFile(response);
    return config;
}

QByteArray TestOcsp::sClientStatus(quint16 port, const QString &version) const
{
    PeerProcess client;
    client.setMergedChannels(true);
    client.setStandardInputFile(QStringLiteral("/dev/null"));
    QStringList args{"s_client",
                     "-connect",
                     QStringLiteral("127.0.0.1:%1").arg(port),
                     "-status",
                     "-CAfile",
                     path("ca.pem"),
                     "-verify_return_error"};
    if (!version.isEmpty())
        args << version;
    if (!client.start("openssl", args) || !client.waitForExit(kMsecs))
        return "s_client did not run: " + client.describe().toUtf8();
    return client.standardOutput();
}

// A server with a running SecureServer; sockets kept until the end.
struct RunningServer
{
    SecureServer server;
    std::vector<std::unique_ptr<SecureSocket>> accepted;

    bool listen(const SecureConfiguration &config)
    {
        server.setConfiguration(config);
        QObject::connect(&server, &SecureServer::newConnection, &server, [this] {
            while (SecureSocket *socket = server.nextPendingSecureConnection()) {
                socket->setParent(nullptr);
                accepted.emplace_back(socket);
            }
        });
        return server.listen(QHostAddress::LocalHost, 0);
    }
};

void TestOcsp::secureServerStaples_data()
{
    QTest::addColumn<QString>("version");
    QTest::newRow("TLS 1.3") << QStringLiteral("-tls1_3");
    QTest::newRow("TLS 1.2") << QStringLiteral("-tls1_2");
}

void TestOcsp::secureServerStaples()
{
    QFETCH(QString, version);
    RunningServer running;
    QVERIFY2(running.listen(serverConfig(path("good.der"))),
             qPrintable(running.server.errorString()));
    QVERIFY(running.server.configuration().certificateWarnings(true).filter("OCSP").isEmpty());
    const QByteArray output = sClientStatus(running.server.serverPort(), version);
    QVERIFY2(output.contains("OCSP Response Status: successful"), output.constData());
    QVERIFY2(output.contains("Cert Status: good"), output.constData());
    QVERIFY2(output.contains("Verify return code: 0 (ok)"), output.constData());

    // Without a response file, nothing is stapled.
    RunningServer plain;
    QVERIFY(plain.listen(serverConfig({})));
    const QByteArray none = sClientStatus(plain.server.serverPort(), version);
    QVERIFY2(none.contains("OCSP response: no response sent"), none.constData());
}

void TestOcsp::secureServerDoesNotStapleWhatDoesNotFit_data()
{
    QTest::addColumn<QString>("response");
    QTest::addColumn<QString>("warning");
    QTest::newRow("expired") << "expired.der"
                             << "expired on";
    QTest::newRow("not valid yet") << "future.der"
                                   << "is not valid until";
    QTest::newRow("another certificate") << "other.der"
                                         << "is not for certificate 'CN=localhost'";
    QTest::newRow("unsuccessful") << "trylater.der"
                                  << "has the status 'trylater'";
    QTest::newRow("status unknown") << "unknown.der"
                                    << "does not know certificate";
}

void TestOcsp::secureServerDoesNotStapleWhatDoesNotFit()
{
    QFETCH(QString, response);
    QFETCH(QString, warning);
    RunningServer running;
    QVERIFY2(running.listen(serverConfig(path(response))),
             qPrintable(running.server.errorString()));
    const QStringList warnings = running.server.configuration().certificateWarnings(true);
    QVERIFY2(warnings.filter(warning).size() == 1 &&
                 warnings.filter("OCSP response file '" + path(response) + "'").size() == 1,
             qPrintable(warnings.join('\n')));
    const QByteArray output = sClientStatus(running.server.serverPort());
    QVERIFY2(output.contains("OCSP response: no response sent"), output.constData());
    QVERIFY2(output.contains("Verify return code: 0 (ok)"), output.constData());
}

// The response file replaced on disk is used by the connections that come later.
void TestOcsp::replacedFileIsPickedUp()
{
    const QString file = path("current.der");
    QFile::remove(file);
    QVERIFY(QFile::copy(path("good.der"), file));
    RunningServer running;
    QVERIFY(running.listen(serverConfig(file)));
    QVERIFY(sClientStatus(running.server.serverPort()).contains("Cert Status: good"));

    RecheckClock clock;
    QFile revoked(path("revoked.der"));
    QVERIFY(revoked.open(QIODevice::ReadOnly));
    testsupport::replaceFile(file, revoked.readAll().toStdString());
    revoked.seek(0);
    clock.secondPasses();
    const QByteArray output = sClientStatus(running.server.serverPort());
    QVERIFY2(output.contains("Cert Status: revoked"), output.constData());
    // And the server says so.
    QVERIFY(running.server.configuration().certificateWarnings(true).filter("was revoked").size() ==
            1);

    // reloadConfiguration() reads it at once, without waiting for the next look at the files.
    testsupport::replaceFile(file, [&] {
        QFile good(path("good.der"));
        return good.open(QIODevice::ReadOnly) ? good.readAll().toStdString() : std::string();
    }());
    QVERIFY2(running.server.reloadConfiguration(), qPrintable(running.server.errorString()));
    QVERIFY(sClientStatus(running.server.serverPort()).contains("Cert Status: good"));
    // A garbage file is refused by the reload, and the response loaded before stays in use.
    testsupport::replaceFile(file, "garbage\n");
    QVERIFY(!running.server.reloadConfiguration());
    QVERIFY2(running.server.errorString().contains("is not a DER OCSP response"),
             qPrintable(running.server.errorString()));
    QVERIFY(sClientStatus(running.server.serverPort()).contains("Cert Status: good"));
    testsupport::replaceFile(file, revoked.readAll().toStdString());
    QVERIFY(running.server.reloadConfiguration());

    // Our client refuses it now, unasked.
    const ClientRun run = connectClient(clientConfig(false), running.server.serverPort(),
                                        Forgive::No, VerifyError::NoError);
    QVERIFY2(!run.encrypted && run.failures == QList<int>{code(VerifyError::OcspRevoked)},
             qPrintable(run.describe()));
}

void TestOcsp::garbageFileIsAConfigurationError()
{
    const struct
    {
        QString file;
        QString cause;
    } cases[] = {
        {path("garbage.der"), "is not a DER OCSP response"},
        {path("ca.pem"), "it looks like PEM"},
        {path("no-such-file.der"), "cannot read OCSP response file"},
    };
    for (const auto &bad : cases) {
        const QString problem = serverConfig(bad.file).validate(true);
        QVERIFY2(problem.contains("'" + bad.file + "'") && problem.contains(bad.cause),
                 qPrintable(problem));
        SecureServer server;
        server.setConfiguration(serverConfig(bad.file));
        QVERIFY(!server.listen(QHostAddress::LocalHost, 0));
        QVERIFY2(server.errorString().contains(bad.file), qPrintable(server.errorString()));
    }
}

void TestOcsp::ourClientAgainstOurServer()
{
    RunningServer running;
    QVERIFY(running.listen(serverConfig(path("good.der"))));
    const ClientRun run = connectClient(clientConfig(true), running.server.serverPort(),
                                        Forgive::No, VerifyError::NoError);
    QVERIFY2(run.encrypted && run.failures.isEmpty(), qPrintable(run.describe()));
    QFile good(path("good.der"));
    QVERIFY(good.open(QIODevice::ReadOnly));
    QCOMPARE(run.ocspResponse, good.readAll());

    // A server without a response: the requirement fails the client.
    RunningServer plain;
    QVERIFY(plain.listen(serverConfig({})));
    const ClientRun missing = connectClient(clientConfig(true), plain.server.serverPort(),
                                            Forgive::No, VerifyError::NoError);
    QVERIFY2(!missing.encrypted &&
                 missing.failures == QList<int>{code(VerifyError::OcspResponseMissing)},
             qPrintable(missing.describe()));
}

void TestOcsp::echoserverFlag()
{
    servertest::EchoServer echo(QStringLiteral(ECHOSERVER_PATH));
    QVERIFY2(echo.start({"--port", "0", "--cert", path("leaf.pem"), "--key", path("leaf.key"),
                         "--ocsp-response", path("good.der")}),
             echo.log().constData());
    const QByteArray output = sClientStatus(echo.port());
    QVERIFY2(output.contains("OCSP Response Status: successful") &&
                 output.contains("Cert Status: good"),
             output.constData());
    QVERIFY2(echo.unexpectedLog().isEmpty(), echo.log().constData());

    // A response that does not fit is a warning at start, and not stapled.
    servertest::EchoServer warned(QStringLiteral(ECHOSERVER_PATH));
    QVERIFY2(warned.start({"--port", "0", "--cert", path("leaf.pem"), "--key", path("leaf.key"),
                           "--ocsp-response", path("expired.der")}),
             warned.log().constData());
    QVERIFY2(warned.log().contains("warning: OCSP response file '" + path("expired.der").toUtf8() +
                                   "' for certificate 'CN=localhost' expired on"),
             warned.log().constData());
    QVERIFY(sClientStatus(warned.port()).contains("OCSP response: no response sent"));
}

void TestOcsp::echoserverIniKey()
{
    const QString ini =
        m_dir.write("echo.ini", QStringLiteral("[Listener.stapled]\naddress=127.0.0.1\nport=0\n"
                                               "certificate=%1\nprivateKey=%2\nocspResponse=%3\n"
                                               "[Listener.plain]\naddress=127.0.0.1\nport=0\n"
                                               "certificate=%1\nprivateKey=%2\n")
                                    .arg(path("leaf.pem"), path("leaf.key"), path("revoked.der"))
                                    .toStdString());
    servertest::EchoServer echo(QStringLiteral(ECHOSERVER_PATH));
    QVERIFY2(echo.start({"--config", ini}, 2), echo.log().constData());
    const QByteArray stapled = sClientStatus(echo.port("stapled"));
    QVERIFY2(stapled.contains("Cert Status: revoked"), stapled.constData());
    QVERIFY(sClientStatus(echo.port("plain")).contains("OCSP response: no response sent"));
}

void TestOcsp::echoserverRefusesGarbage()
{
    PeerProcess echo;
    echo.setMergedChannels(true);
    QVERIFY(echo.start(QStringLiteral(ECHOSERVER_PATH),
                       {"--port", "0", "--cert", path("leaf.pem"), "--key", path("leaf.key"),
                        "--ocsp-response", path("garbage.der")}));
    QVERIFY2(echo.waitForExit(kMsecs), qPrintable(echo.describe()));
    QVERIFY(echo.exitCode() != 0);
    QVERIFY2(echo.standardOutput().contains("OCSP response file '" + path("garbage.der").toUtf8() +
                                            "' is not a DER OCSP response"),
             qPrintable(echo.describe()));
}

QTEST_MAIN(TestOcsp)
#include "tst_ocsp.moc"
