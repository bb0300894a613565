#!/usr/bin/env bash
# Reproduces the codec figures of docs/CODEC.md: the simulate runs the issue asks for and the
# block-code comparison and the codec benchmark, with a release build. Usage: scripts/codec-figures.sh [path/to/maelstromd]
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
# The same losses through ideal block codes of the same overhead (3/8), short and long (docs/CODEC.md).
for code in 8,3 272,102; do
  for loss in bernoulli:0.001 bernoulli:0.01 burst:50,2000 gilbert:0.0005,0.2 gilbert:0.002,0.1 burst:150,5000; do
    printf 'block %-8s %-20s ' "$code" "$loss"
    "$bin" simulate --block "$code" --loss "$loss" --packets 1000000 --json
  done
done
echo
"$bin" bench codec
"$bin" bench codec --packet-size 9000
