// Session resumption: a client Connection given a session key stores the session of a verified
// connection in its context and offers it on the next connection with the same key. Each test
// owns its context cache, so its contexts (and their session caches and ticket keys) are its
// own; ticket keys age by a clock the test advances.
#include "pkifixture.h"
#include "testsupport.h"

#include <QTest>

#include <chrono>
#include <memory>

#include <openssl/err.h>

using namespace enginetest;
using securesocket::engine::Clock;
using securesocket::engine::VerifyMode;

namespace {

// A clock that moves only when told to.
struct ManualClock
{
    std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
    Clock clock()
    {
        return [this] { return now; };
    }
};

} // namespace

class TestSessions : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
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
    void serverCanSendNoTickets_data();
    void serverCanSendNoTickets();
    void ticketKeysRotate();
    void ticketKeysAgeByTheGivenClock();

private:
    Config clientWith(int version, Config base = {});

    PkiDir m_dir;
    StandardPki m_pki;
    ManualClock m_clock;
    std::unique_ptr<ContextCache> m_cache; // fresh for each test function
};

void TestSessions::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pki.create(m_dir);
}

void TestSessions::init()
{
    m_cache = std::make_unique<ContextCache>(32, m_clock.clock());
}

void TestSessions::cleanup()
{
    const std::string violation = takeViolation();
    QVERIFY2(violation.empty(), violation.c_str());
    QCOMPARE(ERR_peek_error(), 0UL);
}

Config TestSessions::clientWith(int version, Config base)
{
    if (base.caFile.empty() && base.caPem.empty())
        base = m_pki.clientConfig();
    return withVersion(base, version);
}

void TestSessions::resumption_data()
{
    addVersionColumn();
}

void TestSessions::resumption()
{
    QFETCH(int, version);
    const Config client = clientWith(version);
    const Config server = withVersion(m_pki.serverConfig(), version);
    {
        EnginePair first(client, server, "localhost", "localhost:443", *m_cache);
        QVERIFY2(first.handshake(), state(first).c_str());
        QCOMPARE(first.client->handshakeInfo().resumed, false);
        QCOMPARE(first.server->handshakeInfo().resumed, false);
        QVERIFY2(first.closeBoth(), state(first).c_str());
    }
    EnginePair second(client, server, "localhost", "localhost:443", *m_cache);
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
    const Config client = clientWith(TLS1_3_VERSION);
    const Config server = m_pki.serverConfig();
    for (int i = 0; i < 3; ++i) {
        EnginePair pair(client, server, "localhost", "localhost:443", *m_cache);
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
    const Config client = clientWith(TLS1_3_VERSION);
    const Config server = m_pki.serverConfig();
    {
        EnginePair first(client, server, "localhost", "localhost:443", *m_cache);
        QVERIFY2(first.handshake(), state(first).c_str());
        QVERIFY2(first.closeBoth(), state(first).c_str());
    }
    for (const char *key : {"", "localhost:993"}) {
        EnginePair other(client, server, "localhost", key, *m_cache);
        QVERIFY2(other.handshake(), state(other).c_str());
        QVERIFY2(!other.client->handshakeInfo().resumed, key);
        QVERIFY2(other.closeBoth(), state(other).c_str());
    }
}

void TestSessions::resumptionCanBeTurnedOff()
{
    // The same settings with resumption on come first: the switch must still count.
    Config on = clientWith(TLS1_3_VERSION);
    Config off = on;
    off.sessionResumption = false;
    std::string error;
    const auto onContext = m_cache->get(on, Role::Client, &error);
    QVERIFY2(onContext, error.c_str());
    QVERIFY(onContext->resumesSessions());
    const auto offContext = m_cache->get(off, Role::Client, &error);
    QVERIFY2(offContext, error.c_str());
    QVERIFY2(!offContext->resumesSessions(), "a context that resumes was returned for "
                                             "settings with sessionResumption = false");

    for (int i = 0; i < 2; ++i) {
        EnginePair pair(off, m_pki.serverConfig(), "localhost", "localhost:443", *m_cache);
        QVERIFY2(pair.handshake(), state(pair).c_str());
        QCOMPARE(pair.client->handshakeInfo().resumed, false);
        QVERIFY2(pair.closeBoth(), state(pair).c_str());
    }
}

void TestSessions::sessionWithForgivenFailuresIsNotReused()
{
    const Config client = clientWith(TLS1_3_VERSION);
    for (int i = 0; i < 2; ++i) {
        EnginePair pair(client, m_pki.serverConfig(), "wrong.example", "wrong.example:443",
                        *m_cache);
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
    const Config client = clientWith(version);
    const Config server = withVersion(m_pki.serverConfig(), version);
    {
        EnginePair first(client, server, "localhost", "10.0.0.1:443", *m_cache);
        QVERIFY2(first.handshake(), state(first).c_str());
        QVERIFY2(first.closeBoth(), state(first).c_str());
    }
    EnginePair second(client, server, "wrong.example", "10.0.0.1:443", *m_cache);
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
    const Config client = clientWith(version, m_pki.clientWithCertificate(true));
    const Config server = withVersion(m_pki.mutualServerConfig(VerifyMode::Query), version);
    for (int i = 0; i < 2; ++i) {
        EnginePair pair(client, server, "localhost", "localhost:443", *m_cache);
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
    const Config client = clientWith(version);
    const Config server = withVersion(m_pki.serverConfig(), version);
    {
        EnginePair first(client, server, "localhost", "localhost:443", *m_cache);
        QVERIFY2(first.handshake(), state(first).c_str());
        first.server->shutdown();
        first.run();
        QCOMPARE(first.client.phase(), Phase::Shutdown);
        QCOMPARE(first.client.eventCount(Event::CloseNotify), 1);
    }
    EnginePair second(client, server, "localhost", "localhost:443", *m_cache);
    QVERIFY2(second.handshake(), state(second).c_str());
    QVERIFY2(second.client->handshakeInfo().resumed,
             "the session of a cleanly closed connection was not reused");
}

void TestSessions::serverCanSendNoTickets_data()
{
    resumption_data();
}

void TestSessions::serverCanSendNoTickets()
{
    // sessionTicketCount = 0: no ticket and no session cache, so nothing resumes, whichever
    // version; the same settings with one ticket do resume.
    QFETCH(int, version);
    const Config client = clientWith(version);
    Config server = withVersion(m_pki.serverConfig(), version);
    for (const int tickets : {0, 1}) {
        server.sessionTicketCount = tickets;
        for (int i = 0; i < 2; ++i) {
            EnginePair pair(client, server, "localhost", "localhost:443", *m_cache);
            QVERIFY2(pair.handshake(), state(pair).c_str());
            QCOMPARE(pair.client->handshakeInfo().resumed, tickets > 0 && i > 0);
            pair.client->write("data", 4); // the tickets come with the server's first flight
            pair.run();
            QVERIFY2(pair.closeBoth(), state(pair).c_str());
        }
    }
}

void TestSessions::ticketKeysRotate()
{
    // Keys last one second; tickets of the previous key are accepted one more second. Two
    // clients with contexts (so session caches) of their own, one server.
    Config server = m_pki.serverConfig();
    server.ticketKeyLifetime = 1;
    const Config client = clientWith(TLS1_3_VERSION);
    ContextCache rotatingClients;
    ContextCache otherClients;

    for (ContextCache *clients : {&rotatingClients, &otherClients}) {
        EnginePair first(client, server, "localhost", "localhost:443", *clients, m_cache.get());
        QVERIFY2(first.handshake(), state(first).c_str());
        QVERIFY(!first.client->handshakeInfo().resumed);
        QVERIFY2(first.closeBoth(), state(first).c_str());
    }
    m_clock.now += std::chrono::milliseconds(1300); // the first key is now the previous one
    {
        EnginePair renewed(client, server, "localhost", "localhost:443", rotatingClients,
                           m_cache.get());
        QVERIFY2(renewed.handshake(), state(renewed).c_str());
        QVERIFY2(renewed.client->handshakeInfo().resumed, "a ticket of the previous key");
        QVERIFY2(renewed.closeBoth(), state(renewed).c_str());
    }
    m_clock.now += std::chrono::milliseconds(1300); // the first key is gone
    EnginePair expired(client, server, "localhost", "localhost:443", otherClients, m_cache.get());
    QVERIFY2(expired.handshake(), state(expired).c_str());
    QVERIFY2(!expired.client->handshakeInfo().resumed, "a ticket of a retired key");
}

void TestSessions::ticketKeysAgeByTheGivenClock()
{
    // Without the clock moving, a key never expires, however many tickets it made; once the
    // clock passes two lifetimes, a ticket of it no longer resumes.
    Config server = m_pki.serverConfig();
    server.ticketKeyLifetime = 60;
    const Config client = clientWith(TLS1_3_VERSION);
    for (int i = 0; i < 3; ++i) {
        EnginePair pair(client, server, "localhost", "localhost:443", *m_cache);
        QVERIFY2(pair.handshake(), state(pair).c_str());
        QCOMPARE(pair.client->handshakeInfo().resumed, i > 0);
        QVERIFY2(pair.closeBoth(), state(pair).c_str());
    }
    m_clock.now += std::chrono::seconds(59);
    {
        EnginePair pair(client, server, "localhost", "localhost:443", *m_cache);
        QVERIFY2(pair.handshake(), state(pair).c_str());
        QVERIFY2(pair.client->handshakeInfo().resumed, "a ticket of the current key");
        QVERIFY2(pair.closeBoth(), state(pair).c_str());
    }
    // The renewed ticket is still of the first key: once that key is more than two lifetimes
    // old, no ticket of it resumes.
    m_clock.now += std::chrono::seconds(62);
    EnginePair pair(client, server, "localhost", "localhost:443", *m_cache);
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QVERIFY2(!pair.client->handshakeInfo().resumed, "a ticket of a key two lifetimes old");
}

QTEST_GUILESS_MAIN(TestSessions)
#include "tst_sessions.moc"
