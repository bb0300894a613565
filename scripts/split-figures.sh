#!/usr/bin/env bash
# Split flow control on the test bed (issue #12): TCP CUBIC goodput of plain routing, Maelstrom
# end to end and Maelstrom split, with the receiving host's buffer at the default and limited to
# 64 KB (net.ipv4.tcp_rmem in hostB), for each loss model; all arms on one bed in one run. Prints
# a table and writes CSV rows to OUT (default docs/results/split/split.csv). Needs root. Not run in
# CI (about six minutes).
#
#   scripts/split-figures.sh [--runs N] [--seconds S] [--rate MBIT] [--delay MS] [--bin DIR] [--out CSV] [LOSS...]
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=spf- DELAY=25 RATE=200 SECONDS_PER_RUN=20 RUNS=1 BIN="" OUT=docs/results/split/split.csv
LOSSES=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift ;;
    --seconds) SECONDS_PER_RUN=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --delay) DELAY=$2; shift ;;
    --bin) BIN=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    -*) echo "split-figures: unknown option $1" >&2; exit 2 ;;
    *) LOSSES+=("$1") ;;
  esac
  shift
done
[ ${#LOSSES[@]} -gt 0 ] || LOSSES=(none bernoulli:0.01)
[ "$(id -u)" -eq 0 ] || { echo "split-figures: needs root" >&2; exit 1; }
if [ -z "$BIN" ]; then swift build -c release 2>&1 | tail -1; BIN=$(swift build -c release --show-bin-path); fi

WORK=$(mktemp -d /tmp/maelstrom-split.XXXXXX)
. scripts/lib/bed-gateways.sh
cleanup() { set +e; bed_stop_gateways; bash scripts/netns-setup.sh down --prefix "$PREFIX" >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT
bed_genkeys
goodput() {
  in_ns hostA iperf3 -c 10.2.0.2 -p 5201 -C cubic -t "$SECONDS_PER_RUN" -J </dev/null 2>/dev/null | python3 -c '
import json, sys
print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))'
}
# hostB's TCP receive buffer: "default" (the kernel's autotuning) or "64k" (at most 64 KB).
receiver_buffer() {
  local value
  if [ "$1" = 64k ]; then value="4096 65536 65536"; else value=$DEFAULT_RMEM; fi
  in_ns hostB sh -c "echo '$value' > /proc/sys/net/ipv4/tcp_rmem"
}

mkdir -p "$(dirname "$OUT")"
[ -s "$OUT" ] || echo "loss,run,arm,receiver_buffer,goodput_mbit" >"$OUT"
printf '%-18s %3s %-11s %-8s %10s\n' loss run arm rcvbuf Mbit/s
for loss in "${LOSSES[@]}"; do
  bash scripts/netns-setup.sh up --prefix "$PREFIX" --delay "$DELAY" --rate "$RATE" --queue-bytes 2500000 \
    --loss "$loss" --seed 1 --bin "$BIN" >/dev/null
  DEFAULT_RMEM=$(in_ns hostB cat /proc/sys/net/ipv4/tcp_rmem)
  in_ns hostB iperf3 -s -p 5201 </dev/null >/dev/null 2>&1 &
  sleep 0.5
  for run in $(seq "$RUNS"); do
    for arm in plain end-to-end split; do
      case $arm in
        end-to-end) bed_start_gateways "" ;;
        split) bed_start_gateways "" "" "    flow-control: split" ;;
      esac
      for buffer in default 64k; do
        receiver_buffer "$buffer"
        mbit=$(goodput)
        printf '%-18s %3s %-11s %-8s %10s\n' "$loss" "$run" "$arm" "$buffer" "$mbit"
        echo "\"$loss\",$run,$arm,$buffer,$mbit" >>"$OUT"
      done
      bed_stop_gateways
    done
  done
  bash scripts/netns-setup.sh down --prefix "$PREFIX" >/dev/null
done
