#!/usr/bin/env bash
# The loss sweep behind docs/loss.md: every strategy across the link emulator
# at each loss setting and round-trip time, 10 s each, one point after
# another (TCP with BBR); the TCP strategies again with CUBIC; then the TCP
# model at the same points, to see how close it comes. Writes one JSON per
# point into the output folder and prints the tables.
#   scripts/loss-sweep.sh [OUT_DIR] [extra streamkit-compare arguments]
# Takes about 35 minutes. Needs root (the link's network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/loss-sweep}
shift || true
scripts/deps.sh
cargo build --release --quiet --workspace --bins  # all programs: one feature set (pipelines/_env.sh)
mkdir -p "$out"
# A network namespace may only default to a congestion control the host
# allows (net.ipv4.tcp_allowed_congestion_control): allow BBR and CUBIC.
allowed_file=/proc/sys/net/ipv4/tcp_allowed_congestion_control
allowed=$(cat "$allowed_file")
for cc in bbr cubic; do
    [[ " $allowed " == *" $cc "* ]] || allowed="$allowed $cc"
done
if [[ "$allowed" != "$(cat "$allowed_file")" ]]; then
    echo "loss-sweep: allowing TCP congestion control: $allowed"
    echo "$allowed" >"$allowed_file"
fi
extra=("$@")
# point PREFIX LOSS-NAME RTT ARGS...: one run of streamkit-compare, 10 s per
# strategy, its JSON and report named after the point
point() {
    local prefix=$1 name=$2 rtt=$3
    shift 3
    target/release/streamkit-compare --duration 10 "$@" "${extra[@]}" \
        --json "$out/$prefix-l$name-r$rtt.json" --report "$out/$prefix-l$name-r$rtt.html" >/dev/null
}
# loss settings: name and streamkit-compare arguments
losses=("0:--loss 0" "1:--loss 1" "2:--loss 2" "5:--loss 5" "2o50:--loss 2 --outage-ms 50")
for rtt in 20 50 100; do
    for l in "${losses[@]}"; do
        name=${l%%:*}; args=${l#*:}
        echo "loss-sweep: link, loss $name, rtt $rtt ms"
        # shellcheck disable=SC2086
        point link "$name" "$rtt" --rtt "$rtt" $args --tcp-cc bbr
    done
done
for rtt in 20 50 100; do
    for l in "${losses[@]}"; do
        name=${l%%:*}; args=${l#*:}
        echo "loss-sweep: link with CUBIC, loss $name, rtt $rtt ms (segments, hls)"
        # shellcheck disable=SC2086
        point cubic "$name" "$rtt" --strategies segments,hls --rtt "$rtt" $args --tcp-cc cubic
    done
done
for rtt in 20 50 100; do
    for l in "${losses[@]:0:4}"; do
        name=${l%%:*}; args=${l#*:}
        echo "loss-sweep: model, loss $name, rtt $rtt ms (segments)"
        # shellcheck disable=SC2086
        point model "$name" "$rtt" --network model --strategies segments --delay $((rtt / 2)) $args
    done
done
exec target/release/streamkit-compare --sweep-tables "$out"
