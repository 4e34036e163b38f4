#!/usr/bin/env bash
# The whole test suite: installs what is missing, checks formatting and lints,
# builds the plugin through meson, and runs every unit and pipeline test.
set -euo pipefail
cd "$(dirname "$0")/.."

STREAMKIT_WITH_BROWSER=1 scripts/deps.sh

# hls.js for the headless-Chromium HLS test (tests/hlssegmentsink.rs), pinned
# by tests/web/package-lock.json; reinstalled only when the lock file changes.
if [[ ! -f tests/web/node_modules/.package-lock.json ||
      tests/web/package-lock.json -nt tests/web/node_modules/.package-lock.json ]]; then
    echo "streamkit: npm ci in tests/web (hls.js)"
    (cd tests/web && npm ci --no-audit --no-fund --silent)
fi

echo "streamkit: cargo fmt --check"
cargo fmt --all -- --check

echo "streamkit: cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

scripts/check-layout.sh

# The fuzz targets' bodies (fuzz/src/targets/) are compiled into
# tests/fuzz_corpus.rs, so clippy above type-checks them and cargo test below
# replays their corpus: one feature resolution, where checking fuzz/ (a
# workspace of its own) resolved and checked ~50 crates again.

echo "streamkit: meson build (plugin built through cargo)"
if [[ ! -d _build ]]; then
    meson setup _build --buildtype=debug >/dev/null
fi
meson compile -C _build >/dev/null

# The programs, moq-relay among them (a workspace member the MoQ tests and
# recipes start as a child process; cargo test builds only the test
# harness of a binary crate, not the binary itself). All of them in one
# command: cargo resolves features per command, and building one package
# alone (`-p`) would build the shared QUIC, TLS and tokio crates a second
# time with another feature set (pipelines/_env.sh builds them the same way).
echo "streamkit: cargo build --workspace --bins"
cargo build --quiet --workspace --bins

# The browser viewer (web/dist/): its WebAssembly module, which
# web/tests/wasm.rs runs in Node.js beside the native build, and its page,
# which tests/browser.rs and the browser-demo recipe open in Chromium.
scripts/web.sh

echo "streamkit: cargo test"
# Warnings from GLib/GStreamer are bugs in tests: make them fatal.
export G_DEBUG=fatal_warnings
export CARGO_TERM_COLOR=never
log="$(mktemp)"
trace_dir="$(mktemp -d)"
trap 'rm -rf "$log" "$trace_dir"' EXIT
# GStreamer's factories tracer records every element the tests and recipes
# create (one log per process), for the package check at the end.
export GST_TRACERS=factories GST_DEBUG=GST_TRACER:7 GST_DEBUG_NO_COLOR=1
export GST_DEBUG_FILE="$trace_dir/gst-%p.log"
# Unit, integration and doc tests of every workspace member (examples are
# built too, and linted by clippy above).
set +e
cargo test --workspace -- --test-threads=2 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# The one-shot recipes in pipelines/ must run as documented.
echo "streamkit: pipeline recipes"
recipes_passed=0
recipes_failed=0
check_recipe() {
    local name="$1" expect="$2"
    shift 2
    local out
    if out="$(env STREAMKIT_PROFILE=debug DISPLAY= WAYLAND_DISPLAY= "$@" 2>&1)" &&
        grep -q -- "$expect" <<<"$out"; then
        echo "recipe $name ... ok"
        recipes_passed=$((recipes_passed + 1))
    else
        echo "recipe $name ... FAILED"
        tail -20 <<<"$out"
        recipes_failed=$((recipes_failed + 1))
    fi
}
check_recipe delta-roundtrip "Got EOS" FRAMES=30 pipelines/delta-roundtrip.sh
check_recipe measure-latency-delta "frames-new=(guint64)60" CODEC=delta FRAMES=60 pipelines/measure-latency.sh
check_recipe measure-latency-jpeg "frames-new=(guint64)60" CODEC=jpeg FRAMES=60 pipelines/measure-latency.sh
check_recipe relay-demo "pictures_served=2 .* upstream_keyframe_requests=0" pipelines/relay-demo.sh
check_recipe moq-demo "viewer 2: .*frames-new=(guint64)60" pipelines/moq-demo.sh
check_recipe lossy-link "frames-new=(guint64)[1-9]" DURATION=3 pipelines/lossy-link.sh
check_recipe browser-demo "painted [1-9][0-9]* changes-only pictures" scripts/browser-check.sh

unset GST_TRACERS GST_DEBUG GST_DEBUG_FILE

# Everything used above must come from a package deps.sh installs: a machine
# stocked by hand must not hide a missing install step.
echo "streamkit: system packages behind every element, program and library used"
checks_failed=0
if ! scripts/check-packages.sh "$trace_dir"; then
    checks_failed=1
fi

awk -v rp="$recipes_passed" -v rf="$recipes_failed" -v cf="$checks_failed" \
    '/^test result:/ { p += $4; f += $6 } END { printf "summary: %d passed, %d failed\n", p + rp + 1 - cf, f + rf + cf }' "$log"
if ((recipes_failed > 0 || checks_failed > 0)); then
    exit 1
fi
exit "$status"
