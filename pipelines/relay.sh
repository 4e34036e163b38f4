#!/usr/bin/env bash
# The relay: receives one changes-only stream and serves it to any number of
# RTSP viewers (docs/relay.md). A viewer that joins gets a whole picture made
# from the relay's state at once; the sender never hears of it.
#   pipelines/rtp-delta-send.sh &        the sender (RTP/UDP + RTCP, port 5000)
#   pipelines/relay.sh                   this: rtsp://127.0.0.1:8554/delta
#   pipelines/relay-viewer.sh            a viewer (run as many as you like)
# A cascade: INPUT=rtsp://127.0.0.1:8554/delta RTSP_PORT=8555 pipelines/relay.sh
# Variables (defaults): INPUT=udp://127.0.0.1:5000 RTSP_PORT=8554
# MOUNT=/delta STATS=5 (seconds between counter lines; 0: none)
set -euo pipefail
source "$(dirname "$0")/_env.sh"
exec "$(relay_bin)" \
    --input "${INPUT:-udp://127.0.0.1:5000}" \
    --port "${RTSP_PORT:-8554}" --mount "${MOUNT:-/delta}" \
    --stats-interval "${STATS:-5}"
