#!/usr/bin/env bash
# A viewer of pipelines/relay.sh: a standard RTSP client (rtspsrc) with no
# jitter-buffer delay (its default 2000 ms would hide everything), the
# depayloader and the decoder. Shown on screen, or counted by fakesink with
# DISPLAY unset.
# Variables (defaults): URL=rtsp://127.0.0.1:8554/delta PROTOCOLS=udp (or
# tcp: RTP interleaved in the RTSP connection) FRAMES=-1 (all)
set -euo pipefail
source "$(dirname "$0")/_env.sh"
SINK="videoconvert ! autovideosink sync=false"
[[ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]] && SINK="fakesink sync=false"
exec gst-launch-1.0 -e \
    rtspsrc location="${URL:-rtsp://127.0.0.1:8554/delta}" latency=0 \
        protocols="${PROTOCOLS:-udp}" \
    ! rtpdeltadepay ! deltadec ! $SINK num-buffers="${FRAMES:--1}"
