// The engine's typed error, and the table that turns OpenSSL's reasons (of a failed handshake
// or record, or an alert) into one: a kind and a sentence a person can act on, where OpenSSL
// would say "error while reading".
#ifndef SECURESOCKET_ENGINE_ERRORS_H
#define SECURESOCKET_ENGINE_ERRORS_H

#include "ossl.h"

#include <string>

namespace securesocket::engine {

struct Error
{
    enum Kind {
        None,
        Config,        // the local configuration is unusable
        Protocol,      // the peer sent something that is not valid TLS
        Incompatible,  // no common version, cipher, group or ALPN
        Certificate,   // verification failed and was not forgiven
        AlertReceived, // the peer aborted with an alert
        Truncated,     // the transport closed without close_notify
        Internal       // OpenSSL failed unexpectedly
    };
    Kind kind = None;
    std::string message; // a sentence a person can act on
};

// The alert's name, e.g. "bad certificate"; OpenSSL 3.0 calls some TLS 1.3 alerts "unknown",
// and those are named here.
std::string alertName(int description);

// The kind and sentence for OpenSSL's reason of a failed handshake or record. peer names the
// other side in the sentence ("the server"); minVersion and maxVersion are the versions we
// allow, to say what a version mismatch was about.
Error describeSslFailure(const OsslError &cause, const std::string &peer, int minVersion,
                         int maxVersion);

} // namespace securesocket::engine

#endif
