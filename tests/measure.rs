// SPDX-License-Identifier: MPL-2.0
//! framestamp + framemeter on real pipelines: the code survives lossy coding
//! and colour conversion, latency matches a known delay, and losses and
//! freezes are counted exactly.

mod common;

use common::init;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_video::prelude::*;

/// A pipeline that ran to EOS; stopped when dropped.
struct Ran {
    pipeline: gst::Pipeline,
}

impl Drop for Ran {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Runs `launch` to EOS (failing on error or after 60 s) and returns the
/// meter's final `stats` and the framemeter messages it posted.
fn run(launch: &str, setup: impl FnOnce(&gst::Pipeline)) -> (gst::Structure, Vec<gst::Structure>) {
    let (stats, messages, _) = run_keep(launch, setup);
    (stats, messages)
}

/// As [`run`], also handing back the pipeline (still PLAYING, at EOS).
fn run_keep(
    launch: &str,
    setup: impl FnOnce(&gst::Pipeline),
) -> (gst::Structure, Vec<gst::Structure>, Ran) {
    init();
    let pipeline = gst::parse::launch(launch)
        .expect("pipeline parses")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    setup(&pipeline);
    let bus = pipeline.bus().expect("pipeline has a bus");
    pipeline
        .set_state(gst::State::Playing)
        .expect("pipeline plays");
    let mut messages = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                pipeline.set_state(gst::State::Null).ok();
                panic!(
                    "pipeline error from {:?}: {} ({:?})",
                    e.src().map(|s| s.path_string()),
                    e.error(),
                    e.debug()
                );
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    if s.name().starts_with("framemeter") {
                        messages.push(s.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    let meter = pipeline.by_name("meter").expect("pipeline has a meter");
    let stats = meter.property::<gst::Structure>("stats");
    (stats, messages, Ran { pipeline })
}

fn count(stats: &gst::Structure, field: &str) -> u64 {
    stats
        .get::<u64>(field)
        .unwrap_or_else(|e| panic!("stats field {field}: {e}; stats {stats}"))
}

fn ms(stats: &gst::Structure, field: &str) -> f64 {
    count(stats, field) as f64 / 1e6
}

/// Moving content everywhere, so the codecs have work to do around the code.
const MOVING_720P: &str = "videotestsrc pattern=smpte horizontal-speed=7 num-buffers=30 \
     ! video/x-raw,width=1280,height=720,framerate=30/1";

fn assert_all_read(stats: &gst::Structure, frames: u64) {
    assert_eq!(count(stats, "frames-unreadable"), 0, "{stats}");
    assert_eq!(count(stats, "frames-new"), frames, "{stats}");
    assert_eq!(count(stats, "frames-received"), frames, "{stats}");
    assert_eq!(count(stats, "frames-missing"), 0, "{stats}");
    assert_eq!(stats.get::<u32>("first-frame").ok(), Some(0), "{stats}");
    assert_eq!(
        stats.get::<u32>("last-frame").ok(),
        Some(frames as u32 - 1),
        "{stats}"
    );
}

#[test]
fn stamps_survive_jpeg_quality_50_at_720p() {
    let (stats, _) = run(
        &format!(
            "{MOVING_720P},format=I420 ! framestamp ! jpegenc quality=50 ! jpegdec \
             ! framemeter name=meter ! fakesink"
        ),
        |_| {},
    );
    assert_all_read(&stats, 30);
}

#[test]
fn stamps_survive_rgb_to_yuv_jpeg_and_back_to_rgb() {
    // stamped in BGRx, coded as 4:2:0 JPEG, read in RGBx: two colour
    // conversions and chroma subsampling in between
    let (stats, _) = run(
        &format!(
            "{MOVING_720P},format=BGRx ! framestamp ! videoconvert ! video/x-raw,format=I420 \
             ! jpegenc quality=50 ! jpegdec ! videoconvert ! video/x-raw,format=RGBx \
             ! framemeter name=meter ! fakesink"
        ),
        |_| {},
    );
    assert_all_read(&stats, 30);
}

#[test]
fn stamps_survive_x264_defaults_at_720p() {
    let (stats, _) = run(
        &format!(
            "{MOVING_720P},format=I420 ! framestamp ! x264enc ! avdec_h264 \
             ! framemeter name=meter ! fakesink"
        ),
        |_| {},
    );
    assert_all_read(&stats, 30);
}

#[test]
fn stamps_survive_lossy_deltaenc_at_720p() {
    let (stats, _) = run(
        &format!(
            "{MOVING_720P},format=I420 ! framestamp ! deltaenc mode=lossy ! deltadec \
             ! framemeter name=meter ! fakesink"
        ),
        |_| {},
    );
    assert_all_read(&stats, 30);
}

#[test]
fn stamps_survive_nv12() {
    let (stats, _) = run(
        "videotestsrc pattern=ball num-buffers=20 ! video/x-raw,width=320,height=240,format=NV12 \
         ! framestamp x=32 y=64 block-size=8 ! videoconvert ! video/x-raw,format=Y444 \
         ! framemeter name=meter x=32 y=64 block-size=8 ! fakesink",
        |_| {},
    );
    assert_all_read(&stats, 20);
}

#[test]
fn unstamped_frames_are_unreadable_not_misread() {
    let (stats, _) = run(
        "videotestsrc pattern=smpte num-buffers=10 ! video/x-raw,width=320,height=240 \
         ! framemeter name=meter ! fakesink",
        |_| {},
    );
    assert_eq!(count(&stats, "frames-unreadable"), 10, "{stats}");
    assert_eq!(count(&stats, "frames-new"), 0, "{stats}");
}

/// The added delay, and how far above it the measured median may be: the
/// rest of the pipeline is a few copies on a loaded 2-core machine.
const DELAY_MS: f64 = 100.0;
const DELAY_TOLERANCE_MS: f64 = 15.0;

#[test]
fn latency_matches_a_known_delay() {
    // A live source at 50 fps, and a queue that lets a frame out only once
    // it holds min-threshold-time of video. The queue counts the newest
    // frame's 20 ms duration in what it holds, so a threshold of 120 ms
    // holds each frame 100 ms after its capture.
    let (stats, messages) = run(
        "videotestsrc is-live=true num-buffers=40 ! video/x-raw,width=320,height=240,framerate=50/1 \
         ! framestamp ! queue min-threshold-time=120000000 max-size-time=0 max-size-buffers=0 \
         max-size-bytes=0 ! framemeter name=meter interval=250000000 ! fakesink sync=false",
        |_| {},
    );
    // the queue keeps the last 100 ms when EOS arrives and then flushes them
    // out at once, so judge the frames that waited the full delay: p50
    let p50 = ms(&stats, "latency-p50");
    assert!(
        (DELAY_MS..DELAY_MS + DELAY_TOLERANCE_MS).contains(&p50),
        "median latency {p50} ms, expected {DELAY_MS}..{} ms: {stats}",
        DELAY_MS + DELAY_TOLERANCE_MS
    );
    let max = ms(&stats, "latency-max");
    assert!(
        max < DELAY_MS + 2.0 * DELAY_TOLERANCE_MS,
        "max {max} ms: {stats}"
    );
    // 40 frames at 50 fps = 0.8 s of arrivals: 3 interval messages and one at EOS
    let periodic = messages.iter().filter(|m| m.name() == "framemeter").count();
    assert!(
        (3..=5).contains(&periodic),
        "{periodic} messages: {messages:?}"
    );
    let fps = stats.get::<f64>("fps").expect("fps");
    assert!((40.0..60.0).contains(&fps), "fps {fps}");
}

#[test]
fn no_delay_measures_near_zero() {
    let (stats, _) = run(
        "videotestsrc is-live=true num-buffers=20 ! video/x-raw,width=320,height=240,framerate=50/1 \
         ! framestamp ! framemeter name=meter ! fakesink sync=false",
        |_| {},
    );
    let p50 = ms(&stats, "latency-p50");
    assert!(
        p50 < 10.0,
        "median latency {p50} ms without any delay: {stats}"
    );
    // a new picture every 20 ms; a loaded machine may stall it a little
    let stall = ms(&stats, "longest-stall");
    assert!(
        (15.0..200.0).contains(&stall),
        "longest stall {stall} ms at 50 fps: {stats}"
    );
}

#[test]
fn dropped_frames_are_counted_as_missing() {
    let dropped: Arc<Mutex<Vec<u64>>> = Arc::default();
    let dropped_in_probe = dropped.clone();
    let (stats, _) = run(
        "videotestsrc num-buffers=40 ! video/x-raw,width=320,height=240 ! framestamp name=stamp \
         ! jpegenc quality=50 ! jpegdec ! framemeter name=meter ! fakesink",
        move |pipeline| {
            let pad = pipeline
                .by_name("stamp")
                .and_then(|e| e.static_pad("src"))
                .expect("framestamp src pad");
            let n = AtomicU64::new(0);
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let this = n.fetch_add(1, Ordering::Relaxed);
                // frames 10..=14 and 30, as a network might lose them
                if (10..=14).contains(&this) || this == 30 {
                    dropped_in_probe.lock().unwrap().push(this);
                    gst::PadProbeReturn::Drop
                } else {
                    gst::PadProbeReturn::Ok
                }
            });
        },
    );
    assert_eq!(dropped.lock().unwrap().len(), 6);
    assert_eq!(count(&stats, "frames-missing"), 6, "{stats}");
    assert_eq!(count(&stats, "gaps"), 2, "{stats}");
    assert_eq!(count(&stats, "longest-gap"), 5, "{stats}");
    assert_eq!(count(&stats, "frames-new"), 34, "{stats}");
    assert_eq!(count(&stats, "frames-repeated"), 0, "{stats}");
    assert_eq!(count(&stats, "frames-unreadable"), 0, "{stats}");
}

#[test]
fn repeated_frames_are_counted_as_frozen() {
    // 10 stamped frames per second shown at 30: videorate repeats each
    // picture, and says how many copies it made
    let (stats, messages, ran) = run_keep(
        "videotestsrc num-buffers=10 ! video/x-raw,width=320,height=240,framerate=10/1 \
         ! framestamp ! videorate name=rate ! video/x-raw,framerate=30/1 \
         ! framemeter name=meter post-frames=true interval=0 ! fakesink",
        |_| {},
    );
    let duplicated = ran
        .pipeline
        .by_name("rate")
        .expect("videorate")
        .property::<u64>("duplicate");
    let new = count(&stats, "frames-new");
    let repeated = count(&stats, "frames-repeated");
    assert_eq!(new, 10, "{stats}");
    assert!(duplicated >= 10, "videorate made only {duplicated} copies");
    assert_eq!(repeated, duplicated, "{stats}");
    assert_eq!(count(&stats, "frames-missing"), 0, "{stats}");
    let frames: Vec<_> = messages
        .iter()
        .filter(|m| m.name() == "framemeter-frame")
        .collect();
    assert_eq!(frames.len() as u64, new + repeated);
    let repeated_msgs = frames
        .iter()
        .filter(|m| m.get::<&str>("status").ok() == Some("repeated"))
        .count() as u64;
    assert_eq!(repeated_msgs, repeated);
    assert!(frames.iter().all(|m| m.has_field("frame-number")));
}

#[test]
fn stamp_that_does_not_fit_is_an_error() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=1 ! video/x-raw,width=160,height=120 ! framestamp ! fakesink",
    )
    .expect("parses");
    let bus = pipeline.bus().expect("bus");
    pipeline.set_state(gst::State::Playing).expect("plays");
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .expect("a message");
    pipeline.set_state(gst::State::Null).expect("stops");
    match msg.view() {
        gst::MessageView::Error(e) => {
            assert!(
                e.error().to_string().contains("does not fit"),
                "{}",
                e.error()
            )
        }
        _ => panic!("expected an error, got {msg:?}"),
    }
}

#[test]
fn framestamp_touches_only_the_code_area_and_counts_from_zero() {
    init();
    let mut h = gst_check::Harness::new("framestamp");
    h.element()
        .expect("framestamp")
        .set_property("block-size", 8u32);
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Bgrx, 320, 240)
        .build()
        .expect("video info");
    h.set_src_caps(info.to_caps().expect("caps"));
    let layout = gststreamkit::measure::stampcode::StampLayout::new(16, 16, 8).expect("layout");
    let area = layout.bounds();
    for n in 0..3u32 {
        let mut buffer = gst::Buffer::from_mut_slice(vec![0x40u8; info.size()]);
        buffer
            .get_mut()
            .expect("writable")
            .set_pts(gst::ClockTime::from_mseconds(u64::from(n) * 33));
        let out = h.push_and_pull(buffer).expect("a frame out");
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(out.as_ref(), &info)
            .expect("readable frame");
        let stamp =
            gststreamkit::gstcommon::stampframe::read_frame_stamp(&frame, &layout).expect("stamp");
        assert_eq!(stamp.frame, n);
        let data = frame.plane_data(0).expect("plane");
        let stride = frame.plane_stride()[0] as usize;
        for y in 0..240u32 {
            for x in 0..320u32 {
                let px = &data[y as usize * stride + x as usize * 4..][..4];
                let inside = x >= area.x
                    && x < area.x + area.width
                    && y >= area.y
                    && y < area.y + area.height;
                if inside {
                    assert!(
                        px[0] == px[1] && px[1] == px[2],
                        "colour in code at ({x},{y})"
                    );
                    assert!(
                        px[0] == 0 || px[0] == 255,
                        "grey level {} at ({x},{y})",
                        px[0]
                    );
                } else {
                    assert_eq!(px, &[0x40; 4], "changed outside the code at ({x},{y})");
                }
                assert_eq!(px[3], 0x40, "padding byte written at ({x},{y})");
            }
        }
    }
    assert_eq!(
        h.element()
            .expect("framestamp")
            .property::<u64>("frames-stamped"),
        3
    );
}
