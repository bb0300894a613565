#!/usr/bin/env bash
# Measures the gateway pair against plain kernel routing over the same namespaces, in one run:
# iperf3 TCP goodput with 1 and 4 streams, ping RTT (median), the daemons' CPU per Gbit/s, and the
# same-run baselines "security: none" (plaintext frames), "one lane" and "no TUN offload"; then the lane loops alone over in-memory
# seams (bench dataplane) and, with valgrind, the instructions per packet of the whole gateway path.
#   hostA — gwA ═ veth ═ gwB — hostB
#   sudo scripts/gateway-figures.sh [--bin DIR] [--time SECONDS] [--json FILE] [--no-callgrind]
# Figures go to docs/GATEWAY.md. Needs root, iperf3, ping, python3 (valgrind for the instruction count).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="" TIME=8 JSON="" CALLGRIND=1
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --time) TIME=$2; shift 2 ;;
    --json) JSON=$2; shift 2 ;;
    --no-callgrind) CALLGRIND=0; shift ;;
    *) echo "usage: gateway-figures.sh [--bin DIR] [--time SECONDS] [--json FILE] [--no-callgrind]" >&2; exit 2 ;;
  esac
done
[ -n "$BIN" ] || { swift build -c release >/dev/null; BIN=$(swift build -c release --show-bin-path); }
P=gwfig-
WORK=$(mktemp -d /tmp/gwfig.XXXXXX)

cleanup() {
  set +e
  for n in hostA gwA gwB hostB; do
    ip netns pids $P$n 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del $P$n 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
cleanup; WORK=$(mktemp -d /tmp/gwfig.XXXXXX)

for n in hostA gwA gwB hostB; do ip netns add $P$n; ip -n $P$n link set lo up; done
ip link add ha netns ${P}hostA type veth peer name ga netns ${P}gwA
ip link add gw netns ${P}gwA type veth peer name gw netns ${P}gwB
ip link add gb netns ${P}gwB type veth peer name hb netns ${P}hostB
ip -n ${P}hostA addr add 10.1.0.2/24 dev ha; ip -n ${P}hostA link set ha up; ip -n ${P}hostA route add default via 10.1.0.1
ip -n ${P}gwA addr add 10.1.0.1/24 dev ga; ip -n ${P}gwA link set ga up
ip -n ${P}gwA addr add 198.18.1.1/24 dev gw; ip -n ${P}gwA link set gw up
ip -n ${P}gwB addr add 198.18.1.2/24 dev gw; ip -n ${P}gwB link set gw up
ip -n ${P}gwB addr add 10.2.0.1/24 dev gb; ip -n ${P}gwB link set gb up
ip -n ${P}hostB addr add 10.2.0.2/24 dev hb; ip -n ${P}hostB link set hb up; ip -n ${P}hostB route add default via 10.2.0.1
for g in gwA gwB; do ip netns exec $P$g sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'; done
ip -n ${P}gwA route add 10.2.0.0/24 via 198.18.1.2 metric 100
ip -n ${P}gwB route add 10.1.0.0/24 via 198.18.1.1 metric 100

ip netns exec ${P}hostB iperf3 -s -p 5201 </dev/null >/dev/null 2>&1 &
sleep 0.5
HZ=$(getconf CLK_TCK)
cpu_ticks() { [ -n "${1:-}" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
# goodput CC STREAMS -> "Mbit/s retransmits cpuA cpuB" (CPU in cores, over the run, when daemons run)
goodput() {
  local a0 b0 a1 b1 out
  a0=$(cpu_ticks "${PA:-}"); b0=$(cpu_ticks "${PB:-}")
  out=$(ip netns exec ${P}hostA iperf3 -c 10.2.0.2 -p 5201 -C "$1" -P "$2" -t "$TIME" -J </dev/null | python3 -c '
import json, sys
end = json.load(sys.stdin)["end"]
print("%.0f %d" % (end["sum_received"]["bits_per_second"] / 1e6, end["sum_sent"].get("retransmits", 0)))')
  a1=$(cpu_ticks "${PA:-}"); b1=$(cpu_ticks "${PB:-}")
  echo "$out $(awk -v t=$((a1 - a0)) -v h="$HZ" -v s="$TIME" 'BEGIN{printf "%.3f", t/h/s}') $(awk -v t=$((b1 - b0)) -v h="$HZ" -v s="$TIME" 'BEGIN{printf "%.3f", t/h/s}')"
}
median_rtt() {
  ip netns exec ${P}hostA ping -c 100 -i 0.02 10.2.0.2 | python3 -c '
import re, statistics, sys
times = [float(m.group(1)) for m in re.finditer(r"time=([0-9.]+)", sys.stdin.read())]
print("%.3f" % statistics.median(times))'
}
for side in A B; do
  (umask 077 && "$BIN/maelstromd" genkey >"$WORK/gw$side.key")
  "$BIN/maelstromd" pubkey <"$WORK/gw$side.key" >"$WORK/gw$side.pub"
done
start_daemons() {  # LANES OFFLOAD [none]: sealed frames unless the third argument is none
  for side in A B; do
    if [ $side = A ]; then me=198.18.1.1 peer=198.18.1.2 sub=10.2.0.0/24 other=B; else me=198.18.1.2 peer=198.18.1.1 sub=10.1.0.0/24 other=A; fi
    if [ "${3:-sealed}" = none ]; then
      security='security: none' peerkey=''
    else
      security="private-key-file: $WORK/gw$side.key" peerkey="    public-key: $(cat "$WORK/gw$other.pub")"
    fi
    printf 'tun:\n  name: mael0\n  mtu: 1400\n  offload: %s\nlisten: %s:4500\nwan-mtu: 1500\nlanes: %s\npeers:\n  - name: peer\n    endpoint: %s:4500\n    subnets: [%s]\n%s\n%s\n' \
      "$2" $me "$1" $peer $sub "$peerkey" "$security" >"$WORK/gw$side.yaml"
    ip netns exec ${P}gw$side "$BIN/maelstromd" run --config "$WORK/gw$side.yaml" </dev/null >"$WORK/gw$side.log" 2>&1 &
    echo $! >"$WORK/gw$side.pid"
  done
  sleep 2
  PA=$(cat "$WORK/gwA.pid"); PB=$(cat "$WORK/gwB.pid")
}
stop_daemons() {
  kill -TERM "$PA" "$PB" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$PA" 2>/dev/null || kill -0 "$PB" 2>/dev/null || break; sleep 0.1; done
  PA= PB=
}
lanes_of() { grep -o '[0-9]* lanes\? (lanes' "$WORK/gwA.log" | head -1 | awk '{print $1}'; }

PA= PB=
echo "== kernel routing" >&2
# Latency on an idle bed, kernel and pair in turn three times (a shared machine drifts): the
# medians of the three medians are reported.
rtts_k=() rtts_m=()
for _ in 1 2 3; do
  rtts_k+=("$(median_rtt)")
  start_daemons auto true
  rtts_m+=("$(median_rtt)")
  stop_daemons
done
k_rtt=$(printf '%s\n' "${rtts_k[@]}" | sort -n | sed -n 2p)
m_rtt=$(printf '%s\n' "${rtts_m[@]}" | sort -n | sed -n 2p)
k_reno1=$(goodput reno 1); k_reno4=$(goodput reno 4); k_cubic1=$(goodput cubic 1)
echo "== Maelstrom, default (sealed, lanes: auto, TUN offloads on)" >&2
start_daemons auto true
m_lanes=$(lanes_of)
m_reno1=$(goodput reno 1); m_reno4=$(goodput reno 4); m_cubic1=$(goodput cubic 1)
stop_daemons
echo "== Maelstrom, security: none" >&2
start_daemons auto true none
n_reno1=$(goodput reno 1); n_reno4=$(goodput reno 4)
stop_daemons
echo "== Maelstrom, one lane" >&2
start_daemons 1 true
l_reno1=$(goodput reno 1); l_reno4=$(goodput reno 4)
stop_daemons
echo "== Maelstrom, TUN offloads off" >&2
start_daemons auto false
o_reno1=$(goodput reno 1); o_reno4=$(goodput reno 4)
stop_daemons

echo "== bench dataplane (in-memory seams)" >&2
bench=$("$BIN/maelstromd" bench dataplane --lanes 1,2 --security none,sealed --seconds 3 --json | python3 -c '
import json, sys
runs = [json.loads(line) for line in sys.stdin if line.strip()]
print(" ".join("%.2f %.0f" % (r["gbit_per_s"], r["packets_per_s"]) for r in runs))')
instructions=""
if [ $CALLGRIND -eq 1 ] && command -v valgrind >/dev/null; then
  echo "== instructions per packet (callgrind, bench dataplane, 1 lane)" >&2
  objcopy --strip-debug "$BIN/maelstromd" "$WORK/maelstromd-nodebug"  # valgrind 3.19 cannot read Swift 6's DWARF
  count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$WORK/maelstromd-nodebug" bench dataplane --lanes 1 --packets "$1" --json \
      2>"$WORK/cg.err" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["packets"])'
    grep -o 'refs: *[0-9,]*' "$WORK/cg.err" | tr -d ', ' | cut -d: -f2
  }
  small=$(count 20000 | tr '\n' ' '); large=$(count 60000 | tr '\n' ' ')
  instructions=$(python3 -c 'import sys; a=sys.argv[1].split(); b=sys.argv[2].split(); print("%.0f" % ((int(b[1]) - int(a[1])) / (int(b[0]) - int(a[0]))))' "$small" "$large")
fi

python3 - "$JSON" "$TIME" "$m_lanes" "$k_reno1" "$k_reno4" "$k_cubic1" "$k_rtt" "$m_reno1" "$m_reno4" "$m_cubic1" "$m_rtt" \
  "$l_reno1" "$l_reno4" "$o_reno1" "$o_reno4" "$n_reno1" "$n_reno4" "$bench" "$instructions" <<'PY'
import json, sys
(json_path, secs, lanes, k1, k4, kc, krtt, m1, m4, mc, mrtt, l1, l4, o1, o4, n1, n4, bench, instr) = sys.argv[1:]
def run(text):
    mbit, retr, ca, cb = text.split()
    mbit = float(mbit); gbit = max(mbit / 1000, 1e-9)
    return {"mbit": mbit, "retransmits": int(retr), "cpu_a": float(ca), "cpu_b": float(cb),
            "cpu_a_per_gbit": float(ca) / gbit, "cpu_b_per_gbit": float(cb) / gbit}
k1, k4, kc = run(k1), run(k4), run(kc)
m1, m4, mc, l1, l4, o1, o4, n1, n4 = map(run, (m1, m4, mc, l1, l4, o1, o4, n1, n4))
b = bench.split()
print("                                   kernel routing   Maelstrom pair    ratio    gwA core/Gbit  gwB core/Gbit")
def row(name, k, m):
    print("%-34s %14.0f   %14.0f   %6.3f   %12.3f   %12.3f" % (name, k["mbit"], m["mbit"], m["mbit"] / k["mbit"], m["cpu_a_per_gbit"], m["cpu_b_per_gbit"]))
row("Reno, 1 stream (Mbit/s)", k1, m1)
row("Reno, 4 streams (Mbit/s)", k4, m4)
row("CUBIC, 1 stream (Mbit/s)", kc, mc)
row("  security none: Reno, 1 stream", k1, n1)
row("  security none: Reno, 4 streams", k4, n4)
print("sealed / none, same run: Reno 1 stream %.2f, 4 streams %.2f" % (m1["mbit"] / n1["mbit"], m4["mbit"] / n4["mbit"]))
row("  one lane: Reno, 1 stream", k1, l1)
row("  one lane: Reno, 4 streams", k4, l4)
row("  TUN offloads off: Reno, 1 stream", k1, o1)
row("  TUN offloads off: Reno, 4 streams", k4, o4)
print("ping RTT median (ms), idle          %14s   %14s   +%.3f ms" % (krtt, mrtt, float(mrtt) - float(krtt)))
print("lanes (auto) %s; %s s per iperf3 run" % (lanes, secs))
if len(b) >= 8:
    # Runs come mode by mode (none, then sealed), lane counts 1 and 2 within each.
    print("bench dataplane, none:   1 lane %s Gbit/s (%s packets/s), 2 lanes %s Gbit/s (%s packets/s): %.2f x" % (b[0], b[1], b[2], b[3], float(b[3]) / float(b[1])))
    print("bench dataplane, sealed: 1 lane %s Gbit/s (%s packets/s), 2 lanes %s Gbit/s (%s packets/s): %.2f x; sealed/none 1 lane %.2f" % (b[4], b[5], b[6], b[7], float(b[7]) / float(b[5]), float(b[4]) / float(b[0])))
if instr:
    print("instructions per packet, both gateways' user space (callgrind): %s" % instr)
if json_path:
    json.dump({"kernel": {"reno1": k1, "reno4": k4, "cubic1": kc, "rtt_ms": float(krtt)},
               "maelstrom": {"lanes": lanes, "reno1": m1, "reno4": m4, "cubic1": mc, "rtt_ms": float(mrtt)},
               "one_lane": {"reno1": l1, "reno4": l4}, "security_none": {"reno1": n1, "reno4": n4}, "no_offload": {"reno1": o1, "reno4": o4},
               "bench_dataplane": b, "instructions_per_packet": instr}, open(json_path, "w"), indent=1)
PY
