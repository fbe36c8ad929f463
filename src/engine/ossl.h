// RAII owners for OpenSSL objects (every object the engine owns is held by one of these), the
// thread's error queue, secrets, and a digest.
#ifndef SECURESOCKET_ENGINE_OSSL_H
#define SECURESOCKET_ENGINE_OSSL_H

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace securesocket::engine {

template <typename T, void (*Free)(T *)> struct OsslDeleter
{
    void operator()(T *p) const { Free(p); }
};
template <typename T, void (*Free)(T *)> using OsslPtr = std::unique_ptr<T, OsslDeleter<T, Free>>;

inline void freeBio(BIO *b)
{
    BIO_free_all(b);
}
inline void freeX509Stack(STACK_OF(X509) * s)
{
    sk_X509_pop_free(s, X509_free);
}
inline void freeX509CrlStack(STACK_OF(X509_CRL) * s)
{
    sk_X509_CRL_pop_free(s, X509_CRL_free);
}
inline void freeGeneralNames(GENERAL_NAMES *n)
{
    GENERAL_NAMES_free(n);
}

using BioPtr = OsslPtr<BIO, freeBio>;
using BioMethodPtr = OsslPtr<BIO_METHOD, BIO_meth_free>;
using SslPtr = OsslPtr<SSL, SSL_free>;
using SslCtxPtr = OsslPtr<SSL_CTX, SSL_CTX_free>;
using SslSessionPtr = OsslPtr<SSL_SESSION, SSL_SESSION_free>;
using X509Ptr = OsslPtr<X509, X509_free>;
using X509StorePtr = OsslPtr<X509_STORE, X509_STORE_free>;
using X509StackPtr = OsslPtr<STACK_OF(X509), freeX509Stack>;
using X509CrlPtr = OsslPtr<X509_CRL, X509_CRL_free>;
using X509CrlStackPtr = OsslPtr<STACK_OF(X509_CRL), freeX509CrlStack>;
using EvpPkeyPtr = OsslPtr<EVP_PKEY, EVP_PKEY_free>;
using GeneralNamesPtr = OsslPtr<GENERAL_NAMES, freeGeneralNames>;
using EvpKdfPtr = OsslPtr<EVP_KDF, EVP_KDF_free>;
using EvpKdfCtxPtr = OsslPtr<EVP_KDF_CTX, EVP_KDF_CTX_free>;

// A string for secrets (passphrases): wiped with OPENSSL_cleanse when changed or destroyed.
class SecretString
{
public:
    SecretString() = default;
    explicit SecretString(std::string s) : m_value(std::move(s)) {}
    SecretString(const SecretString &other) : m_value(other.m_value) {}
    SecretString &operator=(const SecretString &other)
    {
        if (this != &other) {
            wipe();
            m_value = other.m_value;
        }
        return *this;
    }
    ~SecretString() { wipe(); }

    const std::string &value() const { return m_value; }
    bool empty() const { return m_value.empty(); }
    bool operator==(const SecretString &other) const { return m_value == other.m_value; }

private:
    void wipe()
    {
        if (!m_value.empty())
            OPENSSL_cleanse(m_value.data(), m_value.size());
        m_value.clear();
    }
    std::string m_value;
};

// The most telling error of the calling thread's OpenSSL queue, which is drained: the first
// one from the TLS library, else the first one. code is 0 when the queue was empty.
struct OsslError
{
    unsigned long code = 0;
    std::string text; // OpenSSL's reason text, e.g. "wrong version number"
};
OsslError takeOpensslError();

// Clears the thread's OpenSSL error queue on entry and on exit, so that no error of one
// operation (or connection) is ever seen by another. Clearing is skipped when the queue is
// already empty (ERR_peek_error() and ERR_peek_last_error() both 0), which is the common case and
// much cheaper to check than ERR_clear_error() is to run.
struct OsslErrorScope
{
    OsslErrorScope();
    ~OsslErrorScope();
    OsslErrorScope(const OsslErrorScope &) = delete;
    OsslErrorScope &operator=(const OsslErrorScope &) = delete;
};

// The SHA-256 digest of data in hex, or "-" for empty data: lets a secret or a large text
// enter a cache key without being kept.
std::string sha256Hex(const std::string &data);

} // namespace securesocket::engine

#endif
