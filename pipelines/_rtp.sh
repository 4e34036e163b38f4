# Sourced by the RTP recipes: shared defaults. One stream uses three ports on
# HOST: RTP on PORT, sender RTCP (SR) to the receiver on PORT+1, receiver
# RTCP (RR, PLI) back to the sender on PORT+5.
HOST="${HOST:-127.0.0.1}"
RTP_PORT="$PORT"
RTCP_TO_RECEIVER=$((PORT + 1))
RTCP_TO_SENDER=$((PORT + 5))
WIDTH="${WIDTH:-640}"
HEIGHT="${HEIGHT:-480}"
FPS="${FPS:-30}"
# Frames to send; -1 = until interrupted.
FRAMES="${FRAMES:--1}"
# Drop probability of the simulated network (netsim) on the sender's RTP
# output; 0 = no netsim.
LOSS="${LOSS:-0}"
# How long the receiver's jitterbuffer waits for late packets (ms).
LATENCY="${LATENCY:-50}"

# The simulated network element, or nothing.
netsim() {
    if [[ "$LOSS" != 0 ]]; then
        echo "! netsim drop-probability=$LOSS"
    fi
}

# Where received video goes: a window when there is a display, else counted.
video_sink() {
    if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
        echo "videoconvert ! autovideosink sync=false"
    else
        echo "fakesink sync=false"
    fi
}
