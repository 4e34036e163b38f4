#!/usr/bin/env bash
# Records real screen content under a virtual X display (Xvfb), reproducibly,
# as lossless FFV1 in Matroska: 1280x720, 30 fps, BGRx as ximagesrc captures it.
# The recordings are the real-content input of the encoder benchmark
# (issue 10); they are made on demand and never committed.
#
#   scripts/record-screen.sh [OUTDIR] [SECONDS]
#
# OUTDIR defaults to recordings/ (ignored by git), SECONDS to 10 per scene.
# Scenes, one file each: terminal.mkv, browser.mkv, drag.mkv, editor.mkv.
# STREAMKIT_SCENES="terminal editor" records only the ones named.
# docs/recordings.md says what each scene shows and what varies between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

outdir="${1:-recordings}"
duration="${2:-10}"
scenes="${STREAMKIT_SCENES:-terminal browser drag editor}"
if ! [[ "$duration" =~ ^[1-9][0-9]*$ ]]; then
    echo "record-screen: SECONDS must be a whole number of seconds, not '$duration'" >&2
    exit 2
fi
for scene in $scenes; do
    case "$scene" in
        terminal | browser | drag | editor) ;;
        *) echo "record-screen: unknown scene '$scene' (terminal, browser, drag, editor)" >&2; exit 2 ;;
    esac
done
readonly width=1280 height=720 fps=30
readonly frames=$((duration * fps))
# Still frames before each scene's action starts: the start of a recording is
# not exactly aligned with the action, so both begin on a settled screen.
readonly lead_in_s=1

STREAMKIT_WITH_RECORDING=1 scripts/deps.sh

missing=()
for tool in Xvfb xsetroot xdotool xterm chromium nano gst-launch-1.0 gst-inspect-1.0 ffprobe; do
    command -v "$tool" >/dev/null || missing+=("program $tool")
done
for element in ximagesrc videorate identity avenc_ffv1 matroskamux filesink; do
    gst-inspect-1.0 --exists "$element" || missing+=("GStreamer element $element")
done
if ((${#missing[@]} > 0)); then
    echo "record-screen: missing: ${missing[*]}" >&2
    echo "record-screen: STREAMKIT_WITH_RECORDING=1 scripts/deps.sh installs them" >&2
    exit 1
fi

mkdir -p "$outdir"
work="$(mktemp -d)"
pids=()        # every process this script started, stopped by id on exit
xvfb_pid=""
partial=""     # the recording being written, removed when the script stops early

stop_scene() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    if [[ -n "$xvfb_pid" ]]; then
        kill "$xvfb_pid" 2>/dev/null || true
        wait "$xvfb_pid" 2>/dev/null || true
        xvfb_pid=""
    fi
}
cleanup() {
    stop_scene
    rm -rf "$work"
    [[ -z "$partial" ]] || rm -f "$partial"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Same locale, home and time zone on every machine: no user settings leak in.
export LC_ALL=C.UTF-8 TZ=UTC HOME="$work/home"
mkdir -p "$HOME"

# start_display: a fresh Xvfb for one scene; sets DISPLAY.
start_display() {
    local fd_file="$work/display" i
    : >"$fd_file"
    # -displayfd: Xvfb picks a free display number and writes it here.
    Xvfb -displayfd 3 -screen 0 "${width}x${height}x24" -dpi 96 -nolisten tcp -noreset \
        3>"$fd_file" >"$work/xvfb.log" 2>&1 &
    xvfb_pid=$!
    for ((i = 0; i < 100; i++)); do
        [[ -s "$fd_file" ]] && break
        kill -0 "$xvfb_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! -s "$fd_file" ]]; then
        echo "record-screen: Xvfb did not start:" >&2
        cat "$work/xvfb.log" >&2
        exit 1
    fi
    export DISPLAY=":$(head -1 "$fd_file")"
}

# spawn CMD...: runs CMD in the background, stopped with the scene.
spawn() {
    "$@" >>"$work/scene.log" 2>&1 &
    pids+=($!)
}

# wait_window NAME: waits until a window whose title starts with NAME is
# mapped, then lets it draw.
wait_window() {
    if ! timeout 60 xdotool search --sync --onlyvisible --name "^$1" >/dev/null 2>&1; then
        echo "record-screen: no window '$1' appeared within 60 s; the scene's log:" >&2
        tail -20 "$work/scene.log" >&2
        exit 1
    fi
    sleep 1
}

# text_lines SEED COUNT: COUNT lines of deterministic prose-like text,
# words picked by the Park-Miller generator (exact in any awk's doubles, so
# the same on every machine).
text_lines() {
    awk -v seed="$1" -v count="$2" 'BEGIN {
        n = split("the a frame tile encoder decoder picture stream packet row column " \
            "scroll window moves copies residual bytes per second latency receiver " \
            "sender keyframe refresh lossless exact bitstream record canvas screen " \
            "terminal browser editor text glyph cursor segment playlist buffer caps " \
            "pipeline element clock timestamp budget measure under over with from into " \
            "and or but while when each every only still again never always", w, " ")
        s = seed
        for (l = 1; l <= count; l++) {
            s = (s * 16807) % 2147483647
            len = 4 + int(s / 256) % 11
            line = ""
            for (k = 0; k < len; k++) {
                s = (s * 16807) % 2147483647
                word = w[1 + int(s / 256) % n]
                line = k ? line " " word : toupper(substr(word, 1, 1)) substr(word, 2)
            }
            print line "."
        }
    }'
}

# pace_snippet PERIOD_MS: a bash snippet defining pace_to I, which sleeps until
# I periods after the first call (deadlines, so delays do not accumulate).
pace_snippet() {
    cat <<EOF
pace_t0=""
pace_to() {
    local now=\${EPOCHREALTIME/./} due wait_us
    [[ -n "\$pace_t0" ]] || pace_t0=\$now
    due=\$((pace_t0 + \$1 * $1 * 1000))
    wait_us=\$((due - now))
    ((wait_us > 0)) && sleep "\$((wait_us / 1000000)).\$(printf '%06d' \$((wait_us % 1000000)))"
    return 0
}
EOF
}

# record NAME ACTION...: records FRAMES frames of the display into
# OUTDIR/NAME.mkv; ACTION starts lead_in_s after the first frame was written
# and is stopped when the recording ends.
record() {
    local name="$1" out="$outdir/$1.mkv" log="$work/$1.gst.log" rec i action
    shift
    rm -f "$out" "$out.part"
    partial="$out.part"
    # ximagesrc without XDamage grabs the whole screen at the caps' frame rate;
    # videorate turns the capture times into exact 1/30 s steps (repeating a
    # frame when a grab came late, counted below), identity stops after
    # exactly FRAMES frames.
    gst-launch-1.0 -v -e ximagesrc display-name="$DISPLAY" use-damage=false show-pointer=false \
        ! "video/x-raw,format=BGRx,width=$width,height=$height,framerate=$fps/1" \
        ! videorate silent=false ! "video/x-raw,framerate=$fps/1" \
        ! identity eos-after="$frames" \
        ! avenc_ffv1 ! matroskamux ! filesink location="$out.part" >"$log" 2>&1 &
    rec=$!
    pids+=("$rec")
    for ((i = 0; i < 200; i++)); do
        [[ -s "$out.part" ]] && break
        kill -0 "$rec" 2>/dev/null || break
        sleep 0.02
    done
    sleep "$lead_in_s"
    "$@" >>"$work/scene.log" 2>&1 &
    action=$!
    pids+=("$action")
    if ! wait "$rec"; then
        echo "record-screen: recording $name failed:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
    mv "$out.part" "$out"
    partial=""
    summarize "$name" "$out" "$log"
}

# summarize NAME FILE GSTLOG: checks the file with ffprobe, prints one line.
summarize() {
    local name="$1" file="$2" log="$3" probe w h pix n rate dup drop size
    probe="$(ffprobe -v error -count_frames -select_streams v:0 \
        -show_entries stream=codec_name,width,height,pix_fmt,nb_read_frames,r_frame_rate \
        -of default=noprint_wrappers=1 "$file")"
    w="$(sed -n 's/^width=//p' <<<"$probe")"
    h="$(sed -n 's/^height=//p' <<<"$probe")"
    pix="$(sed -n 's/^pix_fmt=//p' <<<"$probe")"
    n="$(sed -n 's/^nb_read_frames=//p' <<<"$probe")"
    rate="$(sed -n 's/^r_frame_rate=//p' <<<"$probe")"
    dup="$(grep -o 'duplicate = [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    drop="$(grep -o 'drop = [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    size="$(stat -c %s "$file")"
    n="${n:-0}"
    printf '%-9s %s  %sx%s %s %s fps  %s frames  %d KiB (%d KiB/frame)  capture late: %s repeated, %s dropped\n' \
        "$name" "$file" "$w" "$h" "$pix" "$rate" "$n" $((size / 1024)) $((size / 1024 / (n > 0 ? n : 1))) \
        "${dup:-0}" "${drop:-0}"
    if [[ "$w" != "$width" || "$h" != "$height" || "$n" != "$frames" || "$rate" != "$fps/1" || "$pix" != bgr0 ]]; then
        echo "record-screen: $file is not ${width}x${height} bgr0, $frames frames at $fps fps (got ${w}x${h} $pix, $n frames at ${rate:-?}): the recording came out short or wrong" >&2
        exit 1
    fi
}

xterm_common=(-b 0 -bw 0 -fn 10x20 -xrm 'XTerm*cursorBlink: false' +sb)

# terminal: a full-screen xterm printing a build-log-like text, 15 lines a
# second, so the whole text area scrolls up by one 20-pixel row every 2 frames.
scene_terminal() {
    local lines=$((duration * 15 + 40))
    text_lines 1 "$lines" | awk '{ printf "[%5d] %s\n", NR, $0 }' >"$work/terminal.txt"
    {
        pace_snippet 66
        # A full screen before the action starts.
        cat <<EOF
head -n 35 "$work/terminal.txt"
while [[ ! -e "$work/go" ]]; do sleep 0.02; done
i=0
tail -n +36 "$work/terminal.txt" | while IFS= read -r line; do
    pace_to \$i; i=\$((i + 1)); printf '%s\n' "\$line"
done
sleep 3600
EOF
    } >"$work/terminal.sh"
    spawn xterm "${xterm_common[@]}" -geometry 128x36+0+0 -fg '#d0d0d0' -bg '#181818' \
        -T streamkit-terminal -e bash "$work/terminal.sh"
    wait_window streamkit-terminal
    record terminal touch "$work/go"
}

# browser: Chromium showing a long generated page (fixed header and table of
# contents beside the article) that scrolls itself at 300 px/s once started.
scene_browser() {
    local page="$work/page.html" sections=$((duration * 2 + 6)) s
    {
        cat <<'EOF'
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>streamkit-loading</title>
<style>
body { margin: 0; font: 18px/1.55 "DejaVu Serif", serif; color: #222; background: #fafafa; }
header { position: fixed; top: 0; left: 0; right: 0; height: 52px; background: #23395d;
         color: #fff; font: bold 22px/52px "DejaVu Sans", sans-serif; padding-left: 24px; }
nav { position: fixed; top: 52px; left: 0; bottom: 0; width: 250px; background: #eef1f5;
      border-right: 1px solid #ccd; font: 15px/1.9 "DejaVu Sans", sans-serif; padding: 16px; }
main { margin: 52px 0 0 283px; padding: 8px 48px 400px 32px; max-width: 860px; }
h2 { font-family: "DejaVu Sans", sans-serif; color: #23395d; border-bottom: 2px solid #dde; }
code { background: #eee; padding: 1px 4px; }
</style></head><body>
<header>Streamkit manual</header>
<nav>
EOF
        for ((s = 1; s <= 12; s++)); do
            echo "<div>$s. $(text_lines $((100 + s)) 1 | cut -d' ' -f1-3)</div>"
        done
        echo "</nav><main><h1>Changes-only streaming, a long page</h1>"
        for ((s = 1; s <= sections; s++)); do
            echo "<h2>$s. $(text_lines $((100 + s)) 1 | cut -d' ' -f1-3)</h2>"
            text_lines $((1000 + s)) 12 | paste -d' ' - - - - | sed 's/.*/<p>&<\/p>/'
            ((s % 3 == 0)) && echo "<p>Run <code>scripts/bench.sh</code> to measure section $s.</p>"
        done
        cat <<'EOF'
</main>
<script>
// Scroll position is a function of time since the start key, not a sum of
// steps, so timer jitter does not accumulate.
const pxPerSecond = 300;
let start = null;
function step(now) {
  if (start === null) start = now;
  window.scrollTo(0, Math.round((now - start) * pxPerSecond / 1000));
  requestAnimationFrame(step);
}
window.addEventListener('keydown', (e) => {
  if (e.key === 's' && start === null) { e.preventDefault(); requestAnimationFrame(step); }
});
window.addEventListener('load', () => { document.title = 'streamkit-ready'; });
</script></body></html>
EOF
    } >"$page"
    spawn chromium --no-sandbox --test-type --disable-gpu --disable-quic --no-first-run \
        --no-default-browser-check --disable-background-networking --disable-component-update \
        --disable-sync --disable-features=Translate,MediaRouter --password-store=basic \
        --user-data-dir="$work/chromium" --force-device-scale-factor=1 --lang=en-US \
        --window-position=0,0 --window-size="$width,$height" --kiosk "file://$page"
    wait_window streamkit-ready
    # The key goes to the window under the pointer (no window manager: focus
    # follows the pointer); the pointer itself is not recorded.
    xdotool mousemove $((width / 2)) $((height / 2))
    record browser xdotool key s
}

# drag: a window dragged across a patterned desktop, past a second, still
# window, along fixed waypoints at 30 steps a second.
scene_drag() {
    xsetroot -mod 16 16 -fg '#3b5f7a' -bg '#2e4d63'
    text_lines 7 40 | cut -c1-78 >"$work/still.txt"
    text_lines 8 24 | cut -c1-58 >"$work/moving.txt"
    spawn xterm "${xterm_common[@]}" -geometry 80x22+40+40 -fg black -bg '#f4f1e8' \
        -T streamkit-still -e bash -c "cat '$work/still.txt'; exec sleep 3600"
    spawn xterm "${xterm_common[@]}" -geometry 60x14+860+420 -fg '#e0e0e0' -bg '#202830' \
        -T streamkit-moving -e bash -c "cat '$work/moving.txt'; exec sleep 3600"
    wait_window streamkit-still
    wait_window streamkit-moving
    local wid
    wid="$(xdotool search --onlyvisible --name '^streamkit-moving$' | head -1)"
    # Waypoints x,y (top-left corner) and the steps (frames) to get there;
    # a waypoint equal to the last one holds still for that many frames.
    awk -v secs="$duration" 'BEGIN {
        split("860,420 10 | 100,420 45 | 100,420 10 | 300,40 30 | 300,40 10 |" \
              " 680,280 25 | 680,280 15 | 20,300 40 | 20,300 10 | 860,420 45", leg, "|")
        x = 860; y = 420; total = 0
        while (total < secs * 30) {
            for (l = 1; l in leg; l++) {
                split(leg[l], p, " "); split(p[1], xy, ","); n = p[2]
                for (k = 1; k <= n; k++) {
                    printf "%d %d\n", x + (xy[1] - x) * k / n, y + (xy[2] - y) * k / n
                    total++
                }
                x = xy[1]; y = xy[2]
            }
        }
    }' >"$work/drag.path"
    {
        pace_snippet 33
        cat <<EOF
i=0
while read -r x y; do
    pace_to \$i; i=\$((i + 1)); xdotool windowmove $wid \$x \$y
done <"$work/drag.path"
EOF
    } >"$work/drag.sh"
    record drag bash "$work/drag.sh"
}

# editor: nano in a full-screen xterm, a file of text already open, typing
# new lines at its end, key by key (xdotool types a newline as Ctrl+J,
# which nano takes for Justify, so each line ends with a Return key instead).
scene_editor() {
    text_lines 21 20 | cut -c1-120 >"$work/notes.txt"
    text_lines 22 $((duration / 2 + 4)) | paste -d' ' - - | fold -s -w 100 >"$work/typed.txt"
    cat >"$work/editor.sh" <<EOF
xdotool key Return
while IFS= read -r line; do
    xdotool type --delay 70 "\$line"
    xdotool key Return
done <"$work/typed.txt"
EOF
    # Started from the work folder so that nano's title bar shows the same
    # file name on every run.
    spawn xterm "${xterm_common[@]}" -geometry 128x36+0+0 -fg '#1a1a1a' -bg '#fdfdf6' \
        -T streamkit-editor -e bash -c "cd '$work' && exec nano -I +999 notes.txt"
    wait_window streamkit-editor
    xdotool mousemove $((width / 2)) $((height / 2))
    record editor bash "$work/editor.sh"
}

echo "record-screen: ${frames} frames (${duration} s at ${fps} fps) per scene into $outdir/"
for scene in $scenes; do
    rm -f "$work/go" "$work/scene.log"
    start_display
    "scene_$scene"
    stop_scene
done
