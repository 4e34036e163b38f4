#!/usr/bin/env bash
# Video-segment strategy as live HLS: writes 1-second segments and a sliding
# playlist into DIR and serves DIR over HTTP on 127.0.0.1 while it runs.
#
# usage: pipelines/segment-hls.sh [DIR] [HTTP_PORT]
# play:  ffplay http://127.0.0.1:8080/live.m3u8   (or any HLS player)
set -euo pipefail
source "$(dirname "$0")/_env.sh"
DIR="${1:-/tmp/streamkit-hls}"
PORT="${2:-8080}"

mkdir -p "$DIR"
python3 -m http.server --bind 127.0.0.1 --directory "$DIR" "$PORT" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

echo "segment hls: writing $DIR, playlist at http://127.0.0.1:${PORT}/live.m3u8 (Ctrl-C to stop)"
gst-launch-1.0 -e \
    videotestsrc is-live=true pattern=ball ! \
    video/x-raw,width=640,height=360,framerate=30/1 ! timeoverlay ! \
    x264enc tune=zerolatency speed-preset=ultrafast bitrate=1500 ! video/x-h264,profile=main ! \
    segmentpackager frames-per-segment=30 ! \
    hlssegmentsink location="$DIR/seg%05d.ts" playlist-location="$DIR/live.m3u8" \
        playlist-length=6 max-files=12 target-duration=1
