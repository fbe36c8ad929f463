// OCSP stapling. Server: the response read from a file, checked against our own certificate
// when the context is built, and stapled for clients that ask (status_request). Client: the
// check of the response a server stapled (signed by the issuer or a responder it authorized,
// for the server's certificate, current, good), as one VerifyFailure.
#ifndef SECURESOCKET_ENGINE_OCSP_H
#define SECURESOCKET_ENGINE_OCSP_H

#include "ossl.h"
#include "verify.h"

#include <openssl/ocsp.h>

#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace securesocket::engine {

using OcspResponsePtr = OsslPtr<OCSP_RESPONSE, OCSP_RESPONSE_free>;
using OcspBasicPtr = OsslPtr<OCSP_BASICRESP, OCSP_BASICRESP_free>;
using OcspCertIdPtr = OsslPtr<OCSP_CERTID, OCSP_CERTID_free>;

// How far a response's thisUpdate may lie in the future (clocks differ), and how far its
// nextUpdate in the past, before it counts as expired: five minutes, as OpenSSL's ocsp tool.
inline constexpr long kOcspClockSkewSeconds = 300;

// The whole of der as an OCSPResponse, or null (not DER, or bytes after it).
OcspResponsePtr parseOcspResponse(const std::string &der);

// Server: a DER OCSP response to staple, as read from a file. Whether it can be stapled
// depends on the time (it expires), so it is asked at each handshake.
class OcspStaple
{
public:
    // response: parsed from der; what names it ("OCSP response file 'x'"); leaf and chain:
    // our certificate and the rest of our chain (to find the issuer the response names).
    OcspStaple(OcspResponsePtr response, std::string der, std::string what, X509 *leaf,
               STACK_OF(X509) * chain);

    // For our certificate, successful and not expired at now: it is sent to clients that ask.
    // A response saying our certificate is revoked is sent too (it is the truth).
    bool stapleable(std::time_t now) const;
    const std::string &der() const { return m_der; }
    // Whether cert is the certificate this response was loaded for (the main chain's leaf).
    bool isFor(X509 *cert) const { return m_leaf && X509_cmp(cert, m_leaf.get()) == 0; }

    // What is wrong with it, as of now, one sentence each naming the file and the certificate:
    // not successful, not for our certificate, revoked, expired or not valid yet. Such a
    // response is not stapled (except a revoked one).
    std::vector<std::string> warnings(std::time_t now) const;

    // Server: SSL_CTX_set_tlsext_status_cb with this staple; it must outlive ctx.
    void install(SSL_CTX *ctx) const;

private:
    std::string m_der;
    X509Ptr m_leaf;
    std::string m_who;                   // "OCSP response file 'x'"
    std::string m_certificate;           // "certificate 'CN=...'"
    std::vector<std::string> m_problems; // do not change with time
    bool m_usable = false;               // successful and for our certificate
    bool m_datesKnown = false;
    std::time_t m_thisUpdate = 0;
    std::time_t m_nextUpdate = 0; // 0: none (a response that never expires)
};

// Client: what the server stapled and what it says.
enum class OcspStatus {
    None,    // nothing stapled (or not asked for)
    Good,    // valid, current, signed by the issuer or its responder: not revoked
    Revoked, // valid and says revoked
    Unknown, // valid and says the responder does not know the certificate
    Invalid, // malformed, not successful, wrongly signed or not for this certificate
    Expired  // valid but outside its thisUpdate..nextUpdate window
};

struct OcspCheck
{
    OcspStatus status = OcspStatus::None;
    std::string der;                      // the stapled response as sent, or empty
    std::optional<VerifyFailure> failure; // set when the result is a certificate failure
};

// Checks the response stapled on ssl (a client's, after the server's certificate) for the
// server's certificate, with the context's trust store. required: a missing, invalid,
// expired or unknown response is a failure; otherwise only a valid "revoked" one is.
OcspCheck checkStapledResponse(SSL *ssl, bool required);

} // namespace securesocket::engine

#endif
