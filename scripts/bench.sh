#!/usr/bin/env bash
# The benchmark of bench/README.md: SecureSocket against QSslSocket, side by side.
# Installs what is missing, builds Release in build-bench/, runs the full benchmark (several
# minutes) and writes bench/results/last.json and bench/results/last.svg.
#   bash scripts/bench.sh                     the full run
#   bash scripts/bench.sh --quick             every figure small; results in build-bench/bench/
#   bash scripts/bench.sh --only bulk,echo    some figure groups (see --help); build-bench/bench/
#   bash scripts/bench.sh --only instructions opt-in, never in a full run: instructions per
#                                             handshake under callgrind (valgrind), about a minute
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DSECURESOCKET_WERROR=ON >/dev/null
cmake --build build-bench --target securesocket-bench

out=bench/results/last
if [ $# -gt 0 ]; then
  out=build-bench/bench/partial # a quick or partial run never replaces the last full one
fi
mkdir -p "$(dirname "$out")"
exec build-bench/bench/securesocket-bench --json "$out.json" --chart "$out.svg" "$@"
