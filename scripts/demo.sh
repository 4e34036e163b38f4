#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs streamkit-compare with
# its defaults: every strategy whose elements are built, side by side on the
# built-in screen-like scene at 1280x720, 10 s each, over loopback. Prints a
# table and writes streamkit-report.html. Extra arguments go to the program
# (try --help, --scene camera, --loss 5 --loss-until 6).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
echo "streamkit: building streamkit-compare (release)"
cargo build --release --quiet -p streamkit-compare
exec target/release/streamkit-compare "$@"
