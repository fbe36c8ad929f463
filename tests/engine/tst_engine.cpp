// The engine end to end: a client and a server Connection back to back in memory, through
// every phase, in both roles, with TLS 1.2 and TLS 1.3. Certificates and who verifies whom are
// in tst_authentication.cpp and tst_verify.cpp; sessions in tst_sessions.cpp.
#include "pkifixture.h"
#include "testsupport.h"

#include <QTest>

#include <openssl/err.h>

#include <cstring>

using namespace enginetest;
using securesocket::engine::VerifyMode;

namespace {

std::vector<std::string> toStd(const QStringList &list)
{
    std::vector<std::string> result;
    for (const QString &item : list)
        result.push_back(item.toStdString());
    return result;
}

} // namespace

class TestEngine : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void handshake_data();
    void handshake();
    void negotiatedCipher_data();
    void negotiatedCipher();
    void serverPicksByItsOwnOrder_data();
    void serverPicksByItsOwnOrder();
    void noCommonVersion_data();
    void noCommonVersion();
    void noCommonCipher();
    void alpn_data();
    void alpn();

    void closeNotify_data();
    void closeNotify();
    void simultaneousCloseNotify_data();
    void simultaneousCloseNotify();
    void writesBeforeHandshakeArriveInOrder_data();
    void writesBeforeHandshakeArriveInOrder();
    void shutdownDuringHandshakeSendsQueuedWritesFirst_data();
    void shutdownDuringHandshakeSendsQueuedWritesFirst();
    void truncation_data();
    void truncation();
    void truncationInsideRecord();
    void eofDuringHandshake_data();
    void eofDuringHandshake();
    void peerClosesDuringHandshake_data();
    void peerClosesDuringHandshake();

    void delivery_data();
    void delivery();
    void coalescedRecords();
    void largeTransfer();
    void zeroCopyMixedWithCopies();
    void ioTakesPartOfEachOffer();
    void ioPathMatchesFeedPath();
    void ioGetsOneSendPerCall();
    void ioGetsWhatWaitsFromAnyCall();
    void ioReceivesInPieces_data();
    void ioReceivesInPieces();
    void ioReceivesSeveralRecordsAtOnce();
    void ioReceivesGrowInABulkStream();
    void ioIsNotKeptAfterTheCall();
    void partialRecordAcrossIdle();
    void idleReleaseThenMoreData_data();
    void idleReleaseThenMoreData();
    void readWithoutInput();
    void endAfterIdle_data();
    void endAfterIdle();
    void busyConnectionKeepsBuffers();
    void inputAfterEndIsDropped();

    void statusData();
    void statusNeedInput();
    void statusOk();
    void statusVerifyPending();
    void statusPeerClosed();
    void statusTruncated();
    void statusFailed();

    void errorQueueEmptyAfterFailures();
    void failureIsSticky();

private:
    PkiDir m_dir;
    StandardPki m_pki;
};

void TestEngine::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pki.create(m_dir);
}

void TestEngine::cleanup()
{
    const std::string violation = takeViolation();
    QVERIFY2(violation.empty(), violation.c_str());
    QCOMPARE(ERR_peek_error(), 0UL);
}

// --- Handshake -----------------------------------------------------------------------------

void TestEngine::handshake_data()
{
    addVersionColumn();
}

void TestEngine::handshake()
{
    QFETCH(int, version);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QCOMPARE(pair.client.phase(), Phase::Handshake);
    QCOMPARE(pair.server.phase(), Phase::Handshake);
    QVERIFY2(pair.client->pendingOutput() > 0, "the client's constructor queues the ClientHello");
    QCOMPARE(pair.server->pendingOutput(), size_t(0));
    QVERIFY2(pair.client.events.empty(), state(pair).c_str());

    QVERIFY2(pair.handshake(), state(pair).c_str());
    const std::string protocol = version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2";
    for (const Side *side : {&pair.client, &pair.server}) {
        QCOMPARE(side->phase(), Phase::Data);
        QCOMPARE((*side)->error().kind, Error::None);
        QCOMPARE(side->eventCount(Event::HandshakeDone), 1);
        QCOMPARE(side->eventCount(Event::VerifyFailed), 0);
        QCOMPARE((*side)->handshakeInfo().protocol, protocol);
        QVERIFY(!(*side)->handshakeInfo().cipher.empty());
        QVERIFY(!(*side)->handshakeInfo().group.empty());
        QCOMPARE((*side)->handshakeInfo().alpn, std::string());
        QCOMPARE((*side)->handshakeInfo().resumed, false);
        QVERIFY((*side)->verifyFailures().empty());
    }
    QCOMPARE(pair.client->handshakeInfo().cipher, pair.server->handshakeInfo().cipher);
    QCOMPARE(pair.client->handshakeInfo().group, pair.server->handshakeInfo().group);
    // OpenSSL 3.0's first default group.
    QCOMPARE(QString::fromStdString(pair.client->handshakeInfo().group).toLower(),
             QStringLiteral("x25519"));

    pair.client->write("ping", 4);
    pair.server->write("pong", 4);
    pair.run();
    QCOMPARE(pair.server.received, std::string("ping"));
    QCOMPARE(pair.client.received, std::string("pong"));
}

void TestEngine::negotiatedCipher_data()
{
    QTest::addColumn<int>("version");
    QTest::addColumn<QString>("clientCiphers");
    QTest::addColumn<QString>("expected");
    QTest::newRow("TLS 1.3 default") << TLS1_3_VERSION << ""
                                     << "TLS_AES_256_GCM_SHA384";
    QTest::newRow("TLS 1.3 ChaCha20") << TLS1_3_VERSION << "TLS_CHACHA20_POLY1305_SHA256"
                                      << "TLS_CHACHA20_POLY1305_SHA256";
    QTest::newRow("TLS 1.3 AES-128") << TLS1_3_VERSION << "TLS_AES_128_GCM_SHA256"
                                     << "TLS_AES_128_GCM_SHA256";
    QTest::newRow("TLS 1.2 default") << TLS1_2_VERSION << ""
                                     << "ECDHE-ECDSA-AES128-GCM-SHA256";
    QTest::newRow("TLS 1.2 AES-128") << TLS1_2_VERSION << "ECDHE-ECDSA-AES128-GCM-SHA256"
                                     << "ECDHE-ECDSA-AES128-GCM-SHA256";
}

void TestEngine::negotiatedCipher()
{
    QFETCH(int, version);
    QFETCH(QString, clientCiphers);
    QFETCH(QString, expected);
    Config client = withVersion(m_pki.clientConfig(), version);
    (version == TLS1_3_VERSION ? client.cipherSuites : client.cipherList) =
        clientCiphers.toStdString();
    EnginePair pair(client, withVersion(m_pki.serverConfig(), version));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QCOMPARE(pair.client->handshakeInfo().cipher, expected.toStdString());
    QCOMPARE(pair.server->handshakeInfo().cipher, expected.toStdString());
}

void TestEngine::serverPicksByItsOwnOrder_data()
{
    QTest::addColumn<int>("version");
    QTest::addColumn<QString>("clientCiphers");
    QTest::addColumn<QString>("serverCiphers"); // empty: the default
    QTest::addColumn<QString>("expected");
    QTest::newRow("TLS 1.2 default")
        << TLS1_2_VERSION << "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"
        << ""
        << "ECDHE-ECDSA-AES128-GCM-SHA256";
    QTest::newRow("TLS 1.2 user list")
        << TLS1_2_VERSION << "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"
        << "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"
        << "ECDHE-ECDSA-CHACHA20-POLY1305";
    QTest::newRow("TLS 1.3 default")
        << TLS1_3_VERSION << "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
        << ""
        << "TLS_AES_256_GCM_SHA384";
}

// The client lists another suite first; the server takes the first of its own it has in common.
void TestEngine::serverPicksByItsOwnOrder()
{
    QFETCH(int, version);
    QFETCH(QString, clientCiphers);
    QFETCH(QString, serverCiphers);
    QFETCH(QString, expected);
    Config client = withVersion(m_pki.clientConfig(), version);
    Config server = withVersion(m_pki.serverConfig(), version);
    (version == TLS1_3_VERSION ? client.cipherSuites : client.cipherList) =
        clientCiphers.toStdString();
    (version == TLS1_3_VERSION ? server.cipherSuites : server.cipherList) =
        serverCiphers.toStdString();
    EnginePair pair(client, server);
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QCOMPARE(pair.server->handshakeInfo().cipher, expected.toStdString());
    QCOMPARE(pair.client->handshakeInfo().cipher, expected.toStdString());
}

void TestEngine::noCommonVersion_data()
{
    QTest::addColumn<int>("clientVersion");
    QTest::addColumn<int>("serverVersion");
    QTest::newRow("client older") << TLS1_2_VERSION << TLS1_3_VERSION;
    QTest::newRow("client newer") << TLS1_3_VERSION << TLS1_2_VERSION;
}

void TestEngine::noCommonVersion()
{
    QFETCH(int, clientVersion);
    QFETCH(int, serverVersion);
    EnginePair pair(withVersion(m_pki.clientConfig(), clientVersion),
                    withVersion(m_pki.serverConfig(), serverVersion));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QVERIFY(!pair.handshake());
    QCOMPARE(pair.server.phase(), Phase::Failed);
    QCOMPARE(pair.server->error().kind, Error::Incompatible);
    const std::string &message = pair.server->error().message;
    QVERIFY2(message.find("TLS 1." + std::to_string(serverVersion - TLS1_VERSION)) !=
                 std::string::npos,
             ("the message names the version allowed: " + message).c_str());
    // The client offered only TLS 1.3 to a TLS 1.2 server: "older than" would send the
    // administrator looking in the wrong direction.
    if (clientVersion > serverVersion)
        QVERIFY2(message.find("older than") == std::string::npos, message.c_str());
    else
        QVERIFY2(message.find("older than") != std::string::npos, message.c_str());
    QCOMPARE(pair.client.phase(), Phase::Failed);
    QCOMPARE(pair.client->error().kind, Error::AlertReceived);
    QVERIFY2(pair.client.firstAlert(Event::AlertReceived), state(pair).c_str());
    QCOMPARE(pair.client.firstAlert(Event::AlertReceived)->alert.description,
             int(SSL_AD_PROTOCOL_VERSION));
}

void TestEngine::noCommonCipher()
{
    Config client = withVersion(m_pki.clientConfig(), TLS1_2_VERSION);
    client.cipherList = "ECDHE-RSA-AES128-GCM-SHA256"; // the server has an ECDSA key
    EnginePair pair(client, m_pki.serverConfig());
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QVERIFY(!pair.handshake());
    QCOMPARE(pair.server->error().kind, Error::Incompatible);
    QVERIFY2(pair.server->error().message.find("in common") != std::string::npos,
             pair.server->error().message.c_str());
    QCOMPARE(pair.client->error().kind, Error::AlertReceived);
}

void TestEngine::alpn_data()
{
    QTest::addColumn<QStringList>("clientProtocols");
    QTest::addColumn<QStringList>("serverProtocols");
    QTest::addColumn<QString>("expected");
    QTest::newRow("server preference")
        << QStringList{"http/1.1", "h2"} << QStringList{"h2", "http/1.1"} << "h2";
    QTest::newRow("one in common") << QStringList{"a", "b"} << QStringList{"c", "b"} << "b";
    QTest::newRow("no overlap") << QStringList{"h2"} << QStringList{"imap"} << "";
    QTest::newRow("client only") << QStringList{"h2"} << QStringList{} << "";
    QTest::newRow("server only") << QStringList{} << QStringList{"h2"} << "";
}

void TestEngine::alpn()
{
    QFETCH(QStringList, clientProtocols);
    QFETCH(QStringList, serverProtocols);
    QFETCH(QString, expected);
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        Config client = withVersion(m_pki.clientConfig(), version);
        client.alpn = toStd(clientProtocols);
        Config server = withVersion(m_pki.serverConfig(), version);
        server.alpn = toStd(serverProtocols);
        EnginePair pair(client, server);
        QVERIFY2(pair.isValid(), pair.setupError().c_str());
        QVERIFY2(pair.handshake(), state(pair).c_str());
        QCOMPARE(pair.client->handshakeInfo().alpn, expected.toStdString());
        QCOMPARE(pair.server->handshakeInfo().alpn, expected.toStdString());
    }
}

// --- Data and closing ----------------------------------------------------------------------

void TestEngine::simultaneousCloseNotify_data()
{
    addVersionColumn();
}

void TestEngine::simultaneousCloseNotify()
{
    QFETCH(int, version);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version));
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.client->shutdown();
    pair.server->shutdown();
    pair.run();
    for (const Side *side : {&pair.client, &pair.server}) {
        QCOMPARE(side->phase(), Phase::Closed);
        QCOMPARE(side->eventCount(Event::CloseNotify), 1);
        QCOMPARE(side->eventCount(Event::Closed), 1);
        QCOMPARE((*side)->error().kind, Error::None);
    }
}

void TestEngine::closeNotify_data()
{
    QTest::addColumn<int>("version");
    QTest::addColumn<bool>("clientFirst");
    QTest::newRow("TLS 1.2, client first") << TLS1_2_VERSION << true;
    QTest::newRow("TLS 1.2, server first") << TLS1_2_VERSION << false;
    QTest::newRow("TLS 1.3, client first") << TLS1_3_VERSION << true;
    QTest::newRow("TLS 1.3, server first") << TLS1_3_VERSION << false;
}

void TestEngine::closeNotify()
{
    QFETCH(int, version);
    QFETCH(bool, clientFirst);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version));
    QVERIFY2(pair.handshake(), state(pair).c_str());
    Side &first = clientFirst ? pair.client : pair.server;
    Side &second = clientFirst ? pair.server : pair.client;

    first->write("last words", 10);
    first->shutdown();
    QCOMPARE(first.phase(), Phase::Shutdown);
    pair.transfer(first, second);
    QCOMPARE(second.received, std::string("last words"));
    QCOMPARE(second.eventCount(Event::CloseNotify), 1);
    QCOMPARE(second.phase(), Phase::Shutdown);
    char byte;
    const ReadResult ended = second->read(&byte, 1);
    QCOMPARE(ended.size, size_t(0));
    QCOMPARE(ended.status, Status::PeerClosed);
    QVERIFY(second->closeNotifyReceived());
    QVERIFY(!second->closeNotifySent());

    // Half-closed: the second side may still send before it replies.
    second->write("reply", 5);
    second->shutdown();
    pair.drain(second);
    QCOMPARE(second.phase(), Phase::Closed);
    QCOMPARE(second.eventCount(Event::Closed), 1);
    pair.transfer(second, first);
    QCOMPARE(first.received, std::string("reply"));
    QCOMPARE(first.eventCount(Event::CloseNotify), 1);
    QCOMPARE(first.eventCount(Event::Closed), 1);
    QCOMPARE(first.phase(), Phase::Closed);
    for (const Side *side : {&first, &second}) {
        QCOMPARE((*side)->error().kind, Error::None);
        QCOMPARE(side->eventCount(Event::Failed), 0);
    }
    QCOMPARE(pair.run(), 0);
}

void TestEngine::writesBeforeHandshakeArriveInOrder_data()
{
    addVersionColumn();
}

void TestEngine::writesBeforeHandshakeArriveInOrder()
{
    QFETCH(int, version);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    const size_t sizes[] = {1, 2, 1000, 16383, 16384, 16385, 1 << 20};
    std::string fromClient, fromServer;
    uint32_t seed = 1;
    for (size_t size : sizes) {
        const std::string c = patternData(size, seed++);
        const std::string s = patternData(size, seed++);
        pair.client->write(c.data(), c.size());
        pair.server->write(s.data(), s.size());
        fromClient += c;
        fromServer += s;
    }
    QCOMPARE(pair.client->pendingWrite(), fromClient.size());
    QCOMPARE(pair.server->pendingWrite(), fromServer.size());

    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.run();
    QCOMPARE(pair.client->pendingWrite(), size_t(0));
    QCOMPARE(pair.server->pendingWrite(), size_t(0));
    QVERIFY2(pair.server.received == fromClient,
             firstDifference(pair.server.received, fromClient).c_str());
    QVERIFY2(pair.client.received == fromServer,
             firstDifference(pair.client.received, fromServer).c_str());
}

void TestEngine::shutdownDuringHandshakeSendsQueuedWritesFirst_data()
{
    addVersionColumn();
}

void TestEngine::shutdownDuringHandshakeSendsQueuedWritesFirst()
{
    QFETCH(int, version);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    pair.client->write("first ", 6);
    pair.client->write("second", 6);
    pair.client->shutdown();
    QCOMPARE(pair.client.phase(), Phase::Handshake);

    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.run();
    QCOMPARE(pair.server.received, std::string("first second"));
    QCOMPARE(pair.server.eventCount(Event::CloseNotify), 1);
    QCOMPARE(pair.server.phase(), Phase::Shutdown);
    QCOMPARE(pair.client.phase(), Phase::Shutdown);

    pair.server->write("bye", 3);
    pair.server->shutdown();
    pair.run();
    QCOMPARE(pair.client.received, std::string("bye"));
    QCOMPARE(pair.client.phase(), Phase::Closed);
    QCOMPARE(pair.server.phase(), Phase::Closed);
}

void TestEngine::truncation_data()
{
    QTest::addColumn<int>("version");
    QTest::addColumn<bool>("serverTruncates");
    QTest::newRow("TLS 1.2, server hangs up") << TLS1_2_VERSION << true;
    QTest::newRow("TLS 1.2, client hangs up") << TLS1_2_VERSION << false;
    QTest::newRow("TLS 1.3, server hangs up") << TLS1_3_VERSION << true;
    QTest::newRow("TLS 1.3, client hangs up") << TLS1_3_VERSION << false;
}

void TestEngine::truncation()
{
    QFETCH(int, version);
    QFETCH(bool, serverTruncates);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version));
    QVERIFY2(pair.handshake(), state(pair).c_str());
    Side &sender = serverTruncates ? pair.server : pair.client;
    Side &receiver = serverTruncates ? pair.client : pair.server;

    const std::string data = patternData(40000, 7); // several records
    sender->write(data.data(), data.size());
    const std::string wire = sender->takeOutput();
    // The bytes and the end of the stream arrive together: the data must come out first.
    receiver->feed(wire.data(), wire.size());
    receiver->feedEof();
    receiver->process();
    pair.drain(receiver);

    QVERIFY2(receiver.received == data, firstDifference(receiver.received, data).c_str());
    QCOMPARE(receiver.phase(), Phase::Failed);
    QCOMPARE(receiver->error().kind, Error::Truncated);
    QVERIFY2(receiver->error().message.find("close_notify") != std::string::npos,
             receiver->error().message.c_str());
    QCOMPARE(receiver.eventCount(Event::CloseNotify), 0);
    QCOMPARE(receiver.eventCount(Event::Failed), 1);
}

void TestEngine::truncationInsideRecord()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.server->write("complete", 8);
    const std::string first = pair.server->takeOutput();
    pair.server->write("cut", 3);
    const std::string second = pair.server->takeOutput();
    const std::string wire = first + second.substr(0, second.size() - 5);
    pair.client->feed(wire.data(), wire.size());
    pair.client->process();
    pair.drain(pair.client);
    QCOMPARE(pair.client.received, std::string("complete"));
    QCOMPARE(pair.client.phase(), Phase::Data); // waiting for the rest of the record

    pair.client->feedEof();
    pair.client->process();
    pair.drain(pair.client);
    QCOMPARE(pair.client.received, std::string("complete"));
    QCOMPARE(pair.client->error().kind, Error::Truncated);
}

void TestEngine::eofDuringHandshake_data()
{
    QTest::addColumn<int>("version");
    QTest::addColumn<bool>("atServer");
    QTest::addColumn<int>("bytesBeforeEof"); // of the peer's first flight
    QTest::newRow("server, nothing received") << TLS1_3_VERSION << true << 0;
    QTest::newRow("server, half a ClientHello") << TLS1_3_VERSION << true << 50;
    QTest::newRow("client, nothing received") << TLS1_3_VERSION << false << 0;
    QTest::newRow("client, TLS 1.3, half a flight") << TLS1_3_VERSION << false << 300;
    QTest::newRow("client, TLS 1.2, half a flight") << TLS1_2_VERSION << false << 300;
}

void TestEngine::eofDuringHandshake()
{
    QFETCH(int, version);
    QFETCH(bool, atServer);
    QFETCH(int, bytesBeforeEof);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    if (!atServer)
        pair.transfer(pair.client, pair.server); // the ClientHello
    Side &from = atServer ? pair.client : pair.server;
    Side &victim = atServer ? pair.server : pair.client;
    const std::string flight = from->takeOutput();
    QVERIFY(flight.size() > size_t(bytesBeforeEof));
    victim->feed(flight.data(), size_t(bytesBeforeEof));
    victim->process();
    QCOMPARE(victim.phase(), Phase::Handshake);
    victim->feedEof();
    victim->process();
    pair.drain(victim);
    QCOMPARE(victim.phase(), Phase::Failed);
    QCOMPARE(victim->error().kind, Error::Truncated);
    QVERIFY2(victim->error().message.find("handshake") != std::string::npos,
             victim->error().message.c_str());
    QCOMPARE(victim.eventCount(Event::HandshakeDone), 0);
}

void TestEngine::peerClosesDuringHandshake_data()
{
    QTest::addColumn<int>("version");
    QTest::addColumn<bool>("atServer");
    QTest::addColumn<QByteArray>("alerts"); // plaintext alert records
    const QByteArray closeNotify("\x15\x03\x03\x00\x02\x01\x00", 7);
    const QByteArray userCanceled("\x15\x03\x03\x00\x02\x01\x5a", 7);
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        const char *v = version == TLS1_2_VERSION ? "TLS 1.2" : "TLS 1.3";
        QTest::addRow("%s, server sends close_notify", v) << version << false << closeNotify;
        // How RFC 8446 (6.1) says a handshake is cancelled.
        QTest::addRow("%s, server cancels", v) << version << false << userCanceled + closeNotify;
        QTest::addRow("%s, client sends close_notify", v) << version << true << closeNotify;
    }
}

void TestEngine::peerClosesDuringHandshake()
{
    QFETCH(int, version);
    QFETCH(bool, atServer);
    QFETCH(QByteArray, alerts);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    if (atServer)
        pair.transfer(pair.client, pair.server); // the ClientHello; the server answers
    else
        pair.client->takeOutput(); // the ClientHello, lost
    Side &victim = atServer ? pair.server : pair.client;
    pair.deliver(victim, alerts.toStdString());

    QCOMPARE(victim.phase(), Phase::Failed);
    QVERIFY2(victim.hasEvent(Event::AlertReceived), victim.describe().c_str());
    // The peer ended the handshake on purpose: that is its answer, not an internal failure.
    QCOMPARE(victim->error().kind, Error::AlertReceived);
    QVERIFY2(victim->error().message.find("close") != std::string::npos,
             victim->error().message.c_str());
}

// --- How the bytes arrive ------------------------------------------------------------------

void TestEngine::delivery_data()
{
    QTest::addColumn<int>("version");
    QTest::addColumn<int>("delivery");
    QTest::addColumn<uint>("seed");
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        const QByteArray v = version == TLS1_2_VERSION ? "TLS 1.2" : "TLS 1.3";
        QTest::newRow(v + ", whole") << version << int(Delivery::Whole) << 1u;
        QTest::newRow(v + ", one byte at a time") << version << int(Delivery::OneByte) << 1u;
        for (uint seed : {1u, 2u, 3u, 4u})
            QTest::newRow(v + ", random splits, seed " + QByteArray::number(seed))
                << version << int(Delivery::RandomSplits) << seed;
        for (uint seed : {1u, 2u, 3u})
            QTest::newRow(v + ", zero-copy views, seed " + QByteArray::number(seed))
                << version << int(Delivery::ZeroCopy) << seed;
        for (uint seed : {1u, 2u, 3u})
            QTest::newRow(v + ", through an Io, seed " + QByteArray::number(seed))
                << version << int(Delivery::ThroughIo) << seed;
    }
}

void TestEngine::delivery()
{
    QFETCH(int, version);
    QFETCH(int, delivery);
    QFETCH(uint, seed);
    EnginePair pair(withVersion(m_pki.clientWithCertificate(), version),
                    withVersion(m_pki.mutualServerConfig(VerifyMode::Verify), version));
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    pair.setDelivery(Delivery(delivery), seed);

    const std::string request = patternData(20000, seed);
    const std::string response = patternData(30000, seed + 100);
    pair.client->write(request.data(), 7);
    pair.client->write(request.data() + 7, request.size() - 7);
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.server->write(response.data(), response.size());
    pair.server->shutdown();
    pair.run();
    pair.client->shutdown();
    pair.run();

    QVERIFY2(pair.server.received == request,
             firstDifference(pair.server.received, request).c_str());
    QVERIFY2(pair.client.received == response,
             firstDifference(pair.client.received, response).c_str());
    QCOMPARE(pair.client.phase(), Phase::Closed);
    QCOMPARE(pair.server.phase(), Phase::Closed);
}

void TestEngine::coalescedRecords()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    std::string expected;
    for (int i = 0; i < 20; ++i) {
        const std::string message = "message " + std::to_string(i) + ";";
        pair.client->write(message.data(), message.size());
        expected += message;
    }
    const std::string big = patternData(50000, 3);
    pair.client->write(big.data(), big.size());
    expected += big;
    pair.client->shutdown();

    // Every record at once, read back through a small buffer.
    const std::string wire = pair.client->takeOutput();
    pair.server->feed(wire.data(), wire.size());
    QCOMPARE(pair.server->process(), Status::Ok);
    std::string received;
    QCOMPARE(readAll(*pair.server.connection, received, 7), Status::PeerClosed);
    QVERIFY2(received == expected, firstDifference(received, expected).c_str());
    QCOMPARE(pair.server.phase(), Phase::Shutdown);
    pair.drain(pair.server);
    QCOMPARE(pair.server.eventCount(Event::CloseNotify), 1);
}

void TestEngine::largeTransfer()
{
    constexpr size_t kSize = 16 << 20;
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    const std::string up = patternData(kSize, 11);
    const std::string down = patternData(kSize, 12);
    pair.client->write(up.data(), up.size());
    pair.server->write(down.data(), down.size());
    pair.run();
    QVERIFY2(pair.server.received == up, firstDifference(pair.server.received, up).c_str());
    QVERIFY2(pair.client.received == down, firstDifference(pair.client.received, down).c_str());
}

// feed() and inputSpace()/commitInput() in one stream, takeOutput() and outputView()/
// consumeOutput() in the other, each cutting records anywhere.
void TestEngine::zeroCopyMixedWithCopies()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    const std::string data = patternData(100000, 21);
    pair.client->write(data.data(), data.size());
    QCOMPARE(pair.client->outputView().second, pair.client->pendingOutput());
    std::string received;
    for (size_t step = 0; pair.client->pendingOutput() > 0; ++step) {
        const size_t size =
            std::min<size_t>(1 + (step * 7919) % 9000, pair.client->pendingOutput());
        std::string piece(size, '\0');
        if (step % 2 == 0) {
            QCOMPARE(pair.client->takeOutput(piece.data(), size), size);
        } else {
            const std::pair<const char *, size_t> view = pair.client->outputView();
            QVERIFY(view.second >= size);
            piece.assign(view.first, size);
            pair.client->consumeOutput(size);
        }
        if (step % 3 == 0) {
            pair.server->feed(piece.data(), piece.size());
        } else {
            // Two receives into the same space: commit a part, ask again, commit the rest.
            const size_t first = size / 2;
            std::pair<char *, size_t> space = pair.server->inputSpace(first);
            QVERIFY(space.first && space.second >= std::max<size_t>(first, 1));
            std::memcpy(space.first, piece.data(), first);
            pair.server->commitInput(first);
            space = pair.server->inputSpace(size - first);
            QVERIFY(space.first && space.second >= size - first);
            std::memcpy(space.first, piece.data() + first, size - first);
            pair.server->commitInput(size - first);
        }
        pair.server->process();
        QCOMPARE(readAll(*pair.server.connection, received, 5000), Status::NeedInput);
    }
    QVERIFY2(received == data, firstDifference(received, data).c_str());
    QCOMPARE(pair.client->pendingOutput(), size_t(0));
    QCOMPARE(pair.client->outputView().second, size_t(0));
    pair.client->consumeOutput(10); // more than there is: nothing happens
    QCOMPARE(pair.server.phase(), Phase::Data);
    QVERIFY2(pair.closeBoth(), state(pair).c_str());
}

// --- The Io given to a call --------------------------------------------------------------

// An Io that takes all, half or nothing of each offer (as a non-blocking send() does) and
// receives in random small pieces, sometimes nothing: what it takes and what stays queued reach
// the peer in order, handshake and close_notify included; each offer is all the queued output,
// from its front (the bytes takeOutput() would give, checked by MemoryIo), and the Io is used
// only during the calls it is given to.
void TestEngine::ioTakesPartOfEachOffer()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    pair.setDelivery(Delivery::ThroughIo, 5);
    QVERIFY2(pair.handshake(), state(pair).c_str());

    std::string data;
    for (int i = 0; i < 20; ++i) {
        const std::string piece = patternData(1 + (i * 7919) % 40000, i);
        pair.write(pair.client, piece);
        data += piece;
        if (i % 4 == 3)
            pair.transfer(pair.client, pair.server);
    }
    pair.run();
    QVERIFY2(pair.server.received == data, firstDifference(pair.server.received, data).c_str());
    const std::vector<size_t> &offers = pair.client.io.offers;
    QVERIFY(offers.size() > 20);
    QVERIFY(pair.server.io.receives > 20);

    pair.shutdown(pair.client);
    pair.run();
    QVERIFY(pair.server.hasEvent(Event::CloseNotify));
    QCOMPARE(pair.server->status(), Status::PeerClosed);
}

// The same exchange gives the same result whichever way the bytes move: whole, in random
// splits, or through an Io (sends taken in part, input received in small pieces): the same
// plaintext, the same events, the same end.
void TestEngine::ioPathMatchesFeedPath()
{
    struct Outcome
    {
        std::string clientReceived, serverReceived;
        std::vector<Event::Kind> clientEvents, serverEvents;
        Phase clientPhase, serverPhase;
    };
    const auto kinds = [](const Side &side) {
        std::vector<Event::Kind> kinds;
        for (const Event &event : side.events)
            kinds.push_back(event.kind);
        return kinds;
    };
    const auto exchange = [&](Delivery delivery) {
        EnginePair pair(m_pki.clientWithCertificate(),
                        m_pki.mutualServerConfig(VerifyMode::Verify));
        pair.setDelivery(delivery, 9);
        pair.write(pair.client, patternData(70000, 1)); // queued until the handshake is done
        pair.handshake();
        for (size_t size : {1, 16384, 16385, 200000, 5}) {
            pair.write(pair.server, patternData(size, uint32_t(size)));
            pair.write(pair.client, patternData(size + 3, uint32_t(size + 3)));
            pair.run();
        }
        pair.shutdown(pair.server);
        pair.run();
        pair.shutdown(pair.client);
        pair.run();
        return Outcome{pair.client.received, pair.server.received, kinds(pair.client),
                       kinds(pair.server),   pair.client.phase(),  pair.server.phase()};
    };
    const Outcome whole = exchange(Delivery::Whole);
    QCOMPARE(whole.clientPhase, Phase::Closed);
    QCOMPARE(whole.serverPhase, Phase::Closed);
    for (Delivery delivery : {Delivery::RandomSplits, Delivery::ThroughIo}) {
        const Outcome other = exchange(delivery);
        QVERIFY(other.clientReceived == whole.clientReceived);
        QVERIFY(other.serverReceived == whole.serverReceived);
        QCOMPARE(other.clientEvents, whole.clientEvents);
        QCOMPARE(other.serverEvents, whole.serverEvents);
        QCOMPARE(other.clientPhase, whole.clientPhase);
        QCOMPARE(other.serverPhase, whole.serverPhase);
    }
}

// With an Io that takes everything, nothing is ever left queued after a call: every call that
// makes output (a handshake flight, a write, close_notify, the alert of a failure) offers it
// before it returns, in one send(): a write's records in one offer, a large write a slice of at
// most 64 KiB of plaintext at a time.
void TestEngine::ioGetsOneSendPerCall()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    pair.setDelivery(Delivery::ThroughIo);
    pair.client.io.takeAll = pair.server.io.takeAll = true;
    std::vector<size_t> &clientOffers = pair.client.io.offers;
    std::vector<size_t> &serverOffers = pair.server.io.offers;

    QCOMPARE(pair.process(pair.client), Status::NeedInput); // offers the ClientHello
    QCOMPARE(clientOffers.size(), size_t(1));
    QCOMPARE(pair.client->pendingOutput(), size_t(0));
    // The server's flight (ServerHello to Finished) in one send.
    QCOMPARE(pair.transfer(pair.client, pair.server) > 0, true);
    QCOMPARE(serverOffers.size(), size_t(1));
    QCOMPARE(pair.server->pendingOutput(), size_t(0));
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.run(); // the tickets
    QCOMPARE(pair.client->pendingOutput(), size_t(0));
    QCOMPARE(pair.server->pendingOutput(), size_t(0));

    clientOffers.clear();
    const std::string small = patternData(40000, 1); // three records
    pair.write(pair.client, small);
    QCOMPARE(pair.client->pendingOutput(), size_t(0));
    QCOMPARE(clientOffers.size(), size_t(1));
    const std::string large = patternData(200 * 1024, 2); // four slices
    pair.write(pair.client, large);
    QCOMPARE(pair.client->pendingOutput(), size_t(0));
    QCOMPARE(clientOffers.size(), size_t(5));
    for (size_t offer : clientOffers)
        QVERIFY2(offer <= 64 * 1024 + 4 * 256, std::to_string(offer).c_str());
    pair.run();
    QVERIFY(pair.server.received == small + large);

    // A record that fails its integrity check: the server's fatal alert goes out at once.
    serverOffers.clear();
    const std::string forged =
        std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 'x'); // 32 bytes of junk
    pair.deliver(pair.server, forged);
    QCOMPARE(pair.server.phase(), Phase::Failed);
    QVERIFY(pair.server.hasEvent(Event::AlertSent));
    QCOMPARE(pair.server->pendingOutput(), size_t(0));
    QCOMPARE(serverOffers.size(), size_t(1));

    clientOffers.clear();
    pair.shutdown(pair.client);
    QCOMPARE(pair.client->pendingOutput(), size_t(0));
    QCOMPARE(clientOffers.size(), size_t(1)); // close_notify
}

// Every call given an Io offers what waits, whatever else it does or does not do: output left by
// calls made without one leaves with the next call that has one.
void TestEngine::ioGetsWhatWaitsFromAnyCall()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig(), "wrong.example");
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    std::string toServer;
    std::string toClient;
    MemoryIo clientIo;
    clientIo.outbound = &toServer;
    clientIo.takeAll = true;
    MemoryIo serverIo;
    serverIo.outbound = &toClient;
    serverIo.takeAll = true;
    char plain[16];
    {
        // read() in the handshake reads nothing, and sends the ClientHello made before.
        const MemoryIo::Lend lend(&clientIo);
        QCOMPARE(pair.client->read(plain, sizeof plain, &clientIo).status, Status::NeedInput);
    }
    QCOMPARE(clientIo.offers.size(), size_t(1));
    QCOMPARE(pair.client->pendingOutput(), size_t(0));
    pair.server->feed(toServer.data(), toServer.size());
    QCOMPARE(pair.server->process(), Status::NeedInput); // its flight waits in its output
    QVERIFY(pair.server->pendingOutput() > 0);
    {
        // Nothing to resolve: the flight leaves all the same.
        const MemoryIo::Lend lend(&serverIo);
        pair.server->resolveVerification(true, &serverIo);
    }
    QCOMPARE(serverIo.offers.size(), size_t(1));
    QCOMPARE(pair.server->pendingOutput(), size_t(0));
    pair.client->feed(toClient.data(), toClient.size());
    QCOMPARE(pair.client->process(), Status::VerifyPending);
    {
        const MemoryIo::Lend lend(&clientIo);
        pair.client->resolveVerification(false, &clientIo); // the alert
    }
    QCOMPARE(clientIo.offers.size(), size_t(2));
    QCOMPARE(pair.client->status(), Status::Failed);
    {
        const MemoryIo::Lend lend(&clientIo);
        QCOMPARE(pair.client->read(plain, sizeof plain, &clientIo).status, Status::Failed);
    }
    QCOMPARE(clientIo.offers.size(), size_t(2)); // nothing waited
}

void TestEngine::ioReceivesInPieces_data()
{
    QTest::addColumn<bool>("closeNotify");
    QTest::newRow("close_notify") << true;
    QTest::newRow("truncation") << false;
}

// An Io that gives what it has in pieces of varying size, and sometimes nothing (a
// non-blocking recv()): the plaintext arrives whole and in order, records split across pieces
// included, and the end is still told apart (close_notify or truncation).
void TestEngine::ioReceivesInPieces()
{
    QFETCH(bool, closeNotify);
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.run();
    std::string wire; // the client's ciphertext not yet received by the server
    MemoryIo io;
    io.inbound = &wire;
    auto turn = [&](std::string &received) {
        const MemoryIo::Lend lend(&io);
        pair.server->process(&io);
        return readAll(*pair.server.connection, received, 7000, &io);
    };
    std::string data;
    std::string received;
    for (int i = 0; i < 30; ++i) {
        const std::string piece = patternData(1 + (i * 7919) % 50000, i);
        pair.client->write(piece.data(), piece.size());
        data += piece;
        wire += pair.client->takeOutput();
        for (int n = 0; n < 1000 && !wire.empty(); ++n)
            QCOMPARE(turn(received), Status::NeedInput);
    }
    QVERIFY2(received == data, firstDifference(received, data).c_str());
    QVERIFY(io.receives > 30);

    if (closeNotify) {
        pair.client->shutdown();
        wire += pair.client->takeOutput();
    }
    Status status = Status::NeedInput;
    for (int n = 0; n < 1000 && !wire.empty(); ++n)
        status = turn(received);
    QVERIFY(wire.empty());
    if (!closeNotify) {
        QCOMPARE(status, Status::NeedInput);
        pair.server->feedEof();                      // only once the Io is dry for good
        QCOMPARE(pair.server->status(), Status::Ok); // the end waits to be told by read()
        status = turn(received);
    }
    QVERIFY2(received == data, firstDifference(received, data).c_str());
    QCOMPARE(status, closeNotify ? Status::PeerClosed : Status::Truncated);
    QCOMPARE(pair.server->status(), status);
    pair.drain(pair.server);
    QCOMPARE(pair.server.hasEvent(Event::CloseNotify), closeNotify);
    QCOMPARE(pair.server->error().kind, closeNotify ? Error::None : Error::Truncated);
}

namespace {
// An Io over a stream of ciphertext that has arrived whole: each receive() takes all it can.
struct WholeIo final : Io
{
    explicit WholeIo(std::string wireBytes) : wire(std::move(wireBytes)) {}
    std::string wire;
    size_t receives = 0;
    size_t largest = 0;
    size_t send(const char *, size_t) override { return 0; }
    size_t receive(char *buffer, size_t capacity) override
    {
        ++receives;
        largest = std::max(largest, capacity);
        const size_t n = std::min(capacity, wire.size());
        std::memcpy(buffer, wire.data(), n);
        wire.erase(0, n);
        return n;
    }
};
} // namespace

// Reading through an Io, a receive brings several records at once, rather than a record's
// header and then its body.
void TestEngine::ioReceivesSeveralRecordsAtOnce()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.run();
    const std::string data = patternData(40000, 3); // three records
    pair.client->write(data.data(), data.size());
    WholeIo io(pair.client->takeOutput());
    std::string received;
    QCOMPARE(readAll(*pair.server.connection, received, 64 * 1024, &io), Status::NeedInput);
    QVERIFY2(received == data, firstDifference(received, data).c_str());
    QVERIFY2(io.largest >= 3 * 16384, std::to_string(io.largest).c_str());
    QVERIFY2(io.receives <= 3, std::to_string(io.receives).c_str()); // the data, then "nothing"
}

// A bulk stream comes in receives that double while each one fills the room offered, up to
// 1 MiB: 64 full records (1 MiB of plaintext) in 64, 128, 256 and 512 KiB, then the rest.
// Once the connection is idle and its buffers are freed, the next receive is small again.
void TestEngine::ioReceivesGrowInABulkStream()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.run();
    const std::string data = patternData(64 * 16384, 4); // 64 full records
    pair.client->write(data.data(), data.size());
    WholeIo io(pair.client->takeOutput());
    QCOMPARE(io.wire.size(), size_t(64 * 16406));
    std::string received;
    QCOMPARE(readAll(*pair.server.connection, received, 64 * 1024, &io), Status::NeedInput);
    QVERIFY2(received == data, firstDifference(received, data).c_str());
    // Five receives, and the one that finds nothing (17 when OpenSSL read ahead 64 KiB)
    QVERIFY2(io.receives <= 6, std::to_string(io.receives).c_str());
    QCOMPARE(io.largest, size_t(1024 * 1024));

    pair.client->write("x", 1);
    WholeIo small(pair.client->takeOutput());
    QCOMPARE(readAll(*pair.server.connection, received, 64 * 1024, &small), Status::NeedInput);
    QVERIFY2(small.largest <= 96 * 1024, std::to_string(small.largest).c_str());
}

// The engine holds an Io only for the call it was given to: calls without one never reach it,
// even right after a call with it, and it may be destroyed as soon as the call returns.
void TestEngine::ioIsNotKeptAfterTheCall()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    std::string toServer;
    {
        auto gone = std::make_unique<MemoryIo>(); // a use after this block is a use after free
        gone->outbound = &toServer;
        gone->takeAll = true;
        const MemoryIo::Lend lend(gone.get());
        pair.client->write("early", 5, gone.get());
        QCOMPARE(gone->offers.size(), size_t(1)); // the ClientHello
    }
    MemoryIo kept; // outlives its call: a later use records a violation (it is not lent then)
    {
        const MemoryIo::Lend lend(&kept);
        QCOMPARE(pair.client->process(&kept), Status::NeedInput);
    }
    QCOMPARE(kept.offers.size(), size_t(0));
    const size_t receives = kept.receives;
    // The rest by feed() and takeOutput() only.
    pair.deliver(pair.server, toServer);
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.client->write("after", 5);
    pair.run();
    QCOMPARE(pair.server.received, std::string("earlyafter"));
    QVERIFY2(pair.closeBoth(), state(pair).c_str());
    QCOMPARE(kept.offers.size(), size_t(0));
    QCOMPARE(kept.receives, receives);
}

// --- The status of a connection ------------------------------------------------------------

// Data: read() returned plaintext. Several records fill one buffer; a buffer filled exactly
// leaves the status Ok (there may be more), and the next read() says NeedInput.
void TestEngine::statusData()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.run();
    const std::string data = patternData(20000, 4);
    pair.client->write(data.data(), data.size());
    const std::string wire = pair.client->takeOutput();
    pair.server->feed(wire.data(), wire.size());
    QCOMPARE(pair.server->status(), Status::Ok);
    std::string buffer(data.size(), '\0');
    const ReadResult all = pair.server->read(buffer.data(), buffer.size());
    QCOMPARE(all.status, Status::Data);
    QCOMPARE(all.size, data.size());
    QVERIFY(buffer == data);
    QCOMPARE(pair.server->status(), Status::Ok);
    const ReadResult more = pair.server->read(buffer.data(), buffer.size());
    QCOMPARE(more.size, size_t(0));
    QCOMPARE(more.status, Status::NeedInput);
}

// NeedInput: nothing until more ciphertext arrives. So says a new server, a client that sent
// its ClientHello, and a connection holding half a record (OpenSSL holds bytes, but not enough).
void TestEngine::statusNeedInput()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    QCOMPARE(pair.server->status(), Status::NeedInput);
    QCOMPARE(pair.server->process(), Status::NeedInput);
    QCOMPARE(pair.client->status(), Status::NeedInput);
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.run();
    QCOMPARE(pair.client->status(), Status::NeedInput);
    pair.server->write("half", 4);
    const std::string wire = pair.server->takeOutput();
    pair.client->feed(wire.data(), wire.size() - 3);
    QCOMPARE(pair.client->status(), Status::Ok); // input waits to be read
    char plain[64];
    const ReadResult half = pair.client->read(plain, sizeof plain);
    QCOMPARE(half.size, size_t(0));
    QCOMPARE(half.status, Status::NeedInput);
    QCOMPARE(pair.client->process(), Status::NeedInput);
    pair.client->feed(wire.data() + wire.size() - 3, 3);
    const ReadResult whole = pair.client->read(plain, sizeof plain);
    QCOMPARE(whole.status, Status::Data);
    QCOMPARE(std::string(plain, whole.size), std::string("half"));
}

// Ok: there is work for the next call. In the handshake, input fed and not yet processed:
// read() leaves it to process() (it never advances the handshake).
void TestEngine::statusOk()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    const std::string hello = pair.client->takeOutput();
    pair.server->feed(hello.data(), hello.size());
    QCOMPARE(pair.server->status(), Status::Ok);
    char plain[64];
    const ReadResult early = pair.server->read(plain, sizeof plain);
    QCOMPARE(early.size, size_t(0));
    QCOMPARE(early.status, Status::Ok);
    QCOMPARE(pair.server->pendingOutput(), size_t(0)); // nothing advanced
    QCOMPARE(pair.server->process(), Status::NeedInput);
    QVERIFY(pair.server->pendingOutput() > 0); // the server's flight
    // The end of the stream waits to be told: Ok until process() tells it.
    pair.server->feedEof();
    QCOMPARE(pair.server->status(), Status::Ok);
    QCOMPARE(pair.server->process(), Status::Truncated);
}

// VerifyPending: a client paused on certificate failures, for process(), read() and status()
// alike, until resolveVerification().
void TestEngine::statusVerifyPending()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig(), "wrong.example");
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    pair.handshake();
    QCOMPARE(pair.client.phase(), Phase::VerifyPending);
    QCOMPARE(pair.client->status(), Status::VerifyPending);
    QCOMPARE(pair.client->process(), Status::VerifyPending);
    char plain[64];
    const ReadResult paused = pair.client->read(plain, sizeof plain);
    QCOMPARE(paused.size, size_t(0));
    QCOMPARE(paused.status, Status::VerifyPending);
    pair.client->resolveVerification(true);
    QVERIFY(pair.client->status() != Status::VerifyPending);
    QVERIFY2(pair.handshake(), state(pair).c_str());
}

// PeerClosed: close_notify received, after the data before it; for good. And when we closed
// first and the peer ended the stream without answering, a clean end all the same.
void TestEngine::statusPeerClosed()
{
    {
        EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
        QVERIFY2(pair.handshake(), state(pair).c_str());
        pair.server->write("bye", 3);
        pair.server->shutdown();
        QVERIFY(pair.server->closeNotifySent());
        const std::string wire = pair.server->takeOutput();
        pair.client->feed(wire.data(), wire.size());
        std::string received;
        QCOMPARE(readAll(*pair.client.connection, received), Status::PeerClosed);
        QCOMPARE(received, std::string("bye"));
        QVERIFY(pair.client->closeNotifyReceived());
        QVERIFY(!pair.client->closeNotifySent());
        QCOMPARE(pair.client->process(), Status::PeerClosed);
        pair.client->shutdown();
        QVERIFY(pair.client->closeNotifySent());
        QCOMPARE(pair.client.phase(), Phase::Closed);
        QCOMPARE(pair.client->status(), Status::PeerClosed);
    }
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.run();
    pair.client->shutdown();
    pair.client->feedEof(); // the server hangs up without its close_notify
    char plain[64];
    const ReadResult ended = pair.client->read(plain, sizeof plain);
    QCOMPARE(ended.status, Status::PeerClosed);
    QCOMPARE(pair.client.phase(), Phase::Closed);
    QVERIFY(!pair.client->closeNotifyReceived());
    QCOMPARE(pair.client->error().kind, Error::None);
}

// Truncated: the input ended without close_notify, after the data before it (error() says
// so); in the handshake too.
void TestEngine::statusTruncated()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.server->write("cut", 3);
    const std::string wire = pair.server->takeOutput();
    pair.client->feed(wire.data(), wire.size());
    pair.client->feedEof();
    std::string received;
    QCOMPARE(readAll(*pair.client.connection, received), Status::Truncated);
    QCOMPARE(received, std::string("cut"));
    QCOMPARE(pair.client->error().kind, Error::Truncated);
    QCOMPARE(pair.client->status(), Status::Truncated);
    QCOMPARE(pair.client->process(), Status::Truncated);

    EnginePair early(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(early.isValid(), early.setupError().c_str());
    early.client->feedEof();
    QCOMPARE(early.client->process(), Status::Truncated);
    QCOMPARE(early.client->error().kind, Error::Truncated);
}

// Failed: a fatal error other than truncation; error() says why; for good.
void TestEngine::statusFailed()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.client->write("payload", 7);
    std::string wire = pair.client->takeOutput();
    wire[wire.size() - 1] = static_cast<char>(wire[wire.size() - 1] ^ 0x01);
    pair.server->feed(wire.data(), wire.size());
    char plain[64];
    const ReadResult failed = pair.server->read(plain, sizeof plain);
    QCOMPARE(failed.size, size_t(0));
    QCOMPARE(failed.status, Status::Failed);
    QCOMPARE(pair.server->error().kind, Error::Protocol);
    QCOMPARE(pair.server->status(), Status::Failed);
    QCOMPARE(pair.server->process(), Status::Failed);
    pair.server->feedEof();
    QCOMPARE(pair.server->read(plain, sizeof plain).status, Status::Failed);
}

// Half a record, then a read that finds nothing complete (the engine may look idle), then the
// rest: nothing is lost when buffers are released.
void TestEngine::partialRecordAcrossIdle()
{
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        EnginePair pair(withVersion(m_pki.clientConfig(), version),
                        withVersion(m_pki.serverConfig(), version));
        QVERIFY2(pair.handshake(), state(pair).c_str());
        const std::string data = patternData(30000, 5); // two records
        for (size_t cut : {3, 5, 4000, 16000, 20000, 0}) {
            pair.client->write(data.data(), data.size());
            const std::string wire = pair.client->takeOutput();
            if (cut == 0)
                cut = wire.size() - 1;
            std::string received;
            char plain[16384];
            pair.server->feed(wire.data(), cut);
            pair.server->process();
            QCOMPARE(readAll(*pair.server.connection, received), Status::NeedInput);
            QCOMPARE(pair.server->read(plain, sizeof plain).status, Status::NeedInput);
            const std::pair<char *, size_t> space = pair.server->inputSpace(wire.size() - cut);
            QVERIFY(space.first && space.second >= wire.size() - cut);
            std::memcpy(space.first, wire.data() + cut, wire.size() - cut);
            pair.server->commitInput(wire.size() - cut);
            pair.server->process();
            QCOMPARE(readAll(*pair.server.connection, received), Status::NeedInput);
            QVERIFY2(received == data, firstDifference(received, data).c_str());
            QCOMPARE(pair.server.phase(), Phase::Data);
        }
    }
}

void TestEngine::idleReleaseThenMoreData_data()
{
    addVersionColumn();
}

// Many bursts with idle moments between them, in both directions, the sizes crossing record
// and buffer boundaries: every byte arrives, in order.
void TestEngine::idleReleaseThenMoreData()
{
    QFETCH(int, version);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version));
    QVERIFY2(pair.handshake(), state(pair).c_str());
    std::string up;
    std::string down;
    char plain[100];
    for (size_t size : {1, 100, 16384, 16385, 70000, 5, 200000, 1}) {
        const std::string a = patternData(size, uint32_t(size));
        const std::string b = patternData(size + 1, uint32_t(size + 1));
        pair.client->write(a.data(), a.size());
        pair.server->write(b.data(), b.size());
        up += a;
        down += b;
        pair.run();
        // Idle: reads with nothing received, on both sides.
        QCOMPARE(pair.client->read(plain, sizeof plain).status, Status::NeedInput);
        QCOMPARE(pair.server->read(plain, sizeof plain).status, Status::NeedInput);
        QCOMPARE(pair.client->pendingOutput(), size_t(0));
    }
    QVERIFY2(pair.server.received == up, firstDifference(pair.server.received, up).c_str());
    QVERIFY2(pair.client.received == down, firstDifference(pair.client.received, down).c_str());
    QVERIFY2(pair.closeBoth(), state(pair).c_str());
}

void TestEngine::readWithoutInput()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.run(); // the tickets
    pair.drain(pair.client);
    const size_t events = pair.client.events.size();
    char plain[64];
    for (int i = 0; i < 1000; ++i) {
        const ReadResult nothing = pair.client->read(plain, sizeof plain);
        QCOMPARE(nothing.size, size_t(0));
        QCOMPARE(nothing.status, Status::NeedInput);
        QCOMPARE(pair.client->process(), Status::NeedInput);
    }
    QCOMPARE(pair.client.phase(), Phase::Data);
    pair.drain(pair.client);
    QCOMPARE(pair.client.events.size(), events);
    QCOMPARE(pair.client->pendingOutput(), size_t(0));
    pair.server->write("after", 5);
    pair.run();
    QCOMPARE(pair.client.received, std::string("after"));
}

void TestEngine::endAfterIdle_data()
{
    QTest::addColumn<bool>("clean");
    QTest::newRow("close_notify") << true;
    QTest::newRow("truncation") << false;
}

// With deferral on (as the socket drives the engine), a connection that goes idle again soon
// after releasing its buffers keeps them, says so, and frees them when told; the bytes are the
// same either way, in both directions, and the end is still clean.
void TestEngine::busyConnectionKeepsBuffers()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.client->setReleaseDeferred(true);
    pair.server->setReleaseDeferred(true);
    const std::string data = patternData(70000, 7);
    std::string expected;
    // Idle after each round, and the buffers stay until the driver says the connection is quiet.
    for (int round = 0; round < 4; ++round) {
        pair.client->write(data.data(), data.size());
        pair.run();
        expected += data;
        QCOMPARE(pair.server.received.size(), expected.size());
        QVERIFY(pair.client->idleBuffersHeld());
        QVERIFY(pair.server->idleBuffersHeld());
    }
    QVERIFY(pair.server.received == expected);
    pair.client->releaseIdleBuffers();
    pair.server->releaseIdleBuffers();
    QVERIFY(!pair.client->idleBuffersHeld());
    QVERIFY(!pair.server->idleBuffersHeld());
    // After the release: the other way, then a clean end.
    pair.server->write(data.data(), data.size());
    pair.run();
    QVERIFY(pair.client.received == data);
    pair.client->shutdown();
    pair.run();
    QCOMPARE(pair.server.eventCount(Event::CloseNotify), 1);
    QVERIFY2(!pair.client->isFailed() && !pair.server->isFailed(), state(pair).c_str());
}

// Buffers released while idle: a later close_notify is still a clean end, and a later end of
// stream without it still a truncation.
void TestEngine::endAfterIdle()
{
    QFETCH(bool, clean);
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.server->write("data", 4);
    pair.run();
    char plain[64];
    QCOMPARE(pair.client->read(plain, sizeof plain).status, Status::NeedInput); // idle
    if (clean) {
        pair.server->shutdown();
        pair.run();
        QCOMPARE(pair.client.phase(), Phase::Shutdown);
        QCOMPARE(pair.client.eventCount(Event::CloseNotify), 1);
        QVERIFY2(pair.closeBoth(), state(pair).c_str());
    } else {
        pair.client->feedEof();
        pair.client->process();
        pair.drain(pair.client);
        QCOMPARE(pair.client.phase(), Phase::Failed);
        QCOMPARE(pair.client->error().kind, Error::Truncated);
    }
    QCOMPARE(pair.client.received, std::string("data"));
}

// Bytes given after the end of stream or after a failure are dropped, through either input.
void TestEngine::inputAfterEndIsDropped()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    pair.server->write("late", 4);
    const std::string wire = pair.server->takeOutput();
    pair.client->feedEof();
    std::pair<char *, size_t> space = pair.client->inputSpace(wire.size());
    QVERIFY(space.first && space.second >= wire.size());
    std::memcpy(space.first, wire.data(), wire.size());
    pair.client->commitInput(wire.size());
    pair.client->process();
    pair.drain(pair.client);
    QVERIFY(pair.client.received.empty());
    QCOMPARE(pair.client->error().kind, Error::Truncated);
    space = pair.client->inputSpace(0);
    QVERIFY(space.first && space.second >= 1);
    pair.client->commitInput(1);
    char plain[64];
    const ReadResult after = pair.client->read(plain, sizeof plain);
    QCOMPARE(after.size, size_t(0));
    QCOMPARE(after.status, Status::Truncated);
}

// --- Failures ------------------------------------------------------------------------------

void TestEngine::errorQueueEmptyAfterFailures()
{
    // Each failure path, with the queue checked after every engine call (see cleanup()).
    {
        EnginePair pair(m_pki.clientConfig(), m_pki.mutualServerConfig(VerifyMode::Verify));
        pair.handshake();
        pair.run();
        QCOMPARE(pair.server.phase(), Phase::Failed);
    }
    {
        EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig(), "wrong.example");
        pair.handshake();
        pair.client->resolveVerification(false);
        checkErrorQueue("resolveVerification(false)");
        pair.run();
        QCOMPARE(pair.server.phase(), Phase::Failed);
    }
    {
        EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
        const std::string junk("\x16\x03\x01\x00\x05hello", 10);
        pair.server->feed(junk.data(), junk.size());
        pair.server->process();
        checkErrorQueue("process(junk)");
        QCOMPARE(pair.server.phase(), Phase::Failed);
    }
    {
        std::string error;
        Config bad = m_pki.serverConfig();
        bad.keyFile = m_dir.path("missing.key");
        QVERIFY(!ContextCache().get(bad, Role::Server, &error));
        checkErrorQueue("ContextCache::get(missing key)");
    }
    // A stale error left in the queue by the application is not taken for the engine's own.
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    const std::string hello = pair.client->takeOutput();
    pair.server->feed(hello.data(), hello.size());
    ERR_put_error(ERR_LIB_SSL, 0, SSL_R_BAD_PACKET_LENGTH, __FILE__, __LINE__);
    pair.server->process();
    QCOMPARE(ERR_peek_error(), 0UL);
    QCOMPARE(pair.server.phase(), Phase::Handshake);
    QVERIFY2(pair.handshake(), state(pair).c_str());
}

void TestEngine::failureIsSticky()
{
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig());
    QVERIFY2(pair.handshake(), state(pair).c_str());
    // A record whose authentication tag fails: fatal.
    pair.client->write("payload", 7);
    std::string wire = pair.client->takeOutput();
    wire[wire.size() - 1] = static_cast<char>(wire[wire.size() - 1] ^ 0x01);
    pair.deliver(pair.server, wire);
    QCOMPARE(pair.server.phase(), Phase::Failed);
    const Error error = pair.server->error();
    const size_t events = pair.server.events.size();
    pair.server->takeOutput(); // the alert

    // Every later call is a no-op.
    pair.client->write("more", 4);
    const std::string more = pair.client->takeOutput();
    pair.server->feed(more.data(), more.size());
    pair.server->process();
    pair.server->write("x", 1);
    QCOMPARE(pair.server->pendingWrite(), size_t(0));
    pair.server->shutdown();
    pair.server->resolveVerification(true);
    pair.server->resolveVerification(false);
    pair.server->feedEof();
    pair.server->process();
    char buffer[64];
    const ReadResult nothing = pair.server->read(buffer, sizeof buffer);
    QCOMPARE(nothing.size, size_t(0));
    QCOMPARE(nothing.status, Status::Failed);
    pair.drain(pair.server);

    QCOMPARE(pair.server.phase(), Phase::Failed);
    QCOMPARE(pair.server->error().kind, error.kind);
    QCOMPARE(pair.server->error().message, error.message);
    QCOMPARE(pair.server.events.size(), events);
    QCOMPARE(pair.server->pendingOutput(), size_t(0));
    QVERIFY(pair.server.received.empty());
}

QTEST_GUILESS_MAIN(TestEngine)
#include "tst_engine.moc"
