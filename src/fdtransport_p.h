// Internal: the Transport over a connected TCP descriptor, read and written directly (POSIX).
// See transport_p.h. It owns the descriptor: a record goes to the kernel in the call that
// made it, and an idle connection holds no buffer.
#ifndef SECURESOCKET_FDTRANSPORT_P_H
#define SECURESOCKET_FDTRANSPORT_P_H

#include "transport_p.h"

#include <QByteArray>
#include <QPointer>
#include <QSocketNotifier>

#include <memory>

class FdTransport final : public Transport
{
public:
    // Takes ownership of a connected, non-blocking descriptor. The notifiers are children of
    // context, so that they move with it to another thread.
    FdTransport(int fd, QObject *context, TransportClient &client);
    ~FdTransport() override;
    FdTransport(const FdTransport &) = delete;
    FdTransport &operator=(const FdTransport &) = delete;
    // Reports of written() posted by transports of this thread (for the tests' hooks).
    static quint64 reportsPostedOnThisThread();

    qint64 read(char *data, qint64 maxSize) override;
    void setReadEnabled(bool enabled) override;
    void write(const char *data, qint64 size) override;
    qint64 bytesToWrite() const override { return m_pending.size() - m_pendingOffset; }
    bool flush() override;
    void reportWritten() override;
    bool isOpen() const override { return m_fd >= 0; }
    void close(std::function<void()> closed) override;
    void release() override;
    void abort() override;
    End end() const override { return m_end; }
    QAbstractSocket::SocketError error() const override { return m_error; }
    QString errorString() const override { return m_errorString; }
    bool waitForActivity(int msecs) override;
    qintptr descriptor() const override { return m_fd; }
    void setOption(QAbstractSocket::SocketOption option, const QVariant &value) override;
    QVariant option(QAbstractSocket::SocketOption option) const override;

private:
    void fail(int err);
    void failWrite(int err);
    qint64 sendSome(const char *data, qint64 size);
    void onWritable();
    void watchWritable(bool on);
    void sendFin();
    void noteSent(qint64 bytes);
    void scheduleReport();
    void finishClose();
    void closeDescriptor();

    int m_fd;
    QObject *m_context;
    TransportClient &m_client;
    // Children of the context: they move with it to another thread, and may be deleted with
    // it before this object.
    QPointer<QSocketNotifier> m_readNotifier;
    QPointer<QSocketNotifier> m_writeNotifier; // see watchWritable()
    QByteArray m_pending;
    qint64 m_pendingOffset = 0;
    qint64 m_unreported = 0;
    bool m_reportScheduled = false;
    bool m_reportingNow = false; // in onWritable(): its report follows the flush
    End m_end = End::Open;       // read() found the end or an error
    bool m_writeFailed = false;
    bool m_finSent = false; // shutdown(SHUT_WR) done
    int m_writeErrno = 0;
    std::function<void()> m_closed; // close() waits for the queue to be sent
    QAbstractSocket::SocketError m_error = QAbstractSocket::UnknownSocketError;
    QString m_errorString;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

#endif
