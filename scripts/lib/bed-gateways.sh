# Sourced by the bed scripts (adaptive-figures.sh, adaptive-schedule.sh, soak.sh, bench/run): a
# sealed gateway pair on a bed that scripts/netns-setup.sh made. The caller sets PREFIX (the bed's
# namespace prefix), BIN (the folder with maelstromd) and WORK (a private scratch folder), and runs
# bed_genkeys once before the first bed_start_gateways.

in_ns() { local ns=$1; shift; ip netns exec "$PREFIX$ns" "$@"; }

# A key pair per side, in WORK.
bed_genkeys() {
  local side
  for side in A B; do
    (umask 077 && "$BIN/maelstromd" genkey >"$WORK/gw$side.key")
    "$BIN/maelstromd" pubkey <"$WORK/gw$side.key" >"$WORK/gw$side.pub"
  done
}

# Starts both gateways and waits (up to 10 s) until gwA sees its peer. $1: the lines of the `fec:`
# section, already indented (e.g. "  mode: adaptive"; empty for the defaults); $2: where the logs go
# (default WORK); $3: extra lines of the peer entry, indented by four (e.g. "    flow-control: split");
# $4: extra top-level sections. Returns 1, with the logs on stderr, when a gateway exits or the pair stays down.
bed_start_gateways() {
  local fec=${1:-} logs=${2:-$WORK} peer_extra=${3:-} top_extra=${4:-} side me peer name subnet other
  for side in A B; do
    if [ $side = A ]; then me=198.18.1.1 peer=198.18.2.1 name=site-b subnet=10.2.0.0/24 other=B; else me=198.18.2.1 peer=198.18.1.1 name=site-a subnet=10.1.0.0/24 other=A; fi
    cat >"$WORK/gw$side.yaml" <<YAML
tun:
  name: mael0
  mtu: 1400
listen: $me:4500
wan-mtu: 1500
peers:
  - name: $name
    endpoint: $peer:4500
    subnets: [$subnet]
    public-key: $(cat "$WORK/gw$other.pub")
$peer_extra
private-key-file: $WORK/gw$side.key
fec:
$fec
metrics:
  listen: 127.0.0.1:9464
$top_extra
YAML
    # Not through in_ns: a function run in the background would give the subshell's PID, not the daemon's.
    ip netns exec "${PREFIX}gw$side" "$BIN/maelstromd" run --config "$WORK/gw$side.yaml" </dev/null >"$logs/gw$side.log" 2>&1 &
    echo $! >"$WORK/gw$side.pid"
  done
  sleep 0.5
  for side in A B; do
    kill -0 "$(cat "$WORK/gw$side.pid")" 2>/dev/null || { echo "gw$side exited:" >&2; cat "$logs"/gw*.log >&2; return 1; }
  done
  for _ in $(seq 50); do
    in_ns gwA curl -s --max-time 1 http://127.0.0.1:9464/metrics 2>/dev/null | grep -q '^maelstrom_peer_up{peer="site-b"} 1' && return 0
    sleep 0.2
  done
  echo "the gateways did not come up:" >&2
  cat "$logs"/gw*.log >&2
  return 1
}

# Stops both daemons and waits until they have exited (and removed their routes): the next pair
# would otherwise find the routes still there and refuse to start.
bed_stop_gateways() {
  local f pid
  for f in "$WORK"/gw*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
}

# The sum of every series of metric $2 (all labels) on gateway namespace $1 (gwA or gwB).
bed_metric() {
  in_ns "$1" curl -s --max-time 3 http://127.0.0.1:9464/metrics 2>/dev/null |
    awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%.17g", s + 0 }'
}
