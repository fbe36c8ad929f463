/// \file
/// SecureSocket: a small read-only view of an X.509 certificate, and of a verification failure.
#ifndef SECURESOCKET_SECURECERTIFICATE_H
#define SECURESOCKET_SECURECERTIFICATE_H

#include <SecureSocket/securesocket_export.h>
#include <SecureSocket/verifyerror.h>

#include <QByteArray>
#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QSharedDataPointer>
#include <QString>
#include <QStringList>

class SecureCertificatePrivate;

/// An X.509 certificate, parsed once from PEM.
///
/// Implicitly shared: copies are cheap. A default-constructed or unparsable one isNull(), and
/// all its getters return empty values (0 for publicKeyBits()). SecureSocket::peerCertificate()
/// and SecureSocket::peerCertificateChain() return these.
class SECURESOCKET_EXPORT SecureCertificate
{
public:
    /// A null certificate.
    SecureCertificate();
    /// The first certificate of a PEM text; a null one if the text holds none that parses.
    explicit SecureCertificate(const QByteArray &pem);
    /// A copy, sharing its data with other.
    SecureCertificate(const SecureCertificate &other);
    /// Makes this a copy of other, sharing its data.
    SecureCertificate &operator=(const SecureCertificate &other);
    /// Destroys the certificate.
    ~SecureCertificate();

    /// All certificates of a PEM text, in order (those that do not parse are left out).
    static QList<SecureCertificate> fromPem(const QByteArray &pem);
    /// All certificates of a PEM file, in order; an empty list if the file cannot be read.
    static QList<SecureCertificate> fromPemFile(const QString &path);

    /// True for a default-constructed certificate, or one whose PEM did not parse.
    bool isNull() const;
    /// The certificate as PEM (one "BEGIN CERTIFICATE" block), or empty if null.
    QByteArray toPem() const;
    QString subject() const;    ///< The subject, RFC 2253, for example "CN=localhost,O=Example".
    QString issuer() const;     ///< The issuer's name, RFC 2253.
    QString commonName() const; ///< The subject's CN, or empty.
    /// The subject alternative names: "DNS:example.com", "IP:127.0.0.1", "email:...".
    QStringList subjectAltNames() const;
    /// The SHA-256 digest of the DER certificate, raw 32 bytes; use .toHex(':') to show it.
    QByteArray sha256Fingerprint() const;
    QByteArray serialNumber() const; ///< The serial number, in lower-case hex.
    QDateTime notBefore() const;     ///< The start of its validity, in UTC.
    QDateTime notAfter() const;      ///< The end of its validity, in UTC.
    /// True if the certificate names itself as its issuer (subject, key identifiers and key
    /// usage say so; the signature is not checked).
    bool isSelfSigned() const;
    /// The algorithm of the subject's public key: "RSA", "RSA-PSS", "EC", "Ed25519", "Ed448",
    /// "DSA", or OpenSSL's short name for another.
    QString publicKeyAlgorithm() const;
    /// The curve of an EC key by its NIST name when it has one ("P-256", "P-384", "P-521"),
    /// else by OpenSSL's name (such as "brainpoolP256r1"); empty for other keys.
    QString publicKeyCurve() const;
    /// The size of the public key in bits (2048 for RSA 2048, 256 for P-256 and Ed25519); 0 if
    /// unknown.
    int publicKeyBits() const;
    /// The algorithm the issuer signed this certificate with, by OpenSSL's long name, such as
    /// "ecdsa-with-SHA256", "sha256WithRSAEncryption", "ED25519", "RSASSA-PSS".
    QString signatureAlgorithm() const;
    /// The pin of its public key, as curl's `--pinnedpubkey` and
    /// SecureConfiguration::setPinnedPublicKeys() take it: "sha256//" and the base64 SHA-256 of
    /// the DER SubjectPublicKeyInfo (what `openssl x509 -pubkey -noout | openssl pkey -pubin
    /// -outform der | openssl dgst -sha256 -binary | base64` prints). Empty if null.
    QString publicKeyPin() const;

    /// True if both are the same certificate (equal PEM), or both are null.
    bool operator==(const SecureCertificate &other) const;
    /// True if they are different certificates.
    bool operator!=(const SecureCertificate &other) const { return !(*this == other); }

private:
    QSharedDataPointer<SecureCertificatePrivate> d;
};

/// One failure of certificate verification: what failed (a stable code), on which certificate
/// of the chain, and a sentence saying why.
///
/// SecureSocket::certificateErrors() and SecureSocket::peerVerifyErrors() report these.
struct SECURESOCKET_EXPORT SecureCertificateError
{
    VerifyError error = VerifyError::NoError; ///< What failed.
    /// Why, in a sentence naming the certificate, for example
    /// "certificate expired: certificate 'CN=x' was valid until ...".
    QString message;
    int depth = 0;   ///< The certificate's place in the chain: 0 is the peer's own certificate.
    QString subject; ///< The subject of the certificate concerned (RFC 2253).
    SecureCertificate certificate; ///< The certificate concerned (null if none).

    /// The short name of the code (verifyErrorName()), such as "expired".
    QString name() const { return QString::fromLatin1(verifyErrorName(error)); }
};

Q_DECLARE_METATYPE(SecureCertificate)
Q_DECLARE_METATYPE(SecureCertificateError)

// Debug output (qDebug() << ...), as Qt's own classes print: see doc/debugging.md.
#ifndef QT_NO_DEBUG_STREAM
class QDebug;
/// Writes a verification failure code by its enumerator's name, e.g. `VerifyError::Expired`
/// (`VerifyError(42)` for a value without one). verifyErrorName() gives the short name instead.
SECURESOCKET_EXPORT QDebug operator<<(QDebug debug, VerifyError error);
/// Writes the certificate's subject, issuer, expiry and the first 8 bytes of its SHA-256
/// fingerprint, e.g. `SecureCertificate("CN=localhost", issuer "CN=Test CA", notAfter
/// 2027-01-06T06:06:06Z, sha256 4f:1a:9c:03:5e:77:b2:10...)`; `SecureCertificate(null)` for a
/// null one. Strings are quoted unless the stream is noquote().
SECURESOCKET_EXPORT QDebug operator<<(QDebug debug, const SecureCertificate &certificate);
/// Writes the failure's code, the depth and subject of the certificate concerned, and its
/// sentence, e.g. `SecureCertificateError(VerifyError::Expired, depth 0, "CN=localhost",
/// "certificate expired: ...")`, so that `qDebug() << socket->peerVerifyErrors()` is readable.
SECURESOCKET_EXPORT QDebug operator<<(QDebug debug, const SecureCertificateError &error);
#endif

#endif
