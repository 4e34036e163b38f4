#!/usr/bin/env bash
# Checks that everything the project uses on the system comes from a Debian
# package that scripts/deps.sh installs, so that a well-stocked machine (where
# something was installed by hand, or by earlier work) cannot hide a missing
# install step from the test suite.
#
#   scripts/check-packages.sh [TRACE_DIR]
#
# What is checked:
# - every GStreamer element the project creates. Two sources, united:
#   the element factories named anywhere in the code (src/, tests/, compare/,
#   relay/, linkem/, examples/, pipelines/, scripts/: every word that is the name of an element
#   in this machine's registry), and, when TRACE_DIR is given, the logs of
#   GStreamer's `factories` tracer written while the test suite ran (what was
#   really created, decodebin's choices included). scripts/test.sh runs the
#   suite with that tracer.
# - the programs the scripts and tests run, and the pkg-config modules the
#   build links against.
# Each must be owned (dpkg -S) by a package that `scripts/deps.sh --list`
# names with the groups the test suite installs (STREAMKIT_WITH_BROWSER=1;
# not the opt-in recording group). A missing one fails, naming the element or
# file and its package.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
trace_dir="${1:-}"

mapfile -t allowed < <(STREAMKIT_WITH_BROWSER=1 scripts/deps.sh --list)
declare -A allowed_set=()
for p in "${allowed[@]}"; do allowed_set[$p]=1; done

failures=()
checked=0

# owner FILE: the Debian package that owns FILE (empty when none does).
owner() {
    local path
    path="$(readlink -f "$1")"
    { dpkg -S "$path" 2>/dev/null || dpkg -S "$1" 2>/dev/null || true; } |
        head -1 | sed -e 's/: .*//' -e 's/:[a-z0-9]*$//'
}

# require WHAT FILE: FILE must come from a package deps.sh installs.
require() {
    local what="$1" file="$2" pkg
    checked=$((checked + 1))
    pkg="$(owner "$file")"
    if [[ -z "$pkg" ]]; then
        failures+=("$what: $file belongs to no Debian package (installed by hand?); install it from a package in scripts/deps.sh")
    elif [[ -z "${allowed_set[$pkg]:-}" ]]; then
        failures+=("$what: $file comes from Debian package '$pkg', which scripts/deps.sh does not install")
    fi
}

# --- GStreamer elements -------------------------------------------------
# factory -> plugin, for every element factory in the registry. Our own
# plugin is not on the path here, so its elements never appear.
declare -A plugin_of=()
while IFS=: read -r plugin factory _; do
    factory="${factory#"${factory%%[! ]*}"}"
    [[ -n "$plugin" && -n "$factory" && "$factory" != *" "* ]] || continue
    plugin_of[$factory]="$plugin"
done < <(env -u GST_PLUGIN_PATH gst-inspect-1.0 2>/dev/null | grep -E '^[A-Za-z0-9_-]+: +[A-Za-z0-9_-]+: ')
if ((${#plugin_of[@]} < 50)); then
    echo "check-packages: gst-inspect-1.0 lists only ${#plugin_of[@]} elements: is GStreamer installed?" >&2
    exit 1
fi

declare -A used=()
# Words in the code that name a registry element.
while read -r word; do
    [[ -n "${plugin_of[$word]:-}" ]] && used[$word]="code"
done < <(git ls-files -- src tests compare relay linkem examples pipelines scripts |
    grep -E '\.(rs|sh|html|js)$' | grep -v '^scripts/check-packages.sh$' |
    xargs cat | grep -oE '[a-z][a-z0-9_]+' | sort -u)
static_count=${#used[@]}

if [[ -n "$trace_dir" ]]; then
    traced=0
    while read -r factory; do
        traced=$((traced + 1))
        [[ -n "${used[$factory]:-}" ]] || used[$factory]="traced"
    done < <(cat "$trace_dir"/*.log 2>/dev/null | grep 'factory-used,' |
        grep 'factory-type=(string)element' |
        sed -n 's/.*factory=(string)\([^,]*\),.*/\1/p' | sort -u)
    if ((traced == 0)); then
        failures+=("no element creation was traced in $trace_dir: the tracer did not run, so the check would prove nothing")
    fi
fi

# One gst-inspect-1.0 per plugin gives its file.
declare -A file_of_plugin=()
for factory in "${!used[@]}"; do
    plugin="${plugin_of[$factory]:-}"
    if [[ -z "$plugin" ]]; then
        # Traced here but unknown to the registry without GST_PLUGIN_PATH:
        # one of ours (or another plugin on the path).
        continue
    fi
    if [[ -z "${file_of_plugin[$plugin]+x}" ]]; then
        file_of_plugin[$plugin]="$(env -u GST_PLUGIN_PATH gst-inspect-1.0 "$plugin" 2>/dev/null |
            sed -n 's/^ *Filename *//p' | head -1)"
    fi
    file="${file_of_plugin[$plugin]}"
    if [[ "$plugin" == staticelements ]]; then
        # bin, pipeline: built into the core library itself
        file="$(pkg-config --variable=libdir gstreamer-1.0)/libgstreamer-1.0.so.0"
    fi
    if [[ -z "$file" ]]; then
        failures+=("element $factory: gst-inspect-1.0 gives no file for plugin $plugin")
        continue
    fi
    case "$file" in "$repo"/*) continue ;; esac
    require "element $factory (plugin $plugin, ${used[$factory]})" "$file"
done

# --- programs and build modules -----------------------------------------
for tool in gst-launch-1.0 gst-inspect-1.0 ffmpeg ffprobe chromium meson ninja pkg-config clang llvm-ar; do
    path="$(command -v "$tool" || true)"
    if [[ -z "$path" ]]; then
        failures+=("program $tool: not installed; add its package to scripts/deps.sh")
        continue
    fi
    require "program $tool" "$path"
done
# Node.js and npm may be the machine's own (deps.sh then installs Debian's
# only when there is none); when Debian's, they must be the listed ones.
for tool in node npm; do
    path="$(command -v "$tool" || true)"
    if [[ -z "$path" ]]; then
        failures+=("program $tool: not installed (STREAMKIT_WITH_BROWSER=1 scripts/deps.sh installs it)")
    elif [[ -n "$(owner "$path")" ]]; then
        require "program $tool" "$path"
    fi
done
for module in gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0 gstreamer-rtp-1.0 \
    gstreamer-check-1.0 gstreamer-app-1.0; do
    dir="$(pkg-config --variable=pcfiledir "$module" 2>/dev/null || true)"
    if [[ -z "$dir" ]]; then
        failures+=("pkg-config module $module: not found; add its -dev package to scripts/deps.sh")
        continue
    fi
    require "pkg-config module $module" "$dir/$module.pc"
done

# --- Python: examples/embed.py, run by tests/embed.rs ---------------------
# Debian's python3 imports what the app imports and names the files it
# loaded: PyGObject's module and every typelib (dependencies included).
embed_imports='import gi
for ns in ("Gst", "GstApp", "GstVideo"):
    gi.require_version(ns, "1.0")
from gi.repository import GLib, Gst, GstApp, GstVideo
print(gi.__file__)
repo = gi.Repository.get_default()
for ns in repo.get_loaded_namespaces():
    print(repo.get_typelib_path(ns))'
if python_files="$(/usr/bin/python3 -c "$embed_imports" 2>&1)"; then
    while read -r file; do
        require "python3 import for examples/embed.py" "$file"
    done <<<"$python_files"
else
    failures+=("examples/embed.py: Debian's /usr/bin/python3 cannot import PyGObject and GStreamer's typelibs: ${python_files##*$'\n'}")
fi

if ((${#failures[@]} > 0)); then
    echo "check-packages: FAILED: what the project uses is not all installed by scripts/deps.sh:"
    printf '  - %s\n' "${failures[@]}"
    exit 1
fi
echo "check-packages: ok: ${#used[@]} elements (${static_count} named in the code), programs and build modules, $checked files, all from packages scripts/deps.sh installs"
