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

# relay_bin: builds streamkit-relay (same profile) and prints its path.
relay_bin() {
    cargo build --profile "$_profile" --quiet --manifest-path "$_repo/Cargo.toml" -p streamkit-relay
    echo "$_repo/target/$_dir/streamkit-relay"
}

# linkem_bin: builds streamkit-linkem (same profile) and prints its path.
linkem_bin() {
    cargo build --profile "$_profile" --quiet --manifest-path "$_repo/Cargo.toml" -p streamkit-linkem
    echo "$_repo/target/$_dir/streamkit-linkem"
}

# moq_relay_bin: builds moq-relay (the workspace's moqrelay/ member, same
# profile) and prints its path.
moq_relay_bin() {
    cargo build --profile "$_profile" --quiet --manifest-path "$_repo/Cargo.toml" -p streamkit-moq-relay
    echo "$_repo/target/$_dir/moq-relay"
}

# Where moq-relay.sh keeps its certificate and the other MoQ recipes read
# its fingerprint (MOQ_DIR=... to run several).
MOQ_DIR="${MOQ_DIR:-/tmp/streamkit-moq}"
MOQ_PORT="${MOQ_PORT:-4443}"
MOQ_URL="https://127.0.0.1:$MOQ_PORT/"
