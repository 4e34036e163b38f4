#!/usr/bin/env bash
# Watches a broadcast at the relay moq-relay.sh runs: moqsrc ! deltadec
# (or, with CODEC=h264, h264parse ! avdec_h264) ! framemeter, shown in a
# window (or, with FRAMES=n, into fakesink, stopping after n pictures).
# framemeter prints latency, loss and freezes every second (the stamps
# moq-publish.sh puts in the picture; both ends on this machine's clock).
# Variables (defaults): BROADCAST=screen CODEC=delta LATENCY_MS=100
#   FRAMES=-1 (a window, forever) MOQ_PORT=4443 MOQ_DIR=/tmp/streamkit-moq
set -euo pipefail
source "$(dirname "$0")/_env.sh"
fp="$(cat "$MOQ_DIR/fingerprint" 2>/dev/null)" || {
    echo "moq-watch: no relay fingerprint in $MOQ_DIR: start pipelines/moq-relay.sh first" >&2
    exit 1
}
case "${CODEC:-delta}" in
    delta) dec="deltadec" ;;
    h264) dec="h264parse ! avdec_h264" ;;
    *) echo "moq-watch: CODEC is delta or h264" >&2; exit 1 ;;
esac
if [[ "${FRAMES:--1}" == -1 ]]; then
    sink="videoconvert ! autovideosink"
else
    sink="fakesink num-buffers=$FRAMES"
fi
# shellcheck disable=SC2086  # $dec and $sink are several words on purpose
gst-launch-1.0 -e -m \
    moqsrc url="$MOQ_URL" broadcast="${BROADCAST:-screen}" fingerprint="$fp" \
      latency=$((${LATENCY_MS:-100} * 1000000)) \
    ! $dec ! framemeter interval=1000000000 ! $sink 2>&1 |
    grep --line-buffered -E "framemeter|ERROR|WARNING|EOS"
