#include "measure.h"

#include <QPointer>
#include <QtEndian>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

namespace bench {

namespace {

constexpr qint64 kChunk = 64 * 1024;
// Write-side bound: plaintext accepted but not yet in the kernel (for QSslSocket, encrypted
// bytes pending as well).
constexpr qint64 kWindow = 1024 * 1024;

// Disconnects our handlers first: a closing socket may still signal. The socket may be
// deleted meanwhile (by a deleteLater() of its own).
void finish(QTcpSocket *socket, QObject *handlers)
{
    QObject::disconnect(socket, nullptr, handlers, nullptr);
    const QPointer<QTcpSocket> guard(socket);
    if (socket->state() == QAbstractSocket::UnconnectedState)
        return;
    closeSocket(socket);
    const bool closed = spin(
        [&guard] { return !guard || guard->state() == QAbstractSocket::UnconnectedState; }, 5000);
    if (!closed && guard)
        abortSocket(guard);
}

QString timedOut(const QString &error)
{
    return error.isEmpty() ? QStringLiteral("timed out") : error;
}

} // namespace

Sample measureBulk(const ClientMaker &maker, quint16 port, qint64 bytes)
{
    Sample sample;
    QObject handlers;
    const std::unique_ptr<QTcpSocket> owner(maker.create(nullptr));
    QTcpSocket *socket = owner.get();
    const QByteArray chunk(kChunk, 'b');
    qint64 sent = 0;
    double start = 0;
    double end = 0;
    double cpuStart = 0;
    bool started = false;
    bool pumping = false;
    bool done = false;
    QString error;

    auto pump = [&] {
        if (!started || pumping)
            return;
        pumping = true;
        while (sent < bytes && pendingWrite(socket) < kWindow) {
            const qint64 n = std::min(kChunk, bytes - sent);
            if (socket->write(chunk.constData(), n) != n) {
                error = QStringLiteral("write failed: ") + socket->errorString();
                break;
            }
            sent += n;
        }
        pumping = false;
    };
    onReady(socket, &handlers, [&] {
        const SessionInfo info = sessionInfo(socket);
        sample.info.insert(QStringLiteral("protocol"), info.protocol);
        sample.info.insert(QStringLiteral("cipher"), info.cipher);
        sample.info.insert(QStringLiteral("group"), info.group);
        char header[8];
        qToLittleEndian<qint64>(bytes, header);
        start = nowMs();
        cpuStart = threadCpuMs();
        started = true;
        socket->write(header, sizeof header);
        pump();
    });
    onWritten(socket, &handlers, pump);
    QByteArray answer;
    double serverCpuMs = kNaN;
    QObject::connect(socket, &QIODevice::readyRead, &handlers, [&] {
        answer += socket->readAll();
        if (answer.startsWith('K') && answer.endsWith('\n')) {
            end = nowMs();
            serverCpuMs = answer.mid(1).trimmed().toDouble();
            done = true;
            wake();
        }
    });
    onFailure(socket, &handlers, [&](const QString &message) {
        error = message;
        wake();
    });
    maker.connectTo(socket, port);
    spin([&] { return done || !error.isEmpty(); }, 300000);
    const double cpu = threadCpuMs() - cpuStart;
    finish(socket, &handlers);
    if (!done) {
        sample.error = timedOut(error);
        return sample;
    }
    sample.value = double(bytes) / 1e6 / ((end - start) / 1e3);
    sample.info.insert(QStringLiteral("thread_cpu_s"), cpu / 1e3);
    sample.info.insert(QStringLiteral("server_cpu_s"), serverCpuMs / 1e3);
    return sample;
}

namespace {

// Sequential connections from the client: each is closed from the client as soon as
// `answered` says so, and the next starts at once, as long as `more` holds.
struct Sequence
{
    std::function<bool()> more;                           // start another connection?
    std::function<void(QTcpSocket *, QObject *)> prepare; // its handlers, before connectTo
    std::function<bool(QTcpSocket *)> answered;           // on readyRead: done with it?
};

// Returns the error that stopped the sequence, if any. Connections still closing (the next one
// starts as soon as close is called, so that a library that waits for the peer's close_notify
// is not charged that round trip) are finished before it returns.
QString runSequence(ClientMaker &maker, quint16 port, const Sequence &sequence, int timeoutMs)
{
    QObject handlers;
    QList<QPointer<QTcpSocket>> closing;
    bool finished = false;
    QString error;
    std::function<void()> next = [&] {
        if (!sequence.more()) {
            finished = true;
            wake();
            return;
        }
        QTcpSocket *socket = maker.create(nullptr);
        closing.removeIf([](const QPointer<QTcpSocket> &s) { return s.isNull(); });
        closing.append(socket);
        QObject::connect(socket, &QIODevice::readyRead, &handlers, [&, socket] {
            if (!sequence.answered(socket))
                return;
            maker.learnSession(socket);
            QObject::disconnect(socket, nullptr, &handlers, nullptr);
            QObject::connect(socket, &QAbstractSocket::disconnected, socket, &QObject::deleteLater);
            closeSocket(socket);
            if (error.isEmpty())
                next();
        });
        onFailure(socket, &handlers, [&](const QString &message) {
            error = message;
            finished = true;
            wake();
        });
        if (sequence.prepare)
            sequence.prepare(socket, &handlers);
        maker.connectTo(socket, port);
    };
    next();
    const bool done = spin([&] { return finished; }, timeoutMs);
    for (const QPointer<QTcpSocket> &socket : closing) {
        if (socket)
            finish(socket, &handlers);
    }
    for (const QPointer<QTcpSocket> &socket : closing)
        delete socket.data();
    return !error.isEmpty() ? error : done ? QString() : QStringLiteral("timed out");
}

} // namespace

Sample measureHandshakes(ClientMaker &maker, quint16 port, double ms)
{
    Sample sample;
    int count = 0;
    int serverResumed = 0;
    int serverUnknown = 0;
    int clientResumed = 0;
    int clientKnown = 0;
    double firstServerCpu = kNaN; // the server's CPU time as told by its greetings
    double lastServerCpu = kNaN;
    const double start = nowMs();
    const double cpuStart = threadCpuMs();
    double end = start;
    Sequence sequence;
    sequence.more = [&] {
        end = nowMs();
        return end - start < ms;
    };
    sequence.answered = [&](QTcpSocket *socket) {
        if (!socket->canReadLine())
            return false;
        const QByteArray line = socket->readLine();
        const char verdict = line.isEmpty() ? 0 : line[0];
        const double serverCpu = line.mid(1).trimmed().toDouble();
        if (std::isnan(firstServerCpu))
            firstServerCpu = serverCpu;
        lastServerCpu = serverCpu;
        ++count;
        serverResumed += verdict == 'R' ? 1 : 0;
        serverUnknown += verdict == '?' ? 1 : 0;
        if (const std::optional<bool> resumed = clientSaysResumed(socket)) {
            ++clientKnown;
            clientResumed += *resumed ? 1 : 0;
        }
        return true;
    };
    const QString error = runSequence(maker, port, sequence, int(ms) + 60000);
    const double cpu = threadCpuMs() - cpuStart;
    if (!error.isEmpty() || count == 0) {
        sample.error = timedOut(error);
        return sample;
    }
    sample.value = count / ((end - start) / 1e3);
    sample.info = {{"count", count},
                   {"resumed_server_view", serverResumed},
                   {"unknown_server_view", serverUnknown},
                   {"client_cpu_ms_per_handshake", cpu / count}};
    if (count > 1)
        sample.info.insert(QStringLiteral("server_cpu_ms_per_handshake"),
                           (lastServerCpu - firstServerCpu) / (count - 1));
    if (clientKnown > 0)
        sample.info.insert(QStringLiteral("resumed_client_view"), clientResumed);
    return sample;
}

Sample measureLatency(ClientMaker &maker, quint16 port, int count, bool clientFirst)
{
    Sample sample;
    QList<double> latencies;
    latencies.reserve(count);
    double start = 0;
    Sequence sequence;
    sequence.more = [&] { return latencies.size() < count; };
    sequence.prepare = [&](QTcpSocket *socket, QObject *handlers) {
        if (clientFirst)
            onReady(socket, handlers, [socket] { socket->write("hello\n"); });
        start = nowMs(); // the clock starts at connectTo(): connectToHostEncrypted()
    };
    sequence.answered = [&](QTcpSocket *socket) {
        if (socket->bytesAvailable() <= 0)
            return false;
        latencies.append(nowMs() - start);
        socket->readAll();
        return true;
    };
    const QString error = runSequence(maker, port, sequence, 120000 + count * 1000);
    if (!error.isEmpty()) {
        sample.error = error;
        return sample;
    }
    sample.value = median(latencies);
    sample.value2 = percentile(latencies, 0.99);
    sample.info = {{"count", count}, {"max_ms", percentile(latencies, 1)}};
    return sample;
}

Sample measureConcurrent(const ClientMaker &maker, quint16 port, int count)
{
    Sample sample;
    QObject handlers;
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    int ready = 0;
    QString error;
    for (int i = 0; i < count; ++i) {
        QTcpSocket *socket = maker.create(nullptr);
        sockets.emplace_back(socket);
        onReady(socket, &handlers, [&] {
            ++ready;
            if (ready == count)
                wake();
        });
        onFailure(socket, &handlers, [&](const QString &message) {
            error = message;
            wake();
        });
    }
    const double start = nowMs();
    for (const auto &socket : sockets)
        maker.connectTo(socket.get(), port);
    spin([&] { return ready == count || !error.isEmpty(); }, 120000);
    const double elapsed = nowMs() - start;
    for (const auto &socket : sockets)
        QObject::disconnect(socket.get(), nullptr, &handlers, nullptr);
    for (const auto &socket : sockets)
        closeSocket(socket.get());
    spin(
        [&] {
            return std::all_of(sockets.begin(), sockets.end(), [](const auto &s) {
                return s->state() == QAbstractSocket::UnconnectedState;
            });
        },
        10000);
    if (ready != count) {
        sample.error = error.isEmpty()
                           ? QStringLiteral("%1 of %2 encrypted in time").arg(ready).arg(count)
                           : error;
        return sample;
    }
    sample.value = elapsed;
    sample.info.insert(QStringLiteral("count"), count);
    return sample;
}

Sample measureEcho(const ClientMaker &maker, quint16 port, int count)
{
    Sample sample;
    QObject handlers;
    const std::unique_ptr<QTcpSocket> owner(maker.create(nullptr));
    QTcpSocket *socket = owner.get();
    const QByteArray message(64, 'p');
    QList<double> rtts;
    rtts.reserve(count);
    qint64 pending = 0;
    double sentAt = 0;
    bool done = false;
    QString error;

    onReady(socket, &handlers, [&] {
        sentAt = nowMs();
        socket->write(message);
    });
    QObject::connect(socket, &QIODevice::readyRead, &handlers, [&] {
        char buffer[512];
        for (qint64 got; (got = socket->read(buffer, sizeof buffer)) > 0;)
            pending += got;
        while (pending >= message.size() && !done) {
            pending -= message.size();
            rtts.append((nowMs() - sentAt) * 1e3);
            if (rtts.size() == count) {
                done = true;
                wake();
                return;
            }
            sentAt = nowMs();
            socket->write(message);
        }
    });
    onFailure(socket, &handlers, [&](const QString &message) {
        error = message;
        wake();
    });
    maker.connectTo(socket, port);
    spin([&] { return done || !error.isEmpty(); }, 300000);
    finish(socket, &handlers);
    if (!done) {
        sample.error = timedOut(error);
        return sample;
    }
    sample.value = median(rtts);
    sample.value2 = percentile(rtts, 0.99);
    sample.info.insert(QStringLiteral("count"), count);
    return sample;
}

} // namespace bench
