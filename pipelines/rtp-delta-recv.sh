#!/usr/bin/env bash
# Receives rtp-delta-send.sh: rtpbin (jitterbuffer, RTCP receiver reports and
# PLI keyframe requests back to the sender) ! rtpdeltadepay ! deltadec.
# Variables (defaults): HOST=127.0.0.1 PORT=5000 LATENCY=50 (ms)
# Logs the depayloader's counters (packets, frames-with-loss, keyframe
# requests, ...) when stopped with Ctrl-C.
set -euo pipefail
source "$(dirname "$0")/_env.sh"
PORT="${PORT:-5000}"
source "$(dirname "$0")/_rtp.sh"
export GST_DEBUG="${GST_DEBUG:-rtpdeltadepay:4}"
CAPS="application/x-rtp,media=video,clock-rate=90000,encoding-name=X-STREAMKIT-DELTA,payload=96,rtcp-fb-nack-pli=(boolean)true"
# shellcheck disable=SC2046
exec gst-launch-1.0 -e \
    rtpbin name=rb rtp-profile=avpf latency="$LATENCY" \
    udpsrc address="$HOST" port="$RTP_PORT" caps="$CAPS" ! rb.recv_rtp_sink_0 \
    udpsrc address="$HOST" port="$RTCP_TO_RECEIVER" ! rb.recv_rtcp_sink_0 \
    rb.send_rtcp_src_0 ! udpsink host="$HOST" port="$RTCP_TO_SENDER" sync=false async=false \
    rb. ! rtpdeltadepay name=depay ! deltadec name=dec ! $(video_sink)
