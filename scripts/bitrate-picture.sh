#!/usr/bin/env bash
# The same frame of a recording from deltaenc (lossless) and from x264enc
# given deltaenc's bitrate on that recording: what H.264 makes of a screen
# at the bytes the changes-only stream needs (issue 10, docs/recordings.md).
#
#   scripts/bitrate-picture.sh RECORDING FRAME OUT.png [CROP]
#
# It measures deltaenc's mean bitrate over the recording's first FRAME+1
# frames (defaults: tile-size 64, intra-refresh 30, BGRx as captured), runs
# `videoconvert ! x264enc speed-preset=ultrafast tune=zerolatency
# bitrate=<that>` over the same frames, decodes frame FRAME of each, and
# writes them side by side (deltaenc left, x264 right), cropped to CROP
# (ffmpeg crop syntax w:h:x:y; default 640:360:0:0, a quarter of 720p), with
# the bitrate printed.
set -euo pipefail
cd "$(dirname "$0")/.."
recording="${1:?usage: scripts/bitrate-picture.sh RECORDING FRAME OUT.png [CROP]}"
frame="${2:?usage: scripts/bitrate-picture.sh RECORDING FRAME OUT.png [CROP]}"
out="${3:?usage: scripts/bitrate-picture.sh RECORDING FRAME OUT.png [CROP]}"
crop="${4:-640:360:0:0}"
[[ -f "$recording" ]] || { echo "bitrate-picture: no such recording: $recording" >&2; exit 2; }
[[ "$frame" =~ ^[0-9]+$ ]] || { echo "bitrate-picture: FRAME must be a frame number" >&2; exit 2; }
source pipelines/_env.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
frames=$((frame + 1))
# identity eos-after=N passes N-1 buffers: N+1 for `frames` frames.
src="filesrc location=$recording ! matroskademux ! avdec_ffv1 ! videoconvert ! video/x-raw,format=BGRx"

# deltaenc: its bytes (the encoded stream to a file) and its picture.
gst-launch-1.0 -q $src ! identity eos-after=$((frames + 1)) ! deltaenc tile-size=64 intra-refresh=30 \
    ! tee name=t t. ! queue ! filesink location="$work/delta.bin" \
    t. ! queue ! deltadec ! videoconvert ! video/x-raw,format=RGB ! multifilesink location="$work/delta-%05d.rgb"
bytes=$(stat -c %s "$work/delta.bin")
# frame rate from the file, as a fraction
rate=$(ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate -of csv=p=0 "$recording")
kbps=$(awk -v b="$bytes" -v n="$frames" -v r="$rate" 'BEGIN { split(r, f, "/"); printf "%d", b * 8 / n * f[1] / f[2] / 1000 + 0.5 }')
((kbps >= 1)) || kbps=1
echo "bitrate-picture: deltaenc lossless: $bytes bytes in $frames frames, $kbps kbit/s"

# x264enc at that bitrate, the screen-capture way (videoconvert before it).
gst-launch-1.0 -q $src ! identity eos-after=$((frames + 1)) ! videoconvert \
    ! x264enc speed-preset=ultrafast tune=zerolatency bitrate="$kbps" \
    ! avdec_h264 ! videoconvert ! video/x-raw,format=RGB ! multifilesink location="$work/x264-%05d.rgb"

size=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 "$recording")
name=$(printf '%05d' "$frame")
ffmpeg -loglevel error -y \
    -f rawvideo -pix_fmt rgb24 -s "$size" -i "$work/delta-$name.rgb" \
    -f rawvideo -pix_fmt rgb24 -s "$size" -i "$work/x264-$name.rgb" \
    -filter_complex "[0]crop=$crop[a];[1]crop=$crop[b];[a][b]hstack" -frames:v 1 "$out"
echo "bitrate-picture: $out: frame $frame, left deltaenc (exact), right x264enc at $kbps kbit/s"
