// Checks of our own certificate (the leaf of the local chain) when a context is built: what a
// peer would refuse, found before the first handshake rather than by every client.
#ifndef SECURESOCKET_ENGINE_IDENTITYCHECK_H
#define SECURESOCKET_ENGINE_IDENTITYCHECK_H

#include "ossl.h"

#include <ctime>
#include <string>
#include <vector>

namespace securesocket::engine {

// Certificates this close to their end are warned about.
inline constexpr long kExpiryWarningSeconds = 14L * 24 * 3600;

// Sentences, one per problem, each naming the certificate as what and by its subject, e.g.
// "certificate file 'server.pem' ('CN=localhost') expired on 2026-12-01 12:00:00 UTC": expired,
// not valid yet, expiring within 14 days of now, or a (extended) key usage that forbids the
// role (server: TLS server, else TLS client). Empty when there is nothing to say.
std::vector<std::string> identityWarnings(X509 *leaf, const std::string &what, bool server,
                                          std::time_t now);

} // namespace securesocket::engine

#endif
