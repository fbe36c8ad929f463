// SecureCertificate: an X.509 certificate parsed once from PEM, read-only, implicitly shared.
#include <SecureSocket/securecertificate.h>

#include "ossl.h"
#include "pinning.h"
#include "verify.h"

#include <QFile>
#include <QSharedData>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include <arpa/inet.h>

using namespace securesocket::engine;

class SecureCertificatePrivate : public QSharedData
{
public:
    QByteArray pem;
    QString subject;
    QString issuer;
    QString commonName;
    QStringList altNames;
    QByteArray fingerprint;
    QByteArray serial;
    QDateTime notBefore;
    QDateTime notAfter;
    bool selfSigned = false;
    QString keyAlgorithm;
    QString keyCurve;
    int keyBits = 0;
    QString signatureAlgorithm;
};

namespace {

QDateTime toDateTime(const ASN1_TIME *time)
{
    struct tm parts = {};
    if (!time || ASN1_TIME_to_tm(time, &parts) != 1)
        return {};
    return QDateTime(QDate(parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday),
                     QTime(parts.tm_hour, parts.tm_min, parts.tm_sec), Qt::UTC);
}

QString asn1Text(const ASN1_STRING *s)
{
    return QString::fromUtf8(reinterpret_cast<const char *>(ASN1_STRING_get0_data(s)),
                             ASN1_STRING_length(s));
}

QStringList altNamesOf(X509 *cert)
{
    QStringList result;
    GeneralNamesPtr names(static_cast<GENERAL_NAMES *>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names.get(), i);
        if (name->type == GEN_DNS) {
            result << QStringLiteral("DNS:") + asn1Text(name->d.dNSName);
        } else if (name->type == GEN_EMAIL) {
            result << QStringLiteral("email:") + asn1Text(name->d.rfc822Name);
        } else if (name->type == GEN_URI) {
            result << QStringLiteral("URI:") + asn1Text(name->d.uniformResourceIdentifier);
        } else if (name->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *ip = name->d.iPAddress;
            char text[INET6_ADDRSTRLEN] = {};
            const int size = ASN1_STRING_length(ip);
            if (size == 4 || size == 16)
                inet_ntop(size == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), text,
                          sizeof text);
            result << QStringLiteral("IP:") + QString::fromLatin1(text);
        }
    }
    return result;
}

QString commonNameOf(X509 *cert)
{
    const X509_NAME *name = X509_get_subject_name(cert);
    const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (index < 0)
        return {};
    return asn1Text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
}

QByteArray serialOf(X509 *cert)
{
    using BnPtr = OsslPtr<BIGNUM, BN_free>;
    BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
    char *hex = bn ? BN_bn2hex(bn.get()) : nullptr;
    const QByteArray serial(hex ? hex : "");
    OPENSSL_free(hex);
    return serial.toLower();
}

QString objectName(int nid, const ASN1_OBJECT *object)
{
    if (const char *name = nid != NID_undef ? OBJ_nid2ln(nid) : nullptr)
        return QString::fromLatin1(name);
    char text[128] = {};
    if (object && OBJ_obj2txt(text, sizeof text, object, 1) > 0)
        return QString::fromLatin1(text);
    return {};
}

void readPublicKey(X509 *cert, SecureCertificatePrivate &d)
{
    EVP_PKEY *key = X509_get0_pubkey(cert);
    if (!key)
        return;
    d.keyBits = EVP_PKEY_get_bits(key) > 0 ? EVP_PKEY_get_bits(key) : 0;
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        d.keyAlgorithm = QStringLiteral("RSA");
        return;
    case EVP_PKEY_RSA_PSS:
        d.keyAlgorithm = QStringLiteral("RSA-PSS");
        return;
    case EVP_PKEY_DSA:
        d.keyAlgorithm = QStringLiteral("DSA");
        return;
    case EVP_PKEY_ED25519:
        d.keyAlgorithm = QStringLiteral("Ed25519");
        return;
    case EVP_PKEY_ED448:
        d.keyAlgorithm = QStringLiteral("Ed448");
        return;
    case EVP_PKEY_EC: {
        d.keyAlgorithm = QStringLiteral("EC");
        char group[80] = {};
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           nullptr) == 1) {
            const char *nist = EC_curve_nid2nist(OBJ_sn2nid(group));
            d.keyCurve = QString::fromLatin1(nist ? nist : group);
        }
        return;
    }
    default:
        if (const char *name = EVP_PKEY_get0_type_name(key))
            d.keyAlgorithm = QString::fromLatin1(name);
        return;
    }
}

QString signatureAlgorithmOf(X509 *cert)
{
    const X509_ALGOR *algorithm = nullptr;
    X509_get0_signature(nullptr, &algorithm, cert);
    const ASN1_OBJECT *object = nullptr;
    if (algorithm)
        X509_ALGOR_get0(&object, nullptr, nullptr, algorithm);
    return objectName(X509_get_signature_nid(cert), object);
}

} // namespace

SecureCertificate::SecureCertificate() : d(new SecureCertificatePrivate) {}

SecureCertificate::SecureCertificate(const QByteArray &pem) : d(new SecureCertificatePrivate)
{
    OsslErrorScope errors;
    BioPtr bio(BIO_new_mem_buf(pem.constData(), static_cast<int>(pem.size())));
    X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!cert)
        return;
    BioPtr out(BIO_new(BIO_s_mem()));
    if (out && PEM_write_bio_X509(out.get(), cert.get()) == 1) {
        char *data = nullptr;
        const long size = BIO_get_mem_data(out.get(), &data);
        d->pem = QByteArray(data, static_cast<qsizetype>(size));
    }
    d->subject = QString::fromStdString(nameToString(X509_get_subject_name(cert.get())));
    d->issuer = QString::fromStdString(nameToString(X509_get_issuer_name(cert.get())));
    d->commonName = commonNameOf(cert.get());
    d->altNames = altNamesOf(cert.get());
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (X509_digest(cert.get(), EVP_sha256(), digest, &size) == 1)
        d->fingerprint = QByteArray(reinterpret_cast<const char *>(digest), size);
    d->serial = serialOf(cert.get());
    d->notBefore = toDateTime(X509_get0_notBefore(cert.get()));
    d->notAfter = toDateTime(X509_get0_notAfter(cert.get()));
    d->selfSigned = X509_check_issued(cert.get(), cert.get()) == X509_V_OK;
    readPublicKey(cert.get(), *d);
    d->signatureAlgorithm = signatureAlgorithmOf(cert.get());
}

SecureCertificate::SecureCertificate(const SecureCertificate &other) = default;
SecureCertificate &SecureCertificate::operator=(const SecureCertificate &other) = default;
SecureCertificate::~SecureCertificate() = default;

QList<SecureCertificate> SecureCertificate::fromPem(const QByteArray &pem)
{
    static const QByteArray begin("-----BEGIN CERTIFICATE-----");
    QList<SecureCertificate> certs;
    for (qsizetype at = pem.indexOf(begin); at >= 0; at = pem.indexOf(begin, at + 1)) {
        SecureCertificate cert(pem.mid(at));
        if (!cert.isNull())
            certs.append(cert);
    }
    return certs;
}

QList<SecureCertificate> SecureCertificate::fromPemFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? fromPem(file.readAll()) : QList<SecureCertificate>();
}

bool SecureCertificate::isNull() const
{
    return d->pem.isEmpty();
}
QByteArray SecureCertificate::toPem() const
{
    return d->pem;
}
QString SecureCertificate::subject() const
{
    return d->subject;
}
QString SecureCertificate::issuer() const
{
    return d->issuer;
}
QString SecureCertificate::commonName() const
{
    return d->commonName;
}
QStringList SecureCertificate::subjectAltNames() const
{
    return d->altNames;
}
QByteArray SecureCertificate::sha256Fingerprint() const
{
    return d->fingerprint;
}
QByteArray SecureCertificate::serialNumber() const
{
    return d->serial;
}
QDateTime SecureCertificate::notBefore() const
{
    return d->notBefore;
}
QDateTime SecureCertificate::notAfter() const
{
    return d->notAfter;
}
bool SecureCertificate::isSelfSigned() const
{
    return d->selfSigned;
}
QString SecureCertificate::publicKeyAlgorithm() const
{
    return d->keyAlgorithm;
}
QString SecureCertificate::publicKeyCurve() const
{
    return d->keyCurve;
}
int SecureCertificate::publicKeyBits() const
{
    return d->keyBits;
}
QString SecureCertificate::signatureAlgorithm() const
{
    return d->signatureAlgorithm;
}
// Computed when asked (a DER encoding and a digest), not for every certificate a connection
// reports.
QString SecureCertificate::publicKeyPin() const
{
    if (d->pem.isEmpty())
        return {};
    OsslErrorScope errors;
    BioPtr bio(BIO_new_mem_buf(d->pem.constData(), static_cast<int>(d->pem.size())));
    X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    return cert ? QString::fromStdString(securesocket::engine::publicKeyPin(cert.get()))
                : QString();
}
bool SecureCertificate::operator==(const SecureCertificate &other) const
{
    return d->pem == other.d->pem;
}
