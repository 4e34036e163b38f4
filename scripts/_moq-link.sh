# Sourced by scripts/moq-join.sh and scripts/moq-migrate.sh: the relay and
# the screen-like origin on side A of streamkit-linkem (198.18.0.1, an
# address that exists only inside the link emulator's namespaces), for a
# viewer on side B. Expects $dir (the checkout) and pipelines/_env.sh sourced.
# Sets $work (removed on exit) and exports what the recipes read.
work="$(mktemp -d /tmp/streamkit-moq-link.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export MOQ_DIR="$work/moq" MOQ_HOST=198.18.0.1 MOQ_PORT=4443
export WIDTH="${WIDTH:-1280}" HEIGHT="${HEIGHT:-720}" STREAMKIT_PROFILE="${STREAMKIT_PROFILE:-release}"
# The viewers' URL: https (WebTransport over HTTP/3, the default), moql (moq-lite
# straight over QUIC) or moqt (the IETF draft over QUIC): SCHEME=...
MOQ_LINK_URL="${SCHEME:-https}://198.18.0.1:4443/"

# moq_link_side_a FILE [COMMAND]: writes side A's script to FILE: COMMAND
# first (if any), then moq-relay.sh (log level RELAY_LOG, default error, to
# $work/relay.log) and moq-publish.sh (moqsink's stats at its end in
# $work/origin.log), both running until side B touches $work/done; then
# whatever COMMAND started in the background is stopped too.
moq_link_side_a() {
    cat >"$1" <<A
set -u
${2:-}
LOG_LEVEL="${RELAY_LOG:-error}" "$dir/pipelines/moq-relay.sh" >"$work/relay.log" 2>&1 &
relay=\$!
$(moq_link_wait_relay)
GST_DEBUG=moqsink:4 "$dir/pipelines/moq-publish.sh" >"$work/origin.log" 2>&1 &
origin=\$!
while [[ ! -e "$work/done" ]]; do sleep 0.2; done
kill -INT \$origin; wait \$origin
kill \$relay; wait \$relay
# what COMMAND left running in the background
kill \$(jobs -p) 2>/dev/null; wait
A
}

# moq_link_wait_relay: the line of a side's script that waits for the
# relay's certificate.
moq_link_wait_relay() {
    echo "for _ in \$(seq 600); do [[ -s \"$work/moq/fingerprint\" ]] && break; sleep 0.1; done"
}
