#!/usr/bin/env bash
# The one layout (docs/architecture.md): the files at the top of an area
# (src/delta, src/rtp, src/segment, src/measure, src/relay) are pure logic,
# free of GStreamer types; elements live in sub-folders as mod.rs + imp.rs;
# the modules of every crate form layers, with no import circle
# (scripts/check-imports.py); every Rust file says its licence.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
impure="$(grep -lE '\bgst(_[a-z]+)?::|\bglib::' src/delta/*.rs src/rtp/*.rs src/segment/*.rs src/measure/*.rs src/relay/*.rs || true)"
if [[ -n "$impure" ]]; then
    echo "check-layout: GStreamer types in an area's pure core (move them to the element or to src/gstcommon/):"
    sed 's/^/  /' <<<"$impure"
    status=1
fi
for dir in src/*/*/; do
    if [[ ! -f "$dir/mod.rs" || ! -f "$dir/imp.rs" ]]; then
        echo "check-layout: $dir is not an element folder (mod.rs + imp.rs)"
        status=1
    fi
done
unlicensed="$(git ls-files -co --exclude-standard '*.rs' | xargs -r grep -L '^// SPDX-License-Identifier: MPL-2.0$' || true)"
if [[ -n "$unlicensed" ]]; then
    echo "check-layout: Rust files without the SPDX line (// SPDX-License-Identifier: MPL-2.0):"
    sed 's/^/  /' <<<"$unlicensed"
    status=1
fi
if ! python3 scripts/check-imports.py; then
    status=1
fi
if ((status == 0)); then
    echo "check-layout: ok: area cores are pure, every sub-folder is an element, every Rust file is licensed"
fi
exit "$status"
