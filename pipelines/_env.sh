# Sourced by the recipes in this folder: brings the plugin up to date (a
# no-op when nothing changed) and points GStreamer at it, so every recipe
# runs as is from a checkout and never uses a stale build.
# STREAMKIT_PROFILE=debug uses the debug build (as the test suite does).
_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${STREAMKIT_PROFILE:-release}" in
    debug) _profile=dev _dir=debug ;;
    *) _profile=release _dir=release ;;
esac
if [[ ! -f "$_repo/target/$_dir/libgststreamkit.so" ]]; then
    echo "streamkit: building the plugin ($_dir)" >&2
fi
cargo build --profile "$_profile" --lib --quiet --manifest-path "$_repo/Cargo.toml"
export GST_PLUGIN_PATH="$_repo/target/$_dir${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

# The workspace's programs (streamkit-relay, streamkit-linkem, moq-relay,
# ...), built together: cargo resolves features per build command, and
# `-p one-program` would build the shared QUIC, TLS and tokio crates again
# with a different feature set from the one `cargo test --workspace` and
# the other programs use. Built once per shell.
_programs_built=""
_build_programs() {
    if [[ -z "$_programs_built" ]]; then
        cargo build --profile "$_profile" --quiet --manifest-path "$_repo/Cargo.toml" --workspace --bins
        _programs_built=1
    fi
}

# relay_bin: builds the programs (same profile), prints streamkit-relay's path.
relay_bin() {
    _build_programs
    echo "$_repo/target/$_dir/streamkit-relay"
}

# linkem_bin: the same for streamkit-linkem.
linkem_bin() {
    _build_programs
    echo "$_repo/target/$_dir/streamkit-linkem"
}

# moq_relay_bin: the same for moq-relay (the workspace's moqrelay/ member).
moq_relay_bin() {
    _build_programs
    echo "$_repo/target/$_dir/moq-relay"
}

# Where moq-relay.sh keeps its certificate and the other MoQ recipes read
# its fingerprint (MOQ_DIR=... to run several); the relay's address
# (MOQ_HOST: loopback; scripts/moq-join.sh sets it inside the link
# emulator's network namespaces, where nothing else can reach it).
MOQ_DIR="${MOQ_DIR:-/tmp/streamkit-moq}"
MOQ_HOST="${MOQ_HOST:-127.0.0.1}"
MOQ_PORT="${MOQ_PORT:-4443}"
MOQ_URL="https://$MOQ_HOST:$MOQ_PORT/"
