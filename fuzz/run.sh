#!/usr/bin/env bash
# Builds the libFuzzer harnesses (with AddressSanitizer) over the pure-Swift core and runs each
# for FUZZ_SECONDS (default 60). Usage: fuzz/run.sh [harness ...]  (request, sse, envelope, head, json)
# FUZZ_JOBS harnesses (default: the number of CPUs, at most 4) are built and run at once, each
# building and fuzzing on one core; their reports are printed in the order given.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
(( jobs > 4 )) && jobs=4
(( jobs < 1 )) && jobs=1
out=$root/build/fuzz
mkdir -p "$out"
core=$(find "$root/Sources/HumanloopCore" -name '*.swift' | sort)
harnesses=${*:-request sse envelope head json}
declare -A files=([request]=FuzzRequest.swift [sse]=FuzzEventStream.swift [envelope]=FuzzEnvelope.swift [head]=FuzzResponseHead.swift [json]=FuzzJSONCheck.swift)

# One harness: build it, fuzz it; its report goes to $out/report-NAME, its status is the exit code.
harness() {
  local name=$1 binary=$out/fuzz-$1 report=$out/report-$1 status=0
  : >"$report"
  if ! swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name HumanloopCore \
      -I "$root/Sources/CJansson" -ljansson -I "$root/Sources/CCurl" -lcurl \
      $core "$root/fuzz/${files[$name]}" -o "$binary" >"$out/build-$name.log" 2>&1; then
    echo "== fuzz $name: the build failed" >>"$report"
    grep -v "Cannot export local symbol" "$out/build-$name.log" | tail -40 >>"$report"
    return 1
  fi
  local corpus=$out/corpus-$name
  mkdir -p "$corpus"
  cp -n "$root/fuzz/corpus/$name/"* "$corpus/" 2>/dev/null || true
  echo "== fuzz $name for ${seconds}s" >>"$report"
  SWIFT_BACKTRACE=enable=no "$binary" -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 "$corpus" \
    >"$out/fuzz-$name.log" 2>&1 || status=$?
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY|Fatal error)" \
    "$out/fuzz-$name.log" >>"$report" || true
  if [ "$status" -ne 0 ]; then tail -40 "$out/fuzz-$name.log" >>"$report"; fi
  return "$status"
}

declare -A pids=()
running=()
for name in $harnesses; do
  [[ -n "${files[$name]:-}" ]] || { echo "fuzz/run.sh: no harness \"$name\" (request, sse, envelope, head, json)" >&2; exit 2; }
  while (( ${#running[@]} >= jobs )); do
    wait -n || true
    still=()
    for pid in "${running[@]}"; do kill -0 "$pid" 2>/dev/null && still+=("$pid"); done
    running=("${still[@]}")
  done
  harness "$name" &
  pids[$name]=$!
  running+=("$!")
done
failed=0
for name in $harnesses; do
  status=0
  wait "${pids[$name]}" || status=$?
  cat "$out/report-$name"
  if [ "$status" -ne 0 ]; then failed=$status; fi
done
exit "$failed"
