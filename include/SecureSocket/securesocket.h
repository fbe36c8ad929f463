// SecureSocket: a QTcpSocket that speaks TLS.
#ifndef SECURESOCKET_SECURESOCKET_H
#define SECURESOCKET_SECURESOCKET_H

#include <SecureSocket/securecertificate.h>
#include <SecureSocket/secureconfiguration.h>
#include <SecureSocket/securesocket_export.h>
#include <SecureSocket/securesocket_version.h>

#include <QTcpSocket>

#include <memory>

class QSslConfiguration;
class SecureSocketPrivate;

// What preSharedKeyAuthenticationRequired() asks for, as QSslPreSharedKeyAuthenticator: a client
// fills in its identity and key (given the server's hint, TLS 1.2 only); a server fills in the
// key of the client's identity. Pre-filled with the configuration's key for the case, if any;
// an empty key means none (a client then offers none; a server refuses the identity).
class SECURESOCKET_EXPORT SecurePreSharedKeyAuthenticator
{
public:
    QByteArray identityHint() const { return m_identityHint; }
    QByteArray identity() const { return m_identity; }
    void setIdentity(const QByteArray &identity) { m_identity = identity; }
    int maximumIdentityLength() const { return m_maxIdentity; }
    QByteArray preSharedKey() const { return m_key; }
    void setPreSharedKey(const QByteArray &key) { m_key = key; }
    int maximumPreSharedKeyLength() const { return m_maxKey; }

private:
    friend class SecureSocketPrivate;
    QByteArray m_identityHint;
    QByteArray m_identity;
    QByteArray m_key;
    int m_maxIdentity = 0;
    int m_maxKey = 0;
};

// A drop-in QTcpSocket with TLS. Before connectToHostEncrypted(), startClientEncryption() or
// startServerEncryption() it is a plain QTcpSocket; afterwards every read and write is
// plaintext, encrypted on the way out and decrypted on the way in. Byte counts
// (bytesAvailable, bytesToWrite, bytesWritten) are in plaintext bytes.
//
// Peer verification is on by default against the system CAs and the host name given.
// Certificate failures are reported by certCheckFailed() (one per failure) and
// certificateErrors() (all at once) while the handshake waits; a slot connected to either may
// call ignoreCertErrors() to go on. Otherwise the connection is aborted before any
// application data has passed, with SslHandshakeFailedError and an errorString() naming the
// certificate and the cause.
class SECURESOCKET_EXPORT SecureSocket : public QTcpSocket
{
    Q_OBJECT
public:
    enum Mode { UnencryptedMode, ClientMode, ServerMode };
    Q_ENUM(Mode)

    // The cause of the last TLS failure, finer than QAbstractSocket::SocketError.
    enum TlsError {
        NoTlsError,
        ConfigurationError,  // bad file, wrong passphrase, key not matching... (see errorString)
        CertificateRejected, // the peer's certificate failed verification and was not forgiven
        HandshakeFailed,     // protocol or negotiation failure during the handshake
        AlertReceived,       // the peer aborted with a TLS alert
        ProtocolError,       // invalid TLS after the handshake (e.g. a record failed its MAC)
        Truncated,           // the peer closed without close_notify
        ConnectionReset,     // the peer reset the TCP connection (RST) without close_notify
        HandshakeTimedOut,   // no encrypted connection within the handshake timeout
        IdleTimedOut         // closed (with close_notify) after the idle timeout
    };
    Q_ENUM(TlsError)

    // What a server's stapled OCSP response says (a client's view, see ocspStatus()).
    enum OcspStatus {
        OcspNone,    // nothing stapled (or the session was resumed, or verification is off)
        OcspGood,    // valid, current, signed by the issuer or its responder: not revoked
        OcspRevoked, // valid, and says the certificate is revoked
        OcspUnknown, // valid, and says the responder does not know the certificate
        OcspInvalid, // malformed, unsuccessful, wrongly signed or not for this certificate
        OcspExpired  // valid but outside its validity window
    };
    Q_ENUM(OcspStatus)

    explicit SecureSocket(QObject *parent = nullptr);
    ~SecureSocket() override;

    // Connects, then runs the client handshake; the certificate is checked against hostName
    // (or peerVerifyName() when set). encrypted() is emitted when data can flow; writes made
    // before that are queued and sent after it, in order.
    void connectToHostEncrypted(const QString &hostName, quint16 port, OpenMode mode = ReadWrite,
                                NetworkLayerProtocol protocol = AnyIPProtocol);
    // Upgrades a connected plain socket (STARTTLS): client or server handshake. Plaintext
    // received before the call and not yet read is discarded, so that nothing injected before
    // the upgrade can pass for protected data.
    void startClientEncryption();
    void startServerEncryption();

    bool isEncrypted() const; // the handshake is done and verification passed or was forgiven
    Mode mode() const;
    // Session details: empty before encrypted(); kept after the connection ends, until the next
    // connection or abort().
    QString sessionProtocol() const; // "TLSv1.3"
    QString sessionCipher() const;   // e.g. "TLS_AES_256_GCM_SHA384"
    // The key exchange group by its TLS (IANA) name, e.g. "x25519" or "secp256r1"; empty when
    // none was used.
    QString sessionKeyExchangeGroup() const;
    QByteArray negotiatedAlpnProtocol() const;
    // The handshake resumed an earlier session (a client's cached ticket, see
    // SecureConfiguration::setSessionResumption()), skipping the certificate exchange.
    bool isSessionResumed() const;
    // The identity of the pre-shared key that authenticated the peer (see
    // SecureConfiguration::setPreSharedKey()), or empty when certificates did.
    QByteArray preSharedKeyIdentity() const;
    // Session export and import
    // Client: the session of this connection as a blob that setSessionTicket() takes, in this
    // process or in another one (a restarted client), to resume it: usable for the same host,
    // port and verified name with equal settings (certificate verification, CA files, our own
    // certificate), and only while the server accepts it (its ticket keys' lifetime). Empty
    // before sessionTicketReceived() (TLS 1.3 sends tickets after the handshake), without
    // sessionResumption(), and always for a connection whose verification had failures,
    // forgiven ones included. The blob holds the session's resumption secret: whoever has it
    // can resume the session as this client. Store it as a password. Kept after the
    // connection ends, until the next one.
    QByteArray sessionTicket() const;
    // Client, before connecting: offers ticket (from sessionTicket()) on the next handshake
    // instead of a session kept by this process. A ticket made for another host, port, name
    // or settings is not offered (said at debug level, category "securesocket.socket"); one
    // that is not a blob of sessionTicket() is ignored with a warning. Used by one handshake.
    void setSessionTicket(const QByteArray &ticket);
    QList<SecureCertificate> peerCertificateChain() const; // the peer's own first
    SecureCertificate peerCertificate() const;
    // Our own certificate: once encrypted(), the one we sent (a server with several chains sends
    // the one matching the client's server_name, see SecureConfiguration::
    // addLocalCertificateChain()). Null before the handshake has started, or without one.
    SecureCertificate localCertificate() const;
    // Server: the name the client asked for (SNI), once its hello has been read; empty if it
    // sent none (for instance when it connected by IP address).
    QString requestedServerName() const;
    QList<SecureCertificateError> peerVerifyErrors() const; // as reported by certificateErrors
    // OCSP stapling (a client's): the DER OCSP response the server stapled, as sent (whether
    // good or not: the checks' outcome is in peerVerifyErrors()); empty when none was.
    QByteArray ocspResponse() const;
    // And what it says, as checked against the server's certificate and our trust store.
    OcspStatus ocspStatus() const;
    TlsError tlsError() const;

    // Settings. Changing them affects the next handshake, not one in progress.
    SecureConfiguration configuration() const;
    void setConfiguration(const SecureConfiguration &configuration);
    // Takes the CA certificates, local certificate, private key, verify mode and name, protocol
    // range and ALPN list of a QSslConfiguration (for code migrating from QSslSocket).
    void setConfiguration(const QSslConfiguration &configuration);
    void setCaCertificatesFile(const QString &path);
    void setCaCertificatesDirectory(const QString &path);
    void setLocalCertificate(const QString &path);
    void setPrivateKey(const QString &path, const QByteArray &passphrase = {});
    void setPeerVerifyMode(SecureConfiguration::PeerVerifyMode mode);
    void setPeerVerifyName(const QString &name);
    QString peerVerifyName() const;

    // Forgives every failure of the handshake in progress (call from a slot connected to
    // certCheckFailed/certificateErrors), or, before the handshake, the failures whose code is
    // listed (only those; any other still aborts).
    void ignoreCertErrors();
    void ignoreCertErrors(const QList<VerifyError> &errors);
    // Before the handshake: forgives each listed failure only for the certificate it names
    // (SecureCertificateError::error and ::certificate; a null certificate matches only a
    // failure that concerns no certificate), as QSslSocket::ignoreSslErrors(QList<QSslError>).
    // Any other failure still aborts.
    void ignoreCertErrors(const QList<SecureCertificateError> &errors);

    // Blocks until the handshake is done (true) or failed / timed out (false).
    bool waitForEncrypted(int msecs = 30000);

    // Once encrypted, a connection on which no byte has moved either way for this long is
    // closed: errorOccurred(SocketTimeoutError) with tlsError() IdleTimedOut, then close_notify
    // and disconnectFromHost(). 0 (the default) means never; SecureServer sets it on the
    // connections it accepts (SecureServer::setIdleTimeout()). Checked every quarter of the
    // timeout, so a connection is closed between 1 and 1.25 times the timeout after its last
    // byte.
    int idleTimeout() const; // milliseconds
    void setIdleTimeout(int msecs);

    // QTcpSocket behaviour, over TLS when encrypted.
    void connectToHost(const QString &hostName, quint16 port, OpenMode mode = ReadWrite,
                       NetworkLayerProtocol protocol = AnyIPProtocol) override;
    using QAbstractSocket::connectToHost;
    bool bind(const QHostAddress &address, quint16 port = 0,
              BindMode mode = DefaultForPlatform) override;
    using QAbstractSocket::bind;
    // Encrypted: sends close_notify after all pending data, with our end of the TCP stream, and
    // becomes unconnected once they have left, as QSslSocket does. The connection then goes on
    // reading and dropping what the peer still sends, until its end of stream or for at most
    // 2 s, so that nothing in flight is lost to a TCP reset.
    void disconnectFromHost() override;
    void close() override;
    void abort(); // drops the connection at once (also through a QAbstractSocket pointer)
    // Through a QAbstractSocket pointer (flush() is not virtual) the data is sent by the event
    // loop instead.
    bool flush();
    bool setSocketDescriptor(qintptr socketDescriptor, SocketState state = ConnectedState,
                             OpenMode openMode = ReadWrite) override;
    qintptr socketDescriptor() const override;
    void setSocketOption(SocketOption option, const QVariant &value) override;
    QVariant socketOption(SocketOption option) override;
    // Encrypted, bytesAvailable() never exceeds size: the socket stops decrypting, then reading.
    void setReadBufferSize(qint64 size) override;
    qint64 bytesAvailable() const override;
    // Encrypted, as QSslSocket's: plaintext written and not yet encrypted; the ciphertext not
    // yet taken by the kernel is encryptedBytesToWrite() (use both for flow control).
    qint64 bytesToWrite() const override;
    qint64 encryptedBytesToWrite() const;
    bool canReadLine() const override;
    bool atEnd() const override;
    bool waitForConnected(int msecs = 30000) override;
    bool waitForReadyRead(int msecs = 30000) override;
    bool waitForBytesWritten(int msecs = 30000) override;
    bool waitForDisconnected(int msecs = 30000) override;
    void resume() override;

Q_SIGNALS:
    void encrypted();
    // error is a VerifyError value; emitted once per failure, before certificateErrors().
    void certCheckFailed(int error, const QString &reason);
    void certificateErrors(const QList<SecureCertificateError> &errors);
    void modeChanged(SecureSocket::Mode mode);
    void encryptedBytesWritten(qint64 bytes);
    // level: 1 warning, 2 fatal; description: the TLS AlertDescription code.
    void alertReceived(int level, int description, const QString &text);
    void alertSent(int level, int description, const QString &text);
    // The configuration uses pre-shared keys (SecureConfiguration::preSharedKeyAuthentication())
    // and the handshake needs one: fill in authenticator (see SecurePreSharedKeyAuthenticator).
    // Emitted from inside the handshake, like QSslSocket's: connect it directly, and in the slot
    // only fill in the authenticator (never close, abort or delete the socket there). A server's
    // connections are offered by SecureServer::preSharedKeyAuthenticationRequired().
    void preSharedKeyAuthenticationRequired(SecurePreSharedKeyAuthenticator *authenticator);
    // Client: a session that sessionTicket() exports arrived (after encrypted(); in TLS 1.3
    // when the server's ticket is read, with the first data or later).
    void sessionTicketReceived();

protected:
    qint64 readData(char *data, qint64 maxlen) override;
    qint64 skipData(qint64 maxSize) override;
    qint64 writeData(const char *data, qint64 len) override;

private:
    friend class SecureSocketPrivate;
    friend class SecureServerPrivate; // watches the progress of the handshakes it runs
    std::unique_ptr<SecureSocketPrivate> d;
};

#endif
