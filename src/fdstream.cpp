// FdStream: a connected TCP descriptor read and written directly (POSIX).
#include "fdstream_p.h"

#include <QCoreApplication>
#include <QPointer>
#include <QSocketNotifier>
#include <QVariant>

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
// Pending bytes are compacted once this much of the front was sent.
constexpr qint64 kCompactAt = 256 * 1024;

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

FdStream::FdStream(int fd, QObject *context, Handlers handlers)
    : m_fd(fd), m_context(context), m_handlers(std::move(handlers)),
      // Children of the socket, so that they move with it to another thread.
      m_readNotifier(new QSocketNotifier(fd, QSocketNotifier::Read, context)),
      m_writeNotifier(new QSocketNotifier(fd, QSocketNotifier::Write, context))
{
    m_writeNotifier->setEnabled(false);
    QObject::connect(m_readNotifier, &QSocketNotifier::activated, context, [this] {
        // Level-triggered: the handler reads until nothing is left or stops reading on
        // purpose (then it turns reading off), so no wake-up is lost or repeated in vain.
        m_handlers.readable();
    });
    QObject::connect(m_writeNotifier, &QSocketNotifier::activated, context,
                     [this] { onWritable(); });
}

FdStream::~FdStream()
{
    *m_alive = false;
    close();
    delete m_readNotifier;
    delete m_writeNotifier;
}

void FdStream::close()
{
    if (m_fd < 0)
        return;
    m_readNotifier->setEnabled(false);
    m_writeNotifier->setEnabled(false);
    ::close(m_fd);
    m_fd = -1;
    m_pending.clear();
    m_pendingOffset = 0;
}

// The stream ended (err 0) or failed. The descriptor stays open until close(): a peer that
// half-closed still reads the close_notify we answer with.
void FdStream::fail(int err)
{
    m_ended = true;
    m_reset = err == ECONNRESET;
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

qint64 FdStream::read(char *data, qint64 maxSize)
{
    if (m_fd < 0 || m_ended)
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

void FdStream::setReadEnabled(bool enabled)
{
    if (m_fd >= 0 && !m_ended && m_readNotifier->isEnabled() != enabled)
        m_readNotifier->setEnabled(enabled);
}

// The peer is gone (EPIPE, ECONNRESET): what we would send is dropped, but what it sent before
// (an alert, say) may still wait to be read, so the descriptor stays open for reading. The
// reader learns of the end from read(), woken from the event loop.
void FdStream::failWrite(int err)
{
    m_writeFailed = true;
    m_writeErrno = err;
    m_pending.clear();
    m_pendingOffset = 0;
    m_writeNotifier->setEnabled(false);
    scheduleReport();
}

void FdStream::write(const char *data, qint64 size)
{
    if (m_fd < 0 || m_writeFailed || size <= 0)
        return;
    const qint64 sent = sendNow(data, size);
    if (sent >= size)
        return;
    if (m_pendingOffset >= kCompactAt) {
        m_pending.remove(0, m_pendingOffset);
        m_pendingOffset = 0;
    }
    m_pending.append(data + sent, size - sent);
    m_writeNotifier->setEnabled(true);
}

qint64 FdStream::sendNow(const char *data, qint64 size)
{
    if (m_fd < 0 || m_writeFailed)
        return size; // dropped: read() reports the end
    if (bytesToWrite() > 0)
        return 0;
    const qint64 sent = sendSome(data, size);
    if (sent < 0)
        return size;
    if (sent > 0) {
        m_unreported += sent;
        scheduleReport();
    }
    return sent;
}

// Bytes the kernel took (0 when it takes none now), or -1 after a failure.
qint64 FdStream::sendSome(const char *data, qint64 size)
{
    for (;;) {
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

bool FdStream::flush()
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
    }
    if (m_fd >= 0 && !m_writeFailed)
        m_writeNotifier->setEnabled(bytesToWrite() > 0);
    m_unreported += total;
    if (total > 0)
        scheduleReport();
    return total > 0;
}

void FdStream::onWritable()
{
    flush();
    reportWritten();
}

void FdStream::scheduleReport()
{
    if (m_reportScheduled)
        return;
    m_reportScheduled = true;
    std::weak_ptr<bool> alive = m_alive;
    QMetaObject::invokeMethod(
        m_context,
        [this, alive] {
            if (!alive.expired())
                reportWritten();
        },
        Qt::QueuedConnection);
}

void FdStream::reportWritten()
{
    m_reportScheduled = false;
    const qint64 n = std::exchange(m_unreported, 0);
    std::weak_ptr<bool> alive = m_alive;
    if (n > 0)
        m_handlers.written(n);
    if (!alive.expired() && m_writeFailed && m_fd >= 0 && !m_ended)
        m_handlers.readable();
}

void FdStream::shutdownWrite()
{
    if (m_fd >= 0)
        ::shutdown(m_fd, SHUT_WR);
}

bool FdStream::waitForActivity(int msecs)
{
    const bool reading = !m_ended && m_readNotifier->isEnabled();
    const short events = (reading ? POLLIN : 0) | (bytesToWrite() > 0 ? POLLOUT : 0);
    if (m_fd < 0 || events == 0)
        return false;
    pollfd p{m_fd, events, 0};
    int ready;
    do {
        ready = ::poll(&p, 1, std::max(msecs, 0));
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0)
        return false;
    std::weak_ptr<bool> alive = m_alive;
    if (p.revents & POLLOUT)
        onWritable();
    if (!alive.expired() && (p.revents & (POLLIN | POLLHUP | POLLERR)))
        m_handlers.readable();
    return true;
}

bool FdStream::setOption(QAbstractSocket::SocketOption option, const QVariant &value)
{
    int level, name;
    if (!optionName(option, &level, &name))
        return false;
    const int v = value.toInt();
    return m_fd >= 0 && ::setsockopt(m_fd, level, name, &v, sizeof v) == 0;
}

QVariant FdStream::option(QAbstractSocket::SocketOption option) const
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
