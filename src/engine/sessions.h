// Session resumption state of a context, and the OpenSSL callbacks that use it: a server's
// ticket keys (shared by all its connections, rotated by a clock that is passed in, random or
// derived from a ticket key file) and a client's session cache. Thread-safe: contexts are
// shared by connections in many threads.
#ifndef SECURESOCKET_ENGINE_SESSIONS_H
#define SECURESOCKET_ENGINE_SESSIONS_H

#include "ossl.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace securesocket::engine {

// Where the engine reads the time for ticket-key rotation. Passed in (see ContextCache), so that
// a test advances time instead of sleeping.
using Clock = std::function<std::chrono::steady_clock::time_point()>;
// std::chrono::steady_clock::now.
Clock steadyClock();

// Ticket key files
// Where keys derived from a ticket key file read the time: the wall clock, on which processes
// (and restarts of one) agree without talking to each other.
using WallClock = std::function<std::chrono::system_clock::time_point()>;
// std::chrono::system_clock::now, or the clock set by setSystemClockForTesting() (read at each
// call, so it reaches contexts built before it was set).
WallClock systemClock();
// A test's wall clock for systemClock(); an empty function restores the real one.
void setSystemClockForTesting(WallClock clock);

// A ticket key file holds one or more secrets of this many random bytes (`openssl rand 80`),
// at most kMaxTicketSecrets; the first one encrypts, all decrypt.
constexpr size_t kTicketSecretSize = 80;
constexpr size_t kMaxTicketSecrets = 16;
// The secrets of a ticket key file, read strictly: a regular file, not readable by others,
// non-empty, a whole number of secrets. On failure returns false with *error naming the file
// and the cause.
bool readTicketKeyFile(const std::string &path, SecretString *secrets, std::string *error);
// -------------------------------------------------------------------------------------------------

// Server: the keys that encrypt session tickets. A key encrypts for lifetime, then becomes the
// previous key, whose tickets are still accepted (and renewed) for one more lifetime.
//
// Random keys are made by this process and die with it. Keys derived from the secrets of a
// ticket key file are the same in every process that reads the file: the key of period
// N = floor(wall-clock seconds / lifetime) is HKDF-SHA256(secret, N), the first secret's key of
// the current period encrypts, and every secret's keys of periods N - 1, N and N + 1 (a
// neighbour whose clock runs a little ahead) decrypt, so processes sharing the file resume each
// other's sessions and a ticket older than two periods resumes nowhere.
class TicketKeys
{
public:
    TicketKeys(std::chrono::seconds lifetime, Clock clock);
    // secrets: a ticket key file's content (see readTicketKeyFile()).
    TicketKeys(std::chrono::seconds lifetime, SecretString secrets, WallClock clock);
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

    // The period whose key encrypts at time now (file keys); for tests.
    static int64_t periodAt(std::chrono::system_clock::time_point now,
                            std::chrono::seconds lifetime);

private:
    struct Key
    {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
        std::chrono::steady_clock::time_point created; // random keys only
    };
    bool makeKey(Key &key) const;
    bool deriveKey(Key &key, size_t secret, int64_t period) const;
    // Brings m_keys up to date with the clock (under m_mutex); false if a key cannot be made.
    bool refresh();
    bool refreshRandom();
    bool refreshDerived();
    void wipeKeysFrom(size_t first);

    const std::chrono::seconds m_lifetime;
    const Clock m_clock;
    const SecretString m_secrets; // empty: random keys
    const WallClock m_wallClock;
    std::mutex m_mutex;
    // The key that encrypts first, then every other one that decrypts. Capacity reserved up
    // front: a reallocation would leave unwiped copies behind.
    std::vector<Key> m_keys;
    int64_t m_period = 0;
    bool m_derived = false; // m_keys holds the keys of m_period
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
