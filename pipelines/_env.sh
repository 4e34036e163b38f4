# Sourced by the recipes in this folder: builds the plugin if needed and points
# GStreamer at it, so every recipe runs as is from a checkout.
_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ! -f "$_repo/target/release/libgststreamkit.so" || -n "${STREAMKIT_REBUILD:-}" ]]; then
    echo "streamkit: building the plugin (release)" >&2
    cargo build --release --lib --quiet --manifest-path "$_repo/Cargo.toml"
fi
export GST_PLUGIN_PATH="$_repo/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
