#!/usr/bin/env bash
# Builds the tests with a sanitizer in a folder of their own and runs the unit tests, then the
# gateway-pair tests (two real daemons on the bed, needing root) with the daemons under the same
# sanitizer. A report from a test process fails its run; a report from a daemon is written to a
# log file (the daemons run as nobody, so the folder is world-writable) and fails this script.
#
#   scripts/sanitize.sh address|thread
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-} in
  address) SCRATCH=.build-asan OPTIONS_VAR=ASAN_OPTIONS
           # The Swift runtime's caches live as long as the process: leak checking would only report them.
           OPTIONS="detect_leaks=0" ;;
  thread)  SCRATCH=.build-tsan OPTIONS_VAR=TSAN_OPTIONS OPTIONS="" ;;
  *) echo "usage: scripts/sanitize.sh address|thread" >&2; exit 2 ;;
esac
SANITIZER=$1
start=$(date +%s)
swift build --build-tests --sanitize="$SANITIZER" --scratch-path "$SCRATCH"
echo "== $SANITIZER: build took $(( $(date +%s) - start )) s"
env "$OPTIONS_VAR=$OPTIONS" swift test --skip-build --sanitize="$SANITIZER" --scratch-path "$SCRATCH" --skip IntegrationTests
echo "== $SANITIZER: unit tests done after $(( $(date +%s) - start )) s"
if [ "$(id -u)" -ne 0 ]; then
  echo "== $SANITIZER: the gateway-pair tests need root (TUN devices, namespaces): not run"
  exit 0
fi
reports=$(mktemp -d /tmp/maelstrom-$SANITIZER.XXXXXX)
chmod 1777 "$reports"
env "$OPTIONS_VAR=${OPTIONS:+$OPTIONS:}log_path=$reports/report" \
  swift test --skip-build --sanitize="$SANITIZER" --scratch-path "$SCRATCH" --filter GatewayDaemonTests
if compgen -G "$reports/report*" >/dev/null; then
  echo "sanitize.sh: $SANITIZER reported from a daemon:" >&2
  head -n 60 "$reports"/report* >&2
  exit 1
fi
rm -rf "$reports"
echo "== $SANITIZER: gateway-pair tests clean after $(( $(date +%s) - start )) s"
