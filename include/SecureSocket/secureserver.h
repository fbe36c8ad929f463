/// \file
/// SecureSocket: a QTcpServer that hands out connections only once they are encrypted.
#ifndef SECURESOCKET_SECURESERVER_H
#define SECURESOCKET_SECURESERVER_H

#include <SecureSocket/secureconfiguration.h>
#include <SecureSocket/securesocket.h>
#include <SecureSocket/securesocket_export.h>

#include <QTcpServer>

#include <memory>

class SecureServerPrivate;

/// A QTcpServer that hands out connections only once they are encrypted.
///
/// Accepts TCP connections, runs the server handshake on a SecureSocket, and only then offers
/// the connection: newConnection() (and pendingConnectionAvailable()) fire once per connection,
/// after the handshake, and nextPendingConnection() returns an encrypted SecureSocket (a child of
/// the server, as with QTcpServer). They fire from inside the socket's encrypted() processing, so
/// that a slot connecting to readyRead() misses no data; move the socket to another thread only
/// from a queued call, never in the slot itself (or run the server in that thread and give it
/// the connections: see the echoserver example).
///
/// Admission control: the server accepts a connection only while it has room for it, and
/// otherwise leaves it in the kernel's listen backlog (listenBacklogSize(), 1024 by default
/// here), where it waits without costing a descriptor until a handshake ends or a connection
/// closes. Room means: fewer than maxPendingHandshakes() handshakes in progress, fewer than
/// maxConnections() open connections, and fewer than maxPendingConnections() encrypted
/// connections waiting to be taken. A burst of clients is therefore served in turn, not dropped
/// (as long as it fits in the backlog, which the kernel caps at net.core.somaxconn).
/// Slow clients cannot pin the handshake slots: a handshake that takes longer than
/// handshakeTimeout() is dropped, and while clients wait in the backlog, a handshake that has
/// made no progress (no byte either way, and none waiting unread) for a while is evicted to make
/// room: for 1 s (or half the timeout, if less) when nothing at all came from the client yet,
/// for half the handshake timeout after that. When the process runs out of descriptors (EMFILE,
/// ENFILE), accepting pauses with a back-off (50 ms doubling to 2 s), logged once, and resumes by
/// itself. Every dropped or failed handshake is logged (category "securesocket.server") and
/// reported by handshakeFailed() with its reason.
class SECURESOCKET_EXPORT SecureServer : public QTcpServer
{
    Q_OBJECT
public:
    /// What the server asks of clients' certificates (see setClientCertificatePolicy()).
    enum ClientCertificatePolicy {
        NoClientCertificate, ///< One-way TLS: no client certificate is asked for.
        /// A client certificate is asked for and verified if sent; a missing one is accepted.
        RequestClientCertificate,
        /// Two-way TLS: a verified client certificate is required.
        RequireClientCertificate
    };
    Q_ENUM(ClientCertificatePolicy)

    /// A server that does not listen yet; its configuration has no certificate.
    explicit SecureServer(QObject *parent = nullptr);
    /// Stops listening; the connections still in their handshake or waiting to be taken are
    /// deleted with it (they are its children), and so are those handed out that are still its
    /// children.
    ~SecureServer() override;

    /// The server's TLS settings: certificate chain, private key (and passphrase), CA
    /// certificates for client certificates, and the rest of SecureConfiguration.
    SecureConfiguration configuration() const;
    /// Sets the TLS settings used by the handshakes that start afterwards; listen() checks them.
    void setConfiguration(const SecureConfiguration &configuration);
    /// Reads the configuration's files again now (certificate chain, private key, passphrase
    /// file, CA and CRL files), rather than within the second in which the server would notice a
    /// change by itself: the handshakes that start afterwards use what the files hold now, and
    /// the connections already made, or still in their handshake, keep what they started with.
    /// Files that did not change (same size, modification time and inode) are not read again.
    /// If the files as they are now do not load (not PEM, half written, a wrong passphrase, a key
    /// that does not match its certificate), returns false, errorString() says which file and
    /// why, and the configuration loaded before stays in force: the server serves on with it.
    /// The echoserver example calls it on SIGHUP.
    bool reloadConfiguration();
    /// Shorthand for the configuration's peer verify mode (VerifyNone / QueryPeer /
    /// VerifyPeer). The default (AutoVerifyPeer) is RequestClientCertificate, as with
    /// QSslServer: ordinary clients are served; RequireClientCertificate makes TLS two-way.
    ClientCertificatePolicy clientCertificatePolicy() const;
    /// Sets the configuration's peer verify mode: VerifyNone, QueryPeer or VerifyPeer.
    void setClientCertificatePolicy(ClientCertificatePolicy policy);

    /// How long a handshake may take before it is dropped, in milliseconds; default 5000.
    int handshakeTimeout() const;
    /// Sets handshakeTimeout(), for the handshakes that start afterwards.
    void setHandshakeTimeout(int msecs);
    /// How many handshakes may be in progress at once; default 256; 0 means no bound.
    int maxPendingHandshakes() const;
    /// Sets maxPendingHandshakes(); negative counts are taken as 0.
    void setMaxPendingHandshakes(int count);
    /// The handshakes in progress now.
    int pendingHandshakeCount() const;
    /// Encrypted connections on which nothing moves for this long are closed with close_notify
    /// (SecureSocket::setIdleTimeout() on each connection it accepts). Milliseconds; 0 (the
    /// default) means never.
    int idleTimeout() const;
    /// Sets idleTimeout() for the connections accepted afterwards; negative values are taken
    /// as 0.
    void setIdleTimeout(int msecs);
    /// Connections open at once: handshakes, connections waiting to be taken and connections
    /// handed out, until they disconnect or are deleted. Beyond it the server stops accepting
    /// until one closes. 0 (the default) means no bound.
    int maxConnections() const;
    /// Sets maxConnections(); negative counts are taken as 0.
    void setMaxConnections(int count);
    /// The connections open now, counted as maxConnections() counts them.
    int connectionCount() const;

    /// Checks the configuration (files, passphrase, key matching the certificate) before
    /// listening; on a problem returns false and errorString() says which file and why.
    /// Port 0 picks a free port (serverPort() tells which).
    bool listen(const QHostAddress &address = QHostAddress::Any, quint16 port = 0);
    /// A listening descriptor made elsewhere (socket activation, say); accepted like listen()'s.
    /// The configuration is checked first, as by listen(); on failure the caller still owns the
    /// descriptor.
    bool setSocketDescriptor(qintptr socketDescriptor);
    /// Why listen(), setSocketDescriptor() or reloadConfiguration() failed: a sentence naming
    /// the file and the cause, or QTcpServer's own error string.
    QString errorString() const;
    /// The server accepts connections itself, to leave them in the backlog while it has no
    /// room. Call this, pauseAccepting() and resumeAccepting() through a SecureServer: through a
    /// QTcpServer pointer, pausing and resuming have no effect, and a new maximum is seen only
    /// when a connection starts or ends (close() works either way).
    void setMaxPendingConnections(int numConnections);
    /// Stops accepting connections until resumeAccepting(); they wait in the listen backlog.
    void pauseAccepting();
    /// Accepts connections again after pauseAccepting() (as far as the limits allow).
    void resumeAccepting();
    /// Stops listening. It closes no connection already accepted.
    void close();

    /// The next encrypted connection, or null. The caller takes ownership (the socket is still
    /// a child of the server, as with QTcpServer, until it is given another parent).
    SecureSocket *nextPendingSecureConnection();
    /// The same, typed as QTcpServer's (connections deleted while waiting are skipped).
    QTcpSocket *nextPendingConnection() override;
    /// True if an encrypted connection is waiting to be taken.
    bool hasPendingConnections() const override;

Q_SIGNALS:
    /// A handshake failed, timed out or was dropped. socket is valid during the emission only
    /// (the server deletes it once its alert, if any, is sent); reason is a sentence such as
    /// "TLS handshake with 127.0.0.1 failed: client certificate missing: ...". A slot must not
    /// delete the server (deleteLater() is fine).
    void handshakeFailed(SecureSocket *socket, const QString &reason);
    /// A client offered a pre-shared key identity (the configuration uses pre-shared keys, see
    /// SecureConfiguration::setPreSharedKeys()): authenticator holds it, and the configuration's
    /// key for it if there is one; set the key to accept it, or leave it empty to refuse it. As
    /// QSslServer's: emitted from inside the handshake, so only fill in the authenticator.
    void preSharedKeyAuthenticationRequired(SecureSocket *socket,
                                            SecurePreSharedKeyAuthenticator *authenticator);

protected:
    /// Starts the handshake on an accepted connection. A subclass may also call it with a
    /// connection accepted elsewhere (another thread's listener, say): the server need not listen.
    void incomingConnection(qintptr socketDescriptor) override;

private:
    friend class SecureServerPrivate;
    std::unique_ptr<SecureServerPrivate> d;
};

#endif
