// Pre-shared keys (TLS-PSK), for devices without certificates: TLS 1.2 PSK cipher suites and
// TLS 1.3 external PSKs (with (EC)DHE, as OpenSSL does by default), both through OpenSSL's PSK
// callbacks, which ask the connection the SSL belongs to (ConnectionHooks).
#ifndef SECURESOCKET_ENGINE_PSK_H
#define SECURESOCKET_ENGINE_PSK_H

#include "ossl.h"

#include <functional>
#include <string>

namespace securesocket::engine {

// The TLS 1.2 suites added to a context's list when it uses pre-shared keys: forward secret
// first, AEAD only.
inline constexpr char kPskCipherList[] = "ECDHE-PSK-CHACHA20-POLY1305:PSK-AES256-GCM-SHA384:"
                                         "PSK-AES128-GCM-SHA256:PSK-CHACHA20-POLY1305";

// What a connection asks its owner for when its context holds no key for the case: a client
// for its identity and key (given the server's hint, TLS 1.2 only), a server for the key of the
// client's identity. The owner fills in identity (a client) and key; an empty key means none.
struct PskRequest
{
    bool server = false;
    std::string identityHint; // a client's: what the server sent (TLS 1.2), or empty
    std::string identity;     // a server's: the client's; a client's: to fill in
    SecretString key;         // to fill in
    size_t maxIdentity = 0;
    size_t maxKey = 0;
};
using PskProvider = std::function<void(PskRequest &)>;

// Makes OpenSSL ask ConnectionHooks::clientPsk() / serverPsk() of each connection of ctx.
void installPskCallbacks(SSL_CTX *ctx);

} // namespace securesocket::engine

#endif
