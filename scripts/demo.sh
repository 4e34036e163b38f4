#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs the strategy demo on
# built-in content, printing what it did.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
echo "streamkit: building (release)"
cargo build --release --quiet --examples
exec target/release/examples/delta-demo "$@"
