// SPDX-License-Identifier: MPL-2.0
//! Checks of written media files by ffprobe and ffmpeg.

use std::path::Path;

/// Frames decoded from a transport-stream file, counted by ffprobe.
pub fn ffprobe_frame_count(file: &Path) -> u64 {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "default=nokey=1:noprint_wrappers=1",
        ])
        .arg(file)
        .output()
        .expect("run ffprobe");
    assert!(out.status.success(), "ffprobe failed on {}", file.display());
    assert!(
        out.stderr.is_empty(),
        "ffprobe complained about {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no frame count from ffprobe: {text:?}"))
}

/// Decodes a file with ffmpeg, failing on the first error; returns stderr.
pub fn ffmpeg_decode_errors(file: &Path) -> String {
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-xerror", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let mut errors = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        errors.push_str(&format!("ffmpeg exit status {}", out.status));
    }
    errors
}
