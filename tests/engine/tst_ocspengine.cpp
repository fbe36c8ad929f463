// OCSP stapling in the sans-I/O engine, client and server back to back in memory: a stapled
// response that fails the client's check pauses it in VerifyPending with its next flight held
// back (nothing reaches the server), in every delivery mode and both TLS versions; accepted,
// the flight goes and data flows; refused, the server reads our alert.
#include "enginepair.h"
#include "ossl.h"
#include "pkifixture.h"

#include <QTest>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

using namespace enginetest;
using securesocket::engine::OcspStatus;

namespace {

constexpr long kDay = 24L * 3600;

// The engine's own RAII wrappers (ossl.h).
using securesocket::engine::BioPtr;
using securesocket::engine::X509Ptr;
using KeyPtr = securesocket::engine::EvpPkeyPtr;

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

// A DER OCSP response for subject, signed by its issuer, with this status (V_OCSP_CERTSTATUS_*),
// valid from now + thisOffset to now + nextOffset seconds.
std::string makeResponse(const testpki::Issued &subject, const testpki::Issued &issuer, int status,
                         long thisOffset, long nextOffset)
{
    const X509Ptr cert = readCert(subject.certPem);
    const X509Ptr ca = readCert(issuer.certPem);
    const KeyPtr key = readKey(issuer.keyPem);
    OCSP_CERTID *id = OCSP_cert_to_id(nullptr, cert.get(), ca.get());
    OCSP_BASICRESP *basic = OCSP_BASICRESP_new();
    ASN1_TIME *thisUpdate = X509_gmtime_adj(nullptr, thisOffset);
    ASN1_TIME *nextUpdate = X509_gmtime_adj(nullptr, nextOffset);
    ASN1_TIME *revokedAt = X509_gmtime_adj(nullptr, -10 * kDay);
    if (!id || !basic || !thisUpdate || !nextUpdate || !revokedAt ||
        !OCSP_basic_add1_status(basic, id, status, OCSP_REVOKED_STATUS_KEYCOMPROMISE, revokedAt,
                                thisUpdate, nextUpdate) ||
        OCSP_basic_sign(basic, ca.get(), key.get(), EVP_sha256(), nullptr, 0) != 1)
        qFatal("cannot make an OCSP response");
    OCSP_RESPONSE *response = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic);
    unsigned char *der = nullptr;
    const int size = i2d_OCSP_RESPONSE(response, &der);
    if (size <= 0)
        qFatal("cannot encode an OCSP response");
    std::string bytes(reinterpret_cast<char *>(der), static_cast<size_t>(size));
    OPENSSL_free(der);
    OCSP_RESPONSE_free(response);
    ASN1_TIME_free(revokedAt);
    ASN1_TIME_free(thisUpdate);
    ASN1_TIME_free(nextUpdate);
    OCSP_BASICRESP_free(basic);
    OCSP_CERTID_free(id);
    return bytes;
}

std::string state(const EnginePair &pair)
{
    return "client: " + pair.client.describe() + "\nserver: " + pair.server.describe();
}

} // namespace

class TestOcspEngine : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();
    void goodResponse_data();
    void goodResponse();
    void heldFlight_data();
    void heldFlight();
    void acceptedBeforehandDoesNotPause();
    void revokedWithoutRequirement();

private:
    Config server(const std::string &responseFile, bool tls13) const;
    Config client(bool required, bool tls13) const;

    PkiDir m_dir;
    StandardPki m_pki;
    std::string m_good, m_expired, m_revoked;
};

void TestOcspEngine::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pki.create(m_dir);
    // The server's issuer is the intermediate, which signs its responses.
    m_good = m_dir.write("good.der", makeResponse(m_pki.server, m_pki.intermediate,
                                                  V_OCSP_CERTSTATUS_GOOD, -3600, kDay));
    m_expired = m_dir.write("expired.der", makeResponse(m_pki.server, m_pki.intermediate,
                                                        V_OCSP_CERTSTATUS_GOOD, -2 * kDay, -kDay));
    m_revoked = m_dir.write("revoked.der", makeResponse(m_pki.server, m_pki.intermediate,
                                                        V_OCSP_CERTSTATUS_REVOKED, -3600, kDay));
}

// Every engine call kept the contract, and left OpenSSL's error queue empty.
void TestOcspEngine::cleanup()
{
    const std::string violation = takeViolation();
    QVERIFY2(violation.empty(), violation.c_str());
    QCOMPARE(ERR_peek_error(), 0UL);
}

Config TestOcspEngine::server(const std::string &responseFile, bool tls13) const
{
    Config config = m_pki.serverConfig();
    config.ocspResponseFile = responseFile;
    config.minVersion = config.maxVersion = tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    return config;
}

Config TestOcspEngine::client(bool required, bool tls13) const
{
    Config config = m_pki.clientConfig();
    config.ocspStaplingRequired = required;
    config.minVersion = config.maxVersion = tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    return config;
}

void TestOcspEngine::goodResponse_data()
{
    QTest::addColumn<bool>("tls13");
    QTest::newRow("TLS 1.3") << true;
    QTest::newRow("TLS 1.2") << false;
}

void TestOcspEngine::goodResponse()
{
    QFETCH(bool, tls13);
    ContextCache cache;
    EnginePair pair(client(true, tls13), server(m_good, tls13), "localhost", {}, cache);
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QVERIFY(pair.client->verifyFailures().empty());
    QCOMPARE(pair.client->ocspStatus(), OcspStatus::Good);
    QVERIFY(!pair.client->ocspResponse().empty());
}

void TestOcspEngine::heldFlight_data()
{
    QTest::addColumn<int>("delivery");
    QTest::addColumn<bool>("tls13");
    QTest::addColumn<bool>("accept");
    QTest::addColumn<bool>("revoked"); // else the server staples nothing (its file is expired)
    const struct
    {
        const char *name;
        Delivery delivery;
    } deliveries[] = {{"whole", Delivery::Whole},
                      {"one byte", Delivery::OneByte},
                      {"random splits", Delivery::RandomSplits},
                      {"zero copy", Delivery::ZeroCopy},
                      {"through Io", Delivery::ThroughIo}};
    for (const auto &delivery : deliveries) {
        for (const bool tls13 : {true, false}) {
            for (const bool accept : {true, false}) {
                for (const bool revoked : {true, false}) {
                    QTest::addRow("%s, %s, %s, %s", delivery.name, tls13 ? "TLS 1.3" : "TLS 1.2",
                                  revoked ? "revoked" : "missing", accept ? "accepted" : "refused")
                        << static_cast<int>(delivery.delivery) << tls13 << accept << revoked;
                }
            }
        }
    }
}

void TestOcspEngine::heldFlight()
{
    QFETCH(int, delivery);
    QFETCH(bool, tls13);
    QFETCH(bool, accept);
    QFETCH(bool, revoked);
    ContextCache cache;
    EnginePair pair(client(true, tls13), server(revoked ? m_revoked : m_expired, tls13),
                    "localhost", {}, cache);
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    pair.setDelivery(static_cast<Delivery>(delivery), 7);
    QVERIFY(!pair.handshake());
    QCOMPARE(pair.client.phase(), Phase::VerifyPending);
    QCOMPARE(pair.client->status(), Status::VerifyPending);
    QCOMPARE(failureNames(pair.client->verifyFailures()),
             QStringList{revoked ? "ocsp-revoked" : "ocsp-missing"});
    QCOMPARE(pair.client->ocspStatus(), revoked ? OcspStatus::Revoked : OcspStatus::None);
    QVERIFY(pair.client.hasEvent(Event::VerifyFailed));
    // Nothing of our flight is out, and nothing moves while the decision is pending.
    QCOMPARE(pair.client->pendingOutput(), size_t(0));
    QCOMPARE(pair.server.phase(), Phase::Handshake);
    QCOMPARE(pair.run(4), 0);
    QCOMPARE(pair.client.phase(), Phase::VerifyPending);

    {
        MemoryIo *io = pair.io(pair.client);
        const MemoryIo::Lend lend(io);
        pair.client->resolveVerification(accept, io);
    }
    if (accept) {
        QVERIFY2(pair.handshake(), state(pair).c_str());
        pair.write(pair.client, "ping");
        pair.write(pair.server, "pong");
        pair.run();
        QCOMPARE(pair.server.received, std::string("ping"));
        QCOMPARE(pair.client.received, std::string("pong"));
        QVERIFY2(pair.closeBoth(), state(pair).c_str());
        return;
    }
    pair.run();
    QCOMPARE(pair.client.phase(), Phase::Failed);
    QCOMPARE(pair.client->error().kind, Error::Certificate);
    const std::string sentence = revoked ? "certificate revoked (OCSP)" : "no OCSP response";
    QVERIFY2(pair.client->error().message.find(sentence) != std::string::npos,
             pair.client->error().message.c_str());
    QCOMPARE(pair.server.phase(), Phase::Failed);
    QCOMPARE(pair.server->error().kind, Error::AlertReceived);
    const Event *alert = pair.server.firstAlert(Event::AlertReceived);
    QVERIFY2(alert, state(pair).c_str());
    QCOMPARE(alert->alert.description,
             revoked ? SSL_AD_CERTIFICATE_REVOKED : SSL_AD_BAD_CERTIFICATE_STATUS_RESPONSE);
    pair.drain(pair.client);
    QVERIFY(pair.client.firstAlert(Event::AlertSent));
}

// A failure the caller accepted beforehand is reported and does not pause.
void TestOcspEngine::acceptedBeforehandDoesNotPause()
{
    ContextCache cache;
    EnginePair pair(client(true, true), server(m_revoked, true), "localhost", {}, cache);
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    pair.client->setAcceptedFailures({VerifyError::OcspRevoked});
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QVERIFY(pair.client.hasEvent(Event::VerifyFailed));
    QCOMPARE(failureNames(pair.client->verifyFailures()), QStringList{"ocsp-revoked"});
}

// Without the requirement a stapled "revoked" is still a failure; a missing response is not
// (our server does not staple an expired one).
void TestOcspEngine::revokedWithoutRequirement()
{
    for (const bool tls13 : {true, false}) {
        ContextCache cache;
        EnginePair revoked(client(false, tls13), server(m_revoked, tls13), "localhost", {}, cache);
        QVERIFY2(revoked.isValid(), revoked.setupError().c_str());
        revoked.handshake();
        QCOMPARE(revoked.client.phase(), Phase::VerifyPending);
        QCOMPARE(failureNames(revoked.client->verifyFailures()), QStringList{"ocsp-revoked"});
        revoked.client->resolveVerification(false);
        revoked.run();
        const Event *alert = revoked.server.firstAlert(Event::AlertReceived);
        QVERIFY2(alert, state(revoked).c_str());
        QCOMPARE(alert->alert.description, SSL_AD_CERTIFICATE_REVOKED);

        EnginePair expired(client(false, tls13), server(m_expired, tls13), "localhost", {}, cache);
        QVERIFY2(expired.handshake(), state(expired).c_str());
        QVERIFY(expired.client->verifyFailures().empty());
        QCOMPARE(expired.client->ocspStatus(), OcspStatus::None);
    }
}

QTEST_GUILESS_MAIN(TestOcspEngine)
#include "tst_ocspengine.moc"
