#!/usr/bin/env bash
# Builds maelstrom-fuzz with libFuzzer and AddressSanitizer and fuzzes one target (or all) for a while.
#
#   scripts/fuzz.sh TARGET SECONDS      TARGET: frame, decoder, inbound, packet, config, sealed, handshake or all
#
# Seeds come from Tests/FuzzRegressionTests/Corpus/TARGET (committed); what the fuzzer learns is kept in
# .build-fuzz/corpus/TARGET between runs. A crash, a broken invariant, a leak or a hang is copied to
# Tests/FuzzRegressionTests/Findings/TARGET/, where the unit tests run it from then on: commit it with the fix.
# Exit status: 0 when nothing was found, 1 when something was, 2 on bad usage or a failed build.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(frame decoder inbound packet config sealed handshake)
usage() { echo "usage: scripts/fuzz.sh ${TARGETS[*]// /|}|all SECONDS" >&2; exit 2; }
[ $# -eq 2 ] || usage
TARGET=$1 SECONDS_EACH=$2
[[ $SECONDS_EACH =~ ^[0-9]+$ ]] && [ "$SECONDS_EACH" -ge 1 ] || { echo "fuzz.sh: SECONDS must be a whole number above 0, got '$SECONDS_EACH'" >&2; exit 2; }
if [ "$TARGET" = all ]; then SELECTED=("${TARGETS[@]}"); else
  [[ " ${TARGETS[*]} " == *" $TARGET "* ]] || { echo "fuzz.sh: unknown target '$TARGET'" >&2; usage; }
  SELECTED=("$TARGET")
fi

SCRATCH=.build-fuzz
mkdir -p "$SCRATCH"
# libFuzzer's default -sanitize=fuzzer coverage is not enough for Swift here: without inline
# counters and comparison tracing the fuzzer sees no new paths at all (measured: docs/RELIABILITY.md).
echo "== building maelstrom-fuzz (libFuzzer, AddressSanitizer) in $SCRATCH"
swift build --product maelstrom-fuzz --scratch-path "$SCRATCH" --sanitize=fuzzer --sanitize=address \
  -Xswiftc -DFUZZING -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp >"$SCRATCH/build.log" 2>&1 \
  || { tail -n 30 "$SCRATCH/build.log" >&2; echo "fuzz.sh: build failed (log: $SCRATCH/build.log)" >&2; exit 2; }
BINARY=$(swift build --product maelstrom-fuzz --scratch-path "$SCRATCH" --sanitize=fuzzer --sanitize=address \
  -Xswiftc -DFUZZING -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp --show-bin-path)/maelstrom-fuzz

found=0
for target in "${SELECTED[@]}"; do
  # Not $SCRATCH/artifacts: SwiftPM owns that folder and empties it when it resolves packages.
  work=$SCRATCH/corpus/$target artifacts=$SCRATCH/fuzz-findings/$target/
  seeds=Tests/FuzzRegressionTests/Corpus/$target findings=Tests/FuzzRegressionTests/Findings/$target
  mkdir -p "$work" "$artifacts"
  rm -f "$artifacts"*
  echo "== fuzzing $target for $SECONDS_EACH s"
  status=0
  # The leak checker is LeakSanitizer's; -rss_limit_mb and -timeout catch growth and hangs.
  # Swift's own crash handler would only add noise to libFuzzer's report.
  SWIFT_BACKTRACE=enable=no MAELSTROM_FUZZ_TARGET=$target "$BINARY" "$work" "$seeds" -max_total_time="$SECONDS_EACH" -timeout=10 \
    -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -artifact_prefix="$artifacts" \
    >"$SCRATCH/$target.log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added)' "$SCRATCH/$target.log" | sed "s/^/   $target: /" || true
  if [ "$status" -ne 0 ] || compgen -G "$artifacts*" >/dev/null; then
    found=1
    mkdir -p "$findings"
    for artifact in "$artifacts"*; do [ -e "$artifact" ] && cp "$artifact" "$findings/"; done
    grep -E 'finding:|ERROR:|SUMMARY:|Fatal error|Test unit written' "$SCRATCH/$target.log" | head -n 8 >&2 || true
    echo "fuzz.sh: $target found something (status $status); input kept in $findings, log $SCRATCH/$target.log" >&2
  fi
done
exit $found
