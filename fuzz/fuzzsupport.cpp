#include "fuzzsupport.h"

#include <openssl/err.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace fuzzsupport {

using securesocket::engine::Io;
using securesocket::engine::Phase;
using securesocket::engine::ReadResult;
using securesocket::engine::Status;
using securesocket::engine::VerifyMode;

namespace {

// Far more than a stream of the fuzzer's maximum length needs; a bug that loops is a finding.
constexpr int kMaxReadsPerStep = 64;

void applyVersions(Config &config, uint8_t bits)
{
    if (bits == 1)
        config.maxVersion = TLS1_2_VERSION;
    else if (bits == 2)
        config.minVersion = TLS1_3_VERSION;
}

// xorshift32: cheap, and the same cuts on every run for the same seed.
uint32_t nextRandom(uint32_t &state)
{
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

// One piece of the stream as the network of the calls it is given to: receive() hands it over,
// send() takes everything (as takeOutput() would).
class PieceIo final : public Io
{
public:
    PieceIo(const uint8_t *data, size_t size) : m_data(data), m_left(size) {}
    size_t send(const char *, size_t size) override { return size; }
    size_t receive(char *buffer, size_t capacity) override
    {
        const size_t n = std::min(capacity, m_left);
        std::memcpy(buffer, m_data, n);
        m_data += n;
        m_left -= n;
        return n;
    }
    const uint8_t *rest() const { return m_data; }
    size_t left() const { return m_left; }

private:
    const uint8_t *m_data;
    size_t m_left;
};

void requireContract(const Connection &connection, const ReadResult &result)
{
    if ((result.size > 0) == (result.status == Status::Data) &&
        (result.size > 0 || result.status == connection.status()))
        return;
    std::fprintf(stderr, "fuzz: read() returned %zu bytes with status %d, status() says %d\n",
                 result.size, static_cast<int>(result.status),
                 static_cast<int>(connection.status()));
    std::abort();
}

void step(Connection &connection, const Drive &how, bool &wrote, Io *io = nullptr)
{
    connection.process(io);
    requireEmptyErrorQueue("process");
    char buffer[4096];
    for (int i = 0; i < kMaxReadsPerStep; ++i) {
        const ReadResult result = connection.read(buffer, sizeof buffer, io);
        requireEmptyErrorQueue("read");
        requireContract(connection, result);
        if (result.status != Status::Data)
            break;
    }
    if (connection.phase() == Phase::VerifyPending) {
        connection.resolveVerification(how.acceptVerification, io);
        requireEmptyErrorQueue("resolveVerification");
    }
    if (how.writeWhenReady && !wrote && connection.phase() == Phase::Data) {
        static const char kReply[] = "HTTP/1.1 200 OK\r\n\r\n";
        connection.write(kReply, sizeof kReply - 1, io);
        requireEmptyErrorQueue("write");
        wrote = true;
    }
    connection.takeOutput();
    requireEmptyErrorQueue("takeOutput");
    connection.takeEvents();
    requireEmptyErrorQueue("takeEvents");
}

} // namespace

const Pki &pki()
{
    static const Pki made = [] {
        Pki p;
        testpki::CertSpec root;
        root.commonName = "Fuzz Root";
        root.isCa = true;
        p.root = testpki::makeCertificate(root);
        testpki::CertSpec server;
        server.commonName = "localhost";
        server.dnsNames = {"localhost"};
        p.server = testpki::makeCertificate(server, &p.root);
        testpki::CertSpec client;
        client.commonName = "client";
        p.client = testpki::makeCertificate(client, &p.root);
        return p;
    }();
    return made;
}

Config serverConfig(uint8_t options)
{
    Config config;
    config.certChainPem = pki().server.certPem;
    config.keyPem = pki().server.keyPem;
    config.useSystemCas = false;
    config.verifyMode = VerifyMode::None;
    switch (options & 3) {
    case 1:
        config.alpn = {"h2", "http/1.1"};
        break;
    case 2:
    case 3:
        config.caPem = pki().root.certPem;
        config.verifyMode = (options & 3) == 2 ? VerifyMode::Verify : VerifyMode::Query;
        break;
    }
    applyVersions(config, (options >> 2) & 3);
    return config;
}

Config clientConfig(uint8_t options)
{
    Config config;
    config.useSystemCas = false;
    config.caPem = pki().root.certPem;
    config.sessionResumption = false; // no state carried from one input to the next
    const uint8_t verify = options & 3;
    config.verifyMode =
        verify == 0 ? VerifyMode::Verify : (verify == 1 ? VerifyMode::Query : VerifyMode::None);
    applyVersions(config, (options >> 2) & 3);
    if (options & 0x20)
        config.alpn = {"h2", "http/1.1"};
    if (options & 0x40) {
        config.certChainPem = pki().client.certPem;
        config.keyPem = pki().client.keyPem;
    }
    return config;
}

std::shared_ptr<const Context> context(const Config &config, Role role)
{
    static ContextCache cache(256); // the targets use up to 128 settings: every one is kept
    std::string error;
    auto context = cache.get(config, role, &error);
    requireEmptyErrorQueue("ContextCache::get");
    if (!context) {
        std::fprintf(stderr, "fuzz: cannot build the context: %s\n", error.c_str());
        std::abort();
    }
    return context;
}

void drive(Connection &connection, const uint8_t *stream, size_t size, const Drive &how)
{
    uint32_t random = 0x9e3779b9u ^ (how.splitSeed * 0x01000193u);
    bool wrote = false;
    size_t pieces = 0;
    step(connection, how, wrote);
    for (size_t done = 0; done < size;) {
        // Mostly small pieces (record headers cut anywhere), sometimes large ones.
        const uint32_t limit = nextRandom(random) % 4 == 0 ? 20000 : 16;
        const size_t piece = std::min<size_t>(1 + nextRandom(random) % limit, size - done);
        if (((++pieces ^ how.splitSeed) & 1) == 0) {
            connection.feed(reinterpret_cast<const char *>(stream + done), piece);
            requireEmptyErrorQueue("feed");
            step(connection, how, wrote);
        } else {
            PieceIo io(stream + done, piece);
            step(connection, how, wrote, &io);
            // What the engine did not take (it waits for a decision, or failed) comes next.
            connection.feed(reinterpret_cast<const char *>(io.rest()), io.left());
            requireEmptyErrorQueue("feed");
        }
        done += piece;
    }
    if (how.shutdownAtEnd) {
        connection.shutdown();
        requireEmptyErrorQueue("shutdown");
        step(connection, how, wrote);
    }
    if (how.eofAtEnd) {
        connection.feedEof();
        requireEmptyErrorQueue("feedEof");
        step(connection, how, wrote);
    }
}

void requireEmptyErrorQueue(const char *after)
{
    const unsigned long code = ERR_peek_error();
    if (code == 0)
        return;
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    std::fprintf(stderr, "fuzz: OpenSSL error queue not empty after %s: %s\n", after, text);
    std::abort();
}

} // namespace fuzzsupport
