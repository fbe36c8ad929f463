// SecureSocket: the public API. The connection's life and the signals it emits are in
// securesocketprivate.cpp and tlsdriver.cpp.
#include <SecureSocket/securesocket.h>

#include "secureconfiguration_p.h"
#include "securesocket_p.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <fcntl.h>
#include <unistd.h>

using securesocket::engine::Role;

// --- SecureSocket --------------------------------------------------------------------------

SecureSocket::SecureSocket(QObject *parent)
    : QTcpSocket(parent), d(std::make_unique<SecureSocketPrivate>(this))
{}

SecureSocket::~SecureSocket()
{
    // The TCP socket and the timers are children: stop them from signalling into a
    // half-destroyed object.
    d->stopTimers();
    if (d->m_tcp)
        d->m_tcp->disconnect(this);
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
    d->beginConnect(hostName, port, mode, protocol, SecureSocketPrivate::Encryption::OnConnect);
}

void SecureSocket::connectToHost(const QString &hostName, quint16 port, OpenMode mode,
                                 NetworkLayerProtocol protocol)
{
    d->beginConnect(hostName, port, mode, protocol, SecureSocketPrivate::Encryption::None);
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

QByteArray SecureSocket::preSharedKeyIdentity() const
{
    return d->m_engine ? QByteArray::fromStdString(d->m_engine->handshakeInfo().pskIdentity)
                       : QByteArray();
}

bool SecureSocket::isSessionResumed() const
{
    return d->m_engine && d->m_engine->handshakeInfo().resumed;
}

QByteArray SecureSocket::sessionTicket() const
{
    if (!d->m_engine)
        return {};
    std::string blob = d->m_engine->exportSession();
    const QByteArray ticket(blob.data(), static_cast<qsizetype>(blob.size()));
    OPENSSL_cleanse(blob.data(), blob.size());
    return ticket;
}

void SecureSocket::setSessionTicket(const QByteArray &ticket)
{
    QByteArray &kept = d->m_importedTicket;
    if (!kept.isEmpty())
        OPENSSL_cleanse(kept.data(), static_cast<size_t>(kept.size()));
    kept.clear();
    if (!ticket.isEmpty() && !securesocket::engine::isSessionBlob(std::string_view(
                                 ticket.constData(), static_cast<size_t>(ticket.size())))) {
        qCWarning(lcSecureSocket,
                  "setSessionTicket: %lld bytes that are not a session ticket "
                  "of SecureSocket::sessionTicket(): ignored",
                  static_cast<long long>(ticket.size()));
        return;
    }
    kept = QByteArray(ticket.constData(), ticket.size()); // our own copy, wiped once used
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

SecureCertificate SecureSocket::localCertificate() const
{
    if (!d->m_engine)
        return {};
    const std::string pem = d->m_engine->localCertificatePem();
    return pem.empty() ? SecureCertificate() : SecureCertificate(QByteArray::fromStdString(pem));
}

QString SecureSocket::requestedServerName() const
{
    return d->m_engine ? QString::fromStdString(d->m_engine->requestedServerName()) : QString();
}

QList<SecureCertificateError> SecureSocket::peerVerifyErrors() const
{
    return d->m_verifyErrors;
}

// OCSP stapling
SecureSocket::OcspStatus SecureSocket::ocspStatus() const
{
    using securesocket::engine::OcspStatus;
    switch (d->m_engine ? d->m_engine->ocspStatus() : OcspStatus::None) {
    case OcspStatus::Good:
        return OcspGood;
    case OcspStatus::Revoked:
        return OcspRevoked;
    case OcspStatus::Unknown:
        return OcspUnknown;
    case OcspStatus::Invalid:
        return OcspInvalid;
    case OcspStatus::Expired:
        return OcspExpired;
    case OcspStatus::None:
        break;
    }
    return OcspNone;
}

QByteArray SecureSocket::ocspResponse() const
{
    return d->m_engine ? QByteArray::fromStdString(d->m_engine->ocspResponse()) : QByteArray();
}

SecureConfiguration SecureSocket::configuration() const
{
    return d->m_config;
}
void SecureSocket::setConfiguration(const SecureConfiguration &configuration)
{
    d->m_config = configuration;
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
void SecureSocket::ignoreCertErrors(const QList<SecureCertificateError> &errors)
{
    d->m_ignoreExact = errors; // decided when the failures are reported: see tlsdriver.cpp
}

bool SecureSocket::bind(const QHostAddress &address, quint16 port, BindMode mode)
{
    if (state() != UnconnectedState) {
        qCWarning(lcSecureSocket, "bind: the socket is not unconnected");
        return false;
    }
    d->reset();
    if (!d->tcp()->bind(address, port, mode)) {
        d->setError(d->m_tcp->error(), NoTlsError, d->m_tcp->errorString());
        return false;
    }
    return true; // the TCP socket's BoundState became ours
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
    if (!d->usesTls())
        return false;
    return d->waitFor(msecs, [this] {
        return d->m_encrypted || (d->m_engine && d->m_engine->isFailed()) || !d->usesTls() ||
               state() == UnconnectedState;
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
    if (!d->usesTls()) {
        if (QTcpSocket *tcp = d->plainTcp())
            tcp->close(); // its state changes are ours
        return;
    }
    // As QSslSocket: unconnected on return. close_notify and what was written before go out
    // from the transport's lingering close.
    if (state() != UnconnectedState)
        disconnectFromHost();
    if (state() != UnconnectedState && d->m_transport && !d->m_closeWhenEncrypted) {
        d->m_transport->release();
        d->reportEnd();
    } else if (state() != UnconnectedState) {
        d->abortConnection();
    } else {
        d->reset();
    }
}

void SecureSocket::abort()
{
    d->abortConnection();
}

bool SecureSocket::flush()
{
    if (!d->m_transport) {
        QTcpSocket *tcp = d->plainTcp();
        return tcp && tcp->flush();
    }
    const bool encrypted = bytesToWrite() > 0;
    d->flushWrites();
    const bool sent = d->m_transport->flush();
    d->reportBytesWritten();
    return encrypted || sent;
}

bool SecureSocket::setSocketDescriptor(qintptr socketDescriptor, SocketState state,
                                       OpenMode openMode)
{
    return d->takeDescriptor(socketDescriptor, state, openMode);
}

qintptr SecureSocket::socketDescriptor() const
{
    if (d->m_transport)
        return d->m_transport->descriptor();
    if (d->m_givenFd >= 0)
        return d->m_givenFd;
    return d->m_tcp ? d->m_tcp->socketDescriptor() : -1;
}

void SecureSocket::setSocketOption(SocketOption option, const QVariant &value)
{
    if (d->m_transport)
        d->m_transport->setOption(option, value);
    else
        d->tcp()->setSocketOption(option, value);
}

QVariant SecureSocket::socketOption(SocketOption option)
{
    return d->m_transport ? d->m_transport->option(option) : d->tcp()->socketOption(option);
}

void SecureSocket::setReadBufferSize(qint64 size)
{
    d->m_readLimit = size;
    QTcpSocket::setReadBufferSize(size);
    if (d->m_tcp)
        d->m_tcp->setReadBufferSize(size);
    d->schedulePump(); // the limit may have grown
}

qint64 SecureSocket::bytesAvailable() const
{
    qint64 available = QIODevice::bytesAvailable();
    if (d->usesTls())
        available += d->plaintextBuffered();
    else if (QTcpSocket *tcp = d->plainTcp(); tcp && tcp->isOpen())
        available += tcp->bytesAvailable();
    return available;
}

// Encrypted, as QSslSocket: the plaintext not yet encrypted and handed to the transport (it
// goes down as bytesWritten() reports it).
qint64 SecureSocket::bytesToWrite() const
{
    if (d->usesTls())
        return d->m_plainSubmitted - d->m_plainReported;
    return d->m_tcp ? d->m_tcp->bytesToWrite() : 0; // a TCP socket made later has none
}

qint64 SecureSocket::encryptedBytesToWrite() const
{
    if (!d->m_transport || !d->usesTls())
        return 0;
    // Records made in this event-loop pass wait in the engine until its end (or a flush()).
    const qint64 inEngine = d->m_engine ? static_cast<qint64>(d->m_engine->pendingOutput()) : 0;
    return d->m_transport->bytesToWrite() + inEngine;
}

bool SecureSocket::canReadLine() const
{
    if (QIODevice::canReadLine())
        return true;
    if (d->usesTls())
        return d->m_in.indexOf('\n', d->m_inOffset) >= 0;
    QTcpSocket *tcp = d->plainTcp();
    return tcp && tcp->isOpen() && tcp->canReadLine();
}

bool SecureSocket::atEnd() const
{
    return QIODevice::atEnd();
}

bool SecureSocket::waitForConnected(int msecs)
{
    if (state() == ConnectedState)
        return true;
    const bool connected = d->tcp()->waitForConnected(msecs); // TLS starts in connected()
    return d->usesTls() ? state() == ConnectedState : connected;
}

bool SecureSocket::waitForReadyRead(int msecs)
{
    if (!d->usesTls())
        return d->tcp()->waitForReadyRead(msecs);
    const qint64 before = d->m_readyReadCount;
    return d->waitFor(msecs, [this, before] { return d->m_readyReadCount != before; });
}

// Encrypted: true once plaintext was encrypted and handed on, or, with none left to encrypt,
// once the kernel took some of the ciphertext, as QSslSocket does.
bool SecureSocket::waitForBytesWritten(int msecs)
{
    if (!d->usesTls())
        return d->tcp()->waitForBytesWritten(msecs);
    if (bytesToWrite() > 0) {
        const qint64 before = d->m_plainReported;
        return d->waitFor(msecs, [this, before] { return d->m_plainReported != before; });
    }
    if (!d->m_transport || d->m_transport->bytesToWrite() == 0)
        return false;
    bool written = false;
    QMetaObject::Connection counting =
        connect(this, &SecureSocket::encryptedBytesWritten, this, [&written] { written = true; });
    const bool result = d->waitFor(msecs, [&written] { return written; });
    disconnect(counting);
    return result;
}

bool SecureSocket::waitForDisconnected(int msecs)
{
    if (state() == UnconnectedState) {
        qCWarning(lcSecureSocket, "waitForDisconnected() is not allowed in UnconnectedState");
        return false;
    }
    if (!d->usesTls())
        return d->tcp()->waitForDisconnected(msecs);
    return d->waitFor(msecs, [this] { return state() == UnconnectedState; });
}

void SecureSocket::resume()
{
    if (QTcpSocket *tcp = d->plainTcp())
        tcp->resume();
}

qint64 SecureSocket::readData(char *data, qint64 maxlen)
{
    if (!d->usesTls()) {
        QTcpSocket *tcp = d->plainTcp();
        if (!tcp || !tcp->isOpen())
            return state() == ConnectedState ? 0 : -1;
        return tcp->read(data, maxlen);
    }
    const qint64 n = std::min(maxlen, d->plaintextBuffered());
    if (n > 0) {
        std::memcpy(data, d->m_in.constData() + d->m_inOffset, static_cast<size_t>(n));
        d->m_inOffset += n;
        if (d->m_inOffset == d->m_in.size()) {
            if (d->keepsBuffers())
                d->m_in.resize(0); // keeps the capacity for the next burst
            else
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
    if (!d->usesTls())
        return d->tcp()->write(data, len);
    if ((d->m_engine && d->m_engine->isFailed()) || d->m_closing) {
        setErrorString(tr("The TLS connection is closing or has failed"));
        return -1;
    }
    d->queueWrite(data, len); // encrypted at the end of this event-loop pass, with the rest
    return len;
}
