// Internal hooks for the library's own tests: not part of the API, never installed.
#ifndef SECURESOCKET_TESTHOOKS_P_H
#define SECURESOCKET_TESTHOOKS_P_H

#include <SecureSocket/securesocket_export.h>

#include <QtGlobal>

#include <chrono>
#include <functional>

class SecureConfiguration;
class SecureSocket;

namespace securesocket::testing {

using SteadyClock = std::function<std::chrono::steady_clock::time_point()>;

// The clock by which configurations look at their files again (at most once a second), so
// that a test makes that second pass without sleeping; an empty function restores the steady
// clock. Set it while no connection is being made.
SECURESOCKET_EXPORT void setFileRecheckClock(SteadyClock clock);

// Session tickets across processes
using WallClock = std::function<std::chrono::system_clock::time_point()>;
// The wall clock by which ticket keys derived from a ticket key file are chosen (the period
// number), for every context of the library, built before or after; an empty function
// restores the system clock. Set it while no connection is being made.
SECURESOCKET_EXPORT void setTicketKeyClock(WallClock clock);

// Whether two configurations share their data (and so their contexts), not only equal
// settings: what sockets configured one by one get once they connect.
SECURESOCKET_EXPORT bool sharesData(const SecureConfiguration &a, const SecureConfiguration &b);

// Whether the socket's engine keeps its record buffers and queues (a busy connection does,
// until it has gone quiet; see SecureSocketPrivate::watchIdleBuffers()).
SECURESOCKET_EXPORT bool holdsIdleBuffers(const SecureSocket &socket);

// The times that connections of this thread, having gone quiet, let their engine buffers go.
SECURESOCKET_EXPORT quint64 idleBufferReleasesOnThisThread();

// The send() calls that connections of this thread made on their descriptors so far.
SECURESOCKET_EXPORT quint64 sendCallsOnThisThread();
// The reads that connections of this thread left to a posted event (more plaintext than one
// part waited) so far.
SECURESOCKET_EXPORT quint64 pumpsPostedOnThisThread();
// The events that connections of this thread posted to send what the application wrote, or to
// report what the kernel took (encryptedBytesWritten()), so far.
SECURESOCKET_EXPORT quint64 writeEventsPostedOnThisThread();

} // namespace securesocket::testing

#endif
