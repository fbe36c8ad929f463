// ContextBuilder: one SSL_CTX from a Config. Reads the certificate, key, CA and CRL files (or
// their in-memory forms) strictly (see pem.h), applies the protocol settings, trust, identity,
// verification, ALPN and session settings, and says what is wrong in a sentence naming the file
// and the cause.
#include "contextbuilder.h"

#include "connectionhooks.h"
#include "identitycheck.h"
#include "pem.h"
#include "psk.h"
#include "servedchains.h"
#include "servernames.h"
#include "systemca.h"
#include "verify.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace securesocket::engine {

namespace {

// TLS 1.2 by default: forward secrecy (ECDHE) and AEAD only, no CBC (Lucky13 and its kin),
// in the order of the widely used "intermediate" recommendation less its DHE suites.
constexpr char kDefaultCipherList[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct ConfigError
{
    std::string message;
};

[[noreturn]] void raise(std::string message)
{
    const OsslError cause = takeOpensslError();
    if (cause.code != 0)
        message += " (" + cause.text + ")";
    throw ConfigError{std::move(message)};
}

std::string quote(const std::string &path)
{
    return "'" + path + "'";
}

// Read with read(2) straight into the string that is returned, which the caller wipes: no
// stream buffer keeps a copy of a key. Works for pipes and /dev/fd too (their size is unknown).
std::string readFile(const std::string &path, const char *what)
{
    constexpr size_t kMaxSize = 64u << 20; // a PEM file is far smaller: not a device or a log
    const auto fail = [&](int err) {
        raise(std::string("cannot read ") + what + " " + quote(path) + ": " + std::strerror(err));
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(errno);
    struct stat info = {};
    const bool sized = ::fstat(fd, &info) == 0 && info.st_size > 0;
    std::string data(sized ? static_cast<size_t>(info.st_size) + 1 : 4096, '\0');
    size_t used = 0;
    for (;;) {
        if (used == data.size()) { // grow, wiping what is left behind
            if (data.size() >= kMaxSize) {
                OPENSSL_cleanse(data.data(), data.size());
                ::close(fd);
                raise(std::string(what) + " " + quote(path) + " is larger than 64 MiB");
            }
            std::string bigger(2 * data.size(), '\0');
            std::memcpy(bigger.data(), data.data(), used);
            OPENSSL_cleanse(data.data(), data.size());
            data.swap(bigger);
        }
        const ssize_t got = ::read(fd, data.data() + used, data.size() - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            const int err = errno;
            OPENSSL_cleanse(data.data(), data.size());
            ::close(fd);
            fail(err);
        }
        if (got == 0)
            break;
        used += static_cast<size_t>(got);
    }
    ::close(fd);
    data.resize(used); // shrinks in place: the bytes past used are zeros
    return data;
}

// The blocks of a PEM text; raises naming what and the broken block if any part of the text
// is not well formed (OpenSSL's readers would stop there quietly and load what came before).
std::vector<pem::Block> scanPem(std::string_view text, const std::string &what)
{
    pem::ScanResult scanned = pem::scan(text);
    if (!scanned.error.empty())
        raise(what + ": " + scanned.error);
    return std::move(scanned.blocks);
}

// The DER object of one block, parsed by d2i; raises if it does not parse or leaves bytes over.
template <typename T, T *(*D2i)(T **, const unsigned char **, long), void (*Free)(T *)>
OsslPtr<T, Free> parseBlock(std::string_view text, const pem::Block &block, const std::string &what)
{
    const std::string der = pem::decode(text, block);
    const auto *p = reinterpret_cast<const unsigned char *>(der.data());
    const unsigned char *const end = p + der.size();
    OsslPtr<T, Free> object(D2i(nullptr, &p, static_cast<long>(der.size())));
    if (!object)
        raise(what + ": " + block.name + ": not a valid " + pem::kindOf(block.label));
    if (p != end)
        raise(what + ": " + block.name + ": data after the end of the " + pem::kindOf(block.label));
    return object;
}

// All certificates of a PEM text, in order. Blocks of other kinds (the key of a combined PEM
// file, EC parameters) are skipped.
X509StackPtr readCertificates(const std::string &text, const std::string &what)
{
    X509StackPtr certs(sk_X509_new_null());
    if (!certs)
        raise("out of memory");
    for (const pem::Block &block : scanPem(text, what)) {
        if (!pem::isCertificateLabel(block.label))
            continue;
        X509Ptr cert = block.label == "TRUSTED CERTIFICATE"
                           ? parseBlock<X509, d2i_X509_AUX, X509_free>(text, block, what)
                           : parseBlock<X509, d2i_X509, X509_free>(text, block, what);
        if (!sk_X509_push(certs.get(), cert.get()))
            raise("out of memory");
        cert.release();
    }
    return certs;
}

// Wipes a string holding a secret when it goes out of scope, raised or not.
struct WipeOnExit
{
    std::string &secret;
    ~WipeOnExit() { OPENSSL_cleanse(secret.data(), secret.size()); }
};

struct PassphraseState
{
    const SecretString *passphrase;
    bool asked = false;
};

// Gives OpenSSL the configured passphrase; never prompts.
int passphraseCallback(char *buffer, int size, int, void *userdata)
{
    auto *state = static_cast<PassphraseState *>(userdata);
    state->asked = true;
    const std::string &value = state->passphrase->value();
    if (value.empty() || value.size() > static_cast<size_t>(size))
        return -1;
    std::memcpy(buffer, value.data(), value.size());
    return static_cast<int>(value.size());
}

int selectAlpn(SSL *, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
               unsigned int inlen, void *arg)
{
    const auto *context = static_cast<const Context *>(arg);
    const auto &ours = context->alpnWire();
    unsigned char *selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, ours.data(), static_cast<unsigned>(ours.size()),
                              in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; // no common protocol: go on without ALPN
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

// Whether our certificate must sign: in TLS 1.3 always; in TLS 1.2 unless every suite offered
// uses static RSA key exchange, for which key encipherment is enough.
bool needsSignature(SSL_CTX *ctx)
{
    if (SSL_CTX_get_max_proto_version(ctx) == 0 ||
        SSL_CTX_get_max_proto_version(ctx) >= TLS1_3_VERSION)
        return true;
    const STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
        const int kx = SSL_CIPHER_get_kx_nid(sk_SSL_CIPHER_value(ciphers, i));
        if (kx != NID_kx_rsa && kx != NID_kx_any) // "any": a TLS 1.3 suite, not offered here
            return true;
    }
    return false;
}

// Every context verifies through the connection the SSL belongs to (see verifyPeer()).
int certVerifyCallback(X509_STORE_CTX *store, void *)
{
    const int index = SSL_get_ex_data_X509_STORE_CTX_idx();
    auto *ssl = static_cast<SSL *>(X509_STORE_CTX_get_ex_data(store, index));
    ConnectionHooks *hooks = ssl ? ConnectionHooks::of(ssl) : nullptr;
    return hooks ? hooks->verifyPeer(store) : 0;
}

// A client's stapled OCSP response is checked by the connection the SSL belongs to.
int clientStatusCallback(SSL *ssl, void *)
{
    ConnectionHooks *hooks = ConnectionHooks::of(ssl);
    return hooks ? hooks->checkStapledOcsp() : 1;
}

} // namespace

// Builds one SSL_CTX from a Config; throws ConfigError with a message naming the cause.
// A friend of Context, whose members it fills in.
class ContextBuilder
{
public:
    ContextBuilder(const Config &config, Role role, const std::string &settingsKey,
                   const TicketClocks &clocks)
        : m_config(config), m_role(role), m_settingsKey(settingsKey), m_clocks(clocks)
    {}

    std::shared_ptr<Context> build()
    {
        auto context = std::make_shared<Context>(m_role, m_config.verifyMode);
        context->m_resumptionId = sha256Hex(resumptionSettings(m_config, m_role));
        context->m_ctx.reset(SSL_CTX_new(TLS_method()));
        SSL_CTX *ctx = context->m_ctx.get();
        if (!ctx)
            raise("cannot create a TLS context");
        applyProtocolSettings(ctx);
        applyTrust(ctx);
        applyIdentity(*context);
        applyVerification(ctx);
        applyAlpn(*context);
        applySessions(*context);
        applyKeyLog(*context);
        applyPsk(*context);
        applyPins(*context);
        applyOcsp(*context);
        return context;
    }

private:
    void applyProtocolSettings(SSL_CTX *ctx)
    {
        if (m_config.minVersion > m_config.maxVersion)
            raise("the minimum TLS version is above the maximum");
        SSL_CTX_set_min_proto_version(ctx, m_config.minVersion);
        SSL_CTX_set_max_proto_version(ctx, m_config.maxVersion);
        SSL_CTX_set_security_level(ctx, 2);
        SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
        // Idle connections keep no record buffers: most of a connection's memory.
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        // A server picks from its own order, so a client that lists a weaker suite first still
        // gets a stronger one. The option covers TLS 1.3 too (OpenSSL's order, all AEAD).
        if (m_role == Role::Server)
            SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
        std::string cipherList =
            m_config.cipherList.empty() ? std::string(kDefaultCipherList) : m_config.cipherList;
        if (SSL_CTX_set_cipher_list(ctx, cipherList.c_str()) != 1)
            raise("invalid TLS 1.2 cipher list " + quote(m_config.cipherList));
        if (m_config.usePsk && m_config.cipherList.empty()) {
            cipherList = std::string(kPskCipherList) + ':' + cipherList;
            if (SSL_CTX_set_cipher_list(ctx, cipherList.c_str()) != 1)
                raise("cannot use the TLS 1.2 PSK cipher suites");
        }

        if (!m_config.cipherSuites.empty() &&
            SSL_CTX_set_ciphersuites(ctx, m_config.cipherSuites.c_str()) != 1)
            raise("invalid TLS 1.3 cipher suites " + quote(m_config.cipherSuites));
    }

    void applyTrust(SSL_CTX *ctx)
    {
        if (m_config.pinsOnly) // the pinned keys are the trust anchors (see verifyPeer())
            return;
        const bool custom = !m_config.caFile.empty() || !m_config.caDirectory.empty() ||
                            !m_config.caPem.empty() || !m_config.crlFile.empty();
        if (!custom && m_config.useSystemCas) {
            // Every such context shares the one system store: nothing to load per context.
            SSL_CTX_set1_cert_store(ctx, systemCas().store);
            return;
        }
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        if (m_config.useSystemCas && !addSystemCas(store))
            raise("cannot add the system CA certificates");
        if (!m_config.caFile.empty())
            addCas(store, readFile(m_config.caFile, "CA file"),
                   "CA file " + quote(m_config.caFile));
        if (!m_config.caPem.empty())
            addCas(store, m_config.caPem, "the CA certificates given in memory");
        if (!m_config.caDirectory.empty()) {
            std::error_code ec;
            if (!std::filesystem::is_directory(m_config.caDirectory, ec))
                raise("CA directory " + quote(m_config.caDirectory) + " does not exist");
            if (X509_STORE_load_path(store, m_config.caDirectory.c_str()) != 1)
                raise("cannot use CA directory " + quote(m_config.caDirectory));
        }
        if (!m_config.crlFile.empty())
            addCrls(store);
    }

    static void addCas(X509_STORE *store, const std::string &pem, const std::string &what)
    {
        X509StackPtr certs = readCertificates(pem, what);
        if (sk_X509_num(certs.get()) == 0)
            raise(what + " holds no PEM certificate");
        for (int i = 0; i < sk_X509_num(certs.get()); ++i) {
            if (X509_STORE_add_cert(store, sk_X509_value(certs.get(), i)) != 1)
                raise("cannot add a certificate of " + what);
        }
    }

    void addCrls(X509_STORE *store)
    {
        const std::string text = readFile(m_config.crlFile, "CRL file");
        const std::string what = "CRL file " + quote(m_config.crlFile);
        int count = 0;
        for (const pem::Block &block : scanPem(text, what)) {
            if (block.label != "X509 CRL")
                continue;
            const X509CrlPtr crl =
                parseBlock<X509_CRL, d2i_X509_CRL, X509_CRL_free>(text, block, what);
            if (X509_STORE_add_crl(store, crl.get()) != 1)
                raise("cannot add a CRL of " + quote(m_config.crlFile));
            ++count;
        }
        if (count == 0)
            raise(what + " holds no PEM CRL");
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }

    // Our certificate chains: the main one of the Config and, for a server, the extra ones
    // (SNI). Each is read and checked on its own, its errors naming its files.
    void applyIdentity(Context &context)
    {
        std::vector<ChainConfig> sources;
        ChainConfig main;
        main.certChainFile = m_config.certChainFile;
        main.certChainPem = m_config.certChainPem;
        main.keyFile = m_config.keyFile;
        main.keyPem = m_config.keyPem;
        main.keyPassphrase = m_config.keyPassphrase;
        main.keyPassphraseFile = m_config.keyPassphraseFile;
        if (!main.certChainFile.empty() || !main.certChainPem.empty() || !main.keyFile.empty() ||
            !main.keyPem.empty())
            sources.push_back(std::move(main));
        if (m_role == Role::Server)
            sources.insert(sources.end(), m_config.extraChains.begin(), m_config.extraChains.end());
        if (sources.empty()) {
            if (m_role == Role::Server && !m_config.usePsk)
                raise("a TLS server needs a certificate and a private key (or pre-shared keys)");
            return;
        }
        std::vector<Context::ServedChain> chains;
        for (const ChainConfig &source : sources)
            chains.push_back(loadChain(context, source));
        if (chains.size() == 1 && !m_config.refuseUnknownServerName) {
            useChain(context.m_ctx.get(), chains.front());
            return;
        }
        applyServerNames(context, std::move(chains));
    }

    // One chain and its key, read, parsed and checked against each other.
    Context::ServedChain loadChain(Context &context, const ChainConfig &source)
    {
        const bool hasCert = !source.certChainFile.empty() || !source.certChainPem.empty();
        const bool hasKey = !source.keyFile.empty() || !source.keyPem.empty();
        const std::string certWhat = source.certChainFile.empty()
                                         ? std::string("the certificate given in memory")
                                         : "certificate file " + quote(source.certChainFile);
        const std::string keyWhat = source.keyFile.empty()
                                        ? std::string("the private key given in memory")
                                        : "private key file " + quote(source.keyFile);
        if (!hasCert)
            raise(keyWhat + " is set but no certificate is");
        if (!hasKey)
            raise(certWhat + " is set but no private key is");

        std::string certPem = source.certChainFile.empty()
                                  ? source.certChainPem
                                  : readFile(source.certChainFile, "certificate file");
        const WipeOnExit wipeCertPem{certPem}; // a combined file holds the key too
        X509StackPtr certs = readCertificates(certPem, certWhat);
        if (sk_X509_num(certs.get()) == 0)
            raise(certWhat + " holds no PEM certificate");
        Context::ServedChain chain;
        chain.leaf.reset(sk_X509_shift(certs.get())); // the stack's reference, now ours
        chain.chain = std::move(certs);
        context.m_identities.emplace_back(chain.leaf.get(), certWhat, m_role == Role::Server,
                                          needsSignature(context.m_ctx.get()));
        chain.key = readKey(source, keyWhat);
        if (X509_check_private_key(chain.leaf.get(), chain.key.get()) != 1) {
            ERR_clear_error();
            raise(keyWhat + " does not match the certificate of " + certWhat);
        }
        chain.keyType = EVP_PKEY_get_base_id(chain.key.get());
        chain.what = certWhat;
        return chain;
    }

    static void useChain(SSL_CTX *ctx, const Context::ServedChain &chain)
    {
        if (SSL_CTX_use_cert_and_key(ctx, chain.leaf.get(), chain.key.get(), chain.chain.get(),
                                     1) != 1)
            raise("cannot use " + chain.what);
    }

    // SNI
    // Several chains: every DNS name of every leaf goes into the context's index; the SSL_CTX
    // holds the default set (the first chain, with the first chain of each other key type that
    // has exactly its names), which a connection keeps unless its server_name asks for another.
    void applyServerNames(Context &context, std::vector<Context::ServedChain> chains)
    {
        std::vector<std::vector<std::string>> names;
        for (size_t i = 0; i < chains.size(); ++i) {
            names.push_back(dnsNamesOf(chains[i].leaf.get()));
            for (const std::string &name : names.back())
                context.m_serverNames.add(name, i);
        }
        SSL_CTX *ctx = context.m_ctx.get();
        context.m_defaultChains.push_back(0);
        for (size_t i = 1; i < chains.size(); ++i) {
            const bool typeTaken =
                std::any_of(context.m_defaultChains.begin(), context.m_defaultChains.end(),
                            [&](size_t d) { return chains[d].keyType == chains[i].keyType; });
            if (!typeTaken && !names[0].empty() && names[i] == names[0])
                context.m_defaultChains.push_back(i);
        }
        for (size_t i : context.m_defaultChains)
            useChain(ctx, chains[i]);
        context.m_chains = std::move(chains);
        context.m_refuseUnknownNames = m_config.refuseUnknownServerName;
        SSL_CTX_set_tlsext_servername_callback(ctx, selectServedChains);
        SSL_CTX_set_tlsext_servername_arg(ctx, &context);
    }

    EvpPkeyPtr readKey(const ChainConfig &source, const std::string &keyWhat)
    {
        std::string pem =
            source.keyFile.empty() ? source.keyPem : readFile(source.keyFile, "private key file");
        const WipeOnExit wipe{pem};
        // The first key block; certificates in the same file (combined PEM) are allowed.
        const std::vector<pem::Block> blocks = scanPem(pem, keyWhat);
        const auto block = std::find_if(blocks.begin(), blocks.end(), [](const pem::Block &b) {
            return pem::isPrivateKeyLabel(b.label);
        });
        if (block == blocks.end())
            raise(keyWhat + " holds no PEM private key");
        SecretString passphrase = source.keyPassphrase;
        if (passphrase.empty() && !source.keyPassphraseFile.empty())
            passphrase = readPassphraseFile(source.keyPassphraseFile);
        PassphraseState state{&passphrase};
        BioPtr bio(BIO_new_mem_buf(pem.data() + block->begin,
                                   static_cast<int>(block->end - block->begin)));
        if (!bio)
            raise("out of memory");
        EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, passphraseCallback, &state));
        if (key)
            return key;
        if (state.asked && passphrase.empty())
            raise(keyWhat + " is encrypted and no passphrase was given");
        if (state.asked) {
            ERR_clear_error();
            raise("wrong passphrase for " + keyWhat);
        }
        raise(keyWhat + ": " + block->name + ": not a valid private key");
    }

    static SecretString readPassphraseFile(const std::string &path)
    {
        std::string text = readFile(path, "passphrase file");
        const size_t end = text.find_first_of("\r\n");
        SecretString passphrase(text.substr(0, end));
        OPENSSL_cleanse(text.data(), text.size());
        if (passphrase.empty())
            raise("passphrase file " + quote(path) + " is empty");
        return passphrase;
    }

    void applyVerification(SSL_CTX *ctx)
    {
        int mode = SSL_VERIFY_NONE;
        if (m_config.verifyMode != VerifyMode::None) {
            mode = SSL_VERIFY_PEER;
            if (m_role == Role::Server && m_config.verifyMode == VerifyMode::Verify)
                mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        }
        SSL_CTX_set_verify(ctx, mode, nullptr);
        SSL_CTX_set_cert_verify_callback(ctx, certVerifyCallback, nullptr);
        if (m_role == Role::Server) {
            // Needed for session resumption with client certificates; unique per settings. With
            // a ticket key file, the same in every process configured alike (the stamps of
            // files differ between machines and restarts).
            const std::string id = m_config.ticketKeyFile.empty()
                                       ? sha256Hex(m_settingsKey)
                                       : sha256Hex(resumptionSettings(m_config, m_role));
            SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char *>(id.data()),
                                           SSL_MAX_SID_CTX_LENGTH);
        }
    }

    void applyAlpn(Context &context)
    {
        for (const auto &protocol : m_config.alpn) {
            if (protocol.empty() || protocol.size() > 255)
                raise("invalid ALPN protocol name " + quote(protocol));
            context.m_alpnWire.push_back(static_cast<uint8_t>(protocol.size()));
            context.m_alpnWire.insert(context.m_alpnWire.end(), protocol.begin(), protocol.end());
        }
        if (context.m_alpnWire.empty())
            return;
        SSL_CTX *ctx = context.m_ctx.get();
        if (m_role == Role::Client) {
            if (SSL_CTX_set_alpn_protos(ctx, context.m_alpnWire.data(),
                                        static_cast<unsigned>(context.m_alpnWire.size())) != 0)
                raise("cannot set the ALPN protocols");
        } else {
            SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, &context);
        }
    }

    void applySessions(Context &context)
    {
        SSL_CTX *ctx = context.m_ctx.get();
        if (m_role == Role::Server) {
            // A bad ticket key file is reported even when no tickets are sent.
            SecretString secrets;
            std::string error;
            if (!m_config.ticketKeyFile.empty() &&
                !readTicketKeyFile(m_config.ticketKeyFile, &secrets, &error))
                raise(error);
            if (m_config.sessionTicketCount <= 0) {
                // No tickets, in TLS 1.3 or 1.2, and no cache of session IDs either.
                SSL_CTX_set_num_tickets(ctx, 0);
                SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
                SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
                return;
            }
            SSL_CTX_set_num_tickets(ctx, static_cast<size_t>(m_config.sessionTicketCount));
            // Tickets are encrypted with keys of this context, shared by all its connections:
            // random ones, or derived from the ticket key file.
            const std::chrono::seconds lifetime(std::max(1, m_config.ticketKeyLifetime));
            if (m_config.ticketKeyFile.empty()) {
                context.m_ticketKeys = std::make_unique<TicketKeys>(lifetime, m_clocks.clock);
            } else {
                context.m_ticketKeys =
                    std::make_unique<TicketKeys>(lifetime, std::move(secrets), m_clocks.wallClock);
            }
            context.m_ticketKeys->install(ctx);
            return;
        }
        // A client that uses pre-shared keys offers its key, never a ticket beside it.
        context.m_resumption = m_config.sessionResumption && !m_config.usePsk;
        if (!context.m_resumption) {
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
            SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
            return;
        }
        SessionCache::install(ctx);
    }

    void applyPins(Context &context)
    {
        std::string error;
        if (!parsePins(m_config.pins, &context.m_pins, &error))
            raise(error);
        if (m_config.pinsOnly && context.m_pins.empty())
            raise("pinned public keys are the only trust anchors, but no pin is set");
        context.m_pinsOnly = m_config.pinsOnly;
    }

    void applyPsk(Context &context)
    {
        if (!m_config.usePsk)
            return;
        constexpr size_t kMaxIdentity = 128; // OpenSSL's PSK_MAX_IDENTITY_LEN
        constexpr size_t kMaxKey = 256;      // and PSK_MAX_PSK_LEN (bytes)
        const auto checkKey = [&](const std::string &identity, const SecretString &key) {
            if (identity.empty() || identity.size() > kMaxIdentity)
                raise("a pre-shared key identity must have 1 to 128 bytes (got " +
                      std::to_string(identity.size()) + ")");
            if (key.empty() || key.value().size() > kMaxKey)
                raise("the pre-shared key of identity " + quote(identity) +
                      " must have 1 to 256 bytes (got " + std::to_string(key.value().size()) + ")");
        };
        if (m_role == Role::Client && !m_config.pskIdentity.empty())
            checkKey(m_config.pskIdentity, m_config.pskKey);
        if (m_role == Role::Server) {
            for (const auto &[identity, key] : m_config.serverPsks)
                checkKey(identity, key);
            if (!m_config.pskIdentityHint.empty() &&
                SSL_CTX_use_psk_identity_hint(context.m_ctx.get(),
                                              m_config.pskIdentityHint.c_str()) != 1)
                raise("invalid pre-shared key identity hint " + quote(m_config.pskIdentityHint));
        }
        context.m_usePsk = true;
        context.m_pskIdentity = m_config.pskIdentity;
        context.m_pskKey = m_config.pskKey;
        context.m_serverPsks = m_config.serverPsks;
        installPskCallbacks(context.m_ctx.get());
    }

    void applyKeyLog(Context &context)
    {
        if (m_config.keyLogFile.empty())
            return;
        std::string error;
        context.m_keyLog = KeyLog::open(m_config.keyLogFile, &error);
        if (!context.m_keyLog && !m_config.keyLogFromEnvironment)
            raise(error);
        if (!context.m_keyLog) {
            context.m_keyLogProblem = error + " (named by SSLKEYLOGFILE): no key log is written";
            return;
        }
        context.m_keyLog->install(context.m_ctx.get());
    }

    // OCSP stapling. A server reads its response file here, so that a file replaced on disk
    // gives a new context like a certificate does; a file that is not a DER OCSP response is an
    // error, one that does not fit our certificate (another certificate, expired, unsuccessful)
    // a warning (Context::warnings()) and is not stapled. A client checks what is stapled.
    void applyOcsp(Context &context)
    {
        SSL_CTX *ctx = context.m_ctx.get();
        if (m_role == Role::Client) {
            context.m_ocspRequired = m_config.ocspStaplingRequired;
            if (m_config.verifyMode != VerifyMode::None)
                SSL_CTX_set_tlsext_status_cb(ctx, clientStatusCallback);
            return;
        }
        if (m_config.ocspResponseFile.empty())
            return;
        const std::string what = "OCSP response file " + quote(m_config.ocspResponseFile);
        std::string der = readFile(m_config.ocspResponseFile, "OCSP response file");
        if (der.empty())
            raise(what + " is empty");
        OcspResponsePtr response = parseOcspResponse(der);
        if (!response) {
            ERR_clear_error();
            const bool pem = der.compare(0, 5, "-----") == 0;
            raise(what + " is not a DER OCSP response" +
                  (pem ? " (it looks like PEM; a stapled response is DER, as `openssl ocsp "
                         "-respout` writes it)"
                       : ""));
        }
        X509 *leaf = SSL_CTX_get0_certificate(ctx);
        if (!leaf)
            raise(what + " is set but there is no certificate to staple it for");
        STACK_OF(X509) *chain = nullptr;
        SSL_CTX_get0_chain_certs(ctx, &chain);
        context.m_ocspStaple =
            std::make_unique<OcspStaple>(std::move(response), std::move(der), what, leaf, chain);
        context.m_ocspStaple->install(ctx);
    }

    const Config &m_config;
    Role m_role;
    const std::string &m_settingsKey;
    const TicketClocks &m_clocks;
};

std::shared_ptr<Context> buildContext(const Config &config, Role role,
                                      const std::string &settingsKey, const TicketClocks &clocks,
                                      std::string *error)
{
    try {
        OsslErrorScope errors;
        return ContextBuilder(config, role, settingsKey, clocks).build();
    } catch (const ConfigError &e) {
        if (error)
            *error = e.message;
        return nullptr;
    }
}

} // namespace securesocket::engine
