#!/usr/bin/env bash
# Builds the engine's libFuzzer targets (build-fuzz/, clang, ASan+UBSan), replays every input
# that once crashed (fuzz/regressions/<target>/) and the seed corpus, then fuzzes each target
# for SECONDS (default 30) on a copy of the corpus: the committed corpus never grows in CI.
#   bash scripts/fuzz.sh [SECONDS]
# Exits non-zero on any crash, leak, timeout or error-queue violation, and prints the input.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

seconds="${1:-30}"
targets=(fuzz_engine_server fuzz_engine_client fuzz_pem_loading fuzz_session_blob)
dir=build-fuzz

CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSECURESOCKET_FUZZ=ON -DSECURESOCKET_WERROR=ON -DSECURESOCKET_BUILD_TESTS=OFF \
  -DSECURESOCKET_BUILD_EXAMPLES=OFF -DSECURESOCKET_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
summary=()
failed=0

for target in "${targets[@]}"; do
  binary="$PWD/$dir/fuzz/$target"
  mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
  cp fuzz/corpus/"$target"/* "$work/$target/corpus/"

  # Replay: every regression and seed, once each (file arguments run once; no mutation).
  replay=(fuzz/corpus/"$target"/*)
  if compgen -G "fuzz/regressions/$target/*" >/dev/null; then
    replay+=(fuzz/regressions/"$target"/*)
  fi
  if ! "$binary" -rss_limit_mb=2048 -timeout=10 "${replay[@]}" >"$work/$target/replay.log" 2>&1; then
    tail -n 40 "$work/$target/replay.log"
    summary+=("$target: FAILED on replay of the corpus or regressions (log above)")
    failed=1
    continue
  fi

  # Fuzz. The artifact prefix keeps a crashing input out of the source tree until it is kept.
  log="$work/$target/fuzz.log"
  if "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=16384 \
      -print_final_stats=1 -artifact_prefix="$work/$target/artifacts/" \
      "$work/$target/corpus" >"$log" 2>&1; then
    initial="$(grep -m1 'INITED' "$log" | grep -o 'cov: [0-9]* ft: [0-9]*' || true)"
    final="$(grep 'DONE\|#[0-9]*.*cov:' "$log" | tail -n1 | grep -o 'cov: [0-9]* ft: [0-9]*' || true)"
    rate="$(grep -o 'average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)"
    runs="$(grep -o 'number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)"
    summary+=("$target: ok, ${runs:-?} runs in ${seconds}s (${rate:-?} exec/s), seeds ${initial:-?}, after ${final:-?}")
  else
    tail -n 60 "$log"
    kept="fuzz-crashes/$target"
    inputs=""
    for artifact in "$work/$target/artifacts/"*; do
      [ -e "$artifact" ] || continue
      mkdir -p "$kept"
      cp "$artifact" "$kept/"
      inputs+=" $kept/$(basename "$artifact")"
    done
    summary+=("$target: FAILED, input:${inputs:- none saved (log above)}; once fixed, move it to fuzz/regressions/$target/")
    failed=1
  fi
done

printf '%s\n' "${summary[@]}"
exit "$failed"
