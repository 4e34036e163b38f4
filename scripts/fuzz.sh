#!/usr/bin/env bash
# Runs one cargo-fuzz target for a while on a scratch copy of its committed
# seed corpus (docs/reliability.md, "Fuzzing").
#
#   scripts/fuzz.sh list              the targets
#   scripts/fuzz.sh TARGET SECONDS    fuzz TARGET for SECONDS (one job)
#   scripts/fuzz.sh seeds             rewrite fuzz/corpus from the codec and
#                                     from x264enc/x265enc output
#
# Environment: FUZZ_SANITIZER (default none: the fuzzed code is safe Rust; set
# address to build with ASan), FUZZ_RSS_MB (default 2048), FUZZ_KEEP=1 keeps
# the scratch corpus and prints where it is.
#
# New inputs libFuzzer finds go to the scratch copy, never into fuzz/corpus;
# a crash or timeout is written to fuzz/artifacts/TARGET/ (ignored by git):
# copy it to fuzz/regressions/TARGET/ to keep it.
set -euo pipefail
cd "$(dirname "$0")/.."

targets() {
    for f in fuzz/fuzz_targets/*.rs; do
        basename "$f" .rs
    done
}

# Longest input libFuzzer makes for each target: a few times its largest seed.
max_len() {
    case "$1" in
    rtp_payload) echo 4096 ;;
    stamp_reader) echo 32768 ;;
    *) echo 65536 ;;
    esac
}

ensure_cargo_fuzz() {
    if ! cargo +nightly --version >/dev/null 2>&1; then
        echo "fuzz.sh: needs the nightly toolchain (rustup toolchain install nightly)" >&2
        exit 1
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "fuzz.sh: installing cargo-fuzz"
        cargo install --locked cargo-fuzz
    fi
}

make_seeds() {
    local aus
    aus="$(mktemp -d)"
    trap 'rm -rf "$aus"' RETURN
    mkdir -p "$aus/h264" "$aus/h265"
    # Small real streams: a moving ball, a keyframe every 5 frames; x265enc
    # sends its parameter sets only once, as the packager must cope with.
    gst-launch-1.0 -q videotestsrc num-buffers=12 pattern=ball \
        ! video/x-raw,width=64,height=48,framerate=30/1 \
        ! x264enc key-int-max=5 tune=zerolatency speed-preset=ultrafast aud=true \
        ! video/x-h264,stream-format=byte-stream,alignment=au \
        ! multifilesink location="$aus/h264/au-%05d.h264"
    gst-launch-1.0 -q videotestsrc num-buffers=12 pattern=ball \
        ! video/x-raw,width=64,height=64,framerate=30/1 \
        ! x265enc key-int-max=5 tune=zerolatency speed-preset=ultrafast \
        ! video/x-h265,stream-format=byte-stream,alignment=au \
        ! multifilesink location="$aus/h265/au-%05d.h265"
    cargo run --quiet --manifest-path fuzz/Cargo.toml --features seeds --bin make_seeds -- \
        fuzz/corpus "$aus/h264" "$aus/h265"
    du -sh --apparent-size fuzz/corpus
}

case "${1:-}" in
list)
    targets
    ;;
seeds)
    make_seeds
    ;;
"" | -h | --help)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    ;;
*)
    target="$1"
    seconds="${2:?usage: scripts/fuzz.sh TARGET SECONDS}"
    if [[ ! -f "fuzz/fuzz_targets/$target.rs" ]]; then
        echo "fuzz.sh: no target '$target'; targets are: $(targets | tr '\n' ' ')" >&2
        exit 2
    fi
    ensure_cargo_fuzz
    scratch="$(mktemp -d "${TMPDIR:-/tmp}/streamkit-fuzz-$target.XXXXXX")"
    if [[ "${FUZZ_KEEP:-0}" == 1 ]]; then
        echo "fuzz.sh: scratch corpus kept in $scratch"
    else
        trap 'rm -rf "$scratch"' EXIT
    fi
    if [[ -d "fuzz/corpus/$target" ]]; then
        cp -r "fuzz/corpus/$target/." "$scratch/"
    fi
    log="$scratch.log"
    set +e
    cargo +nightly fuzz run --sanitizer "${FUZZ_SANITIZER:-none}" "$target" "$scratch" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" \
        -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout=10 -print_final_stats=1 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    echo "fuzz.sh: $target: $(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" || echo 'no Done line (crash or build failure)')"
    rm -f "$log"
    exit "$status"
    ;;
esac
