// The engine's I/O contract: the network as one engine call sees it (Io), and what a call
// tells its caller back (Status, ReadResult). The engine never stores an Io: each call that may
// move ciphertext takes one, uses it until it returns, and forgets it (see connection.h).
#ifndef SECURESOCKET_ENGINE_IO_H
#define SECURESOCKET_ENGINE_IO_H

#include <cstddef>

namespace securesocket::engine {

// The network as one engine call sees it; passed to that call, never stored.
class Io
{
public:
    // Takes ciphertext to send; returns how many bytes it took (0..size). What it does not
    // take stays queued in the engine's output, first in line.
    virtual size_t send(const char *data, size_t size) = 0;
    // Receives ciphertext into buffer (e.g. a non-blocking recv()); returns the byte count,
    // 0 for "nothing now". The end of the stream is told with feedEof(), not here.
    virtual size_t receive(char *buffer, size_t capacity) = 0;

protected:
    ~Io() = default;
};

enum class Status {
    Ok,            // no condition below holds: there is work for the next call (connection.h)
    Data,          // read(): plaintext was returned
    NeedInput,     // nothing more until more ciphertext arrives
    VerifyPending, // paused until resolveVerification()
    PeerClosed,    // close_notify received: no more plaintext will come (clean end; also
                   // when the stream ends after our own close_notify, unanswered)
    Truncated,     // the input ended without close_notify
    Failed,        // fatal: error() says why (for Truncated too, error().kind == Truncated)
};

struct ReadResult
{
    size_t size = 0;
    Status status = Status::NeedInput;
};

} // namespace securesocket::engine

#endif
