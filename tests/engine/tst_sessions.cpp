// Session resumption: a client Connection given a session key stores the session of a verified
// connection in its context and offers it on the next connection with the same key.
#include "pkifixture.h"
#include "testsupport.h"

#include <QTest>
#include <QThread>

#include <openssl/err.h>

using namespace enginetest;
using securesocket::engine::Context;
using securesocket::engine::VerifyMode;

class TestSessions : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void resumption_data();
    void resumption();
    void resumptionKeepsForwardSecrecy();
    void noResumptionWithoutKeyOrWithAnotherKey();
    void resumptionCanBeTurnedOff();
    void sessionWithForgivenFailuresIsNotReused();
    void resumedSessionIsCheckedAgainstThePeerName_data();
    void resumedSessionIsCheckedAgainstThePeerName();
    void resumedSessionKeepsTheServersVerifyFailures_data();
    void resumedSessionKeepsTheServersVerifyFailures();
    void sessionSurvivesTheServerClosingFirst_data();
    void sessionSurvivesTheServerClosingFirst();
    void ticketKeysRotate();

private:
    // A fresh client configuration (its own context, so its own session cache).
    Config freshClient(int version, Config base = {});

    PkiDir m_dir;
    StandardPki m_pki;
    int m_fresh = 0;
};

void TestSessions::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pki.create(m_dir);
}

void TestSessions::cleanup()
{
    const std::string violation = takeErrorQueueViolation();
    QVERIFY2(violation.empty(), violation.c_str());
    QCOMPARE(ERR_peek_error(), 0UL);
}

Config TestSessions::freshClient(int version, Config base)
{
    if (base.caFile.empty() && base.caPem.empty())
        base = m_pki.clientConfig();
    // Contexts are shared by equal configurations: an ALPN name of its own makes this one new.
    base.alpn = {"fresh-" + std::to_string(++m_fresh)};
    return withVersion(base, version);
}

void TestSessions::resumption_data()
{
    addVersionColumn();
}

void TestSessions::resumption()
{
    QFETCH(int, version);
    const Config client = freshClient(version);
    const Config server = withVersion(m_pki.serverConfig(), version);
    {
        EnginePair first(client, server, "localhost", "localhost:443");
        QVERIFY2(first.handshake(), state(first).c_str());
        QCOMPARE(first.client->handshakeInfo().resumed, false);
        QCOMPARE(first.server->handshakeInfo().resumed, false);
        QVERIFY2(first.closeBoth(), state(first).c_str());
    }
    EnginePair second(client, server, "localhost", "localhost:443");
    QVERIFY2(second.handshake(), state(second).c_str());
    QCOMPARE(second.client->handshakeInfo().resumed, true);
    QCOMPARE(second.server->handshakeInfo().resumed, true);
    QVERIFY(second.client->verifyFailures().empty());
    const std::vector<std::string> chain = {m_pki.server.certPem, m_pki.intermediate.certPem};
    QCOMPARE(second.client->peerCertificateChainPem(), chain);
    second.client->write("again", 5);
    second.run();
    QCOMPARE(second.server.received, std::string("again"));
}

void TestSessions::resumptionKeepsForwardSecrecy()
{
    // A resumed TLS 1.3 handshake still makes a fresh (EC)DHE exchange (psk_dhe_ke): a stolen
    // ticket key must not decrypt recorded resumed sessions. Both sides name the group.
    const Config client = freshClient(TLS1_3_VERSION);
    const Config server = m_pki.serverConfig();
    for (int i = 0; i < 3; ++i) {
        EnginePair pair(client, server, "localhost", "localhost:443");
        QVERIFY2(pair.handshake(), state(pair).c_str());
        QCOMPARE(pair.client->handshakeInfo().resumed, i > 0); // every later one resumes
        QCOMPARE(pair.server->handshakeInfo().resumed, i > 0);
        QVERIFY(!pair.client->handshakeInfo().group.empty());
        QCOMPARE(pair.server->handshakeInfo().group, pair.client->handshakeInfo().group);
        QVERIFY2(pair.closeBoth(), state(pair).c_str());
    }
}

void TestSessions::noResumptionWithoutKeyOrWithAnotherKey()
{
    const Config client = freshClient(TLS1_3_VERSION);
    const Config server = m_pki.serverConfig();
    {
        EnginePair first(client, server, "localhost", "localhost:443");
        QVERIFY2(first.handshake(), state(first).c_str());
        QVERIFY2(first.closeBoth(), state(first).c_str());
    }
    for (const char *key : {"", "localhost:993"}) {
        EnginePair other(client, server, "localhost", key);
        QVERIFY2(other.handshake(), state(other).c_str());
        QVERIFY2(!other.client->handshakeInfo().resumed, key);
        QVERIFY2(other.closeBoth(), state(other).c_str());
    }
}

void TestSessions::resumptionCanBeTurnedOff()
{
    // The same settings with resumption on come first: the switch must still count.
    Config on = freshClient(TLS1_3_VERSION);
    Config off = on;
    off.sessionResumption = false;
    std::string error;
    const auto onContext = Context::get(on, Role::Client, &error);
    QVERIFY2(onContext, error.c_str());
    QVERIFY(onContext->resumesSessions());
    const auto offContext = Context::get(off, Role::Client, &error);
    QVERIFY2(offContext, error.c_str());
    QVERIFY2(!offContext->resumesSessions(), "a context that resumes was returned for "
                                             "settings with sessionResumption = false");

    for (int i = 0; i < 2; ++i) {
        EnginePair pair(off, m_pki.serverConfig(), "localhost", "localhost:443");
        QVERIFY2(pair.handshake(), state(pair).c_str());
        QCOMPARE(pair.client->handshakeInfo().resumed, false);
        QVERIFY2(pair.closeBoth(), state(pair).c_str());
    }
}

void TestSessions::sessionWithForgivenFailuresIsNotReused()
{
    const Config client = freshClient(TLS1_3_VERSION);
    for (int i = 0; i < 2; ++i) {
        EnginePair pair(client, m_pki.serverConfig(), "wrong.example", "wrong.example:443");
        pair.client->setAcceptedFailures({VerifyError::HostnameMismatch});
        QVERIFY2(pair.handshake(), state(pair).c_str());
        QCOMPARE(pair.client->handshakeInfo().resumed, false);
        QCOMPARE(failureNames(pair.client->verifyFailures()).join(", "),
                 QString("hostname-mismatch"));
        QVERIFY2(pair.closeBoth(), state(pair).c_str());
    }
}

void TestSessions::resumedSessionIsCheckedAgainstThePeerName_data()
{
    addVersionColumn();
}

void TestSessions::resumedSessionIsCheckedAgainstThePeerName()
{
    // A session verified for "localhost" is stored under a key that does not name the host
    // checked (as "host:port" does not when a different verify name is set).
    QFETCH(int, version);
    const Config client = freshClient(version);
    const Config server = withVersion(m_pki.serverConfig(), version);
    {
        EnginePair first(client, server, "localhost", "10.0.0.1:443");
        QVERIFY2(first.handshake(), state(first).c_str());
        QVERIFY2(first.closeBoth(), state(first).c_str());
    }
    EnginePair second(client, server, "wrong.example", "10.0.0.1:443");
    second.handshake();
    // The certificate is not valid for wrong.example: resuming must not skip that check.
    QVERIFY2(!second.client->handshakeInfo().resumed, state(second).c_str());
    QCOMPARE(second.client.phase(), Phase::VerifyPending);
    QCOMPARE(failureNames(second.client->verifyFailures()).join(", "),
             QString("hostname-mismatch"));
}

void TestSessions::resumedSessionKeepsTheServersVerifyFailures_data()
{
    addVersionColumn();
}

void TestSessions::resumedSessionKeepsTheServersVerifyFailures()
{
    // A server in Query mode lets a client with an unknown CA in, and says so. A resumed
    // session of that client must say so too.
    QFETCH(int, version);
    const Config client = freshClient(version, m_pki.clientWithCertificate(true));
    const Config server = withVersion(m_pki.mutualServerConfig(VerifyMode::Query), version);
    for (int i = 0; i < 2; ++i) {
        EnginePair pair(client, server, "localhost", "localhost:443");
        QVERIFY2(pair.handshake(), state(pair).c_str());
        QCOMPARE(failureNames(pair.server->verifyFailures()).join(", "), QString("unknown-issuer"));
        QCOMPARE(pair.server->peerCertificateChainPem().front(), m_pki.otherClient.certPem);
        QVERIFY2(pair.closeBoth(), state(pair).c_str());
    }
}

void TestSessions::sessionSurvivesTheServerClosingFirst_data()
{
    addVersionColumn();
}

void TestSessions::sessionSurvivesTheServerClosingFirst()
{
    // The server ends the connection cleanly; the client reads the close_notify and is done
    // with the connection without answering it (as after an IMAP LOGOUT or HTTP/1.0).
    QFETCH(int, version);
    const Config client = freshClient(version);
    const Config server = withVersion(m_pki.serverConfig(), version);
    {
        EnginePair first(client, server, "localhost", "localhost:443");
        QVERIFY2(first.handshake(), state(first).c_str());
        first.server->shutdown();
        first.run();
        QCOMPARE(first.client.phase(), Phase::Shutdown);
        QCOMPARE(first.client.eventCount(Event::CloseNotify), 1);
    }
    EnginePair second(client, server, "localhost", "localhost:443");
    QVERIFY2(second.handshake(), state(second).c_str());
    QVERIFY2(second.client->handshakeInfo().resumed,
             "the session of a cleanly closed connection was not reused");
}

void TestSessions::ticketKeysRotate()
{
    // Keys last one second; tickets of the previous key are accepted one more second.
    Config server = m_pki.serverConfig();
    server.ticketKeyLifetime = 1;
    server.alpn = {"rotating"}; // a server context (and ticket keys) of its own
    Config rotatingClient = freshClient(TLS1_3_VERSION);
    rotatingClient.alpn = {"rotating"};
    Config otherClient = rotatingClient;
    otherClient.cipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"; // own cache

    for (const Config &config : {rotatingClient, otherClient}) {
        EnginePair first(config, server, "localhost", "localhost:443");
        QVERIFY2(first.handshake(), state(first).c_str());
        QVERIFY2(first.closeBoth(), state(first).c_str());
    }
    QThread::msleep(1300); // the first key is now the previous one
    {
        EnginePair renewed(rotatingClient, server, "localhost", "localhost:443");
        QVERIFY2(renewed.handshake(), state(renewed).c_str());
        QVERIFY2(renewed.client->handshakeInfo().resumed, "a ticket of the previous key");
        QVERIFY2(renewed.closeBoth(), state(renewed).c_str());
    }
    QThread::msleep(1300); // the first key is gone
    EnginePair expired(otherClient, server, "localhost", "localhost:443");
    QVERIFY2(expired.handshake(), state(expired).c_str());
    QVERIFY2(!expired.client->handshakeInfo().resumed, "a ticket of a retired key");
}

QTEST_GUILESS_MAIN(TestSessions)
#include "tst_sessions.moc"
