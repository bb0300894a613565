#!/usr/bin/env bash
# Hours of mixed traffic through the sealed gateway pair on the bed under bursty loss, sampling each
# gateway's memory, descriptors, threads and counters into a CSV (and a PNG when gnuplot is there).
#
#   scripts/soak.sh HOURS [--interval S] [--out DIR] [--bin DIR] [--loss MODEL]
#
# Traffic all the while: TCP at 50 Mbit/s A->B and 10 Mbit/s B->A (iperf3, a new connection each
# minute), a 500 packet/s UDP stream, pings. Ends with a verdict: resident memory at the end within 5 %
# of its level after the first tenth of the run (at least 2 minutes), descriptors and threads unchanged,
# both daemons alive. Exit 0 when flat, 1 when something grew or died. Needs root. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 1 ] || { sed -n 2,11p "$0" >&2; exit 2; }
HOURS=$1; shift
INTERVAL=60 OUT="" BIN="" LOSS=gilbert:0.002,0.25 PREFIX=soak-
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "soak: option $1 needs a value" >&2; exit 2; }
  case "$1" in
    --interval) INTERVAL=$2 ;;
    --out) OUT=$2 ;;
    --bin) BIN=$2 ;;
    --loss) LOSS=$2 ;;
    *) echo "soak: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[[ $HOURS =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "soak: HOURS must be a number, got '$HOURS'" >&2; exit 2; }
[[ $INTERVAL =~ ^[0-9]+$ ]] && [ "$INTERVAL" -ge 1 ] || { echo "soak: --interval must be whole seconds, got '$INTERVAL'" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "soak: needs root (namespaces, TUN devices)" >&2; exit 1; }
DURATION=$(awk -v h="$HOURS" 'BEGIN { printf "%d", h * 3600 }')
[ "$DURATION" -ge 120 ] || { echo "soak: run at least 2 minutes (0.034 hours)" >&2; exit 2; }
if [ -z "$BIN" ]; then
  swift build -c release --product maelstromd >/dev/null && swift build -c release --product maelstrom-wanem >/dev/null
  BIN=$(swift build -c release --show-bin-path)
fi
OUT=${OUT:-soak-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/maelstrom-soak.XXXXXX)
. scripts/lib/bed-gateways.sh
cleanup() {
  set +e
  jobs -p | xargs -r kill 2>/dev/null
  kill "$(cat "$WORK"/gw*.pid 2>/dev/null)" 2>/dev/null
  bash scripts/netns-setup.sh down --prefix "$PREFIX" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash scripts/netns-setup.sh up --prefix "$PREFIX" --delay 10 --rate 300 --queue-bytes 2500000 --loss "$LOSS" --bin "$BIN" >"$OUT/bed.log"
bed_genkeys
bed_start_gateways "" "$OUT"

# The traffic: loops that start a fresh connection each minute, so connection setup is soaked too.
in_ns hostB iperf3 -s -p 5201 >/dev/null 2>&1 &
in_ns hostB iperf3 -s -p 5202 >/dev/null 2>&1 &
sleep 0.5
(while true; do in_ns hostA iperf3 -c 10.2.0.2 -p 5201 -t 60 -b 50M >/dev/null 2>&1 || sleep 1; done) &
(while true; do in_ns hostA iperf3 -c 10.2.0.2 -p 5202 -t 60 -b 10M -R >/dev/null 2>&1 || sleep 1; done) &
in_ns hostB python3 scripts/traffic.py receive --port 9050 --duration $((DURATION + 30)) --out "$OUT/udp.json" >/dev/null 2>&1 &
in_ns hostA python3 scripts/traffic.py send --to 10.2.0.2 --port 9050 --count $((DURATION * 500)) --rate 500 >/dev/null 2>&1 &
ip netns exec "${PREFIX}hostA" ping -q -i 0.2 10.2.0.2 >"$OUT/ping.log" 2>&1 &
PING_PID=$!

metric() { bed_metric "$1" "$2"; }
echo "seconds,gateway,rss_kb,fds,threads,delivered,rebuilt,unrecoverable,handshakes,refused_replay" >"$OUT/soak.csv"
start=$(date +%s)
alive=1
while :; do
  elapsed=$(( $(date +%s) - start ))
  for side in A B; do
    pid=$(cat "$WORK/gw$side.pid")
    if ! kill -0 "$pid" 2>/dev/null; then echo "soak: gw$side died at ${elapsed} s (log: $OUT/gw$side.log)" >&2; alive=0; continue; fi
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    threads=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
    fds=$(ls "/proc/$pid/fd" | wc -l)
    echo "$elapsed,gw$side,$rss,$fds,$threads,$(metric gw$side maelstrom_packets_delivered_total),$(metric gw$side maelstrom_packets_rebuilt_total),$(metric gw$side maelstrom_packets_unrecoverable_total),$(metric gw$side maelstrom_handshakes_completed_total),$(metric gw$side maelstrom_refused_replay_total)" >>"$OUT/soak.csv"
  done
  [ $alive -eq 1 ] || break
  printf 'soak: %d/%d s  %s\n' "$elapsed" "$DURATION" "$(tail -n 2 "$OUT/soak.csv" | cut -d, -f2,3,4 | paste -sd ' ' -)"
  [ "$elapsed" -lt "$DURATION" ] || break
  sleep "$INTERVAL"
done

kill -INT "$PING_PID" 2>/dev/null && sleep 0.5  # ping prints its summary on SIGINT

# The verdict: memory at the end against its level once warmed up, descriptors and threads unchanged.
warm=$(( DURATION / 10 < 120 ? 120 : DURATION / 10 ))
verdict=0
for side in A B; do
  read -r base_rss base_fds base_threads < <(awk -F, -v g="gw$side" -v w="$warm" '$2 == g && $1 >= w { print $3, $4, $5; exit }' "$OUT/soak.csv")
  read -r end_rss end_fds end_threads < <(awk -F, -v g="gw$side" '$2 == g { r = $3; f = $4; t = $5 } END { print r, f, t }' "$OUT/soak.csv")
  growth=$(awk -v a="${base_rss:-0}" -v b="${end_rss:-0}" 'BEGIN { if (a == 0) print "n/a"; else printf "%+.1f", (b - a) * 100 / a }')
  echo "gw$side: rss ${base_rss:-?} kB after warm-up, ${end_rss:-?} kB at the end (${growth} %); fds ${base_fds:-?} -> ${end_fds:-?}; threads ${base_threads:-?} -> ${end_threads:-?}" | tee -a "$OUT/verdict.txt"
  if [ "$growth" = n/a ] || awk -v g="$growth" 'BEGIN { exit !(g > 5 || g < -5) }' || [ "${base_fds:-x}" != "${end_fds:-y}" ] || [ "${base_threads:-x}" != "${end_threads:-y}" ]; then verdict=1; fi
done
[ $alive -eq 1 ] || verdict=1
grep -E 'packets transmitted' "$OUT/ping.log" | tee -a "$OUT/verdict.txt" || true
if command -v gnuplot >/dev/null; then
  gnuplot <<GP
set terminal png size 900,500
set output "$OUT/soak.png"
set datafile separator ","
set xlabel "minutes"; set ylabel "resident memory (MB)"; set y2label "descriptors"; set y2tics; set key bottom right
plot "< grep gwA $OUT/soak.csv" using (\$1/60):(\$3/1024) with lines title "gwA RSS", \
     "< grep gwB $OUT/soak.csv" using (\$1/60):(\$3/1024) with lines title "gwB RSS", \
     "< grep gwA $OUT/soak.csv" using (\$1/60):4 axes x1y2 with steps title "gwA fds", \
     "< grep gwB $OUT/soak.csv" using (\$1/60):4 axes x1y2 with steps title "gwB fds"
GP
fi
[ $verdict -eq 0 ] && echo "soak: flat" | tee -a "$OUT/verdict.txt" || echo "soak: something grew or died" | tee -a "$OUT/verdict.txt"
exit $verdict
