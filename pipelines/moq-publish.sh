#!/usr/bin/env bash
# Publishes a screen-like scene (a line of code on white, a small moving
# picture, a clock) as the changes-only stream to the relay moq-relay.sh
# runs: framestamp ! deltaenc ! moqsink, broadcast BROADCAST. Pair with
# moq-watch.sh. With CODEC=h264, H.264 instead (x264 zerolatency, a group
# per keyframe); with CODEC=both, both from the one source: the changes-only
# stream as BROADCAST and H.264 as BROADCAST-h264 (the browser viewer plays
# them side by side). FORMAT is the raw format the changes-only encoder
# takes: I420, or BGRx as a screen capture gives it. With CODEC=hls, no MoQ:
# this project's segment path instead, H.264 segments of 10 frames and a
# live playlist (live.m3u8) written into HLS_DIR, for hls.js in
# scripts/browser-bench.sh.
# Variables (defaults): BROADCAST=screen WIDTH=1280 HEIGHT=720 FPS=30
#   FORMAT=I420 HLS_DIR=/tmp/streamkit-hls FRAMES=-1 (forever) SNAPSHOT_MS=1000 HOLD=true (moqsink
#   hold-snapshots) CODEC=delta MOQ_PORT=4443 MOQ_DIR=/tmp/streamkit-moq
set -euo pipefail
source "$(dirname "$0")/_env.sh"
WIDTH="${WIDTH:-1280}" HEIGHT="${HEIGHT:-720}" FPS="${FPS:-30}"
fp="$(cat "$MOQ_DIR/fingerprint" 2>/dev/null)" || [[ "${CODEC:-}" == hls ]] || {
    echo "moq-publish: no relay fingerprint in $MOQ_DIR: start pipelines/moq-relay.sh first" >&2
    exit 1
}
text="let frame = tiles.iter().filter(changed); encode(frame, out); // send only what changed"
broadcast="${BROADCAST:-screen}"
sink="moqsink url=$MOQ_URL fingerprint=$fp"
delta="deltaenc intra-refresh=0 ! $sink broadcast=$broadcast
    snapshot-interval=$((${SNAPSHOT_MS:-1000} * 1000000)) hold-snapshots=${HOLD:-true}"
h264="videoconvert ! video/x-raw,format=I420
    ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=$((FPS * 2)) ! h264parse
    ! video/x-h264,stream-format=byte-stream,alignment=au"
case "${CODEC:-delta}" in
    delta) out="$delta" ;;
    h264) out="$h264 ! $sink broadcast=$broadcast" ;;
    both) out="tee name=t t. ! queue ! $delta t. ! queue ! $h264 ! $sink broadcast=$broadcast-h264" ;;
    hls)
        hls="${HLS_DIR:-/tmp/streamkit-hls}"
        mkdir -p "$hls"
        out="videoconvert ! video/x-raw,format=I420
            ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! h264parse config-interval=-1
            ! segmentpackager frames-per-segment=10
            ! hlssegmentsink location=$hls/seg%05d.ts playlist-location=$hls/live.m3u8
              playlist-length=6 max-files=12 target-duration=1" ;;
    *) echo "moq-publish: CODEC is delta, h264, both or hls" >&2; exit 1 ;;
esac
caps="video/x-raw,format=${FORMAT:-I420},width=$WIDTH,height=$HEIGHT,framerate=$FPS/1"
# shellcheck disable=SC2086  # $out is several words on purpose
exec gst-launch-1.0 -e \
    compositor name=mix background=white sink_1::xpos=$((WIDTH * 2 / 3)) sink_1::ypos=$((HEIGHT / 3)) \
    ! "$caps" ! timeoverlay halignment=right valignment=bottom font-desc="Monospace 20" \
    ! framestamp ! $out \
    videotestsrc is-live=true pattern=white num-buffers="${FRAMES:--1}" ! "$caps" \
    ! textoverlay text="$text" halignment=left valignment=top xpad=$((WIDTH / 8)) ypad=24 \
      font-desc="Monospace $((HEIGHT / 40))" color=0xff202020 shaded-background=false \
      draw-shadow=false draw-outline=false \
    ! mix.sink_0 \
    videotestsrc is-live=true pattern=ball num-buffers="${FRAMES:--1}" \
    ! video/x-raw,format=I420,width=$((WIDTH / 5 / 2 * 2)),height=$((HEIGHT / 5 / 2 * 2)),framerate="$FPS"/1 \
    ! mix.sink_1
