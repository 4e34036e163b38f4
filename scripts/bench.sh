#!/usr/bin/env bash
# The encoder benchmark: deltaenc vs jpegenc vs x264enc on the same 1080p
# content, side by side in one run. Optional argument: frames per scene.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --quiet --example delta-bench
exec target/release/examples/delta-bench "$@"
