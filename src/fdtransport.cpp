// FdTransport: a connected TCP descriptor read and written directly (POSIX), and the
// lingering close that keeps reading after our side has closed.
#include "fdtransport_p.h"
#include "testhooks_p.h"

#include <QCoreApplication>
#include <QPointer>
#include <QSocketNotifier>
#include <QThread>
#include <QTimer>
#include <QVariant>

#include <deque>
#include <mutex>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {
thread_local quint64 t_sendCalls = 0;     // for securesocket::testing::sendCallsOnThisThread()
thread_local quint64 t_reportsPosted = 0; // for ...::writeEventsPostedOnThisThread()

// Pending bytes are compacted once this much of the front was sent.
constexpr qint64 kCompactAt = 256 * 1024;
// How long a closed connection goes on reading what the peer still sends, and how many such
// connections a process keeps at most (the oldest is closed first: a program that connects
// and closes in a loop without an event loop must not run out of descriptors).
constexpr int kLingerMs = 2000;
constexpr size_t kMaxLingering = 64;

// Our side is closed: the rest of what we had to send (close_notify, say) is sent, then our
// FIN, and what the peer still sends is read and dropped until its end of stream, or until
// kLingerMs pass without progress; then the descriptor is closed. Without this, data arriving
// after close() makes the kernel answer with a reset, and a reset makes the peer's kernel drop
// what it received from us and has not delivered yet (our last answer, say).
class Lingerer : public QObject
{
public:
    // finSent: the transport already ended our direction (no second shutdown()).
    static void start(int fd, QByteArray pending, bool finSent)
    {
        // parentless: outlives the socket
        auto *lingerer = new Lingerer(fd, std::move(pending), finSent);
        if (lingerer->progress()) { // done at once: no notifier, no timer was needed
            delete lingerer;
            return;
        }
        lingerer->watch();
        std::lock_guard<std::mutex> lock(mutex());
        all().push_back(lingerer);
        if (all().size() > kMaxLingering) {
            Lingerer *oldest = all().front();
            all().pop_front();
            oldest->deleteLater();
        }
    }

private:
    Lingerer(int fd, QByteArray pending, bool finSent)
        : m_fd(fd), m_pending(std::move(pending)), m_finSent(finSent && m_pending.isEmpty())
    {}

    ~Lingerer() override
    {
        {
            std::lock_guard<std::mutex> lock(mutex());
            auto &list = all();
            list.erase(std::remove(list.begin(), list.end(), this), list.end());
        }
        delete m_reader;
        delete m_writer;
        ::close(m_fd);
    }

    // From the first wait on: a notifier for what it waits for (writing only while bytes are
    // pending), and the timer that ends the wait.
    void watch()
    {
        const auto onActivity = [this] {
            m_timer.start(kLingerMs);
            if (progress())
                deleteLater();
        };
        m_reader = new QSocketNotifier(m_fd, QSocketNotifier::Read, this);
        connect(m_reader, &QSocketNotifier::activated, this, onActivity);
        if (!m_pending.isEmpty()) {
            m_writer = new QSocketNotifier(m_fd, QSocketNotifier::Write, this);
            connect(m_writer, &QSocketNotifier::activated, this, onActivity);
        }
        m_timer.setSingleShot(true);
        connect(&m_timer, &QTimer::timeout, this, &QObject::deleteLater);
        m_timer.start(kLingerMs);
        QThread *thread = QThread::currentThread();
        if (!QCoreApplication::instance() || thread != QCoreApplication::instance()->thread())
            connect(thread, &QThread::finished, this, &QObject::deleteLater);
    }

    // Sends what it can, then the FIN, and reads what waits; true once done (the peer's end of
    // stream, or an error).
    bool progress()
    {
        while (!m_pending.isEmpty()) {
            const ssize_t sent = ::send(m_fd, m_pending.constData(),
                                        static_cast<size_t>(m_pending.size()), MSG_NOSIGNAL);
            if (sent < 0 && errno == EINTR)
                continue;
            if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (sent < 0)
                return true;
            m_pending.remove(0, sent);
        }
        if (m_writer)
            m_writer->setEnabled(!m_pending.isEmpty());
        if (m_pending.isEmpty() && !m_finSent) {
            m_finSent = true;
            ::shutdown(m_fd, SHUT_WR);
        }
        char sink[16 * 1024];
        for (;;) {
            const ssize_t got = ::recv(m_fd, sink, sizeof sink, 0);
            if (got > 0 || (got < 0 && errno == EINTR))
                continue;
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return false;
            if (m_reader)
                m_reader->setEnabled(false);
            return true;
        }
    }

    // Never destroyed, so that lingerers still open at exit stay reachable (leak checkers
    // run after static destructors).
    static std::mutex &mutex()
    {
        static auto *m = new std::mutex;
        return *m;
    }
    // Every live lingerer, oldest first.
    static std::deque<Lingerer *> &all()
    {
        static auto *list = new std::deque<Lingerer *>;
        return *list;
    }

    int m_fd;
    QByteArray m_pending;
    QSocketNotifier *m_reader = nullptr; // children, made by watch()
    QSocketNotifier *m_writer = nullptr;
    QTimer m_timer;
    bool m_finSent = false;
};

// The setsockopt() level and name of a QAbstractSocket option.
bool optionName(QAbstractSocket::SocketOption option, int *level, int *name)
{
    *level = SOL_SOCKET;
    switch (option) {
    case QAbstractSocket::LowDelayOption:
        *level = IPPROTO_TCP;
        *name = TCP_NODELAY;
        return true;
    case QAbstractSocket::KeepAliveOption:
        *name = SO_KEEPALIVE;
        return true;
    case QAbstractSocket::SendBufferSizeSocketOption:
        *name = SO_SNDBUF;
        return true;
    case QAbstractSocket::ReceiveBufferSizeSocketOption:
        *name = SO_RCVBUF;
        return true;
    case QAbstractSocket::TypeOfServiceOption:
        *level = IPPROTO_IP;
        *name = IP_TOS;
        return true;
    default:
        return false;
    }
}
} // namespace

FdTransport::FdTransport(int fd, QObject *context, TransportClient &client)
    : m_fd(fd), m_context(context), m_client(client),
      m_readNotifier(new QSocketNotifier(fd, QSocketNotifier::Read, context))
{
    // Level-triggered: the handler reads until nothing is left or stops reading on purpose
    // (then it turns reading off), so no wake-up is lost or repeated in vain.
    QObject::connect(m_readNotifier, &QSocketNotifier::activated, context,
                     [this] { m_client.readable(); });
}

// Made the first time the kernel refuses bytes: most connections never fill their send
// buffer, and each notifier made and destroyed costs the event dispatcher system calls.
void FdTransport::watchWritable(bool on)
{
    if (!m_writeNotifier) {
        if (!on)
            return;
        m_writeNotifier = new QSocketNotifier(m_fd, QSocketNotifier::Write, m_context);
        QObject::connect(m_writeNotifier, &QSocketNotifier::activated, m_context,
                         [this] { onWritable(); });
    }
    m_writeNotifier->setEnabled(on);
}

FdTransport::~FdTransport()
{
    *m_alive = false;
    release(); // nobody is left to tell
    delete m_readNotifier.data();
    delete m_writeNotifier.data();
}

void FdTransport::closeDescriptor()
{
    if (m_readNotifier)
        m_readNotifier->setEnabled(false);
    watchWritable(false);
    m_fd = -1;
    m_pending.clear();
    m_pendingOffset = 0;
}

void FdTransport::abort()
{
    if (m_fd < 0)
        return;
    const int fd = m_fd;
    closeDescriptor();
    ::close(fd);
    m_closed = nullptr;
}

void FdTransport::close(std::function<void()> closed)
{
    if (m_fd < 0) {
        closed();
        return;
    }
    m_closed = std::move(closed);
    flush();
    scheduleReport(); // finishes the close from the event loop once the queue is sent
}

// The descriptor goes to a Lingerer with what is still queued, unless the peer's end was
// seen already.
void FdTransport::finishClose()
{
    const int fd = m_fd;
    const bool linger = m_end == End::Open && !m_writeFailed;
    QByteArray pending = m_pending.mid(m_pendingOffset);
    closeDescriptor();
    if (linger)
        Lingerer::start(fd, std::move(pending), m_finSent);
    else
        ::close(fd);
    if (auto closed = std::exchange(m_closed, nullptr))
        closed();
}

void FdTransport::release()
{
    m_closed = nullptr;
    if (m_fd >= 0)
        finishClose();
}

// The stream ended (err 0) or failed. The descriptor stays open until close(): a peer that
// half-closed still reads the close_notify we answer with.
void FdTransport::fail(int err)
{
    m_end = err == 0 ? End::Closed : err == ECONNRESET ? End::Reset : End::Failed;
    if (err == 0 || err == ECONNRESET || err == EPIPE) {
        m_error = QAbstractSocket::RemoteHostClosedError;
        m_errorString =
            QCoreApplication::translate("QAbstractSocket", "The remote host closed the connection");
    } else {
        m_error = QAbstractSocket::NetworkError;
        m_errorString = QString::fromLocal8Bit(std::strerror(err));
    }
    m_readNotifier->setEnabled(false);
}

qint64 FdTransport::read(char *data, qint64 maxSize)
{
    if (m_fd < 0 || m_end != End::Open)
        return -1;
    ssize_t got;
    do {
        got = ::recv(m_fd, data, static_cast<size_t>(std::min<qint64>(maxSize, INT_MAX)), 0);
    } while (got < 0 && errno == EINTR);
    if (got > 0)
        return got;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!m_writeFailed)
            return 0;
        errno = m_writeErrno; // the peer is gone and left nothing more to read
    }
    fail(got == 0 ? m_writeErrno : errno); // a send() may have taken the reset's error first
    return -1;
}

void FdTransport::setReadEnabled(bool enabled)
{
    if (m_fd >= 0 && m_end == End::Open && m_readNotifier->isEnabled() != enabled)
        m_readNotifier->setEnabled(enabled);
}

// The peer is gone (EPIPE, ECONNRESET): what we would send is dropped, but what it sent before
// (an alert, say) may still wait to be read, so the descriptor stays open for reading. The
// reader learns of the end from read(), woken from the event loop.
void FdTransport::failWrite(int err)
{
    m_writeFailed = true;
    m_writeErrno = err;
    m_pending.clear();
    m_pendingOffset = 0;
    watchWritable(false);
    scheduleReport();
}

void FdTransport::write(const char *data, qint64 size)
{
    if (m_fd < 0 || m_writeFailed || size <= 0)
        return;
    qint64 sent = 0;
    if (bytesToWrite() == 0) {
        sent = sendSome(data, size);
        if (sent < 0)
            return; // dropped: read() reports the end
        noteSent(sent);
        if (sent == size)
            return;
    }
    if (m_pendingOffset >= kCompactAt) {
        m_pending.remove(0, m_pendingOffset);
        m_pendingOffset = 0;
    }
    m_pending.append(data + sent, size - sent);
    watchWritable(true);
}

// Bytes the kernel took (0 when it takes none now), or -1 after a failure.
qint64 FdTransport::sendSome(const char *data, qint64 size)
{
    for (;;) {
        ++t_sendCalls;
        const ssize_t sent = ::send(m_fd, data, static_cast<size_t>(size), MSG_NOSIGNAL);
        if (sent >= 0)
            return sent;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        failWrite(errno);
        return -1;
    }
}

bool FdTransport::flush()
{
    qint64 total = 0;
    while (m_fd >= 0 && !m_writeFailed && bytesToWrite() > 0) {
        const qint64 sent = sendSome(m_pending.constData() + m_pendingOffset, bytesToWrite());
        if (sent <= 0)
            break;
        m_pendingOffset += sent;
        total += sent;
    }
    if (bytesToWrite() == 0) {
        m_pending.clear(); // an idle connection keeps no buffer
        m_pendingOffset = 0;
        if (m_closed && m_fd >= 0 && !m_writeFailed)
            sendFin(); // closing: the FIN leaves right behind the last bytes
    }
    if (m_fd >= 0 && !m_writeFailed)
        watchWritable(bytesToWrite() > 0);
    noteSent(total);
    return total > 0;
}

// For written(), if anyone listens: most applications never connect encryptedBytesWritten(),
// and each report posted is an event and a wake-up of the event dispatcher. None is posted
// when the report comes anyway before the event loop runs again (from onWritable(), or from
// the client at the end of its pass).
void FdTransport::noteSent(qint64 bytes)
{
    if (bytes <= 0 || !m_client.wantsWritten())
        return;
    m_unreported += bytes;
    if (!m_reportingNow && !m_client.collectsWritten())
        scheduleReport();
}

void FdTransport::onWritable()
{
    m_reportingNow = true;
    flush();
    m_reportingNow = false;
    reportWritten();
}

void FdTransport::scheduleReport()
{
    if (m_reportScheduled)
        return;
    m_reportScheduled = true;
    ++t_reportsPosted;
    std::weak_ptr<bool> alive = m_alive;
    QMetaObject::invokeMethod(
        m_context,
        [this, alive] {
            if (!alive.expired())
                reportWritten();
        },
        Qt::QueuedConnection);
}

void FdTransport::reportWritten()
{
    m_reportScheduled = false;
    const qint64 n = std::exchange(m_unreported, 0);
    std::weak_ptr<bool> alive = m_alive;
    if (n > 0)
        m_client.written(n);
    if (alive.expired() || m_fd < 0)
        return;
    if (m_closed && (bytesToWrite() == 0 || m_writeFailed))
        finishClose();
    else if (m_writeFailed && m_end == End::Open)
        m_client.readable(); // read() reports the end
}

// Our direction ends, once; the Lingerer is told, and does not end it again.
void FdTransport::sendFin()
{
    if (!m_finSent)
        m_finSent = ::shutdown(m_fd, SHUT_WR) == 0;
}

bool FdTransport::waitForActivity(int msecs)
{
    if (m_fd >= 0 && (m_unreported > 0 || (m_closed && bytesToWrite() == 0))) {
        reportWritten(); // what an event loop would have delivered by now
        return true;
    }
    const bool reading = m_end == End::Open && m_readNotifier->isEnabled();
    const short events = (reading ? POLLIN : 0) | (bytesToWrite() > 0 ? POLLOUT : 0);
    if (m_fd < 0 || events == 0)
        return false;
    pollfd p{m_fd, events, 0};
    int ready;
    do {
        ready = ::poll(&p, 1, msecs < 0 ? -1 : msecs); // -1: no limit
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0)
        return false;
    std::weak_ptr<bool> alive = m_alive;
    if (p.revents & POLLOUT)
        onWritable();
    if (!alive.expired() && m_fd >= 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
        m_client.readable();
    return true;
}

void FdTransport::setOption(QAbstractSocket::SocketOption option, const QVariant &value)
{
    int level, name;
    if (!optionName(option, &level, &name) || m_fd < 0)
        return;
    const int v = value.toInt();
    ::setsockopt(m_fd, level, name, &v, sizeof v);
}

QVariant FdTransport::option(QAbstractSocket::SocketOption option) const
{
    int level, name;
    if (!optionName(option, &level, &name))
        return {};
    int v = 0;
    socklen_t len = sizeof v;
    if (m_fd < 0 || ::getsockopt(m_fd, level, name, &v, &len) != 0)
        return {};
    return v;
}

quint64 securesocket::testing::sendCallsOnThisThread()
{
    return t_sendCalls;
}

quint64 FdTransport::reportsPostedOnThisThread()
{
    return t_reportsPosted;
}
