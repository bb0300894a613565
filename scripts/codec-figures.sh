#!/usr/bin/env bash
# Reproduces the codec figures of docs/CODEC.md: the simulate runs the issue asks for and the
# codec benchmark, with a release build. Usage: scripts/codec-figures.sh [path/to/maelstromd]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then
  swift build -c release --product maelstromd >/dev/null
  bin=.build/release/maelstromd
fi
for loss in bernoulli:0.001 bernoulli:0.01 burst:50,2000 gilbert:0.0005,0.2 gilbert:0.002,0.1 burst:150,5000; do
  printf '%-20s ' "$loss"
  "$bin" simulate --loss "$loss" --packets 1000000 --json
done
echo
"$bin" bench codec
"$bin" bench codec --packet-size 9000
