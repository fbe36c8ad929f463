// SecureSocket: the public API. The driver of the engine, and every signal it emits, is in
// securesocketprivate.cpp.
#include <SecureSocket/securesocket.h>

#include "fdstream_p.h"
#include "secureconfiguration_p.h"
#include "securesocket_p.h"

#include <QSslCipher>
#include <QSslConfiguration>
#include <QSslKey>
#include <QTimer>

#include <algorithm>
#include <cstring>

using securesocket::engine::Role;

namespace {
QByteArray pemOf(const QList<QSslCertificate> &certs)
{
    QByteArray pem;
    for (const QSslCertificate &cert : certs)
        pem += cert.toPem();
    return pem;
}
} // namespace

// --- SecureSocket --------------------------------------------------------------------------

SecureSocket::SecureSocket(QObject *parent)
    : QTcpSocket(parent), d(std::make_unique<SecureSocketPrivate>(this))
{}

SecureSocket::~SecureSocket()
{
    // The plain socket and the timer are children: stop them from signalling into a
    // half-destroyed object.
    d->m_closeTimer->stop();
    d->stopTimers();
    d->m_plain->disconnect(this);
    d->connectionEnded();
}

void SecureSocket::connectToHostEncrypted(const QString &hostName, quint16 port, OpenMode mode,
                                          NetworkLayerProtocol protocol)
{
    std::string error;
    if (!securesocket::engineContext(d->m_config, Role::Client, &error)) {
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

// Session details stay readable after the connection ends, until the next one (or abort()).
QString SecureSocket::sessionProtocol() const
{
    return d->m_engine ? QString::fromStdString(d->m_engine->handshakeInfo().protocol) : QString();
}

QString SecureSocket::sessionCipher() const
{
    return d->m_engine ? QString::fromStdString(d->m_engine->handshakeInfo().cipher) : QString();
}

QString SecureSocket::sessionKeyExchangeGroup() const
{
    return d->m_engine ? QString::fromStdString(d->m_engine->handshakeInfo().group) : QString();
}

QByteArray SecureSocket::negotiatedAlpnProtocol() const
{
    return d->m_engine ? QByteArray::fromStdString(d->m_engine->handshakeInfo().alpn)
                       : QByteArray();
}

bool SecureSocket::isSessionResumed() const
{
    return d->m_engine && d->m_engine->handshakeInfo().resumed;
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

int SecureSocket::idleTimeout() const
{
    return d->m_idleTimeout;
}

void SecureSocket::setIdleTimeout(int msecs)
{
    d->m_idleTimeout = std::max(0, msecs);
    if (d->m_encrypted)
        d->startIdleTimer();
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
    if (state() != UnconnectedState)
        d->disconnectFromHost();
}

void SecureSocket::close()
{
    // QAbstractSocket::abort() is not virtual. Called through a base pointer it empties the
    // write channels and then calls close(); nothing else closes an open, writable socket that
    // way, so this is where such an abort() is recognised and honoured.
    if (isWritable() && writeChannelCount() == 0 && state() != UnconnectedState) {
        d->abortConnection();
        return;
    }
    QIODevice::close();
    d->m_in.clear();
    d->m_inOffset = 0;
    if (state() != UnconnectedState)
        disconnectFromHost();
}

void SecureSocket::abort()
{
    d->abortConnection();
}

bool SecureSocket::flush()
{
    d->flushOutput();
    if (!d->m_stream)
        return d->m_plain->flush();
    // write() sent what the kernel took at once: that counts as flushed here, and
    // bytesWritten() comes now, as from QTcpSocket::flush().
    const bool progressed = d->m_stream->flush() || d->m_stream->unreportedBytes() > 0;
    d->m_stream->reportWritten();
    return progressed;
}

bool SecureSocket::setSocketDescriptor(qintptr socketDescriptor, SocketState state,
                                       OpenMode openMode)
{
    d->connectionEnded(); // a connection this object carried before is over
    d->reset();
    if (!d->m_plain->setSocketDescriptor(socketDescriptor, state, openMode)) {
        d->setError(d->m_plain->error(), NoTlsError, d->m_plain->errorString());
        return false;
    }
    QIODevice::open(openMode);
    d->mirrorAddresses();
    d->setState(d->m_plain->state());
    return true;
}

qintptr SecureSocket::socketDescriptor() const
{
    return d->m_stream ? d->m_stream->descriptor() : d->m_plain->socketDescriptor();
}

void SecureSocket::setSocketOption(SocketOption option, const QVariant &value)
{
    if (d->m_stream)
        d->m_stream->setOption(option, value);
    else
        d->m_plain->setSocketOption(option, value);
}

QVariant SecureSocket::socketOption(SocketOption option)
{
    return d->m_stream ? d->m_stream->option(option) : d->m_plain->socketOption(option);
}

void SecureSocket::setReadBufferSize(qint64 size)
{
    d->m_readLimit = size;
    QTcpSocket::setReadBufferSize(size);
    d->m_plain->setReadBufferSize(size);
    d->schedulePump(); // the limit may have grown
}

qint64 SecureSocket::bytesAvailable() const
{
    qint64 available = QIODevice::bytesAvailable();
    if (d->isTlsMode())
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
    if (d->isTlsMode())
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
    d->m_plain->waitForConnected(msecs); // the descriptor may be adopted in connected()
    return state() == ConnectedState;
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
    if (!d->isTlsActive() && !d->m_encryptOnConnect)
        return d->m_plain->waitForDisconnected(msecs);
    return d->waitFor(msecs, [this] { return state() == UnconnectedState; });
}

void SecureSocket::resume()
{
    d->m_plain->resume();
}

qint64 SecureSocket::readData(char *data, qint64 maxlen)
{
    if (!d->isTlsMode()) {
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
    }
    // Room was made, here or in QIODevice's own buffer (read without calling us): the engine
    // or the kernel may hold more that no notification will announce.
    if (d->m_readLimit > 0)
        d->schedulePump();
    if (n > 0)
        return n;
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
        if (d->m_engine->isFailed() || d->m_closing) {
            setErrorString(tr("The TLS connection is closing or has failed"));
            return -1;
        }
        d->m_engine->write(data, static_cast<size_t>(len), d->engineIo());
        d->m_plainSubmitted += len;
        d->flushOutput();
        if (d->m_engine->isFailed())
            d->schedulePump(); // reports it
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
