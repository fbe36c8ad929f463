// Test PKI built with the OpenSSL 3 C API. Every OpenSSL object is owned by a std::unique_ptr;
// every failure throws std::runtime_error and leaves the thread's OpenSSL error queue empty.
#include "testpki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <ctime>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace testpki {
namespace {

template <auto FreeFn> struct Deleter
{
    template <typename T> void operator()(T *p) const { FreeFn(p); }
};
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using CrlPtr = std::unique_ptr<X509_CRL, Deleter<X509_CRL_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using RevokedPtr = std::unique_ptr<X509_REVOKED, Deleter<X509_REVOKED_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;

// Throws with the OpenSSL error queue appended to what, and empties the queue.
[[noreturn]] void fail(const std::string &what)
{
    std::string message = "testpki: " + what;
    while (const unsigned long code = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof buffer);
        message += std::string(": ") + buffer;
    }
    ERR_clear_error();
    throw std::runtime_error(message);
}

template <typename T> T check(T result, const char *what)
{
    if (!result)
        fail(what);
    return result;
}

BioPtr readBio(const std::string &data)
{
    return BioPtr(
        check(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())), "BIO_new_mem_buf"));
}

BioPtr writeBio()
{
    return BioPtr(check(BIO_new(BIO_s_mem()), "BIO_new"));
}

std::string bioText(BIO *bio)
{
    char *data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    return length > 0 ? std::string(data, static_cast<size_t>(length)) : std::string();
}

X509Ptr readCert(const std::string &pem)
{
    const BioPtr bio = readBio(pem);
    return X509Ptr(
        check(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), "cannot read certificate"));
}

KeyPtr readKey(const std::string &pem)
{
    const BioPtr bio = readBio(pem);
    return KeyPtr(check(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
                        "cannot read private key"));
}

KeyPtr generateKey(KeyType type)
{
    EVP_PKEY *key = nullptr;
    switch (type) {
    case KeyType::EcdsaP256:
        key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        break;
    case KeyType::Rsa2048:
        key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
        break;
    case KeyType::Ed25519:
        key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
        break;
    }
    return KeyPtr(check(key, "key generation failed"));
}

// SHA-256 for RSA and ECDSA; Ed25519 signs the message itself and takes no digest.
const EVP_MD *digestFor(EVP_PKEY *signingKey)
{
    return EVP_PKEY_is_a(signingKey, "ED25519") ? nullptr : EVP_sha256();
}

Asn1IntegerPtr randomSerial()
{
    unsigned char bytes[16];
    check(RAND_bytes(bytes, sizeof bytes) == 1, "RAND_bytes");
    bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40); // positive, 16 bytes long
    const BignumPtr number(check(BN_bin2bn(bytes, sizeof bytes, nullptr), "BN_bin2bn"));
    return Asn1IntegerPtr(check(BN_to_ASN1_INTEGER(number.get(), nullptr), "BN_to_ASN1_INTEGER"));
}

std::string join(const std::vector<std::string> &items, const std::string &prefix)
{
    std::string result;
    for (const std::string &item : items)
        result += (result.empty() ? "" : ",") + prefix + item;
    return result;
}

void addExtension(X509 *cert, X509V3_CTX *ctx, int nid, const std::string &value)
{
    const ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
    if (!extension)
        fail(std::string("cannot make extension ") + OBJ_nid2sn(nid) + " = " + value);
    check(X509_add_ext(cert, extension.get(), -1), "X509_add_ext");
}

std::string keyUsage(const CertSpec &spec)
{
    if (!spec.keyUsage.empty())
        return "critical," + join(spec.keyUsage, "");
    if (spec.isCa)
        return "critical,keyCertSign,cRLSign,digitalSignature";
    if (spec.keyType == KeyType::Rsa2048)
        return "critical,digitalSignature,keyEncipherment";
    return "critical,digitalSignature";
}

} // namespace

Issued makeCertificate(const CertSpec &spec, const Issued *issuer)
{
    const KeyPtr key = generateKey(spec.keyType);
    const X509Ptr cert(check(X509_new(), "X509_new"));
    X509 *const x = cert.get();

    // The issuer's certificate and key; for a self-signed certificate, this one and its own key.
    X509Ptr issuerCertOwner;
    KeyPtr issuerKeyOwner;
    X509 *issuerCert = x;
    EVP_PKEY *signingKey = key.get();
    if (issuer) {
        issuerCertOwner = readCert(issuer->certPem);
        issuerKeyOwner = readKey(issuer->keyPem);
        issuerCert = issuerCertOwner.get();
        signingKey = issuerKeyOwner.get();
        check(X509_check_private_key(issuerCert, signingKey) == 1,
              "issuer key does not match issuer certificate");
    }

    check(X509_set_version(x, 2), "X509_set_version");
    check(X509_set_serialNumber(x, randomSerial().get()), "X509_set_serialNumber");
    check(X509_gmtime_adj(X509_getm_notBefore(x), spec.notBeforeOffset), "notBefore");
    check(X509_gmtime_adj(X509_getm_notAfter(x), spec.notAfterOffset), "notAfter");
    check(X509_set_pubkey(x, key.get()), "X509_set_pubkey");

    X509_NAME *subject = X509_get_subject_name(x);
    const auto *cn = reinterpret_cast<const unsigned char *>(spec.commonName.c_str());
    check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, cn, -1, -1, 0), "subject CN");
    check(X509_set_issuer_name(x, X509_get_subject_name(issuerCert)), "X509_set_issuer_name");

    X509V3_CTX ctx{};
    X509V3_set_ctx(&ctx, issuerCert, x, nullptr, nullptr, 0);
    if (!spec.omitBasicConstraints) {
        std::string constraints = spec.isCa ? "critical,CA:TRUE" : "critical,CA:FALSE";
        if (spec.isCa && spec.pathLength >= 0)
            constraints += ",pathlen:" + std::to_string(spec.pathLength);
        addExtension(x, &ctx, NID_basic_constraints, constraints);
    }
    addExtension(x, &ctx, NID_key_usage, keyUsage(spec));
    if (!spec.extendedKeyUsage.empty())
        addExtension(x, &ctx, NID_ext_key_usage, join(spec.extendedKeyUsage, ""));
    else if (!spec.isCa)
        addExtension(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
    // The subject key identifier goes first: a self-signed certificate is its own issuer, and
    // "keyid:always" copies the issuer's subject key identifier.
    addExtension(x, &ctx, NID_subject_key_identifier, "hash");
    addExtension(x, &ctx, NID_authority_key_identifier, "keyid:always");
    std::string altNames = join(spec.dnsNames, "DNS:");
    const std::string ipNames = join(spec.ipAddresses, "IP:");
    altNames += (altNames.empty() || ipNames.empty() ? "" : ",") + ipNames;
    if (!altNames.empty())
        addExtension(x, &ctx, NID_subject_alt_name, altNames);
    if (!spec.aiaCaIssuersUrl.empty())
        addExtension(x, &ctx, NID_info_access, "caIssuers;URI:" + spec.aiaCaIssuersUrl);

    check(X509_sign(x, signingKey, digestFor(signingKey)) > 0, "X509_sign");

    const BioPtr certBio = writeBio();
    const BioPtr keyBio = writeBio();
    check(PEM_write_bio_X509(certBio.get(), x), "PEM_write_bio_X509");
    check(PEM_write_bio_PrivateKey(keyBio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr),
          "PEM_write_bio_PrivateKey");
    return Issued{bioText(certBio.get()), bioText(keyBio.get())};
}

std::string encryptKey(const std::string &keyPem, const std::string &passphrase)
{
    const KeyPtr key = readKey(keyPem);
    const BioPtr bio = writeBio();
    check(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(), passphrase.data(),
                                        static_cast<int>(passphrase.size()), nullptr, nullptr),
          "PEM_write_bio_PKCS8PrivateKey");
    return bioText(bio.get());
}

std::string makeCrl(const Issued &ca, const std::vector<const Issued *> &revoked)
{
    const X509Ptr caCert = readCert(ca.certPem);
    const KeyPtr caKey = readKey(ca.keyPem);
    check(X509_check_private_key(caCert.get(), caKey.get()) == 1,
          "CA key does not match CA certificate");

    const CrlPtr crl(check(X509_CRL_new(), "X509_CRL_new"));
    X509_CRL *const c = crl.get();
    check(X509_CRL_set_version(c, 1), "X509_CRL_set_version"); // v2
    check(X509_CRL_set_issuer_name(c, X509_get_subject_name(caCert.get())), "CRL issuer");
    const Asn1TimePtr lastUpdate(check(X509_gmtime_adj(nullptr, -3600), "lastUpdate"));
    const Asn1TimePtr nextUpdate(check(X509_gmtime_adj(nullptr, 7L * 24 * 3600), "nextUpdate"));
    check(X509_CRL_set1_lastUpdate(c, lastUpdate.get()), "X509_CRL_set1_lastUpdate");
    check(X509_CRL_set1_nextUpdate(c, nextUpdate.get()), "X509_CRL_set1_nextUpdate");

    for (const Issued *issued : revoked) {
        if (!issued)
            throw std::invalid_argument("testpki: makeCrl: null certificate");
        const X509Ptr cert = readCert(issued->certPem);
        RevokedPtr entry(check(X509_REVOKED_new(), "X509_REVOKED_new"));
        check(X509_REVOKED_set_serialNumber(entry.get(), X509_get_serialNumber(cert.get())),
              "X509_REVOKED_set_serialNumber");
        check(X509_REVOKED_set_revocationDate(entry.get(), lastUpdate.get()),
              "X509_REVOKED_set_revocationDate");
        check(X509_CRL_add0_revoked(c, entry.get()), "X509_CRL_add0_revoked");
        entry.release(); // now owned by the CRL
    }
    check(X509_CRL_sort(c), "X509_CRL_sort");

    X509V3_CTX ctx{};
    X509V3_set_ctx(&ctx, caCert.get(), nullptr, nullptr, c, 0);
    const ExtensionPtr akid(
        X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
    check(akid && X509_CRL_add_ext(c, akid.get(), -1), "CRL authorityKeyIdentifier");
    const Asn1IntegerPtr number(check(ASN1_INTEGER_new(), "ASN1_INTEGER_new"));
    check(ASN1_INTEGER_set_int64(number.get(), static_cast<int64_t>(std::time(nullptr))),
          "ASN1_INTEGER_set_int64");
    check(X509_CRL_add1_ext_i2d(c, NID_crl_number, number.get(), 0, 0), "CRL crlNumber");

    check(X509_CRL_sign(c, caKey.get(), digestFor(caKey.get())) > 0, "X509_CRL_sign");
    const BioPtr bio = writeBio();
    check(PEM_write_bio_X509_CRL(bio.get(), c), "PEM_write_bio_X509_CRL");
    return bioText(bio.get());
}

CertSpec caSpec(const std::string &commonName)
{
    CertSpec spec;
    spec.commonName = commonName;
    spec.isCa = true;
    return spec;
}

CertSpec serverSpec(const std::string &commonName, const std::vector<std::string> &dnsNames,
                    const std::vector<std::string> &ipAddresses)
{
    CertSpec spec;
    spec.commonName = commonName;
    spec.dnsNames = dnsNames;
    spec.ipAddresses = ipAddresses;
    return spec;
}

CertSpec localhostSpec()
{
    return serverSpec("localhost", {"localhost"}, {"127.0.0.1"});
}

CertSpec clientSpec(const std::string &commonName)
{
    CertSpec spec;
    spec.commonName = commonName;
    spec.extendedKeyUsage = {"clientAuth"};
    return spec;
}

void writeFile(const std::string &path, const std::string &content)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out)
        throw std::runtime_error("testpki: cannot open " + path + " for writing");
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out)
        throw std::runtime_error("testpki: cannot write " + path);
}

} // namespace testpki
