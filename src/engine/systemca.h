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

// Loads on first call (thread-safe), as OpenSSL's default paths do: the file named by
// SSL_CERT_FILE, else OpenSSL's default file; and the directory named by SSL_CERT_DIR, else
// OpenSSL's default directory; both are used. With neither variable set and neither default
// present, the first common bundle that exists.
const SystemCas &systemCas();

// Adds the system CAs to a store of one's own (which then holds its own references).
bool addSystemCas(X509_STORE *store);

} // namespace securesocket::engine

#endif
