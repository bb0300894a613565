#!/usr/bin/env bash
# Adaptive FEC on the test bed (issue #10): TCP goodput of plain routing, Maelstrom with the fixed
# (8, 3) code and Maelstrom adaptive, for each loss model, all in one run and on one bed, with the
# overhead each arm really sent. Prints a table and writes CSV rows to OUT (default
# docs/results/adaptive/adaptive.csv). Needs root. Not run in CI (minutes per loss model).
#
#   scripts/adaptive-figures.sh [--runs N] [--seconds S] [--rate MBIT] [--delay MS] [--cc reno] [--bin DIR] [LOSS...]
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=adf- DELAY=25 RATE=200 SECONDS_PER_RUN=20 CC=reno RUNS=1 BIN="" OUT=docs/results/adaptive/adaptive.csv
LOSSES=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift ;;
    --seconds) SECONDS_PER_RUN=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --delay) DELAY=$2; shift ;;
    --cc) CC=$2; shift ;;
    --bin) BIN=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n 2,7p "$0"; exit 0 ;;
    -*) echo "adaptive-figures: unknown option $1" >&2; exit 2 ;;
    *) LOSSES+=("$1") ;;
  esac
  shift
done
[ ${#LOSSES[@]} -gt 0 ] || LOSSES=(none bernoulli:0.001 gilbert:0.0005,0.2 bernoulli:0.01)
[ "$(id -u)" -eq 0 ] || { echo "adaptive-figures: needs root" >&2; exit 1; }
if [ -z "$BIN" ]; then swift build -c release 2>&1 | tail -1; BIN=$(swift build -c release --show-bin-path); fi

WORK=$(mktemp -d /tmp/maelstrom-adaptive.XXXXXX)
. scripts/lib/bed-gateways.sh
cleanup() { set +e; bed_stop_gateways; bash scripts/netns-setup.sh down --prefix "$PREFIX" >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT
bed_genkeys
metric() { bed_metric gwA "$1"; }
goodput() {
  in_ns hostA iperf3 -c 10.2.0.2 -p 5201 -C "$CC" -t "$SECONDS_PER_RUN" -J </dev/null 2>/dev/null | python3 -c '
import json, sys
print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))'
}

mkdir -p "$(dirname "$OUT")"
[ -s "$OUT" ] || echo "loss,run,arm,goodput_mbit,ratio_to_plain_clean,overhead_sent,fec_overhead_gauge" >"$OUT"
printf '%-22s %3s %-9s %10s %8s %9s\n' loss run arm Mbit/s ratio overhead
clean_plain=""
for loss in "${LOSSES[@]}"; do
  bash scripts/netns-setup.sh up --prefix "$PREFIX" --delay "$DELAY" --rate "$RATE" --queue-bytes 2500000 \
    --loss "$loss" --seed 1 --bin "$BIN" >/dev/null
  in_ns hostB iperf3 -s -p 5201 </dev/null >/dev/null 2>&1 &
  sleep 0.5
  for run in $(seq "$RUNS"); do
    # The anchor: plain TCP on a loss-free link of the same rate and delay, measured in this run.
    plain=$(goodput)
    if [ "$loss" = none ]; then clean_plain=$plain; fi
    printf '%-22s %3s %-9s %10s %8s %9s\n' "$loss" "$run" plain "$plain" "$(python3 -c "print('%.3f' % ($plain / ${clean_plain:-$plain}))")" -
    echo "\"$loss\",$run,plain,$plain,$(python3 -c "print('%.3f' % ($plain / ${clean_plain:-$plain}))"),0," >>"$OUT"
    for mode in fixed adaptive; do
      bed_start_gateways "  mode: $mode"
      # Adaptive: let the policy see a few seconds of traffic first (a sender's code starts at the bound).
      if [ $mode = adaptive ]; then in_ns hostA iperf3 -c 10.2.0.2 -p 5201 -C "$CC" -t 4 </dev/null >/dev/null 2>&1 || true; fi
      data0=$(metric maelstrom_data_frames_sent_total); repair0=$(metric maelstrom_repair_frames_sent_total)
      mbit=$(goodput)
      data1=$(metric maelstrom_data_frames_sent_total); repair1=$(metric maelstrom_repair_frames_sent_total)
      gauge=$(metric maelstrom_fec_overhead_ratio)
      overhead=$(python3 -c "d=$data1-$data0; print('%.3f' % (($repair1-$repair0)/d if d else 0))")
      ratio=$(python3 -c "print('%.3f' % ($mbit / $clean_plain))")
      printf '%-22s %3s %-9s %10s %8s %9s\n' "$loss" "$run" "$mode" "$mbit" "$ratio" "$overhead"
      echo "\"$loss\",$run,$mode,$mbit,$ratio,$overhead,$gauge" >>"$OUT"
      bed_stop_gateways
    done
  done
  pkill -f "iperf3 -s -p 5201" 2>/dev/null || true
  bash scripts/netns-setup.sh down --prefix "$PREFIX" >/dev/null
done
echo "rows appended to $OUT"
