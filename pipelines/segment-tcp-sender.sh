#!/usr/bin/env bash
# Video-segment strategy over one persistent TCP connection: the sender.
# Encodes a live test picture with x264 and sends 10-frame MPEG-TS segments
# (one buffer each) to every client of a TCP server on 127.0.0.1. A client that
# connects mid-stream starts at a whole segment.
#
# usage: pipelines/segment-tcp-sender.sh [PORT] [FRAMES_PER_SEGMENT]
# then:  pipelines/segment-tcp-receiver.sh [PORT]
# CODEC=h265 sends H.265 (x265enc) instead of H.264; give the receiver the same.
set -euo pipefail
source "$(dirname "$0")/_env.sh"
PORT="${1:-5000}"
FRAMES="${2:-10}"
case "${CODEC:-h264}" in
    h264) ENC="x264enc tune=zerolatency speed-preset=ultrafast bitrate=1500" ;;
    h265) ENC="x265enc tune=zerolatency speed-preset=ultrafast bitrate=1000" ;;
    *) echo "CODEC must be h264 or h265" >&2; exit 2 ;;
esac

echo "segment sender: ${CODEC:-h264}, ${FRAMES}-frame segments on tcp://127.0.0.1:${PORT} (Ctrl-C to stop)"
exec gst-launch-1.0 -e \
    videotestsrc is-live=true pattern=ball ! \
    video/x-raw,width=640,height=360,framerate=30/1 ! timeoverlay ! \
    $ENC ! \
    segmentpackager frames-per-segment="$FRAMES" ! \
    tcpserversink host=127.0.0.1 port="$PORT" sync-method=latest-keyframe
