// Certificate verification as the client sees it: a matrix of certificates made at run time,
// each row asserting the exact failures (code and depth) the engine reports.
#include "pkifixture.h"
#include "testsupport.h"

#include <QTest>

#include <openssl/err.h>

#include <map>

using namespace enginetest;
using securesocket::engine::VerifyMode;

namespace {

testpki::CertSpec caSpec(const std::string &name)
{
    testpki::CertSpec spec;
    spec.commonName = name;
    spec.isCa = true;
    return spec;
}

testpki::CertSpec leafSpec(const std::string &name = "localhost")
{
    testpki::CertSpec spec;
    spec.commonName = name;
    spec.dnsNames = {name};
    return spec;
}

constexpr long kDay = 24 * 3600;

} // namespace

class TestVerify : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void matrix_data();
    void matrix();
    void verifyModePauses_data();
    void verifyModePauses();
    void messages_data();
    void messages();
    void clientCertificateAtServer_data();
    void clientCertificateAtServer();
    void verifyErrorNames();

private:
    // The chain the server sends (leaf first, its key used), what the client trusts, an optional
    // CRL file, and the name the client connects to.
    struct Scenario
    {
        QStringList chain;
        QStringList trusted;
        QString crl;
    };
    EnginePair *connect(const Scenario &scenario, const QString &peerName, VerifyMode mode);
    const testpki::Issued &cert(const QString &name) const;
    void add(const std::string &name, const testpki::CertSpec &spec, const std::string &issuer);

    PkiDir m_dir;
    std::map<std::string, testpki::Issued> m_certs;
    std::unique_ptr<EnginePair> m_pair;
};

void TestVerify::add(const std::string &name, const testpki::CertSpec &spec,
                     const std::string &issuer)
{
    const testpki::Issued *signer = issuer.empty() ? nullptr : &m_certs.at(issuer);
    m_certs[name] = testpki::makeCertificate(spec, signer);
}

const testpki::Issued &TestVerify::cert(const QString &name) const
{
    return m_certs.at(name.toStdString());
}

void TestVerify::initTestCase()
{
    QVERIFY(m_dir.isValid());
    add("root", caSpec("Root CA"), "");
    add("inter", caSpec("Intermediate CA"), "root");
    testpki::CertSpec leaf = leafSpec();
    leaf.ipAddresses = {"127.0.0.1"};
    add("leaf", leaf, "inter");

    testpki::CertSpec expired = leafSpec();
    expired.notBeforeOffset = -30 * kDay;
    expired.notAfterOffset = -kDay;
    add("expired", expired, "inter");
    testpki::CertSpec future = leafSpec();
    future.notBeforeOffset = kDay;
    future.notAfterOffset = 30 * kDay;
    add("future", future, "inter");
    testpki::CertSpec expiredCa = caSpec("Expired Intermediate CA");
    expiredCa.notBeforeOffset = -30 * kDay;
    expiredCa.notAfterOffset = -kDay;
    add("expiredInter", expiredCa, "root");
    add("leafOfExpiredInter", leafSpec(), "expiredInter");

    add("selfSigned", leafSpec(), "");
    add("otherRoot", caSpec("Other Root CA"), "");
    add("otherLeaf", leafSpec(), "otherRoot");

    testpki::CertSpec aia = leafSpec();
    aia.aiaCaIssuersUrl = "http://ca.example/intermediate.crt";
    add("aiaLeaf", aia, "inter");

    add("wildcard", leafSpec("*.example.com"), "inter");
    testpki::CertSpec ip = leafSpec("ip");
    ip.dnsNames.clear();
    ip.ipAddresses = {"127.0.125.10"};
    add("ipLeaf", ip, "inter");
    ip.ipAddresses = {"::1"};
    add("ipv6Leaf", ip, "inter");
    // Addresses written as DNS names, as some hand-made certificates have them.
    testpki::CertSpec ipAsDns = leafSpec("x");
    ipAsDns.dnsNames = {"127.0.0.1"};
    add("ipAsDnsLeaf", ipAsDns, "inter");
    ipAsDns.dnsNames = {"0:0::1", "x.example"};
    ipAsDns.ipAddresses = {"127.0.0.2"};
    add("ipv6AsDnsLeaf", ipAsDns, "inter");
    testpki::CertSpec cnOnly = leafSpec();
    cnOnly.dnsNames.clear();
    add("cnOnly", cnOnly, "inter");

    testpki::CertSpec notCa = leafSpec("Not A CA");
    add("notCaInter", notCa, "root");
    add("leafOfNotCa", leafSpec(), "notCaInter");
    testpki::CertSpec noConstraints = caSpec("CA Without Basic Constraints");
    noConstraints.omitBasicConstraints = true;
    add("noBcInter", noConstraints, "root");
    add("leafOfNoBc", leafSpec(), "noBcInter");

    testpki::CertSpec clientOnly = leafSpec();
    clientOnly.extendedKeyUsage = {"clientAuth"};
    add("clientOnlyLeaf", clientOnly, "inter");

    testpki::CertSpec pathLenZero = caSpec("Root CA pathlen 0");
    pathLenZero.pathLength = 0;
    add("pl0Root", pathLenZero, "");
    add("pl0Inter", caSpec("Intermediate below pathlen 0"), "pl0Root");
    add("leafOfPl0", leafSpec(), "pl0Inter");

    testpki::CertSpec client = leafSpec("client");
    client.extendedKeyUsage = {"clientAuth"};
    add("client", client, "inter");
    client.extendedKeyUsage = {"serverAuth"};
    add("serverOnlyClient", client, "inter");
    client.extendedKeyUsage = {"clientAuth"};
    client.notBeforeOffset = -30 * kDay;
    client.notAfterOffset = -kDay;
    add("expiredClient", client, "inter");

    add("revokedLeaf", leafSpec(), "inter");
    add("revokedInter", caSpec("Revoked Intermediate CA"), "root");
    add("leafOfRevokedInter", leafSpec(), "revokedInter");
    const testpki::Issued &root = m_certs.at("root");
    const testpki::Issued &inter = m_certs.at("inter");
    const testpki::Issued &revokedInter = m_certs.at("revokedInter");
    m_dir.write("crl-leaf-revoked.pem",
                testpki::makeCrl(inter, {&m_certs.at("revokedLeaf")}) + testpki::makeCrl(root, {}));
    m_dir.write("crl-inter-revoked.pem",
                testpki::makeCrl(root, {&revokedInter}) + testpki::makeCrl(revokedInter, {}));
    m_dir.write("crl-none-revoked.pem", testpki::makeCrl(inter, {}) + testpki::makeCrl(root, {}));
    m_dir.write("crl-leaf-ca-only.pem", testpki::makeCrl(inter, {}));
    m_dir.write("crl-other-ca.pem", testpki::makeCrl(m_certs.at("otherRoot"), {}));
}

void TestVerify::cleanup()
{
    m_pair.reset();
    const std::string violation = takeViolation();
    QVERIFY2(violation.empty(), violation.c_str());
    QCOMPARE(ERR_peek_error(), 0UL);
}

EnginePair *TestVerify::connect(const Scenario &scenario, const QString &peerName, VerifyMode mode)
{
    std::string chainPem, trustedPem;
    for (const QString &name : scenario.chain)
        chainPem += cert(name).certPem;
    for (const QString &name : scenario.trusted)
        trustedPem += cert(name).certPem;

    Config server;
    server.useSystemCas = false;
    server.verifyMode = VerifyMode::None;
    const std::string base = scenario.chain.join('+').toStdString();
    server.certChainFile = m_dir.write(base + ".chain.pem", chainPem);
    server.keyFile = m_dir.write(base + ".key", cert(scenario.chain.first()).keyPem);

    Config client;
    client.useSystemCas = false;
    client.verifyMode = mode;
    if (!trustedPem.empty())
        client.caFile =
            m_dir.write(scenario.trusted.join('+').toStdString() + ".ca.pem", trustedPem);
    if (!scenario.crl.isEmpty())
        client.crlFile = m_dir.path(scenario.crl.toStdString());

    m_pair = std::make_unique<EnginePair>(client, server, peerName.toStdString());
    return m_pair.get();
}

// --- The matrix ----------------------------------------------------------------------------

void TestVerify::matrix_data()
{
    QTest::addColumn<QStringList>("chain");   // sent by the server, leaf first
    QTest::addColumn<QStringList>("trusted"); // the client's CA certificates
    QTest::addColumn<QString>("crl");         // the client's CRL file, or ""
    QTest::addColumn<QString>("peerName");
    QTest::addColumn<QStringList>("expected"); // "name@depth"

    const QStringList root{"root"};
    const QStringList leafChain{"leaf", "inter"};
    const QStringList none;
    // clang-format off
    QTest::newRow("valid chain") << leafChain << root << "" << "localhost" << none;
    QTest::newRow("name with final dot") << leafChain << root << "" << "localhost." << none;
    QTest::newRow("name in upper case") << leafChain << root << "" << "LOCALHOST" << none;
    QTest::newRow("expired leaf") << QStringList{"expired", "inter"} << root << "" << "localhost"
                                  << QStringList{"expired@0"};
    QTest::newRow("not yet valid leaf") << QStringList{"future", "inter"} << root << ""
                                        << "localhost" << QStringList{"not-yet-valid@0"};
    QTest::newRow("expired intermediate") << QStringList{"leafOfExpiredInter", "expiredInter"}
                                          << root << "" << "localhost"
                                          << QStringList{"expired@1"};
    QTest::newRow("self-signed leaf") << QStringList{"selfSigned"} << root << "" << "localhost"
                                      << QStringList{"self-signed@0"};
    QTest::newRow("unknown CA, leaf only") << QStringList{"otherLeaf"} << root << ""
                                           << "localhost" << QStringList{"unknown-issuer@0"};
    QTest::newRow("untrusted root sent") << QStringList{"otherLeaf", "otherRoot"} << root << ""
                                         << "localhost" << QStringList{"untrusted-root@1"};
    QTest::newRow("nothing trusted") << leafChain << none << "" << "localhost"
                                     << QStringList{"unknown-issuer@1"};
    QTest::newRow("intermediate not sent, no AIA") << QStringList{"leaf"} << root << ""
                                                   << "localhost"
                                                   << QStringList{"unknown-issuer@0"};
    QTest::newRow("missing intermediate, AIA") << QStringList{"aiaLeaf"} << root << ""
                                               << "localhost"
                                               << QStringList{"missing-intermediate@0"};
    QTest::newRow("intermediate sent, AIA") << QStringList{"aiaLeaf", "inter"} << root << ""
                                            << "localhost" << none;
    QTest::newRow("intermediate trusted, not sent") << QStringList{"leaf"}
                                                    << QStringList{"root", "inter"} << ""
                                                    << "localhost" << none;
    QTest::newRow("wrong hostname") << leafChain << root << "" << "wrong.example"
                                    << QStringList{"hostname-mismatch@0"};
    QTest::newRow("wildcard, one label") << QStringList{"wildcard", "inter"} << root << ""
                                         << "a.example.com" << none;
    QTest::newRow("wildcard, bare domain") << QStringList{"wildcard", "inter"} << root << ""
                                           << "example.com"
                                           << QStringList{"hostname-mismatch@0"};
    QTest::newRow("wildcard, two labels") << QStringList{"wildcard", "inter"} << root << ""
                                          << "a.b.example.com"
                                          << QStringList{"hostname-mismatch@0"};
    QTest::newRow("IPv4 SAN") << QStringList{"ipLeaf", "inter"} << root << "" << "127.0.125.10"
                              << none;
    QTest::newRow("IPv4 SAN, other address") << QStringList{"ipLeaf", "inter"} << root << ""
                                             << "127.0.0.2"
                                             << QStringList{"ip-mismatch@0"};
    QTest::newRow("IPv4 SAN, DNS name") << QStringList{"ipLeaf", "inter"} << root << ""
                                        << "localhost" << QStringList{"hostname-mismatch@0"};
    QTest::newRow("DNS and IP SAN, IP") << leafChain << root << "" << "127.0.0.1" << none;
    QTest::newRow("IPv6 SAN") << QStringList{"ipv6Leaf", "inter"} << root << "" << "::1" << none;
    QTest::newRow("IPv6 SAN, brackets") << QStringList{"ipv6Leaf", "inter"} << root << ""
                                        << "[::1]" << none;
    QTest::newRow("IPv6 SAN, long form") << QStringList{"ipv6Leaf", "inter"} << root << ""
                                         << "0:0:0:0:0:0:0:1" << none;
    QTest::newRow("IPv6 SAN, other address") << QStringList{"ipv6Leaf", "inter"} << root << ""
                                             << "::2" << QStringList{"ip-mismatch@0"};
    QTest::newRow("CN only, no SAN") << QStringList{"cnOnly", "inter"} << root << ""
                                     << "localhost" << QStringList{"hostname-mismatch@0"};
    QTest::newRow("intermediate with CA:FALSE") << QStringList{"leafOfNotCa", "notCaInter"}
                                                << root << "" << "localhost"
                                                << QStringList{"invalid-ca@1"};
    QTest::newRow("intermediate without basicConstraints")
        << QStringList{"leafOfNoBc", "noBcInter"} << root << "" << "localhost"
        << QStringList{"invalid-ca@1"};
    QTest::newRow("clientAuth-only leaf as server") << QStringList{"clientOnlyLeaf", "inter"}
                                                    << root << "" << "localhost"
                                                    << QStringList{"invalid-purpose@0"};
    QTest::newRow("CRLs, nothing revoked") << leafChain << root << "crl-none-revoked.pem"
                                           << "localhost" << none;
    QTest::newRow("revoked leaf") << QStringList{"revokedLeaf", "inter"} << root
                                  << "crl-leaf-revoked.pem" << "localhost"
                                  << QStringList{"revoked@0"};
    QTest::newRow("revoked intermediate") << QStringList{"leafOfRevokedInter", "revokedInter"}
                                          << root << "crl-inter-revoked.pem" << "localhost"
                                          << QStringList{"revoked@1"};
    QTest::newRow("CRL of the root missing") << leafChain << root << "crl-leaf-ca-only.pem"
                                             << "localhost" << QStringList{"crl-problem@1", "crl-problem@2"};
    QTest::newRow("CRL of another CA only") << leafChain << root << "crl-other-ca.pem"
                                            << "localhost"
                                            << QStringList{"crl-problem@0", "crl-problem@1",
                                                           "crl-problem@2"};
    QTest::newRow("pathlen 0 root, intermediate below") << QStringList{"leafOfPl0", "pl0Inter"}
                                                        << QStringList{"pl0Root"} << ""
                                                        << "localhost"
                                                        << QStringList{"chain-too-long@2"};
    QTest::newRow("expired and wrong name") << QStringList{"expired", "inter"} << root << ""
                                            << "wrong.example"
                                            << QStringList{"expired@0", "hostname-mismatch@0"};
    // clang-format on
}

void TestVerify::matrix()
{
    QFETCH(QStringList, chain);
    QFETCH(QStringList, trusted);
    QFETCH(QString, crl);
    QFETCH(QString, peerName);
    QFETCH(QStringList, expected);

    // Query mode: the handshake completes and every failure is listed.
    EnginePair *pair = connect({chain, trusted, crl}, peerName, VerifyMode::Query);
    QVERIFY2(pair->isValid(), pair->setupError().c_str());
    QVERIFY2(pair->handshake(), state(*pair).c_str());

    QStringList actual = failureNames(pair->client->verifyFailures(), true);
    actual.sort();
    expected.sort();
    QCOMPARE(actual.join(", "), expected.join(", "));
    QCOMPARE(pair->client.eventCount(Event::VerifyFailed), expected.isEmpty() ? 0 : 1);
    for (const auto &failure : pair->client->verifyFailures()) {
        QVERIFY2(!failure.message.empty(), verifyErrorName(failure.code));
        QVERIFY2(failure.opensslCode != 0, failure.message.c_str());
    }
}

void TestVerify::verifyModePauses_data()
{
    QTest::addColumn<QStringList>("chain");
    QTest::addColumn<QString>("peerName");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("valid") << QStringList{"leaf", "inter"} << "localhost" << QStringList{};
    QTest::newRow("expired") << QStringList{"expired", "inter"} << "localhost"
                             << QStringList{"expired@0"};
    QTest::newRow("IP mismatch") << QStringList{"ipLeaf", "inter"} << "127.0.0.2"
                                 << QStringList{"ip-mismatch@0"};
}

void TestVerify::verifyModePauses()
{
    QFETCH(QStringList, chain);
    QFETCH(QString, peerName);
    QFETCH(QStringList, expected);
    EnginePair *pair = connect({chain, {"root"}, ""}, peerName, VerifyMode::Verify);
    QVERIFY2(pair->isValid(), pair->setupError().c_str());
    const bool done = pair->handshake();
    QCOMPARE(failureNames(pair->client->verifyFailures(), true).join(", "), expected.join(", "));
    if (expected.isEmpty()) {
        QVERIFY2(done, state(*pair).c_str());
        return;
    }
    QCOMPARE(pair->client.phase(), Phase::VerifyPending);
    QCOMPARE(pair->client.eventCount(Event::VerifyFailed), 1);
    QCOMPARE(pair->server.phase(), Phase::Handshake);
    pair->client->resolveVerification(false);
    pair->run();
    QCOMPARE(pair->client->error().kind, Error::Certificate);
    QCOMPARE(pair->server->error().kind, Error::AlertReceived);
}

// --- Messages ------------------------------------------------------------------------------

void TestVerify::messages_data()
{
    QTest::addColumn<QStringList>("chain");
    QTest::addColumn<QString>("peerName");
    QTest::addColumn<QStringList>("fragments"); // all in the first failure's message
    QTest::newRow("hostname mismatch")
        << QStringList{"leaf", "inter"} << "wrong.example"
        << QStringList{"CN=localhost", "is valid for localhost, 127.0.0.1",
                       "connected to wrong.example"};
    QTest::newRow("IP mismatch") << QStringList{"ipLeaf", "inter"} << "127.0.0.2"
                                 << QStringList{"is valid for 127.0.125.10",
                                                "connected to 127.0.0.2"};
    QTest::newRow("IP address as a DNS name")
        << QStringList{"ipAsDnsLeaf", "inter"} << "127.0.0.1"
        << QStringList{"IP address mismatch: certificate 'CN=x' lists 127.0.0.1 only as a DNS "
                       "name, not as an IP address (clients match IP addresses against IP SANs "
                       "only); connected to 127.0.0.1"};
    QTest::newRow("IPv6 address as a DNS name, other names")
        << QStringList{"ipv6AsDnsLeaf", "inter"} << "::1"
        << QStringList{"lists ::1 only as a DNS name, not as an IP address",
                       "; its other names are x.example, 127.0.0.2; connected to ::1"};
    QTest::newRow("CN only") << QStringList{"cnOnly", "inter"} << "localhost"
                             << QStringList{"no DNS or IP names", "connected to localhost"};
    QTest::newRow("expired") << QStringList{"expired", "inter"} << "localhost"
                             << QStringList{"CN=localhost", "valid until"};
    QTest::newRow("not yet valid") << QStringList{"future", "inter"} << "localhost"
                                   << QStringList{"CN=localhost", "valid from"};
    QTest::newRow("missing intermediate")
        << QStringList{"aiaLeaf"} << "localhost"
        << QStringList{"CN=Intermediate CA", "http://ca.example/intermediate.crt"};
    QTest::newRow("self-signed") << QStringList{"selfSigned"} << "localhost"
                                 << QStringList{"self-signed", "CN=localhost"};
}

void TestVerify::messages()
{
    QFETCH(QStringList, chain);
    QFETCH(QString, peerName);
    QFETCH(QStringList, fragments);
    EnginePair *pair = connect({chain, {"root"}, ""}, peerName, VerifyMode::Query);
    QVERIFY2(pair->handshake(), state(*pair).c_str());
    QVERIFY(!pair->client->verifyFailures().empty());
    const std::string &message = pair->client->verifyFailures().front().message;
    for (const QString &fragment : fragments)
        QVERIFY2(message.find(fragment.toStdString()) != std::string::npos,
                 qPrintable("'" + fragment + "' not in: " + QString::fromStdString(message)));
}

// The server's view of client certificates: the purpose checked is "TLS client".
void TestVerify::clientCertificateAtServer_data()
{
    QTest::addColumn<QStringList>("chain");
    QTest::addColumn<QStringList>("expected");
    QTest::addColumn<QString>("fragment"); // in the first failure's message
    QTest::newRow("valid") << QStringList{"client", "inter"} << QStringList{} << "";
    QTest::newRow("serverAuth only") << QStringList{"serverOnlyClient", "inter"}
                                     << QStringList{"invalid-purpose@0"} << "TLS client";
    QTest::newRow("expired") << QStringList{"expiredClient", "inter"} << QStringList{"expired@0"}
                             << "valid until";
    QTest::newRow("self-signed") << QStringList{"selfSigned"} << QStringList{"self-signed@0"}
                                 << "CN=localhost";
    QTest::newRow("untrusted root sent") << QStringList{"otherLeaf", "otherRoot"}
                                         << QStringList{"untrusted-root@1"} << "Other Root CA";
}

void TestVerify::clientCertificateAtServer()
{
    QFETCH(QStringList, chain);
    QFETCH(QStringList, expected);
    QFETCH(QString, fragment);
    std::string chainPem;
    for (const QString &name : chain)
        chainPem += cert(name).certPem;

    Config server;
    server.useSystemCas = false;
    server.caPem = cert("root").certPem;
    server.certChainPem = cert("leaf").certPem + cert("inter").certPem;
    server.keyPem = cert("leaf").keyPem;
    server.verifyMode = VerifyMode::Query;
    Config client;
    client.useSystemCas = false;
    client.caPem = cert("root").certPem;
    client.certChainPem = chainPem;
    client.keyPem = cert(chain.first()).keyPem;

    m_pair = std::make_unique<EnginePair>(client, server);
    QVERIFY2(m_pair->isValid(), m_pair->setupError().c_str());
    QVERIFY2(m_pair->handshake(), state(*m_pair).c_str());
    QCOMPARE(failureNames(m_pair->server->verifyFailures(), true).join(", "), expected.join(", "));
    if (!fragment.isEmpty()) {
        const std::string &message = m_pair->server->verifyFailures().front().message;
        QVERIFY2(message.find(fragment.toStdString()) != std::string::npos, message.c_str());
    }
}

void TestVerify::verifyErrorNames()
{
    const VerifyError all[] = {
        VerifyError::NoError,
        VerifyError::Expired,
        VerifyError::NotYetValid,
        VerifyError::SelfSigned,
        VerifyError::UnknownIssuer,
        VerifyError::MissingIntermediate,
        VerifyError::HostnameMismatch,
        VerifyError::IpAddressMismatch,
        VerifyError::InvalidPurpose,
        VerifyError::Revoked,
        VerifyError::UntrustedRoot,
        VerifyError::ChainTooLong,
        VerifyError::InvalidCa,
        VerifyError::BadSignature,
        VerifyError::NoPeerCertificate,
        VerifyError::CrlProblem,
        VerifyError::WeakKey,
        VerifyError::InvalidCertificate,
        VerifyError::Other,
    };
    QSet<QString> names;
    for (VerifyError code : all) {
        const char *name = verifyErrorName(code);
        QVERIFY2(name, qPrintable(QString::number(int(code))));
        QVERIFY2(*name != '\0', qPrintable(QString::number(int(code))));
        QCOMPARE(QString(name), QString(name).toLower());
        QCOMPARE(verifyErrorFromName(name), code);
        names.insert(QString(name));
    }
    QCOMPARE(names.size(), int(std::size(all)));
    QCOMPARE(verifyErrorName(VerifyError::Expired), "expired");
    QCOMPARE(verifyErrorName(VerifyError::HostnameMismatch), "hostname-mismatch");
    QVERIFY(!verifyErrorName(static_cast<VerifyError>(50)));
    QCOMPARE(verifyErrorFromName("no-such-error"), VerifyError::Other);
    QCOMPARE(verifyErrorFromName(""), VerifyError::Other);
    QCOMPARE(verifyErrorFromName(nullptr), VerifyError::Other);
    QCOMPARE(verifyErrorFromName("EXPIRED"), VerifyError::Other); // names are exact
}

QTEST_GUILESS_MAIN(TestVerify)
#include "tst_verify.moc"
