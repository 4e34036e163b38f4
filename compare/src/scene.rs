// SPDX-License-Identifier: MPL-2.0
//! The content every strategy is fed: built-in scenes, a file, or the
//! screen. Every scene ends in live raw I420 at the asked size and rate, and
//! its elements are named `scene*` so their CPU time is not billed to a
//! strategy.

use std::path::PathBuf;

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

impl Scene {
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
    pub fn parse_builtin(s: &str) -> Result<Scene, String> {
        match s {
            "screen" => Ok(Scene::Screen),
            "camera" => Ok(Scene::Camera),
            other => Err(format!("unknown scene '{other}': use screen or camera")),
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
                format!(
                    "compositor name=scenemix background=black \
                       sink_1::xpos={x} sink_1::ypos={y} \
                     ! {caps} ! {clock} ! queue name=scenequeue max-size-buffers=2 \
                     videotestsrc name=scenebg is-live=true pattern=smpte \
                       ! {caps} ! scenemix.sink_0 \
                     videotestsrc name=sceneball is-live=true pattern=ball \
                       ! video/x-raw,format=I420,width={bw},height={bh},framerate={fps}/1 \
                       ! scenemix.sink_1 \
                     scenequeue.",
                    x = width / 2,
                    y = height / 2,
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
