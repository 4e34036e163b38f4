// SPDX-License-Identifier: MPL-2.0
//! `--snapshot`: one stamped frame of the content, written as a PNG file.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use gst::prelude::*;

use benchkit::pipeline::{check_bus, parse};
use benchkit::scene::Scene;

/// Writes one stamped frame of `scene` as a PNG file.
pub fn snapshot(
    scene: &Scene,
    width: u32,
    height: u32,
    fps: u32,
    path: &std::path::Path,
) -> Result<()> {
    let p = parse(&format!(
        "{} ! framestamp ! videoconvert ! pngenc snapshot=true ! filesink name=out",
        scene.launch(width, height, fps)
    ))?;
    scene.configure(&p, height);
    p.by_name("out")
        .context("no filesink")?
        .set_property("location", path.display().to_string());
    p.set_state(gst::State::Playing)
        .context("cannot start the snapshot")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut result = Err(anyhow!("no frame within 10 s"));
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        match check_bus(&p, "snapshot") {
            Ok(true) => {
                result = Ok(());
                break;
            }
            Ok(false) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let _ = p.set_state(gst::State::Null);
    result
}
