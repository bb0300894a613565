#!/usr/bin/env bash
# TCP goodput through fixed codes (and the adaptive policy) on one bed with one loss model: what a
# code's overhead buys and what its rebuild time costs TCP (docs/TUNING.md §4). Plain routing
# first, then each CODE in turn on a fresh gateway pair. Needs root; not run in CI.
#
#   scripts/fixed-codes.sh [--rate MBIT] [--delay MS] [--seconds S] [--warm-up S] [--cc reno] [--bin DIR]
#                          [--out CSV] LOSS CODE...
#
# CODE is R:I,I,... (such as 24:1,24,37) or `adaptive`. Prints one line per arm, and appends CSV rows.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=fxc- DELAY=25 RATE=200 SECONDS_PER_RUN=20 WARM=4 CC=reno BIN="" OUT=docs/results/adaptive/fixed-codes.csv
ARGS=()
while [ $# -gt 0 ]; do
  case $1 in
    --rate) RATE=$2; shift ;;
    --delay) DELAY=$2; shift ;;
    --seconds) SECONDS_PER_RUN=$2; shift ;;
    --warm-up) WARM=$2; shift ;;
    --cc) CC=$2; shift ;;
    --bin) BIN=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    -*) echo "fixed-codes: unknown option $1" >&2; exit 2 ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
[ ${#ARGS[@]} -ge 2 ] || { echo "fixed-codes: give a loss model and at least one code (see --help)" >&2; exit 2; }
LOSS=${ARGS[0]}
CODES=("${ARGS[@]:1}")
for code in "${CODES[@]}"; do
  [[ $code == adaptive || $code =~ ^[0-9]+:[0-9]+(,[0-9]+)*$ ]] || { echo "fixed-codes: bad code '$code' (R:I,I,... or adaptive)" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "fixed-codes: needs root" >&2; exit 1; }
if [ -z "$BIN" ]; then swift build -c release 2>&1 | tail -1; BIN=$(swift build -c release --show-bin-path); fi

WORK=$(mktemp -d /tmp/maelstrom-fixed-codes.XXXXXX)
. scripts/lib/bed-gateways.sh
cleanup() { set +e; bed_stop_gateways; bash scripts/netns-setup.sh down --prefix "$PREFIX" >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT
bed_genkeys
# Prints "goodput_mbit retransmits" of one iperf3 run.
goodput() {
  in_ns hostA iperf3 -c 10.2.0.2 -p 5201 -C "$CC" -t "$1" -J </dev/null 2>/dev/null | python3 -c '
import json, sys
end = json.load(sys.stdin)["end"]
print("%.1f %d" % (end["sum_received"]["bits_per_second"] / 1e6, end["sum_sent"].get("retransmits", 0)))'
}

mkdir -p "$(dirname "$OUT")"
[ -s "$OUT" ] || echo "loss,rate_mbit,delay_ms,cc,code,goodput_mbit,retransmits,overhead_sent,rebuilt,unrecoverable" >"$OUT"
bash scripts/netns-setup.sh up --prefix "$PREFIX" --delay "$DELAY" --rate "$RATE" --queue-bytes 2500000 --loss "$LOSS" --seed 1 --bin "$BIN" >/dev/null
in_ns hostB iperf3 -s -p 5201 </dev/null >/dev/null 2>&1 &
sleep 0.5
read -r mbit retrans < <(goodput "$SECONDS_PER_RUN")
printf '%-18s %-16s %8s Mbit/s %6s retransmits\n' "$LOSS" plain "$mbit" "$retrans"
echo "\"$LOSS\",$RATE,$DELAY,$CC,plain,$mbit,$retrans,0,," >>"$OUT"
for code in "${CODES[@]}"; do
  if [ "$code" = adaptive ]; then
    fec="  mode: adaptive"
  else
    fec="  mode: fixed
  r: ${code%%:*}
  interleaves: [${code#*:}]"
  fi
  bed_start_gateways "$fec"
  # Warm-up traffic first: an adaptive sender starts at the configured code.
  if [ "$WARM" != 0 ]; then in_ns hostA iperf3 -c 10.2.0.2 -p 5201 -C "$CC" -t "$WARM" </dev/null >/dev/null 2>&1 || true; fi
  data0=$(bed_metric gwA maelstrom_data_frames_sent_total); repair0=$(bed_metric gwA maelstrom_repair_frames_sent_total)
  rebuilt0=$(bed_metric gwB maelstrom_packets_rebuilt_total); lost0=$(bed_metric gwB maelstrom_packets_unrecoverable_total)
  read -r mbit retrans < <(goodput "$SECONDS_PER_RUN")
  data1=$(bed_metric gwA maelstrom_data_frames_sent_total); repair1=$(bed_metric gwA maelstrom_repair_frames_sent_total)
  rebuilt1=$(bed_metric gwB maelstrom_packets_rebuilt_total); lost1=$(bed_metric gwB maelstrom_packets_unrecoverable_total)
  overhead=$(python3 -c "d = $data1 - $data0; print('%.3f' % (($repair1 - $repair0) / d if d else 0))")
  rebuilt=$(python3 -c "print(int($rebuilt1 - $rebuilt0))"); lost=$(python3 -c "print(int($lost1 - $lost0))")
  printf '%-18s %-16s %8s Mbit/s %6s retransmits  overhead %s  rebuilt %s  unrecoverable %s\n' "$LOSS" "$code" "$mbit" "$retrans" "$overhead" "$rebuilt" "$lost"
  echo "\"$LOSS\",$RATE,$DELAY,$CC,\"$code\",$mbit,$retrans,$overhead,$rebuilt,$lost" >>"$OUT"
  bed_stop_gateways
done
echo "rows appended to $OUT"
