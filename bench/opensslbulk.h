// OpenSSL alone moving the bulk figures' transfer: their ceiling. Client code written straight
// on libssl, with the certificates, suite and protocol of the Sink servers (an 8-byte
// little-endian length, the bytes, "K<server CPU ms>\n" back), default socket options, no event
// loop, no Qt. Timed beside ours and Qt's in the same rounds (figures.cpp), as the handshake
// figures time `openssl s_time` + `s_server`.
#ifndef SECURESOCKET_BENCH_OPENSSLBULK_H
#define SECURESOCKET_BENCH_OPENSSLBULK_H

#include "bench.h"

namespace bench {

// How the OpenSSL client hands its records to the kernel.
enum class OpensslWrite {
    // SSL_set_fd: OpenSSL's own socket BIO, one send() per record (16 KiB), no copy.
    Socket,
    // A BIO pair, emptied with one send() per 64 KiB write: the records are copied once from
    // OpenSSL's write buffer into the pair, as a memory-buffer (sans-I/O) library must.
    MemoryBio,
};

// bulk_2proc's sender replaced: one transfer of `bytes` in 64 KiB SSL_write() calls, blocking,
// to the Sink server (of any library) on 127.0.0.1:port, from the handshake's end to the
// server's answer. value: MB/s; info: thread_cpu_s (this thread, the transfer), server_cpu_s,
// protocol, cipher, group.
Sample measureOpensslBulk(const Pki &pki, quint16 port, qint64 bytes, OpensslWrite mode);

// bulk_1proc's pair replaced: an OpenSSL client and an OpenSSL server (the ECDSA leaf) in this
// thread, on a loopback TCP connection, each through a BIO pair over a non-blocking socket, the
// client writing `bytes` in 64 KiB SSL_write() calls until the server has read them all.
// value: MB/s; info: thread_cpu_s, protocol, cipher, group.
Sample measureOpensslBulkOneThread(const Pki &pki, qint64 bytes);

} // namespace bench

#endif
