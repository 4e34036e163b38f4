#!/usr/bin/env bash
# Head-of-line blocking (docs/quic.md): the changes-only stream over ONE
# ordered QUIC stream, with gst-plugins-rs' quinn elements, across the link
# emulator; then, right after each point, streamkit-compare's `delta` (RTP)
# and `delta-moq` (a QUIC stream per frame, through moq-relay) at the same
# loss and round trip, so the figures come from the same moment.
# Side A (198.18.0.1): the screen-like scene of pipelines/moq-publish.sh,
# framestamp ! deltaenc intra-refresh=0 ! rtpdeltapay ! rtpstreampay (a
# length before each packet keeps the frames apart in the byte stream)
# ! quinnquicsink. Side B (198.18.0.2): quinnquicsrc ! rtpstreamdepay
# ! rtpdeltadepay ! deltadec ! framemeter; prints framemeter's totals.
# gst-plugins-rs is no dependency of the workspace (a second QUIC stack in
# every build): gst-plugin-quinn 0.15 is built from crates.io, once, in a
# cargo project of its own under ${XDG_CACHE_HOME:-~/.cache}/streamkit/quinn
# (a few minutes the first time). The certificate is made by openssl at
# each run, in a temporary folder. Needs root (the link's namespaces).
# Variables (defaults): RTT=50 (ms) LOSS="1 2 5" (percent, one run per
#   value) DURATION=20 (s) COMPARE=1 (0: the quinn runs only) WIDTH=1280
#   HEIGHT=720 FPS=30 STREAMKIT_PROFILE=release
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)"
source "$dir/pipelines/_env.sh"
RTT="${RTT:-50}" LOSS="${LOSS:-1 2 5}" DURATION="${DURATION:-20}" COMPARE="${COMPARE:-1}"
WIDTH="${WIDTH:-1280}" HEIGHT="${HEIGHT:-720}" FPS="${FPS:-30}"
linkem="$(linkem_bin)"
compare="$_repo/target/$_dir/streamkit-compare"

# The quinn plugin: a cdylib that links gst-plugin-quinn in and so exports
# its entry point; copied to the file name GStreamer derives it from.
quinn_dir="${XDG_CACHE_HOME:-$HOME/.cache}/streamkit/quinn"
mkdir -p "$quinn_dir/src" "$quinn_dir/plugin"
manifest="$(cat <<'TOML'
# Written by streamkit's scripts/quinn-hol.sh: gst-plugins-rs' quinn plugin
# from crates.io, built outside the workspace.
[package]
name = "streamkit-quinn-plugin"
version = "0.0.0"
# edition 2024: the resolver picks versions the installed rustc can build
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]
path = "src/lib.rs"

[dependencies]
gst-plugin-quinn = "0.15.*"

[workspace]
TOML
)"
# rewritten only when changed: a new modification time would relink it
if [[ "$(cat "$quinn_dir/Cargo.toml" 2>/dev/null)" != "$manifest" ]]; then
    echo "$manifest" >"$quinn_dir/Cargo.toml"
fi
[[ -f "$quinn_dir/src/lib.rs" ]] ||
    printf '%s\n' '// Links gst-plugin-quinn in, so this cdylib exports its plugin entry point.' \
        'pub use gstquinn::*;' >"$quinn_dir/src/lib.rs"
if [[ ! -f "$quinn_dir/plugin/libgstquinn.so" ]]; then
    echo "quinn-hol: building gst-plugin-quinn 0.15 in $quinn_dir" >&2
fi
cargo build --release --lib --quiet --manifest-path "$quinn_dir/Cargo.toml"
cp -u "$quinn_dir/target/release/libstreamkit_quinn_plugin.so" "$quinn_dir/plugin/libgstquinn.so"
export GST_PLUGIN_PATH="$quinn_dir/plugin:$GST_PLUGIN_PATH"

work="$(mktemp -d /tmp/streamkit-quinn-hol.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# The receiver's (the QUIC server's) certificate. The sender does not check
# it (secure-connection=false: with it on, quinnquicsink wants a client
# certificate too); the connection is encrypted all the same.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=streamkit-quinn -addext subjectAltName=DNS:streamkit-quinn \
    -addext basicConstraints=critical,CA:FALSE \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
quic="server-name=streamkit-quinn address=198.18.0.2 port=5000 secure-connection=false"

text="let frame = tiles.iter().filter(changed); encode(frame, out); // send only what changed"
caps="video/x-raw,format=I420,width=$WIDTH,height=$HEIGHT,framerate=$FPS/1"
frames=$((DURATION * FPS))
# Side A, once side B listens: the scene, DURATION seconds, then EOS.
cat >"$work/a.sh" <<A
set -u
sleep 1
gst-launch-1.0 -e \
    compositor name=mix background=white sink_1::xpos=$((WIDTH * 2 / 3)) sink_1::ypos=$((HEIGHT / 3)) \
    ! "$caps" ! timeoverlay halignment=right valignment=bottom font-desc="Monospace 20" \
    ! framestamp ! deltaenc intra-refresh=0 ! rtpdeltapay ! rtpstreampay \
    ! quinnquicsink $quic sync=false \
    videotestsrc is-live=true pattern=white num-buffers=$frames ! "$caps" \
    ! textoverlay text="$text" halignment=left valignment=top xpad=$((WIDTH / 8)) ypad=24 \
      font-desc="Monospace $((HEIGHT / 40))" color=0xff202020 shaded-background=false \
      draw-shadow=false draw-outline=false \
    ! mix.sink_0 \
    videotestsrc is-live=true pattern=ball num-buffers=$frames \
    ! video/x-raw,format=I420,width=$((WIDTH / 5 / 2 * 2)),height=$((HEIGHT / 5 / 2 * 2)),framerate=$FPS/1 \
    ! mix.sink_1 >"$work/sender.log" 2>&1
touch "$work/done"
A
# Side B: the receiver, until the sender is done and 3 s more for the
# stream to drain (or until quinnquicsrc ends the stream itself).
rtpcaps="application/x-rtp-stream,media=video,clock-rate=90000,encoding-name=X-STREAMKIT-DELTA,payload=96"
cat >"$work/b.sh" <<B
set -u
gst-launch-1.0 -m -e \
    quinnquicsrc $quic certificate-file="$work/cert.pem" private-key-file="$work/key.pem" \
      caps="$rtpcaps" \
    ! rtpstreamdepay ! rtpdeltadepay ! deltadec ! framemeter interval=0 ! fakesink sync=false \
    >"$work/receiver.log" 2>&1 &
recv=\$!
while [[ ! -e "$work/done" ]] && kill -0 \$recv 2>/dev/null; do sleep 0.2; done
for _ in \$(seq 15); do kill -0 \$recv 2>/dev/null || break; sleep 0.2; done
kill -INT \$recv 2>/dev/null
wait \$recv
B

# field NAME: one field of framemeter's end-of-stream totals.
field() {
    grep -o "framemeter, .*" "$work/receiver.log" | tail -1 | grep -o "[ ,]$1=([a-z0-9]*)[0-9.]*" |
        sed 's/.*)//'
}
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'; }

for loss in $LOSS; do
    rm -f "$work/done" "$work/receiver.log" "$work/sender.log"
    echo "== quinn-hol: one ordered QUIC stream, ${RTT} ms round trip, ${loss}% loss, $frames frames (${WIDTH}x${HEIGHT} at $FPS fps)"
    "$linkem" --rtt "$RTT" --loss "$loss" --a "bash $work/a.sh" --b "bash $work/b.sh" || true
    if ! grep -q "framemeter, " "$work/receiver.log"; then
        echo "quinn-hol: no framemeter totals; the logs:" >&2
        tail -n 20 "$work/sender.log" "$work/receiver.log" >&2
        exit 1
    fi
    echo "quinn: frames sent $frames, shown $(field frames-new), missing $(field frames-missing)," \
        "unreadable $(field frames-unreadable); latency p50 / p95 / p99 / max" \
        "$(ms "$(field latency-p50)") / $(ms "$(field latency-p95)") / $(ms "$(field latency-p99)")" \
        "/ $(ms "$(field latency-max)") ms; longest stall $(ms "$(field longest-stall)") ms"
    if [[ "$COMPARE" == 1 ]]; then
        "$compare" --strategies delta,delta-moq --duration "$DURATION" --loss "$loss" --rtt "$RTT" \
            --width "$WIDTH" --height "$HEIGHT" --fps "$FPS" --report "$work/report.html" # goes with $work
    fi
done
