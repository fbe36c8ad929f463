// The system's trusted CA certificates, found and loaded once per process.
#ifndef SECURESOCKET_ENGINE_SYSTEMCA_H
#define SECURESOCKET_ENGINE_SYSTEMCA_H

#include "ossl.h"

#include <string>

namespace securesocket::engine {

struct SystemCas
{
    X509_STORE *store = nullptr; // shared, never modified after loading; may be empty
    std::string file;            // the bundle loaded, or ""
    std::string directory;       // the hashed directory looked up on demand, or ""
    std::string source;          // for diagnostics
};

// Loads on first call (thread-safe) from SSL_CERT_FILE / SSL_CERT_DIR when set; otherwise
// OpenSSL's default file and directory; otherwise the first common bundle that exists.
const SystemCas &systemCas();

// Adds the system CAs to a store of one's own (which then holds its own references).
bool addSystemCas(X509_STORE *store);

} // namespace securesocket::engine

#endif
