#!/usr/bin/env bash
# Builds what a web browser loads (docs/browser.md) into web/dist/:
# streamkit.wasm, the changes-only decoder and stamp reader compiled for
# wasm32-unknown-unknown from the plugin's own sources (web/), and
# streamkit.js, its binding; warm.obj, a keyframe the page decodes once
# before its first picture; the viewer page (index.html) and its script
# bundled with @moq/net (viewer.bundle.js); hls.html, hls.js playing this
# project's HLS for comparison (hls.bundle.js). Adds the Rust target when it is
# missing (rustup); zstd's C sources in the module need clang and llvm-ar,
# which scripts/deps.sh installs; the page's npm packages are pinned by
# web/page/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

target=wasm32-unknown-unknown
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    echo "streamkit: rustup target add $target"
    rustup target add "$target"
fi
echo "streamkit: cargo build -p streamkit-web --target $target --release"
cargo build --quiet -p streamkit-web --lib --target "$target" --release
mkdir -p web/dist
cp "target/$target/release/streamkit_web.wasm" web/dist/streamkit.wasm
# The keyframe the page decodes while its session opens (docs/browser.md,
# "Warming up"), made by the same encoder natively. In a target directory
# of its own: built for streamkit-web alone, the plugin crate lacks its
# `gst` feature, and its library (a cdylib, so named without a hash) would
# replace the workspace's in target/release and have every program relinked.
cargo run --quiet --release --target-dir target/web-native -p streamkit-web \
    --bin streamkit-warm-object -- web/dist/warm.obj
cp web/page/streamkit.js web/page/index.html web/page/hls.html web/dist/

if [[ ! -f web/page/node_modules/.package-lock.json ||
      web/page/package-lock.json -nt web/page/node_modules/.package-lock.json ]]; then
    echo "streamkit: npm ci in web/page (@moq/net, esbuild)"
    (cd web/page && npm ci --no-audit --no-fund --silent)
fi
for page in viewer hls; do
    script=web/page/$page.js
    [[ $page == hls ]] && script=web/page/hls-viewer.js
    web/page/node_modules/.bin/esbuild "$script" --bundle --minify --sourcemap \
        --format=esm --target=chrome120 --log-level=warning --outfile="web/dist/$page.bundle.js"
done
echo "streamkit: web/dist/streamkit.wasm ($(stat -c %s web/dist/streamkit.wasm) bytes)"
