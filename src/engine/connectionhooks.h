// ConnectionHooks: what the OpenSSL callbacks a context installs on its SSL_CTX (certificate
// verification, new client sessions, ticket marking) ask of the connection an SSL belongs to.
// Every SSL's app data points at its connection's hooks, so that the context's callbacks need
// no Connection, and the engine's dependencies go one way: connection -> context.
#ifndef SECURESOCKET_ENGINE_CONNECTIONHOOKS_H
#define SECURESOCKET_ENGINE_CONNECTIONHOOKS_H

#include "ossl.h"

namespace securesocket::engine {

class ConnectionHooks
{
public:
    // The hooks of the connection that owns ssl (null while it is being set up).
    static ConnectionHooks *of(const SSL *ssl)
    {
        return static_cast<ConnectionHooks *>(SSL_get_app_data(ssl));
    }

    // The peer's chain, as OpenSSL's certificate verification callback: 1 to go on, 0 to fail
    // the handshake, or what SSL_set_retry_verify() returns to pause it.
    virtual int verifyPeer(X509_STORE_CTX *store) = 0;
    // Client: a new session from the server. True when it was kept (the callee then owns the
    // reference OpenSSL handed over).
    virtual bool storeSession(SSL_SESSION *session) = 0;
    // Whether verifying the peer's certificate found any failure, forgiven or not.
    virtual bool hadVerifyFailures() const = 0;
    // Pre-shared keys, as OpenSSL's PSK callbacks: the key's length, 0 for none. A client fills
    // in its identity (NUL-terminated) given the server's hint (TLS 1.2; null in TLS 1.3); a
    // server finds the key of the client's identity.
    virtual unsigned int clientPsk(const char *hint, char *identity, unsigned int maxIdentity,
                                   unsigned char *psk, unsigned int maxPsk) = 0;
    virtual unsigned int serverPsk(const char *identity, unsigned char *psk,
                                   unsigned int maxPsk) = 0;

protected:
    ~ConnectionHooks() = default;
};

} // namespace securesocket::engine

#endif
