// Shared, immutable OpenSSL contexts, one per distinct configuration and role.
#ifndef SECURESOCKET_ENGINE_CONTEXT_H
#define SECURESOCKET_ENGINE_CONTEXT_H

#include "ossl.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace securesocket::engine {

enum class Role { Client, Server };
enum class VerifyMode { Verify, Query, None };

// Plain settings, as the engine sees them (the public SecureConfiguration converts to this).
struct Config
{
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
    std::string cipherList;   // TLS 1.2
    std::string cipherSuites; // TLS 1.3
    std::vector<std::string> alpn;
};

// One SSL_CTX, configured once and never changed afterwards, shared by every connection
// made with equal settings (connections hold a shared_ptr; the cache holds a weak one).
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

    Context(Role role, VerifyMode mode) : m_role(role), m_verifyMode(mode) {}

private:
    friend class ContextBuilder;
    Role m_role;
    VerifyMode m_verifyMode;
    SslCtxPtr m_ctx;
    std::vector<uint8_t> m_alpnWire; // ALPN list in wire format, for the server's selection
};

// Which system CA source was loaded, e.g. "file /etc/ssl/certs/ca-certificates.crt
// (140 certificates)"; loads it once per process (thread-safe) on first call.
std::string systemCaSource();

} // namespace securesocket::engine

#endif
