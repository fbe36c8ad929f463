#include "fuzzsupport.h"

#include <openssl/err.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace fuzzsupport {

using securesocket::engine::Phase;
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

void step(Connection &connection, const Drive &how, bool &wrote)
{
    connection.process();
    requireEmptyErrorQueue("process");
    char buffer[4096];
    for (int i = 0; i < kMaxReadsPerStep && connection.read(buffer, sizeof buffer) > 0; ++i)
        requireEmptyErrorQueue("read");
    requireEmptyErrorQueue("read");
    if (connection.phase() == Phase::VerifyPending) {
        connection.resolveVerification(how.acceptVerification);
        requireEmptyErrorQueue("resolveVerification");
    }
    if (how.writeWhenReady && !wrote && connection.phase() == Phase::Data) {
        static const char kReply[] = "HTTP/1.1 200 OK\r\n\r\n";
        connection.write(kReply, sizeof kReply - 1);
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
    step(connection, how, wrote);
    for (size_t done = 0; done < size;) {
        // Mostly small pieces (record headers cut anywhere), sometimes large ones.
        const uint32_t limit = nextRandom(random) % 4 == 0 ? 20000 : 16;
        const size_t piece = std::min<size_t>(1 + nextRandom(random) % limit, size - done);
        connection.feed(reinterpret_cast<const char *>(stream + done), piece);
        requireEmptyErrorQueue("feed");
        done += piece;
        step(connection, how, wrote);
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
