#!/usr/bin/env bash
# Changes-only round trip in one pipeline, shown on screen (or counted by
# fakesink with DISPLAY unset): deltaenc ! deltadec.
#   MODE=lossy QUALITY=60 pipelines/delta-roundtrip.sh
set -euo pipefail
source "$(dirname "$0")/_env.sh"
MODE="${MODE:-lossless}"
QUALITY="${QUALITY:-75}"
SINK="autovideosink"
[[ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]] && SINK="fakesink"
exec gst-launch-1.0 -e \
    videotestsrc pattern=ball num-buffers="${FRAMES:-300}" \
    ! video/x-raw,format=BGRx,width=1280,height=720,framerate=30/1 \
    ! deltaenc mode="$MODE" quality="$QUALITY" intra-refresh=30 \
    ! deltadec ! videoconvert ! "$SINK"
