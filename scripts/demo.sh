#!/usr/bin/env bash
# Shows Maelstrom at work in one command: builds the release binaries, emulates a lossy long-haul
# link between two sites in network namespaces, runs TCP Reno across it without and then with the
# two Maelstrom gateways, prints the results side by side, and removes everything it made (also on
# Ctrl-C). Needs root (namespaces, TUN devices): sudo scripts/demo.sh [--loss MODEL] [--delay MS]
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=demo- DELAY=20 RATE=200 LOSS=bernoulli:0.005 SECONDS_PER_RUN=10 CC=reno
while [ $# -gt 0 ]; do
  case "$1" in
    --loss) LOSS=$2; shift 2 ;;
    --delay) DELAY=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --time) SECONDS_PER_RUN=$2; shift 2 ;;
    --cc) CC=$2; shift 2 ;;
    -h|--help) sed -n 2,6p "$0"; echo "options: --loss MODEL (bernoulli:0.005) --delay MS one way (20) --rate MBIT (200) --time S (10) --cc reno|cubic|bbr"; exit 0 ;;
    *) echo "demo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" -eq 0 ] || { echo "demo: needs root for namespaces and TUN devices: sudo $0" >&2; exit 1; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

missing=()
for tool in ip iperf3 ping curl python3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
# The C libraries the build links: libsodium and OpenSSL (frame ciphers), libcap (privilege drop),
# libpcap (`maelstromd trace`).
for header in sodium.h openssl/evp.h sys/capability.h pcap/pcap.h; do [ -e "/usr/include/$header" ] || missing+=("$header"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt-get)"
  apt-get update -qq && apt-get install -y -qq iproute2 iperf3 iputils-ping curl python3 libsodium-dev libssl-dev libcap-dev libpcap-dev >/dev/null
fi

say "building the release binaries (the first build takes a few minutes)"
swift build -c release 2>&1 | tail -1
BIN=$(swift build -c release --show-bin-path)

WORK=$(mktemp -d /tmp/maelstrom-demo.XXXXXX)
cleanup() {
  set +e
  [ -n "${IPERF_PID:-}" ] && kill "$IPERF_PID" 2>/dev/null
  bash scripts/netns-setup.sh down --prefix "$PREFIX" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, cleaning up"; exit 130' INT TERM

say "bringing up the test bed: hostA — gwA ═══ ${DELAY} ms, ${RATE} Mbit/s, loss ${LOSS} ═══ gwB — hostB"
bash scripts/netns-setup.sh up --prefix "$PREFIX" --delay "$DELAY" --rate "$RATE" --queue-bytes 2500000 \
  --loss "$LOSS" --seed 1 --bin "$BIN" | sed 's/^/   /'

# in_ns, and the gateway pair started below (keys, configs, waiting for the peer).
. scripts/lib/bed-gateways.sh
in_ns hostB iperf3 -s -p 5201 </dev/null >/dev/null 2>&1 &
IPERF_PID=$!
sleep 0.5

# Prints "goodput_mbit retransmits" of one iperf3 run from hostA to hostB.
measure() {
  in_ns hostA iperf3 -c 10.2.0.2 -p 5201 -C "$CC" -t "$SECONDS_PER_RUN" -J </dev/null 2>/dev/null | python3 -c '
import json, sys
end = json.load(sys.stdin)["end"]
print("%.1f %d" % (end["sum_received"]["bits_per_second"] / 1e6, end["sum_sent"].get("retransmits", 0)))'
}
ping_ms() { in_ns hostA ping -c 10 -i 0.2 -q 10.2.0.2 | awk -F/ '/rtt/ {print $5}'; }

say "1/2  TCP ${CC} across the lossy link, plain routing (${SECONDS_PER_RUN} s)"
read -r plain_mbit plain_retx < <(measure)
plain_ping=$(ping_ms)
echo "   goodput ${plain_mbit} Mbit/s, ${plain_retx} retransmissions"

say "starting the Maelstrom gateways in gwA and gwB (each with its own key; every frame sealed)"
# Each gateway's private key stays in a file only root can read; the other side learns its public
# key. The defaults throughout: adaptive FEC, sealed frames.
bed_genkeys
bed_start_gateways "" || exit 1
# The bed's runner stops these with `down`, but stop them ourselves too when the demo ends.
trap 'bed_stop_gateways; cleanup' EXIT
echo "   gateways up: $(grep -h 'is up' "$WORK"/gw*.log | sed 's/.*\] //' | paste -sd ';' -)"
sealed=$(in_ns gwA curl -s --max-time 1 http://127.0.0.1:9464/metrics | awk '/^maelstrom_handshakes_completed_total/ {s += $2} END {print s + 0}')
echo "   handshakes completed by gwA: $sealed (Noise_IKpsk2; gateways run as nobody after setup)"

say "2/2  TCP ${CC} across the same link, through Maelstrom (${SECONDS_PER_RUN} s)"
read -r fec_mbit fec_retx < <(measure)
fec_ping=$(ping_ms)
echo "   goodput ${fec_mbit} Mbit/s, ${fec_retx} retransmissions"
stats=$(in_ns gwB "$BIN/maelstromd" stats --json 2>/dev/null || echo '{}')
read -r rebuilt unrecoverable lost_rate < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1]); peers = s.get("peers", [])
p = peers[0] if peers else {}
print(p.get("packets_rebuilt", 0), p.get("packets_unrecoverable", 0), "%.3f%%" % (100 * p.get("loss_ratio", 0)))' "$stats")

overhead=$(in_ns gwA curl -s --max-time 1 http://127.0.0.1:9464/metrics | awk '/^maelstrom_fec_overhead_ratio/ {printf "%.1f", 100 * $2}')
say "results: ${LOSS} loss, $((2 * DELAY)) ms RTT, ${RATE} Mbit/s link, TCP ${CC}"
printf '   %-34s %14s %16s\n' "" "plain routing" "with Maelstrom"
printf '   %-34s %14s %16s\n' "goodput (Mbit/s)" "$plain_mbit" "$fec_mbit"
printf '   %-34s %14s %16s\n' "TCP retransmissions" "$plain_retx" "$fec_retx"
printf '   %-34s %14s %16s\n' "ping RTT, average (ms)" "$plain_ping" "$fec_ping"
printf '   %-34s %14s %16s\n' "packets rebuilt by gwB" "-" "$rebuilt"
printf '   %-34s %14s %16s\n' "packets lost for good at gwB" "-" "$unrecoverable"
printf '   %-34s %14s %16s\n' "WAN loss seen by gwB" "-" "$lost_rate"
echo
echo "   The link drops packets at random. Plain TCP reads each loss as congestion and slows down;"
echo "   through Maelstrom the far gateway rebuilds lost packets from XOR repairs before TCP"
echo "   notices, so TCP keeps its speed. Repairs cost ${overhead}% extra bandwidth now: the code adapts to the"
echo "   loss gwB measures and reports (fec mode adaptive; the fixed r=8, c=3 code costs 37.5%). Every"
echo "   datagram on the WAN is encrypted and authenticated; forged or replayed ones are dropped."
echo "   Once TCP fills the link, the link's own queue overflows: those congestion drops come in"
echo "   long runs, are mostly not rebuilt, and TCP sees them, as it must."
say "cleaning up"
