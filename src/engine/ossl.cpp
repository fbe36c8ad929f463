#include "ossl.h"

#include <openssl/err.h>

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

} // namespace securesocket::engine
