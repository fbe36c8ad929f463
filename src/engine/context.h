// Shared, immutable OpenSSL contexts, one per distinct configuration and role.
#ifndef SECURESOCKET_ENGINE_CONTEXT_H
#define SECURESOCKET_ENGINE_CONTEXT_H

#include "identitycheck.h"
#include "ossl.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace securesocket::engine {

enum class Role { Client, Server };
enum class VerifyMode { Verify, Query, None };

// Plain settings, as the engine sees them (the public SecureConfiguration converts to this).
struct Config
{
    Config() = default;
    Config(const Config &) = default;
    Config(Config &&) = default;
    Config &operator=(const Config &) = default;
    Config &operator=(Config &&) = default;
    ~Config() { OPENSSL_cleanse(keyPem.data(), keyPem.size()); } // the passphrase wipes itself

    std::string caFile;
    std::string caDirectory;
    std::string caPem;
    bool useSystemCas = true;
    std::string crlFile;

    std::string certChainFile;
    std::string certChainPem;
    std::string keyFile;
    std::string keyPem;
    SecretString keyPassphrase;
    std::string keyPassphraseFile;

    VerifyMode verifyMode = VerifyMode::Verify;
    int minVersion = TLS1_2_VERSION;
    int maxVersion = TLS1_3_VERSION;
    std::string cipherList;   // TLS 1.2; empty: ECDHE with AES-GCM or ChaCha20-Poly1305
    std::string cipherSuites; // TLS 1.3
    std::vector<std::string> alpn;

    // Client: reuse sessions (TLS 1.3 tickets) of earlier connections to the same host and
    // port made with this configuration. Server: always issues tickets.
    bool sessionResumption = true;
    // Server: ticket encryption keys are replaced after this many seconds; tickets made with
    // the previous key are still accepted (and renewed) for one more period.
    int ticketKeyLifetime = 3600;
};

// One SSL_CTX, configured once and never changed afterwards, shared by every connection
// made with equal settings. Connections hold a shared_ptr; the cache keeps the 32 most
// recently used contexts alive too, so that a context outlives its last connection.
class Context
{
public:
    // Finds the context for (config, role) or builds it. Files are identified by path, size and
    // modification time, so an unchanged file is never read twice. On failure returns null and
    // sets *error to a sentence naming the file and the cause.
    static std::shared_ptr<const Context> get(const Config &config, Role role, std::string *error);

    Role role() const { return m_role; }
    VerifyMode verifyMode() const { return m_verifyMode; }
    SSL_CTX *native() const { return m_ctx.get(); }
    const std::vector<uint8_t> &alpnWire() const { return m_alpnWire; }

    // What is wrong with our own certificate but does not stop it from being used (expired,
    // expiring within 14 days, key usage forbidding the role), as of now: one sentence each
    // (see identitycheck.h). Empty without a certificate.
    std::vector<std::string> warnings(std::time_t now) const { return m_identity.warnings(now); }
    // The warnings of now that no earlier call returned: whoever logs them does so once per
    // context, and again only when one changes (the days left, say), not once per connection.
    // Thread-safe.
    std::vector<std::string> warningsToLog(std::time_t now) const;

    // Client session cache, keyed by "host:port" (thread-safe). Sessions are kept only when
    // resumption is on and the peer was verified without any failure.
    bool resumesSessions() const { return m_resumption; }
    SslSessionPtr findSession(const std::string &key) const;
    void storeSession(const std::string &key, SSL_SESSION *session) const;

    // Server ticket keys (OpenSSL's ticket key callback, thread-safe).
    int ticketKeyCallback(unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cipher,
                          EVP_MAC_CTX *mac, int encrypt) const;

    Context(Role role, VerifyMode mode) : m_role(role), m_verifyMode(mode) {}

private:
    friend class ContextBuilder;
    struct TicketKey
    {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
        std::chrono::steady_clock::time_point created;
    };
    bool newTicketKey(TicketKey &key) const;

    Role m_role;
    VerifyMode m_verifyMode;
    SslCtxPtr m_ctx;
    std::vector<uint8_t> m_alpnWire; // ALPN list in wire format, for the server's selection
    bool m_resumption = false;
    IdentityCheck m_identity;
    mutable std::vector<std::string> m_loggedWarnings; // under m_mutex
    std::chrono::seconds m_ticketKeyLifetime{3600};

    mutable std::mutex m_mutex;
    mutable std::list<std::pair<std::string, SslSessionPtr>> m_sessions; // newest first
    mutable TicketKey m_ticketKeys[2] = {};                              // current, previous
    mutable bool m_haveTicketKeys = false;
};

// A file's identity for the context cache: its path, size, modification time (to the
// nanosecond), inode and device, from one stat(); "path@missing" when it cannot be read. A file
// rewritten in place or replaced by rename() gets a new stamp.
std::string fileStamp(const std::string &path);

// Which system CA source was loaded, e.g. "file /etc/ssl/certs/ca-certificates.crt
// (140 certificates)"; loads it once per process (thread-safe) on first call.
std::string systemCaSource();

} // namespace securesocket::engine

#endif
