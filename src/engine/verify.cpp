// Certificate verification: collecting every failure of OpenSSL's chain and host checks,
// mapping each to a VerifyError and a sentence naming the certificate; the VerifyError names.
#include "verify.h"

#include <openssl/pem.h>

#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace securesocket::engine {

namespace {

struct NameEntry
{
    const char *name;
    VerifyError code;
};

const NameEntry kNames[] = {
    {"no-error", VerifyError::NoError},
    {"expired", VerifyError::Expired},
    {"not-yet-valid", VerifyError::NotYetValid},
    {"self-signed", VerifyError::SelfSigned},
    {"unknown-issuer", VerifyError::UnknownIssuer},
    {"missing-intermediate", VerifyError::MissingIntermediate},
    {"hostname-mismatch", VerifyError::HostnameMismatch},
    {"ip-mismatch", VerifyError::IpAddressMismatch},
    {"invalid-purpose", VerifyError::InvalidPurpose},
    {"revoked", VerifyError::Revoked},
    {"untrusted-root", VerifyError::UntrustedRoot},
    {"chain-too-long", VerifyError::ChainTooLong},
    {"invalid-ca", VerifyError::InvalidCa},
    {"bad-signature", VerifyError::BadSignature},
    {"no-peer-certificate", VerifyError::NoPeerCertificate},
    {"crl-problem", VerifyError::CrlProblem},
    {"weak-key", VerifyError::WeakKey},
    {"invalid-certificate", VerifyError::InvalidCertificate},
    {"ocsp-missing", VerifyError::OcspResponseMissing},
    {"ocsp-invalid", VerifyError::OcspResponseInvalid},
    {"ocsp-expired", VerifyError::OcspResponseExpired},
    {"ocsp-revoked", VerifyError::OcspRevoked},
    {"pin-mismatch", VerifyError::PinMismatch},
    {"other", VerifyError::Other},
};

std::string timeToString(const ASN1_TIME *time)
{
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || !time || ASN1_TIME_print(bio.get(), time) != 1)
        return "an unreadable date";
    char *data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(size));
}

struct AltNames
{
    std::vector<std::string> dns;
    std::vector<std::string> ip; // as text, "127.0.0.1", "::1"
};

// The DNS and IP names of a certificate's subjectAltName, in order.
AltNames altNames(X509 *cert)
{
    GeneralNamesPtr names(static_cast<GENERAL_NAMES *>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    AltNames result;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names.get(), i);
        if (name->type == GEN_DNS) {
            const ASN1_IA5STRING *dns = name->d.dNSName;
            std::string text(reinterpret_cast<const char *>(ASN1_STRING_get0_data(dns)),
                             static_cast<size_t>(ASN1_STRING_length(dns)));
            if (!text.empty())
                result.dns.push_back(std::move(text));
        } else if (name->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *ip = name->d.iPAddress;
            char buffer[INET6_ADDRSTRLEN] = {};
            int family = ASN1_STRING_length(ip) == 4 ? AF_INET : AF_INET6;
            if (ASN1_STRING_length(ip) == 4 || ASN1_STRING_length(ip) == 16)
                inet_ntop(family, ASN1_STRING_get0_data(ip), buffer, sizeof buffer);
            if (buffer[0] != '\0')
                result.ip.emplace_back(buffer);
        }
    }
    return result;
}

// "localhost, 127.0.0.1": the DNS names, then the IP addresses.
std::string join(const AltNames &names)
{
    std::string result;
    for (const auto *list : {&names.dns, &names.ip}) {
        for (const auto &name : *list)
            result += (result.empty() ? "" : ", ") + name;
    }
    return result;
}

// True when both are IP addresses and the same one, whatever the spelling ("::1", "0:0::1").
bool sameAddress(const std::string &a, const std::string &b)
{
    using OctetPtr = OsslPtr<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
    const OctetPtr first{a2i_IPADDRESS(a.c_str())};
    const OctetPtr second{a2i_IPADDRESS(b.c_str())};
    return first && second && ASN1_OCTET_STRING_cmp(first.get(), second.get()) == 0;
}

std::string describeNameMismatch(VerifyError error, X509 *cert, const std::string &quoted,
                                 const std::string &peerName)
{
    AltNames names = altNames(cert);
    const std::string kind =
        error == VerifyError::HostnameMismatch ? "hostname mismatch: " : "IP address mismatch: ";
    const std::string connected = "; connected to " + peerName;
    if (error == VerifyError::IpAddressMismatch) {
        std::string address = peerName;
        if (address.size() > 2 && address.front() == '[' && address.back() == ']')
            address = address.substr(1, address.size() - 2);
        // An address written as a DNS name looks right to a person but never matches: say so.
        const auto asDns =
            std::find_if(names.dns.begin(), names.dns.end(),
                         [&](const std::string &dns) { return sameAddress(dns, address); });
        if (asDns != names.dns.end()) {
            names.dns.erase(asDns);
            const std::string others = join(names);
            return kind + quoted + " lists " + address +
                   " only as a DNS name, not as an IP address (clients match IP addresses "
                   "against IP SANs only)" +
                   (others.empty() ? "" : "; its other names are " + others) + connected;
        }
    }
    const std::string all = join(names);
    return kind + quoted +
           (all.empty() ? " has no DNS or IP names (the subject CN is not used)"
                        : " is valid for " + all) +
           connected;
}

// The caIssuers URI of a certificate's authorityInfoAccess, or "".
std::string caIssuersUrl(X509 *cert)
{
    using AiaPtr = OsslPtr<AUTHORITY_INFO_ACCESS, AUTHORITY_INFO_ACCESS_free>;
    AiaPtr aia(static_cast<AUTHORITY_INFO_ACCESS *>(
        X509_get_ext_d2i(cert, NID_info_access, nullptr, nullptr)));
    for (int i = 0; aia && i < sk_ACCESS_DESCRIPTION_num(aia.get()); ++i) {
        const ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia.get(), i);
        if (OBJ_obj2nid(ad->method) == NID_ad_ca_issuers && ad->location->type == GEN_URI) {
            const ASN1_IA5STRING *uri = ad->location->d.uniformResourceIdentifier;
            return std::string(reinterpret_cast<const char *>(ASN1_STRING_get0_data(uri)),
                               static_cast<size_t>(ASN1_STRING_length(uri)));
        }
    }
    return {};
}

VerifyError classify(int code, int depth, X509 *cert)
{
    switch (code) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return VerifyError::Expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return VerifyError::NotYetValid;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return VerifyError::SelfSigned;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        // A certificate that tells where its issuer is published was issued by an
        // intermediate CA, which the peer should have sent.
        return cert && !caIssuersUrl(cert).empty() ? VerifyError::MissingIntermediate
                                                   : VerifyError::UnknownIssuer;
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
        return VerifyError::UntrustedRoot;
    case X509_V_ERR_HOSTNAME_MISMATCH:
        return VerifyError::HostnameMismatch;
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return VerifyError::IpAddressMismatch;
    case X509_V_ERR_INVALID_PURPOSE:
        // Above the leaf, "purpose" means "may issue certificates".
        return depth > 0 ? VerifyError::InvalidCa : VerifyError::InvalidPurpose;
    case X509_V_ERR_CERT_REVOKED:
        return VerifyError::Revoked;
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
        return VerifyError::ChainTooLong;
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
        return VerifyError::InvalidCa;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
        return VerifyError::BadSignature;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
        return VerifyError::CrlProblem;
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
    case X509_V_ERR_CA_MD_TOO_WEAK:
        return VerifyError::WeakKey;
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
    case X509_V_ERR_INVALID_EXTENSION:
    case X509_V_ERR_INVALID_NON_CA:
        return VerifyError::InvalidCertificate;
    default:
        return VerifyError::Other;
    }
}

std::string describe(VerifyError error, int code, X509 *cert, const std::string &subject,
                     const std::string &peerName, bool peerIsServer)
{
    const std::string quoted = "certificate '" + subject + "'";
    const std::string issuer = cert ? nameToString(X509_get_issuer_name(cert)) : std::string();
    switch (error) {
    case VerifyError::Expired:
        return "certificate expired: " + quoted + " was valid until " +
               timeToString(X509_get0_notAfter(cert));
    case VerifyError::NotYetValid:
        return "certificate not yet valid: " + quoted + " is valid from " +
               timeToString(X509_get0_notBefore(cert));
    case VerifyError::SelfSigned:
        return "self-signed certificate: " + quoted + " signed itself and is not trusted";
    case VerifyError::UnknownIssuer:
        return "unknown issuer: " + quoted + " was issued by '" + issuer +
               "', which is neither a trusted CA nor sent by the peer";
    case VerifyError::MissingIntermediate:
        return "missing intermediate certificate: the peer did not send '" + issuer +
               "', the CA that issued " + quoted + " (published at " + caIssuersUrl(cert) + ")";
    case VerifyError::HostnameMismatch:
    case VerifyError::IpAddressMismatch:
        return describeNameMismatch(error, cert, quoted, peerName);
    case VerifyError::InvalidPurpose:
        return "wrong certificate purpose: the (extended) key usage of " + quoted +
               " does not allow a " + (peerIsServer ? "TLS server" : "TLS client");
    case VerifyError::Revoked:
        return "certificate revoked: " + quoted + " is listed in the CRL of '" + issuer + "'";
    case VerifyError::UntrustedRoot:
        return "untrusted root: the chain ends in " + quoted + ", which is not a trusted CA";
    case VerifyError::ChainTooLong:
        return "chain too long at " + quoted + " (its issuers' path length limits forbid it)";
    case VerifyError::InvalidCa:
        return "not a CA: " + quoted + " issued a certificate but is not allowed to (no CA:TRUE " +
               "basic constraint or no keyCertSign usage)";
    default:
        return std::string(X509_verify_cert_error_string(code)) + ": " + quoted;
    }
}

struct Collector
{
    std::vector<VerifyFailure> *failures;
    const std::string *peerName;
    bool peerIsServer;
};

thread_local Collector *t_collector = nullptr;

// Records a failure and tells OpenSSL to go on, so that all failures are known.
int collectFailure(int ok, X509_STORE_CTX *ctx)
{
    if (ok || !t_collector)
        return ok;
    const int code = X509_STORE_CTX_get_error(ctx);
    const int depth = X509_STORE_CTX_get_error_depth(ctx);
    X509 *cert = X509_STORE_CTX_get_current_cert(ctx);
    auto &failures = *t_collector->failures;
    // OpenSSL may report one problem under two codes (e.g. "unable to get local issuer" and
    // "unable to verify the first certificate"): one failure per code and certificate.
    const VerifyError kind = classify(code, depth, cert);
    const bool seen = std::any_of(failures.begin(), failures.end(), [&](const VerifyFailure &f) {
        return f.code == kind && f.depth == depth;
    });
    if (!seen) {
        VerifyFailure failure;
        failure.code = kind;
        failure.depth = depth;
        failure.opensslCode = code;
        failure.subject = cert ? nameToString(X509_get_subject_name(cert)) : std::string();
        failure.certificatePem = cert ? certificatePem(cert) : std::string();
        failure.message = describe(failure.code, code, cert, failure.subject,
                                   *t_collector->peerName, t_collector->peerIsServer);
        failures.push_back(std::move(failure));
    }
    return 1;
}

} // namespace

std::string nameToString(const X509_NAME *name)
{
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0)
        return {};
    char *data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(size));
}

std::string certificatePem(X509 *cert)
{
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
        return {};
    char *data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(size));
}

bool configurePeerName(SSL *ssl, const std::string &peerName)
{
    std::string name = peerName;
    if (name.size() > 2 && name.front() == '[' && name.back() == ']')
        name = name.substr(1, name.size() - 2);
    if (name.empty() || name.find('\0') != std::string::npos)
        return false;

    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                               X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    using OctetPtr = OsslPtr<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
    if (OctetPtr ip{a2i_IPADDRESS(name.c_str())}) {
        return X509_VERIFY_PARAM_set1_ip(param, ASN1_STRING_get0_data(ip.get()),
                                         static_cast<size_t>(ASN1_STRING_length(ip.get()))) == 1;
    }
    if (name.back() == '.')
        name.pop_back();
    return X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1 &&
           SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
}

std::vector<VerifyFailure> verifyChain(X509_STORE_CTX *ctx, const std::string &peerName,
                                       bool peerIsServer)
{
    std::vector<VerifyFailure> failures;
    Collector collector{&failures, &peerName, peerIsServer};
    t_collector = &collector;
    X509_STORE_CTX_set_verify_cb(ctx, collectFailure);
    const int ok = X509_verify_cert(ctx);
    t_collector = nullptr;
    if (ok <= 0 && failures.empty()) {
        VerifyFailure failure;
        failure.code = VerifyError::Other;
        failure.opensslCode = X509_STORE_CTX_get_error(ctx);
        failure.message = std::string("certificate verification failed: ") +
                          X509_verify_cert_error_string(failure.opensslCode);
        failures.push_back(std::move(failure));
    }
    return failures;
}

} // namespace securesocket::engine

const char *verifyErrorName(VerifyError error)
{
    for (const auto &entry : securesocket::engine::kNames) {
        if (entry.code == error)
            return entry.name;
    }
    return nullptr;
}

VerifyError verifyErrorFromName(const char *name)
{
    for (const auto &entry : securesocket::engine::kNames) {
        if (name && std::strcmp(entry.name, name) == 0)
            return entry.code;
    }
    return VerifyError::Other;
}
