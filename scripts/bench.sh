#!/usr/bin/env bash
# The encoder benchmark: deltaenc vs jpegenc vs x264enc on the same content,
# side by side in one run.
#   scripts/bench.sh [frames]                                   synthetic 1080p scenes
#   scripts/bench.sh --input FILE [--input FILE ...] [frames]   recordings instead
# (recordings: scripts/record-screen.sh, docs/recordings.md)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --quiet --example delta-bench
exec target/release/examples/delta-bench "$@"
