#!/usr/bin/env bash
# Glass-to-glass latency and loss of one codec round trip in one pipeline:
# framestamp before the encoder, framemeter after the decoder. framemeter
# posts a 'framemeter' message every second (shown by gst-launch -m) with
# frames new/missing/repeated/unreadable, fps and latency p50/p95/p99/max.
#   CODEC=x264 pipelines/measure-latency.sh      (jpeg, x264 or delta)
#   DELAY_MS=100 pipelines/measure-latency.sh    (adds a queue that holds
#                                                 each frame that long)
set -euo pipefail
source "$(dirname "$0")/_env.sh"
case "${CODEC:-jpeg}" in
    jpeg) CODING="jpegenc quality=50 ! jpegdec" ;;
    x264) CODING="x264enc tune=zerolatency ! avdec_h264" ;;
    delta) CODING="deltaenc mode=lossy ! deltadec" ;;
    *) echo "CODEC must be jpeg, x264 or delta" >&2; exit 2 ;;
esac
DELAY=""
if [[ -n "${DELAY_MS:-}" ]]; then
    # queue counts the newest frame's duration (20 ms at 50 fps) in its level
    DELAY="queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 \
        min-threshold-time=$(( (DELAY_MS + 20) * 1000000 )) !"
fi
# shellcheck disable=SC2086
exec gst-launch-1.0 -m -e \
    videotestsrc is-live=true pattern=smpte horizontal-speed=4 num-buffers="${FRAMES:-250}" \
    ! video/x-raw,format=I420,width=1280,height=720,framerate=50/1 \
    ! framestamp ! $CODING ! $DELAY framemeter interval=1000000000 ! fakesink sync=false \
    | grep --line-buffered -E "framemeter|ERROR|WARNING"
