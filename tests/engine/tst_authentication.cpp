// Who checks whom: client certificates (mutual TLS), the client's pause when the server's
// certificate fails, forgiven failures, peer names and the certificate chains each side sees.
#include "pkifixture.h"
#include "testsupport.h"

#include <QTest>

#include <openssl/err.h>

using namespace enginetest;
using securesocket::engine::VerifyFailure;
using securesocket::engine::VerifyMode;

class TestAuthentication : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void peerCertificateChain();
    void clientWithoutUsablePeerNameFails_data();
    void clientWithoutUsablePeerNameFails();

    void mutualTlsAccepted_data();
    void mutualTlsAccepted();
    void mutualTlsWithoutClientCertificate_data();
    void mutualTlsWithoutClientCertificate();
    void mutualTlsClientCertificateFromOtherCa_data();
    void mutualTlsClientCertificateFromOtherCa();
    void queryPeerServerReportsButCompletes();
    void queryPeerClientReportsButCompletes();

    void verifyPauseStopsBeforeFinished_data();
    void verifyPauseStopsBeforeFinished();
    void verifyPauseAccepted_data();
    void verifyPauseAccepted();
    void verifyPauseRejected_data();
    void verifyPauseRejected();
    void acceptedFailuresForgiveOnlyThoseListed();

private:
    PkiDir m_dir;
    StandardPki m_pki;
};

void TestAuthentication::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pki.create(m_dir);
}

void TestAuthentication::cleanup()
{
    const std::string violation = takeViolation();
    QVERIFY2(violation.empty(), violation.c_str());
    QCOMPARE(ERR_peek_error(), 0UL);
}

// --- Certificates and names ----------------------------------------------------------------

void TestAuthentication::peerCertificateChain()
{
    EnginePair pair(m_pki.clientWithCertificate(), m_pki.mutualServerConfig(VerifyMode::Verify));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QVERIFY(pair.client->peerCertificateChainPem().empty());
    QVERIFY(pair.server->peerCertificateChainPem().empty());
    QVERIFY2(pair.handshake(), state(pair).c_str());

    const std::vector<std::string> serverChain = {m_pki.server.certPem, m_pki.intermediate.certPem};
    QCOMPARE(pair.client->peerCertificateChainPem(), serverChain);
    const std::vector<std::string> clientChain = {m_pki.client.certPem, m_pki.intermediate.certPem};
    QCOMPARE(pair.server->peerCertificateChainPem(), clientChain);
}

void TestAuthentication::clientWithoutUsablePeerNameFails_data()
{
    QTest::addColumn<QByteArray>("peerName");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("embedded NUL") << QByteArray("local\0host", 10);
    QTest::newRow("longer than SNI allows") << QByteArray(300, 'a');
    QTest::newRow("only a dot") << QByteArray(".");
}

void TestAuthentication::clientWithoutUsablePeerNameFails()
{
    QFETCH(QByteArray, peerName);
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig(), peerName.toStdString());
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QCOMPARE(pair.client.phase(), Phase::Failed);
    QCOMPARE(pair.client->error().kind, Error::Config);
    QVERIFY2(pair.client->error().message.find("name") != std::string::npos,
             pair.client->error().message.c_str());
    QCOMPARE(pair.client->pendingOutput(), size_t(0));
    QCOMPARE(pair.client.eventCount(Event::Failed), 1);

    // Without verification the name is optional.
    if (peerName.isEmpty()) {
        Config none = m_pki.clientConfig();
        none.verifyMode = VerifyMode::None;
        EnginePair unverified(none, m_pki.serverConfig(), "");
        QVERIFY2(unverified.handshake(), state(unverified).c_str());
    }
}

// --- Client certificates -------------------------------------------------------------------

void TestAuthentication::mutualTlsAccepted_data()
{
    addVersionColumn();
}

void TestAuthentication::mutualTlsAccepted()
{
    QFETCH(int, version);
    EnginePair pair(withVersion(m_pki.clientWithCertificate(), version),
                    withVersion(m_pki.mutualServerConfig(VerifyMode::Verify), version));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QVERIFY(pair.server->verifyFailures().empty());
    QCOMPARE(pair.server.eventCount(Event::VerifyFailed), 0);
    pair.client->write("hello", 5);
    pair.run();
    QCOMPARE(pair.server.received, std::string("hello"));
}

void TestAuthentication::mutualTlsWithoutClientCertificate_data()
{
    addVersionColumn();
}

void TestAuthentication::mutualTlsWithoutClientCertificate()
{
    QFETCH(int, version);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.mutualServerConfig(VerifyMode::Verify), version));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    pair.client->write("secret", 6);
    QVERIFY(!pair.handshake());
    pair.run();

    QCOMPARE(pair.server.phase(), Phase::Failed);
    QCOMPARE(pair.server->error().kind, Error::Certificate);
    QVERIFY(!pair.server->error().message.empty());
    QCOMPARE(pair.server->verifyFailures().size(), size_t(1));
    QCOMPARE(pair.server->verifyFailures()[0].code, VerifyError::NoPeerCertificate);
    QVERIFY2(pair.server.received.empty(), "no application data from an unauthenticated client");

    // With TLS 1.3 the client has finished its side already: it learns of the refusal from the
    // alert that follows.
    QCOMPARE(pair.client.phase(), Phase::Failed);
    QCOMPARE(pair.client->error().kind, Error::AlertReceived);
    QVERIFY2(pair.client.firstAlert(Event::AlertReceived), state(pair).c_str());
    QVERIFY(pair.client.firstAlert(Event::AlertReceived)->alert.fatal);
}

void TestAuthentication::mutualTlsClientCertificateFromOtherCa_data()
{
    addVersionColumn();
}

void TestAuthentication::mutualTlsClientCertificateFromOtherCa()
{
    QFETCH(int, version);
    EnginePair pair(withVersion(m_pki.clientWithCertificate(true), version),
                    withVersion(m_pki.mutualServerConfig(VerifyMode::Verify), version));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QVERIFY(!pair.handshake());
    pair.run();

    QCOMPARE(pair.server.phase(), Phase::Failed);
    QCOMPARE(pair.server->error().kind, Error::Certificate);
    QCOMPARE(codes(pair.server->verifyFailures()), QString("unknown-issuer"));
    QVERIFY2(pair.server->error().message.find("Other Root CA") != std::string::npos,
             pair.server->error().message.c_str());
    QVERIFY(pair.server.hasEvent(Event::VerifyFailed));
    QVERIFY(pair.server.firstAlert(Event::AlertSent));

    QCOMPARE(pair.client.phase(), Phase::Failed);
    QCOMPARE(pair.client->error().kind, Error::AlertReceived);
    const Event *alert = pair.client.firstAlert(Event::AlertReceived);
    QVERIFY2(alert, state(pair).c_str());
    QCOMPARE(alert->alert.description, int(SSL_AD_UNKNOWN_CA));
}

void TestAuthentication::queryPeerServerReportsButCompletes()
{
    EnginePair pair(m_pki.clientWithCertificate(true), m_pki.mutualServerConfig(VerifyMode::Query));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QCOMPARE(codes(pair.server->verifyFailures()), QString("unknown-issuer"));
    QCOMPARE(pair.server.eventCount(Event::VerifyFailed), 1);
    QCOMPARE(pair.server->peerCertificateChainPem().front(), m_pki.otherClient.certPem);

    // And without any client certificate at all.
    EnginePair anonymous(m_pki.clientConfig(), m_pki.mutualServerConfig(VerifyMode::Query));
    QVERIFY2(anonymous.handshake(), state(anonymous).c_str());
    QVERIFY(anonymous.server->peerCertificateChainPem().empty());
}

void TestAuthentication::queryPeerClientReportsButCompletes()
{
    Config client = m_pki.clientConfig();
    client.verifyMode = VerifyMode::Query;
    EnginePair pair(client, m_pki.serverConfig(), "wrong.example");
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QCOMPARE(codes(pair.client->verifyFailures()), QString("hostname-mismatch"));
    QCOMPARE(pair.client.eventCount(Event::VerifyFailed), 1);
}

// --- The client's verification pause -------------------------------------------------------

void TestAuthentication::verifyPauseStopsBeforeFinished_data()
{
    addVersionColumn();
}

void TestAuthentication::verifyPauseStopsBeforeFinished()
{
    QFETCH(int, version);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version), "wrong.example");
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    pair.client->write("early data", 10);
    QVERIFY(!pair.handshake());

    QCOMPARE(pair.client.phase(), Phase::VerifyPending);
    QCOMPARE(pair.client.eventCount(Event::VerifyFailed), 1);
    QCOMPARE(pair.client.eventCount(Event::HandshakeDone), 0);
    QCOMPARE(codes(pair.client->verifyFailures()), QString("hostname-mismatch"));
    QCOMPARE(pair.client->pendingOutput(), size_t(0));
    QCOMPARE(pair.client->pendingWrite(), size_t(10));

    // Nothing moves while the application decides, whatever else it calls.
    pair.client->process();
    QCOMPARE(pair.run(), 0);
    QCOMPARE(pair.client.phase(), Phase::VerifyPending);
    QCOMPARE(pair.server.phase(), Phase::Handshake);
    QCOMPARE(pair.server.eventCount(Event::HandshakeDone), 0);
    QVERIFY2(pair.server.received.empty(), "the server must see no application data");
}

void TestAuthentication::verifyPauseAccepted_data()
{
    addVersionColumn();
}

void TestAuthentication::verifyPauseAccepted()
{
    QFETCH(int, version);
    // With a client certificate too: it is sent once the handshake continues.
    EnginePair pair(withVersion(m_pki.clientWithCertificate(), version),
                    withVersion(m_pki.mutualServerConfig(VerifyMode::Verify), version),
                    "wrong.example");
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    pair.client->write("early data", 10);
    pair.handshake();
    QCOMPARE(pair.client.phase(), Phase::VerifyPending);

    pair.client->resolveVerification(true);
    QVERIFY2(pair.client.phase() != Phase::Failed, state(pair).c_str());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.server->write("welcome", 7);
    pair.run();
    QCOMPARE(pair.server.received, std::string("early data"));
    QCOMPARE(pair.client.received, std::string("welcome"));
    QCOMPARE(pair.client.eventCount(Event::HandshakeDone), 1);
    QCOMPARE(pair.server->peerCertificateChainPem().front(), m_pki.client.certPem);
    // Still reported after being accepted.
    QCOMPARE(codes(pair.client->verifyFailures()), QString("hostname-mismatch"));
}

void TestAuthentication::verifyPauseRejected_data()
{
    addVersionColumn();
}

void TestAuthentication::verifyPauseRejected()
{
    QFETCH(int, version);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version), "wrong.example");
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    pair.client->write("early data", 10);
    pair.handshake();
    QCOMPARE(pair.client.phase(), Phase::VerifyPending);

    pair.client->resolveVerification(false);
    pair.drain(pair.client);
    QCOMPARE(pair.client.phase(), Phase::Failed);
    QCOMPARE(pair.client->error().kind, Error::Certificate);
    QVERIFY2(pair.client->error().message.find("wrong.example") != std::string::npos,
             pair.client->error().message.c_str());
    QVERIFY2(pair.client.firstAlert(Event::AlertSent), state(pair).c_str());

    pair.run();
    QCOMPARE(pair.server.phase(), Phase::Failed);
    QCOMPARE(pair.server->error().kind, Error::AlertReceived);
    QVERIFY2(pair.server.firstAlert(Event::AlertReceived), state(pair).c_str());
    QVERIFY(pair.server.received.empty());
}

void TestAuthentication::acceptedFailuresForgiveOnlyThoseListed()
{
    // Only the name is wrong, and that is forgiven: no pause, but still reported.
    EnginePair forgiven(m_pki.clientConfig(), m_pki.serverConfig(), "wrong.example");
    QVERIFY2(forgiven.isValid(), forgiven.setupError().c_str());
    forgiven.client->setAcceptedFailures({VerifyError::HostnameMismatch});
    QVERIFY2(forgiven.handshake(), state(forgiven).c_str());
    QCOMPARE(forgiven.client.eventCount(Event::VerifyFailed), 1);
    QCOMPARE(codes(forgiven.client->verifyFailures()), QString("hostname-mismatch"));

    // The name is wrong and the issuer unknown: forgiving the name is not enough.
    Config distrusting = m_pki.clientConfig();
    distrusting.caFile.clear();
    distrusting.caPem = m_pki.otherRoot.certPem;
    EnginePair paused(distrusting, m_pki.serverConfig(), "wrong.example");
    QVERIFY2(paused.isValid(), paused.setupError().c_str());
    paused.client->setAcceptedFailures({VerifyError::HostnameMismatch});
    QVERIFY(!paused.handshake());
    QCOMPARE(paused.client.phase(), Phase::VerifyPending);
    QStringList found = failureNames(paused.client->verifyFailures());
    found.sort();
    QCOMPARE(found.join(", "), QString("hostname-mismatch, unknown-issuer"));

    // A forgiven code that does not occur changes nothing for the others.
    EnginePair other(distrusting, m_pki.serverConfig());
    other.client->setAcceptedFailures({VerifyError::Expired});
    QVERIFY(!other.handshake());
    QCOMPARE(other.client.phase(), Phase::VerifyPending);
}

QTEST_GUILESS_MAIN(TestAuthentication)
#include "tst_authentication.moc"
