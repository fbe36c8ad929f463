// Ticket keys and their rotation (random, or derived from a ticket key file), the ticket
// callbacks, and the client session cache.
#include "sessions.h"

#include "connectionhooks.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace securesocket::engine {

namespace {

TicketKeys *ticketKeysOf(SSL *ssl)
{
    return static_cast<TicketKeys *>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
}

int ticketKeyCallback(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cipher,
                      EVP_MAC_CTX *mac, int encrypt)
{
    TicketKeys *keys = ticketKeysOf(ssl);
    return keys ? keys->callback(name, iv, cipher, mac, encrypt) : -1;
}

// Each ticket records whether the client's certificate had verification failures; such a
// ticket never resumes, since a resumed session skips verification and its failures.
int ticketMadeCallback(SSL *ssl, void *)
{
    const ConnectionHooks *hooks = ConnectionHooks::of(ssl);
    const unsigned char mark = hooks && !hooks->hadVerifyFailures() ? 'V' : 'F';
    return SSL_SESSION_set1_ticket_appdata(SSL_get0_session(ssl), &mark, 1);
}

SSL_TICKET_RETURN ticketOpenedCallback(SSL *, SSL_SESSION *session, const unsigned char *, size_t,
                                       SSL_TICKET_STATUS status, void *)
{
    if (status != SSL_TICKET_SUCCESS && status != SSL_TICKET_SUCCESS_RENEW)
        return status == SSL_TICKET_EMPTY || status == SSL_TICKET_NO_DECRYPT
                   ? SSL_TICKET_RETURN_IGNORE_RENEW
                   : SSL_TICKET_RETURN_IGNORE;
    void *data = nullptr;
    size_t size = 0;
    if (SSL_SESSION_get0_ticket_appdata(session, &data, &size) != 1 || size != 1 ||
        *static_cast<unsigned char *>(data) != 'V')
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    // Renew always: without a fresh ticket the client could not resume its next connection.
    return SSL_TICKET_RETURN_USE_RENEW;
}

int newSessionCallback(SSL *ssl, SSL_SESSION *session)
{
    ConnectionHooks *hooks = ConnectionHooks::of(ssl);
    return hooks && hooks->storeSession(session) ? 1 : 0;
}

} // namespace

Clock steadyClock()
{
    return [] { return std::chrono::steady_clock::now(); };
}

// --- Ticket key files ----------------------------------------------------------------------------

namespace {

struct TestWallClock
{
    std::atomic<bool> set{false};
    std::mutex mutex;
    WallClock clock;
};

TestWallClock &testWallClock()
{
    static TestWallClock *clock = new TestWallClock; // never destroyed: read until exit
    return *clock;
}

} // namespace

WallClock systemClock()
{
    return [] {
        TestWallClock &test = testWallClock();
        if (!test.set.load(std::memory_order_acquire))
            return std::chrono::system_clock::now();
        std::lock_guard<std::mutex> lock(test.mutex);
        return test.clock ? test.clock() : std::chrono::system_clock::now();
    };
}

void setSystemClockForTesting(WallClock clock)
{
    TestWallClock &test = testWallClock();
    std::lock_guard<std::mutex> lock(test.mutex);
    test.clock = std::move(clock);
    test.set.store(static_cast<bool>(test.clock), std::memory_order_release);
}

bool readTicketKeyFile(const std::string &path, SecretString *secrets, std::string *error)
{
    const std::string what = "session ticket key file '" + path + "'";
    const auto fail = [error](std::string message) {
        if (error)
            *error = std::move(message);
        return false;
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail("cannot read " + what + ": " + std::strerror(errno));
    struct stat info = {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        ::close(fd);
        return fail(what + " is not a regular file");
    }
    // Whoever reads the file can decrypt every recorded session it protects; whoever writes
    // it can make tickets for any session.
    if ((info.st_mode & (S_IROTH | S_IWOTH)) != 0) {
        ::close(fd);
        return fail(what + " is readable or writable by every user: make it accessible to the "
                           "server only (chmod 600)");
    }
    const auto size = static_cast<size_t>(info.st_size);
    if (size == 0) {
        ::close(fd);
        return fail(what + " is empty: make one with `openssl rand 80 > FILE`");
    }
    if (size % kTicketSecretSize != 0 || size > kTicketSecretSize * kMaxTicketSecrets) {
        ::close(fd);
        return fail(what + " holds " + std::to_string(size) + " bytes: it must hold 80 random " +
                    "bytes (`openssl rand 80 > FILE`), or up to 16 such secrets one after the " +
                    "other, the first encrypting");
    }
    std::string data(size, '\0');
    size_t used = 0;
    int err = 0;
    while (used < size) {
        const ssize_t got = ::read(fd, data.data() + used, size - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            err = errno;
        if (got <= 0)
            break;
        used += static_cast<size_t>(got);
    }
    ::close(fd);
    if (used != size) {
        OPENSSL_cleanse(data.data(), data.size());
        return fail("cannot read " + what + ": " +
                    (err != 0 ? std::string(std::strerror(err)) : "it shrank while being read"));
    }
    *secrets = SecretString(std::move(data)); // the moved-from string holds nothing
    return true;
}

int64_t TicketKeys::periodAt(std::chrono::system_clock::time_point now,
                             std::chrono::seconds lifetime)
{
    const int64_t seconds =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    const int64_t length = std::max<int64_t>(1, lifetime.count());
    return seconds >= 0 ? seconds / length : -((-seconds + length - 1) / length); // floor
}

// HKDF-SHA256 (RFC 5869): salt "SecureSocket ticket keys v1", the secret as input key material,
// info "period" and the period as 8 bytes big-endian; the 80 bytes out are the key's name (16),
// AES-256 key (32) and HMAC-SHA256 key (32), in that order.
bool TicketKeys::deriveKey(Key &key, size_t secret, int64_t period) const
{
    static const char salt[] = "SecureSocket ticket keys v1";
    unsigned char info[6 + 8] = {'p', 'e', 'r', 'i', 'o', 'd'};
    for (int i = 0; i < 8; ++i)
        info[6 + i] = static_cast<unsigned char>(static_cast<uint64_t>(period) >> (56 - 8 * i));
    const EvpKdfPtr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
    const EvpKdfCtxPtr ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
    if (!ctx)
        return false;
    char digest[] = "SHA256";
    auto *ikm = reinterpret_cast<unsigned char *>(
        const_cast<char *>(m_secrets.value().data() + secret * kTicketSecretSize));
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, kTicketSecretSize),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char *>(salt),
                                          sizeof salt - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
        OSSL_PARAM_construct_end()};
    unsigned char out[sizeof key.name + sizeof key.aes + sizeof key.hmac];
    const bool ok = EVP_KDF_derive(ctx.get(), out, sizeof out, params) == 1;
    if (ok) {
        std::memcpy(key.name, out, sizeof key.name);
        std::memcpy(key.aes, out + sizeof key.name, sizeof key.aes);
        std::memcpy(key.hmac, out + sizeof key.name + sizeof key.aes, sizeof key.hmac);
    }
    OPENSSL_cleanse(out, sizeof out);
    return ok;
}

bool TicketKeys::refreshDerived()
{
    const int64_t period = periodAt(m_wallClock(), m_lifetime);
    if (m_derived && period == m_period)
        return true;
    wipeKeysFrom(0);
    m_derived = false;
    const size_t secrets = m_secrets.value().size() / kTicketSecretSize;
    for (size_t secret = 0; secret < secrets; ++secret) {
        for (const int64_t p : {period, period - 1, period + 1}) {
            Key key = {};
            const bool ok = deriveKey(key, secret, p);
            if (ok)
                m_keys.push_back(key);
            OPENSSL_cleanse(&key, sizeof key);
            if (!ok) {
                wipeKeysFrom(0);
                return false;
            }
        }
    }
    m_period = period;
    m_derived = true;
    return true;
}

// -------------------------------------------------------------------------------------------------

TicketKeys::TicketKeys(std::chrono::seconds lifetime, Clock clock)
    : m_lifetime(lifetime), m_clock(clock ? std::move(clock) : steadyClock())
{
    m_keys.reserve(3);
}

TicketKeys::TicketKeys(std::chrono::seconds lifetime, SecretString secrets, WallClock clock)
    : m_lifetime(lifetime), m_clock(steadyClock()), m_secrets(std::move(secrets)),
      m_wallClock(clock ? std::move(clock) : systemClock())
{
    m_keys.reserve(3 * (m_secrets.value().size() / kTicketSecretSize));
}

TicketKeys::~TicketKeys()
{
    wipeKeysFrom(0);
}

void TicketKeys::wipeKeysFrom(size_t first)
{
    if (first >= m_keys.size())
        return;
    OPENSSL_cleanse(m_keys.data() + first, (m_keys.size() - first) * sizeof(Key));
    m_keys.resize(first);
}

bool TicketKeys::refresh()
{
    return m_secrets.empty() ? refreshRandom() : refreshDerived();
}

bool TicketKeys::refreshRandom()
{
    const auto now = m_clock();
    if (m_keys.empty() || now - m_keys.front().created >= m_lifetime) {
        // Rotate: the current key becomes the previous one, still good for decryption.
        Key fresh = {};
        const bool ok = makeKey(fresh);
        if (ok) {
            wipeKeysFrom(1);
            m_keys.insert(m_keys.begin(), fresh); // within the reserved capacity
        }
        OPENSSL_cleanse(&fresh, sizeof fresh);
        if (!ok)
            return false;
    }
    // The previous key opens tickets for two lifetimes after it was made, then is retired.
    if (m_keys.size() > 1 && now - m_keys.back().created >= 2 * m_lifetime)
        wipeKeysFrom(1);
    return true;
}

void TicketKeys::install(SSL_CTX *ctx)
{
    SSL_CTX_set_app_data(ctx, this);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticketKeyCallback);
    SSL_CTX_set_session_ticket_cb(ctx, ticketMadeCallback, ticketOpenedCallback, nullptr);
    // A session outlives no key that could open its ticket.
    SSL_CTX_set_timeout(ctx, static_cast<long>(2 * m_lifetime.count()));
}

bool TicketKeys::makeKey(Key &key) const
{
    key.created = m_clock();
    return RAND_bytes(key.name, sizeof key.name) == 1 &&
           RAND_priv_bytes(key.aes, sizeof key.aes) == 1 &&
           RAND_priv_bytes(key.hmac, sizeof key.hmac) == 1;
}

int TicketKeys::callback(unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cipher,
                         EVP_MAC_CTX *mac, int encrypt)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (!refresh())
        return -1;
    const Key *key = nullptr;
    if (encrypt) {
        key = &m_keys.front();
        std::memcpy(name, key->name, sizeof key->name);
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
            return -1;
    } else {
        for (const Key &candidate : m_keys) {
            if (std::memcmp(name, candidate.name, sizeof candidate.name) == 0) {
                key = &candidate;
                break;
            }
        }
        if (!key)
            return 0; // unknown or expired key: a full handshake
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                                             const_cast<unsigned char *>(key->hmac),
                                                             sizeof key->hmac),
                           OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    const int ok = encrypt ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes, iv)
                           : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes, iv);
    if (ok != 1 || EVP_MAC_CTX_set_params(mac, params) != 1)
        return -1;
    // 2 asks OpenSSL to issue a fresh ticket: this one was made with an older key.
    return (!encrypt && key != &m_keys.front()) ? 2 : 1;
}

void SessionCache::install(SSL_CTX *ctx)
{
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, newSessionCallback);
}

SslSessionPtr SessionCache::find(const std::string &key) const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    for (const auto &[name, session] : m_sessions) {
        if (name == key && SSL_SESSION_is_resumable(session.get()) &&
            SSL_SESSION_up_ref(session.get()))
            return SslSessionPtr(session.get());
    }
    return nullptr;
}

void SessionCache::store(const std::string &key, SSL_SESSION *session)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_sessions.remove_if([&key](const auto &entry) { return entry.first == key; });
    m_sessions.emplace_front(key, SslSessionPtr(session));
    if (m_sessions.size() > kCapacity)
        m_sessions.pop_back();
}

} // namespace securesocket::engine
