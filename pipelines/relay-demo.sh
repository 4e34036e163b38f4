#!/usr/bin/env bash
# One sender, one relay, two viewers that join a second apart (one over UDP,
# one over TCP), for about 6 seconds; prints the relay's counters: each
# viewer's first frame was a picture made from the relay's state
# (pictures_served=2) and the sender was never asked for a keyframe
# (upstream_keyframe_requests=0). Each viewer says how many frames it
# decoded; the recipe fails if one did not get them all.
# Variables (defaults): PORT=5700 (RTP; RTCP on PORT+1 and PORT+5)
# RTSP_PORT=8754
set -euo pipefail
dir="$(dirname "$0")"
source "$dir/_env.sh"
PORT="${PORT:-5700}"
RTSP_PORT="${RTSP_PORT:-8754}"
relay="$(relay_bin)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
PORT="$PORT" WIDTH=640 HEIGHT=360 FRAMES=210 "$dir/rtp-delta-send.sh" >/dev/null &
pids+=($!)
"$relay" --input "udp://127.0.0.1:$PORT" --port "$RTSP_PORT" --stats-interval 1 &
pids+=($!)
relay_pid=$!
sleep 1
url="rtsp://127.0.0.1:$RTSP_PORT/delta"
# A viewer: "viewer NAME: N frames" once its N frames have arrived and
# decoded. rtspsrc can report an error while closing a session the server
# has already dropped (its PAUSE or TEARDOWN finds the connection closed);
# after the frames that is noted, not a failure. Anything else fails.
view() {
    local name="$1" protocol="$2" frames="$3" log status=0
    log="$(mktemp)"
    gst-launch-1.0 rtspsrc location="$url" latency=0 protocols="$protocol" \
        ! rtpdeltadepay ! deltadec ! fakesink num-buffers="$frames" >"$log" 2>&1 ||
        status=$?
    if ! grep -q "Got EOS from element" "$log"; then
        echo "viewer $name: FAILED (exit $status) before its $frames frames:"
        cat "$log"
        rm -f "$log"
        return 1
    fi
    echo "viewer $name: $frames frames"
    if [[ $status -ne 0 ]]; then
        echo "viewer $name: rtspsrc reported an error while closing (exit $status):"
        grep -A3 "^ERROR" "$log" || true
    fi
    rm -f "$log"
}
view "1 (UDP)" udp 90 &
pids+=($!)
sleep 1
view "2 (TCP)" tcp 60
wait "${pids[2]}"
sleep 1
kill "$relay_pid"
wait "$relay_pid" 2>/dev/null || true
