#!/usr/bin/env bash
# Measures the gateway pair against plain kernel routing over the same namespaces, in one run:
# iperf3 TCP goodput, ping RTT (median) and the daemons' CPU time per Gbit/s. No emulator, no loss.
#   hostA — gwA ═ veth ═ gwB — hostB      (sudo scripts/gateway-figures.sh [BIN_DIR] [SECONDS])
# Figures go to docs/GATEWAY.md. Needs root, iperf3, ping, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-$(swift build -c release --show-bin-path)}
TIME=${2:-8}
P=gwfig-
WORK=$(mktemp -d /tmp/gwfig.XXXXXX)

cleanup() {
  set +e
  for n in hostA gwA gwB hostB; do
    ip netns pids $P$n 2>/dev/null | xargs -r kill -9
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
goodput() {
  ip netns exec ${P}hostA iperf3 -c 10.2.0.2 -p 5201 -C "$1" -t "$TIME" -J </dev/null | python3 -c '
import json, sys
end = json.load(sys.stdin)["end"]
print("%.0f %d" % (end["sum_received"]["bits_per_second"] / 1e6, end["sum_sent"].get("retransmits", 0)))'
}
median_rtt() {
  ip netns exec ${P}hostA ping -c 40 -i 0.05 10.2.0.2 | python3 -c '
import re, statistics, sys
times = [float(m.group(1)) for m in re.finditer(r"time=([0-9.]+)", sys.stdin.read())]
print("%.3f" % statistics.median(times))'
}
cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }

plain_reno=$(goodput reno); plain_cubic=$(goodput cubic); plain_rtt=$(median_rtt)

for side in A B; do
  if [ $side = A ]; then me=198.18.1.1 peer=198.18.1.2 sub=10.2.0.0/24; else me=198.18.1.2 peer=198.18.1.1 sub=10.1.0.0/24; fi
  printf 'tun:\n  name: mael0\n  mtu: 1400\nlisten: %s:4500\nwan-mtu: 1500\npeers:\n  - name: peer\n    endpoint: %s:4500\n    subnets: [%s]\n' \
    $me $peer $sub >"$WORK/gw$side.yaml"
  ip netns exec ${P}gw$side "$BIN/maelstromd" run --config "$WORK/gw$side.yaml" </dev/null >"$WORK/gw$side.log" 2>&1 &
  echo $! >"$WORK/gw$side.pid"
done
sleep 2
pa=$(cat "$WORK/gwA.pid"); pb=$(cat "$WORK/gwB.pid")
fec_rtt=$(median_rtt)
a0=$(cpu_ticks $pa); b0=$(cpu_ticks $pb)
fec_reno=$(goodput reno)
a1=$(cpu_ticks $pa); b1=$(cpu_ticks $pb)
fec_cubic=$(goodput cubic)

python3 - "$plain_reno" "$plain_cubic" "$plain_rtt" "$fec_reno" "$fec_cubic" "$fec_rtt" "$((a1 - a0))" "$((b1 - b0))" "$TIME" "$(getconf CLK_TCK)" <<'PY'
import sys
pr, pc, prtt, fr, fc, frtt, ta, tb, secs, hz = sys.argv[1:]
pr, fr = pr.split(), fr.split()
pc, fc = pc.split(), fc.split()
secs, hz = float(secs), float(hz)
gbit = float(fr[0]) / 1000
print("                          kernel routing   Maelstrom pair   ratio")
print("Reno goodput (Mbit/s)     %14s   %14s   %.3f" % (pr[0], fr[0], float(fr[0]) / float(pr[0])))
print("CUBIC goodput (Mbit/s)    %14s   %14s   %.3f" % (pc[0], fc[0], float(fc[0]) / float(pc[0])))
print("Reno retransmissions      %14s   %14s" % (pr[1], fr[1]))
print("ping RTT median (ms)      %14s   %14s   +%.3f ms" % (prtt, frtt, float(frtt) - float(prtt)))
ca, cb = float(ta) / hz / secs, float(tb) / hz / secs
print("CPU, Reno run: gwA %.2f core, gwB %.2f core; per Gbit/s: gwA %.2f, gwB %.2f core" % (ca, cb, ca / gbit, cb / gbit))
PY
