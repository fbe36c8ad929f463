// OpenSSL's PSK callbacks, forwarded to the connection an SSL belongs to.
#include "psk.h"

#include "connectionhooks.h"

namespace securesocket::engine {

namespace {

unsigned int clientCallback(SSL *ssl, const char *hint, char *identity, unsigned int maxIdentity,
                            unsigned char *psk, unsigned int maxPsk)
{
    ConnectionHooks *hooks = ConnectionHooks::of(ssl);
    return hooks ? hooks->clientPsk(hint, identity, maxIdentity, psk, maxPsk) : 0;
}

unsigned int serverCallback(SSL *ssl, const char *identity, unsigned char *psk, unsigned int maxPsk)
{
    ConnectionHooks *hooks = ConnectionHooks::of(ssl);
    return hooks ? hooks->serverPsk(identity, psk, maxPsk) : 0;
}

} // namespace

void installPskCallbacks(SSL_CTX *ctx)
{
    SSL_CTX_set_psk_client_callback(ctx, clientCallback);
    SSL_CTX_set_psk_server_callback(ctx, serverCallback);
}

} // namespace securesocket::engine
