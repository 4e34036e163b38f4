#!/usr/bin/env bash
# Receives rtp-mjpeg-send.sh: rtpbin ! rtpjpegdepay ! jpegdec. A lost packet
# loses its frame; nothing waits for it.
# Variables (defaults): HOST=127.0.0.1 PORT=5010 LATENCY=50 (ms)
set -euo pipefail
PORT="${PORT:-5010}"
source "$(dirname "$0")/_rtp.sh"
CAPS="application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26"
# shellcheck disable=SC2046
exec gst-launch-1.0 -e \
    rtpbin name=rb latency="$LATENCY" \
    udpsrc address="$HOST" port="$RTP_PORT" caps="$CAPS" ! rb.recv_rtp_sink_0 \
    udpsrc address="$HOST" port="$RTCP_TO_RECEIVER" ! rb.recv_rtcp_sink_0 \
    rb.send_rtcp_src_0 ! udpsink host="$HOST" port="$RTCP_TO_SENDER" sync=false async=false \
    rb. ! rtpjpegdepay ! jpegdec ! $(video_sink)
