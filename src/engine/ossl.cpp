// The thread's OpenSSL error queue (taking the telling error, clearing it around each call),
// and the digest used in cache keys.
#include "ossl.h"

#include <openssl/err.h>
#include <openssl/evp.h>

namespace securesocket::engine {

OsslError takeOpensslError()
{
    // The TLS library's own reason says most (e.g. "bad record mac" rather than the provider's
    // "cipher operation failed" queued before it); otherwise the first error is the cause.
    OsslError result;
    unsigned long code;
    while ((code = ERR_get_error()) != 0) {
        if (result.code == 0 ||
            (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_LIB(result.code) != ERR_LIB_SSL))
            result.code = code;
    }
    if (result.code != 0) {
        const char *reason = ERR_reason_error_string(result.code);
        if (reason) {
            result.text = reason;
        } else {
            char buffer[256];
            ERR_error_string_n(result.code, buffer, sizeof buffer);
            result.text = buffer;
        }
    }
    return result;
}

namespace {
void clearErrorQueue()
{
    // The peeks see the oldest and the newest queued error (they skip only entries already
    // cleared): both 0 means there is nothing to clear.
    if (ERR_peek_error() != 0 || ERR_peek_last_error() != 0)
        ERR_clear_error();
}
} // namespace

OsslErrorScope::OsslErrorScope()
{
    clearErrorQueue();
}
OsslErrorScope::~OsslErrorScope()
{
    clearErrorQueue();
}

std::string sha256Hex(const std::string &data)
{
    if (data.empty())
        return "-";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
    static const char hex[] = "0123456789abcdef";
    std::string out(2 * size, '0');
    for (unsigned int i = 0; i < size; ++i) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    OPENSSL_cleanse(digest, sizeof digest);
    return out;
}

} // namespace securesocket::engine
