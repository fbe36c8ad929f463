// A client's TLS session as a blob the application keeps (SecureSocket::sessionTicket()) and
// gives back after a restart, bound to what the session was made for.
#ifndef SECURESOCKET_ENGINE_SESSIONBLOB_H
#define SECURESOCKET_ENGINE_SESSIONBLOB_H

#include "ossl.h"

#include <string>
#include <string_view>

namespace securesocket::engine {

// The blob, all sizes big-endian:
//   "SSTK"  version (1 byte, 1)  binding size (2 bytes)  binding  DER size (4 bytes)  DER
// binding says what the session may be used for (Connection makes it: the settings it was
// verified with, the host and port, the verified name); DER is i2d_SSL_SESSION's, which holds
// the resumption secret. Nothing may follow the DER.
std::string exportSession(SSL_SESSION *session, const std::string &binding);

enum class SessionImport {
    None,        // no blob was given
    Used,        // offered to the server
    Malformed,   // not a blob of exportSession(), or its session does not parse or has expired
    OtherBinding // made for another host, port, name or settings: not offered
};

// The session of blob if it is well formed and was made for binding (else null), and which.
SslSessionPtr importSession(std::string_view blob, const std::string &binding,
                            SessionImport *result);

// Whether blob has the form of exportSession()'s output (it may still be for other settings).
bool isSessionBlob(std::string_view blob);

} // namespace securesocket::engine

#endif
