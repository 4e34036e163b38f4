#!/usr/bin/env bash
# The browser viewer measured in headless Chromium (docs/browser.md,
# "Measured"), across streamkit-linkem: on side A (198.18.0.1) moq-relay
# and a sender publishing the screen scene as the changes-only stream and
# as H.264 from one source (pipelines/moq-publish.sh, CODEC=both, BGRx); on
# side B (198.18.0.2) the page's web server and Chromium. With HLS=1 a
# second sender on side A also writes this project's HLS (10-frame H.264
# segments, served over HTTP), which hls.js plays in a page of its own (a
# third encoder: on 2 cores it saturates the machine). Prints, for the
# changes-only stream (WebAssembly), H.264 (WebCodecs) and HLS: glass-to-glass
# latency from the stamp (capture on the sender to the picture painted in
# the page, both on this host's clocks), frames painted, decode time per
# frame, and each page's time from the session opening to the relay's
# snapshot shown (an exact picture of an older frame) and to its first whole
# picture of the newest frame; each page's memory (JS heap and WebAssembly)
# at a tenth of its run and at its end.
# Variables (defaults): HLS=0 H264=1 (0: the pages play the changes-only
#   stream alone) RTT=0 (ms) LOSS=0 (percent) DURATION=20 (s of
#   watching) PAGES=1 (pages open at once) JOINS=0 (then this many page
#   loads one after another, 4 s each, for join times) WIDTH=1280
#   HEIGHT=720 STREAMKIT_PROFILE=release
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)"
source "$dir/pipelines/_env.sh"
RTT="${RTT:-0}" LOSS="${LOSS:-0}" DURATION="${DURATION:-20}" PAGES="${PAGES:-1}" JOINS="${JOINS:-0}"
linkem="$(linkem_bin)"
moq_relay_bin >/dev/null
"$dir/scripts/web.sh" >/dev/null
chromium="$(command -v chromium || command -v chromium-browser)" || {
    echo "browser-bench: chromium missing: STREAMKIT_WITH_BROWSER=1 scripts/deps.sh" >&2
    exit 1
}
export CODEC=both FORMAT=BGRx
source "$dir/scripts/_moq-link.sh"
export HLS_DIR="$work/hls"
mkdir -p "$HLS_DIR"
# (HLS from a sender of its own: gst-launch's EOS does not get through a tee
# into segmentpackager at 720p, docs/browser.md)
hls_sender=""
if [[ "${HLS:-0}" == 1 ]]; then
    hls_sender="\"$dir/scripts/web-serve.py\" --bind 198.18.0.1 --port 8081 --dir \"$HLS_DIR\" --cors >/dev/null 2>&1 &
CODEC=hls \"$dir/pipelines/moq-publish.sh\" >\"$work/hls.log\" 2>&1 &"
fi
moq_link_side_a "$work/a.sh" "$hls_sender"

site="$work/site"
mkdir -p "$site"
cp "$dir"/web/dist/{index.html,hls.html,streamkit.js,streamkit.wasm,viewer.bundle.js,hls.bundle.js} "$site/"
# Side B: the page's server, then the pages, each in a Chromium of its own.
cat >"$work/b.sh" <<B
set -u
$(moq_link_wait_relay)
"$dir/scripts/web-serve.py" --port 8080 --dir "$site" --reports "$work/reports.jsonl" 2>/dev/null &
server=\$!
sleep 2
offset="\$(python3 -c 'import time; print(time.monotonic_ns() - time.time_ns())')"
page() { # page N SECONDS
    local url="http://127.0.0.1:8080/index.html?relay=$MOQ_LINK_URL&fp=\$(cat "$work/moq/fingerprint")&name=screen&h264=$([[ "${H264:-1}" == 1 ]] && echo screen-h264)&offset=\$offset&report=/report&page=\$1"
    mkdir -p "$work/profile-\$1"
    timeout -s TERM "\$2" "$chromium" --headless=new --no-sandbox --disable-gpu --no-first-run \\
        --disable-background-networking --disable-component-update --disable-sync \\
        --enable-precise-memory-info --user-data-dir="$work/profile-\$1" "\$url" >/dev/null 2>&1
}
for n in \$(seq $PAGES); do page "\$n" $DURATION & done
[[ "${HLS:-0}" == 1 ]] && mkdir -p "$work/profile-hls" &&
timeout -s TERM $DURATION "$chromium" --headless=new --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --autoplay-policy=no-user-gesture-required --mute-audio --user-data-dir="$work/profile-hls" \
    "http://127.0.0.1:8080/hls.html?src=http://198.18.0.1:8081/live.m3u8&offset=\$offset&report=/report&page=hls" >/dev/null 2>&1 &
wait \$(jobs -p | grep -v "^\$server\\\$") 2>/dev/null
for n in \$(seq $JOINS); do page "join\$n" 4; done
kill \$server
touch "$work/done"
B
echo "browser-bench: ${PAGES} page(s) for ${DURATION} s, then ${JOINS} joins; ${RTT} ms round trip, ${LOSS}% loss; ${WIDTH}x${HEIGHT} screen scene"
"$linkem" --rtt "$RTT" --loss "$LOSS" --a "bash $work/a.sh" --b "bash $work/b.sh" | sed 's/^/link: /'
python3 - "$work/reports.jsonl" <<'PY'
import json, sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
if not rows:
    sys.exit("browser-bench: no page reported")

def floats(key, which):
    out = []
    for r in which:
        out += [float(v) for v in r.get(key, "").split(",") if v]
    return out

def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")

pages = defaultdict(list)
for r in rows:
    if r.get("page") != "hls":
        pages[r.get("page", "?")].append(r)
watch = [r for r in rows if not r.get("page", "").startswith("join") and r.get("page") != "hls"]
hls = [r for r in rows if r.get("page") == "hls"]
print(f"{'stream':<22} {'painted':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
for name, key, count in (("changes-only (wasm)", "lat", "frames"), ("H.264 (WebCodecs)", "h264lat", "h264frames")):
    lat = floats(key, watch)
    print(f"{name:<22} {len(lat):>8} {q(lat, .5):>8.1f} {q(lat, .95):>8.1f} {max(lat, default=float('nan')):>8.1f}")
lat = floats("hlslat", hls)
print(f"{'HLS (hls.js)':<22} {len(lat):>8} {q(lat, .5):>8.1f} {q(lat, .95):>8.1f} {max(lat, default=float('nan')):>8.1f}")
for r in hls:
    if r.get("err"):
        print(f"hls.js: {r['err']}")
        break
dec = [float(r["decode"]) for r in watch if r.get("decode") not in (None, "", "NaN")]
dec95 = [float(r["decode95"]) for r in watch if r.get("decode95") not in (None, "", "NaN")]
# Every page decodes on its own: where several painted the same frame,
# their pictures' checksums must agree.
sums = defaultdict(set)
for r in watch:
    for entry in r.get("delta", "").split(","):
        if ":" in entry:
            frame, sum_ = entry.split(":")
            sums[frame].add(sum_)
shared = [f for f, v in sums.items() if len(v) >= 1]
disagree = [f for f, v in sums.items() if len(v) > 1]
if len(pages) > 1:
    print(f"pictures compared across pages: {len(shared)} frames, {len(disagree)} with differing checksums")
print(f"decode per frame in the page: p50 of the pages' p50 {q(dec, .5):.2f} ms, "
      f"p50 of their p95 {q(dec95, .5):.2f} ms")
joins, firsts = [], []
for name, rs in sorted(pages.items()):
    last = rs[-1]
    j = next((float(r["join"]) for r in rs if r.get("join")), None)
    if j is not None:
        joins.append(j)
    f = next((float(r["first"]) for r in rs if r.get("first")), None)
    if f is not None:
        firsts.append(f)
    errs = [r["err"] for r in rs if r.get("err")]
    mem = [(int(r["heap"]) if r.get("heap") else 0) + int(r.get("wasm") or 0) for r in rs]
    first = mem[len(mem) // 10] if mem else 0
    peak = max(mem[len(mem) // 10:], default=0)
    print(f"page {name}: join {j if j is not None else '-'} ms, {last.get('frames')} frames, "
          f"fetched {last.get('fetched')}, lost {last.get('lost')}, refused {last.get('refused')}, "
          f"JS heap + wasm {first / 2**20:.1f} -> {mem[-1] / 2**20 if mem else 0:.1f} MiB "
          f"(peak {peak / 2**20:.1f})"
          + (f", errors: {errs[:3]}" if errs else ""))
print(f"join, session open to the snapshot shown (exact, of an older frame): n={len(firsts)} "
      f"p50 {q(firsts, .5):.0f} ms, p95 {q(firsts, .95):.0f} ms")
print(f"join, session open to the first whole picture of the newest frame: n={len(joins)} "
      f"p50 {q(joins, .5):.0f} ms, p95 {q(joins, .95):.0f} ms")
PY
