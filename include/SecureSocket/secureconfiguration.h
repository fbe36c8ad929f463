/// \file
/// SecureSocket: TLS settings as an implicitly shared value class.
#ifndef SECURESOCKET_SECURECONFIGURATION_H
#define SECURESOCKET_SECURECONFIGURATION_H

#include <SecureSocket/securesocket_export.h>

#include <QByteArray>
#include <QList>
#include <QMap>
#include <QSharedDataPointer>
#include <QString>
#include <QStringList>

class SecureConfigurationPrivate;

/// All TLS settings of a connection or a server.
///
/// Copies are cheap and share data until one is changed (like QSslConfiguration). Every
/// connection made with equal settings shares one OpenSSL context, built on first use; changing
/// a setting never alters a context in use. A configuration (and its copies) remembers that
/// context, so giving the same configuration to many sockets is the cheapest way to make
/// connections; the files it names are looked at again at most once per second, so a
/// certificate, key or CA file replaced on disk is used by the connections started a second
/// later. If the changed files do not load (half written, not PEM, a key that no longer
/// matches), the context loaded before stays in use, the failure is logged once (category
/// "securesocket.configuration") and validate() reports it.
///
/// Defaults are the secure ones: TLS 1.2 minimum, the server verified by every client (a client
/// certificate is asked for by servers but required only when VerifyPeer is set), system CAs
/// trusted.
class SECURESOCKET_EXPORT SecureConfiguration
{
public:
    /// How the peer's certificate is treated.
    enum PeerVerifyMode {
        VerifyPeer, ///< Required and verified; failures abort unless ignored.
        QueryPeer,  ///< Requested and verified; failures are reported but never abort.
        VerifyNone, ///< Not requested (server) or not verified (client).
        /// The default, as QSslSocket's: VerifyPeer for a client (the server must prove who it
        /// is), QueryPeer for a server (a client certificate is asked for, never required).
        AutoVerifyPeer
    };
    /// A TLS protocol version (minimumProtocol(), maximumProtocol()).
    enum TlsVersion {
        Tls12, ///< TLS 1.2.
        Tls13  ///< TLS 1.3.
    };
    /// What public-key pins are (see setPinnedPublicKeys()).
    enum PinningMode {
        PinsAddToVerification, ///< The chain must verify as usual AND hold a pinned key.
        PinsAreTrustAnchors    ///< The pinned keys replace the CAs: for a private server.
    };

    /// The default settings.
    SecureConfiguration();
    /// A copy, sharing its data with other until one of them is changed.
    SecureConfiguration(const SecureConfiguration &other);
    /// Makes this a copy of other, sharing its data until one of them is changed.
    SecureConfiguration &operator=(const SecureConfiguration &other);
    /// Destroys the configuration; keys and passphrases are wiped once no copy holds them.
    ~SecureConfiguration();

    /// A PEM file of trusted CA certificates, in addition to (or instead of, see
    /// setUseSystemCaCertificates()) the system's. Empty by default.
    QString caCertificatesFile() const;
    /// Sets caCertificatesFile().
    void setCaCertificatesFile(const QString &pemFile);
    /// A hashed directory of trusted CA certificates, as made by `openssl rehash`.
    QString caCertificatesDirectory() const;
    /// Sets caCertificatesDirectory().
    void setCaCertificatesDirectory(const QString &directory);
    /// Trusted CA certificates held in memory, as PEM.
    QByteArray caCertificatesPem() const;
    /// Sets caCertificatesPem().
    void setCaCertificatesPem(const QByteArray &pem);
    /// Whether the system's CA certificates are trusted too; default true.
    bool useSystemCaCertificates() const;
    /// Sets useSystemCaCertificates().
    void setUseSystemCaCertificates(bool use);
    /// A file of PEM CRLs; when set, revocation is checked for the whole chain.
    QString crlFile() const;
    /// Sets crlFile().
    void setCrlFile(const QString &pemFile);

    /// The PEM file of our own certificate chain: leaf first, then intermediates.
    QString localCertificateChainFile() const;
    /// Sets localCertificateChainFile().
    void setLocalCertificateChainFile(const QString &pemFile);
    /// Our own certificate chain held in memory, as PEM: leaf first, then intermediates.
    QByteArray localCertificateChainPem() const;
    /// Sets localCertificateChainPem().
    void setLocalCertificateChainPem(const QByteArray &pem);
    /// The file of our private key: RSA, ECDSA or Ed25519, PEM, plain or encrypted.
    QString privateKeyFile() const;
    /// Sets privateKeyFile().
    void setPrivateKeyFile(const QString &pemFile);
    /// Our private key held in memory, as PEM; wiped from memory when released.
    QByteArray privateKeyPem() const;
    /// Sets privateKeyPem().
    void setPrivateKeyPem(const QByteArray &pem);
    /// The passphrase of an encrypted private key; it is wiped from memory when released.
    QByteArray privateKeyPassphrase() const;
    /// Sets privateKeyPassphrase().
    void setPrivateKeyPassphrase(const QByteArray &passphrase);
    /// Or a file whose first line is the passphrase of an encrypted private key.
    QString privateKeyPassphraseFile() const;
    /// Sets privateKeyPassphraseFile().
    void setPrivateKeyPassphraseFile(const QString &file);

    /// One more certificate chain of a server, with its key: see addLocalCertificateChain().
    ///
    /// SNI, several certificates on one server: a server can hold more certificate chains;
    /// each handshake uses the one whose subjectAltName DNS names match the server_name (SNI)
    /// the client asked for: case-insensitive, a wildcard ("*.example.com") only as the whole
    /// left-most label and for exactly one label, never for an IP address, an exact name before
    /// a wildcard. An ECDSA and an RSA chain for the same name are both used: the client gets
    /// the one its signature algorithms allow (ECDSA when it can take either). A client that
    /// asks for no name or an unknown one gets the default: the chain above
    /// (localCertificateChainFile() or localCertificateChainPem()), or without it the first
    /// chain added here. A client configuration ignores these chains.
    struct LocalCertificateChain
    {
        QString chainFile;      ///< PEM, leaf first; or:
        QByteArray chainPem;    ///< In memory (the file wins when both are set).
        QString keyFile;        ///< PEM, plain or encrypted; or:
        QByteArray keyPem;      ///< In memory, wiped from memory with the configuration.
        QByteArray passphrase;  ///< Of an encrypted key, wiped with the configuration; or:
        QString passphraseFile; ///< A file whose first line is the passphrase.

        /// True if every field is equal.
        bool operator==(const LocalCertificateChain &o) const
        {
            return chainFile == o.chainFile && chainPem == o.chainPem && keyFile == o.keyFile &&
                   keyPem == o.keyPem && passphrase == o.passphrase &&
                   passphraseFile == o.passphraseFile;
        }
        /// True if a field differs.
        bool operator!=(const LocalCertificateChain &o) const { return !(*this == o); }
    };
    /// Server: adds a certificate chain file and its key file (see LocalCertificateChain).
    void addLocalCertificateChain(const QString &chainFile, const QString &keyFile,
                                  const QByteArray &passphrase = {});
    /// Server: adds a certificate chain and its key (see LocalCertificateChain).
    void addLocalCertificateChain(const LocalCertificateChain &chain);
    /// The chains added, in order.
    QList<LocalCertificateChain> localCertificateChains() const;
    /// Removes the chains added.
    void clearLocalCertificateChains();
    /// Server: a client whose server_name matches no chain is refused with an
    /// unrecognized_name alert (SecureServer::handshakeFailed() names the name) instead of
    /// getting the default chain. A client that sends no name (it connects by IP address) still
    /// gets the default. Default false.
    bool refuseUnknownServerName() const;
    /// Sets refuseUnknownServerName().
    void setRefuseUnknownServerName(bool refuse);

    /// How the peer's certificate is treated; default AutoVerifyPeer.
    PeerVerifyMode peerVerifyMode() const;
    /// Sets peerVerifyMode().
    void setPeerVerifyMode(PeerVerifyMode mode);
    /// The name checked against the peer's certificate (a DNS name or an IP address). When
    /// empty, a client uses the host name it connects to.
    QString peerVerifyName() const;
    /// Sets peerVerifyName().
    void setPeerVerifyName(const QString &name);

    /// The oldest protocol version allowed; default Tls12.
    TlsVersion minimumProtocol() const;
    /// Sets minimumProtocol().
    void setMinimumProtocol(TlsVersion version);
    /// The newest protocol version allowed; default Tls13.
    TlsVersion maximumProtocol() const;
    /// Sets maximumProtocol().
    void setMaximumProtocol(TlsVersion version);
    /// TLS 1.2 ciphers, OpenSSL syntax. Empty means the default: forward-secret AEAD suites
    /// only, ECDHE-ECDSA/RSA with AES128-GCM, AES256-GCM, CHACHA20-POLY1305 in that order (no
    /// CBC). A server always picks by its own order (TLS 1.3 included), not the client's.
    QByteArray cipherList() const;
    /// Sets cipherList().
    void setCipherList(const QByteArray &ciphers);
    /// TLS 1.3 suites, colon-separated; empty means the default.
    QByteArray cipherSuites() const;
    /// Sets cipherSuites().
    void setCipherSuites(const QByteArray &suites);
    /// The ALPN protocols, in order of preference, such as {"h2", "http/1.1"}; empty means
    /// none (SecureSocket::negotiatedAlpnProtocol() tells what was agreed).
    QList<QByteArray> alpnProtocols() const;
    /// Sets alpnProtocols().
    void setAlpnProtocols(const QList<QByteArray> &protocols);

    /// Client: resume TLS sessions of earlier connections to the same host and port made with
    /// these settings (default on; SecureSocket::isSessionResumed() tells). Sessions whose
    /// verification had failures, even forgiven ones, are never reused.
    bool sessionResumption() const;
    /// Sets sessionResumption().
    void setSessionResumption(bool enabled);
    /// Server: how long a session ticket key is used before it is replaced (seconds, default
    /// 3600); tickets made with the previous key are still accepted for one more period.
    int ticketKeyLifetime() const;
    /// Sets ticketKeyLifetime().
    void setTicketKeyLifetime(int seconds);
    /// Server: TLS 1.3 session tickets sent after each full handshake (default 1; a resumed
    /// handshake gets one new ticket, so a client always has one). 0 sends none, in TLS 1.2
    /// either, and keeps no session cache: for a server whose clients never resume, that saves
    /// it the work of making and sending them.
    int sessionTicketCount() const;
    /// Sets sessionTicketCount(); negative counts are taken as 0.
    void setSessionTicketCount(int count);

    // OCSP stapling (see doc/ocsp-stapling.md).
    /// Server: a file holding a DER OCSP response for our certificate (as `openssl ocsp
    /// -respout` writes it), sent to clients that ask for one (status_request). It is read when
    /// the context is built and again when the file changes, like the certificate: replace it
    /// before it expires. A file that is not a DER OCSP response is a configuration error
    /// (validate()); a response that is unsuccessful, for another certificate, or expired is a
    /// certificateWarnings() entry and is not sent. Ignored by clients. See
    /// doc/ocsp-stapling.md.
    QString ocspResponseFile() const;
    /// Sets ocspResponseFile().
    void setOcspResponseFile(const QString &derFile);
    /// Client: the server must staple a good OCSP response for its certificate (default off).
    /// A missing, invalid, expired, or revoked response is a certificate failure
    /// (VerifyError::OcspResponseMissing ... VerifyError::OcspRevoked), reported and forgivable
    /// like the others. Off, a verifying client still asks for a response, and one that is
    /// validly signed and says "revoked" is still a failure (VerifyError::OcspRevoked); others
    /// are not checked further.
    bool ocspStaplingRequired() const;
    /// Sets ocspStaplingRequired().
    void setOcspStaplingRequired(bool required);

    // Session tickets across restarts and processes
    /// Server: derive the session ticket keys from this file instead of making random ones, so
    /// that every server process reading the same file (several behind one name, or this one
    /// after a restart) resumes the sessions of the others. The file holds 80 random bytes
    /// (`openssl rand 80 > ticket.key; chmod 600 ticket.key`), or up to 16 such secrets one
    /// after the other (the first encrypts, all decrypt: for replacing a secret without
    /// losing sessions). A file that is missing, empty, of another size or readable by every
    /// user is an error (validate()) naming the file. The key of each period of
    /// ticketKeyLifetime() seconds of the wall clock is derived from the file, so processes
    /// with the same lifetime agree, and tickets of the previous period still resume. A file
    /// replaced on disk is used by the connections started a second later. Empty (the
    /// default): random keys, made by this process. See doc/session-tickets.md.
    QString ticketKeyFile() const;
    /// Sets ticketKeyFile().
    void setTicketKeyFile(const QString &file);

    /// How long a socket may take from connectToHostEncrypted() (or start*Encryption()) to
    /// encrypted() before it gives up: errorOccurred(SocketTimeoutError), tlsError()
    /// HandshakeTimedOut, and the connection is aborted. Milliseconds, default 30000; 0 means
    /// no limit. Connections run by a SecureServer use the server's handshakeTimeout() instead.
    int handshakeTimeout() const;
    /// Sets handshakeTimeout(); negative values are taken as 0.
    void setHandshakeTimeout(int msecs);

    /// Key log, for debugging captures: the secrets of every connection made with these
    /// settings are appended to this file in the NSS key log format, which Wireshark reads to
    /// decrypt the traffic. Anyone who reads the file can decrypt those connections: for
    /// debugging only. Empty (the default) means: the file named by the SSLKEYLOGFILE
    /// environment variable, as browsers and curl do, or none when it is not set (it is read
    /// when a context is built). A new file is created with mode 0600. A file set here that
    /// cannot be opened is a configuration error (validate() names it); one named by
    /// SSLKEYLOGFILE only turns the key log off, with a warning. While a key log is written, a
    /// warning says so, once per process (category "securesocket.configuration").
    QString keyLogFile() const;
    /// Sets keyLogFile().
    void setKeyLogFile(const QString &file);

    /// Public-key pinning: the peer's chain must hold a certificate whose public key is one of
    /// these, each written as curl's `--pinnedpubkey` takes it, "sha256//" and the base64 SHA-256
    /// of the DER SubjectPublicKeyInfo (SecureCertificate::publicKeyPin() computes it; several
    /// pins allow a key to be rotated; "sha256//A;sha256//B" in one entry is taken too). The
    /// pin may be of the peer's own certificate, an intermediate or a root. A mismatch is a
    /// certificate failure like the others (VerifyError::PinMismatch, reported through
    /// SecureSocket::certCheckFailed() and forgivable the same way), whose sentence names the
    /// expected and the found pins. An invalid pin is a configuration error (validate()). Empty
    /// (the default): no pinning.
    QStringList pinnedPublicKeys() const;
    /// Sets pinnedPublicKeys().
    void setPinnedPublicKeys(const QStringList &pins);
    /// PinsAddToVerification (the default): pins are checked on top of normal verification.
    /// PinsAreTrustAnchors: no CA is trusted (the CA settings are not used); a certificate the
    /// peer sent whose key is pinned is trusted instead, so a private server's self-signed
    /// certificate, or its own CA, is accepted by its pin. The chain from the peer's certificate
    /// to the pinned one must still be valid (signatures, dates, purpose) and the name is still
    /// checked.
    PinningMode pinningMode() const;
    /// Sets pinningMode().
    void setPinningMode(PinningMode mode);

    /// Pre-shared keys (TLS-PSK), for devices without certificates: both ends know a secret key
    /// under a name (the identity). TLS 1.2 then uses a PSK cipher suite (ECDHE-PSK with
    /// ChaCha20-Poly1305 first, then PSK with AES-GCM or ChaCha20-Poly1305, unless cipherList()
    /// is set) and TLS 1.3 an external PSK with an (EC)DHE key exchange (the TLS 1.3 suite must
    /// use SHA-256, such as TLS_AES_128_GCM_SHA256, which the default list has). A connection
    /// that a pre-shared key authenticated has no certificate;
    /// SecureSocket::preSharedKeyIdentity() names the key. Keys are wiped from memory when
    /// released. A client that uses pre-shared keys does not resume sessions.
    ///
    /// On whenever a key is set (setPreSharedKey(), setPreSharedKeys()), or when turned on with
    /// setPreSharedKeyAuthentication() for keys found only by a slot of
    /// SecureSocket::preSharedKeyAuthenticationRequired() or
    /// SecureServer::preSharedKeyAuthenticationRequired(). See doc/pre-shared-keys.md.
    bool preSharedKeyAuthentication() const;
    /// Turns preSharedKeyAuthentication() on or off.
    void setPreSharedKeyAuthentication(bool enabled);
    /// Client: the identity it offers (see setPreSharedKey()).
    QByteArray preSharedKeyIdentity() const;
    /// Client: the key it offers (see setPreSharedKey()).
    QByteArray preSharedKey() const;
    /// Client: the identity (1 to 128 bytes) and key (1 to 256 bytes) it offers.
    void setPreSharedKey(const QByteArray &identity, const QByteArray &key);
    /// Server: the keys it accepts, by identity. A server with pre-shared keys needs no
    /// certificate; with one too, clients without a key are served with the certificate.
    QMap<QByteArray, QByteArray> preSharedKeys() const;
    /// Sets preSharedKeys().
    void setPreSharedKeys(const QMap<QByteArray, QByteArray> &keysByIdentity);
    /// Server: the hint sent to TLS 1.2 clients (QSslConfiguration's
    /// preSharedKeyIdentityHint).
    QByteArray preSharedKeyIdentityHint() const;
    /// Sets preSharedKeyIdentityHint().
    void setPreSharedKeyIdentityHint(const QByteArray &hint);

    /// True if every setting is equal.
    bool operator==(const SecureConfiguration &other) const;
    /// True if a setting differs.
    bool operator!=(const SecureConfiguration &other) const { return !(*this == other); }

    /// Builds (or finds) the context for these settings now, so that a bad file, a wrong
    /// passphrase or a key that does not match its certificate is reported before any
    /// connection.
    /// \param serverRole checks the settings as a server's (SecureServer::listen() does so).
    /// \return an empty string when all is well, otherwise the reason.
    QString validate(bool serverRole = false) const;

    /// What is wrong with our own certificate without stopping its use, as of now: expired,
    /// not valid yet, expiring within 14 days, or a (extended) key usage that forbids the role.
    /// One sentence each, naming the file and the subject. Each sentence is also logged
    /// (category "securesocket.configuration") once, when the context is built or, as the date
    /// moves on, when the files are next looked at. Empty when all is well or the settings do
    /// not load.
    /// \param serverRole checks the certificate for a server's use.
    QStringList certificateWarnings(bool serverRole = false) const;

private:
    friend class SecureConfigurationPrivate;
    QSharedDataPointer<SecureConfigurationPrivate> d;
};

/// Which system CA store was loaded (for diagnostics), for example
/// "file /etc/ssl/certs/ca-certificates.crt (140 certificates)". Loads it if not loaded yet.
SECURESOCKET_EXPORT QString systemCaCertificatesSource();

// Debug output (qDebug() << ...), as Qt's own classes print: see doc/debugging.md. No secret
// is ever written: private keys, passphrases, pre-shared keys and the contents of files are
// shown as "set" (or not at all); file paths, names and counts are.
#ifndef QT_NO_DEBUG_STREAM
class QDebug;
/// Writes the mode by its enumerator's name, e.g. `SecureConfiguration::VerifyPeer`.
SECURESOCKET_EXPORT QDebug operator<<(QDebug debug, SecureConfiguration::PeerVerifyMode mode);
/// Writes the version by its enumerator's name, e.g. `SecureConfiguration::Tls13`.
SECURESOCKET_EXPORT QDebug operator<<(QDebug debug, SecureConfiguration::TlsVersion version);
/// Writes the mode by its enumerator's name, e.g. `SecureConfiguration::PinsAreTrustAnchors`.
SECURESOCKET_EXPORT QDebug operator<<(QDebug debug, SecureConfiguration::PinningMode mode);
/// Writes where the chain and its key come from: file paths, or "PEM in memory" with a size
/// for the chain, and only whether a key or passphrase is set, never the key or passphrase.
SECURESOCKET_EXPORT QDebug operator<<(QDebug debug,
                                      const SecureConfiguration::LocalCertificateChain &chain);
/// Writes the settings that matter when a connection does not behave: protocol range, verify
/// mode, peer verify name, CA sources, our certificate and key (paths, or "in memory"), the
/// count of extra chains and of pins, timeouts, and every other setting that is not at its
/// default. Never a private key, passphrase, pre-shared key, ticket key or file contents.
SECURESOCKET_EXPORT QDebug operator<<(QDebug debug, const SecureConfiguration &configuration);
#endif

#endif
