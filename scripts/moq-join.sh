#!/usr/bin/env bash
# How long a MoQ viewer takes to its first whole picture across an emulated
# link (docs/quic.md, "Time to the first whole picture"): on side A of
# streamkit-linkem, moq-relay (pipelines/moq-relay.sh) and the screen-like
# origin (pipelines/moq-publish.sh); on side B, examples/moq-join joins
# JOINS times, one viewer at a time, each over a new QUIC connection, and
# prints the percentiles of moqsrc's connect-time, join-time and
# first-picture-time. The relay's address, 198.18.0.1, exists only inside
# the link emulator's namespaces. Ends with the origin's moqsink stats
# (snapshot-demands: how often the relay asked it for the snapshot track).
# Variables (defaults): RTT=50 (ms) LOSS=0 (percent) JOINS=20 WIDTH=1280
#   HEIGHT=720 SNAPSHOT_MS=1000 HOLD=true (moqsink hold-snapshots)
#   STREAMKIT_PROFILE=release
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)"
source "$dir/pipelines/_env.sh"
RTT="${RTT:-50}" LOSS="${LOSS:-0}" JOINS="${JOINS:-20}"
linkem="$(linkem_bin)"
moq_relay_bin >/dev/null
cargo build --profile "$_profile" --quiet --manifest-path "$_repo/Cargo.toml" --example moq-join
join_bin="$_repo/target/$_dir/examples/moq-join"
export SNAPSHOT_MS="${SNAPSHOT_MS:-1000}" HOLD="${HOLD:-true}"
source "$dir/scripts/_moq-link.sh"
moq_link_side_a "$work/a.sh"
# Side B: the joins, once the origin has run for 3 s.
cat >"$work/b.sh" <<B
set -u
$(moq_link_wait_relay)
sleep 3
"$join_bin" "$MOQ_LINK_URL" screen "\$(cat "$work/moq/fingerprint")" "$JOINS"
touch "$work/done"
B
echo "moq-join: $JOINS joins across a ${RTT} ms round trip, ${LOSS}% loss (${WIDTH}x${HEIGHT}, snapshot every ${SNAPSHOT_MS} ms, hold-snapshots=$HOLD)"
"$linkem" --rtt "$RTT" --loss "$LOSS" --a "bash $work/a.sh" --b "bash $work/b.sh"
grep -o "snapshots=[^;]*" "$work/origin.log" | tail -1 |
    sed 's/^/origin: /' || echo "origin: no stats in its log"
