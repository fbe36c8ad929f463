// OCSP stapling: the server's response checked against its own certificate and stapled while
// current; the client's check of a stapled response, each problem a sentence naming the
// certificate.
#include "ocsp.h"

#include <openssl/err.h>

#include <cstring>

namespace securesocket::engine {

namespace {

std::string timeText(const ASN1_TIME *time)
{
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || !time || ASN1_TIME_print(bio.get(), time) != 1)
        return "an unreadable date";
    char *data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(size));
}

std::string timeText(std::time_t time)
{
    using TimePtr = OsslPtr<ASN1_TIME, ASN1_TIME_free>;
    const TimePtr asn1(ASN1_TIME_set(nullptr, time));
    return timeText(asn1.get());
}

bool toTime(const ASN1_TIME *time, std::time_t *out)
{
    std::tm tm{};
    if (!time || ASN1_TIME_to_tm(time, &tm) != 1)
        return false;
    *out = timegm(&tm);
    return true;
}

std::string serialText(const ASN1_INTEGER *serial)
{
    using BnPtr = OsslPtr<BIGNUM, BN_free>;
    const BnPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
    char *hex = bn ? BN_bn2hex(bn.get()) : nullptr;
    const std::string text = hex ? hex : "?";
    OPENSSL_free(hex);
    return text;
}

// The certificate among candidates that issued leaf, or null.
X509 *issuerIn(STACK_OF(X509) * candidates, X509 *leaf)
{
    for (int i = 0; candidates && i < sk_X509_num(candidates); ++i) {
        X509 *candidate = sk_X509_value(candidates, i);
        if (candidate != leaf && X509_check_issued(candidate, leaf) == X509_V_OK)
            return candidate;
    }
    return nullptr;
}

// Whether a response's CertID names leaf: its serial number and issuer (name and key when the
// issuer is known, the name alone otherwise), hashed as the CertID says.
bool namesCertificate(const OCSP_CERTID *id, X509 *leaf, X509 *issuer)
{
    ASN1_OCTET_STRING *nameHash = nullptr;
    ASN1_OBJECT *digestOid = nullptr;
    ASN1_INTEGER *serial = nullptr;
    auto *mutableId = const_cast<OCSP_CERTID *>(id); // the getter is not const in 3.0
    if (OCSP_id_get0_info(&nameHash, &digestOid, nullptr, &serial, mutableId) != 1 || !serial ||
        ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(leaf)) != 0)
        return false;
    const EVP_MD *md = EVP_get_digestbyobj(digestOid);
    if (!md)
        return false;
    if (issuer) {
        const OcspCertIdPtr ours(OCSP_cert_to_id(md, leaf, issuer));
        return ours && OCSP_id_cmp(ours.get(), id) == 0;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    return X509_NAME_digest(X509_get_issuer_name(leaf), md, digest, &length) == 1 && nameHash &&
           static_cast<unsigned int>(ASN1_STRING_length(nameHash)) == length &&
           std::memcmp(ASN1_STRING_get0_data(nameHash), digest, length) == 0;
}

// The single response of basic for leaf, or null.
OCSP_SINGLERESP *singleFor(OCSP_BASICRESP *basic, X509 *leaf, X509 *issuer)
{
    for (int i = 0; i < OCSP_resp_count(basic); ++i) {
        OCSP_SINGLERESP *single = OCSP_resp_get0(basic, i);
        if (namesCertificate(OCSP_SINGLERESP_get0_id(single), leaf, issuer))
            return single;
    }
    return nullptr;
}

// The serial numbers a response answers for, for a sentence: "1A2B, 3C4D".
std::string answeredSerials(OCSP_BASICRESP *basic)
{
    std::string serials;
    for (int i = 0; i < OCSP_resp_count(basic); ++i) {
        ASN1_INTEGER *serial = nullptr;
        auto *id = const_cast<OCSP_CERTID *>(OCSP_SINGLERESP_get0_id(OCSP_resp_get0(basic, i)));
        if (OCSP_id_get0_info(nullptr, nullptr, nullptr, &serial, id) == 1 && serial)
            serials += (serials.empty() ? "" : ", ") + serialText(serial);
    }
    return serials.empty() ? std::string("no certificate") : "serial " + serials;
}

std::string revocationText(int reason, const ASN1_GENERALIZEDTIME *when)
{
    std::string text = "on " + timeText(when);
    if (reason >= 0)
        text += std::string(" (reason: ") + OCSP_crl_reason_str(reason) + ")";
    return text;
}

int stapleCallback(SSL *ssl, void *arg)
{
    const auto *staple = static_cast<const OcspStaple *>(arg);
    if (!staple || !staple->stapleable(std::time(nullptr)))
        return SSL_TLSEXT_ERR_NOACK;
    // Only with the certificate it is for: with several chains (SNI), another may be served.
    X509 *served = SSL_get_certificate(ssl);
    if (!served || !staple->isFor(served))
        return SSL_TLSEXT_ERR_NOACK;
    const std::string &der = staple->der();
    // OpenSSL frees the copy with the connection.
    auto *copy = static_cast<unsigned char *>(OPENSSL_memdup(der.data(), der.size()));
    if (!copy)
        return SSL_TLSEXT_ERR_NOACK;
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der.size())) != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

} // namespace

OcspResponsePtr parseOcspResponse(const std::string &der)
{
    const auto *p = reinterpret_cast<const unsigned char *>(der.data());
    const unsigned char *const end = p + der.size();
    OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
    if (!response || p != end)
        return nullptr;
    return response;
}

OcspStaple::OcspStaple(OcspResponsePtr response, std::string der, std::string what, X509 *leaf,
                       STACK_OF(X509) * chain)
    : m_der(std::move(der)), m_who(std::move(what)),
      m_certificate("certificate '" + nameToString(X509_get_subject_name(leaf)) + "'")
{
    if (X509_up_ref(leaf) == 1)
        m_leaf.reset(leaf);
    const int status = OCSP_response_status(response.get());
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        m_problems.push_back(m_who + " has the status '" + OCSP_response_status_str(status) +
                             "', not 'successful': it is not stapled");
        return;
    }
    const OcspBasicPtr basic(OCSP_response_get1_basic(response.get()));
    if (!basic) {
        m_problems.push_back(m_who + " holds no basic OCSP response: it is not stapled");
        return;
    }
    OCSP_SINGLERESP *single = singleFor(basic.get(), leaf, issuerIn(chain, leaf));
    if (!single) {
        m_problems.push_back(m_who + " is not for " + m_certificate + " (serial " +
                             serialText(X509_get0_serialNumber(leaf)) + ") but for " +
                             answeredSerials(basic.get()) + ": it is not stapled");
        return;
    }
    int reason = -1;
    ASN1_GENERALIZEDTIME *revoked = nullptr, *thisUpdate = nullptr, *nextUpdate = nullptr;
    const int certStatus =
        OCSP_single_get0_status(single, &reason, &revoked, &thisUpdate, &nextUpdate);
    m_datesKnown =
        toTime(thisUpdate, &m_thisUpdate) && (!nextUpdate || toTime(nextUpdate, &m_nextUpdate));
    if (!m_datesKnown) {
        m_problems.push_back(m_who + " has dates that cannot be read: it is not stapled");
        return;
    }
    if (certStatus == V_OCSP_CERTSTATUS_UNKNOWN) {
        m_problems.push_back(m_who + " says its responder does not know " + m_certificate +
                             ": it is not stapled");
        return;
    }
    if (certStatus == V_OCSP_CERTSTATUS_REVOKED)
        m_problems.push_back(m_who + " says " + m_certificate + " was revoked " +
                             revocationText(reason, revoked) +
                             ": clients that check it refuse the connection");
    m_usable = true;
}

bool OcspStaple::stapleable(std::time_t now) const
{
    return m_usable && now + kOcspClockSkewSeconds >= m_thisUpdate &&
           (m_nextUpdate == 0 || now <= m_nextUpdate);
}

std::vector<std::string> OcspStaple::warnings(std::time_t now) const
{
    std::vector<std::string> warnings = m_problems;
    if (!m_usable)
        return warnings;
    if (now + kOcspClockSkewSeconds < m_thisUpdate)
        warnings.push_back(m_who + " for " + m_certificate + " is not valid until " +
                           timeText(m_thisUpdate) + ": it is not stapled until then");
    else if (m_nextUpdate != 0 && now > m_nextUpdate)
        warnings.push_back(m_who + " for " + m_certificate + " expired on " +
                           timeText(m_nextUpdate) + ": it is not stapled; replace the file");
    return warnings;
}

void OcspStaple::install(SSL_CTX *ctx) const
{
    SSL_CTX_set_tlsext_status_cb(ctx, stapleCallback);
    SSL_CTX_set_tlsext_status_arg(ctx, const_cast<OcspStaple *>(this));
}

OcspCheck checkStapledResponse(SSL *ssl, bool required)
{
    OcspCheck check;
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    if (!leaf)
        return check;
    const std::string subject = nameToString(X509_get_subject_name(leaf));
    const std::string quoted = "certificate '" + subject + "'";
    const auto failWith = [&](OcspStatus status, VerifyError code, int opensslCode,
                              std::string message) {
        check.status = status;
        if (!required && code != VerifyError::OcspRevoked)
            return; // without the requirement, only a valid "revoked" is a failure
        VerifyFailure failure;
        failure.code = code;
        failure.depth = 0;
        failure.subject = subject;
        failure.message = std::move(message);
        failure.opensslCode = opensslCode;
        failure.certificatePem = certificatePem(leaf);
        check.failure = std::move(failure);
    };

    const unsigned char *data = nullptr;
    const long size = SSL_get_tlsext_status_ocsp_resp(ssl, &data);
    if (!data || size <= 0) {
        failWith(OcspStatus::None, VerifyError::OcspResponseMissing, X509_V_ERR_OCSP_VERIFY_NEEDED,
                 "no OCSP response: the server stapled none for " + quoted +
                     ", and a good one is required");
        check.status = OcspStatus::None;
        return check;
    }
    check.der.assign(reinterpret_cast<const char *>(data), static_cast<size_t>(size));
    const std::string invalid = "invalid OCSP response for " + quoted + ": ";
    const auto invalidBecause = [&](const std::string &cause) {
        failWith(OcspStatus::Invalid, VerifyError::OcspResponseInvalid,
                 X509_V_ERR_OCSP_VERIFY_FAILED, invalid + cause);
        return check;
    };

    const OcspResponsePtr response = parseOcspResponse(check.der);
    if (!response)
        return invalidBecause("the stapled data is not a DER OCSP response");
    const int status = OCSP_response_status(response.get());
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        return invalidBecause(std::string("its status is '") + OCSP_response_status_str(status) +
                              "', not 'successful'");
    const OcspBasicPtr basic(OCSP_response_get1_basic(response.get()));
    if (!basic)
        return invalidBecause("it holds no basic OCSP response");

    STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);
    X509_STORE *store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
    X509 *issuer = issuerIn(sent, leaf);
    if (!issuer)
        issuer = issuerIn(SSL_get0_verified_chain(ssl), leaf);
    X509Ptr storedIssuer;
    if (!issuer && store) {
        using StoreCtxPtr = OsslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
        const StoreCtxPtr lookup(X509_STORE_CTX_new());
        X509 *found = nullptr;
        if (lookup && X509_STORE_CTX_init(lookup.get(), store, leaf, nullptr) == 1 &&
            X509_STORE_CTX_get1_issuer(&found, lookup.get(), leaf) == 1)
            storedIssuer.reset(found);
        issuer = storedIssuer.get();
    }
    const std::string issuerName = nameToString(X509_get_issuer_name(leaf));

    // The signer must chain to a trusted CA and be the certificate's issuer or a responder
    // with id-kp-OCSPSigning issued by it (OpenSSL checks both).
    ERR_clear_error();
    if (OCSP_basic_verify(basic.get(), sent, store, 0) <= 0) {
        const OsslError cause = takeOpensslError();
        return invalidBecause("it is not signed by '" + issuerName +
                              "' or by a responder that CA authorized" +
                              (cause.text.empty() ? "" : " (" + cause.text + ")"));
    }
    OCSP_SINGLERESP *single = singleFor(basic.get(), leaf, issuer);
    if (!single)
        return invalidBecause("it is not for this certificate (serial " +
                              serialText(X509_get0_serialNumber(leaf)) + ") but for " +
                              answeredSerials(basic.get()));

    int reason = -1;
    ASN1_GENERALIZEDTIME *revoked = nullptr, *thisUpdate = nullptr, *nextUpdate = nullptr;
    const int certStatus =
        OCSP_single_get0_status(single, &reason, &revoked, &thisUpdate, &nextUpdate);
    if (certStatus == V_OCSP_CERTSTATUS_REVOKED) {
        // Revocation is for good: an old response that says so is still believed.
        failWith(OcspStatus::Revoked, VerifyError::OcspRevoked, X509_V_ERR_CERT_REVOKED,
                 "certificate revoked (OCSP): " + quoted + " was revoked " +
                     revocationText(reason, revoked) + ", says the response the server stapled");
        return check;
    }
    if (OCSP_check_validity(thisUpdate, nextUpdate, kOcspClockSkewSeconds, -1) != 1) {
        ERR_clear_error();
        const bool early = X509_cmp_time(thisUpdate, nullptr) > 0;
        failWith(OcspStatus::Expired, VerifyError::OcspResponseExpired,
                 X509_V_ERR_OCSP_VERIFY_FAILED,
                 early ? "OCSP response not yet valid: the response stapled for " + quoted +
                             " is valid from " + timeText(thisUpdate)
                       : "expired OCSP response: the response stapled for " + quoted +
                             " was valid until " + timeText(nextUpdate));
        return check;
    }
    if (certStatus != V_OCSP_CERTSTATUS_GOOD) {
        check.status = OcspStatus::Unknown;
        failWith(OcspStatus::Unknown, VerifyError::OcspResponseInvalid,
                 X509_V_ERR_OCSP_CERT_UNKNOWN,
                 invalid + "its responder does not know the certificate (status unknown)");
        return check;
    }
    check.status = OcspStatus::Good;
    return check;
}

} // namespace securesocket::engine
