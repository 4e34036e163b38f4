// SPDX-License-Identifier: MPL-2.0
//! The content every strategy is fed: built-in scenes, a file, or the
//! screen. Every scene ends in live raw I420 at the asked size and rate, and
//! its elements are named `scene*` so their CPU time is not billed to a
//! strategy.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use gst::prelude::*;

use crate::pipeline::{check_bus, parse};

/// What to stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scene {
    /// A desktop: a still picture with a small moving window and a ticking
    /// clock; most of the frame never changes.
    Screen,
    /// A camera: the whole picture pans, with sensor-like noise on top.
    Camera,
    /// A video file, decoded and paced to real time.
    File(PathBuf),
    /// The X11 screen (ximagesrc).
    Capture,
}

/// The text on the screen scene's page: code-like lines of varying length.
/// textoverlay parses Pango markup, so no `&`, `<` or `>` here.
fn page_text(lines: usize) -> String {
    const WORDS: [&str; 12] = [
        "let",
        "frame",
        "=",
        "tiles.iter()",
        ".filter(|t|",
        "t.changed())",
        "encode(buf,",
        "out);",
        "// send",
        "only",
        "what",
        "changed",
    ];
    (0..lines)
        .map(|i| {
            let indent = "    ".repeat(i % 4);
            let n = 2 + (i * 7) % 5;
            let words: Vec<&str> = (0..n)
                .map(|k| WORDS[(i * 5 + k * 3) % WORDS.len()])
                .collect();
            format!("{indent}{}", words.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A picture size and rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second (None: the file does not say, a variable rate).
    pub fps: Option<u32>,
}

/// The size and rate of the video in the file at `path`: decoded up to its
/// first frame (every element named `scene*`).
pub fn probe_file(path: &std::path::Path) -> Result<Format> {
    let launch = format!(
        "filesrc location=\"{}\" ! decodebin name=scenedec ! fakesink name=sceneprobe",
        path.display().to_string().replace('"', "\\\"")
    );
    let pipeline = parse(&launch).with_context(|| format!("cannot read {}", path.display()))?;
    let cannot = |why: String| {
        let _ = pipeline.set_state(gst::State::Null);
        anyhow!("cannot read the video of {}: {why}", path.display())
    };
    // prerolled: the first frame has reached the sink, so have its caps
    let prerolled = pipeline
        .set_state(gst::State::Paused)
        .and_then(|_| pipeline.state(gst::ClockTime::from_seconds(10)).0);
    if let Err(e) = prerolled {
        // the bus says why (no such file, not a video, ...)
        let why = check_bus(&pipeline, "probe")
            .err()
            .map_or_else(|| e.to_string(), |why| why.to_string());
        return Err(cannot(why));
    }
    let caps = pipeline
        .by_name("sceneprobe")
        .and_then(|sink| sink.static_pad("sink"))
        .and_then(|pad| pad.current_caps())
        .ok_or_else(|| cannot("no video stream".into()))?;
    let info = gst_video::VideoInfo::from_caps(&caps).map_err(|e| cannot(e.to_string()))?;
    let _ = pipeline.set_state(gst::State::Null);
    let rate = info.fps();
    Ok(Format {
        width: info.width(),
        height: info.height(),
        fps: (rate.numer() > 0 && rate.denom() > 0)
            .then(|| (f64::from(rate.numer()) / f64::from(rate.denom())).round() as u32)
            .filter(|&f| f > 0),
    })
}

impl Scene {
    /// Sets what a launch line cannot carry (the page text) on the built
    /// pipeline.
    pub fn configure(&self, pipeline: &gst::Pipeline, height: u32) {
        if let Some(text) = pipeline.by_name("scenetext") {
            // a line is about height / 45 pixels at the chosen font
            text.set_property("text", page_text((height as usize / 24).max(4)));
        }
    }

    /// Name used in reports.
    pub fn name(&self) -> String {
        match self {
            Scene::Screen => "screen".into(),
            Scene::Camera => "camera".into(),
            Scene::File(p) => format!("file {}", p.display()),
            Scene::Capture => "screen capture".into(),
        }
    }

    /// Parses `screen` or `camera`.
    pub fn parse_builtin(s: &str) -> Result<Scene> {
        match s {
            "screen" => Ok(Scene::Screen),
            "camera" => Ok(Scene::Camera),
            other => bail!("unknown scene '{other}': use screen or camera"),
        }
    }

    /// A gst-launch fragment producing the scene, ending in raw video caps.
    pub fn launch(&self, width: u32, height: u32, fps: u32) -> String {
        let caps =
            format!("video/x-raw,format=I420,width={width},height={height},framerate={fps}/1");
        let clock = "timeoverlay name=sceneclock halignment=right valignment=bottom \
                     font-desc=\"Monospace 20\" shaded-background=true";
        match self {
            Scene::Screen => {
                let (bw, bh) = ((width / 5).max(16) & !1, (height / 5).max(16) & !1);
                // A page of text on white (set in `configure`), a small video
                // playing in a window above it, and a ticking clock.
                format!(
                    "compositor name=scenemix background=white \
                       sink_1::xpos={x} sink_1::ypos={y} \
                     ! {caps} ! {clock} ! queue name=scenequeue max-size-buffers=2 \
                     videotestsrc name=scenebg is-live=true pattern=white ! {caps} \
                       ! textoverlay name=scenetext halignment=left valignment=top \
                         line-alignment=left xpad={xpad} ypad=24 auto-resize=false \
                         font-desc=\"Monospace {pt}\" color=0xff202020 \
                         shaded-background=false draw-shadow=false draw-outline=false \
                       ! scenemix.sink_0 \
                     videotestsrc name=sceneball is-live=true pattern=ball \
                       ! video/x-raw,format=I420,width={bw},height={bh},framerate={fps}/1 \
                       ! scenemix.sink_1 \
                     scenequeue.",
                    x = width * 2 / 3,
                    y = height / 3,
                    xpad = width / 4,
                    pt = (height / 60).max(4),
                )
            }
            Scene::Camera => format!(
                "compositor name=scenemix background=black sink_1::alpha=0.08 \
                 ! {caps} ! {clock} ! queue name=scenequeue max-size-buffers=2 \
                 videotestsrc name=scenebg is-live=true pattern=smpte horizontal-speed=3 \
                   ! {caps} ! scenemix.sink_0 \
                 videotestsrc name=scenenoise is-live=true pattern=snow \
                   ! {caps} ! scenemix.sink_1 \
                 scenequeue."
            ),
            Scene::File(path) => format!(
                "filesrc name=scenefile location=\"{}\" ! decodebin name=scenedec \
                 ! videoconvert name=sceneconv ! videoscale name=scenescale \
                 ! videorate name=scenerate ! {caps} \
                 ! identity name=scenepace sync=true ! queue name=scenequeue max-size-buffers=2 \
                 scenequeue.",
                path.display().to_string().replace('"', "\\\"")
            ),
            Scene::Capture => format!(
                "ximagesrc name=scenex use-damage=false ! videoconvert name=sceneconv \
                 ! videoscale name=scenescale ! videorate name=scenerate ! {caps} \
                 ! queue name=scenequeue max-size-buffers=2 scenequeue."
            ),
        }
    }
}
