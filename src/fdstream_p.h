// Internal: the TCP stream under an encrypted SecureSocket once it has taken the descriptor
// over from its plain QTcpSocket (see SecureSocketPrivate::adoptDescriptor()). It reads and
// writes the descriptor itself: no buffer but the bytes the kernel refused for now. An idle
// connection then holds no socket buffer at all, and a record goes to the kernel in the call
// that made it instead of one event-loop turn later.
#ifndef SECURESOCKET_FDSTREAM_P_H
#define SECURESOCKET_FDSTREAM_P_H

#include <QAbstractSocket>
#include <QByteArray>
#include <QString>

#include <functional>
#include <memory>

class QObject;
class QSocketNotifier;

class FdStream
{
public:
    struct Handlers
    {
        std::function<void()> readable;      // data or the end of the stream waits
        std::function<void(qint64)> written; // bytes the kernel took, from the event loop
    };

    // Takes ownership of a connected, non-blocking descriptor.
    FdStream(int fd, QObject *context, Handlers handlers);
    ~FdStream();
    FdStream(const FdStream &) = delete;
    FdStream &operator=(const FdStream &) = delete;

    int descriptor() const { return m_fd; }
    bool isOpen() const { return m_fd >= 0; }

    // > 0: bytes read; 0: nothing now; -1: the stream ended or failed (see error()). The read
    // notification is level-triggered: while enabled it fires as long as anything is unread;
    // setReadEnabled(false) stops it (back-pressure, or nobody to read now).
    qint64 read(char *data, qint64 maxSize);
    void setReadEnabled(bool enabled);

    // Sends at once what the kernel takes and keeps the rest until the descriptor is writable
    // (abort() drops that rest, as QTcpSocket's abort() drops its write buffer). written()
    // reports progress later, from the event loop, never from inside write().
    void write(const char *data, qint64 size);
    // Sends what the kernel takes now, unless bytes are queued before these; returns how many
    // it took (none queued). After a failure all are taken, and dropped: read() reports it.
    qint64 sendNow(const char *data, qint64 size);
    qint64 bytesToWrite() const { return m_pending.size() - m_pendingOffset; }
    bool flush();         // sends what is pending now; true if anything went
    void reportWritten(); // delivers written() now (blocking callers)
    qint64 unreportedBytes() const { return m_unreported; }

    void shutdownWrite(); // our direction ends (FIN); reading goes on
    void close();

    // Waits for the descriptor to become readable (while reading is enabled) or writable (when
    // bytes are pending) and handles it: readable() is called, pending bytes are sent. False
    // when the time ran out or there is nothing to wait for.
    bool waitForActivity(int msecs);

    QAbstractSocket::SocketError error() const { return m_error; }
    QString errorString() const { return m_errorString; }
    bool wasReset() const { return m_reset; } // the stream ended with a TCP reset

    bool setOption(QAbstractSocket::SocketOption option, const QVariant &value);
    QVariant option(QAbstractSocket::SocketOption option) const;

private:
    void fail(int err);
    void failWrite(int err);
    qint64 sendSome(const char *data, qint64 size);
    void onWritable();
    void scheduleReport();

    int m_fd;
    QObject *m_context;
    Handlers m_handlers;
    QSocketNotifier *m_readNotifier;
    QSocketNotifier *m_writeNotifier;
    QByteArray m_pending;
    qint64 m_pendingOffset = 0;
    qint64 m_unreported = 0;
    bool m_reportScheduled = false;
    bool m_ended = false; // read() found the end or an error
    bool m_reset = false;
    bool m_writeFailed = false;
    int m_writeErrno = 0;
    QAbstractSocket::SocketError m_error = QAbstractSocket::UnknownSocketError;
    QString m_errorString;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

#endif
