// Session resumption state of a context, and the OpenSSL callbacks that use it: a server's
// ticket keys (shared by all its connections, rotated by a clock that is passed in) and a
// client's session cache. Thread-safe: contexts are shared by connections in many threads.
#ifndef SECURESOCKET_ENGINE_SESSIONS_H
#define SECURESOCKET_ENGINE_SESSIONS_H

#include "ossl.h"

#include <chrono>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <utility>

namespace securesocket::engine {

// Where the engine reads the time for ticket-key rotation. Passed in (see ContextCache), so that
// a test advances time instead of sleeping.
using Clock = std::function<std::chrono::steady_clock::time_point()>;
// std::chrono::steady_clock::now.
Clock steadyClock();

// Server: the keys that encrypt session tickets. A key encrypts for lifetime, then becomes the
// previous key, whose tickets are still accepted (and renewed) for one more lifetime.
class TicketKeys
{
public:
    TicketKeys(std::chrono::seconds lifetime, Clock clock);
    ~TicketKeys();
    TicketKeys(const TicketKeys &) = delete;
    TicketKeys &operator=(const TicketKeys &) = delete;

    // Makes ctx issue one ticket per full handshake and renew it on every resumption, encrypted
    // with these keys, each ticket marked with whether the client's certificate had failures
    // (such a ticket never resumes). These keys must outlive ctx.
    void install(SSL_CTX *ctx);

    // OpenSSL's ticket key callback: 1 (or 2 to renew a ticket of the previous key), 0 for an
    // unknown or expired key, -1 on failure.
    int callback(unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cipher,
                 EVP_MAC_CTX *mac, int encrypt);

private:
    struct Key
    {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
        std::chrono::steady_clock::time_point created;
    };
    bool makeKey(Key &key) const;

    const std::chrono::seconds m_lifetime;
    const Clock m_clock;
    std::mutex m_mutex;
    Key m_keys[2] = {}; // current, previous
    bool m_haveKeys = false;
};

// Client: the newest session per key (see Connection's sessionKey), at most 256, newest first.
class SessionCache
{
public:
    // Makes ctx hand the sessions of its connections to their ConnectionHooks::storeSession()
    // (which stores them here when they may be reused); OpenSSL keeps none itself.
    static void install(SSL_CTX *ctx);

    SslSessionPtr find(const std::string &key) const;
    void store(const std::string &key, SSL_SESSION *session);

private:
    static constexpr size_t kCapacity = 256;
    mutable std::mutex m_mutex;
    std::list<std::pair<std::string, SslSessionPtr>> m_sessions;
};

} // namespace securesocket::engine

#endif
