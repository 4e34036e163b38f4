#!/usr/bin/env bash
# Publishes a screen-like scene (a line of code on white, a small moving
# picture, a clock) as the changes-only stream to the relay moq-relay.sh
# runs: framestamp ! deltaenc ! moqsink, broadcast BROADCAST. Pair with
# moq-watch.sh. With CODEC=h264, H.264 instead (x264 zerolatency, a group
# per keyframe).
# Variables (defaults): BROADCAST=screen WIDTH=1280 HEIGHT=720 FPS=30
#   FRAMES=-1 (forever) SNAPSHOT_MS=1000 HOLD=true (moqsink hold-snapshots)
#   CODEC=delta MOQ_PORT=4443 MOQ_DIR=/tmp/streamkit-moq
set -euo pipefail
source "$(dirname "$0")/_env.sh"
WIDTH="${WIDTH:-1280}" HEIGHT="${HEIGHT:-720}" FPS="${FPS:-30}"
fp="$(cat "$MOQ_DIR/fingerprint" 2>/dev/null)" || {
    echo "moq-publish: no relay fingerprint in $MOQ_DIR: start pipelines/moq-relay.sh first" >&2
    exit 1
}
text="let frame = tiles.iter().filter(changed); encode(frame, out); // send only what changed"
case "${CODEC:-delta}" in
    delta) enc="deltaenc intra-refresh=0" ;;
    h264) enc="x264enc tune=zerolatency speed-preset=ultrafast key-int-max=$((FPS * 2)) ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au" ;;
    *) echo "moq-publish: CODEC is delta or h264" >&2; exit 1 ;;
esac
caps="video/x-raw,format=I420,width=$WIDTH,height=$HEIGHT,framerate=$FPS/1"
# shellcheck disable=SC2086  # $enc is several words on purpose
exec gst-launch-1.0 -e \
    compositor name=mix background=white sink_1::xpos=$((WIDTH * 2 / 3)) sink_1::ypos=$((HEIGHT / 3)) \
    ! "$caps" ! timeoverlay halignment=right valignment=bottom font-desc="Monospace 20" \
    ! framestamp ! $enc \
    ! moqsink url="$MOQ_URL" broadcast="${BROADCAST:-screen}" fingerprint="$fp" \
      snapshot-interval=$((${SNAPSHOT_MS:-1000} * 1000000)) hold-snapshots="${HOLD:-true}" \
    videotestsrc is-live=true pattern=white num-buffers="${FRAMES:--1}" ! "$caps" \
    ! textoverlay text="$text" halignment=left valignment=top xpad=$((WIDTH / 8)) ypad=24 \
      font-desc="Monospace $((HEIGHT / 40))" color=0xff202020 shaded-background=false \
      draw-shadow=false draw-outline=false \
    ! mix.sink_0 \
    videotestsrc is-live=true pattern=ball num-buffers="${FRAMES:--1}" \
    ! video/x-raw,format=I420,width=$((WIDTH / 5 / 2 * 2)),height=$((HEIGHT / 5 / 2 * 2)),framerate="$FPS"/1 \
    ! mix.sink_1
