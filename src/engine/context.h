// Shared, immutable OpenSSL contexts, one per distinct configuration and role, and the cache
// that finds or builds them (ContextCache). How a context is built from its settings is in
// contextbuilder.cpp; its session resumption state (ticket keys, client sessions) in sessions.h.
#ifndef SECURESOCKET_ENGINE_CONTEXT_H
#define SECURESOCKET_ENGINE_CONTEXT_H

#include "identitycheck.h"
#include "keylog.h"
#include "ocsp.h"
#include "ossl.h"
#include "pinning.h"
#include "psk.h"
#include "servedchains.h"
#include "servernames.h"
#include "sessions.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace securesocket::engine {

enum class Role { Client, Server };
enum class VerifyMode { Verify, Query, None };

// SNI: one more certificate chain of a server, with its key (as the main one in Config).
struct ChainConfig
{
    ChainConfig() = default;
    ChainConfig(const ChainConfig &) = default;
    ChainConfig(ChainConfig &&) = default;
    ChainConfig &operator=(const ChainConfig &) = default;
    ChainConfig &operator=(ChainConfig &&) = default;
    ~ChainConfig() { OPENSSL_cleanse(keyPem.data(), keyPem.size()); }

    std::string certChainFile;
    std::string certChainPem;
    std::string keyFile;
    std::string keyPem;
    SecretString keyPassphrase;
    std::string keyPassphraseFile;
};

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
    // Server: TLS 1.3 session tickets sent after each full handshake (OpenSSL's ticket count;
    // a resumed handshake gets one, a client uses each once). 0 sends none, in TLS 1.2
    // either, and keeps no session cache: for servers whose clients never resume.
    int sessionTicketCount = 1;

    // Key log (see keylog.h): the file the secrets of every connection are appended to, for
    // debugging captures; empty: none. When it came from the SSLKEYLOGFILE environment variable
    // rather than the configuration, a file that cannot be opened turns the key log off (with a
    // note in keyLogProblem()) instead of failing the context.
    std::string keyLogFile;
    bool keyLogFromEnvironment = false;

    // Pre-shared keys (see psk.h). usePsk turns them on (with the PSK suites in TLS 1.2) even
    // without a key here, for keys the connection's owner finds itself (PskProvider).
    bool usePsk = false;
    std::string pskIdentity; // a client's identity, with pskKey
    SecretString pskKey;
    std::vector<std::pair<std::string, SecretString>> serverPsks; // a server's, by identity
    std::string pskIdentityHint;                                  // a server's, TLS 1.2

    // Public-key pinning (pinning.h): "sha256//BASE64" pins; the peer's chain must hold a
    // certificate with one of these keys. pinsOnly: the pinned certificates are the only trust
    // anchors (no CA store); otherwise the pins are checked on top of normal verification.
    std::vector<std::string> pins;
    bool pinsOnly = false;
    // OCSP stapling (ocsp.h). Server: a DER OCSP response for our certificate, stapled for
    // clients that ask. Client: a good stapled response is required of the server.
    std::string ocspResponseFile;
    bool ocspStaplingRequired = false;

    // SNI
    // Server: more chains, each served to clients whose server_name matches one of its
    // subjectAltName DNS names (see servernames.h); the main chain above (or, without one, the
    // first of these) is the default. A client context ignores them.
    std::vector<ChainConfig> extraChains;
    // Server: a server_name that matches no chain fails the handshake (unrecognized_name)
    // instead of getting the default. A client that sends none still gets the default.
    bool refuseUnknownServerName = false;

    // Session tickets across processes
    // Server: the ticket key file (see readTicketKeyFile()); empty: random keys of this
    // context. The keys are derived from it, so every process reading it makes the same.
    std::string ticketKeyFile;
};

// Session tickets across processes
// The settings a resumed session depends on, as text, with files by path (not by content or
// stamp, which differ between machines and restarts): how the peer is verified, against what,
// and which identity we show (certificate or pre-shared keys). A client binds the sessions it
// exports to them; a server that shares ticket keys with other processes makes its session id
// context from them.
std::string resumptionSettings(const Config &config, Role role);

// One SSL_CTX, configured once and never changed afterwards, shared by every connection
// made with equal settings. Connections hold a shared_ptr; a ContextCache keeps the most
// recently used contexts alive too, so that a context outlives its last connection.
class Context
{
public:
    Role role() const { return m_role; }
    VerifyMode verifyMode() const { return m_verifyMode; }
    SSL_CTX *native() const { return m_ctx.get(); }
    const std::vector<uint8_t> &alpnWire() const { return m_alpnWire; }

    // What is wrong with our own certificates but does not stop them from being used (expired,
    // expiring within 14 days, key usage forbidding the role), as of now: one sentence each
    // (see identitycheck.h), for every chain. Empty without a certificate.
    // A server's stapled OCSP response adds its own (see OcspStaple::warnings()).
    std::vector<std::string> warnings(std::time_t now) const;
    // The warnings of now that no earlier call returned: whoever logs them does so once per
    // context, and again only when one changes (the days left, say), not once per connection.
    // Thread-safe.
    std::vector<std::string> warningsToLog(std::time_t now) const;

    // Client session cache, keyed by "host:port" and the verified name (Connection makes the
    // key; thread-safe). Sessions are kept only when
    // resumption is on and the peer was verified without any failure.
    bool resumesSessions() const { return m_resumption; }
    SslSessionPtr findSession(const std::string &key) const { return m_sessions.find(key); }
    // The key log file this context's connections write their secrets to, or empty; and, when
    // SSLKEYLOGFILE named a file that could not be opened, why.
    std::string keyLogFile() const { return m_keyLog ? m_keyLog->path() : std::string(); }
    const std::string &keyLogProblem() const { return m_keyLogProblem; }

    // Pre-shared keys: whether this context's connections use them, and the keys it holds (a
    // client's own; a server's by identity, or null).
    bool usesPsk() const { return m_usePsk; }
    const std::string &pskIdentity() const { return m_pskIdentity; }
    const SecretString &pskKey() const { return m_pskKey; }
    const SecretString *serverPsk(const std::string &identity) const;

    // Public-key pins (parsed, one per entry) and whether they are the only trust anchors.
    const std::vector<std::string> &pins() const { return m_pins; }
    bool pinsOnly() const { return m_pinsOnly; }
    // Client: a good stapled OCSP response is required (Config::ocspStaplingRequired).
    bool requiresOcsp() const { return m_ocspRequired; }
    void storeSession(const std::string &key, SSL_SESSION *session) const
    {
        m_sessions.store(key, session);
    }
    // The SHA-256 (hex) of resumptionSettings(): equal for equal settings in any process.
    const std::string &resumptionId() const { return m_resumptionId; }

    Context(Role role, VerifyMode mode) : m_role(role), m_verifyMode(mode) {}

private:
    friend class ContextBuilder;

    Role m_role;
    VerifyMode m_verifyMode;
    std::vector<uint8_t> m_alpnWire; // ALPN list in wire format, for the server's selection
    bool m_resumption = false;
    std::string m_resumptionId;
    std::vector<IdentityCheck> m_identities; // one per chain, the main one first

    // SNI
    // A server's chains (the main one first), when it has more than one or refuses unknown
    // names. The SSL_CTX holds the default set; the server_name callback (contextbuilder.cpp)
    // swaps in another set for a matching name, on that connection's SSL only.
    struct ServedChain
    {
        X509Ptr leaf;
        X509StackPtr chain; // the intermediates
        EvpPkeyPtr key;
        int keyType = 0;  // EVP_PKEY_base_id(): one chain per key type on an SSL
        std::string what; // "certificate file 'x.pem'", for messages
    };
    friend int selectServedChains(SSL *ssl, int *alert, void *arg);
    std::vector<ServedChain> m_chains;
    std::vector<size_t> m_defaultChains; // of m_chains: what the SSL_CTX holds
    ServerNameIndex m_serverNames;
    bool m_refuseUnknownNames = false;
    mutable std::mutex m_warningsMutex;
    mutable std::vector<std::string> m_loggedWarnings; // under m_warningsMutex
    mutable SessionCache m_sessions;                   // a client's
    std::unique_ptr<TicketKeys> m_ticketKeys;          // a server's
    std::unique_ptr<KeyLog> m_keyLog;
    std::string m_keyLogProblem;
    bool m_usePsk = false;
    std::string m_pskIdentity;
    SecretString m_pskKey;
    std::vector<std::pair<std::string, SecretString>> m_serverPsks;
    std::vector<std::string> m_pins;
    bool m_pinsOnly = false;
    std::unique_ptr<OcspStaple> m_ocspStaple; // a server's, when configured
    bool m_ocspRequired = false;              // a client's
    // Declared last, so freed first: its callbacks use the members above.
    SslCtxPtr m_ctx;
};

// Finds the context for a configuration and role, or builds it, and keeps the most recently
// used ones: building one parses keys and CA files, which costs more than many handshakes.
// Thread-safe.
//
// The library uses one, shared(). Whoever wants contexts of its own (and so their session
// caches and ticket keys), or another clock for ticket-key rotation, makes one: a test owns a
// fresh cache instead of inventing settings to get fresh contexts from the shared one.
class ContextCache
{
public:
    // clock rotates random ticket keys, wallClock those derived from a ticket key file.
    explicit ContextCache(size_t capacity = 32, Clock clock = steadyClock(),
                          WallClock wallClock = systemClock());
    ContextCache(const ContextCache &) = delete;
    ContextCache &operator=(const ContextCache &) = delete;

    // The process-wide cache of the library.
    static ContextCache &shared();

    // The context for (config, role), built if no kept one matches. Files are identified by
    // path, size, modification time and inode (see fileStamp()), so an unchanged file is never
    // read twice and a changed one gives a new context. On failure returns null and sets
    // *error to a sentence naming the file and the cause.
    std::shared_ptr<const Context> get(const Config &config, Role role, std::string *error);

    size_t size() const; // contexts kept

private:
    const size_t m_capacity;
    const Clock m_clock; // given to the server contexts' ticket keys
    const WallClock m_wallClock;
    mutable std::mutex m_mutex;
    std::list<std::pair<std::string, std::shared_ptr<const Context>>> m_entries; // newest first
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
