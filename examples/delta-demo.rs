// SPDX-License-Identifier: MPL-2.0
//! The demo: a changes-only round trip (deltaenc ! deltadec) on built-in
//! moving content, checked frame by frame against the source.

use gst::prelude::*;

fn main() {
    gst::init().expect("GStreamer initialises");
    gststreamkit::plugin_register_static().expect("streamkit plugin registers");
    let frames = 150;
    for (label, format, mode) in [
        ("screen-like BGRx, lossless", "BGRx", "lossless"),
        ("camera-like I420, lossy q75", "I420", "lossy"),
    ] {
        let pattern = if format == "BGRx" {
            "ball background-color=0xff202020"
        } else {
            "zone-plate kx2=20 ky2=20 kt=1"
        };
        let launch = format!(
            "videotestsrc pattern={pattern} num-buffers={frames} \
             ! video/x-raw,format={format},width=1280,height=720,framerate=30/1 \
             ! tee name=t t. ! queue ! appsink name=orig sync=false \
             t. ! queue ! deltaenc name=enc mode={mode} ! deltadec ! appsink name=dec sync=false"
        );
        let pipeline = gst::parse::launch(&launch)
            .expect("demo pipeline parses")
            .downcast::<gst::Pipeline>()
            .expect("a pipeline");
        let sink = |name| {
            pipeline
                .by_name(name)
                .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
                .expect("appsink")
        };
        let (orig, dec) = (sink("orig"), sink("dec"));
        pipeline
            .set_state(gst::State::Playing)
            .expect("pipeline plays");
        let (mut n, mut exact, mut sq_err, mut samples) = (0u64, 0u64, 0u64, 0u64);
        while let Ok(a) = orig.pull_sample() {
            let Ok(b) = dec.pull_sample() else { break };
            let a = a
                .buffer()
                .expect("buffer")
                .map_readable()
                .expect("readable");
            let b = b
                .buffer()
                .expect("buffer")
                .map_readable()
                .expect("readable");
            let colour = |i: usize| format != "BGRx" || i % 4 != 3;
            let mut same = true;
            for (_, (x, y)) in a
                .iter()
                .zip(b.iter())
                .enumerate()
                .filter(|(i, _)| colour(*i))
            {
                let d = u64::from(x.abs_diff(*y));
                sq_err += d * d;
                samples += 1;
                same &= d == 0;
            }
            exact += same as u64;
            n += 1;
        }
        pipeline
            .set_state(gst::State::Null)
            .expect("pipeline stops");
        let stats = pipeline
            .by_name("enc")
            .expect("encoder")
            .property::<gst::Structure>("stats");
        let bytes = stats.get::<u64>("bytes").unwrap_or(0);
        let raw = n * if format == "BGRx" {
            1280 * 720 * 4
        } else {
            1280 * 720 * 3 / 2
        };
        // pooled over the whole clip, not a mean of the frames' PSNRs
        let psnr = gststreamkit::measure::quality::psnr_of_error(sq_err, samples).unwrap_or(0.0);
        println!("{label}:");
        println!("  frames: {n} in, {n} out; bit-exact: {exact} of {n}");
        println!(
            "  bytes: {bytes} encoded ({:.1} KiB/frame) vs {raw} raw, {:.0}:1",
            bytes as f64 / n.max(1) as f64 / 1024.0,
            raw as f64 / bytes.max(1) as f64
        );
        println!(
            "  tiles: {} sent of {} ({:.1}% changed), keyframes {}",
            stats.get::<u64>("tiles-sent").unwrap_or(0),
            stats.get::<u64>("tiles-total").unwrap_or(0),
            100.0 * stats.get::<f64>("changed-tile-ratio").unwrap_or(0.0),
            stats.get::<u64>("keyframes").unwrap_or(0)
        );
        if exact == n {
            println!("  quality: lossless");
        } else {
            println!("  quality: PSNR {psnr:.1} dB");
        }
    }
}
