#!/usr/bin/env bash
# One sender, one relay, two viewers that join a second apart (one over UDP,
# one over TCP), for about 6 seconds; prints the relay's counters: each
# viewer's first frame was a picture made from the relay's state
# (pictures_served=2) and the sender was never asked for a keyframe
# (upstream_keyframe_requests=0).
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
gst-launch-1.0 -q rtspsrc location="$url" latency=0 protocols=udp \
    ! rtpdeltadepay ! deltadec ! fakesink num-buffers=90 &
pids+=($!)
sleep 1
gst-launch-1.0 -q rtspsrc location="$url" latency=0 protocols=tcp \
    ! rtpdeltadepay ! deltadec ! fakesink num-buffers=60
wait "${pids[2]}"
sleep 1
kill "$relay_pid"
wait "$relay_pid" 2>/dev/null || true
