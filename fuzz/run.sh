#!/usr/bin/env bash
# Builds the libFuzzer harnesses (with AddressSanitizer) over the pure-Swift core and runs each
# for FUZZ_SECONDS (default 60). Usage: fuzz/run.sh [harness ...]  (request, sse, envelope, head)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
out=$root/build/fuzz
mkdir -p "$out"
core=$(find "$root/Sources/HumanloopCore" -name '*.swift' | sort)
harnesses=${*:-request sse envelope head}
declare -A files=([request]=FuzzRequest.swift [sse]=FuzzEventStream.swift [envelope]=FuzzEnvelope.swift [head]=FuzzResponseHead.swift)
for name in $harnesses; do
  binary=$out/fuzz-$name
  if ! swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name HumanloopCore \
      -I "$root/Sources/CJansson" -ljansson -I "$root/Sources/CCurl" -lcurl \
      $core "$root/fuzz/${files[$name]}" -o "$binary" >"$out/build-$name.log" 2>&1; then
    grep -v "Cannot export local symbol" "$out/build-$name.log" | tail -40
    exit 1
  fi
  corpus=$out/corpus-$name
  mkdir -p "$corpus"
  cp -n "$root/fuzz/corpus/$name/"* "$corpus/" 2>/dev/null || true
  echo "== fuzz $name for ${seconds}s"
  status=0
  SWIFT_BACKTRACE=enable=no "$binary" -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 "$corpus" \
    >"$out/fuzz-$name.log" 2>&1 || status=$?
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY|Fatal error)" "$out/fuzz-$name.log" || true
  if [ "$status" -ne 0 ]; then tail -40 "$out/fuzz-$name.log"; exit "$status"; fi
done
