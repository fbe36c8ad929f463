// Internal: the byte stream under an encrypted SecureSocket, as the driver sees it. Two kinds:
//   - FdTransport (fdtransport.cpp): the connection's descriptor, adopted from the plain
//     QTcpSocket at the start of TLS and read and written directly; no buffer but the bytes
//     the kernel refused for now, so an idle connection holds no socket buffer at all.
//   - SocketTransport (sockettransport.cpp): the plain QTcpSocket itself, where the descriptor
//     cannot be adopted (through a proxy, whose descriptor leads to the proxy; or while the
//     plain socket still holds plaintext to send, a STARTTLS answer say).
// The driver holds one Transport and never asks which kind it is.
//
// A transport owns the ciphertext not yet sent: write() takes every byte, sends what the
// kernel takes and queues the rest. It reports, from the event loop and never from inside a
// call, that bytes arrived or the stream ended (readable()) and how many queued bytes left
// (written()). The end of the stream is told by read() returning -1, with end() saying how.
#ifndef SECURESOCKET_TRANSPORT_P_H
#define SECURESOCKET_TRANSPORT_P_H

#include <QAbstractSocket>
#include <QString>
#include <QVariant>

#include <functional>

// Who a transport reports to (the driver): one pointer per transport, not a function each.
class TransportClient
{
public:
    virtual void readable() = 0;            // bytes, or the end of the stream, wait
    virtual void written(qint64 bytes) = 0; // the kernel took this many queued bytes
    // Whether anyone listens to written(): when nobody does, a transport neither counts what
    // it sent nor posts an event to report it.
    virtual bool wantsWritten() const = 0;
    // Whether the client will call reportWritten() itself before control returns to the event
    // loop (it is in the middle of a pass that ends so): then no event is posted to report.
    virtual bool collectsWritten() const = 0;

protected:
    ~TransportClient() = default;
};

class Transport
{
public:
    // How the stream ended: Closed (the peer's FIN), Reset (TCP RST), Failed (another error).
    enum class End { Open, Closed, Reset, Failed };

    virtual ~Transport() = default;

    // > 0: bytes read; 0: nothing now; -1: the stream ended (see end()).
    virtual qint64 read(char *data, qint64 maxSize) = 0;
    // Back-pressure: while off, readable() is not called and the kernel keeps what comes.
    virtual void setReadEnabled(bool enabled) = 0;

    // Takes all of data: sends what the kernel takes now, queues the rest.
    virtual void write(const char *data, qint64 size) = 0;
    virtual qint64 bytesToWrite() const = 0;
    virtual bool flush() = 0;         // sends what is queued now; true if anything went
    virtual void reportWritten() = 0; // delivers written() now (callers without an event loop)

    virtual bool isOpen() const = 0;
    // Ends the connection once the queue is sent. A transport that still has its descriptor
    // keeps reading and discarding in the background, for a short while, what the peer still
    // sends, so that the kernel never answers it with a reset (a reset makes the peer's kernel
    // drop what it received from us and has not delivered yet). closed() is called once the
    // connection is closed for this object.
    virtual void close(std::function<void()> closed) = 0;
    // The same, but this object lets go at once: the connection goes on closing on its own.
    virtual void release() = 0;
    virtual void abort() = 0; // drops the queue and closes now

    virtual End end() const = 0;
    virtual QAbstractSocket::SocketError error() const = 0;
    virtual QString errorString() const = 0;

    // Waits, without an event loop, until bytes can be read or queued bytes sent (or, while
    // connecting through a proxy, the connection progresses), and handles it: readable() or
    // written() are called. False when the time ran out or there is nothing to wait for.
    virtual bool waitForActivity(int msecs) = 0;

    virtual qintptr descriptor() const = 0;
    virtual void setOption(QAbstractSocket::SocketOption option, const QVariant &value) = 0;
    virtual QVariant option(QAbstractSocket::SocketOption option) const = 0;
};

#endif
