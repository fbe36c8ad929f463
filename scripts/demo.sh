#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the demonstration.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSECURESOCKET_WERROR=ON >/dev/null
cmake --build build --target securesocket-demo
echo
exec ./build/examples/demo/securesocket-demo
