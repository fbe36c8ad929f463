// SocketTransport: ciphertext through the plain QTcpSocket (see sockettransport_p.h).
#include "sockettransport_p.h"

#include <QSignalBlocker>

#include <cerrno>

SocketTransport::SocketTransport(QTcpSocket *socket, QObject *owner, TransportClient &client)
    : m_socket(socket), m_client(client), m_context(new QObject(owner))
{
    using S = QTcpSocket;
    QObject::connect(
        socket, &S::readyRead, m_context.data(),
        [this] {
            if (m_readEnabled)
                m_client.readable();
        },
        Qt::DirectConnection);
    QObject::connect(
        socket, &S::bytesWritten, m_context.data(), [this](qint64 n) { m_client.written(n); },
        Qt::DirectConnection);
    QObject::connect(
        socket, &S::errorOccurred, m_context.data(),
        [this](QAbstractSocket::SocketError e) { onError(e); }, Qt::DirectConnection);
    QObject::connect(socket, &S::stateChanged, m_context.data(),
                     [this](QAbstractSocket::SocketState s) {
                         if (s == QAbstractSocket::UnconnectedState)
                             onUnconnected();
                     });
}

SocketTransport::~SocketTransport()
{
    delete m_context.data();
}

// Qt reports a reset and an orderly end alike (RemoteHostClosedError) and has closed the
// descriptor by now; the errno of its failed read is still there to tell them apart.
void SocketTransport::onError(QAbstractSocket::SocketError error)
{
    if (m_end != End::Open || !m_socket)
        return;
    const bool reset = errno == ECONNRESET;
    m_end = error != QAbstractSocket::RemoteHostClosedError ? End::Failed
            : reset                                         ? End::Reset
                                                            : End::Closed;
    m_error = error;
    m_errorString = m_socket->errorString();
    if (!m_closed)
        m_client.readable(); // read() reports the end once the buffer is empty
}

void SocketTransport::onUnconnected()
{
    if (auto closed = std::exchange(m_closed, nullptr)) {
        closed();
        return;
    }
    if (m_end == End::Open) {
        m_end = End::Closed;
        m_error = QAbstractSocket::RemoteHostClosedError;
        m_errorString = m_socket ? m_socket->errorString() : QString();
        m_client.readable();
    }
}

qint64 SocketTransport::read(char *data, qint64 maxSize)
{
    if (m_socket && m_socket->bytesAvailable() > 0)
        return m_socket->read(data, maxSize);
    return m_end == End::Open && m_socket ? 0 : -1;
}

void SocketTransport::setReadEnabled(bool enabled)
{
    m_readEnabled = enabled; // the socket buffers meanwhile; the driver reads again later
}

void SocketTransport::write(const char *data, qint64 size)
{
    if (m_socket && m_end == End::Open)
        m_socket->write(data, size);
}

qint64 SocketTransport::bytesToWrite() const
{
    return m_socket ? m_socket->bytesToWrite() : 0;
}

bool SocketTransport::flush()
{
    return m_socket && m_socket->flush();
}

bool SocketTransport::isOpen() const
{
    return m_socket && m_end == End::Open && m_socket->state() == QAbstractSocket::ConnectedState;
}

// Closed once the TCP socket has sent its queue and become unconnected; reported from the
// event loop even when that happens at once, as the adopted descriptor does.
void SocketTransport::close(std::function<void()> closed)
{
    m_closed = std::move(closed);
    if (m_socket && m_socket->state() != QAbstractSocket::UnconnectedState) {
        const QSignalBlocker silence(m_socket); // its state is ours to report, not its own
        m_socket->disconnectFromHost();
        if (m_socket->state() != QAbstractSocket::UnconnectedState)
            return; // stateChanged() (unblocked by then) calls closed()
    }
    QMetaObject::invokeMethod(
        m_context.data(), [this] { onUnconnected(); }, Qt::QueuedConnection);
}

void SocketTransport::abort()
{
    m_closed = nullptr;
    if (!m_socket)
        return;
    const QSignalBlocker silence(m_socket);
    m_socket->abort();
}

bool SocketTransport::waitForActivity(int msecs)
{
    if (!m_socket)
        return false;
    switch (m_socket->state()) {
    case QAbstractSocket::HostLookupState:
    case QAbstractSocket::ConnectingState:
        return m_socket->waitForConnected(msecs);
    case QAbstractSocket::ClosingState:
        return m_socket->waitForDisconnected(msecs);
    case QAbstractSocket::ConnectedState:
        if (m_socket->bytesToWrite() > 0)
            return m_socket->waitForBytesWritten(msecs);
        return m_readEnabled && m_socket->waitForReadyRead(msecs);
    default:
        if (m_closed) { // closing with nothing left: what the event loop would deliver
            onUnconnected();
            return true;
        }
        return false;
    }
}

qintptr SocketTransport::descriptor() const
{
    return m_socket ? m_socket->socketDescriptor() : -1;
}

void SocketTransport::setOption(QAbstractSocket::SocketOption option, const QVariant &value)
{
    if (m_socket)
        m_socket->setSocketOption(option, value);
}

QVariant SocketTransport::option(QAbstractSocket::SocketOption option) const
{
    return m_socket ? m_socket->socketOption(option) : QVariant();
}
