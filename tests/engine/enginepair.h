// In-memory test helpers for the sans-I/O engine, in the style of rustls' tests: a client and a
// server Connection wired back to back, moving ciphertext between them in whole, one byte at a
// time, in random (seeded) splits, or through an in-memory Io given to each call. No socket, no
// event loop: every step is deterministic. Every read() and process() is checked against the
// contract (a size > 0 exactly with Status::Data; otherwise the status is status()).
#ifndef SECURESOCKET_TESTS_ENGINEPAIR_H
#define SECURESOCKET_TESTS_ENGINEPAIR_H

#include "connection.h"

#include <QStringList>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace enginetest {

using securesocket::engine::Config;
using securesocket::engine::Connection;
using securesocket::engine::ContextCache;
using securesocket::engine::Error;
using securesocket::engine::Event;
using securesocket::engine::Io;
using securesocket::engine::Phase;
using securesocket::engine::ReadResult;
using securesocket::engine::Role;
using securesocket::engine::Status;

// How ciphertext is handed to the receiving side.
enum class Delivery {
    Whole,        // all pending bytes in one feed(): records arrive coalesced
    OneByte,      // one byte per feed(), with process() and reads after each byte
    RandomSplits, // chunks of random size (seeded), with process() and reads after each
    ZeroCopy,     // like RandomSplits, through outputView()/consumeOutput() (partial) and
                  // inputSpace()/commitInput() (committing less than the space, sometimes 0)
    ThroughIo,    // every process(), read() and shutdown() of the pair is given the side's
                  // MemoryIo: sends taken in part, input received in random small pieces
};

// An in-memory network as one engine call sees it. send() appends to outbound what it takes of
// each offer: all, half, nothing, in turn (or all, with takeAll); receive() gives the front of
// inbound in random small pieces (seeded), and sometimes nothing. It records a violation (see
// takeViolation()) when it is used while not lent to a call (see Lend).
class MemoryIo final : public Io
{
public:
    size_t send(const char *data, size_t size) override;
    size_t receive(char *buffer, size_t capacity) override;

    // Marks io as lent for one engine call (null: nothing).
    struct Lend
    {
        explicit Lend(MemoryIo *io);
        ~Lend();
        Lend(const Lend &) = delete;
        Lend &operator=(const Lend &) = delete;
        MemoryIo *io;
    };

    std::string *outbound = nullptr;
    std::string *inbound = nullptr;
    // When set, every offer must be all of owner's queued output, from its front (the bytes
    // takeOutput() would give, in the same order); a violation is recorded otherwise.
    const Connection *owner = nullptr;
    bool takeAll = false;
    std::mt19937 random{1};
    bool lent = false;
    std::vector<size_t> offers; // the size of each send(), in order
    size_t receives = 0;        // calls of receive()
};

// One end of the pair and what the test has collected from it so far.
struct Side
{
    std::unique_ptr<Connection> connection;
    std::string received;      // every byte of plaintext read
    std::vector<Event> events; // every event taken, in order
    MemoryIo io;               // used with Delivery::ThroughIo

    Connection *operator->() const { return connection.get(); }
    Phase phase() const { return connection->phase(); }
    bool hasEvent(Event::Kind kind) const { return eventCount(kind) > 0; }
    int eventCount(Event::Kind kind) const;
    // The first AlertReceived (or AlertSent) event, or null.
    const Event *firstAlert(Event::Kind kind) const;
    // "phase Failed, error Protocol: <message>, events [HandshakeDone, ...]", for messages.
    std::string describe() const;
};

class EnginePair
{
public:
    // Builds the two contexts (from cache; the server's from serverCache if given) and the
    // two connections; the client checks the server against peerName and, with a sessionKey,
    // resumes and stores sessions under it. When a context cannot be built, isValid() is false
    // and setupError() says why.
    EnginePair(const Config &clientConfig, const Config &serverConfig,
               const std::string &peerName = "localhost", const std::string &sessionKey = {},
               ContextCache &cache = ContextCache::shared(), ContextCache *serverCache = nullptr);

    bool isValid() const { return client.connection && server.connection; }
    const std::string &setupError() const { return m_setupError; }

    Side client;
    Side server;

    void setDelivery(Delivery delivery, uint32_t seed = 1);

    // One round: all pending output of the client goes to the server, then all of the server's
    // to the client. Each receiver processes, its plaintext is read and its events collected.
    // Returns the number of ciphertext bytes moved.
    size_t transfer();
    // One direction only.
    size_t transfer(Side &from, Side &to);
    // Rounds of transfer() until a round moves nothing, at most maxRounds. Returns the rounds
    // that moved bytes.
    int run(int maxRounds = 32);
    // Rounds of transfer() until neither side is in Phase::Handshake any more (both done, one
    // failed or paused in VerifyPending) or nothing moves. True when both are past the
    // handshake (Data, Shutdown or Closed).
    bool handshake(int maxRounds = 16);
    // Both sides send close_notify (the client first) and the pair runs until both are Closed.
    // True when both are.
    bool closeBoth();

    // Gives bytes to side as if they came from the network, with the current delivery mode.
    void deliver(Side &to, const std::string &bytes);
    // Reads all plaintext of side into side.received and takes its events.
    void drain(Side &side);
    // process(), write() and shutdown() with the side's Io in Delivery::ThroughIo, without
    // otherwise.
    Status process(Side &side);
    void write(Side &side, const std::string &data);
    void shutdown(Side &side);
    // The side's Io in Delivery::ThroughIo, else null.
    MemoryIo *io(Side &side);

private:
    void feedChunk(Side &to, const char *data, size_t size);
    size_t transferZeroCopy(Side &from, Side &to);
    size_t receiveThroughIo(Side &to);

    std::string m_setupError;
    Delivery m_delivery = Delivery::Whole;
    std::mt19937 m_random{1};
    std::string m_toServer; // ciphertext on the way, with Delivery::ThroughIo
    std::string m_toClient;
};

// True for Data, Shutdown and Closed.
bool pastHandshake(Phase phase);

// Records the engine call after which the thread's OpenSSL error queue was first found not
// empty (and empties it so that the next check is independent).
void checkErrorQueue(const char *operation);
// Records a read() result that breaks the contract of connection.h: a size > 0 exactly with
// Status::Data; with size 0, the connection's status().
void checkReadResult(const Connection &connection, const ReadResult &result);
// Records a violation of the engine's contract (the first one since the last take is kept).
void recordViolation(const std::string &what);
// The first violation recorded since the last call, or "" (then forgets it).
std::string takeViolation();

// The failures as verifyErrorName() names ("expired"), with "@depth" when withDepth is set.
QStringList failureNames(const std::vector<securesocket::engine::VerifyFailure> &failures,
                         bool withDepth = false);

// size bytes of deterministic pseudo-random data.
std::string patternData(size_t size, uint32_t seed);
// "" when equal, else where and how actual differs from expected.
std::string firstDifference(const std::string &actual, const std::string &expected);

const char *phaseName(Phase phase);
const char *statusName(Status status);
const char *errorKindName(Error::Kind kind);
const char *eventKindName(Event::Kind kind);

} // namespace enginetest

// Readable QCOMPARE failures for the engine's enums (found by argument-dependent lookup).
namespace securesocket::engine {
char *toString(Phase phase);
char *toString(Status status);
char *toString(Error::Kind kind);
char *toString(Event::Kind kind);
} // namespace securesocket::engine
char *toString(VerifyError error);

#endif
