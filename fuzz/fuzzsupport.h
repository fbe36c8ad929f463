// Shared by the fuzz targets and the corpus recorder: the test PKI made once per process, the
// settings each target derives from the first byte of its input, and a bounded driver that
// feeds one engine the rest of the input the way a network would.
//
// Input layout of the two engine targets (and of every recorded seed):
//   byte 0   options: which settings (see serverConfig() / clientConfig())
//   byte 1   seed of the split: where the stream is cut into the pieces fed one at a time
//   byte 2.. the bytes the peer sends, as one stream
#ifndef SECURESOCKET_FUZZ_FUZZSUPPORT_H
#define SECURESOCKET_FUZZ_FUZZSUPPORT_H

#include "connection.h"
#include "testpki.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace fuzzsupport {

using securesocket::engine::Config;
using securesocket::engine::Connection;
using securesocket::engine::Context;
using securesocket::engine::ContextCache;
using securesocket::engine::Role;

// A root CA, a server leaf (localhost) and a client leaf issued by it, made on first use.
struct Pki
{
    testpki::Issued root;
    testpki::Issued server;
    testpki::Issued client;
};
const Pki &pki();

// Server options (byte 0 of fuzz_engine_server's input):
//   bits 0-1  0 no client certificate, 1 ALPN, 2 client certificate required, 3 requested
//   bits 2-3  versions: 0 and 3 TLS 1.2-1.3, 1 TLS 1.2 only, 2 TLS 1.3 only
//   bit 4     resolve a paused verification by accepting (else rejecting)
//   bit 5     write application data once the handshake is done
//   bit 6     shut down (close_notify) after the input
//   bit 7     end with feedEof() (the transport closes)
Config serverConfig(uint8_t options);

// Client options (byte 0 of fuzz_engine_client's input):
//   bits 0-1  verification: 0 Verify, 1 Query, 2 and 3 None (the client trusts the test root)
//   bits 2-3  versions, as for the server
//   bit 4     accept a paused verification (else reject)
//   bit 5     ALPN (h2, http/1.1)
//   bit 6     a client certificate
//   bit 7     end with feedEof()
Config clientConfig(uint8_t options);

// The context for these settings, built once per process (contexts are immutable and shared):
// the targets' own cache keeps every one they use.
std::shared_ptr<const Context> context(const Config &config, Role role);

// Gives stream to connection in pieces cut by splitSeed, every other piece with feed() and the
// others through an Io given to the calls (receive() hands the piece over, send() takes all);
// after each piece: process(), every plaintext read, verification resolved, output and events
// taken. Every loop is bounded; a read() that breaks the contract of connection.h aborts.
struct Drive
{
    uint8_t splitSeed = 0;
    bool acceptVerification = false;
    bool writeWhenReady = false;
    bool shutdownAtEnd = false;
    bool eofAtEnd = false;
};
void drive(Connection &connection, const uint8_t *stream, size_t size, const Drive &how);

// Aborts (a finding for libFuzzer) when the thread's OpenSSL error queue is not empty: the
// engine promises to leave it empty after every call.
void requireEmptyErrorQueue(const char *after);

} // namespace fuzzsupport

#endif
