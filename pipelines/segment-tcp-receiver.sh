#!/usr/bin/env bash
# Video-segment strategy over one persistent TCP connection: the receiver.
# Connects to pipelines/segment-tcp-sender.sh (start that first) and decodes.
#
# usage: pipelines/segment-tcp-receiver.sh [PORT]
# SINK=fakesink picks another video sink (default: autovideosink); the frame
# count is printed through fpsdisplaysink. CODEC=h265 for an H.265 sender.
set -euo pipefail
source "$(dirname "$0")/_env.sh"
PORT="${1:-5000}"
SINK="${SINK:-autovideosink}"
case "${CODEC:-h264}" in
    h264) DEC="h264parse ! avdec_h264" ;;
    h265) DEC="h265parse ! avdec_h265" ;;
    *) echo "CODEC must be h264 or h265" >&2; exit 2 ;;
esac

echo "segment receiver: tcp://127.0.0.1:${PORT} (Ctrl-C to stop)"
exec gst-launch-1.0 -e \
    tcpclientsrc host=127.0.0.1 port="$PORT" ! \
    tsdemux ! $DEC ! videoconvert ! \
    fpsdisplaysink video-sink="$SINK" text-overlay=false sync=false -v
