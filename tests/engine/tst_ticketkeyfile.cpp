// Session tickets across processes, in the engine: ticket keys derived from a ticket key file
// (two context caches stand for two server processes, or a server before and after a restart),
// their rotation by the wall clock a test moves, the strict reading of the file, and a client's
// sessions exported and imported as blobs (a fresh client cache stands for a restarted client).
#include "pkifixture.h"
#include "sessions.h"
#include "testsupport.h"

#include <QFile>
#include <QTest>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <random>

#include <sys/stat.h>

using namespace enginetest;
using securesocket::engine::SecretString;
using securesocket::engine::SessionImport;
using securesocket::engine::TicketKeys;
using securesocket::engine::WallClock;

namespace {

// A wall clock that moves only when told to; starts in the middle of a 60 s period.
struct ManualWallClock
{
    std::chrono::system_clock::time_point now{std::chrono::seconds(1'800'000'030)};
    WallClock clock()
    {
        return [this] { return now; };
    }
};

std::string randomBytes(size_t size)
{
    std::string bytes(size, '\0');
    RAND_bytes(reinterpret_cast<unsigned char *>(bytes.data()), static_cast<int>(size));
    return bytes;
}

// The name of the key that encrypts, asked of keys as OpenSSL would when it makes a ticket.
std::string encryptingKeyName(TicketKeys &keys)
{
    unsigned char name[16] = {};
    unsigned char iv[EVP_MAX_IV_LENGTH] = {};
    using CipherPtr = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;
    using MacPtr = std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)>;
    using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)>;
    CipherPtr cipher(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
    MacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr), EVP_MAC_free);
    MacCtxPtr macCtx(EVP_MAC_CTX_new(mac.get()), EVP_MAC_CTX_free);
    if (keys.callback(name, iv, cipher.get(), macCtx.get(), 1) != 1)
        return {};
    return std::string(reinterpret_cast<const char *>(name), sizeof name);
}

// What keys answer for a ticket whose key is named name: 1 (its key encrypts), 2 (an older
// key: renew), 0 (unknown).
int decryptAnswer(TicketKeys &keys, const std::string &name)
{
    unsigned char copy[16] = {};
    std::memcpy(copy, name.data(), std::min(name.size(), sizeof copy));
    unsigned char iv[EVP_MAX_IV_LENGTH] = {};
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> cipher(EVP_CIPHER_CTX_new(),
                                                                           EVP_CIPHER_CTX_free);
    std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr),
                                                          EVP_MAC_free);
    std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> macCtx(EVP_MAC_CTX_new(mac.get()),
                                                                     EVP_MAC_CTX_free);
    return keys.callback(copy, iv, cipher.get(), macCtx.get(), 0);
}

} // namespace

class TestTicketKeyFile : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    // Key derivation.
    void keysFromTheSameSecretsAgree();
    void keysFromOtherSecretsDisagree();
    void keysFollowTheWallClockPeriod();
    void periodsAreFloored();

    // Resumption between "processes" (context caches).
    void sameFileResumesInAnotherProcess_data();
    void sameFileResumesInAnotherProcess();
    void otherFileDoesNotResume();
    void randomKeysDoNotResumeInAnotherProcess();
    void previousPeriodResumesOlderDoesNot();
    void laterSecretsOfTheFileStillDecrypt();
    void changedFileGivesANewContext();

    // The file, read strictly.
    void badFilesAreRefusedNamingTheFile_data();
    void badFilesAreRefusedNamingTheFile();
    void badFileIsRefusedEvenWithoutTickets();
    void clientIgnoresTheTicketKeyFile();

    // Client session blobs.
    void exportedSessionResumesInAFreshClient_data();
    void exportedSessionResumesInAFreshClient();
    void exportedSessionIsBoundToHostNameAndSettings_data();
    void exportedSessionIsBoundToHostNameAndSettings();
    void noExportAfterForgivenFailures();
    void garbageBlobsAreIgnored();

private:
    std::string keyFile(const std::string &name, const std::string &content, mode_t mode = 0600);
    Config serverWithFile(const std::string &file, int version = TLS1_3_VERSION) const;
    // One handshake of client (its contexts from clients) against a server from servers: was
    // it resumed? Closes cleanly, so that the client keeps its session.
    bool connect(ContextCache &clients, ContextCache &servers, const Config &server,
                 int version = TLS1_3_VERSION);

    PkiDir m_dir;
    StandardPki m_pki;
    ManualWallClock m_wall;
    std::string m_fileA;
    std::string m_fileB;
};

void TestTicketKeyFile::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pki.create(m_dir);
    m_fileA = keyFile("a.key", randomBytes(80));
    m_fileB = keyFile("b.key", randomBytes(80));
}

void TestTicketKeyFile::cleanup()
{
    const std::string violation = takeViolation();
    QVERIFY2(violation.empty(), violation.c_str());
    QCOMPARE(ERR_peek_error(), 0UL);
}

std::string TestTicketKeyFile::keyFile(const std::string &name, const std::string &content,
                                       mode_t mode)
{
    const std::string path = m_dir.write(name, content);
    ::chmod(path.c_str(), mode);
    return path;
}

Config TestTicketKeyFile::serverWithFile(const std::string &file, int version) const
{
    Config server = withVersion(m_pki.serverConfig(), version);
    server.ticketKeyLifetime = 60;
    server.ticketKeyFile = file;
    return server;
}

bool TestTicketKeyFile::connect(ContextCache &clients, ContextCache &servers, const Config &server,
                                int version)
{
    const Config client = withVersion(m_pki.clientConfig(), version);
    EnginePair pair(client, server, "localhost", "localhost:443", clients, &servers);
    if (!pair.isValid()) {
        qWarning("%s", pair.setupError().c_str());
        return false;
    }
    if (!pair.handshake() || !pair.closeBoth()) {
        qWarning("%s", state(pair).c_str());
        return false;
    }
    if (pair.client->handshakeInfo().resumed != pair.server->handshakeInfo().resumed)
        qWarning("the two ends disagree on resumption: %s", state(pair).c_str());
    return pair.client->handshakeInfo().resumed;
}

void TestTicketKeyFile::keysFromTheSameSecretsAgree()
{
    const std::string secret = randomBytes(80);
    TicketKeys one(std::chrono::seconds(60), SecretString(secret), m_wall.clock());
    TicketKeys two(std::chrono::seconds(60), SecretString(secret), m_wall.clock());
    const std::string name = encryptingKeyName(one);
    QCOMPARE(name.size(), size_t(16));
    QCOMPARE(encryptingKeyName(two), name);
    QCOMPARE(decryptAnswer(two, name), 1);
}

void TestTicketKeyFile::keysFromOtherSecretsDisagree()
{
    TicketKeys one(std::chrono::seconds(60), SecretString(randomBytes(80)), m_wall.clock());
    TicketKeys two(std::chrono::seconds(60), SecretString(randomBytes(80)), m_wall.clock());
    const std::string name = encryptingKeyName(one);
    QVERIFY(!name.empty());
    QVERIFY(encryptingKeyName(two) != name);
    QCOMPARE(decryptAnswer(two, name), 0);
    // Random keys, made by each object, never agree either.
    TicketKeys random1(std::chrono::seconds(60), securesocket::engine::steadyClock());
    TicketKeys random2(std::chrono::seconds(60), securesocket::engine::steadyClock());
    QCOMPARE(decryptAnswer(random2, encryptingKeyName(random1)), 0);
}

void TestTicketKeyFile::keysFollowTheWallClockPeriod()
{
    const std::string secret = randomBytes(80);
    TicketKeys keys(std::chrono::seconds(60), SecretString(secret), m_wall.clock());
    TicketKeys late(std::chrono::seconds(60), SecretString(secret), m_wall.clock());
    const std::string first = encryptingKeyName(keys);
    m_wall.now += std::chrono::seconds(29); // the last second of the period
    QCOMPARE(encryptingKeyName(keys), first);
    m_wall.now += std::chrono::seconds(1); // the next period
    const std::string second = encryptingKeyName(keys);
    QVERIFY(second != first);
    QCOMPARE(decryptAnswer(keys, second), 1);
    QCOMPARE(decryptAnswer(keys, first), 2); // the previous period: accepted, renewed
    // A neighbour whose clock runs behind ours still opens our tickets (as one ahead).
    m_wall.now -= std::chrono::seconds(60);
    QCOMPARE(decryptAnswer(late, second), 2);
    m_wall.now += std::chrono::seconds(120); // two periods after the first
    QCOMPARE(decryptAnswer(keys, first), 0);
    QCOMPARE(decryptAnswer(keys, second), 2);
}

void TestTicketKeyFile::periodsAreFloored()
{
    using std::chrono::seconds;
    using std::chrono::system_clock;
    QCOMPARE(TicketKeys::periodAt(system_clock::time_point(seconds(0)), seconds(60)), int64_t(0));
    QCOMPARE(TicketKeys::periodAt(system_clock::time_point(seconds(59)), seconds(60)), int64_t(0));
    QCOMPARE(TicketKeys::periodAt(system_clock::time_point(seconds(60)), seconds(60)), int64_t(1));
    QCOMPARE(TicketKeys::periodAt(system_clock::time_point(seconds(-1)), seconds(60)), int64_t(-1));
    QCOMPARE(TicketKeys::periodAt(system_clock::time_point(seconds(3600 * 24)), seconds(3600)),
             int64_t(24));
}

void TestTicketKeyFile::sameFileResumesInAnotherProcess_data()
{
    addVersionColumn();
}

void TestTicketKeyFile::sameFileResumesInAnotherProcess()
{
    QFETCH(int, version);
    ContextCache clients;
    ContextCache first(32, securesocket::engine::steadyClock(), m_wall.clock());
    ContextCache second(32, securesocket::engine::steadyClock(), m_wall.clock());
    const Config server = serverWithFile(m_fileA, version);
    QVERIFY(!connect(clients, first, server, version));
    // Again and again in one process (a TLS 1.2 session too: OpenSSL retires the one offered
    // when it renews its ticket).
    QVERIFY2(connect(clients, first, server, version), "the same process");
    QVERIFY2(connect(clients, first, server, version), "the same process, renewed");
    QVERIFY2(connect(clients, second, server, version), "a ticket of the other process");
    QVERIFY2(connect(clients, first, server, version), "a ticket the second process renewed");
    // A restart: a cache made afresh, with the same file.
    ContextCache restarted(32, securesocket::engine::steadyClock(), m_wall.clock());
    QVERIFY2(connect(clients, restarted, server, version), "a ticket from before the restart");
}

void TestTicketKeyFile::otherFileDoesNotResume()
{
    ContextCache clients;
    ContextCache first(32, securesocket::engine::steadyClock(), m_wall.clock());
    ContextCache second(32, securesocket::engine::steadyClock(), m_wall.clock());
    QVERIFY(!connect(clients, first, serverWithFile(m_fileA)));
    QVERIFY2(!connect(clients, second, serverWithFile(m_fileB)), "another file's ticket");
    // The file counts by its content: the same secret under another name agrees.
    const std::string copy = keyFile("b-copy.key", [&] {
        QFile file(QString::fromStdString(m_fileB));
        file.open(QIODevice::ReadOnly);
        return file.readAll().toStdString();
    }());
    QVERIFY2(connect(clients, first, serverWithFile(copy)), "the same secret in another file");
}

void TestTicketKeyFile::randomKeysDoNotResumeInAnotherProcess()
{
    ContextCache clients;
    ContextCache first(32, securesocket::engine::steadyClock(), m_wall.clock());
    ContextCache second(32, securesocket::engine::steadyClock(), m_wall.clock());
    const Config server = serverWithFile({});
    QVERIFY(!connect(clients, first, server));
    QVERIFY2(connect(clients, first, server), "the same process");
    QVERIFY2(!connect(clients, second, server), "random keys of another process");
}

void TestTicketKeyFile::previousPeriodResumesOlderDoesNot()
{
    // Two clients get tickets in one period. A period later the first still resumes (its
    // ticket renewed); two periods later the second one's ticket resumes nowhere.
    ContextCache renewing;
    ContextCache waiting;
    ContextCache first(32, securesocket::engine::steadyClock(), m_wall.clock());
    ContextCache second(32, securesocket::engine::steadyClock(), m_wall.clock());
    const Config server = serverWithFile(m_fileA);
    QVERIFY(!connect(renewing, first, server));
    QVERIFY(!connect(waiting, first, server));
    m_wall.now += std::chrono::seconds(60);
    QVERIFY2(connect(renewing, second, server), "a ticket of the previous period");
    m_wall.now += std::chrono::seconds(60);
    QVERIFY2(connect(renewing, first, server), "the renewed ticket, a period old");
    QVERIFY2(!connect(waiting, second, server), "a ticket two periods old");
    m_wall.now -= std::chrono::seconds(120);
}

void TestTicketKeyFile::laterSecretsOfTheFileStillDecrypt()
{
    // Replacing a secret without losing sessions: the new secret first, the old one after it.
    std::string oldSecret, newSecret;
    {
        QFile file(QString::fromStdString(m_fileA));
        QVERIFY(file.open(QIODevice::ReadOnly));
        oldSecret = file.readAll().toStdString();
        newSecret = randomBytes(80);
    }
    const std::string both = keyFile("both.key", newSecret + oldSecret);
    const std::string onlyNew = keyFile("new.key", newSecret);
    ContextCache oldClients, newClients;
    ContextCache before(32, securesocket::engine::steadyClock(), m_wall.clock());
    ContextCache after(32, securesocket::engine::steadyClock(), m_wall.clock());
    QVERIFY(!connect(oldClients, before, serverWithFile(m_fileA)));
    QVERIFY2(connect(oldClients, after, serverWithFile(both)), "a ticket of the second secret");
    // The ticket renewed there is of the new secret, which the old file does not hold.
    QVERIFY(!connect(newClients, after, serverWithFile(both)));
    QVERIFY2(connect(newClients, after, serverWithFile(onlyNew)), "the first secret encrypts");
    QVERIFY2(!connect(newClients, before, serverWithFile(m_fileA)),
             "the old file knows no new secret");
}

void TestTicketKeyFile::changedFileGivesANewContext()
{
    ContextCache servers(32, securesocket::engine::steadyClock(), m_wall.clock());
    const std::string path = keyFile("changing.key", randomBytes(80));
    std::string error;
    const auto before = servers.get(serverWithFile(path), Role::Server, &error);
    QVERIFY2(before, error.c_str());
    QCOMPARE(servers.get(serverWithFile(path), Role::Server, &error), before);
    const std::string replacement = keyFile("changing.key.new", randomBytes(80));
    QVERIFY(::rename(replacement.c_str(), path.c_str()) == 0);
    const auto after = servers.get(serverWithFile(path), Role::Server, &error);
    QVERIFY2(after, error.c_str());
    QVERIFY(after != before);
}

void TestTicketKeyFile::badFilesAreRefusedNamingTheFile_data()
{
    QTest::addColumn<QByteArray>("content"); // "missing": no file; "directory": a directory
    QTest::addColumn<int>("mode");
    QTest::addColumn<QString>("expected"); // a part of the error
    QTest::newRow("missing") << QByteArray("missing") << 0600 << "No such file or directory";
    QTest::newRow("directory") << QByteArray("directory") << 0700 << "is not a regular file";
    QTest::newRow("empty") << QByteArray() << 0600 << "is empty: make one with `openssl rand 80";
    QTest::newRow("79 bytes") << QByteArray(79, 'x') << 0600 << "holds 79 bytes";
    QTest::newRow("81 bytes") << QByteArray(81, 'x') << 0600 << "holds 81 bytes";
    QTest::newRow("base64 text") << QByteArray(QByteArray(80, 'x').toBase64() + '\n') << 0600
                                 << "holds 109 bytes";
    QTest::newRow("17 secrets") << QByteArray(17 * 80, 'x') << 0600 << "holds 1360 bytes";
    QTest::newRow("world-readable") << QByteArray(80, 'x') << 0644
                                    << "readable or writable by "
                                       "every user";
    QTest::newRow("world-writable") << QByteArray(80, 'x') << 0602 << "chmod 600";
}

void TestTicketKeyFile::badFilesAreRefusedNamingTheFile()
{
    QFETCH(QByteArray, content);
    QFETCH(int, mode);
    QFETCH(QString, expected);
    std::string path = m_dir.path(std::string("bad-") + QTest::currentDataTag() + ".key");
    if (content == "directory")
        QVERIFY(::mkdir(path.c_str(), static_cast<mode_t>(mode)) == 0 || errno == EEXIST);
    else if (content != "missing")
        path = keyFile(std::string("bad-") + QTest::currentDataTag() + ".key",
                       content.toStdString(), static_cast<mode_t>(mode));
    ContextCache servers(32, securesocket::engine::steadyClock(), m_wall.clock());
    std::string error;
    QVERIFY(!servers.get(serverWithFile(path), Role::Server, &error));
    const QString message = QString::fromStdString(error);
    QVERIFY2(message.contains("session ticket key file '" + QString::fromStdString(path) + "'"),
             qPrintable(message));
    QVERIFY2(message.contains(expected), qPrintable(message));
    // Good sizes load: one secret and sixteen.
    QVERIFY(servers.get(serverWithFile(keyFile("one.key", randomBytes(80))), Role::Server, &error));
    QVERIFY(servers.get(serverWithFile(keyFile("sixteen.key", randomBytes(16 * 80))), Role::Server,
                        &error));
}

void TestTicketKeyFile::badFileIsRefusedEvenWithoutTickets()
{
    ContextCache servers(32, securesocket::engine::steadyClock(), m_wall.clock());
    Config server = serverWithFile(keyFile("short.key", "short"));
    server.sessionTicketCount = 0;
    std::string error;
    QVERIFY(!servers.get(server, Role::Server, &error));
    QVERIFY2(QString::fromStdString(error).contains("holds 5 bytes"), error.c_str());
}

void TestTicketKeyFile::clientIgnoresTheTicketKeyFile()
{
    // SecureConfiguration gives the file to server contexts only; the engine's client contexts
    // never read it either.
    ContextCache clients;
    Config client = m_pki.clientConfig();
    client.ticketKeyFile = m_dir.path("no-such.key");
    std::string error;
    QVERIFY2(clients.get(client, Role::Client, &error), error.c_str());
}

void TestTicketKeyFile::exportedSessionResumesInAFreshClient_data()
{
    addVersionColumn();
}

void TestTicketKeyFile::exportedSessionResumesInAFreshClient()
{
    QFETCH(int, version);
    ContextCache servers(32, securesocket::engine::steadyClock(), m_wall.clock());
    const Config server = serverWithFile(m_fileA, version);
    const Config client = withVersion(m_pki.clientConfig(), version);
    std::string blob;
    {
        ContextCache clients;
        EnginePair first(client, server, "localhost", "localhost:443", clients, &servers);
        QVERIFY2(first.handshake(), state(first).c_str());
        QVERIFY2(first.closeBoth(), state(first).c_str());
        QCOMPARE(first.client.eventCount(Event::SessionStored), 1);
        blob = first.client->exportSession();
        QVERIFY(!blob.empty());
        QVERIFY(securesocket::engine::isSessionBlob(blob));
        QVERIFY(first.server->exportSession().empty()); // a server exports nothing
    }
    // A restarted client: a fresh cache, the blob given to its first connection.
    ContextCache clients;
    std::string error;
    auto context = clients.get(client, Role::Client, &error);
    QVERIFY2(context, error.c_str());
    EnginePair pair(client, server, "localhost", "localhost:443", clients, &servers);
    pair.client.connection = std::make_unique<Connection>(
        context, "localhost", "localhost:443", securesocket::engine::PskProvider(), blob);
    QCOMPARE(pair.client->sessionImport(), SessionImport::Used);
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QVERIFY(pair.client->handshakeInfo().resumed);
    QVERIFY(pair.server->handshakeInfo().resumed);
    QVERIFY2(pair.closeBoth(), state(pair).c_str());
}

void TestTicketKeyFile::exportedSessionIsBoundToHostNameAndSettings_data()
{
    QTest::addColumn<QString>("peerName");
    QTest::addColumn<QString>("sessionKey");
    QTest::addColumn<bool>("otherSettings");
    QTest::addColumn<bool>("used");
    QTest::newRow("the same") << "localhost"
                              << "localhost:443" << false << true;
    QTest::newRow("another port") << "localhost"
                                  << "localhost:8443" << false << false;
    QTest::newRow("another host") << "localhost"
                                  << "127.0.0.1:443" << false << false;
    QTest::newRow("another name") << "127.0.0.1"
                                  << "localhost:443" << false << false;
    QTest::newRow("other settings") << "localhost"
                                    << "localhost:443" << true << false;
}

void TestTicketKeyFile::exportedSessionIsBoundToHostNameAndSettings()
{
    QFETCH(QString, peerName);
    QFETCH(QString, sessionKey);
    QFETCH(bool, otherSettings);
    QFETCH(bool, used);
    ContextCache servers(32, securesocket::engine::steadyClock(), m_wall.clock());
    const Config server = serverWithFile(m_fileA);
    const Config client = withVersion(m_pki.clientConfig(), TLS1_3_VERSION);
    std::string blob;
    {
        ContextCache clients;
        EnginePair first(client, server, "localhost", "localhost:443", clients, &servers);
        QVERIFY2(first.handshake() && first.closeBoth(), state(first).c_str());
        blob = first.client->exportSession();
        QVERIFY(!blob.empty());
    }
    Config other = client;
    if (otherSettings)
        other.useSystemCas = true; // trusts more: a session verified with less must not pass
    ContextCache clients;
    std::string error;
    auto context = clients.get(other, Role::Client, &error);
    QVERIFY2(context, error.c_str());
    EnginePair pair(other, server, peerName.toStdString(), sessionKey.toStdString(), clients,
                    &servers);
    pair.client.connection =
        std::make_unique<Connection>(context, peerName.toStdString(), sessionKey.toStdString(),
                                     securesocket::engine::PskProvider(), blob);
    QCOMPARE(pair.client->sessionImport(),
             used ? SessionImport::Used : SessionImport::OtherBinding);
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QCOMPARE(pair.client->handshakeInfo().resumed, used);
}

void TestTicketKeyFile::noExportAfterForgivenFailures()
{
    ContextCache servers(32, securesocket::engine::steadyClock(), m_wall.clock());
    ContextCache clients;
    const Config client = withVersion(m_pki.clientConfig(), TLS1_3_VERSION);
    EnginePair pair(client, serverWithFile(m_fileA), "wrong.example", "wrong.example:443", clients,
                    &servers);
    pair.client->setAcceptedFailures({VerifyError::HostnameMismatch});
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QVERIFY2(pair.closeBoth(), state(pair).c_str());
    QCOMPARE(codes(pair.client->verifyFailures()), QString("hostname-mismatch"));
    QCOMPARE(pair.client.eventCount(Event::SessionStored), 0);
    QVERIFY(pair.client->exportSession().empty());
}

void TestTicketKeyFile::garbageBlobsAreIgnored()
{
    ContextCache servers(32, securesocket::engine::steadyClock(), m_wall.clock());
    const Config server = serverWithFile(m_fileA);
    const Config client = withVersion(m_pki.clientConfig(), TLS1_3_VERSION);
    std::string blob;
    {
        ContextCache clients;
        EnginePair first(client, server, "localhost", "localhost:443", clients, &servers);
        QVERIFY2(first.handshake() && first.closeBoth(), state(first).c_str());
        blob = first.client->exportSession();
        QVERIFY(!blob.empty());
    }
    ContextCache clients;
    std::string error;
    auto context = clients.get(client, Role::Client, &error);
    QVERIFY2(context, error.c_str());
    std::mt19937 random(15);
    std::vector<std::string> blobs;
    for (size_t size = 0; size < blob.size(); size += 1 + size / 8)
        blobs.push_back(blob.substr(0, size)); // truncated
    blobs.push_back(blob + "x");               // something after the end
    for (int i = 0; i < 200; ++i) {            // one byte flipped
        std::string flipped = blob;
        flipped[random() % flipped.size()] ^= static_cast<char>(1 + random() % 255);
        blobs.push_back(flipped);
    }
    for (int i = 0; i < 100; ++i) { // random bytes, some behind a valid header
        std::string noise(random() % 600, '\0');
        for (char &c : noise)
            c = static_cast<char>(random());
        blobs.push_back(i % 2 ? noise : blob.substr(0, 5) + noise);
    }
    int used = 0;
    for (const std::string &garbage : blobs) {
        Connection connection(context, "localhost", "localhost:443", {}, garbage);
        QVERIFY(!connection.isFailed());
        if (connection.sessionImport() == SessionImport::Used)
            ++used; // a flip in a part OpenSSL does not check (the ticket, the time...)
        else if (!garbage.empty())
            QVERIFY(!securesocket::engine::isSessionBlob(garbage) ||
                    connection.sessionImport() != SessionImport::None);
        QCOMPARE(ERR_peek_error(), 0UL);
    }
    QVERIFY2(used < 200, "most flips make a blob that is refused");
    // And the genuine one still works after all that.
    Connection genuine(context, "localhost", "localhost:443", {}, blob);
    QCOMPARE(genuine.sessionImport(), SessionImport::Used);
}

QTEST_GUILESS_MAIN(TestTicketKeyFile)
#include "tst_ticketkeyfile.moc"
