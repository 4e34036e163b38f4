#!/usr/bin/env bash
# The 10-minute soak of the changes-only stream (tests/soak.rs): real UDP on
# 127.0.0.1 through netsim with 5% loss, reordering and duplicates, two
# resolution changes and a receiver restart. Passes when the output is
# bit-exact one refresh period after the loss stops and resident memory at
# the end is within 5 MB of its value after the first minute.
#   scripts/soak.sh [SECONDS]     (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export G_DEBUG=fatal_warnings
STREAMKIT_SOAK_SECONDS="${1:-600}" exec cargo test --test soak ten_minute_soak -- --ignored --nocapture
