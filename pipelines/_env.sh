# Sourced by the recipes in this folder: brings the plugin up to date (a
# no-op when nothing changed) and points GStreamer at it, so every recipe
# runs as is from a checkout and never uses a stale build.
_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ! -f "$_repo/target/release/libgststreamkit.so" ]]; then
    echo "streamkit: building the plugin (release)" >&2
fi
cargo build --release --lib --quiet --manifest-path "$_repo/Cargo.toml"
export GST_PLUGIN_PATH="$_repo/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
