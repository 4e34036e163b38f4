#!/usr/bin/env bash
# Changes-only (or, with KEYFRAMES_ONLY=1, full-frame) video over RTP with
# rtpbin, RTCP in both directions: deltaenc ! rtpdeltapay ! rtpbin ! udpsink.
# Pair with rtp-delta-recv.sh. Variables (defaults):
#   HOST=127.0.0.1 PORT=5000 WIDTH=640 HEIGHT=480 FPS=30 FRAMES=-1 MTU=1200
#   INTRA_REFRESH=30   every tile re-sent within this many frames (0 = off)
#   KEYFRAMES_ONLY=0   1: every frame a keyframe (the full-frame strategy)
#   LOSS=0             netsim drop probability on the way out, e.g. 0.05
#   PATTERN=ball       videotestsrc pattern
# The RTP udpsink does not sync: the live source already paces the frames,
# and syncing would hold every packet for the pipeline's latency (about
# 70 ms more glass to glass through the relay, measured by relay-bench).
set -euo pipefail
source "$(dirname "$0")/_env.sh"
PORT="${PORT:-5000}"
source "$(dirname "$0")/_rtp.sh"
ENC="deltaenc tile-size=${TILE_SIZE:-32} intra-refresh=${INTRA_REFRESH:-30}"
if [[ "${KEYFRAMES_ONLY:-0}" == 1 ]]; then
    ENC="deltaenc tile-size=${TILE_SIZE:-32} intra-refresh=0 key-int-max=1"
fi
# shellcheck disable=SC2046  # netsim expands to several words on purpose
exec gst-launch-1.0 -e \
    rtpbin name=rb rtp-profile=avpf \
    videotestsrc is-live=true pattern="${PATTERN:-ball}" num-buffers="$FRAMES" \
    ! video/x-raw,format=I420,width="$WIDTH",height="$HEIGHT",framerate="$FPS"/1 \
    ! $ENC ! rtpdeltapay mtu="${MTU:-1200}" ! rb.send_rtp_sink_0 \
    rb.send_rtp_src_0 $(netsim) ! udpsink host="$HOST" port="$RTP_PORT" sync=false \
    rb.send_rtcp_src_0 ! udpsink host="$HOST" port="$RTCP_TO_RECEIVER" sync=false async=false \
    udpsrc address="$HOST" port="$RTCP_TO_SENDER" ! rb.recv_rtcp_sink_0
