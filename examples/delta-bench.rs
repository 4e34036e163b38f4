// SPDX-License-Identifier: MPL-2.0
//! Side-by-side encoder benchmark on the same content in one run:
//! deltaenc (lossless, lossy) vs jpegenc, pngenc and x264enc (ultrafast, zerolatency).
//!
//! Run with `scripts/bench.sh` (release build):
//!
//! ```text
//! delta-bench [frames]                                  the two synthetic 1080p scenes
//! delta-bench --input FILE [--input FILE ...] [frames]  recordings instead (docs/recordings.md)
//! delta-bench --sweep [--input FILE ...] [frames]        lossy: bytes at equal PSNR
//! ```
//!
//! `--sweep` compares lossy coding per byte instead of encoders at one
//! setting each: deltaenc `mode=lossy` and jpegenc over a range of qualities
//! on the camera-like scene (or the given files), on I420 and on BGRx input
//! (jpegenc behind `videoconvert` to full-range BT.601 I420 there, what a
//! JFIF file holds: fed BGRx itself jpegenc writes RGB JPEGs without
//! subsampling), and for each deltaenc quality the jpegenc bytes at the same
//! PSNR, interpolated. `--sweep --intra` makes every deltaenc frame a
//! keyframe, so that its tile coding alone is compared with JPEG's, without
//! what skipping unchanged tiles saves.
//!
//! For each scene the frames are made once in memory (generated, or the first
//! `frames` frames of a recording decoded into BGRx) and converted once
//! (videoconvert, untimed) into every other format a row is fed (I420, and
//! for deltaenc's per-format rows NV12, BGRA, RGBA, RGBx, xRGB, xBGR), then
//! every encoder is run over the very same buffers, round-robin, several
//! rounds; medians are reported. Encoding is timed alone
//! (appsrc ! encoder ! appsink); PSNR is measured afterwards by decoding
//! what was produced, untimed.

use anyhow::{anyhow, bail, Context, Result};
use gst::prelude::*;
use gststreamkit::delta::PixelFormat;
use gststreamkit::measure::quality::{self, PSNR_IDENTICAL};
use gststreamkit::testrng::Lcg;
use std::time::Instant;

const USAGE: &str = "\
delta-bench: deltaenc against jpegenc, pngenc and x264enc on the same frames,
side by side in one run (medians of 3 rounds; encoding timed alone, PSNR
measured afterwards by decoding what was produced).

usage: delta-bench [--sweep [--intra]] [--input FILE ...] [frames]

  frames        frames per scene (default 60)
  --input FILE  a recording instead of the two synthetic 1080p scenes
                (repeatable; docs/recordings.md)
  --sweep       lossy coding per byte: deltaenc and jpegenc over a range of
                qualities, and jpegenc's bytes at deltaenc's PSNR
  --intra       with --sweep: every deltaenc frame a keyframe
  -h, --help    this text
";

const WIDTH: usize = 1920;
const HEIGHT: usize = 1080;

fn cpu_time() -> std::time::Duration {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    std::time::Duration::from_micros(us(u.ru_utime) + us(u.ru_stime))
}

fn fill_rect(img: &mut [u8], x: usize, y: usize, w: usize, h: usize, bgr: [u8; 3]) {
    for yy in y.min(HEIGHT)..(y + h).min(HEIGHT) {
        for xx in x.min(WIDTH)..(x + w).min(WIDTH) {
            let o = (yy * WIDTH + xx) * 4;
            img[o..o + 3].copy_from_slice(&bgr);
            img[o + 3] = 255;
        }
    }
}

/// Glyph-like marks: small dark strokes in a 8x14 cell, chosen by `code`.
fn draw_glyph(img: &mut [u8], x: usize, y: usize, code: u32) {
    for i in 0..6 {
        if code >> i & 1 == 1 {
            let (gx, gy, gw, gh) = match i {
                0 => (1, 1, 6, 2),
                1 => (1, 6, 6, 2),
                2 => (1, 11, 6, 2),
                3 => (1, 1, 2, 12),
                4 => (5, 1, 2, 12),
                _ => (3, 4, 2, 6),
            };
            fill_rect(img, x + gx, y + gy, gw, gh, [30, 30, 30]);
        }
    }
}

/// Screen-like: a desktop with windows of text; typing in one window, one
/// window being dragged across, everything else still.
fn screen_scene(frames: usize) -> Vec<Vec<u8>> {
    let mut rng = Lcg(7);
    let mut base = vec![0u8; WIDTH * HEIGHT * 4];
    fill_rect(&mut base, 0, 0, WIDTH, HEIGHT, [120, 90, 60]);
    fill_rect(&mut base, 0, HEIGHT - 40, WIDTH, 40, [50, 50, 50]);
    // an editor window full of text
    fill_rect(&mut base, 80, 60, 900, 800, [250, 250, 250]);
    fill_rect(&mut base, 80, 60, 900, 30, [200, 160, 120]);
    for line in 0..50 {
        let len = 20 + rng.next() as usize % 80;
        for col in 0..len.min(105) {
            draw_glyph(&mut base, 90 + col * 8, 100 + line * 15, rng.next() | 1);
        }
    }
    let mut out = Vec::with_capacity(frames);
    let mut typed = base.clone();
    for f in 0..frames {
        // typing: one character per frame on the last lines
        let col = f % 100;
        let line = 52 + f / 100;
        draw_glyph(
            &mut typed,
            90 + col * 8,
            100 + line * 15 % 750,
            rng.next() | 1,
        );
        let mut img = typed.clone();
        // cursor blinks
        if f / 15 % 2 == 0 {
            fill_rect(
                &mut img,
                98 + col * 8,
                100 + line * 15 % 750,
                2,
                14,
                [0, 0, 0],
            );
        }
        // a small window dragged to the right, 6 px a frame
        let wx = 1000 + (f * 6) % 600;
        fill_rect(&mut img, wx, 300, 300, 200, [240, 240, 230]);
        fill_rect(&mut img, wx, 300, 300, 24, [90, 140, 200]);
        for l in 0..10 {
            for c in 0..30 {
                draw_glyph(
                    &mut img,
                    wx + 10 + c * 9,
                    330 + l * 16,
                    (l * 31 + c * 7) as u32 | 1,
                );
            }
        }
        out.push(img);
    }
    out
}

/// Camera-like: the whole picture moves (a panning textured scene with
/// sensor noise).
fn camera_scene(frames: usize) -> Vec<Vec<u8>> {
    let mut rng = Lcg(11);
    let mut out = Vec::with_capacity(frames);
    for f in 0..frames {
        let mut img = vec![255u8; WIDTH * HEIGHT * 4];
        let t = f as f32;
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let (xf, yf) = (x as f32 + 3.0 * t, y as f32 + 1.5 * t);
                let v = 0.5
                    + 0.25 * (xf / 37.0).sin() * (yf / 23.0).cos()
                    + 0.15 * ((xf + yf) / 91.0).sin()
                    + 0.1 * (xf / 7.0 + (yf / 13.0).sin()).cos();
                let n = (rng.next() % 7) as f32 - 3.0;
                let o = (y * WIDTH + x) * 4;
                img[o] = (v * 180.0 + 40.0 + n).clamp(0.0, 255.0) as u8;
                img[o + 1] = (v * 200.0 + 20.0 + n).clamp(0.0, 255.0) as u8;
                img[o + 2] = ((1.0 - v) * 160.0 + 60.0 + n).clamp(0.0, 255.0) as u8;
            }
        }
        out.push(img);
    }
    out
}

/// Stamps generated BGRx frames 1/30 s apart, as a capture would.
fn to_buffers(frames: Vec<Vec<u8>>) -> Vec<gst::Buffer> {
    frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let mut b = gst::Buffer::from_mut_slice(f);
            b.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_nseconds(i as u64 * 33_333_333));
            b
        })
        .collect()
}

/// Converts the BGRx frames to `format` once, with videoconvert, so every
/// encoder that needs that format gets identical input.
fn to_format(
    bgrx_caps: &gst::Caps,
    frames: &[gst::Buffer],
    format: &str,
) -> (gst::Caps, Vec<gst::Buffer>) {
    let out_caps = with_format(bgrx_caps, format);
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder()
        .caps(bgrx_caps)
        .format(gst::Format::Time)
        .build();
    let conv = gst::ElementFactory::make("videoconvert").build().unwrap();
    let sink = gst_app::AppSink::builder()
        .caps(&out_caps)
        .sync(false)
        .build();
    pipeline
        .add_many([src.upcast_ref::<gst::Element>(), &conv, sink.upcast_ref()])
        .unwrap();
    gst::Element::link_many([src.upcast_ref::<gst::Element>(), &conv, sink.upcast_ref()]).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    for b in frames {
        src.push_buffer(b.clone()).unwrap();
    }
    src.end_of_stream().unwrap();
    let mut out = Vec::new();
    while let Ok(s) = sink.pull_sample() {
        out.push(s.buffer_owned().unwrap());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (out_caps, out)
}

/// Decodes the first `frames` frames of a recording into BGRx, once and
/// untimed. Any file GStreamer can decode works; the recordings of
/// `scripts/record-screen.sh` are lossless FFV1, so these are the captured
/// pixels exactly.
fn decode_recording(
    path: &std::path::Path,
    frames: usize,
) -> Result<(gst::Caps, Vec<gst::Buffer>)> {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path)
        .build()?;
    let decode = gst::ElementFactory::make("decodebin").build()?;
    let conv = gst::ElementFactory::make("videoconvert").build()?;
    // A few buffers in flight, not the whole file: a 720p BGRx frame is 3.7 MB.
    let sink = gst_app::AppSink::builder()
        .caps(
            &gst::Caps::builder("video/x-raw")
                .field("format", "BGRx")
                .build(),
        )
        .sync(false)
        .max_buffers(4)
        .build();
    pipeline.add_many([&src, &decode, &conv, sink.upcast_ref()])?;
    src.link(&decode)?;
    conv.link(&sink)?;
    let conv_sink = conv.static_pad("sink").unwrap();
    decode.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if is_video && !conv_sink.is_linked() {
            let _ = pad.link(&conv_sink);
        }
    });
    let bus = pipeline.bus().unwrap();
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The element that failed says why on the bus (a missing file, say).
        let why = bus
            .pop_filtered(&[gst::MessageType::Error])
            .and_then(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "cannot start decoding".into());
        let _ = pipeline.set_state(gst::State::Null);
        bail!("{}: {why}", path.display());
    }
    let mut caps = None;
    let mut out = Vec::with_capacity(frames);
    // Polled, not a blocking pull: a decoding error stops the streaming
    // thread without an end-of-stream, and the bus is where it is said.
    let result = loop {
        if out.len() >= frames || sink.is_eos() {
            break Ok(());
        }
        if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            caps.get_or_insert_with(|| s.caps_owned());
            if let Some(b) = s.buffer_owned() {
                out.push(b);
            }
        } else if let Some(m) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = m.view() {
                break Err(anyhow!("{}: {}", path.display(), e.error()));
            }
        }
    };
    pipeline.set_state(gst::State::Null).unwrap();
    result?;
    let info = caps
        .flatten()
        .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
        .with_context(|| format!("{}: no video frames decoded", path.display()))?;
    // The same plain caps the synthetic scenes use, with the file's geometry
    // and rate (x264enc's bitrate is per second, so the rate matters).
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", "BGRx")
        .field("width", info.width() as i32)
        .field("height", info.height() as i32)
        .field("framerate", info.fps())
        .build();
    Ok((caps, out))
}

fn caps(format: &str) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", format)
        .field("width", WIDTH as i32)
        .field("height", HEIGHT as i32)
        .field("framerate", gst::Fraction::new(30, 1))
        .build()
}

/// `caps` with another pixel format.
fn with_format(caps: &gst::Caps, format: &str) -> gst::Caps {
    let mut caps = caps.clone();
    caps.make_mut().set("format", format);
    caps
}

struct RunResult {
    seconds: f64,
    cpu: f64,
    sizes: Vec<usize>,
    encoded: Vec<gst::Buffer>,
    caps: gst::Caps,
}

fn encode(input_caps: &gst::Caps, input: &[gst::Buffer], encoder: &str) -> RunResult {
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder()
        .caps(input_caps)
        .format(gst::Format::Time)
        .max_bytes(0)
        .build();
    let enc = gst::parse::bin_from_description(encoder, true).unwrap();
    let sink = gst_app::AppSink::builder()
        .sync(false)
        .max_buffers(0)
        .build();
    pipeline
        .add_many([
            src.upcast_ref::<gst::Element>(),
            enc.upcast_ref(),
            sink.upcast_ref(),
        ])
        .unwrap();
    gst::Element::link_many([
        src.upcast_ref::<gst::Element>(),
        enc.upcast_ref(),
        sink.upcast_ref(),
    ])
    .unwrap();
    // Queue every frame before the clock starts so only encoding is timed.
    for b in input {
        src.push_buffer(b.clone()).unwrap();
    }
    src.end_of_stream().unwrap();
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut encoded = Vec::new();
    let mut caps = None;
    while let Ok(s) = sink.pull_sample() {
        caps.get_or_insert_with(|| s.caps_owned().unwrap());
        encoded.push(s.buffer_owned().unwrap());
    }
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu0).as_secs_f64();
    pipeline.set_state(gst::State::Null).unwrap();
    RunResult {
        seconds,
        cpu,
        sizes: encoded.iter().map(|b| b.size()).collect(),
        encoded,
        caps: caps.unwrap(),
    }
}

/// Mean PSNR (dB, over all samples of the encoder's input format) of what
/// `decoder` makes of `encoded`; [`PSNR_IDENTICAL`] when every frame comes
/// back exact. The padding byte of BGRx, RGBx, xRGB and xBGR is not a
/// sample: decoders are free to fill it (FFV1's bgr0 gives 0, videoconvert
/// 255), so it is left out.
fn psnr(
    run: &RunResult,
    decoder: &str,
    reference_caps: &gst::Caps,
    reference: &[gst::Buffer],
) -> f64 {
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder()
        .caps(&run.caps)
        .format(gst::Format::Time)
        .build();
    let dec = gst::parse::bin_from_description(&format!("{decoder} ! videoconvert"), true).unwrap();
    let sink = gst_app::AppSink::builder()
        .caps(reference_caps)
        .sync(false)
        .build();
    pipeline
        .add_many([
            src.upcast_ref::<gst::Element>(),
            dec.upcast_ref(),
            sink.upcast_ref(),
        ])
        .unwrap();
    gst::Element::link_many([
        src.upcast_ref::<gst::Element>(),
        dec.upcast_ref(),
        sink.upcast_ref(),
    ])
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    for b in &run.encoded {
        src.push_buffer(b.clone()).unwrap();
    }
    src.end_of_stream().unwrap();
    let padding = gst_video::VideoInfo::from_caps(reference_caps)
        .ok()
        .and_then(|i| PixelFormat::from_caps_name(i.format().to_str()))
        .and_then(PixelFormat::padding_byte);
    let samples = |data: &[u8]| -> Vec<u8> {
        data.iter()
            .enumerate()
            .filter(|(i, _)| padding != Some(i % 4))
            .map(|(_, &v)| v)
            .collect()
    };
    let mut total = 0.0;
    let mut n = 0;
    while let Ok(s) = sink.pull_sample() {
        let got = s.buffer().unwrap().map_readable().unwrap();
        let want = reference[n].map_readable().unwrap();
        total += quality::psnr(&samples(&got), &samples(&want))
            .unwrap_or_else(|| panic!("{decoder}: frame {n} decoded to another size"));
        n += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(
        n,
        reference.len(),
        "{decoder}: decoded {n} of {} frames",
        reference.len()
    );
    total / n as f64
}

/// Makes a scene's frames (BGRx) given the frame count.
type SceneMaker = fn(usize) -> Vec<Vec<u8>>;

struct Candidate {
    name: &'static str,
    input: &'static str,
    encoder: &'static str,
    decoder: &'static str,
}

/// Where a run's scenes come from: the synthetic ones, or recordings.
struct Args {
    inputs: Vec<std::path::PathBuf>,
    frames: usize,
    sweep: bool,
    /// `--sweep --intra`: every deltaenc frame a keyframe.
    intra: bool,
}

fn parse_args() -> Result<Args> {
    let mut inputs = Vec::new();
    let mut frames = None;
    let mut sweep = false;
    let mut intra = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--help" || a == "-h" {
            print!("{USAGE}");
            std::process::exit(0);
        } else if a == "--sweep" {
            sweep = true;
        } else if a == "--intra" {
            intra = true;
        } else if a == "--input" {
            inputs.push(args.next().context("--input needs a FILE")?.into());
        } else if let Some(file) = a.strip_prefix("--input=") {
            inputs.push(file.into());
        } else if let (None, Ok(n)) = (frames, a.parse::<usize>()) {
            frames = Some(n);
        } else {
            bail!("unexpected argument {a:?} (--help says what it takes)");
        }
    }
    Ok(Args {
        inputs,
        frames: frames.unwrap_or(60),
        sweep,
        intra,
    })
}

fn main() {
    gst::init().unwrap();
    gststreamkit::plugin_register_static().unwrap();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("delta-bench: {e:#}");
            std::process::exit(2);
        }
    };
    let frames = args.frames;
    let rounds = 3;
    let candidates = [
        Candidate {
            name: "deltaenc lossless (BGRx)",
            input: "BGRx",
            encoder: "deltaenc mode=lossless",
            decoder: "deltadec",
        },
        Candidate {
            name: "deltaenc lossless threads=2 (BGRx)",
            input: "BGRx",
            encoder: "deltaenc mode=lossless threads=2",
            decoder: "deltadec",
        },
        Candidate {
            name: "deltaenc lossless (I420)",
            input: "I420",
            encoder: "deltaenc mode=lossless",
            decoder: "deltadec",
        },
        Candidate {
            name: "deltaenc lossless threads=2 (I420)",
            input: "I420",
            encoder: "deltaenc mode=lossless threads=2",
            decoder: "deltadec",
        },
        // One row per further native format, each fed that format directly
        // (converted from BGRx once, untimed): the cost of taking it as is.
        Candidate {
            name: "deltaenc lossless (NV12)",
            input: "NV12",
            encoder: "deltaenc mode=lossless",
            decoder: "deltadec",
        },
        Candidate {
            name: "deltaenc lossless (BGRA)",
            input: "BGRA",
            encoder: "deltaenc mode=lossless",
            decoder: "deltadec",
        },
        Candidate {
            name: "deltaenc lossless (RGBA)",
            input: "RGBA",
            encoder: "deltaenc mode=lossless",
            decoder: "deltadec",
        },
        Candidate {
            name: "deltaenc lossless (RGBx)",
            input: "RGBx",
            encoder: "deltaenc mode=lossless",
            decoder: "deltadec",
        },
        Candidate {
            name: "deltaenc lossless (xRGB)",
            input: "xRGB",
            encoder: "deltaenc mode=lossless",
            decoder: "deltadec",
        },
        Candidate {
            name: "deltaenc lossless (xBGR)",
            input: "xBGR",
            encoder: "deltaenc mode=lossless",
            decoder: "deltadec",
        },
        Candidate {
            name: "deltaenc lossy q75 (I420)",
            input: "I420",
            encoder: "deltaenc mode=lossy quality=75",
            decoder: "deltadec",
        },
        Candidate {
            name: "jpegenc q85 (I420)",
            input: "I420",
            encoder: "jpegenc quality=85",
            decoder: "jpegdec",
        },
        Candidate {
            name: "deltaenc lossy q75 (BGRx)",
            input: "BGRx",
            encoder: "deltaenc mode=lossy quality=75",
            decoder: "deltadec",
        },
        Candidate {
            // Fed BGRx itself, jpegenc writes an RGB JPEG without chroma
            // subsampling; so convert to I420 first, full-range BT.601 as
            // JFIF means it (other colorimetry comes back wrong from jpegdec).
            name: "videoconvert ! jpegenc q85 (BGRx)",
            input: "BGRx",
            encoder: "videoconvert ! video/x-raw,format=I420,colorimetry=1:4:0:0 ! jpegenc quality=85",
            decoder: "jpegdec",
        },
        Candidate {
            // The lossless still image: every frame its own PNG. pngenc takes
            // no BGRx, so the conversion to RGB is part of its cost.
            name: "videoconvert ! pngenc (BGRx)",
            input: "BGRx",
            encoder: "videoconvert ! video/x-raw,format=RGB ! pngenc",
            decoder: "pngdec",
        },
        Candidate {
            name: "x264enc ultrafast/zerolatency (I420)",
            input: "I420",
            encoder: "x264enc speed-preset=ultrafast tune=zerolatency",
            decoder: "avdec_h264",
        },
        Candidate {
            name: "x264enc ultrafast/zerolatency CRF 23 (I420)",
            input: "I420",
            // pass=qual is x264's CRF; the high bitrate lifts the VBV cap
            // that newer x264enc versions put on pass=qual from `bitrate`.
            encoder: "x264enc speed-preset=ultrafast tune=zerolatency pass=qual quantizer=23 bitrate=2048000",
            decoder: "avdec_h264",
        },
        Candidate {
            name: "videoconvert ! x264enc ultrafast/zerolatency (BGRx)",
            input: "BGRx",
            encoder: "videoconvert ! x264enc speed-preset=ultrafast tune=zerolatency",
            decoder: "avdec_h264",
        },
    ];
    // DELTA_BENCH_ONLY=substring runs only matching encoders (for profiling).
    let only = std::env::var("DELTA_BENCH_ONLY").unwrap_or_default();
    let candidates: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| only.is_empty() || c.name.contains(&only))
        .collect();
    if args.sweep {
        println!("# delta-bench --sweep: {frames} frames per scene, one run per point");
        if args.inputs.is_empty() {
            let bgrx = to_buffers(camera_scene(frames));
            sweep("camera-like", &caps("BGRx"), &bgrx, args.intra);
        }
        for path in &args.inputs {
            match decode_recording(path, frames) {
                Ok((caps, bufs)) => sweep(&path.display().to_string(), &caps, &bufs, args.intra),
                Err(e) => {
                    eprintln!("delta-bench: {e:#}");
                    std::process::exit(1);
                }
            }
        }
        return;
    }
    println!("# delta-bench: {frames} frames per scene, {rounds} rounds, medians");
    if !args.inputs.is_empty() {
        for path in &args.inputs {
            let (caps, bufs) = match decode_recording(path, frames) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("delta-bench: {e:#}");
                    std::process::exit(1);
                }
            };
            run_scene(
                &path.display().to_string(),
                &caps,
                &bufs,
                &candidates,
                rounds,
            );
        }
        return;
    }
    // DELTA_BENCH_SCENE=screen or camera runs one scene only.
    let scene_filter = std::env::var("DELTA_BENCH_SCENE").unwrap_or_default();
    let scenes: [(&str, SceneMaker); 2] =
        [("screen-like", screen_scene), ("camera-like", camera_scene)];
    for (scene, make) in scenes {
        if !scene.contains(&scene_filter) {
            continue;
        }
        let bgrx = to_buffers(make(frames));
        run_scene(scene, &caps("BGRx"), &bgrx, &candidates, rounds);
    }
}

/// Runs every candidate over one scene's frames and prints its table and
/// the ratios that matter.
fn run_scene(
    scene: &str,
    bgrx_caps: &gst::Caps,
    bgrx_bufs: &[gst::Buffer],
    candidates: &[Candidate],
    rounds: usize,
) {
    let frames = bgrx_bufs.len();
    // Every input format the candidates need, converted once, untimed.
    let mut inputs: Vec<(&str, gst::Caps, Vec<gst::Buffer>)> =
        vec![("BGRx", bgrx_caps.clone(), bgrx_bufs.to_vec())];
    for c in candidates {
        if !inputs.iter().any(|(f, _, _)| *f == c.input) {
            let (caps, bufs) = to_format(bgrx_caps, bgrx_bufs, c.input);
            inputs.push((c.input, caps, bufs));
        }
    }
    let input_of = |c: &Candidate| -> (&gst::Caps, &[gst::Buffer]) {
        let (_, caps, bufs) = inputs
            .iter()
            .find(|(f, _, _)| *f == c.input)
            .expect("every input was converted");
        (caps, bufs)
    };
    let mut results: Vec<Vec<RunResult>> = candidates.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (c, r) in candidates.iter().zip(results.iter_mut()) {
            let (caps, bufs) = input_of(c);
            r.push(encode(caps, bufs, c.encoder));
        }
    }
    let (w, h) = gst_video::VideoInfo::from_caps(bgrx_caps)
        .map(|i| (i.width(), i.height()))
        .unwrap_or_default();
    println!("\n## {scene} ({w}x{h}, {frames} frames)\n");
    println!("| encoder | fps (wall) | CPU ms/frame | bytes/frame first | bytes/frame rest (mean) | rest (max) | PSNR dB |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut rest_sizes = Vec::new();
    let mut fps_of = Vec::new();
    let mut cpu_of = Vec::new();
    for (c, runs) in candidates.iter().zip(&results) {
        let mut secs: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
        secs.sort_by(f64::total_cmp);
        let mut cpus: Vec<f64> = runs.iter().map(|r| r.cpu).collect();
        cpus.sort_by(f64::total_cmp);
        let fps = frames as f64 / secs[rounds / 2];
        let cpu_ms = cpus[rounds / 2] * 1000.0 / frames as f64;
        let sizes = &runs[0].sizes;
        let rest = &sizes[1..];
        let mean = rest.iter().sum::<usize>() as f64 / rest.len() as f64;
        let max = rest.iter().max().copied().unwrap_or(0);
        let (reference_caps, reference) = input_of(c);
        let q = psnr(&runs[0], c.decoder, reference_caps, reference);
        println!(
            "| {} | {:.1} | {:.2} | {} | {:.0} | {} | {} |",
            c.name,
            fps,
            cpu_ms,
            sizes[0],
            mean,
            max,
            if q >= PSNR_IDENTICAL {
                "lossless".to_string()
            } else {
                format!("{q:.1}")
            }
        );
        rest_sizes.push(rest.to_vec());
        fps_of.push(fps);
        cpu_of.push(cpu_ms);
    }
    let find = |prefix: &str| candidates.iter().position(|c| c.name.starts_with(prefix));
    let (Some(x264), Some(jpeg)) = (find("x264enc"), find("jpegenc")) else {
        return;
    };
    println!();
    for (i, c) in candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name.starts_with("deltaenc"))
    {
        let smaller = rest_sizes[i]
            .iter()
            .zip(&rest_sizes[jpeg])
            .filter(|(d, j)| d < j)
            .count();
        println!(
            "{}: {:.1}x x264enc (I420) in CPU time, {:.1}x in wall-clock fps; \
             fewer bytes than jpegenc on {smaller} of {} frames after the first",
            c.name,
            cpu_of[x264] / cpu_of[i],
            fps_of[i] / fps_of[x264],
            rest_sizes[i].len()
        );
    }
    // The native formats side by side: CPU of each against BGRx's, same run.
    if let Some(bgrx) = find("deltaenc lossless (BGRx)") {
        let per_format: Vec<String> = candidates
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                *i != bgrx
                    && c.name.starts_with("deltaenc lossless (")
                    && PixelFormat::from_caps_name(c.input).is_some()
            })
            .map(|(i, c)| format!("{} {:.2}x", c.input, cpu_of[i] / cpu_of[bgrx]))
            .collect();
        if !per_format.is_empty() {
            println!(
                "deltaenc lossless CPU time per format, relative to BGRx: {}",
                per_format.join(", ")
            );
        }
    }
    if let (Some(d), Some(x)) = (
        find("deltaenc lossless (BGRx)"),
        find("videoconvert ! x264enc"),
    ) {
        println!(
            "deltaenc lossless (BGRx) vs videoconvert ! x264enc (BGRx): {:.1}x in CPU time, {:.1}x in wall-clock fps",
            cpu_of[x] / cpu_of[d],
            fps_of[d] / fps_of[x]
        );
    }
}

/// One point of a sweep: an encoder at one quality.
struct SweepPoint {
    quality: u32,
    bytes: f64,
    psnr: f64,
    cpu_ms: f64,
}

/// Runs `encoder` (with `{q}` replaced by each quality) over `input` and
/// measures mean bytes per frame (all frames), PSNR and CPU per frame.
fn sweep_series(
    input_caps: &gst::Caps,
    input: &[gst::Buffer],
    encoder: &str,
    decoder: &str,
    qualities: &[u32],
) -> Vec<SweepPoint> {
    qualities
        .iter()
        .map(|&quality| {
            let run = encode(
                input_caps,
                input,
                &encoder.replace("{q}", &quality.to_string()),
            );
            let psnr = psnr(&run, decoder, input_caps, input);
            SweepPoint {
                quality,
                bytes: run.sizes.iter().sum::<usize>() as f64 / run.sizes.len() as f64,
                psnr,
                cpu_ms: run.cpu * 1000.0 / input.len() as f64,
            }
        })
        .collect()
}

/// Bytes per frame of `series` at `psnr`, interpolating log(bytes) linearly
/// between the two points around it; `None` outside the series' range.
fn bytes_at_psnr(series: &[SweepPoint], psnr: f64) -> Option<f64> {
    let mut points: Vec<&SweepPoint> = series.iter().collect();
    points.sort_by(|a, b| a.psnr.total_cmp(&b.psnr));
    points.windows(2).find_map(|pair| {
        let (a, b) = (pair[0], pair[1]);
        if psnr < a.psnr || psnr > b.psnr || b.psnr <= a.psnr {
            return None;
        }
        let t = (psnr - a.psnr) / (b.psnr - a.psnr);
        Some((a.bytes.ln() + t * (b.bytes.ln() - a.bytes.ln())).exp())
    })
}

/// Lossy coding per byte: deltaenc against jpegenc over a range of
/// qualities, on I420 and BGRx input, in one run.
fn sweep(scene: &str, bgrx_caps: &gst::Caps, bgrx_bufs: &[gst::Buffer], intra: bool) {
    let (i420_caps, i420_bufs) = to_format(bgrx_caps, bgrx_bufs, "I420");
    let qualities = [30, 40, 50, 60, 70, 75, 80, 85, 90, 95];
    let (w, h) = gst_video::VideoInfo::from_caps(bgrx_caps)
        .map(|i| (i.width(), i.height()))
        .unwrap_or_default();
    println!("\n## {scene} ({w}x{h}, {} frames)", bgrx_bufs.len());
    let inputs: [(&str, &gst::Caps, &[gst::Buffer], &str); 2] = [
        ("I420", &i420_caps, &i420_bufs, "jpegenc quality={q}"),
        (
            "BGRx",
            bgrx_caps,
            bgrx_bufs,
            "videoconvert ! video/x-raw,format=I420,colorimetry=1:4:0:0 ! jpegenc quality={q}",
        ),
    ];
    for (format, caps, bufs, jpeg) in inputs {
        let deltaenc = if intra {
            "deltaenc mode=lossy quality={q} key-int-max=1"
        } else {
            "deltaenc mode=lossy quality={q}"
        };
        let delta = sweep_series(caps, bufs, deltaenc, "deltadec", &qualities);
        let jpeg_series = sweep_series(caps, bufs, jpeg, "jpegdec", &qualities);
        println!("\n### {format} input (PSNR over its samples; `{deltaenc}` against `{jpeg}`)\n");
        println!("| quality | deltaenc bytes/frame | PSNR dB | CPU ms/frame | jpegenc bytes/frame | PSNR dB | CPU ms/frame | jpegenc bytes at deltaenc's PSNR | deltaenc / jpegenc |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let mut log_ratios = Vec::new();
        for (d, j) in delta.iter().zip(&jpeg_series) {
            let at = bytes_at_psnr(&jpeg_series, d.psnr);
            if let Some(at) = at {
                log_ratios.push((d.bytes / at).ln());
            }
            println!(
                "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {} |",
                d.quality,
                d.bytes,
                d.psnr,
                d.cpu_ms,
                j.bytes,
                j.psnr,
                j.cpu_ms,
                at.map_or("-".into(), |a| format!("{a:.0}")),
                at.map_or("-".into(), |a| format!("{:.2}", d.bytes / a)),
            );
        }
        if !log_ratios.is_empty() {
            let mean = (log_ratios.iter().sum::<f64>() / log_ratios.len() as f64).exp();
            println!(
                "\n{format}: deltaenc needs {mean:.2}x jpegenc's bytes at equal PSNR \
                 (geometric mean over the {} qualities inside jpegenc's PSNR range)",
                log_ratios.len()
            );
        }
    }
}
