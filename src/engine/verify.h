// Certificate verification: OpenSSL's chain and host checks, with every failure collected and
// mapped to the public VerifyError code and a sentence naming the certificate and the cause.
#ifndef SECURESOCKET_ENGINE_VERIFY_H
#define SECURESOCKET_ENGINE_VERIFY_H

#include <SecureSocket/verifyerror.h>

#include "ossl.h"

#include <string>
#include <vector>

namespace securesocket::engine {

struct VerifyFailure
{
    VerifyError code = VerifyError::NoError;
    int depth = 0;              // 0 = the peer's own certificate
    std::string subject;        // of the certificate concerned, one line, e.g. "CN=localhost"
    std::string message;        // e.g. "hostname mismatch: certificate 'CN=x' is valid for ..."
    int opensslCode = 0;        // X509_V_ERR_*, for diagnostics
    std::string certificatePem; // the certificate concerned, or empty
};

// Sets up host or IP checking on ssl for a client connecting to peerName: no CN fallback,
// left-most-label wildcards only. Returns false if peerName is unusable.
bool configurePeerName(SSL *ssl, const std::string &peerName);

// Runs X509_verify_cert on ctx (set up by OpenSSL for this handshake, with the trust store and
// the name to check), collecting every failure rather than stopping at the first. peerIsServer
// tells which use of the certificate is checked. Returns the failures, empty when none.
std::vector<VerifyFailure> verifyChain(X509_STORE_CTX *ctx, const std::string &peerName,
                                       bool peerIsServer);

// One line subject or issuer, RFC 2253 style ("CN=localhost,O=Test").
std::string nameToString(const X509_NAME *name);
std::string certificatePem(X509 *cert); // "" if it cannot be written

} // namespace securesocket::engine

#endif
