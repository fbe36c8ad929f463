// One measurement of a socket figure, on the client side, in this process. Each makes its own
// sockets, connects its handlers to a context object of its own and disconnects them all before
// it returns, so nothing of one repetition can reach the next.
#ifndef SECURESOCKET_BENCH_MEASURE_H
#define SECURESOCKET_BENCH_MEASURE_H

#include "bench.h"

namespace bench {

// Sends an 8-byte length and `bytes` bytes in 64 KiB writes (at most kWindow pending), and
// waits for the server's "K". value: MB/s (10^6 bytes per second); info: CPU seconds of this
// thread and of the server for the transfer.
Sample measureBulk(const ClientMaker &maker, quint16 port, qint64 bytes);

// Sequential connections for `ms` milliseconds: connect, handshake, the server's one-byte
// greeting, close. value: connections per second. info: count, how many the server saw
// resumed, client and server CPU per connection.
Sample measureHandshakes(ClientMaker &maker, quint16 port, double ms);

// `count` sequential connections, each timed from connectTo() (connectToHostEncrypted()) to
// the first application byte from the server, then closed from the client. The server greets
// (a handshake server), or with clientFirst the client writes a short request once encrypted
// and the server answers it (an echo server). value: median, value2: 99th percentile, in ms.
Sample measureLatency(ClientMaker &maker, quint16 port, int count, bool clientFirst);

// `count` connections started at once. value: milliseconds until all are encrypted.
Sample measureConcurrent(const ClientMaker &maker, quint16 port, int count);

// `count` round trips of a 64-byte message on one connection. value: median, value2: 99th
// percentile, in microseconds.
Sample measureEcho(const ClientMaker &maker, quint16 port, int count);

} // namespace bench

#endif
