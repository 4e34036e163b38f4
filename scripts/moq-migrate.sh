#!/usr/bin/env bash
# What QUIC's connection migration does for a MoQ viewer whose address
# changes mid-stream (docs/quic.md, "A viewer that changes address"): on
# side A of streamkit-linkem, moq-relay and the screen-like origin; on side
# B, a viewer (moqsrc ! deltadec ! framemeter) that, MOVE_AT seconds in,
# takes a new address (198.18.0.3) and gives up its old one (198.18.0.2)
# without closing anything, as a laptop moving from one network to another
# does. The relay sees the same QUIC connection arrive from a new address.
# framemeter's last report says whether the picture went on (frames-new of
# FRAMES, frames-missing) and how long the longest stall was; MOVE=0 runs
# the same without the move, for comparison.
# The addresses exist only inside the link emulator's namespaces.
# Variables (defaults): RTT=50 (ms) LOSS=0 FRAMES=300 MOVE_AT=4 (s) MOVE=1
#   WIDTH=1280 HEIGHT=720 STREAMKIT_PROFILE=release
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)"
source "$dir/pipelines/_env.sh"
RTT="${RTT:-50}" LOSS="${LOSS:-0}" FRAMES="${FRAMES:-300}" MOVE_AT="${MOVE_AT:-4}" MOVE="${MOVE:-1}"
linkem="$(linkem_bin)"
source "$dir/scripts/_moq-link.sh"
# Side A: replies to the viewer's new address go back over the link too.
moq_link_side_a "$work/a.sh" "ip route add 198.18.0.3/32 dev linkem0"
# Side B: the viewer, and the move.
cat >"$work/b.sh" <<B
set -u
$(moq_link_wait_relay)
sleep 2
FRAMES=$FRAMES "$dir/pipelines/moq-watch.sh" >"$work/viewer.log" 2>&1 &
viewer=\$!
if [[ "$MOVE" == 1 ]]; then
    sleep "$MOVE_AT"
    ip addr add 198.18.0.3/32 dev linkem0
    ip addr del 198.18.0.2 peer 198.18.0.1 dev linkem0
    ip route replace 198.18.0.1/32 dev linkem0 src 198.18.0.3
    echo "moved to 198.18.0.3 at \$(date +%T.%N)" >"$work/moved"
fi
wait \$viewer
touch "$work/done"
B
echo "moq-migrate: ${FRAMES} frames across a ${RTT} ms round trip, ${LOSS}% loss; the viewer moves: $MOVE (at ${MOVE_AT} s)"
"$linkem" --rtt "$RTT" --loss "$LOSS" --a "bash $work/a.sh" --b "bash $work/b.sh"
cat "$work/moved" 2>/dev/null || true
grep -E "ERROR|WARNING" "$work/viewer.log" | head -5 || true
grep framemeter "$work/viewer.log" | tail -1 |
    grep -oE "frames-(received|new|missing)=\([a-z0-9]+\)[0-9]+|longest-(gap|stall)=\([a-z0-9]+\)[0-9]+|latency-p(50|95)=\([a-z0-9]+\)[0-9]+" |
    sed 's/([a-z0-9]*)//' | tr '\n' ' '
echo
echo "relay said (last lines):"
grep -v "moq-relay: " "$work/relay.log" | sed "s/\x1b\[[0-9;]*m//g" | tail -"${RELAY_LINES:-5}"
