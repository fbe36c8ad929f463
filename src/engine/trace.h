// The engine's trace: one line per step of a connection (handshake states, records and bytes
// moved, alerts, verification results, session resumption, SNI, close_notify, failure), for
// debugging. The engine knows no logging framework: it hands each line to a process-wide sink,
// which the Qt layer installs only while its category "securesocket.engine" has debug output
// on. A connection takes the sink in force when it is made; without one it formats nothing.
// Lines never hold a key, a passphrase, a pre-shared key, a ticket key, a session, or a byte
// of plaintext: sizes, names and identities only.
#ifndef SECURESOCKET_ENGINE_TRACE_H
#define SECURESOCKET_ENGINE_TRACE_H

#include "context.h"

#include <atomic>
#include <string>

namespace securesocket::engine {

// Receives one trace line of connection (an id: its address), which plays role.
using TraceSink = void (*)(const void *connection, Role role, const std::string &line);

namespace detail {
inline std::atomic<TraceSink> traceSink{nullptr};
}

// Sets (or, with null, removes) the sink for connections made from now on.
inline void setTraceSink(TraceSink sink)
{
    detail::traceSink.store(sink, std::memory_order_relaxed);
}

inline TraceSink traceSink()
{
    return detail::traceSink.load(std::memory_order_relaxed);
}

} // namespace securesocket::engine

#endif
