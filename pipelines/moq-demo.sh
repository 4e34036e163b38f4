#!/usr/bin/env bash
# One origin, one MoQ relay, two viewers joining a second apart, for about
# 6 seconds, all on this machine (moq-relay.sh, moq-publish.sh and
# moq-watch.sh together, in a scratch MOQ_DIR): each viewer's first picture
# is built from the relay's latest snapshot and the frames since, and
# framemeter prints what each saw (frames-new: pictures shown; latency).
# Variables (defaults): MOQ_PORT=4443
set -euo pipefail
dir="$(dirname "$0")"
source "$dir/_env.sh"
# Built before anything starts: the waits below are for start-up, not builds.
moq_relay_bin >/dev/null
export MOQ_DIR
MOQ_DIR="$(mktemp -d /tmp/streamkit-moq-demo.XXXXXX)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$MOQ_DIR"' EXIT
LOG_LEVEL=error "$dir/moq-relay.sh" >/dev/null &
pids+=($!)
for _ in $(seq 100); do
    [[ -s "$MOQ_DIR/fingerprint" ]] && break
    sleep 0.1
done
WIDTH=640 HEIGHT=360 FRAMES=210 "$dir/moq-publish.sh" >/dev/null &
pids+=($!)
sleep 1
FRAMES=90 "$dir/moq-watch.sh" | grep --line-buffered EOS -B1 | sed 's/^/viewer 1: /' &
pids+=($!)
sleep 1
FRAMES=60 "$dir/moq-watch.sh" | grep --line-buffered EOS -B1 | sed 's/^/viewer 2: /'
wait "${pids[2]}"
