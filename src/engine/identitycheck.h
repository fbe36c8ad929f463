// Checks of our own certificate (the leaf of the local chain): what a peer would refuse, found
// before the first handshake rather than by every client. What depends on the date is
// evaluated again whenever asked, so a long-running server learns that its certificate is
// about to expire.
#ifndef SECURESOCKET_ENGINE_IDENTITYCHECK_H
#define SECURESOCKET_ENGINE_IDENTITYCHECK_H

#include "ossl.h"

#include <ctime>
#include <string>
#include <vector>

namespace securesocket::engine {

// Certificates this close to their end are warned about.
inline constexpr long kExpiryWarningSeconds = 14L * 24 * 3600;

class IdentityCheck
{
public:
    IdentityCheck() = default; // no certificate: nothing to say
    // what names the certificate ("certificate file 'server.pem'"); signatureNeeded: the
    // certificate must sign (TLS 1.3, or ECDHE in TLS 1.2), as opposed to a TLS 1.2 server that
    // only offers static RSA key exchange, for which key encipherment is enough.
    IdentityCheck(X509 *leaf, const std::string &what, bool server, bool signatureNeeded);

    // Sentences, one per problem, each naming the certificate as what and by its subject, e.g.
    // "certificate file 'server.pem' ('CN=localhost') expired on 2026-12-01 12:00:00 UTC":
    // expired, not valid yet, or expiring within 14 days of now; a (extended) key usage that
    // forbids the role. Empty when there is nothing to say.
    std::vector<std::string> warnings(std::time_t now) const;

private:
    std::string m_who;
    std::time_t m_notBefore = 0;
    std::time_t m_notAfter = 0;
    bool m_datesKnown = false;
    std::vector<std::string> m_usage; // does not change with time
};

} // namespace securesocket::engine

#endif
