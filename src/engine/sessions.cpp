// Ticket keys and their rotation, the ticket callbacks, and the client session cache.
#include "sessions.h"

#include "connectionhooks.h"

#include <openssl/core_names.h>
#include <openssl/rand.h>

#include <cstring>

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

TicketKeys::TicketKeys(std::chrono::seconds lifetime, Clock clock)
    : m_lifetime(lifetime), m_clock(clock ? std::move(clock) : steadyClock())
{}

TicketKeys::~TicketKeys()
{
    OPENSSL_cleanse(m_keys, sizeof m_keys);
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
    const auto now = m_clock();
    if (!m_haveKeys || now - m_keys[0].created >= m_lifetime) {
        // Rotate: the current key becomes the previous one, still good for decryption.
        Key previous = m_keys[0];
        if (!makeKey(m_keys[0]))
            return -1;
        m_keys[1] = m_haveKeys ? previous : m_keys[0];
        OPENSSL_cleanse(&previous, sizeof previous);
        m_haveKeys = true;
    }
    const Key *key = nullptr;
    if (encrypt) {
        key = &m_keys[0];
        std::memcpy(name, key->name, sizeof key->name);
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
            return -1;
    } else {
        for (const Key &candidate : m_keys) {
            if (std::memcmp(name, candidate.name, sizeof candidate.name) == 0 &&
                now - candidate.created < 2 * m_lifetime) {
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
    // 2 asks OpenSSL to issue a fresh ticket: this one was made with the previous key.
    return (!encrypt && key != &m_keys[0]) ? 2 : 1;
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
