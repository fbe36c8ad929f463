/// \file
/// SecureSocket: a QTcpSocket that speaks TLS.
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

/// What preSharedKeyAuthenticationRequired() asks for, as QSslPreSharedKeyAuthenticator.
///
/// A client fills in its identity and key (given the server's hint, TLS 1.2 only); a server
/// fills in the key of the client's identity. Pre-filled with the configuration's key for the
/// case, if any; an empty key means none (a client then offers none; a server refuses the
/// identity). See SecureSocket::preSharedKeyAuthenticationRequired() and
/// SecureServer::preSharedKeyAuthenticationRequired().
class SECURESOCKET_EXPORT SecurePreSharedKeyAuthenticator
{
public:
    /// Client: the identity hint the server sent (TLS 1.2 only); empty if none.
    QByteArray identityHint() const { return m_identityHint; }
    /// The identity: a client's to offer, or the one a client offered to a server.
    QByteArray identity() const { return m_identity; }
    /// Client: sets the identity to offer, at most maximumIdentityLength() bytes.
    void setIdentity(const QByteArray &identity) { m_identity = identity; }
    /// The longest identity the handshake takes, in bytes.
    int maximumIdentityLength() const { return m_maxIdentity; }
    /// The key for identity(); empty means none.
    QByteArray preSharedKey() const { return m_key; }
    /// Sets the key for identity(), at most maximumPreSharedKeyLength() bytes; an empty key
    /// means none.
    void setPreSharedKey(const QByteArray &key) { m_key = key; }
    /// The longest key the handshake takes, in bytes.
    int maximumPreSharedKeyLength() const { return m_maxKey; }

private:
    friend class SecureSocketPrivate;
    QByteArray m_identityHint;
    QByteArray m_identity;
    QByteArray m_key;
    int m_maxIdentity = 0;
    int m_maxKey = 0;
};

/// A drop-in QTcpSocket with TLS.
///
/// Before connectToHostEncrypted(), startClientEncryption() or startServerEncryption() it is a
/// plain QTcpSocket; afterwards every read and write is plaintext, encrypted on the way out and
/// decrypted on the way in. Byte counts (bytesAvailable, bytesToWrite, bytesWritten) are in
/// plaintext bytes.
///
/// Peer verification is on by default against the system CAs and the host name given.
/// Certificate failures are reported by certCheckFailed() (one per failure) and
/// certificateErrors() (all at once) while the handshake waits; a slot connected to either may
/// call ignoreCertErrors() to go on. Otherwise the connection is aborted before any
/// application data has passed, with SslHandshakeFailedError and an errorString() naming the
/// certificate and the cause.
class SECURESOCKET_EXPORT SecureSocket : public QTcpSocket
{
    Q_OBJECT
public:
    /// Which side of TLS the socket plays (mode()).
    enum Mode {
        UnencryptedMode, ///< Plain TCP: no encryption started.
        ClientMode,      ///< The client side of TLS.
        ServerMode       ///< The server side of TLS.
    };
    Q_ENUM(Mode)

    /// The cause of the last TLS failure, finer than QAbstractSocket::SocketError.
    enum TlsError {
        NoTlsError, ///< No TLS failure.
        /// A bad file, a wrong passphrase, a key not matching its certificate... (see
        /// errorString()).
        ConfigurationError,
        CertificateRejected, ///< The peer's certificate failed verification and was not forgiven.
        HandshakeFailed,     ///< A protocol or negotiation failure during the handshake.
        AlertReceived,       ///< The peer aborted with a TLS alert.
        ProtocolError, ///< Invalid TLS after the handshake (for example, a record failed its MAC).
        Truncated,     ///< The peer closed without close_notify.
        ConnectionReset,   ///< The peer reset the TCP connection (RST) without close_notify.
        HandshakeTimedOut, ///< No encrypted connection within the handshake timeout.
        IdleTimedOut       ///< Closed (with close_notify) after the idle timeout.
    };
    Q_ENUM(TlsError)

    /// What a server's stapled OCSP response says (a client's view, see ocspStatus()).
    enum OcspStatus {
        /// Nothing stapled (or the session was resumed, or verification is off).
        OcspNone,
        /// Valid, current, signed by the issuer or its responder: not revoked.
        OcspGood,
        OcspRevoked, ///< Valid, and says the certificate is revoked.
        OcspUnknown, ///< Valid, and says the responder does not know the certificate.
        OcspInvalid, ///< Malformed, unsuccessful, wrongly signed or not for this certificate.
        OcspExpired  ///< Valid but outside its validity window.
    };
    Q_ENUM(OcspStatus)

    /// An unconnected socket, in UnencryptedMode, with the default configuration.
    explicit SecureSocket(QObject *parent = nullptr);
    /// Destroys the socket; an open connection ends with it.
    ~SecureSocket() override;

    /// Connects, then runs the client handshake; the certificate is checked against hostName
    /// (or peerVerifyName() when set). encrypted() is emitted when data can flow; writes made
    /// before that are queued and sent after it, in order. A configuration that does not load
    /// fails at once: errorOccurred(SslInvalidUserDataError), tlsError() ConfigurationError.
    void connectToHostEncrypted(const QString &hostName, quint16 port, OpenMode mode = ReadWrite,
                                NetworkLayerProtocol protocol = AnyIPProtocol);
    /// Upgrades a connected plain socket (STARTTLS) with a client handshake. Plaintext
    /// received before the call and not yet read is discarded, so that nothing injected before
    /// the upgrade can pass for protected data.
    void startClientEncryption();
    /// Upgrades a connected plain socket (STARTTLS) with a server handshake; unread plaintext is
    /// discarded as by startClientEncryption().
    void startServerEncryption();

    /// True once the handshake is done and verification passed or was forgiven.
    bool isEncrypted() const;
    /// Which side of TLS the socket plays; UnencryptedMode before encryption starts.
    Mode mode() const;
    // Session details: empty before encrypted(); kept after the connection ends, until the next
    // connection or abort().
    /// The negotiated protocol version, such as "TLSv1.3". Empty before encrypted(); kept after
    /// the connection ends, until the next connection or abort(), as are the other session
    /// details.
    QString sessionProtocol() const;
    /// The negotiated cipher suite, such as "TLS_AES_256_GCM_SHA384"; empty before encrypted().
    QString sessionCipher() const;
    /// The key exchange group by its TLS (IANA) name, such as "x25519" or "secp256r1"; empty
    /// when none was used.
    QString sessionKeyExchangeGroup() const;
    /// The ALPN protocol both ends agreed on (SecureConfiguration::setAlpnProtocols()), or
    /// empty.
    QByteArray negotiatedAlpnProtocol() const;
    /// The handshake resumed an earlier session (a client's cached ticket, see
    /// SecureConfiguration::setSessionResumption()), skipping the certificate exchange.
    bool isSessionResumed() const;
    /// The identity of the pre-shared key that authenticated the peer (see
    /// SecureConfiguration::setPreSharedKey()), or empty when certificates did.
    QByteArray preSharedKeyIdentity() const;
    // Session export and import
    /// Client: the session of this connection as a blob that setSessionTicket() takes, in this
    /// process or in another one (a restarted client), to resume it: usable for the same host,
    /// port and verified name with equal settings (certificate verification, CA files, our own
    /// certificate), and only while the server accepts it (its ticket keys' lifetime). Empty
    /// before sessionTicketReceived() (TLS 1.3 sends tickets after the handshake), without
    /// sessionResumption(), and always for a connection whose verification had failures,
    /// forgiven ones included. The blob holds the session's resumption secret: whoever has it
    /// can resume the session as this client. Store it as a password. Kept after the
    /// connection ends, until the next one.
    QByteArray sessionTicket() const;
    /// Client, before connecting: offers ticket (from sessionTicket()) on the next handshake
    /// instead of a session kept by this process. A ticket made for another host, port, name
    /// or settings is not offered (said at debug level, category "securesocket.socket"); one
    /// that is not a blob of sessionTicket() is ignored with a warning. Used by one handshake.
    void setSessionTicket(const QByteArray &ticket);
    /// The certificates the peer sent, its own first; empty before the handshake has
    /// received them.
    QList<SecureCertificate> peerCertificateChain() const;
    /// The peer's own certificate (the first of peerCertificateChain()), or a null one.
    SecureCertificate peerCertificate() const;
    /// Our own certificate: once encrypted(), the one we sent (a server with several chains
    /// sends the one matching the client's server_name, see
    /// SecureConfiguration::addLocalCertificateChain()). Null before the handshake has started,
    /// or without one.
    SecureCertificate localCertificate() const;
    /// Server: the name the client asked for (SNI), once its hello has been read; empty if it
    /// sent none (for instance when it connected by IP address).
    QString requestedServerName() const;
    /// The verification failures of the last handshake, as reported by certificateErrors().
    QList<SecureCertificateError> peerVerifyErrors() const;
    /// OCSP stapling (a client's): the DER OCSP response the server stapled, as sent (whether
    /// good or not: the checks' outcome is in peerVerifyErrors()); empty when none was.
    QByteArray ocspResponse() const;
    /// What the stapled OCSP response says, as checked against the server's certificate and
    /// our trust store.
    OcspStatus ocspStatus() const;
    /// The cause of the last TLS failure; NoTlsError if there was none.
    TlsError tlsError() const;

    // Settings. Changing them affects the next handshake, not one in progress.
    /// The socket's TLS settings. Changing them affects the next handshake, not one in
    /// progress (this holds for every setter below).
    SecureConfiguration configuration() const;
    /// Replaces all TLS settings of the socket.
    void setConfiguration(const SecureConfiguration &configuration);
    /// Takes the CA certificates, local certificate, private key, verify mode and name,
    /// protocol range and ALPN list of a QSslConfiguration (for code migrating from
    /// QSslSocket).
    void setConfiguration(const QSslConfiguration &configuration);
    /// Shorthand for SecureConfiguration::setCaCertificatesFile() on configuration().
    void setCaCertificatesFile(const QString &path);
    /// Shorthand for SecureConfiguration::setCaCertificatesDirectory() on configuration().
    void setCaCertificatesDirectory(const QString &path);
    /// Shorthand for SecureConfiguration::setLocalCertificateChainFile() on configuration().
    void setLocalCertificate(const QString &path);
    /// Shorthand for SecureConfiguration::setPrivateKeyFile() and
    /// SecureConfiguration::setPrivateKeyPassphrase() on configuration().
    void setPrivateKey(const QString &path, const QByteArray &passphrase = {});
    /// Shorthand for SecureConfiguration::setPeerVerifyMode() on configuration().
    void setPeerVerifyMode(SecureConfiguration::PeerVerifyMode mode);
    /// Shorthand for SecureConfiguration::setPeerVerifyName() on configuration().
    void setPeerVerifyName(const QString &name);
    /// The configuration's SecureConfiguration::peerVerifyName().
    QString peerVerifyName() const;

    /// Forgives every failure of the handshake in progress (call from a slot connected to
    /// certCheckFailed() or certificateErrors()).
    void ignoreCertErrors();
    /// Before the handshake: forgives the failures whose code is listed (only those; any other
    /// still aborts).
    void ignoreCertErrors(const QList<VerifyError> &errors);
    /// Before the handshake: forgives each listed failure only for the certificate it names
    /// (SecureCertificateError::error and SecureCertificateError::certificate; a null
    /// certificate matches only a failure that concerns no certificate), as
    /// QSslSocket::ignoreSslErrors(QList<QSslError>). Any other failure still aborts.
    void ignoreCertErrors(const QList<SecureCertificateError> &errors);

    /// Blocks until the handshake is done (true) or failed / timed out (false).
    bool waitForEncrypted(int msecs = 30000);

    /// Once encrypted, a connection on which no byte has moved either way for this long is
    /// closed: errorOccurred(SocketTimeoutError) with tlsError() IdleTimedOut, then close_notify
    /// and disconnectFromHost(). In milliseconds; 0 (the default) means never; SecureServer sets
    /// it on the connections it accepts (SecureServer::setIdleTimeout()). Checked every quarter
    /// of the timeout, so a connection is closed between 1 and 1.25 times the timeout after its
    /// last byte.
    int idleTimeout() const;
    /// Sets idleTimeout(); negative values are taken as 0. Takes effect at once on an encrypted
    /// connection.
    void setIdleTimeout(int msecs);

    // QTcpSocket behaviour, over TLS when encrypted.
    /// Connects without TLS, as QTcpSocket does; encryption may start later
    /// (startClientEncryption()).
    void connectToHost(const QString &hostName, quint16 port, OpenMode mode = ReadWrite,
                       NetworkLayerProtocol protocol = AnyIPProtocol) override;
    using QAbstractSocket::connectToHost;
    /// Binds the local address and port before connecting, as QTcpSocket does; the socket must
    /// be unconnected.
    bool bind(const QHostAddress &address, quint16 port = 0,
              BindMode mode = DefaultForPlatform) override;
    using QAbstractSocket::bind;
    /// Encrypted: sends close_notify after all pending data, with our end of the TCP stream, and
    /// becomes unconnected once they have left, as QSslSocket does. The connection then goes on
    /// reading and dropping what the peer still sends, until its end of stream or for at most
    /// 2 s, so that nothing in flight is lost to a TCP reset.
    void disconnectFromHost() override;
    /// Closes the device, as QTcpSocket does. Encrypted, as QSslSocket: the socket is
    /// unconnected on return, and close_notify and the data written before still go out (during
    /// a handshake the connection is dropped instead). An abort() through a QAbstractSocket
    /// pointer arrives here and drops the connection at once.
    void close() override;
    /// Drops the connection at once (also through a QAbstractSocket pointer).
    void abort();
    /// Sends what can be sent now without blocking; true if anything was written. Through a
    /// QAbstractSocket pointer (flush() is not virtual) the data is sent by the event loop
    /// instead.
    bool flush();
    /// Takes a connected descriptor, as QTcpSocket does; start*Encryption() may follow.
    bool setSocketDescriptor(qintptr socketDescriptor, SocketState state = ConnectedState,
                             OpenMode openMode = ReadWrite) override;
    /// The connection's descriptor, or -1.
    qintptr socketDescriptor() const override;
    /// Sets a socket option on the connection, encrypted or not.
    void setSocketOption(SocketOption option, const QVariant &value) override;
    /// A socket option of the connection, encrypted or not.
    QVariant socketOption(SocketOption option) override;
    /// Encrypted, bytesAvailable() never exceeds size: the socket stops decrypting, then
    /// reading. 0 means no limit.
    void setReadBufferSize(qint64 size) override;
    /// Plaintext bytes ready to read.
    qint64 bytesAvailable() const override;
    /// Encrypted, as QSslSocket's: plaintext written and not yet encrypted; the ciphertext not
    /// yet taken by the kernel is encryptedBytesToWrite() (use both for flow control).
    qint64 bytesToWrite() const override;
    /// Encrypted: the ciphertext not yet taken by the kernel; 0 otherwise.
    qint64 encryptedBytesToWrite() const;
    /// True if a whole line of plaintext can be read.
    bool canReadLine() const override;
    /// True if no more data can be read now, as QIODevice::atEnd() says.
    bool atEnd() const override;
    /// Blocks until connected, as QTcpSocket does; with TLS, the handshake starts then (it has
    /// its own waitForEncrypted()).
    bool waitForConnected(int msecs = 30000) override;
    /// Blocks until readyRead() is emitted (with TLS: new plaintext to read), or msecs pass.
    bool waitForReadyRead(int msecs = 30000) override;
    /// Blocks until bytesWritten() is emitted. Encrypted: once plaintext was encrypted and
    /// handed on, or, with none left to encrypt, once the kernel took some of the ciphertext,
    /// as QSslSocket does.
    bool waitForBytesWritten(int msecs = 30000) override;
    /// Blocks until the socket is unconnected (after close_notify, when encrypted).
    bool waitForDisconnected(int msecs = 30000) override;
    /// Resumes a plain socket paused by QAbstractSocket::PauseModes, as QTcpSocket does.
    void resume() override;

Q_SIGNALS:
    /// The handshake is done and verification passed or was forgiven: data can flow.
    void encrypted();
    /// A certificate verification failure; error is a VerifyError value. Emitted once per
    /// failure, before certificateErrors(), while the handshake waits: a slot may call
    /// ignoreCertErrors() to go on.
    void certCheckFailed(int error, const QString &reason);
    /// All verification failures of the handshake at once, after certCheckFailed(); a slot may
    /// call ignoreCertErrors() to go on.
    void certificateErrors(const QList<SecureCertificateError> &errors);
    /// mode() changed: encryption started, or the socket became plain again.
    void modeChanged(SecureSocket::Mode mode);
    /// The kernel took bytes of ciphertext (bytesWritten() counts plaintext).
    void encryptedBytesWritten(qint64 bytes);
    /// The peer sent a TLS alert. level: 1 warning, 2 fatal; description: the TLS
    /// AlertDescription code; text: its name.
    void alertReceived(int level, int description, const QString &text);
    /// We sent a TLS alert; the arguments are as for alertReceived().
    void alertSent(int level, int description, const QString &text);
    /// The configuration uses pre-shared keys (SecureConfiguration::preSharedKeyAuthentication())
    /// and the handshake needs one: fill in authenticator (see SecurePreSharedKeyAuthenticator).
    /// Emitted from inside the handshake, like QSslSocket's: connect it directly, and in the
    /// slot only fill in the authenticator (never close, abort or delete the socket there). A
    /// server's connections are offered by SecureServer::preSharedKeyAuthenticationRequired().
    void preSharedKeyAuthenticationRequired(SecurePreSharedKeyAuthenticator *authenticator);
    /// Client: a session that sessionTicket() exports arrived (after encrypted(); in TLS 1.3
    /// when the server's ticket is read, with the first data or later).
    void sessionTicketReceived();

protected:
    /// Reads plaintext (QIODevice's hook).
    qint64 readData(char *data, qint64 maxlen) override;
    /// Skips plaintext (QIODevice's hook).
    qint64 skipData(qint64 maxSize) override;
    /// Queues plaintext to be encrypted at the end of this pass of the event loop, with the
    /// rest written in it (QIODevice's hook).
    qint64 writeData(const char *data, qint64 len) override;
    /// Releases the buffers of a connection that has gone quiet (QObject's hook); other
    /// timers go to QTcpSocket.
    void timerEvent(QTimerEvent *event) override;

private:
    friend class SecureSocketPrivate;
    friend class SecureServerPrivate; // watches the progress of the handshakes it runs
    std::unique_ptr<SecureSocketPrivate> d;
};

#endif
