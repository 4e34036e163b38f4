#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs streamkit-compare with
# its defaults: every strategy whose elements are built, side by side on the
# built-in screen-like scene at 1280x720, 10 s each, across the link emulator
# (real packets between two network namespaces; needs root). Prints a table
# and writes streamkit-report.html. Extra arguments go to the program (try
# --help, --loss 5 --rtt 50, --loss 2 --outage-ms 50, --scene camera,
# --network model to run over loopback without root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
echo "streamkit: building streamkit-compare (release)"
cargo build --release --quiet --workspace --bins  # all programs: one feature set (pipelines/_env.sh)
exec target/release/streamkit-compare "$@"
