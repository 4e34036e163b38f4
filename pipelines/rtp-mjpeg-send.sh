#!/usr/bin/env bash
# The interoperable full-frame reference: MJPEG over RTP (RFC 2435) with
# rtpbin: jpegenc ! rtpjpegpay ! rtpbin ! udpsink. Receive it with
# rtp-mjpeg-recv.sh, or with ffmpeg/ffplay and mjpeg.sdp:
#   ffplay -protocol_whitelist file,udp,rtp -i pipelines/mjpeg.sdp
# Variables (defaults): HOST=127.0.0.1 PORT=5010 WIDTH=640 HEIGHT=480 FPS=30
#   FRAMES=-1 QUALITY=85 MTU=1200 LOSS=0 (netsim drop probability)
# The RTP udpsink does not sync: the live source already paces the frames,
# and syncing would hold every packet for the pipeline's latency (about
# 70 ms more glass to glass through the relay, measured by relay-bench).
set -euo pipefail
PORT="${PORT:-5010}"
source "$(dirname "$0")/_rtp.sh"
# shellcheck disable=SC2046
exec gst-launch-1.0 -e \
    rtpbin name=rb \
    videotestsrc is-live=true pattern="${PATTERN:-ball}" num-buffers="$FRAMES" \
    ! video/x-raw,format=I420,width="$WIDTH",height="$HEIGHT",framerate="$FPS"/1 \
    ! jpegenc quality="${QUALITY:-85}" ! rtpjpegpay pt=26 mtu="${MTU:-1200}" ! rb.send_rtp_sink_0 \
    rb.send_rtp_src_0 $(netsim) ! udpsink host="$HOST" port="$RTP_PORT" sync=false \
    rb.send_rtcp_src_0 ! udpsink host="$HOST" port="$RTCP_TO_RECEIVER" sync=false async=false \
    udpsrc address="$HOST" port="$RTCP_TO_SENDER" ! rb.recv_rtcp_sink_0
