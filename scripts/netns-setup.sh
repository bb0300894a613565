#!/usr/bin/env bash
# The Maelstrom test bed: two sites joined by an emulated long-haul link, in five network namespaces.
#
#   hostA ── gwA ══════════ wan ══════════ gwB ── hostB
#   10.1.0.2  10.1.0.1      198.18.1.254   198.18.2.1  10.2.0.1  10.2.0.2
#             198.18.1.1    198.18.2.254
#
# The wan namespace impairs every packet that crosses it (delay, jitter, rate, queue, loss), one
# emulator per direction. See docs/TESTBED.md for the design and measured figures.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: netns-setup.sh up|down|status [options]
  --prefix P            namespace name prefix (default mael-): P{hostA,gwA,wan,gwB,hostB}
  --delay MS            one-way delay in ms, each direction (default 25)
  --jitter MS           uniform jitter half-width in ms (default 0)
  --rate MBIT           bottleneck rate in Mbit/s, each direction, 0 = unlimited (default 100)
  --queue-bytes B       drop-tail queue before the rate limiter (default 1000000)
  --loss MODEL          none, bernoulli:P, gilbert:P,R, burst:LEN,EVERY, trace:FILE (default none)
  --seed N              seed of loss and jitter; A->B uses 2N+1, B->A uses 2N+2 (default 1)
  --duplicate P         probability that a packet is delivered twice (default 0; wanem only)
  --reorder P,MS        hold back a fraction P of packets by up to MS ms, so later ones overtake
                        them (default none; wanem only)
  --outage S+D[,S+D]    lose everything for D s from S s after `up`, each direction (wanem only)
  --emulator KIND       auto (netem if the kernel has it, else wanem), wanem or netem (default auto)
  --maelstrom A,B       start `maelstromd run --config A` in gwA and `... --config B` in gwB
  --bin DIR             where maelstrom-wanem and maelstromd are (default .build/release)
EOF
}

die() { echo "netns-setup: $*" >&2; exit 2; }

[ $# -ge 1 ] || { usage >&2; exit 2; }
ACTION=$1; shift
case "$ACTION" in up|down|status) ;; -h|--help|help) usage; exit 0 ;; *) usage >&2; exit 2 ;; esac

PREFIX=mael- DELAY=25 JITTER=0 RATE=100 QUEUE=1000000 LOSS=none SEED=1 EMULATOR=auto MAELSTROM="" BIN=.build/release
DUPLICATE=0 REORDER="" OUTAGE=""
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "option $1 needs a value"
  case "$1" in
    --prefix) PREFIX=$2 ;;
    --delay) DELAY=$2 ;;
    --jitter) JITTER=$2 ;;
    --rate) RATE=$2 ;;
    --queue-bytes) QUEUE=$2 ;;
    --loss) LOSS=$2 ;;
    --seed) SEED=$2 ;;
    --duplicate) DUPLICATE=$2 ;;
    --reorder) REORDER=$2 ;;
    --outage) OUTAGE=$2 ;;
    --emulator) EMULATOR=$2 ;;
    --maelstrom) MAELSTROM=$2 ;;
    --bin) BIN=$2 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift 2
done

number='^[0-9]+([.][0-9]+)?$'
[[ $PREFIX =~ ^[A-Za-z0-9_.-]{0,20}$ ]] || die "--prefix must be at most 20 of [A-Za-z0-9_.-], got '$PREFIX'"
[[ $DELAY =~ $number ]] || die "--delay must be a number of ms, got '$DELAY'"
[[ $JITTER =~ $number ]] || die "--jitter must be a number of ms, got '$JITTER'"
[[ $RATE =~ $number ]] || die "--rate must be a number of Mbit/s, got '$RATE'"
[[ $QUEUE =~ ^[0-9]+$ ]] || die "--queue-bytes must be a whole number, got '$QUEUE'"
[[ $SEED =~ ^[0-9]+$ ]] && [ ${#SEED} -le 18 ] || die "--seed must be a whole number below 10^18, got '$SEED'"
case "$EMULATOR" in auto|wanem|netem) ;; *) die "--emulator must be auto, wanem or netem, got '$EMULATOR'" ;; esac
[[ $DUPLICATE =~ $number ]] || die "--duplicate must be a probability, got '$DUPLICATE'"
[ -z "$REORDER" ] || [[ $REORDER =~ ^[0-9]+([.][0-9]+)?,[0-9]+([.][0-9]+)?$ ]] || die "--reorder must be P,MS, got '$REORDER'"
[ -z "$OUTAGE" ] || [[ $OUTAGE =~ ^[0-9]+([.][0-9]+)?[+][0-9]+([.][0-9]+)?(,[0-9]+([.][0-9]+)?[+][0-9]+([.][0-9]+)?)*$ ]] \
  || die "--outage must be START+DURATION[,START+DURATION...] in seconds, got '$OUTAGE'"
# Duplication, reordering and outages are the user-space emulator's; netem is not asked for them.
WANEM_ONLY=0
[ "$DUPLICATE" = 0 ] && [ -z "$REORDER" ] && [ -z "$OUTAGE" ] || WANEM_ONLY=1

HOST_A=${PREFIX}hostA GW_A=${PREFIX}gwA WAN=${PREFIX}wan GW_B=${PREFIX}gwB HOST_B=${PREFIX}hostB
NAMESPACES=("$HOST_A" "$GW_A" "$WAN" "$GW_B" "$HOST_B")
RUN=/run/maelstrom-bed/${PREFIX:-none}

# Writes a sysctl inside a namespace through /proc (no dependency on procps).
nsysctl() { ip netns exec "$1" sh -c "echo $3 > /proc/sys/${2//.//}"; }

ns_exists() { [ -e "/run/netns/$1" ]; }

# True if pid $1 exists and is not a zombie (whose parent may never reap it in a container).
alive() {
  local state
  state=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null || true)
  [ -n "$state" ] && [ "$state" != Z ]
}

# True if pid $1 is alive and its command line contains $2 (a reused pid is left alone).
pid_runs() {
  alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

# Starts "$@" in the background with stdin from /dev/null, output appended to log $1, and no other
# inherited descriptor: a caller's pipe or socket kept open by a long-lived child makes the caller
# wait for it (Foundation.Process, for one, watches a socket it passes down to detect the exit).
# The pid is in $! as usual, since the subshell execs the command.
spawn() {
  local log=$1
  shift
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec "$@"
  ) </dev/null >>"$log" 2>&1 &
}

# Sends SIGTERM to the given pids, then SIGKILL to those still alive after ~3 s.
stop_pids() {
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 30); do
    local running=0
    for pid in "$@"; do alive "$pid" && running=1; done
    [ $running -eq 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}

teardown() {
  local pids=() pidfile pid name
  if [ -d "$RUN" ]; then
    for pidfile in "$RUN"/*.pid; do
      [ -e "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      name=$(basename "$pidfile" .pid)
      if pid_runs "$pid" maelstrom; then pids+=("$pid"); fi
    done
  fi
  stop_pids "${pids[@]+"${pids[@]}"}"
  # Final counters of each emulator (printed on SIGTERM), for whoever reads this output.
  if [ -d "$RUN" ]; then
    for log in "$RUN"/wanab.log "$RUN"/wanba.log; do
      [ -e "$log" ] || continue
      line=$(grep '^offered=' "$log" | tail -n 1 || true)
      [ -n "$line" ] && echo "$(basename "$log" .log): $line"
    done
  fi
  # Anything else still running inside the bed (iperf3 servers, shells) would keep a namespace alive.
  for ns in "${NAMESPACES[@]}"; do
    if ns_exists "$ns"; then
      mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
      stop_pids "${pids[@]+"${pids[@]}"}"
    fi
  done
  for ns in "${NAMESPACES[@]}" "${PREFIX}probe"; do
    if ns_exists "$ns"; then ip netns delete "$ns" 2>/dev/null || true; fi
  done
  rm -rf "$RUN"
}

# Whether this kernel has sch_netem, tried in a throwaway namespace.
probe_netem() {
  local probe=${PREFIX}probe ok=1
  ip netns add "$probe"
  ip -n "$probe" link set lo up
  tc -n "$probe" qdisc add dev lo root netem delay 1ms 2>/dev/null || ok=0
  ip netns delete "$probe"
  [ $ok -eq 1 ]
}

# netem's spelling of a loss model, or nothing if netem cannot express it.
netem_loss() {
  case "$LOSS" in
    none) echo "" ;;
    bernoulli:*) echo "loss random $(awk -v p="${LOSS#bernoulli:}" 'BEGIN { printf "%.6f%%", p * 100 }')" ;;
    gilbert:*,*)
      local pr=${LOSS#gilbert:}
      echo "loss gemodel $(awk -v p="${pr%,*}" -v r="${pr#*,}" 'BEGIN { printf "%.6f%% %.6f%% 100%% 0%%", p * 100, r * 100 }')" ;;
    *) return 1 ;;
  esac
}

# Adds netem to one wan-side veth: its egress is one direction of the link.
start_netem() {
  local dev=$1 extra limit
  extra=$(netem_loss)
  # netem counts its limit in packets and holds the in-flight ones too: queue plus one delay's worth.
  limit=$(awk -v q="$QUEUE" -v r="$RATE" -v d="$DELAY" -v j="$JITTER" \
    'BEGIN { n = int((q + r * 1e6 / 8 * (d + j) / 1000) / 1500) + 1000; print n }')
  local rate_args=()
  [ "$RATE" != 0 ] && rate_args=(rate "${RATE}mbit")
  # shellcheck disable=SC2086
  tc -n "$WAN" qdisc add dev "$dev" root netem limit "$limit" delay "${DELAY}ms" "${JITTER}ms" \
    "${rate_args[@]+"${rate_args[@]}"}" $extra
}

# Starts one maelstrom-wanem in the wan namespace and steers the packets arriving on $iface into it.
start_wanem() {
  local tun=$1 iface=$2 seed=$3 table=$4 pid
  local args=(--tun "$tun" --delay-ms "$DELAY" --jitter-ms "$JITTER" --rate-mbit "$RATE"
    --queue-bytes "$QUEUE" --loss "$LOSS" --seed "$seed" --duplicate "$DUPLICATE")
  if [ -n "$REORDER" ]; then args+=(--reorder-probability "${REORDER%,*}" --reorder-delay-ms "${REORDER#*,}"); fi
  local window
  for window in ${OUTAGE//,/ }; do args+=(--outage "$window"); done
  spawn "$RUN/$tun.log" ip netns exec "$WAN" "$BIN/maelstrom-wanem" "${args[@]}"
  pid=$!
  echo "$pid" >"$RUN/$tun.pid"
  for _ in $(seq 100); do
    ip -n "$WAN" -o link show dev "$tun" 2>/dev/null | grep -q '[<,]UP[,>]' && break
    alive "$pid" || { echo "netns-setup: maelstrom-wanem $tun failed: $(tail -n 3 "$RUN/$tun.log")" >&2; return 1; }
    sleep 0.05
  done
  ip -n "$WAN" -o link show dev "$tun" 2>/dev/null | grep -q '[<,]UP[,>]' \
    || { echo "netns-setup: $tun did not come up within 5 s" >&2; return 1; }
  # A longer device queue absorbs a scheduling hiccup of the emulator at 1 Gbit/s instead of dropping.
  ip -n "$WAN" link set dev "$tun" txqueuelen 10000
  ip -n "$WAN" rule add iif "$iface" table "$table" priority 1000
  ip -n "$WAN" route add default dev "$tun" table "$table"
}

# Starts maelstromd in gateway namespace $1 with config $2, logging to $RUN/<gateway>.log; does not wait.
start_maelstromd() {
  local ns=$1 config=$2 name=$3
  [ -r "$config" ] || { echo "netns-setup: --maelstrom: cannot read config '$config'" >&2; return 1; }
  [ -x "$BIN/maelstromd" ] || { echo "netns-setup: $BIN/maelstromd not found (build it first)" >&2; return 1; }
  spawn "$RUN/$name.log" ip netns exec "$ns" "$BIN/maelstromd" run --config "$(realpath "$config")"
  echo $! >"$RUN/$name.pid"
  echo "maelstromd started in $ns (pid $!), log $RUN/$name.log"
}

up() {
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  # Running `up` again replaces the bed, so there is only ever one per prefix.
  teardown
  UP_OK=0
  trap 'if [ "$UP_OK" -eq 0 ]; then echo "netns-setup: up failed; removing the bed" >&2; teardown; fi' EXIT
  mkdir -p "$RUN"

  local kind=$EMULATOR
  if [ "$kind" = auto ]; then
    kind=wanem
    if [ "$WANEM_ONLY" -eq 0 ] && probe_netem && netem_loss >/dev/null; then kind=netem; fi
  fi
  if [ "$kind" = netem ]; then
    [ "$WANEM_ONLY" -eq 0 ] || { echo "netns-setup: --duplicate, --reorder and --outage need --emulator wanem" >&2; return 1; }
    netem_loss >/dev/null || { echo "netns-setup: netem cannot express --loss $LOSS" >&2; return 1; }
    probe_netem || { echo "netns-setup: this kernel has no sch_netem" >&2; return 1; }
  else
    [ -x "$BIN/maelstrom-wanem" ] || { echo "netns-setup: $BIN/maelstrom-wanem not found (build it first)" >&2; return 1; }
  fi

  for ns in "${NAMESPACES[@]}"; do
    ip netns add "$ns"
    # IPv6 autoconfiguration would send stray packets across the emulated link; the bed is IPv4 only.
    nsysctl "$ns" net.ipv6.conf.all.disable_ipv6 1
    nsysctl "$ns" net.ipv6.conf.default.disable_ipv6 1
    ip -n "$ns" link set lo up
  done

  # Each veth is created inside its namespace, so equal names in different beds never collide.
  ip -n "$HOST_A" link add eth0 type veth peer name lan0 netns "$GW_A"
  ip -n "$GW_A" link add wan0 type veth peer name ethA netns "$WAN"
  ip -n "$WAN" link add ethB type veth peer name wan0 netns "$GW_B"
  ip -n "$GW_B" link add lan0 type veth peer name eth0 netns "$HOST_B"

  ip -n "$HOST_A" addr add 10.1.0.2/24 dev eth0
  ip -n "$GW_A" addr add 10.1.0.1/24 dev lan0
  ip -n "$GW_A" addr add 198.18.1.1/24 dev wan0
  ip -n "$WAN" addr add 198.18.1.254/24 dev ethA
  ip -n "$WAN" addr add 198.18.2.254/24 dev ethB
  ip -n "$GW_B" addr add 198.18.2.1/24 dev wan0
  ip -n "$GW_B" addr add 10.2.0.1/24 dev lan0
  ip -n "$HOST_B" addr add 10.2.0.2/24 dev eth0
  ip -n "$HOST_A" link set eth0 up
  ip -n "$GW_A" link set lan0 up
  ip -n "$GW_A" link set wan0 up
  ip -n "$WAN" link set ethA up
  ip -n "$WAN" link set ethB up
  ip -n "$GW_B" link set wan0 up
  ip -n "$GW_B" link set lan0 up
  ip -n "$HOST_B" link set eth0 up

  for ns in "$GW_A" "$WAN" "$GW_B"; do nsysctl "$ns" net.ipv4.ip_forward 1; done
  # Packets leave the emulator's TUN with the far site's source address; strict reverse-path
  # filtering would drop them because that source is routed out another interface.
  for key in all default ethA ethB; do nsysctl "$WAN" "net.ipv4.conf.$key.rp_filter" 0; done

  # Room for a window beyond the bandwidth-delay product of a fast long link (1 Gbit/s x 100 ms = 12.5 MB);
  # the defaults (4-6 MB) would cap TCP below 1 Gbit/s at 50 ms RTT, whatever the link did.
  for ns in "$HOST_A" "$HOST_B"; do
    nsysctl "$ns" net.ipv4.tcp_rmem "'4096 131072 33554432'"
    nsysctl "$ns" net.ipv4.tcp_wmem "'4096 16384 33554432'"
  done

  ip -n "$HOST_A" route add default via 10.1.0.1
  ip -n "$HOST_B" route add default via 10.2.0.1
  # Plain routes between the sites at metric 100: a gateway's own route (metric 0) takes precedence.
  ip -n "$GW_A" route add 10.2.0.0/24 via 198.18.1.254 metric 100
  ip -n "$GW_B" route add 10.1.0.0/24 via 198.18.2.254 metric 100
  # The gateways reach each other's WAN address across the emulated link (the tunnel's path).
  ip -n "$GW_A" route add 198.18.2.0/24 via 198.18.1.254
  ip -n "$GW_B" route add 198.18.1.0/24 via 198.18.2.254
  ip -n "$WAN" route add 10.1.0.0/24 via 198.18.1.1
  ip -n "$WAN" route add 10.2.0.0/24 via 198.18.2.1

  echo "$kind" >"$RUN/emulator"
  local seed_ab seed_ba
  seed_ab=$((SEED * 2 + 1))
  seed_ba=$((SEED * 2 + 2))
  if [ "$kind" = netem ]; then
    start_netem ethB
    start_netem ethA
    echo "impairment: netem on $WAN/ethB (A->B) and $WAN/ethA (B->A)"
  else
    start_wanem wanab ethA "$seed_ab" 101
    start_wanem wanba ethB "$seed_ba" 102
    echo "impairment: maelstrom-wanem (no sch_netem or --emulator wanem): $WAN/wanab (A->B, seed $seed_ab), $WAN/wanba (B->A, seed $seed_ba)"
  fi
  echo "link: delay ${DELAY} ms jitter ${JITTER} ms rate ${RATE} Mbit/s queue ${QUEUE} B loss ${LOSS} each way"
  [ "$WANEM_ONLY" -eq 0 ] || echo "faults: duplicate ${DUPLICATE} reorder ${REORDER:-none} outage ${OUTAGE:-none} each way"

  if [ -n "$MAELSTROM" ]; then
    [[ $MAELSTROM == *,* ]] || { echo "netns-setup: --maelstrom needs CONFIG_A,CONFIG_B" >&2; return 1; }
    start_maelstromd "$GW_A" "${MAELSTROM%%,*}" gwA
    start_maelstromd "$GW_B" "${MAELSTROM#*,}" gwB
  fi
  UP_OK=1
  trap - EXIT
  echo "bed ${PREFIX} up: ${NAMESPACES[*]} (state in $RUN)"
}

status() {
  local up=1 pidfile pid name
  echo "namespaces:"
  for ns in "${NAMESPACES[@]}"; do
    if ns_exists "$ns"; then echo "  $ns"; else echo "  $ns (missing)"; up=0; fi
  done
  echo "emulator: $(cat "$RUN/emulator" 2>/dev/null || echo none)"
  echo "processes:"
  if [ -d "$RUN" ]; then
    for pidfile in "$RUN"/*.pid; do
      [ -e "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      name=$(basename "$pidfile" .pid)
      if pid_runs "$pid" maelstrom; then
        echo "  $name pid $pid running"
        case "$name" in wanab|wanba) kill -USR1 "$pid" 2>/dev/null || true ;; esac
      else
        echo "  $name pid $pid not running"
        case "$name" in wanab|wanba) up=0 ;; esac
      fi
    done
  fi
  if [ "$(cat "$RUN/emulator" 2>/dev/null)" = netem ]; then
    echo "netem:"
    tc -n "$WAN" -s qdisc show dev ethB | sed 's/^/  A->B /'
    tc -n "$WAN" -s qdisc show dev ethA | sed 's/^/  B->A /'
  elif [ -d "$RUN" ]; then
    sleep 0.3  # the emulators print on SIGUSR1 from their own loop
    echo "wanem counters:"
    for log in "$RUN"/wanab.log "$RUN"/wanba.log; do
      [ -e "$log" ] || continue
      echo "  $(basename "$log" .log): $(grep '^offered=' "$log" | tail -n 1 || true)"
    done
  fi
  [ $up -eq 1 ]
}

case "$ACTION" in
  up) up ;;
  down) [ "$(id -u)" -eq 0 ] || die "must run as root"; teardown; echo "bed ${PREFIX} down" ;;
  status) status ;;
esac
