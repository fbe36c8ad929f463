// securesocket-bench-engine: the engine alone, in memory, no sockets. Two Connections back to
// back (client and server); prints one JSON object on stdout. Run by securesocket-bench, which
// links the shared library: this program links the static engine instead, so the two never
// share a process (each would hold its own context cache).
//
//   securesocket-bench-engine --dir PKI [--bytes N] [--mode pipeline|single] [--handshakes S]
//
// pipeline: the client engine encrypts on one core and the server engine decrypts on the
// other, 64 KiB writes handed over in blocks, as the two-process socket figure does (through
// an Io given to each call, each block copied once on each side as send() and recv() would);
// single: both in one thread. --handshakes S also counts in-memory full and resumed handshakes for
// S seconds each.
#include "connection.h"
#include "context.h"

#include <QCoreApplication>
#include <QDir>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <openssl/crypto.h>
#include <sched.h>
#include <time.h>

using namespace securesocket::engine;

namespace {

constexpr size_t kWrite = 64 * 1024;
constexpr size_t kQueueBlocks = 8;

double wallSeconds()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

double threadCpuSeconds()
{
    timespec time{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time);
    return double(time.tv_sec) + double(time.tv_nsec) / 1e9;
}

bool pinThread(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

struct Settings
{
    std::string dir;
    size_t bytes = size_t(1) << 30;
    bool pipeline = true;
    double handshakeSeconds = 0;
};

Config clientConfig(const Settings &s, bool resumption)
{
    Config c;
    c.caFile = s.dir + "/ca.pem";
    c.useSystemCas = false;
    c.minVersion = TLS1_3_VERSION;
    c.cipherSuites = "TLS_AES_256_GCM_SHA384";
    c.sessionResumption = resumption;
    return c;
}

Config serverConfig(const Settings &s)
{
    Config c;
    c.certChainFile = s.dir + "/ecdsa.pem";
    c.keyFile = s.dir + "/ecdsa.key";
    c.verifyMode = VerifyMode::None;
    c.useSystemCas = false;
    c.minVersion = TLS1_3_VERSION;
    c.cipherSuites = "TLS_AES_256_GCM_SHA384";
    return c;
}

// Moves every pending output byte of from into to; returns how many moved.
size_t move(Connection &from, Connection &to, std::string &wire)
{
    wire.resize(from.pendingOutput());
    wire.resize(from.takeOutput(wire.data(), wire.size()));
    if (!wire.empty()) {
        to.feed(wire.data(), wire.size());
        to.process();
    }
    return wire.size();
}

// Reads (and so processes post-handshake messages such as tickets) until nothing is left.
void drain(Connection &c)
{
    char buffer[16384];
    while (c.read(buffer, sizeof buffer).status == Status::Data) {
    }
}

bool handshake(Connection &client, Connection &server)
{
    std::string wire;
    for (int round = 0; round < 16; ++round) {
        const size_t moved = move(client, server, wire) + move(server, client, wire);
        drain(client);
        drain(server);
        if (moved == 0)
            break;
    }
    return client.phase() == Phase::Data && server.phase() == Phase::Data;
}

struct Pair
{
    std::unique_ptr<Connection> client;
    std::unique_ptr<Connection> server;
    std::string error;
};

Pair connectPair(const std::shared_ptr<const Context> &client,
                 const std::shared_ptr<const Context> &server, const std::string &sessionKey)
{
    Pair pair;
    pair.server = std::make_unique<Connection>(server, std::string());
    pair.client = std::make_unique<Connection>(client, "localhost", sessionKey);
    if (!handshake(*pair.client, *pair.server))
        pair.error = "handshake failed: " + pair.client->error().message + " / " +
                     pair.server->error().message;
    return pair;
}

// A clean close: a session whose connection ends without close_notify is marked unusable
// by OpenSSL (it counts as a failed connection).
void close(Pair &pair)
{
    std::string wire;
    pair.client->shutdown();
    move(*pair.client, *pair.server, wire);
    drain(*pair.server);
    pair.server->shutdown();
    move(*pair.server, *pair.client, wire);
    drain(*pair.client);
}

struct Transfer
{
    double wall = 0;
    double encryptCpu = 0;
    double decryptCpu = 0;
    bool pinned = true;
};

// Both engines in this thread: write 64 KiB, move the ciphertext, read it all.
Transfer transferSingle(Pair &pair, size_t bytes)
{
    const std::vector<char> chunk(kWrite, 'e');
    std::vector<char> plain(kWrite);
    std::string wire;
    size_t sent = 0;
    size_t received = 0;
    const double start = wallSeconds();
    const double cpuStart = threadCpuSeconds();
    while (received < bytes && !pair.server->isFailed()) {
        if (sent < bytes) {
            const size_t n = std::min(kWrite, bytes - sent);
            pair.client->write(chunk.data(), n);
            sent += n;
        }
        move(*pair.client, *pair.server, wire);
        for (ReadResult r; (r = pair.server->read(plain.data(), plain.size())).size > 0;)
            received += r.size;
    }
    Transfer t;
    t.wall = wallSeconds() - start;
    t.encryptCpu = t.decryptCpu = threadCpuSeconds() - cpuStart;
    return t;
}

// Blocks of ciphertext from the encrypting thread to the decrypting one, at most
// kQueueBlocks in flight; emptied blocks go back for reuse.
class BlockQueue
{
public:
    void push(std::string block)
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_changed.wait(lock, [this] { return m_full.size() < kQueueBlocks; });
        m_full.push_back(std::move(block));
        m_changed.notify_all();
    }
    std::string pop()
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_changed.wait(lock, [this] { return !m_full.empty(); });
        std::string block = std::move(m_full.front());
        m_full.pop_front();
        m_changed.notify_all();
        return block;
    }
    void recycle(std::string block)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_empty.push_back(std::move(block));
    }
    std::string fresh()
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_empty.empty())
            return {};
        std::string block = std::move(m_empty.back());
        m_empty.pop_back();
        return block;
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<std::string> m_full;
    std::vector<std::string> m_empty;
};

// The network of one engine call in the pipeline: send() appends to the block being filled,
// receive() takes from the block being read.
struct BlockIo final : Io
{
    std::string *block = nullptr;
    size_t offset = 0;
    size_t send(const char *data, size_t size) override
    {
        block->append(data, size);
        return size;
    }
    size_t receive(char *data, size_t size) override
    {
        const size_t n = std::min(size, block->size() - offset);
        std::memcpy(data, block->data() + offset, n);
        offset += n;
        return n;
    }
};

// The client engine encrypts on CPU 0 while the server engine decrypts on CPU 1.
Transfer transferPipeline(Pair &pair, size_t bytes)
{
    BlockQueue queue;
    Transfer t;
    bool encryptorPinned = false;
    bool decryptorPinned = false;
    const double start = wallSeconds();
    std::thread encryptor([&] {
        encryptorPinned = pinThread(0);
        const double cpuStart = threadCpuSeconds();
        const std::vector<char> chunk(kWrite, 'e');
        // Each write's records go to the block through the Io given to write(), in one offer,
        // as the socket driver sends them: the copy into the block stands for send()'s copy
        // into the kernel.
        std::string block;
        BlockIo io;
        io.block = &block;
        for (size_t sent = 0; sent < bytes;) {
            const size_t n = std::min(kWrite, bytes - sent);
            block = queue.fresh();
            block.clear();
            pair.client->write(chunk.data(), n, &io);
            sent += n;
            queue.push(std::move(block));
        }
        queue.push(std::string()); // end
        t.encryptCpu = threadCpuSeconds() - cpuStart;
    });
    std::thread decryptor([&] {
        decryptorPinned = pinThread(1);
        const double cpuStart = threadCpuSeconds();
        std::vector<char> plain(kWrite);
        size_t received = 0;
        // OpenSSL reads the block straight into its record buffer (through the Io given to
        // process() and read(), as the socket driver receives): one copy, like recv()'s.
        std::string block;
        BlockIo io;
        io.block = &block;
        while (!(block = queue.pop()).empty()) {
            io.offset = 0;
            pair.server->process(&io);
            for (ReadResult r; (r = pair.server->read(plain.data(), plain.size(), &io)).size > 0;)
                received += r.size;
            queue.recycle(std::move(block));
        }
        t.decryptCpu = threadCpuSeconds() - cpuStart;
        if (received != bytes)
            t.wall = -1;
    });
    encryptor.join();
    decryptor.join();
    t.pinned = encryptorPinned && decryptorPinned;
    if (t.wall == 0)
        t.wall = wallSeconds() - start;
    return t;
}

// Sequential in-memory handshakes for `seconds`: per second, and how many were resumed.
QJsonObject handshakeRate(const std::shared_ptr<const Context> &client,
                          const std::shared_ptr<const Context> &server, const std::string &key,
                          double seconds)
{
    int count = 0;
    int resumed = 0;
    const double start = wallSeconds();
    const double cpuStart = threadCpuSeconds();
    while (wallSeconds() - start < seconds) {
        Pair pair = connectPair(client, server, key);
        if (!pair.error.empty())
            return {{"error", QString::fromStdString(pair.error)}};
        ++count;
        resumed += pair.client->handshakeInfo().resumed ? 1 : 0;
        close(pair);
    }
    const double cpu = threadCpuSeconds() - cpuStart;
    return {{"per_s", count / (wallSeconds() - start)},
            {"per_cpu_s", count / cpu},
            {"count", count},
            {"resumed", resumed}};
}

int fail(const std::string &message)
{
    std::printf("%s\n", QJsonDocument(QJsonObject{{"error", QString::fromStdString(message)}})
                            .toJson(QJsonDocument::Compact)
                            .constData());
    return 1;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    auto value = [&args](const char *name, const QString &fallback) {
        const qsizetype at = args.indexOf(QLatin1String(name));
        return at >= 0 && at + 1 < args.size() ? args[at + 1] : fallback;
    };
    Settings s;
    s.dir = QDir::cleanPath(value("--dir", QString())).toStdString();
    s.bytes = value("--bytes", QString::number(qulonglong(s.bytes))).toULongLong();
    s.pipeline = value("--mode", QStringLiteral("pipeline")) != QLatin1String("single");
    s.handshakeSeconds = value("--handshakes", QStringLiteral("0")).toDouble();
    if (s.dir.empty() || s.bytes == 0)
        return fail("usage: securesocket-bench-engine --dir PKI [--bytes N] [--mode M]");

    std::string error;
    ContextCache &cache = ContextCache::shared();
    auto server = cache.get(serverConfig(s), Role::Server, &error);
    auto clientNoResume =
        server ? cache.get(clientConfig(s, false), Role::Client, &error) : nullptr;
    if (!server || !clientNoResume)
        return fail("context: " + error);

    Pair pair = connectPair(clientNoResume, server, std::string());
    if (!pair.error.empty())
        return fail(pair.error);
    const HandshakeInfo &info = pair.client->handshakeInfo();
    const Transfer t = s.pipeline ? transferPipeline(pair, s.bytes) : transferSingle(pair, s.bytes);
    if (t.wall <= 0 || pair.server->isFailed())
        return fail("transfer failed: " + pair.server->error().message);

    const double megabytes = double(s.bytes) / 1e6;
    QJsonObject result{{"mode", s.pipeline ? "pipeline" : "single"},
                       {"bytes", double(s.bytes)},
                       {"mbps_wall", megabytes / t.wall},
                       // Bounded by the busier thread's CPU time: comparable with `openssl speed`,
                       // which divides by CPU time too, whatever else runs on the machine.
                       {"mbps_cpu", megabytes / std::max(t.encryptCpu, t.decryptCpu)},
                       {"encrypt_cpu_s", t.encryptCpu},
                       {"decrypt_cpu_s", t.decryptCpu},
                       {"pinned", t.pinned},
                       {"protocol", QString::fromStdString(info.protocol)},
                       {"cipher", QString::fromStdString(info.cipher)},
                       {"group", QString::fromStdString(info.group)},
                       {"openssl", QString::fromLatin1(OpenSSL_version(OPENSSL_VERSION))}};

    // A client configuration that differs only by resumption must get a context of its own.
    auto clientResume = cache.get(clientConfig(s, true), Role::Client, &error);
    result.insert("context_cache_keeps_resumption_apart",
                  clientResume && clientResume->resumesSessions());
    if (s.handshakeSeconds > 0) {
        // Resumption on, in a context (so a session cache) of its own.
        ContextCache own;
        auto resuming = own.get(clientConfig(s, true), Role::Client, &error);
        if (!resuming)
            return fail("context: " + error);
        result.insert("handshakes_full",
                      handshakeRate(clientNoResume, server, std::string(), s.handshakeSeconds));
        result.insert("handshakes_resumed",
                      handshakeRate(resuming, server, "localhost:443", s.handshakeSeconds));
    }
    std::printf("%s\n", QJsonDocument(result).toJson(QJsonDocument::Compact).constData());
    return 0;
}
