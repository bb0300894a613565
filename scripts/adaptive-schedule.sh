#!/usr/bin/env bash
# Adaptive FEC through a loss schedule on the test bed (issue #10): one TCP Reno connection for the
# whole schedule (default none → 1 % → Gilbert–Elliott → none, 20 s each) through adaptive
# gateways; per second the goodput, the code's overhead and what was unrecoverable; per phase the
# median and least goodput after the phase's first 2 s, the median overhead, the residual and the
# frames the receiver saw lost to congestion (a full queue: TCP's to see, not FEC's to repair)
# (compare with scripts/adaptive-figures.sh's steady figures). Writes docs/results/adaptive/schedule.csv. Root.
# --keep-logs DIR copies the gateways' logs there (gwA.log, gwB.log); --log-level debug makes them
# hold every loss report's judgement (docs/TUNING.md §4 "Seeing why").
#
#   scripts/adaptive-schedule.sh [--phase-seconds S] [--rate MBIT] [--delay MS] [--cc reno] [--min-overhead X] [--bin DIR] [--out CSV]
#                                [--keep-logs DIR] [--log-level LEVEL]
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=ads- DELAY=25 RATE=200 PHASE=20 CC=reno BIN="" OUT=docs/results/adaptive/schedule.csv
PHASES=(none bernoulli:0.01 gilbert:0.0005,0.2 none) MIN_OVERHEAD="" KEEP_LOGS="" LOG_LEVEL=""
while [ $# -gt 0 ]; do
  case $1 in
    --phase-seconds) PHASE=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --delay) DELAY=$2; shift ;;
    --cc) CC=$2; shift ;;
    --bin) BIN=$2; shift ;;
    --out) OUT=$2; shift ;;
    --min-overhead) MIN_OVERHEAD=$2; shift ;;
    --keep-logs) KEEP_LOGS=$2; shift ;;
    --log-level) LOG_LEVEL=$2; shift ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "adaptive-schedule: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "adaptive-schedule: needs root" >&2; exit 1; }
if [ -z "$BIN" ]; then swift build -c release 2>&1 | tail -1; BIN=$(swift build -c release --show-bin-path); fi
WORK=$(mktemp -d /tmp/maelstrom-adaptive.XXXXXX)
. scripts/lib/bed-gateways.sh
cleanup() { set +e; bed_stop_gateways; [ -z "$KEEP_LOGS" ] || { mkdir -p "$KEEP_LOGS" && cp "$WORK"/gw[AB].log "$KEEP_LOGS"/; }; bash scripts/netns-setup.sh down --prefix "$PREFIX" >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT
bed_genkeys
metric() { bed_metric gwA "$1"; }


schedule="schedule:$(for p in "${PHASES[@]}"; do printf '%ss=%s,' "$PHASE" "$p"; done | sed 's/,$//')"
total=$((PHASE * ${#PHASES[@]}))
# The emulator's schedule starts when it does: bring the bed up, start everything, then the clock
# of the phases is the emulator's, measured from the line netns-setup prints.
bash scripts/netns-setup.sh up --prefix "$PREFIX" --delay "$DELAY" --rate "$RATE" --queue-bytes 2500000 \
  --loss "$schedule" --seed 1 --emulator wanem --bin "$BIN" >/dev/null
bed_start=$(date +%s.%N)
in_ns hostB iperf3 -s -p 5201 </dev/null >/dev/null 2>&1 &
bed_start_gateways "  mode: adaptive${MIN_OVERHEAD:+
  min-overhead: $MIN_OVERHEAD}" "" "" "${LOG_LEVEL:+log:
  level: $LOG_LEVEL}"
# iperf3 starts a whole number of seconds into the schedule, so its intervals line up with the phases.
offset=$(python3 -c "import math,time; print(math.ceil(time.time() - $bed_start + 0.5))")
sleep "$(python3 -c "import time; print(max(0, $bed_start + $offset - time.time()))")"
ip netns exec "${PREFIX}hostA" iperf3 -c 10.2.0.2 -p 5201 -C "$CC" -t $((total - offset)) -i 1 -J </dev/null >"$WORK/iperf.json" 2>&1 &
ipid=$!
mkdir -p "$(dirname "$OUT")"
echo "second,phase,loss,goodput_mbit,overhead_sent,unrecoverable,data_received,congestion_lost" >"$OUT"
declare -a DATA REP UNREC RECV CONG
for t in $(seq "$offset" "$total"); do
  sleep "$(python3 -c "import time; print(max(0, $bed_start + $t - time.time()))")"
  DATA[$t]=$(metric maelstrom_data_frames_sent_total); REP[$t]=$(metric maelstrom_repair_frames_sent_total)
  UNREC[$t]=$(bed_metric gwB maelstrom_packets_unrecoverable_total); RECV[$t]=$(bed_metric gwB maelstrom_data_frames_received_total)
  CONG[$t]=$(bed_metric gwB maelstrom_wan_congestion_lost_total)
done
wait $ipid || true
bed_stop_gateways
python3 - "$WORK/iperf.json" "$offset" "$PHASE" "$OUT" "${PHASES[*]}" \
  "$(for t in $(seq "$offset" "$total"); do printf '%s:%s:%s:%s:%s:%s ' "$t" "${DATA[$t]}" "${REP[$t]}" "${UNREC[$t]}" "${RECV[$t]}" "${CONG[$t]}"; done)" <<'PY'
import json, statistics, sys
path, offset, phase, out, phases, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5].split(), sys.argv[6].split()
rows = {}
for item in samples:
    t, d, r, u, v, g = item.split(":")
    rows[int(t)] = tuple(float(x or 0) for x in (d, r, u, v, g))
intervals = json.load(open(path))["intervals"]
per_phase = {}
with open(out, "a") as f:
    for i, interval in enumerate(intervals):
        second = offset + i  # the interval [second, second + 1) of the schedule
        p = min(second // phase, len(phases) - 1)
        mbit = interval["sum"]["bits_per_second"] / 1e6
        a, b = rows.get(second), rows.get(second + 1)
        if a and b and b[0] > a[0]:
            overhead, unrec, recv, cong = (b[1] - a[1]) / (b[0] - a[0]), b[2] - a[2], b[3] - a[3], b[4] - a[4]
        else:
            overhead, unrec, recv, cong = 0.0, 0.0, 0.0, 0.0
        f.write(f"{second},{p + 1},\"{phases[p]}\",{mbit:.1f},{overhead:.3f},{unrec:.0f},{recv:.0f},{cong:.0f}\n")
        per_phase.setdefault(p, []).append((second - p * phase, mbit, overhead, unrec, recv, cong))
# The residual counts every frame the decoder gave up on; "congestion-lost" is how many frames the
# receiver's congestion marks saw lost while the queue was full (a slow start's overflow), which
# Maelstrom leaves to TCP on purpose (docs/TUNING.md §1).
print(f"{'phase':6} {'loss':22} {'median Mbit/s (after 2 s)':>26} {'min':>6} {'overhead':>9} {'residual':>10} {'congestion-lost':>16}")
for p in sorted(per_phase):
    steady = [row for row in per_phase[p] if row[0] >= 2]
    if not steady:
        continue
    goodput = [row[1] for row in steady]
    unrec = sum(row[3] for row in per_phase[p]); recv = sum(row[4] for row in per_phase[p]); cong = sum(row[5] for row in per_phase[p])
    overhead = statistics.median(row[2] for row in steady)
    print(f"{p + 1:<6} {phases[p]:22} {statistics.median(goodput):>26.1f} {min(goodput):>6.1f} {overhead:>9.3f} {unrec / max(1, recv + unrec):>10.1e} {cong:>16.0f}")
PY
echo "rows in $OUT"
