#include <SecureSocket/securesocket.h>

#include "secureconfiguration_p.h"
#include "securesocket_p.h"

#include <QAuthenticator>
#include <QDeadlineTimer>
#include <QLoggingCategory>
#include <QNetworkProxy>
#include <QSslCipher>
#include <QSslConfiguration>
#include <QSslKey>

#include <algorithm>
#include <cstring>

Q_LOGGING_CATEGORY(lcSecureSocket, "securesocket.socket", QtWarningMsg)

using securesocket::engine::Connection;
using securesocket::engine::Context;
using securesocket::engine::Error;
using securesocket::engine::Event;
using securesocket::engine::Phase;
using securesocket::engine::Role;

namespace {
constexpr qint64 kChunk = 64 * 1024;      // ciphertext read from the plain socket at once
constexpr qint64 kPlainChunk = 16 * 1024; // plaintext taken from the engine at once

QByteArray pemOf(const QList<QSslCertificate> &certs)
{
    QByteArray pem;
    for (const QSslCertificate &cert : certs)
        pem += cert.toPem();
    return pem;
}
} // namespace

SecureSocketPrivate::SecureSocketPrivate(SecureSocket *q) : q(q), m_plain(new QTcpSocket(q))
{
    using S = QTcpSocket;
    QObject::connect(m_plain, &S::hostFound, q, &SecureSocket::hostFound);
    QObject::connect(m_plain, &S::stateChanged, q,
                     [this](QAbstractSocket::SocketState s) { onPlainStateChanged(s); });
    QObject::connect(m_plain, &S::connected, q, [this] { onPlainConnected(); });
    QObject::connect(m_plain, &S::readyRead, q, [this] { onPlainReadyRead(); });
    QObject::connect(m_plain, &S::bytesWritten, q, [this](qint64 n) { onPlainBytesWritten(n); });
    QObject::connect(m_plain, &S::errorOccurred, q,
                     [this](QAbstractSocket::SocketError e) { onPlainError(e); });
    QObject::connect(m_plain, &S::readChannelFinished, q, &SecureSocket::readChannelFinished);
    QObject::connect(m_plain, &S::disconnected, q, [this] { onPlainDisconnected(); });
    QObject::connect(m_plain, &S::proxyAuthenticationRequired, q,
                     &SecureSocket::proxyAuthenticationRequired);
}

void SecureSocketPrivate::reset()
{
    m_engine.reset();
    setMode(SecureSocket::UnencryptedMode);
    m_tlsError = SecureSocket::NoTlsError;
    m_encryptOnConnect = m_encrypted = m_disconnectAfterHandshake = false;
    m_closeNotifyReceived = m_ignoreAll = m_newPlaintext = false;
    m_verifyErrors.clear();
    m_in.clear();
    m_inOffset = 0;
    m_marks.clear();
    m_plainSubmitted = m_plainFlushed = m_plainWritten = 0;
    if (m_plain->state() == QAbstractSocket::UnconnectedState && m_plain->isOpen())
        m_plain->close();
}

void SecureSocketPrivate::setMode(SecureSocket::Mode mode)
{
    if (m_mode == mode)
        return;
    m_mode = mode;
    emit q->modeChanged(mode);
}

void SecureSocketPrivate::mirrorAddresses()
{
    q->setLocalAddress(m_plain->localAddress());
    q->setLocalPort(m_plain->localPort());
    q->setPeerAddress(m_plain->peerAddress());
    q->setPeerPort(m_plain->peerPort());
}

void SecureSocketPrivate::setError(QAbstractSocket::SocketError error,
                                   SecureSocket::TlsError tlsError, const QString &message)
{
    m_tlsError = tlsError;
    q->setSocketError(error);
    q->setErrorString(message);
    emit q->errorOccurred(error);
}

// --- plain socket events -------------------------------------------------------------------

void SecureSocketPrivate::onPlainStateChanged(QAbstractSocket::SocketState state)
{
    mirrorAddresses();
    q->setSocketState(state);
    emit q->stateChanged(state);
}

void SecureSocketPrivate::onPlainConnected()
{
    mirrorAddresses();
    QPointer<SecureSocket> guard(q);
    emit q->connected();
    if (guard && m_encryptOnConnect && q->state() == QAbstractSocket::ConnectedState)
        startEncryption(Role::Client);
}

void SecureSocketPrivate::onPlainReadyRead()
{
    if (isTlsActive())
        pump();
    else if (!m_encryptOnConnect)
        emit q->readyRead();
}

void SecureSocketPrivate::onPlainBytesWritten(qint64 bytes)
{
    if (isTlsActive())
        emit q->encryptedBytesWritten(bytes);
    qint64 plain = 0;
    while (bytes > 0 && !m_marks.empty()) {
        WriteMark &mark = m_marks.front();
        if (mark.cipher > bytes) {
            mark.cipher -= bytes;
            break;
        }
        bytes -= mark.cipher;
        plain += mark.plain;
        m_marks.pop_front();
    }
    if (plain > 0) {
        m_plainWritten += plain;
        emit q->bytesWritten(plain);
    }
}

void SecureSocketPrivate::onPlainError(QAbstractSocket::SocketError error)
{
    if (error == QAbstractSocket::RemoteHostClosedError && isTlsActive()) {
        if (m_closeNotifyReceived)
            return; // already reported when close_notify arrived
        drainAtEof();
        if (!m_engine || m_engine->isFailed() || m_closeNotifyReceived)
            return;
    }
    setError(error, SecureSocket::NoTlsError, m_plain->errorString());
}

void SecureSocketPrivate::onPlainDisconnected()
{
    mirrorAddresses();
    m_ignoreAll = false;
    emit q->disconnected();
}

// --- TLS ---------------------------------------------------------------------------------

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
    // Plaintext that arrived before the upgrade and was not read is not part of the TLS
    // session: keeping it would let an attacker inject commands (the STARTTLS injection flaw).
    if (const qint64 stale = q->QIODevice::bytesAvailable(); stale > 0) {
        qCWarning(lcSecureSocket,
                  "discarding %lld plaintext bytes received before the TLS "
                  "handshake",
                  static_cast<long long>(stale));
        q->QIODevice::skip(stale);
    }

    std::string error;
    auto context = Context::get(securesocket::toEngineConfig(m_config), role, &error);
    if (!context) {
        setError(
            QAbstractSocket::SslInvalidUserDataError, SecureSocket::ConfigurationError,
            SecureSocket::tr("TLS configuration error: %1").arg(QString::fromStdString(error)));
        m_encryptOnConnect = false;
        m_plain->abort();
        return false;
    }
    QString name;
    if (role == Role::Client) {
        name = m_config.peerVerifyName();
        if (name.isEmpty())
            name = m_verifyName.isEmpty() ? q->peerName() : m_verifyName;
        if (name.isEmpty())
            name = m_plain->peerAddress().toString();
    }
    m_engine = std::make_unique<Connection>(std::move(context), name.toStdString());
    std::vector<VerifyError> accepted(m_ignoreList.cbegin(), m_ignoreList.cend());
    m_engine->setAcceptedFailures(std::move(accepted));
    setMode(role == Role::Client ? SecureSocket::ClientMode : SecureSocket::ServerMode);
    if (!m_engine)
        return false; // a slot of modeChanged() aborted
    const qint64 queued = m_plainSubmitted - m_plainFlushed;
    if (queued > 0) {
        // Written between connectToHostEncrypted() and now: kept for the engine.
        m_engine->write(m_early.constData(), static_cast<size_t>(m_early.size()));
        OPENSSL_cleanse(m_early.data(), static_cast<size_t>(m_early.size()));
        m_early.clear();
    }
    m_encryptOnConnect = false;
    pump();
    return true;
}

void SecureSocketPrivate::pump()
{
    if (!m_engine)
        return;
    if (m_pumping) {
        m_pumpAgain = true;
        return;
    }
    QPointer<SecureSocket> guard(q);
    m_pumping = true;
    do {
        m_pumpAgain = false;
        pullCiphertext();
        flushOutput();
        handleEvents();
        if (!guard)
            return;
        if (!m_engine)
            break;
        flushOutput();
    } while (m_pumpAgain);
    m_pumping = false;
    emitReadyReadIfNew();
}

void SecureSocketPrivate::pullCiphertext()
{
    char buffer[kChunk];
    while (m_engine && !m_engine->isFailed()) {
        if (m_readLimit > 0 && plaintextBuffered() >= m_readLimit)
            break; // back-pressure: leave the rest in the kernel
        const qint64 got = m_plain->bytesAvailable() > 0 ? m_plain->read(buffer, kChunk) : 0;
        if (got > 0)
            m_engine->feed(buffer, static_cast<size_t>(got));
        m_engine->process();
        drainPlaintext(false);
        if (got <= 0)
            break;
    }
}

void SecureSocketPrivate::drainPlaintext(bool ignoreLimit)
{
    while (m_engine) {
        if (!ignoreLimit && m_readLimit > 0 && plaintextBuffered() >= m_readLimit)
            break;
        if (m_inOffset > 0 && m_inOffset == m_in.size()) {
            m_in.clear();
            m_inOffset = 0;
        }
        const qint64 old = m_in.size();
        m_in.resize(old + kPlainChunk);
        const size_t got = m_engine->read(m_in.data() + old, kPlainChunk);
        m_in.resize(old + static_cast<qint64>(got));
        if (got == 0)
            break;
        m_newPlaintext = true;
    }
    if (m_in.isEmpty())
        m_in.clear(); // no idle buffer kept per connection
}

void SecureSocketPrivate::flushOutput()
{
    if (!m_engine || m_plain->state() == QAbstractSocket::UnconnectedState)
        return;
    const size_t pending = m_engine->pendingOutput();
    if (pending == 0)
        return;
    QByteArray out(static_cast<qint64>(pending), Qt::Uninitialized);
    out.resize(static_cast<qint64>(m_engine->takeOutput(out.data(), pending)));
    const qint64 encrypted = m_plainSubmitted - static_cast<qint64>(m_engine->pendingWrite());
    m_marks.push_back({out.size(), encrypted - m_plainFlushed});
    m_plainFlushed = encrypted;
    m_plain->write(out);
}

void SecureSocketPrivate::emitReadyReadIfNew()
{
    if (!m_newPlaintext)
        return;
    m_newPlaintext = false;
    ++m_readyReadCount;
    emit q->readyRead();
}

void SecureSocketPrivate::handleEvents()
{
    QPointer<SecureSocket> guard(q);
    for (const Event &event : m_engine->takeEvents()) {
        if (!guard || !m_engine)
            return;
        switch (event.kind) {
        case Event::HandshakeDone:
            m_encrypted = true;
            emit q->encrypted();
            if (guard && m_engine && m_disconnectAfterHandshake) {
                flushOutput();
                m_plain->disconnectFromHost();
            }
            break;
        case Event::VerifyFailed:
            reportVerifyFailures();
            break;
        case Event::AlertSent:
        case Event::AlertReceived: {
            const int level = event.alert.fatal ? 2 : 1;
            const QString text = QString::fromStdString(event.alert.text);
            if (event.kind == Event::AlertSent)
                emit q->alertSent(level, event.alert.description, text);
            else
                emit q->alertReceived(level, event.alert.description, text);
            break;
        }
        case Event::CloseNotify:
            m_closeNotifyReceived = true;
            emitReadyReadIfNew();
            if (!guard || !m_engine)
                return;
            setError(QAbstractSocket::RemoteHostClosedError, SecureSocket::NoTlsError,
                     SecureSocket::tr("The remote host closed the connection"));
            if (guard && m_engine) {
                m_engine->shutdown();
                flushOutput();
                m_plain->disconnectFromHost();
            }
            break;
        case Event::Closed:
            break;
        case Event::Failed:
            emitReadyReadIfNew();
            if (guard && m_engine)
                handleFailure();
            break;
        }
    }
}

void SecureSocketPrivate::reportVerifyFailures()
{
    QPointer<SecureSocket> guard(q);
    m_verifyErrors.clear();
    for (const auto &failure : m_engine->verifyFailures()) {
        SecureCertificateError error;
        error.error = failure.code;
        error.message = QString::fromStdString(failure.message);
        error.depth = failure.depth;
        error.subject = QString::fromStdString(failure.subject);
        m_verifyErrors.append(error);
    }
    const QList<SecureCertificateError> errors = m_verifyErrors;
    for (const SecureCertificateError &error : errors) {
        emit q->certCheckFailed(static_cast<int>(error.error), error.message);
        if (!guard || !m_engine)
            return;
    }
    emit q->certificateErrors(errors);
    if (!guard || !m_engine || m_engine->phase() != Phase::VerifyPending)
        return;
    const bool accept =
        m_ignoreAll || std::all_of(errors.begin(), errors.end(), [this](const auto &e) {
            return m_ignoreList.contains(e.error);
        });
    m_engine->resolveVerification(accept);
    m_pumpAgain = true;
}

void SecureSocketPrivate::handleFailure()
{
    const Error &error = m_engine->error();
    const QString message = QString::fromStdString(error.message);
    const QString peer = q->peerName().isEmpty() ? q->peerAddress().toString() : q->peerName();
    QAbstractSocket::SocketError socketError =
        m_encrypted ? QAbstractSocket::SslInternalError : QAbstractSocket::SslHandshakeFailedError;
    SecureSocket::TlsError tlsError =
        m_encrypted ? SecureSocket::ProtocolError : SecureSocket::HandshakeFailed;
    switch (error.kind) {
    case Error::Config:
        socketError = QAbstractSocket::SslInvalidUserDataError;
        tlsError = SecureSocket::ConfigurationError;
        break;
    case Error::Certificate:
        tlsError = SecureSocket::CertificateRejected;
        break;
    case Error::AlertReceived:
        tlsError = SecureSocket::AlertReceived;
        break;
    case Error::Truncated:
        if (m_encrypted) {
            socketError = QAbstractSocket::NetworkError;
            tlsError = SecureSocket::Truncated;
        }
        break;
    default:
        break;
    }
    flushOutput(); // the alert, if any
    const QString text =
        m_encrypted ? SecureSocket::tr("TLS connection with %1 failed: %2").arg(peer, message)
                    : SecureSocket::tr("TLS handshake with %1 failed: %2").arg(peer, message);
    QPointer<SecureSocket> guard(q);
    setError(socketError, tlsError, text);
    if (guard && m_plain->state() == QAbstractSocket::ConnectedState)
        m_plain->disconnectFromHost();
}

void SecureSocketPrivate::drainAtEof()
{
    char buffer[kChunk];
    for (qint64 got; (got = m_plain->read(buffer, kChunk)) > 0;)
        m_engine->feed(buffer, static_cast<size_t>(got));
    m_engine->feedEof();
    m_engine->process();
    drainPlaintext(true);
    QPointer<SecureSocket> guard(q);
    handleEvents();
    if (guard && m_engine) {
        if (m_engine->phase() == Phase::Data || m_engine->phase() == Phase::Shutdown) {
            // read() reports the truncation once it finds the input ended mid-stream.
            drainPlaintext(true);
            handleEvents();
        }
    }
    if (guard)
        emitReadyReadIfNew();
}

bool SecureSocketPrivate::waitFor(int msecs, const std::function<bool()> &done)
{
    QDeadlineTimer deadline(msecs);
    while (!done()) {
        if (m_plain->state() == QAbstractSocket::UnconnectedState)
            return done();
        if (m_plain->state() != QAbstractSocket::ConnectedState) {
            if (!m_plain->waitForConnected(static_cast<int>(deadline.remainingTime())))
                return done();
            continue;
        }
        if (m_plain->bytesAvailable() > 0 && isTlsActive()) {
            pump();
            continue;
        }
        const int left = static_cast<int>(deadline.remainingTime());
        if (left == 0)
            return done();
        if (m_plain->bytesToWrite() > 0 && !m_plain->waitForBytesWritten(left))
            return done();
        if (m_plain->bytesToWrite() == 0 && !done() && !m_plain->waitForReadyRead(left))
            return done();
    }
    return true;
}

// --- SecureSocket --------------------------------------------------------------------------

SecureSocket::SecureSocket(QObject *parent)
    : QTcpSocket(parent), d(std::make_unique<SecureSocketPrivate>(this))
{}

SecureSocket::~SecureSocket()
{
    // The plain socket is a child: stop it from signalling into a half-destroyed object.
    d->m_plain->disconnect(this);
}

void SecureSocket::connectToHostEncrypted(const QString &hostName, quint16 port, OpenMode mode,
                                          NetworkLayerProtocol protocol)
{
    std::string error;
    if (!Context::get(securesocket::toEngineConfig(d->m_config), Role::Client, &error)) {
        d->setError(SslInvalidUserDataError, ConfigurationError,
                    tr("TLS configuration error: %1").arg(QString::fromStdString(error)));
        return;
    }
    d->beginConnect(hostName, port, mode, protocol, true);
}

void SecureSocket::connectToHost(const QString &hostName, quint16 port, OpenMode mode,
                                 NetworkLayerProtocol protocol)
{
    d->beginConnect(hostName, port, mode, protocol, false);
}

void SecureSocketPrivate::beginConnect(const QString &host, quint16 port, QIODevice::OpenMode mode,
                                       QAbstractSocket::NetworkLayerProtocol protocol, bool encrypt)
{
    const auto state = q->state();
    if (state != QAbstractSocket::UnconnectedState && state != QAbstractSocket::BoundState) {
        qCWarning(lcSecureSocket, "connectToHost: already connecting or connected to \"%s\"",
                  qPrintable(q->peerName()));
        return;
    }
    reset();
    m_encryptOnConnect = encrypt;
    m_verifyName = host;
    q->QIODevice::open(mode);
    q->setPeerName(host);
    q->setSocketError(QAbstractSocket::UnknownSocketError);
    q->setErrorString(QString());
    m_plain->setProxy(q->proxy());
    m_plain->setReadBufferSize(m_readLimit);
    m_plain->connectToHost(host, port, mode, protocol);
}

void SecureSocket::startClientEncryption()
{
    d->startEncryption(Role::Client);
}
void SecureSocket::startServerEncryption()
{
    d->startEncryption(Role::Server);
}

bool SecureSocket::isEncrypted() const
{
    return d->m_encrypted;
}
SecureSocket::Mode SecureSocket::mode() const
{
    return d->m_mode;
}
SecureSocket::TlsError SecureSocket::tlsError() const
{
    return d->m_tlsError;
}

QString SecureSocket::sessionProtocol() const
{
    return d->m_encrypted ? QString::fromStdString(d->m_engine->handshakeInfo().protocol)
                          : QString();
}

QString SecureSocket::sessionCipher() const
{
    return d->m_encrypted ? QString::fromStdString(d->m_engine->handshakeInfo().cipher) : QString();
}

QByteArray SecureSocket::negotiatedAlpnProtocol() const
{
    return d->m_encrypted ? QByteArray::fromStdString(d->m_engine->handshakeInfo().alpn)
                          : QByteArray();
}

QList<SecureCertificate> SecureSocket::peerCertificateChain() const
{
    QList<SecureCertificate> chain;
    if (d->m_engine) {
        for (const std::string &pem : d->m_engine->peerCertificateChainPem())
            chain.append(SecureCertificate(QByteArray::fromStdString(pem)));
    }
    return chain;
}

SecureCertificate SecureSocket::peerCertificate() const
{
    const QList<SecureCertificate> chain = peerCertificateChain();
    return chain.isEmpty() ? SecureCertificate() : chain.first();
}

QList<SecureCertificateError> SecureSocket::peerVerifyErrors() const
{
    return d->m_verifyErrors;
}

SecureConfiguration SecureSocket::configuration() const
{
    return d->m_config;
}
void SecureSocket::setConfiguration(const SecureConfiguration &configuration)
{
    d->m_config = configuration;
}

void SecureSocket::setConfiguration(const QSslConfiguration &qt)
{
    SecureConfiguration config;
    const QList<QSslCertificate> cas = qt.caCertificates();
    if (!cas.isEmpty() && cas != QSslConfiguration::systemCaCertificates()) {
        config.setUseSystemCaCertificates(false);
        config.setCaCertificatesPem(pemOf(cas));
    }
    config.setLocalCertificateChainPem(pemOf(qt.localCertificateChain()));
    if (!qt.privateKey().isNull())
        config.setPrivateKeyPem(qt.privateKey().toPem());
    switch (qt.peerVerifyMode()) {
    case QSslSocket::VerifyNone:
        config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
        break;
    case QSslSocket::QueryPeer:
        config.setPeerVerifyMode(SecureConfiguration::QueryPeer);
        break;
    default:
        config.setPeerVerifyMode(SecureConfiguration::VerifyPeer);
        break;
    }
    switch (qt.protocol()) {
    case QSsl::TlsV1_3:
        config.setMaximumProtocol(SecureConfiguration::Tls13);
        Q_FALLTHROUGH();
    case QSsl::TlsV1_3OrLater:
        config.setMinimumProtocol(SecureConfiguration::Tls13);
        break;
    case QSsl::TlsV1_2:
        config.setMaximumProtocol(SecureConfiguration::Tls12);
        break;
    default:
        break;
    }
    QByteArray list, suites;
    if (qt.ciphers() != QSslConfiguration::supportedCiphers()) {
        for (const QSslCipher &cipher : qt.ciphers()) {
            QByteArray &target = cipher.name().startsWith(QLatin1String("TLS_")) ? suites : list;
            target += (target.isEmpty() ? "" : ":") + cipher.name().toLatin1();
        }
    }
    config.setCipherList(list);
    config.setCipherSuites(suites);
    config.setAlpnProtocols(qt.allowedNextProtocols());
    config.setPeerVerifyName(d->m_config.peerVerifyName());
    d->m_config = config;
}

void SecureSocket::setCaCertificatesFile(const QString &path)
{
    d->m_config.setCaCertificatesFile(path);
}
void SecureSocket::setCaCertificatesDirectory(const QString &path)
{
    d->m_config.setCaCertificatesDirectory(path);
}
void SecureSocket::setLocalCertificate(const QString &path)
{
    d->m_config.setLocalCertificateChainFile(path);
}
void SecureSocket::setPrivateKey(const QString &path, const QByteArray &passphrase)
{
    d->m_config.setPrivateKeyFile(path);
    d->m_config.setPrivateKeyPassphrase(passphrase);
}
void SecureSocket::setPeerVerifyMode(SecureConfiguration::PeerVerifyMode mode)
{
    d->m_config.setPeerVerifyMode(mode);
}
void SecureSocket::setPeerVerifyName(const QString &name)
{
    d->m_config.setPeerVerifyName(name);
}
QString SecureSocket::peerVerifyName() const
{
    return d->m_config.peerVerifyName();
}

void SecureSocket::ignoreCertErrors()
{
    d->m_ignoreAll = true;
}
void SecureSocket::ignoreCertErrors(const QList<VerifyError> &errors)
{
    d->m_ignoreList = errors;
    if (d->m_engine)
        d->m_engine->setAcceptedFailures({errors.cbegin(), errors.cend()});
}

bool SecureSocket::waitForEncrypted(int msecs)
{
    if (d->m_encrypted)
        return true;
    if (!d->isTlsActive() && !d->m_encryptOnConnect)
        return false;
    return d->waitFor(msecs, [this] {
        return d->m_encrypted || (d->m_engine && d->m_engine->isFailed()) ||
               (!d->m_engine && !d->m_encryptOnConnect);
    }) && d->m_encrypted;
}

void SecureSocket::disconnectFromHost()
{
    const SocketState current = state();
    if (current == UnconnectedState)
        return;
    if (d->m_engine && !d->m_engine->isFailed()) {
        d->m_engine->shutdown(); // close_notify after all pending plaintext
        const Phase phase = d->m_engine->phase();
        if (phase == Phase::Handshake || phase == Phase::VerifyPending) {
            d->m_disconnectAfterHandshake = true;
            return;
        }
        d->flushOutput();
    }
    d->m_plain->disconnectFromHost();
}

void SecureSocket::close()
{
    QIODevice::close();
    d->m_in.clear();
    d->m_inOffset = 0;
    if (state() != UnconnectedState)
        disconnectFromHost();
    setLocalPort(0);
    setLocalAddress({});
    setPeerPort(0);
    setPeerAddress({});
    setPeerName({});
}

void SecureSocket::abort()
{
    d->m_engine.reset();
    d->m_encryptOnConnect = false;
    QIODevice::close();
    d->m_in.clear();
    d->m_inOffset = 0;
    d->m_plain->abort();
}

bool SecureSocket::flush()
{
    d->flushOutput();
    return d->m_plain->flush();
}

bool SecureSocket::setSocketDescriptor(qintptr socketDescriptor, SocketState state,
                                       OpenMode openMode)
{
    d->reset();
    if (!d->m_plain->setSocketDescriptor(socketDescriptor, state, openMode)) {
        d->setError(d->m_plain->error(), NoTlsError, d->m_plain->errorString());
        return false;
    }
    QIODevice::open(openMode);
    d->mirrorAddresses();
    setSocketState(d->m_plain->state());
    return true;
}

qintptr SecureSocket::socketDescriptor() const
{
    return d->m_plain->socketDescriptor();
}

void SecureSocket::setSocketOption(SocketOption option, const QVariant &value)
{
    d->m_plain->setSocketOption(option, value);
}

QVariant SecureSocket::socketOption(SocketOption option)
{
    return d->m_plain->socketOption(option);
}

void SecureSocket::setReadBufferSize(qint64 size)
{
    const bool grew = size == 0 || size > d->m_readLimit;
    d->m_readLimit = size;
    QTcpSocket::setReadBufferSize(size);
    d->m_plain->setReadBufferSize(size);
    if (grew && d->isTlsActive())
        QMetaObject::invokeMethod(
            this, [this] { d->pump(); }, Qt::QueuedConnection);
}

qint64 SecureSocket::bytesAvailable() const
{
    qint64 available = QIODevice::bytesAvailable();
    if (d->isTlsActive())
        available += d->plaintextBuffered();
    else if (!d->m_encryptOnConnect && d->m_plain->isOpen())
        available += d->m_plain->bytesAvailable();
    return available;
}

qint64 SecureSocket::bytesToWrite() const
{
    return d->m_plainSubmitted - d->m_plainWritten;
}

bool SecureSocket::canReadLine() const
{
    if (QIODevice::canReadLine())
        return true;
    if (d->isTlsActive())
        return d->m_in.indexOf('\n', d->m_inOffset) >= 0;
    return !d->m_encryptOnConnect && d->m_plain->isOpen() && d->m_plain->canReadLine();
}

bool SecureSocket::atEnd() const
{
    return QIODevice::atEnd();
}

bool SecureSocket::waitForConnected(int msecs)
{
    if (state() == ConnectedState)
        return true;
    return d->m_plain->waitForConnected(msecs) && state() == ConnectedState;
}

bool SecureSocket::waitForReadyRead(int msecs)
{
    if (!d->isTlsActive() && !d->m_encryptOnConnect)
        return d->m_plain->waitForReadyRead(msecs);
    const qint64 before = d->m_readyReadCount;
    return d->waitFor(msecs, [this, before] { return d->m_readyReadCount != before; });
}

bool SecureSocket::waitForBytesWritten(int msecs)
{
    if (!d->isTlsActive() && !d->m_encryptOnConnect)
        return d->m_plain->waitForBytesWritten(msecs);
    if (bytesToWrite() == 0)
        return false;
    const qint64 before = d->m_plainWritten;
    return d->waitFor(msecs, [this, before] { return d->m_plainWritten != before; });
}

bool SecureSocket::waitForDisconnected(int msecs)
{
    if (state() == UnconnectedState) {
        qCWarning(lcSecureSocket, "waitForDisconnected() is not allowed in UnconnectedState");
        return false;
    }
    QDeadlineTimer deadline(msecs);
    while (d->m_plain->state() == ConnectedState && !deadline.hasExpired()) {
        if (d->m_plain->bytesAvailable() > 0 && d->isTlsActive())
            d->pump();
        else if (!d->m_plain->waitForReadyRead(static_cast<int>(deadline.remainingTime())) &&
                 d->m_plain->state() == ConnectedState && d->m_plain->bytesToWrite() == 0)
            return false;
    }
    if (d->m_plain->state() == UnconnectedState)
        return true;
    return d->m_plain->waitForDisconnected(static_cast<int>(deadline.remainingTime()));
}

void SecureSocket::resume()
{
    d->m_plain->resume();
}

qint64 SecureSocket::readData(char *data, qint64 maxlen)
{
    if (!d->isTlsActive()) {
        if (d->m_encryptOnConnect || !d->m_plain->isOpen())
            return state() == ConnectedState ? 0 : -1;
        return d->m_plain->read(data, maxlen);
    }
    const qint64 n = std::min(maxlen, d->plaintextBuffered());
    if (n > 0) {
        std::memcpy(data, d->m_in.constData() + d->m_inOffset, static_cast<size_t>(n));
        d->m_inOffset += n;
        if (d->m_inOffset == d->m_in.size()) {
            d->m_in.clear();
            d->m_inOffset = 0;
        }
        if (d->m_readLimit > 0 && d->m_plain->bytesAvailable() > 0)
            QMetaObject::invokeMethod(
                this, [this] { d->pump(); }, Qt::QueuedConnection);
        return n;
    }
    return (maxlen == 0 || state() == ConnectedState) ? 0 : -1;
}

qint64 SecureSocket::skipData(qint64 maxSize)
{
    return QIODevice::skipData(maxSize);
}

qint64 SecureSocket::writeData(const char *data, qint64 len)
{
    if (state() == UnconnectedState) {
        setErrorString(tr("Socket is not connected"));
        return -1;
    }
    if (d->m_engine) {
        if (d->m_engine->isFailed())
            return -1;
        d->m_engine->write(data, static_cast<size_t>(len));
        d->m_plainSubmitted += len;
        d->flushOutput();
        return len;
    }
    if (d->m_encryptOnConnect) {
        d->m_early.append(data, len);
        d->m_plainSubmitted += len;
        return len;
    }
    const qint64 written = d->m_plain->write(data, len);
    if (written > 0) {
        d->m_plainSubmitted += written;
        d->m_plainFlushed += written;
        d->m_marks.push_back({written, written});
    }
    return written;
}
