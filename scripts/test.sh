#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs the whole suite.
#   bash scripts/test.sh              normal build, in build/
#   bash scripts/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer, in build-asan/
#   bash scripts/test.sh --tsan       ThreadSanitizer, in build-tsan/: only the tests that run
#                                     threads (configuration, socket, server, echoserver, files)
# Extra arguments after the optional flag go to ctest (e.g. -L unit, -R Socket).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

dir=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
targets=()
if [ "${1:-}" = "--sanitize" ]; then
  shift
  dir=build-asan
  flags=(-DCMAKE_BUILD_TYPE=Debug -DSECURESOCKET_SANITIZE=ON)
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
elif [ "${1:-}" = "--tsan" ]; then
  shift
  dir=build-tsan
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSECURESOCKET_TSAN=ON -DSECURESOCKET_BUILD_BENCH=OFF)
  # Qt is not built with ThreadSanitizer: tests/tsan.supp says which reports are Qt's own.
  # die_after_fork=0: tests start peers with QProcess, which forks the multi-threaded test
  # process; with the default, tst_socket dies at the first thread it starts afterwards.
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:die_after_fork=0"
  TSAN_OPTIONS+=":suppressions=$PWD/tests/tsan.supp"
  tests=(tst_configuration tst_socket tst_secureserver tst_echoserver tst_certfiles)
  targets=("${tests[@]}" echoserver)
  set -- -R "^($(IFS='|'; echo "${tests[*]}"))\$" "$@"
fi

cmake -S . -B "$dir" -G Ninja -DSECURESOCKET_WERROR=ON "${flags[@]}" >/dev/null
if [ ${#targets[@]} -eq 0 ]; then
  cmake --build "$dir" -j "$(nproc)"
else
  cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"
fi
ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" "$@"
