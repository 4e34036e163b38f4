#!/usr/bin/env bash
# The README's browser command tried as a new user would, by a machine:
# runs pipelines/browser-demo.sh, takes the URL it prints, opens it in
# headless Chromium for SECONDS, and prints what the page reported
# (pictures painted, time to the first whole picture, H.264 pictures,
# errors). Exits 1 when the page painted nothing or reported an error.
# The test suite runs it (scripts/test.sh); tests/browser.rs checks the
# same page bit-exact against deltadec.
# Variables (defaults): SECONDS_OPEN=12
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d /tmp/streamkit-browser-check.XXXXXX)"
demo=""
trap '[[ -n "$demo" ]] && kill "$demo" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
read -r web_port moq_port < <(python3 -c '
import socket
t = socket.socket(); t.bind(("127.0.0.1", 0))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
print(t.getsockname()[1], u.getsockname()[1])')
WEB_PORT="$web_port" MOQ_PORT="$moq_port" REPORTS="$work/reports.jsonl" DURATION=120 \
    pipelines/browser-demo.sh >"$work/demo.log" 2>&1 &
demo=$!
url=""
for _ in $(seq 1800); do
    url="$(grep -o 'http://127.0.0.1:[0-9]*/' "$work/demo.log" | head -1 || true)"
    [[ -n "$url" ]] && break
    kill -0 "$demo" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$url" ]]; then
    echo "browser-check: the demo printed no URL:" >&2
    cat "$work/demo.log" >&2
    exit 1
fi
echo "browser-check: the demo says: $(grep -m1 'open http' "$work/demo.log")"
chromium="$(command -v chromium || command -v chromium-browser)"
timeout -s TERM "${SECONDS_OPEN:-12}" "$chromium" --headless=new --no-sandbox --disable-gpu \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" "${url}?report=/report" >/dev/null 2>&1 || true
python3 - "$work/reports.jsonl" <<'PY'
import json, sys
try:
    rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
except FileNotFoundError:
    rows = []
if not rows:
    sys.exit("browser-check: the page never reported")
last = rows[-1]
errors = [r["err"] for r in rows if r.get("err")]
frames, h264 = int(last.get("frames") or 0), int(last.get("h264frames") or 0)
print(f"browser-check: painted {frames} changes-only pictures (first whole picture "
      f"{last.get('join') or '-'} ms after the session opened), {h264} H.264 pictures")
if errors:
    sys.exit(f"browser-check: the page reported errors: {errors[:3]}")
if frames == 0 or h264 == 0 or not last.get("join"):
    sys.exit("browser-check: the page did not play both streams")
PY
