#!/usr/bin/env bash
# Installs the Debian 12 packages Streamkit needs to build, run and test,
# when they are missing. Safe to run again: it only installs what is absent.
#   scripts/deps.sh          install what is missing (STREAMKIT_WITH_BROWSER=1: also
#                            what the browser test needs; STREAMKIT_WITH_RECORDING=1:
#                            also what scripts/record-screen.sh needs)
#   scripts/deps.sh --list   print the packages it would install with the same groups,
#                            one a line (scripts/check-packages.sh checks the test
#                            suite against STREAMKIT_WITH_BROWSER=1's list)
set -euo pipefail

PACKAGES=(
    # build (Debian 12's pkg-config program is pkgconf's; the zstd crate
    # compiles libzstd from its bundled C source)
    pkgconf-bin meson ninja-build gcc libc6-dev
    # GStreamer's core (fakesink, queue, tee, ...) and its libraries; the -dev
    # packages pull it in too, but the elements we use are named where they come from
    libgstreamer1.0-0
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
    # the relay's RTSP front end (gst-rtsp-server)
    libgstrtspserver-1.0-dev
    # run: the elements our pipelines reuse (jpegenc, x264enc, rtpbin, netsim, mpegtsmux, ...)
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-x
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
    # test peers
    ffmpeg
    # the browser viewer's WebAssembly module (scripts/web.sh): zstd's C
    # sources in it are compiled by clang for wasm32 and archived by llvm-ar
    # (the unversioned names, and Debian 12's LLVM 14 they point to)
    clang llvm clang-14 llvm-14
    # certificates made at run time for the MoQ relay of the tests and
    # recipes (benchkit::moqrelay, pipelines/moq-relay.sh)
    openssl
    # `ip`: scripts/moq-migrate.sh moves a viewer to another address inside
    # the link emulator's namespace
    iproute2
    # examples/embed.py, which the test suite runs (tests/embed.rs): Debian's
    # python3 with PyGObject, and the introspection data of what it imports
    # (GLib; Gst; GstApp and GstVideo from the base plugins' libraries)
    python3 python3-gi gir1.2-glib-2.0 gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
)
# Opt-in: what scripts/record-screen.sh runs to record real screen content
# under a virtual X display (the test suite does not need it).
RECORDING_PACKAGES=(
    xvfb x11-xserver-utils xdotool
    # xterm's core font (misc-fixed) comes from xfonts-base; Chromium's text from DejaVu
    xterm xfonts-base fonts-dejavu-core
    chromium nano
)
list=0
[[ "${1:-}" == --list ]] && list=1
if [[ "${STREAMKIT_WITH_BROWSER:-0}" == 1 ]]; then
    PACKAGES+=(chromium)
    # hls.js is installed with npm; use the machine's Node.js when it has
    # one (which may not come from Debian), else Debian's.
    if ((list)) || ! command -v npm >/dev/null; then
        PACKAGES+=(nodejs npm)
    fi
fi
if [[ "${STREAMKIT_WITH_RECORDING:-0}" == 1 ]]; then
    PACKAGES+=("${RECORDING_PACKAGES[@]}")
fi
# Both groups name chromium: install and count each package once.
mapfile -t PACKAGES < <(printf '%s\n' "${PACKAGES[@]}" | awk '!seen[$0]++')
if ((list)); then
    printf '%s\n' "${PACKAGES[@]}"
    exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "streamkit: all ${#PACKAGES[@]} system packages present"
    exit 0
fi

echo "streamkit: installing missing system packages: ${missing[*]}"
SUDO=""
if [[ $(id -u) != 0 ]]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "streamkit: system packages installed"
