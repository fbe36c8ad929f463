// Records the seed corpus of the fuzz targets from real handshakes between two engines in
// memory: TLS 1.3 and 1.2, with ALPN, with a client certificate, verified, and resumed. What the
// client sent becomes a seed of fuzz_engine_server, what the server sent one of
// fuzz_engine_client, each behind the option and split bytes that select the same settings
// (fuzzsupport.h). It also writes the PEM seeds of fuzz_pem_loading.
//
//   record_corpus OUTPUT_DIR     writes OUTPUT_DIR/<target>/<name>, replacing what is there
//
// The certificates are made afresh on each run: the seeds differ from run to run, not in shape.
#include "fuzzsupport.h"

#include <openssl/err.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

using namespace fuzzsupport;
using securesocket::engine::Phase;
using securesocket::engine::Status;
using securesocket::engine::VerifyMode;

namespace {

struct Streams
{
    std::string fromClient;
    std::string fromServer;
};

// Moves every byte each side sends to the other until nothing moves; returns what each sent.
void pump(Connection &client, Connection &server, Streams &streams)
{
    char buffer[16384];
    for (int round = 0; round < 64; ++round) {
        const std::string toServer = client.takeOutput();
        streams.fromClient += toServer;
        server.feed(toServer.data(), toServer.size());
        server.process();
        while (server.read(buffer, sizeof buffer).status == Status::Data) {
        }
        const std::string toClient = server.takeOutput();
        streams.fromServer += toClient;
        client.feed(toClient.data(), toClient.size());
        client.process();
        while (client.read(buffer, sizeof buffer).status == Status::Data) {
        }
        client.takeEvents();
        server.takeEvents();
        if (toServer.empty() && toClient.empty())
            return;
    }
}

// A full conversation: handshake, a request and its answer, close_notify both ways.
Streams converse(const Config &clientConfig, const Config &serverConfig,
                 const std::string &sessionKey = {})
{
    static ContextCache cache; // a resumed conversation finds the session of the one before
    std::string error;
    auto clientContext = cache.get(clientConfig, Role::Client, &error);
    auto serverContext = cache.get(serverConfig, Role::Server, &error);
    if (!clientContext || !serverContext)
        throw std::runtime_error("context: " + error);
    Connection client(clientContext, "localhost", sessionKey);
    Connection server(serverContext, std::string());
    Streams streams;
    pump(client, server, streams);
    if (client.phase() != Phase::Data || server.phase() != Phase::Data)
        throw std::runtime_error("handshake failed: " + client.error().message + " / " +
                                 server.error().message);
    const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    client.write(request.data(), request.size());
    pump(client, server, streams);
    const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    server.write(reply.data(), reply.size());
    pump(client, server, streams);
    client.shutdown();
    pump(client, server, streams);
    server.shutdown();
    pump(client, server, streams);
    if (ERR_peek_error() != 0)
        throw std::runtime_error("OpenSSL error queue not empty");
    return streams;
}

void writeSeed(const std::filesystem::path &dir, const std::string &name, const std::string &data)
{
    std::filesystem::create_directories(dir);
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out)
        throw std::runtime_error("cannot write " + (dir / name).string());
}

std::string header(uint8_t options, uint8_t splitSeed)
{
    return std::string{static_cast<char>(options), static_cast<char>(splitSeed)};
}

void recordEngineSeeds(const std::filesystem::path &out)
{
    struct Scenario
    {
        const char *name;
        uint8_t serverOptions; // see serverConfig(); bits 4-7 only steer the driver
        uint8_t clientOptions; // see clientConfig()
    };
    // Client options 2: no verification (the target's root differs from this run's anyway).
    const Scenario scenarios[] = {
        {"tls13", 0x20, 0x02},
        {"tls12", 0x04 | 0x20, 0x04 | 0x02},
        {"tls13-alpn", 0x01 | 0x20, 0x20 | 0x02},
        {"tls12-alpn", 0x01 | 0x04 | 0x20, 0x20 | 0x04 | 0x02},
        {"tls13-client-certificate", 0x02 | 0x10 | 0x20, 0x40 | 0x02},
        {"tls12-client-certificate", 0x02 | 0x04 | 0x10 | 0x20, 0x40 | 0x04 | 0x02},
        {"tls13-verified", 0x08 | 0x20 | 0x40, 0x08 | 0x10},
        {"tls12-verified-eof", 0x04 | 0x20 | 0x80, 0x04 | 0x10 | 0x80},
    };
    uint8_t split = 0;
    for (const Scenario &s : scenarios) {
        const Streams streams =
            converse(clientConfig(s.clientOptions), serverConfig(s.serverOptions));
        writeSeed(out / "fuzz_engine_server", s.name,
                  header(s.serverOptions, split) + streams.fromClient);
        writeSeed(out / "fuzz_engine_client", s.name,
                  header(s.clientOptions, split) + streams.fromServer);
        split = static_cast<uint8_t>(split + 37);
    }

    // Resumption: a verified first connection stores the session, the second offers it.
    for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        const uint8_t versionBits = version == TLS1_3_VERSION ? 0x08 : 0x04;
        Config client = clientConfig(versionBits | 0x10);
        client.sessionResumption = true;
        const Config server = serverConfig(versionBits | 0x20);
        converse(client, server, "localhost:443");
        const Streams resumed = converse(client, server, "localhost:443");
        const std::string name = version == TLS1_3_VERSION ? "tls13-resumed" : "tls12-resumed";
        writeSeed(out / "fuzz_engine_server", name,
                  header(versionBits | 0x20, 3) + resumed.fromClient);
        writeSeed(out / "fuzz_engine_client", name,
                  header(versionBits | 0x12, 3) + resumed.fromServer);
    }
}

void recordPemSeeds(const std::filesystem::path &out)
{
    const std::filesystem::path dir = out / "fuzz_pem_loading";
    const auto seed = [&dir](const char *name, uint8_t options, const std::string &pem) {
        writeSeed(dir, name, std::string(1, static_cast<char>(options)) + pem);
    };
    testpki::CertSpec rootSpec;
    rootSpec.commonName = "Seed Root";
    rootSpec.isCa = true;
    const testpki::Issued root = testpki::makeCertificate(rootSpec);
    testpki::CertSpec intermediateSpec;
    intermediateSpec.commonName = "Seed Intermediate";
    intermediateSpec.isCa = true;
    intermediateSpec.keyType = testpki::KeyType::Rsa2048;
    const testpki::Issued intermediate = testpki::makeCertificate(intermediateSpec, &root);
    testpki::CertSpec leafSpec;
    leafSpec.commonName = "localhost";
    leafSpec.dnsNames = {"localhost"};
    leafSpec.ipAddresses = {"127.0.0.1", "::1"};
    leafSpec.keyType = testpki::KeyType::Ed25519;
    const testpki::Issued leaf = testpki::makeCertificate(leafSpec, &intermediate);

    const std::string chain = leaf.certPem + intermediate.certPem;
    seed("chain", 0, chain);
    seed("chain-truncated", 0, chain.substr(0, chain.size() / 2 + 17));
    seed("ca-one", 2, root.certPem);
    seed("ca-bundle", 2 | 8, root.certPem + "\n# comment between blocks\n" + intermediate.certPem);
    seed("ca-truncated", 2 | 8, root.certPem.substr(0, root.certPem.size() - 40));
    seed("chain-with-text", 0 | 8, "Subject: CN=localhost\n" + leaf.certPem);
    // No whole private key is committed, even a throwaway one: only a cut one, which reaches
    // the scanner's key blocks but decrypts to nothing.
    const std::string encryptedLeafKey = testpki::encryptKey(leaf.keyPem, "fuzzing");
    seed("encrypted-key-truncated", 1 | 4,
         encryptedLeafKey.substr(0, encryptedLeafKey.size() * 2 / 3));
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
        return 2;
    }
    try {
        const std::filesystem::path out = argv[1];
        recordEngineSeeds(out);
        recordPemSeeds(out);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "record_corpus: %s\n", e.what());
        return 1;
    }
    return 0;
}
