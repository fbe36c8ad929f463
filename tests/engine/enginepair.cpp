#include "enginepair.h"

#include <QByteArray>

#include <openssl/err.h>

#include <algorithm>
#include <cstring>

namespace enginetest {

namespace {

std::string g_violation;

// Upper bound of read() calls in one drain: far more than any test's data needs (16 KiB each).
constexpr int kMaxReadsPerDrain = 1 << 16;

} // namespace

size_t MemoryIo::send(const char *data, size_t size)
{
    if (!lent)
        recordViolation("an Io was sent to outside the engine call it was given to");
    if (owner && (data != owner->outputView().first || size != owner->pendingOutput()))
        recordViolation("an Io was offered something else than all the queued output");
    const size_t turn = offers.size() % 3;
    offers.push_back(size);
    const size_t take = takeAll || turn == 0 ? size : turn == 1 ? size / 2 : 0;
    if (outbound)
        outbound->append(data, take);
    return take;
}

size_t MemoryIo::receive(char *buffer, size_t capacity)
{
    if (!lent)
        recordViolation("an Io was received from outside the engine call it was given to");
    ++receives;
    if (!inbound || inbound->empty() || random() % 8 == 0)
        return 0; // nothing now
    const uint32_t limit = random() % 4 == 0 ? 20000 : 16;
    const size_t n = std::min({capacity, inbound->size(), size_t(1 + random() % limit)});
    std::memcpy(buffer, inbound->data(), n);
    inbound->erase(0, n);
    return n;
}

MemoryIo::Lend::Lend(MemoryIo *io) : io(io)
{
    if (io)
        io->lent = true;
}

MemoryIo::Lend::~Lend()
{
    if (io)
        io->lent = false;
}

int Side::eventCount(Event::Kind kind) const
{
    return static_cast<int>(std::count_if(events.begin(), events.end(),
                                          [kind](const Event &e) { return e.kind == kind; }));
}

const Event *Side::firstAlert(Event::Kind kind) const
{
    for (const Event &event : events) {
        if (event.kind == kind)
            return &event;
    }
    return nullptr;
}

std::string Side::describe() const
{
    if (!connection)
        return "no connection";
    std::string text = std::string("phase ") + phaseName(connection->phase());
    if (connection->error().kind != Error::None)
        text += std::string(", error ") + errorKindName(connection->error().kind) + ": " +
                connection->error().message;
    text += ", events [";
    for (size_t i = 0; i < events.size(); ++i) {
        text += (i ? ", " : "") + std::string(eventKindName(events[i].kind));
        if (!events[i].alert.text.empty())
            text += " '" + events[i].alert.text + "'";
    }
    return text + "]";
}

EnginePair::EnginePair(const Config &clientConfig, const Config &serverConfig,
                       const std::string &peerName, const std::string &sessionKey,
                       ContextCache &cache, ContextCache *serverCache)
{
    client.io.outbound = server.io.inbound = &m_toServer;
    server.io.outbound = client.io.inbound = &m_toClient;
    std::string error;
    auto serverContext =
        (serverCache ? *serverCache : cache).get(serverConfig, Role::Server, &error);
    checkErrorQueue("ContextCache::get(server)");
    if (!serverContext) {
        m_setupError = "server context: " + error;
        return;
    }
    auto clientContext = cache.get(clientConfig, Role::Client, &error);
    checkErrorQueue("ContextCache::get(client)");
    if (!clientContext) {
        m_setupError = "client context: " + error;
        return;
    }
    server.connection = std::make_unique<Connection>(serverContext, std::string());
    checkErrorQueue("Connection(server)");
    client.connection = std::make_unique<Connection>(clientContext, peerName, sessionKey);
    checkErrorQueue("Connection(client)");
    client.io.owner = client.connection.get();
    server.io.owner = server.connection.get();
    drain(server);
    drain(client);
}

void EnginePair::setDelivery(Delivery delivery, uint32_t seed)
{
    m_delivery = delivery;
    m_random.seed(seed);
    client.io.random.seed(seed + 1000);
    server.io.random.seed(seed + 2000);
}

MemoryIo *EnginePair::io(Side &side)
{
    return m_delivery == Delivery::ThroughIo ? &side.io : nullptr;
}

Status EnginePair::process(Side &side)
{
    const MemoryIo::Lend lend(io(side));
    const Status status = side->process(lend.io);
    checkErrorQueue("process");
    if (status != side->status())
        recordViolation(std::string("process() returned ") + statusName(status) +
                        ", status() says " + statusName(side->status()));
    return status;
}

void EnginePair::write(Side &side, const std::string &data)
{
    const MemoryIo::Lend lend(io(side));
    side->write(data.data(), data.size(), lend.io);
    checkErrorQueue("write");
}

void EnginePair::shutdown(Side &side)
{
    const MemoryIo::Lend lend(io(side));
    side->shutdown(lend.io);
    checkErrorQueue("shutdown");
}

size_t EnginePair::transfer()
{
    const size_t toServer = transfer(client, server);
    const size_t toClient = transfer(server, client);
    return toServer + toClient;
}

size_t EnginePair::transfer(Side &from, Side &to)
{
    if (m_delivery == Delivery::ZeroCopy)
        return transferZeroCopy(from, to);
    if (m_delivery == Delivery::ThroughIo) {
        // What the sender's Io did not take, and what calls made without it queued, leave after
        // what it took.
        from.io.outbound->append(from->takeOutput());
        checkErrorQueue("takeOutput");
        return receiveThroughIo(to);
    }
    const std::string bytes = from->takeOutput();
    checkErrorQueue("takeOutput");
    if (!bytes.empty())
        deliver(to, bytes);
    return bytes.size();
}

// Sends from the sender's view in random pieces, each received straight into the receiver's
// input space, as a socket driver would with send() and recv().
size_t EnginePair::transferZeroCopy(Side &from, Side &to)
{
    size_t moved = 0;
    for (;;) {
        const std::pair<const char *, size_t> view = from->outputView();
        checkErrorQueue("outputView");
        if (view.second == 0)
            break;
        const uint32_t limit = m_random() % 4 == 0 ? 20000 : 16;
        const size_t size = std::min<size_t>(1 + m_random() % limit, view.second);
        const std::pair<char *, size_t> space = to->inputSpace(size);
        checkErrorQueue("inputSpace");
        if (space.first == nullptr || space.second < size)
            return moved; // the test fails on the missing bytes
        std::memcpy(space.first, view.first, size);
        if (m_random() % 8 == 0) {
            to->commitInput(0); // a receive that got nothing
            checkErrorQueue("commitInput");
        }
        to->commitInput(size);
        checkErrorQueue("commitInput");
        from->consumeOutput(size);
        checkErrorQueue("consumeOutput");
        moved += size;
        process(to);
        drain(to);
    }
    return moved;
}

// The receiver's calls take its inbound bytes through its Io until none are left, or until a
// few turns in a row take nothing (the receiver failed, or waits for a decision).
size_t EnginePair::receiveThroughIo(Side &to)
{
    std::string &wire = *to.io.inbound;
    const size_t before = wire.size();
    for (int idle = 0; !wire.empty() && idle < 16;) {
        const size_t left = wire.size();
        process(to);
        drain(to);
        idle = wire.size() < left ? 0 : idle + 1;
    }
    return before - wire.size();
}

int EnginePair::run(int maxRounds)
{
    int rounds = 0;
    while (rounds < maxRounds && transfer() > 0)
        ++rounds;
    return rounds;
}

bool EnginePair::handshake(int maxRounds)
{
    for (int round = 0; round < maxRounds; ++round) {
        if (client.phase() != Phase::Handshake && server.phase() != Phase::Handshake)
            break;
        if (transfer() == 0)
            break;
    }
    return pastHandshake(client.phase()) && pastHandshake(server.phase());
}

bool EnginePair::closeBoth()
{
    shutdown(client);
    run();
    shutdown(server);
    run();
    drain(client);
    drain(server);
    return client.phase() == Phase::Closed && server.phase() == Phase::Closed;
}

void EnginePair::deliver(Side &to, const std::string &bytes)
{
    switch (m_delivery) {
    case Delivery::ThroughIo:
        to.io.inbound->append(bytes);
        receiveThroughIo(to);
        return;
    case Delivery::Whole:
        feedChunk(to, bytes.data(), bytes.size());
        return;
    case Delivery::OneByte:
        for (size_t i = 0; i < bytes.size(); ++i)
            feedChunk(to, bytes.data() + i, 1);
        return;
    case Delivery::RandomSplits:
    case Delivery::ZeroCopy:
        for (size_t done = 0; done < bytes.size();) {
            // Mostly small pieces (record headers cut anywhere), sometimes whole records.
            const uint32_t limit = m_random() % 4 == 0 ? 20000 : 16;
            const size_t size = std::min<size_t>(1 + m_random() % limit, bytes.size() - done);
            feedChunk(to, bytes.data() + done, size);
            done += size;
        }
        return;
    }
}

void EnginePair::feedChunk(Side &to, const char *data, size_t size)
{
    to->feed(data, size);
    checkErrorQueue("feed");
    process(to);
    drain(to);
}

void EnginePair::drain(Side &side)
{
    char buffer[16384];
    const MemoryIo::Lend lend(io(side));
    for (int i = 0; i < kMaxReadsPerDrain; ++i) {
        const ReadResult result = side->read(buffer, sizeof buffer, lend.io);
        checkErrorQueue("read");
        checkReadResult(*side.connection, result);
        if (result.status != Status::Data)
            break;
        side.received.append(buffer, result.size);
    }
    std::vector<Event> events = side->takeEvents();
    checkErrorQueue("takeEvents");
    side.events.insert(side.events.end(), events.begin(), events.end());
}

bool pastHandshake(Phase phase)
{
    return phase == Phase::Data || phase == Phase::Shutdown || phase == Phase::Closed;
}

void checkErrorQueue(const char *operation)
{
    const unsigned long code = ERR_peek_error();
    if (code == 0)
        return;
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    recordViolation(std::string("OpenSSL error queue not empty after ") + operation + ": " + text);
    ERR_clear_error();
}

void checkReadResult(const Connection &connection, const ReadResult &result)
{
    if ((result.size > 0) != (result.status == Status::Data))
        recordViolation("read() returned " + std::to_string(result.size) + " bytes with status " +
                        statusName(result.status));
    else if (result.size == 0 && result.status != connection.status())
        recordViolation(std::string("read() returned nothing with status ") +
                        statusName(result.status) + ", status() says " +
                        statusName(connection.status()));
}

void recordViolation(const std::string &what)
{
    if (g_violation.empty())
        g_violation = what;
}

std::string takeViolation()
{
    std::string violation;
    violation.swap(g_violation);
    return violation;
}

QStringList failureNames(const std::vector<securesocket::engine::VerifyFailure> &failures,
                         bool withDepth)
{
    QStringList names;
    for (const auto &failure : failures) {
        const char *name = verifyErrorName(failure.code);
        QString text = name ? QString::fromLatin1(name) : QString::number(int(failure.code));
        if (withDepth)
            text += QLatin1Char('@') + QString::number(failure.depth);
        names << text;
    }
    return names;
}

std::string patternData(size_t size, uint32_t seed)
{
    std::mt19937 random(seed);
    std::string data(size, '\0');
    for (size_t i = 0; i < size; ++i)
        data[i] = static_cast<char>(random() & 0xff);
    return data;
}

std::string firstDifference(const std::string &actual, const std::string &expected)
{
    if (actual == expected)
        return {};
    const size_t common = std::min(actual.size(), expected.size());
    size_t i = 0;
    while (i < common && actual[i] == expected[i])
        ++i;
    return "got " + std::to_string(actual.size()) + " bytes, expected " +
           std::to_string(expected.size()) + "; first difference at offset " + std::to_string(i);
}

const char *phaseName(Phase phase)
{
    switch (phase) {
    case Phase::Handshake:
        return "Handshake";
    case Phase::VerifyPending:
        return "VerifyPending";
    case Phase::Data:
        return "Data";
    case Phase::Shutdown:
        return "Shutdown";
    case Phase::Closed:
        return "Closed";
    case Phase::Failed:
        return "Failed";
    }
    return "?";
}

const char *statusName(Status status)
{
    switch (status) {
    case Status::Ok:
        return "Ok";
    case Status::Data:
        return "Data";
    case Status::NeedInput:
        return "NeedInput";
    case Status::VerifyPending:
        return "VerifyPending";
    case Status::PeerClosed:
        return "PeerClosed";
    case Status::Truncated:
        return "Truncated";
    case Status::Failed:
        return "Failed";
    }
    return "?";
}

const char *errorKindName(Error::Kind kind)
{
    switch (kind) {
    case Error::None:
        return "None";
    case Error::Config:
        return "Config";
    case Error::Protocol:
        return "Protocol";
    case Error::Incompatible:
        return "Incompatible";
    case Error::Certificate:
        return "Certificate";
    case Error::AlertReceived:
        return "AlertReceived";
    case Error::Truncated:
        return "Truncated";
    case Error::Internal:
        return "Internal";
    }
    return "?";
}

const char *eventKindName(Event::Kind kind)
{
    switch (kind) {
    case Event::HandshakeDone:
        return "HandshakeDone";
    case Event::VerifyFailed:
        return "VerifyFailed";
    case Event::AlertSent:
        return "AlertSent";
    case Event::AlertReceived:
        return "AlertReceived";
    case Event::CloseNotify:
        return "CloseNotify";
    case Event::Closed:
        return "Closed";
    case Event::Failed:
        return "Failed";
    case Event::SessionStored:
        return "SessionStored";
    }
    return "?";
}

} // namespace enginetest

namespace securesocket::engine {
char *toString(Phase phase)
{
    return qstrdup(enginetest::phaseName(phase));
}
char *toString(Status status)
{
    return qstrdup(enginetest::statusName(status));
}
char *toString(Error::Kind kind)
{
    return qstrdup(enginetest::errorKindName(kind));
}
char *toString(Event::Kind kind)
{
    return qstrdup(enginetest::eventKindName(kind));
}
} // namespace securesocket::engine

char *toString(VerifyError error)
{
    const char *name = verifyErrorName(error);
    return qstrdup(name ? name : QByteArray::number(static_cast<int>(error)).constData());
}
