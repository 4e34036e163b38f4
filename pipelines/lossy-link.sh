#!/usr/bin/env bash
# The changes-only stream across the link emulator (docs/linkem.md): a
# gst-launch sender on side A, a receiver on side B, real UDP between them
# with the loss and round trip set here. framemeter prints what arrived when
# the receiver stops: latency, frames new, missing, frozen and unreadable
# (damaged); the link prints what it lost. Needs root (network namespaces).
# Variables (defaults): LOSS=5 (%), OUTAGE_MS= (losses as outages of this
# mean duration, LOSS the share of the time out; unset: each packet lost on
# its own), RTT=50 (ms), DURATION=6 (s), REFRESH=30 (intra-refresh, frames)
set -euo pipefail
source "$(dirname "$0")/_env.sh"
linkem="$(linkem_bin)"
LOSS="${LOSS:-5}"
RTT="${RTT:-50}"
DURATION="${DURATION:-6}"
REFRESH="${REFRESH:-30}"
CAPS="application/x-rtp,media=video,clock-rate=90000,encoding-name=X-STREAMKIT-DELTA,payload=96"
# The receiver is stopped with SIGINT two seconds after the sender's last
# frame; -e turns that into EOS, and framemeter posts its totals.
# --foreground: timeout signals gst-launch once; otherwise it signals its
# process group too, and a second SIGINT that comes after gst-launch has
# handled the first kills it (status 130: seen once under load).
receiver="timeout --foreground --preserve-status -s INT $((DURATION + 2)) gst-launch-1.0 -e -m \
    udpsrc address=\$LINKEM_ADDR_B port=5004 caps=\"$CAPS\" \
    ! rtpdeltadepay ! deltadec ! videoconvert ! framemeter interval=0 ! fakesink"
sender="gst-launch-1.0 -q videotestsrc is-live=true pattern=ball num-buffers=$((DURATION * 30)) \
    ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! framestamp \
    ! deltaenc intra-refresh=$REFRESH ! rtpdeltapay ! udpsink host=\$LINKEM_ADDR_B port=5004 sync=false"
exec "$linkem" --loss "$LOSS" ${OUTAGE_MS:+--outage-ms "$OUTAGE_MS"} --rtt "$RTT" \
    --b "$receiver" --a "sleep 0.5; $sender"
