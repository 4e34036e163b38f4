#!/usr/bin/env bash
# meson helper: builds the plugin with cargo and copies it to meson's output.
# usage: cargo-build-plugin.sh PROFILE PROFILE_TARGET_DIR OUTPUT
set -euo pipefail
out="$(realpath -m "$3")"
cd "$(dirname "$0")/.."
cargo build --lib --profile "$1" --target-dir target --quiet
cp "$2/libgststreamkit.so" "$out"
