// The hidden client roles of the benchmark, each run in a fresh child process:
//   --client idle --lib LIB --port P --dir PKI --count N [--style S] [--cpu C]
//       opens a warm-up connection, then N connections, and prints one JSON line with its
//       resident memory before and after (then holds the connections until ended);
//   --client handshakes --lib LIB --port P --dir PKI --count N [--style S] [--cpu C]
//       N sequential connections (full handshake, the server's greeting, close), prints one
//       JSON line and exits: run under callgrind for instructions per handshake;
//   --client systemca --lib LIB --port P --dir PKI [--cpu C]
//       times its first and second verified connection with the system CA store on, prints
//       one JSON line and exits.
#ifndef SECURESOCKET_BENCH_CLIENTROLES_H
#define SECURESOCKET_BENCH_CLIENTROLES_H

#include <QStringList>

namespace bench {

int clientMain(const QStringList &arguments);

} // namespace bench

#endif
