#!/usr/bin/env bash
# Video-segment strategy over one persistent TCP connection: the receiver.
# Connects to pipelines/segment-tcp-sender.sh (start that first) and decodes.
#
# usage: pipelines/segment-tcp-receiver.sh [PORT]
# SINK=fakesink picks another video sink (default: autovideosink); with
# SINK=fakesink the frame count is printed through fpsdisplaysink.
set -euo pipefail
source "$(dirname "$0")/_env.sh"
PORT="${1:-5000}"
SINK="${SINK:-autovideosink}"

echo "segment receiver: tcp://127.0.0.1:${PORT} (Ctrl-C to stop)"
exec gst-launch-1.0 -e \
    tcpclientsrc host=127.0.0.1 port="$PORT" ! \
    tsdemux ! h264parse ! avdec_h264 ! videoconvert ! \
    fpsdisplaysink video-sink="$SINK" text-overlay=false sync=false -v
