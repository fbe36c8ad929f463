// SecureSocketPrivate, the life of a connection: connecting through the plain QTcpSocket, its
// signals while unencrypted, the start of TLS (and with it the transport), closing, aborting,
// and the signals that report each step in QAbstractSocket's order. The engine is driven in
// tlsdriver.cpp.
#include "fdtransport_p.h"
#include "secureconfiguration_p.h"
#include "securesocket_p.h"
#include "sockettransport_p.h"
#include "threadcleanup_p.h"

#include <QAuthenticator>
#include <QMetaMethod>
#include <QNetworkProxy>
#include <QPointer>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcSecureSocket, "securesocket.socket", QtWarningMsg)
Q_LOGGING_CATEGORY(lcSecureEngine, "securesocket.engine", QtWarningMsg)

using securesocket::engine::Connection;
using securesocket::engine::Role;

namespace {
void wipe(QByteArray &data)
{
    if (!data.isEmpty())
        OPENSSL_cleanse(data.data(), static_cast<size_t>(data.size()));
    data.clear();
}

void engineTrace(const void *connection, Role role, const std::string &line)
{
    qCDebug(lcSecureEngine, "%s %p: %s", role == Role::Client ? "client" : "server", connection,
            line.c_str());
}

// The engine traces the connections made while the category's debug output is on, and
// formats nothing for the others.
void updateEngineTrace()
{
    securesocket::engine::setTraceSink(lcSecureEngine().isDebugEnabled() ? engineTrace : nullptr);
}

quint16 portOf(const sockaddr_storage &address)
{
    return ntohs(address.ss_family == AF_INET6
                     ? reinterpret_cast<const sockaddr_in6 *>(&address)->sin6_port
                     : reinterpret_cast<const sockaddr_in *>(&address)->sin_port);
}
} // namespace

SecureSocketPrivate::SecureSocketPrivate(SecureSocket *q) : q(q) {}

SecureSocketPrivate::~SecureSocketPrivate()
{
    wipe(m_importedTicket);
}

// Made when first needed: connecting, a plain connection, a descriptor given to
// setSocketDescriptor(). A connection that SecureServer hands over encrypted never has one.
QTcpSocket *SecureSocketPrivate::tcp()
{
    if (m_tcp)
        return m_tcp;
    m_tcp = new QTcpSocket(q);
    m_tcp->setReadBufferSize(m_readLimit);
    if (m_givenFd >= 0 && !m_transport)
        attachGivenDescriptor();
    using S = QTcpSocket;
    // Direct: the TCP socket is a child, always in our thread; and a socket moved to no
    // thread (used with waitFor...() only) has no event loop to deliver queued calls. Each
    // handler counts itself in m_inTcpSignal (see releaseTcp()).
    constexpr auto direct = Qt::DirectConnection;
    const auto handle = [this](auto &&f) {
        return [this, f](auto... arguments) {
            ++m_inTcpSignal;
            f(arguments...);
            --m_inTcpSignal;
        };
    };
    QObject::connect(m_tcp, &S::hostFound, q, &SecureSocket::hostFound, direct);
    QObject::connect(m_tcp, &S::stateChanged, q,
                     handle([this](QAbstractSocket::SocketState s) { onTcpStateChanged(s); }),
                     direct);
    QObject::connect(m_tcp, &S::connected, q, handle([this] { onTcpConnected(); }), direct);
    QObject::connect(m_tcp, &S::readyRead, q, handle([this] { onTcpReadyRead(); }), direct);
    QObject::connect(m_tcp, &S::bytesWritten, q, handle([this](qint64 n) {
                         if (!usesTls())
                             emit this->q->bytesWritten(n);
                     }),
                     direct);
    QObject::connect(m_tcp, &S::errorOccurred, q,
                     handle([this](QAbstractSocket::SocketError e) { onTcpError(e); }), direct);
    QObject::connect(m_tcp, &S::readChannelFinished, q, handle([this] {
                         if (!m_transport)
                             emit this->q->readChannelFinished();
                     }),
                     direct);
    QObject::connect(m_tcp, &S::disconnected, q, handle([this] { onTcpDisconnected(); }), direct);
    QObject::connect(m_tcp, &S::proxyAuthenticationRequired, q,
                     &SecureSocket::proxyAuthenticationRequired, direct);
    return m_tcp;
}

QTcpSocket *SecureSocketPrivate::plainTcp()
{
    return m_tcp || (m_givenFd >= 0 && !m_transport) ? tcp() : nullptr;
}

// A descriptor taken without a TCP socket (takeAccepted()), still plain: the TCP socket works
// on a duplicate, and the given one stays ours (see takeDescriptor()).
void SecureSocketPrivate::attachGivenDescriptor()
{
    const int copy = ::fcntl(m_givenFd, F_DUPFD_CLOEXEC, 0);
    const QSignalBlocker quiet(m_tcp); // the state and addresses are ours already
    if (!m_tcp->setSocketDescriptor(copy >= 0 ? copy : m_givenFd, q->state(), q->openMode())) {
        if (copy >= 0)
            ::close(copy);
        return;
    }
    if (copy < 0)
        m_givenFd = -1; // the TCP socket took it
}

// Once TLS reads and writes the descriptor itself, the TCP socket (about 3 KiB with its
// connections) is let go: an idle encrypted connection keeps none. Deleted at once, or, when
// this runs inside one of its signals, once that is over.
void SecureSocketPrivate::releaseTcp()
{
    QTcpSocket *tcp = std::exchange(m_tcp, nullptr);
    if (!tcp)
        return;
    QObject::disconnect(tcp, nullptr, q, nullptr);
    if (m_inTcpSignal > 0)
        tcp->deleteLater();
    else
        delete tcp;
}

// --- reporting -----------------------------------------------------------------------------

void SecureSocketPrivate::setMode(SecureSocket::Mode mode)
{
    if (m_mode == mode)
        return;
    m_mode = mode;
    qCDebug(lcSecureSocket) << q << "mode" << mode;
    emit q->modeChanged(mode);
}

void SecureSocketPrivate::setState(QAbstractSocket::SocketState state)
{
    if (q->state() == state)
        return;
    q->setSocketState(state);
    qCDebug(lcSecureSocket) << q << "state" << state;
    if (state == QAbstractSocket::UnconnectedState)
        connectionEnded();
    emit q->stateChanged(state);
}

void SecureSocketPrivate::connectionEnded()
{
    if (auto ended = std::exchange(m_onConnectionEnd, nullptr))
        ended();
}

void SecureSocketPrivate::mirrorAddresses()
{
    q->setLocalAddress(m_tcp->localAddress());
    q->setLocalPort(m_tcp->localPort());
    q->setPeerAddress(m_tcp->peerAddress());
    q->setPeerPort(m_tcp->peerPort());
}

void SecureSocketPrivate::clearAddresses()
{
    q->setLocalAddress({});
    q->setLocalPort(0);
    q->setPeerAddress({});
    q->setPeerPort(0);
}

void SecureSocketPrivate::setError(QAbstractSocket::SocketError error,
                                   SecureSocket::TlsError tlsError, const QString &message)
{
    m_tlsError = tlsError;
    qCDebug(lcSecureSocket).nospace().noquote()
        << q << " error " << error << ", " << tlsError << ": " << message;
    q->setSocketError(error);
    q->setErrorString(message);
    emit q->errorOccurred(error);
}

// --- the TCP socket ----------------------------------------------------------------------
// Until TLS has a transport, the TCP socket's state is SecureSocket's; from then on the
// transport reports the connection's end.

void SecureSocketPrivate::onTcpStateChanged(QAbstractSocket::SocketState state)
{
    if (m_transport && state != QAbstractSocket::HostLookupState &&
        state != QAbstractSocket::ConnectingState)
        return;
    if (state == QAbstractSocket::ConnectedState || state == QAbstractSocket::BoundState)
        mirrorAddresses();
    else if (state == QAbstractSocket::UnconnectedState)
        endConnection(); // also when it never connected: nothing queued may wait for the next
    if (state != QAbstractSocket::ConnectedState || !m_encryptOnConnect)
        setState(state); // encrypted: ConnectedState once TLS has started, see onTcpConnected
}

// As QSslSocket does, the handshake starts before connected() is emitted: a slot that waits
// for data (waitForReadyRead()) then drives the handshake.
void SecureSocketPrivate::onTcpConnected()
{
    if (m_transport && !m_encryptOnConnect)
        return;
    mirrorAddresses();
    qCDebug(lcSecureSocket).nospace().noquote()
        << q << " connected to " << q->peerAddress().toString() << ':' << q->peerPort();
    if (m_encryptOnConnect) {
        QPointer<SecureSocket> guard(q);
        setState(QAbstractSocket::ConnectedState);
        if (guard && m_encryptOnConnect)
            startEncryption(Role::Client);
        if (!guard || q->state() != QAbstractSocket::ConnectedState)
            return;
    }
    emit q->connected();
}

void SecureSocketPrivate::onTcpReadyRead()
{
    if (!usesTls())
        emit q->readyRead();
}

void SecureSocketPrivate::onTcpError(QAbstractSocket::SocketError error)
{
    if (m_transport && m_mode != SecureSocket::UnencryptedMode)
        return; // the transport reports it
    setError(error, SecureSocket::NoTlsError, m_tcp->errorString());
}

void SecureSocketPrivate::onTcpDisconnected()
{
    if (m_transport && m_mode != SecureSocket::UnencryptedMode)
        return;
    endConnection();
    QPointer<SecureSocket> guard(q);
    emit q->disconnected();
    if (guard)
        clearAddresses(); // after the signal, as QAbstractSocket does
}

// --- the life of a connection --------------------------------------------------------------

void SecureSocketPrivate::beginConnect(const QString &host, quint16 port, QIODevice::OpenMode mode,
                                       QAbstractSocket::NetworkLayerProtocol protocol,
                                       Encryption encryption)
{
    const auto state = q->state();
    if (state != QAbstractSocket::UnconnectedState && state != QAbstractSocket::BoundState) {
        qCWarning(lcSecureSocket, "connectToHost: already connecting or connected to \"%s\"",
                  qPrintable(q->peerName()));
        return;
    }
    reset();
    m_encryptOnConnect = encryption == Encryption::OnConnect;
    m_verifyName = host;
    m_hostPort = port;
    q->QIODevice::open(mode);
    q->setPeerName(host);
    if (state != QAbstractSocket::BoundState)
        clearAddresses();
    q->setSocketError(QAbstractSocket::UnknownSocketError);
    q->setErrorString(QString());
    tcp()->setProxy(q->proxy());
    if (m_encryptOnConnect)
        startHandshakeTimer(); // a server that accepts and never answers must not hang us
    qCDebug(lcSecureSocket).nospace().noquote()
        << q << " connecting to " << host << ':' << port
        << (m_encryptOnConnect ? " (TLS once connected)" : "");
    tcp()->connectToHost(host, port, mode, protocol);
}

void SecureSocketPrivate::reset()
{
    endConnection();
    m_engine.reset();
    setMode(SecureSocket::UnencryptedMode);
    m_tlsError = SecureSocket::NoTlsError;
    m_verifyErrors.clear();
    wipe(m_in);
    m_inOffset = 0;
    m_newPlaintext = false;
    if (m_tcp && m_tcp->state() == QAbstractSocket::UnconnectedState && m_tcp->isOpen())
        m_tcp->close();
}

void SecureSocketPrivate::endConnection()
{
    m_encryptOnConnect = m_encrypted = m_closeWhenEncrypted = m_closing = false;
    m_ignoreAll = false;
    if (m_transport) {
        m_transport->abort(); // a no-op once it is closed
        // Destroyed from the event loop: this may run inside one of its own notifications.
        QMetaObject::invokeMethod(
            q, [retired = std::shared_ptr<Transport>(std::move(m_transport))] {},
            Qt::QueuedConnection);
    }
    if (m_givenFd >= 0)
        ::close(std::exchange(m_givenFd, -1));
    std::vector<securesocket::engine::Event>().swap(m_events);
    m_nextEvent = 0;
    stopTimers();
    wipe(m_out);
    m_plainSubmitted = m_plainReported = 0;
}

bool SecureSocketPrivate::startEncryption(Role role)
{
    if (m_engine) {
        qCWarning(lcSecureSocket,
                  "start*Encryption: the socket is already encrypted or encrypting");
        return false;
    }
    if (q->state() != QAbstractSocket::ConnectedState) {
        qCWarning(lcSecureSocket, "start*Encryption: the socket is not connected");
        return false;
    }
    const QByteArray early = takeEarlyBytes(role);

    std::string error;
    securesocket::shareWithEqualConfiguration(m_config);
    auto context = securesocket::engineContext(m_config, role, &error);
    if (!context) {
        m_encryptOnConnect = false;
        setError(
            QAbstractSocket::SslInvalidUserDataError, SecureSocket::ConfigurationError,
            SecureSocket::tr("TLS configuration error: %1").arg(QString::fromStdString(error)));
        abortConnection();
        return false;
    }
    QString name;
    if (role == Role::Client) {
        name = m_config.peerVerifyName();
        if (name.isEmpty())
            name = m_verifyName.isEmpty() ? q->peerName() : m_verifyName;
        if (name.isEmpty())
            name = q->peerAddress().toString();
    }
    // A client resumes sessions of the same host and port; the engine adds the name it
    // verifies to the key, so a session is never resumed for another name.
    const std::string sessionKey =
        role == Role::Client
            ? (q->peerName().isEmpty() ? q->peerAddress().toString() : q->peerName())
                      .toStdString() +
                  ':' + std::to_string(q->peerPort())
            : std::string();
    securesocket::releaseOpenSslStateWhenThreadEnds();
    std::string imported = role == Role::Client ? m_importedTicket.toStdString() : std::string();
    wipe(m_importedTicket);
    updateEngineTrace();
    m_engine = std::make_unique<Connection>(std::move(context), name.toStdString(), sessionKey,
                                            pskProvider(), imported);
    m_engine->setReleaseDeferred(true); // watchIdleBuffers() releases them
    qCDebug(lcSecureSocket).nospace().noquote()
        << q << " TLS started as " << (role == Role::Client ? "client" : "server") << " with "
        << peerDescription() << (role == Role::Client ? ", verifying the name " : "")
        << (role == Role::Client ? name : QString()) << " (engine connection "
        << static_cast<const void *>(m_engine.get()) << ')';
    OPENSSL_cleanse(imported.data(), imported.size());
    if (m_engine->sessionImport() == securesocket::engine::SessionImport::OtherBinding)
        qCDebug(lcSecureSocket,
                "the session ticket given was made for another host, port, name or settings "
                "than %s (%s): not used",
                sessionKey.c_str(), qPrintable(name));
    else if (m_engine->sessionImport() == securesocket::engine::SessionImport::Malformed)
        qCDebug(lcSecureSocket, "the session ticket given has expired or does not parse: not used");
    m_engine->setAcceptedFailures({m_ignoreList.cbegin(), m_ignoreList.cend()});
    m_engine->feed(early.constData(), static_cast<size_t>(early.size()));
    m_wireBytes += early.size();
    m_encryptOnConnect = false;
    startHandshakeTimer();
    useTransport();
    setMode(role == Role::Client ? SecureSocket::ClientMode : SecureSocket::ServerMode);
    if (!m_engine)
        return false; // a slot of modeChanged() aborted
    pump();           // sends the ClientHello, or answers one that came already
    return true;
}

// Asks preSharedKeyAuthenticationRequired()'s slots, if any, for pre-shared keys.
securesocket::engine::PskProvider SecureSocketPrivate::pskProvider()
{
    if (!q->isSignalConnected(
            QMetaMethod::fromSignal(&SecureSocket::preSharedKeyAuthenticationRequired)))
        return {};
    return [this](securesocket::engine::PskRequest &request) {
        SecurePreSharedKeyAuthenticator authenticator;
        authenticator.m_identityHint = QByteArray::fromStdString(request.identityHint);
        authenticator.m_identity = QByteArray::fromStdString(request.identity);
        authenticator.m_key = QByteArray::fromStdString(request.key.value());
        authenticator.m_maxIdentity = static_cast<int>(request.maxIdentity);
        authenticator.m_maxKey = static_cast<int>(request.maxKey);
        emit q->preSharedKeyAuthenticationRequired(&authenticator);
        if (!request.server)
            request.identity = authenticator.m_identity.toStdString();
        request.key = securesocket::engine::SecretString(authenticator.m_key.toStdString());
        if (!authenticator.m_key.isEmpty()) // the copy held here; the slot's are its own
            OPENSSL_cleanse(authenticator.m_key.data(),
                            static_cast<size_t>(authenticator.m_key.size()));
    };
}

// Bytes that arrived before the upgrade and were not read (by the TCP socket, or peeked at
// or read ahead by the application's QIODevice). For a server they may be the start of a fast
// client's ClientHello: if they begin as a TLS handshake record does, they go to the engine.
// Anything else was sent before the upgrade and is not part of the TLS session: keeping it
// would let an attacker inject commands (the STARTTLS injection flaw), so it is dropped; a
// client drops everything (a TLS server never speaks first).
QByteArray SecureSocketPrivate::takeEarlyBytes(Role role)
{
    QByteArray early;
    if (q->QIODevice::bytesAvailable() > 0) // (reading 0 bytes would still reach readData())
        early = q->QIODevice::read(q->QIODevice::bytesAvailable());
    if (m_tcp)
        early += m_tcp->readAll();
    const bool handshakeRecord =
        !early.isEmpty() && early[0] == '\x16' && (early.size() < 2 || early[1] == '\x03');
    if (role == Role::Server && handshakeRecord)
        return early;
    if (!early.isEmpty())
        qCWarning(lcSecureSocket,
                  "discarding %lld plaintext bytes received before the TLS handshake",
                  static_cast<long long>(early.size()));
    wipe(early);
    return {};
}

// The transport from now on: the connection's descriptor, taken over from the TCP socket
// (which is closed without touching the connection), or the TCP socket itself through a
// proxy (the descriptor then leads to the proxy) or while it still holds plaintext to send.
// A client's adopted descriptor has a new number (socketDescriptor() tells it); one given to
// setSocketDescriptor() keeps its own.
void SecureSocketPrivate::useTransport()
{
    const int fd = m_givenFd >= 0 ? m_givenFd
                   : m_tcp        ? static_cast<int>(m_tcp->socketDescriptor())
                                  : -1;
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    // Without a TCP socket (see takeAccepted()) there is no proxy: the descriptor is the
    // connection.
    bool direct = fd >= 0 && !m_tcp;
    if (!direct && fd >= 0 && m_tcp->bytesToWrite() == 0 &&
        ::getpeername(fd, reinterpret_cast<sockaddr *>(&address), &length) == 0) {
        direct = portOf(address) == q->peerPort() &&
                 QHostAddress(reinterpret_cast<const sockaddr *>(&address))
                     .isEqual(q->peerAddress(), QHostAddress::TolerantConversion);
    }
    const int own = !direct          ? -1
                    : m_givenFd >= 0 ? std::exchange(m_givenFd, -1)
                                     : ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
        m_transport = std::make_unique<SocketTransport>(tcp(), q, *this);
        return;
    }
    if (m_tcp) {
        const QSignalBlocker silence(m_tcp);
        m_tcp->abort(); // closes its descriptor; ours keeps the connection
    }
    releaseTcp();
    m_transport = std::make_unique<FdTransport>(own, q, *this);
}

// A connected descriptor taken without a TCP socket (nor a duplicate descriptor, nor its
// notifiers): the addresses are read once, and TLS, if it starts before a TCP socket is made
// (see tcp()), takes the descriptor as it is. On failure (not a connected socket, or the client
// is already gone) the caller still owns fd and nothing was set. SecureServer's connections,
// encrypted from their first byte, never have a TCP socket.
bool SecureSocketPrivate::takeAccepted(int fd, QIODevice::OpenMode mode)
{
    connectionEnded();
    reset();
    sockaddr_storage local{};
    sockaddr_storage peer{};
    socklen_t localLength = sizeof local;
    socklen_t peerLength = sizeof peer;
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ((flags & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) ||
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&local), &localLength) != 0 ||
        ::getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &peerLength) != 0)
        return false;
    q->setLocalAddress(QHostAddress(reinterpret_cast<const sockaddr *>(&local)));
    q->setLocalPort(portOf(local));
    q->setPeerAddress(QHostAddress(reinterpret_cast<const sockaddr *>(&peer)));
    q->setPeerPort(portOf(peer));
    m_givenFd = fd;
    q->QIODevice::open(mode);
    setState(QAbstractSocket::ConnectedState);
    return true;
}

// The TCP socket works on a duplicate; the descriptor given stays ours, so that
// socketDescriptor() keeps its number once TLS reads and writes it directly. Out of
// descriptors, the TCP socket takes the one given (and TLS then goes through it).
bool SecureSocketPrivate::takeDescriptor(qintptr fd, QAbstractSocket::SocketState state,
                                         QIODevice::OpenMode mode)
{
    if (state == QAbstractSocket::ConnectedState && takeAccepted(static_cast<int>(fd), mode)) {
        // The usual server: startServerEncryption() right away, and TLS takes the descriptor
        // without a TCP socket ever made. Otherwise one is made when first needed, or from the
        // event loop, so that a plain connection signals readyRead() as QTcpSocket does.
        QMetaObject::invokeMethod(
            q,
            [this] {
                if (!m_tcp && !m_transport && m_givenFd >= 0)
                    tcp();
            },
            Qt::QueuedConnection);
        return true;
    }
    connectionEnded(); // a connection this object carried before is over
    reset();
    const int copy = ::fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, 0);
    if (!tcp()->setSocketDescriptor(copy >= 0 ? copy : fd, state, mode)) {
        if (copy >= 0)
            ::close(copy);
        setError(m_tcp->error(), SecureSocket::NoTlsError, m_tcp->errorString());
        return false;
    }
    if (copy >= 0)
        m_givenFd = static_cast<int>(fd);
    q->QIODevice::open(mode);
    mirrorAddresses();
    setState(m_tcp->state());
    return true;
}

void SecureSocketPrivate::disconnectFromHost()
{
    if (!usesTls()) {
        if (QTcpSocket *tcp = plainTcp())
            tcp->disconnectFromHost();
        return;
    }
    if (!m_encrypted && (m_encryptOnConnect || !m_out.isEmpty())) {
        // Still connecting, or data waits for the handshake: close once it is sent.
        m_closeWhenEncrypted = true;
        return;
    }
    beginTlsClose();
}

// A TLS close: close_notify after all pending plaintext and, with it, our FIN; the transport
// then lingers for what the peer still sends (see Transport::close()) while the socket goes
// from ClosingState to UnconnectedState as soon as everything has left, as QSslSocket does.
void SecureSocketPrivate::beginTlsClose()
{
    if (m_closing || !m_transport)
        return;
    m_closing = true;
    qCDebug(lcSecureSocket) << q << "closing:"
                            << (m_encrypted && m_engine && !m_engine->isFailed()
                                    ? "close_notify after the pending data, then our end of TCP"
                                    : "closing TCP");
    QPointer<SecureSocket> guard(q);
    setState(QAbstractSocket::ClosingState);
    if (!guard || !m_engine)
        return;
    if (m_encrypted && !m_engine->isFailed()) {
        flushWrites();
        m_engine->shutdown();
        sendOutput();
        handleEvents(); // alertSent(close_notify)
        if (!guard)
            return;
    }
    closeTransport();
}

void SecureSocketPrivate::closeTransport()
{
    if (!m_transport)
        return;
    m_transport->setReadEnabled(false); // nothing more is read
    m_transport->close([this] { onTransportClosed(); });
}

void SecureSocketPrivate::onTransportClosed()
{
    QPointer<SecureSocket> guard(q);
    setState(QAbstractSocket::ClosingState); // when the peer ended it
    if (guard)
        reportEnd();
}

void SecureSocketPrivate::reportEnd()
{
    qCDebug(lcSecureSocket) << q << "disconnected";
    QPointer<SecureSocket> guard(q);
    endConnection();
    setState(QAbstractSocket::UnconnectedState);
    if (guard)
        emit q->readChannelFinished();
    if (guard)
        emit q->disconnected();
    if (guard)
        clearAddresses(); // after the signal, as QAbstractSocket does
}

void SecureSocketPrivate::abortConnection()
{
    if (q->state() == QAbstractSocket::UnconnectedState) {
        endConnection();
        return;
    }
    qCDebug(lcSecureSocket) << q << "aborted: the connection is dropped at once";
    m_engine.reset(); // nothing more is sent: no alert, no close_notify
    q->QIODevice::close();
    wipe(m_in);
    m_inOffset = 0;
    m_newPlaintext = false;      // no readyRead() after abort(), even from a pump() it interrupted
    if (m_transport || !m_tcp) { // no TCP socket: a descriptor taken by takeAccepted()
        reportEnd();
        return;
    }
    endConnection();
    QPointer<SecureSocket> guard(q);
    if (m_tcp)
        m_tcp->abort(); // emits stateChanged(), readChannelFinished(), disconnected() via us
    if (guard)
        setState(QAbstractSocket::UnconnectedState); // if the TCP socket had nothing to say
}
