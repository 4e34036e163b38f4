#!/usr/bin/env bash
# The browser viewer, all on this machine: a MoQ relay (moq-relay.sh), a
# sender publishing the screen scene as the changes-only stream and as
# H.264 from one source (moq-publish.sh, CODEC=both, BGRx), and a static
# web server for the page (web/dist, built by scripts/web.sh); prints the
# URL to open in Chromium. The page pins the relay's certificate by its
# SHA-256 (WebTransport's serverCertificateHashes), so no CA is involved.
# Runs until Ctrl-C, or DURATION seconds.
# Who may watch: only this machine. Everything listens on 127.0.0.1; the
# relay lets anyone who reaches it publish and watch (moq-relay.sh).
# Variables (defaults): WEB_PORT=8080 MOQ_PORT=4443 WIDTH=1280 HEIGHT=720
#   FPS=30 DURATION= (forever) REPORTS= (a file: what pages opened with
#   ?report=/report measured, as JSON lines; tests/browser.rs reads it)
set -euo pipefail
dir="$(dirname "$0")"
repo="$(cd "$dir/.." && pwd)"
source "$dir/_env.sh"
WEB_PORT="${WEB_PORT:-8080}"
moq_relay_bin >/dev/null
"$repo/scripts/web.sh" >/dev/null
export MOQ_DIR
MOQ_DIR="$(mktemp -d /tmp/streamkit-browser-demo.XXXXXX)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$MOQ_DIR"' EXIT
LOG_LEVEL=error "$dir/moq-relay.sh" >/dev/null &
pids+=($!)
# (moq-relay.sh may first bring the plugin up to date: wait while it runs)
while [[ ! -s "$MOQ_DIR/fingerprint" ]] && kill -0 "${pids[0]}" 2>/dev/null; do
    sleep 0.1
done
[[ -s "$MOQ_DIR/fingerprint" ]] || { echo "browser-demo: the relay did not start" >&2; exit 1; }
CODEC=both FORMAT=BGRx "$dir/moq-publish.sh" >"$MOQ_DIR/publish.log" 2>&1 &
pids+=($!)

# The page and what it needs to know: the relay, its certificate, and how
# the sender's stamps (the host's monotonic clock) map to the page's clock.
site="$MOQ_DIR/site"
mkdir -p "$site"
cp "$repo"/web/dist/{index.html,streamkit.js,streamkit.wasm,warm.obj,viewer.bundle.js} "$site/"
offset="$(python3 -c 'import time; print(time.monotonic_ns() - time.time_ns())')"
cat >"$site/config.json" <<JSON
{"relay": "$MOQ_URL", "fp": "$(cat "$MOQ_DIR/fingerprint")", "name": "screen",
 "h264": "screen-h264", "offset": "$offset"}
JSON
"$repo/scripts/web-serve.py" --port "$WEB_PORT" --dir "$site" ${REPORTS:+--reports "$REPORTS"} \
    >"$MOQ_DIR/web.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $WEB_PORT), 1)" 2>/dev/null && break
    sleep 0.1
done
echo "browser-demo: open http://127.0.0.1:$WEB_PORT/ in Chromium (changes-only and H.264, side by side)"
echo "browser-demo: relay $MOQ_URL, certificate SHA-256 $(cat "$MOQ_DIR/fingerprint")"
if [[ -n "${DURATION:-}" ]]; then
    sleep "$DURATION"
else
    echo "browser-demo: Ctrl-C stops it"
    wait "${pids[1]}"
fi
