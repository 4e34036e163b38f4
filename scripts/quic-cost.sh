#!/usr/bin/env bash
# What QUIC (Media over QUIC: TLS 1.3 encryption, QUIC's packet work,
# moq-lite's framing) costs against plain RTP over UDP, for the same
# changes-only stream between two processes on this machine: CPU time per
# frame of the sending and the receiving process, the relay's CPU (MoQ
# only: RTP goes straight from sender to receiver), and payload bytes per
# frame. Each case runs ROUNDS times, alternating, so that both meet the
# same machine (docs/quic.md). Loopback: no loss, no delay.
# Variables (defaults): FRAMES=300 WIDTH=1280 HEIGHT=720 FPS=30 ROUNDS=3
#   PATTERN=ball (videotestsrc pattern: how much changes each frame)
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)"
source "$dir/pipelines/_env.sh"
FRAMES="${FRAMES:-300}" WIDTH="${WIDTH:-1280}" HEIGHT="${HEIGHT:-720}" FPS="${FPS:-30}"
ROUNDS="${ROUNDS:-3}" PATTERN="${PATTERN:-ball}"
work="$(mktemp -d /tmp/streamkit-quic-cost.XXXXXX)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
# The relay as pipelines/moq-relay.sh runs it (it execs into moq-relay, so
# its pid is the relay's), with its certificate in a folder of its own.
port="${MOQ_PORT:-4453}"
MOQ_DIR="$work/moq" MOQ_PORT="$port" LOG_LEVEL=error \
    "$dir/pipelines/moq-relay.sh" >"$work/relay.log" 2>&1 &
relay_pid=$!
pids+=("$relay_pid")
for _ in $(seq 600); do
    [[ -s "$work/moq/fingerprint" ]] && break
    sleep 0.1
done
fp="$(cat "$work/moq/fingerprint")"
sleep 1
source_caps="video/x-raw,format=I420,width=$WIDTH,height=$HEIGHT,framerate=$FPS/1"
sender_head="videotestsrc is-live=true num-buffers=$FRAMES pattern=$PATTERN ! $source_caps ! deltaenc intra-refresh=0"
rtp_caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=X-STREAMKIT-DELTA,payload=96"

# CPU seconds (user + system) of a process's whole life: bash's `time`.
TIMEFORMAT='%U %S'
cpu_of() { { time "$@" >/dev/null 2>&1; } 2>&1 | awk '{ print $1 + $2 }'; }
relay_cpu() { awk '{ print ($14 + $15) / 100 }' "/proc/$relay_pid/stat"; }

run_case() { # prints: rx_cpu tx_cpu relay_cpu
    local case="$1" rx_out="$work/rx" tx_cpu before=0 after=0
    case "$case" in
        rtp)
            local p=$((5100 + RANDOM % 400 * 2))
            (cpu_of timeout 120 gst-launch-1.0 -q udpsrc address=127.0.0.1 port=$p caps="$rtp_caps" \
                ! rtpdeltadepay ! deltadec ! fakesink num-buffers=$((FRAMES - 5)) >"$rx_out") &
            sleep 0.5
            # shellcheck disable=SC2086  # launch lines are several words
            tx_cpu="$(cpu_of gst-launch-1.0 -q $sender_head ! rtpdeltapay mtu=1200 \
                ! udpsink host=127.0.0.1 port=$p sync=false)"
            ;;
        moq)
            local name="cost$RANDOM$RANDOM"
            before="$(relay_cpu)"
            # the viewer subscribes first and waits for the announcement
            (cpu_of timeout 120 gst-launch-1.0 -q moqsrc url="https://127.0.0.1:$port/" \
                broadcast="$name" fingerprint="$fp" ! deltadec ! fakesink >"$rx_out") &
            sleep 0.5
            # shellcheck disable=SC2086
            tx_cpu="$(cpu_of gst-launch-1.0 -q $sender_head \
                ! moqsink url="https://127.0.0.1:$port/" broadcast="$name" fingerprint="$fp")"
            ;;
    esac
    wait $!
    [[ "$case" == moq ]] && after="$(relay_cpu)"
    echo "$(cat "$rx_out") $tx_cpu $(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')"
}

echo "quic-cost: $ROUNDS rounds of $FRAMES frames, ${WIDTH}x$HEIGHT $PATTERN, RTP/UDP and MoQ alternating"
printf '%-6s %-6s %14s %14s %14s\n' round case "tx ms/frame" "rx ms/frame" "relay ms/frame"
for round in $(seq "$ROUNDS"); do
    for case in rtp moq; do
        read -r rx tx rl < <(run_case "$case")
        awk -v r="$round" -v c="$case" -v tx="$tx" -v rx="$rx" -v rl="$rl" -v n="$FRAMES" \
            'BEGIN { printf "%-6s %-6s %14.3f %14.3f %14s\n", r, c, tx * 1000 / n, rx * 1000 / n, (c == "moq" ? sprintf("%.3f", rl * 1000 / n) : "-") }'
    done
done
