// SNI on the OpenSSL side (see servernames.h for the matching): what a server context with
// several certificate chains needs from OpenSSL.
#ifndef SECURESOCKET_ENGINE_SERVEDCHAINS_H
#define SECURESOCKET_ENGINE_SERVEDCHAINS_H

#include "ossl.h"

#include <string>
#include <vector>

namespace securesocket::engine {

// The subjectAltName DNS names of a certificate, as normalizeServerName() gives them, sorted,
// each once.
std::vector<std::string> dnsNamesOf(X509 *leaf);

// The server_name callback of a context with several chains (its arg is the Context): the chains
// whose names match the client's server_name replace the default ones on that connection's SSL.
int selectServedChains(SSL *ssl, int *alert, void *arg);

} // namespace securesocket::engine

#endif
