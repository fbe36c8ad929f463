// Internal: releasing OpenSSL's per-thread state when a QThread ends.
#ifndef SECURESOCKET_THREADCLEANUP_P_H
#define SECURESOCKET_THREADCLEANUP_P_H

namespace securesocket {

// OpenSSL keeps per-thread state (its random generators, its error queue) that it frees from a
// thread-exit destructor, which runs after QThread::wait() has returned (Qt's threads are
// detached): a program that ends right after joining its worker threads would have that state
// reported as leaked. Called by every thread that runs handshakes; in a QThread other than the
// main one, the state is released as the thread ends, after its deferred deletions.
void releaseOpenSslStateWhenThreadEnds();

} // namespace securesocket

#endif
