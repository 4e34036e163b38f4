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
#   watching) PAGES=1 (pages open at once) JOINS=0 (this many page loads
#   one after another, 4 s each, while those pages watch, for join times;
#   the pages watch longer if the joins need it) JOIN_ALONE=0 (1: the
#   joins come after the pages have gone) WIDTH=1280
#   HEIGHT=720 STREAMKIT_PROFILE=release PAGE_ARGS= (more of the page's
#   settings, appended to its URL: "&latency=20&behind=500")
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)"
source "$dir/pipelines/_env.sh"
RTT="${RTT:-0}" LOSS="${LOSS:-0}" DURATION="${DURATION:-20}" PAGES="${PAGES:-1}" JOINS="${JOINS:-0}"
# the watching pages stay while the joins run
WATCH=$DURATION
[[ "${JOIN_ALONE:-0}" != 1 ]] && WATCH=$((DURATION > 4 * JOINS + 5 ? DURATION : 4 * JOINS + 5))
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
cp "$dir"/web/dist/{index.html,hls.html,streamkit.js,streamkit.wasm,warm.obj,viewer.bundle.js,hls.bundle.js} "$site/"
# Side B: the page's server, then the pages, each in a Chromium of its own.
cat >"$work/b.sh" <<B
set -u
$(moq_link_wait_relay)
"$dir/scripts/web-serve.py" --port 8080 --dir "$site" --reports "$work/reports.jsonl" 2>/dev/null &
server=\$!
sleep 2
offset="\$(python3 -c 'import time; print(time.monotonic_ns() - time.time_ns())')"
page() { # page N SECONDS
    local url="http://127.0.0.1:8080/index.html?relay=$MOQ_LINK_URL&fp=\$(cat "$work/moq/fingerprint")&name=screen&h264=$([[ "${H264:-1}" == 1 ]] && echo screen-h264)&offset=\$offset&report=/report&page=\$1${PAGE_ARGS:-}"
    mkdir -p "$work/profile-\$1"
    timeout -s TERM "\$2" "$chromium" --headless=new --no-sandbox --disable-gpu --no-first-run \\
        --disable-background-networking --disable-component-update --disable-sync \\
        --enable-precise-memory-info --user-data-dir="$work/profile-\$1" "\$url" >/dev/null 2>&1
}
# Late joiners, one after another, 4 s each, while the pages above watch
# (so the relay holds the frames since its snapshot, as it does wherever
# someone watches); with JOIN_ALONE=1 after they have gone (the relay then
# asks the sender for those frames).
joins() { sleep 3; for n in \$(seq $JOINS); do page "join\$n" 4; done; }
[[ "${JOIN_ALONE:-0}" != 1 ]] && joins &
for n in \$(seq $PAGES); do page "\$n" $WATCH & done
[[ "${HLS:-0}" == 1 ]] && mkdir -p "$work/profile-hls" &&
timeout -s TERM $WATCH "$chromium" --headless=new --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --autoplay-policy=no-user-gesture-required --mute-audio --user-data-dir="$work/profile-hls" \
    "http://127.0.0.1:8080/hls.html?src=http://198.18.0.1:8081/live.m3u8&offset=\$offset&report=/report&page=hls" >/dev/null 2>&1 &
wait \$(jobs -p | grep -v "^\$server\\\$") 2>/dev/null
[[ "${JOIN_ALONE:-0}" == 1 ]] && joins
kill \$server
touch "$work/done"
B
echo "browser-bench: ${PAGES} page(s) for ${WATCH} s, ${JOINS} joins ($([[ "${JOIN_ALONE:-0}" == 1 ]] && echo after them || echo meanwhile)); ${RTT} ms round trip, ${LOSS}% loss; ${WIDTH}x${HEIGHT} screen scene"
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
          f"fetched {last.get('fetched')}, repaired {last.get('repaired')}, lost {last.get('lost')}, "
          f"refused {last.get('refused')}, joined again {last.get('rejoins')}, "
          f"JS heap + wasm {first / 2**20:.1f} -> {mem[-1] / 2**20 if mem else 0:.1f} MiB "
          f"(peak {peak / 2**20:.1f})"
          + (f", errors: {errs[:3]}" if errs else ""))
# Each join's phases, in ms from its start (the session opening, or the
# moment a page decided to join again): the snapshot's group open, a live
# frame held, the snapshot read and shown, the frames since fetched, the
# newest frame whole; and how many frames it caught up and fetched.
phases = defaultdict(list)
why = defaultdict(int)
for r in rows:
    for entry in r.get("joins", "").split(","):
        if not entry:
            continue
        kv = dict(p.split("=", 1) for p in entry.split(";"))
        kind = "join" if kv.get("why") == "join" else "rejoin"
        w = kv.get("why", "")
        why["first" if w == "join" else "behind" if "behind" in w else "repair failed" if "gone" in w else w] += 1
        for k, v in kv.items():
            if k != "why":
                phases[(kind, k)].append(float(v))
for kind in ("join", "rejoin"):
    keys = [k for (w, k) in phases if w == kind]
    if keys:
        print(f"{kind} phases (p50/p95): " + ", ".join(
            f"{k} {q(phases[(kind, k)], .5):.0f}/{q(phases[(kind, k)], .95):.0f}" for k in keys))
rejoins = {name: rs[-1].get("rejoins") for name, rs in pages.items() if rs[-1].get("rejoins") not in (None, "", "0")}
if rejoins:
    print(f"pages that joined again: {rejoins}; why: {dict(why)}")
# Before the session: the page's load to the session open, of which the
# WebTransport handshake (connect) and the decoder's warm-up run at once.
startup = defaultdict(list)
for name, rs in pages.items():
    r = next((r for r in rs if r.get("load")), None)
    if r:
        for k in ("load", "connect", "warm"):
            if r.get(k):
                startup[k].append(float(r[k]))
        if r.get("first"):
            startup["load to snapshot shown"].append(float(r["load"]) + float(r["first"]))
        j = next((float(x["join"]) for x in rs if x.get("join")), None)
        if j is not None:
            startup["load to newest whole"].append(float(r["load"]) + j)
if startup:
    print("before and around the session (p50/p95 ms): " + ", ".join(
        f"{k} {q(v, .5):.0f}/{q(v, .95):.0f}" for k, v in startup.items()))
print(f"join, session open to the snapshot shown (exact, of an older frame): n={len(firsts)} "
      f"p50 {q(firsts, .5):.0f} ms, p95 {q(firsts, .95):.0f} ms")
print(f"join, session open to the first whole picture of the newest frame: n={len(joins)} "
      f"p50 {q(joins, .5):.0f} ms, p95 {q(joins, .95):.0f} ms")
PY
