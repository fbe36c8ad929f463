// SecureSocket: a small read-only view of an X.509 certificate, and of a verification failure.
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

// An X.509 certificate, parsed once from PEM. Implicitly shared; a default-constructed or
// unparsable one isNull().
class SECURESOCKET_EXPORT SecureCertificate
{
public:
    SecureCertificate();
    explicit SecureCertificate(const QByteArray &pem);
    SecureCertificate(const SecureCertificate &other);
    SecureCertificate &operator=(const SecureCertificate &other);
    ~SecureCertificate();

    // All certificates of a PEM text (or file), in order.
    static QList<SecureCertificate> fromPem(const QByteArray &pem);
    static QList<SecureCertificate> fromPemFile(const QString &path);

    bool isNull() const;
    QByteArray toPem() const;
    QString subject() const;              // RFC 2253, e.g. "CN=localhost,O=Example"
    QString issuer() const;               // RFC 2253
    QString commonName() const;           // the subject's CN, or empty
    QStringList subjectAltNames() const;  // "DNS:example.com", "IP:127.0.0.1", "email:..."
    QByteArray sha256Fingerprint() const; // raw 32 bytes; use .toHex(':') to show it
    QByteArray serialNumber() const;      // hex
    QDateTime notBefore() const;          // UTC
    QDateTime notAfter() const;           // UTC
    bool isSelfSigned() const;
    // The subject's public key: its algorithm ("RSA", "RSA-PSS", "EC", "Ed25519", "Ed448",
    // "DSA", or OpenSSL's short name for another), the curve of an EC key by its NIST name
    // when it has one ("P-256", "P-384", "P-521", else e.g. "brainpoolP256r1"; empty for other
    // keys), and its size in bits (2048 for RSA 2048, 256 for P-256 and Ed25519); 0 if unknown.
    QString publicKeyAlgorithm() const;
    QString publicKeyCurve() const;
    int publicKeyBits() const;
    // The algorithm the issuer signed this certificate with, by OpenSSL's long name, e.g.
    // "ecdsa-with-SHA256", "sha256WithRSAEncryption", "ED25519", "RSASSA-PSS".
    QString signatureAlgorithm() const;
    // The pin of its public key, as curl's --pinnedpubkey and SecureConfiguration::
    // setPinnedPublicKeys() take it: "sha256//" and the base64 SHA-256 of the DER
    // SubjectPublicKeyInfo (what `openssl x509 -pubkey -noout | openssl pkey -pubin -outform
    // der | openssl dgst -sha256 -binary | base64` prints).
    QString publicKeyPin() const;

    bool operator==(const SecureCertificate &other) const;
    bool operator!=(const SecureCertificate &other) const { return !(*this == other); }

private:
    QSharedDataPointer<SecureCertificatePrivate> d;
};

// One failure of certificate verification: what failed (a stable code), on which certificate
// of the chain, and a sentence saying why.
struct SECURESOCKET_EXPORT SecureCertificateError
{
    VerifyError error = VerifyError::NoError;
    QString message; // e.g. "certificate expired: certificate 'CN=x' was valid until ..."
    int depth = 0;   // 0 = the peer's own certificate
    QString subject; // of the certificate concerned
    SecureCertificate certificate; // the certificate concerned (null if none)

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
