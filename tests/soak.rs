// SPDX-License-Identifier: MPL-2.0
//! Soak: the changes-only stream over real UDP on 127.0.0.1, through netsim
//! with loss, reordering and duplicates, with two resolution changes and a
//! receiver restart, no return path. At the end the loss stops, and every
//! frame output one refresh period later must be bit-exact; resident memory
//! must stay flat.
//!
//! The default suite runs it for 20 s (`short_soak`); `scripts/soak.sh`
//! runs the 10-minute one (`ten_minute_soak`, ignored otherwise).

mod common;

use common::init;
use common::memory::resident_bytes;
use common::net::free_port;
use common::pipeline::check_bus;
use gst::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FPS: u64 = 30;
const REFRESH: u64 = 30;
/// Sizes in order: the stream starts at the first and changes twice.
const SIZES: [(u32, u32); 3] = [(640, 360), (800, 448), (640, 360)];
const LOSS: f64 = 0.05;

fn caps(w: u32, h: u32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", w as i32)
        .field("height", h as i32)
        .field("framerate", gst::Fraction::new(FPS as i32, 1))
        .build()
}

/// Frame `n` at `w`x`h`, I420, screen-like: a static pattern, a box that
/// moves and a strip of "typing" that changes a few blocks each frame. Its
/// number is written into the first four luma bytes (the codec is lossless,
/// so the receiver reads it back exactly once that tile is current).
fn make_frame(n: u64, w: u32, h: u32) -> Vec<u8> {
    let (w, h) = (w as usize, h as usize);
    let mut data = vec![0u8; w * h * 3 / 2];
    let (y, uv) = data.split_at_mut(w * h);
    for (i, row) in y.chunks_exact_mut(w).enumerate() {
        for (j, px) in row.iter_mut().enumerate() {
            *px = (((i / 8) ^ (j / 8)) as u8).wrapping_mul(23) | 0x20;
        }
    }
    // The receiver calls this with whatever number a frame carries, which
    // after a loss can be any 64 bits: no arithmetic here may overflow.
    let (bx, by) = (
        (n.wrapping_mul(3) % (w - 64) as u64) as usize,
        (n.wrapping_mul(2) % (h - 48) as u64) as usize,
    );
    for row in y[by * w..].chunks_exact_mut(w).take(48) {
        row[bx..bx + 64].fill(0xe0);
    }
    let typed = (n % ((w / 8) * 4) as u64) as usize;
    for k in 0..=typed {
        let (cx, cy) = ((k % (w / 8)) * 8, h - 40 + (k / (w / 8)) * 8);
        for row in y[cy * w..].chunks_exact_mut(w).take(6) {
            row[cx..cx + 6].fill(0x10 + (k as u8 % 7) * 9);
        }
    }
    y[..8].copy_from_slice(&n.to_le_bytes());
    for (i, px) in uv.iter_mut().enumerate() {
        *px = 128u8.wrapping_add((i / 97) as u8 & 0x0f);
    }
    data
}

/// What the receiver saw.
#[derive(Default)]
struct Received {
    frames: u64,
    exact: u64,
    /// Frames numbered at or after `exact_from` that were not bit-exact.
    wrong_after_heal: Vec<u64>,
    /// Frames numbered at or after `exact_from` that arrived.
    after_heal: u64,
}

struct Receiver {
    pipeline: gst::Pipeline,
}

impl Receiver {
    fn start(
        port: u16,
        sizes: Arc<Mutex<Vec<(u64, u32, u32)>>>,
        seen: Arc<Mutex<Received>>,
        exact_from: Arc<AtomicU64>,
    ) -> Self {
        let pipeline = gst::parse::launch(&format!(
            "udpsrc address=127.0.0.1 port={port} buffer-size=4194304 \
             caps=\"application/x-rtp,media=video,clock-rate=90000,encoding-name=X-STREAMKIT-DELTA\" \
             ! rtpdeltadepay ! deltadec ! appsink name=out sync=false"
        ))
        .expect("receiver pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
        let sink = common::pipeline::appsink(&pipeline, "out");
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let info =
                        gst_video::VideoInfo::from_caps(caps).map_err(|_| gst::FlowError::Error)?;
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    let n = u64::from_le_bytes(map[..8].try_into().expect("8 bytes"));
                    // The size frame n was sent at, if n is a frame number at all.
                    let size = sizes
                        .lock()
                        .unwrap()
                        .iter()
                        .rev()
                        .find(|(first, _, _)| *first <= n)
                        .map(|&(_, w, h)| (w, h));
                    let exact = size == Some((info.width(), info.height()))
                        && map.as_slice() == make_frame(n, info.width(), info.height()).as_slice();
                    let mut seen = seen.lock().unwrap();
                    seen.frames += 1;
                    seen.exact += exact as u64;
                    let from = exact_from.load(Ordering::SeqCst);
                    if n >= from && from > 0 {
                        seen.after_heal += 1;
                        if !exact {
                            seen.wrong_after_heal.push(n);
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline
            .set_state(gst::State::Playing)
            .expect("receiver to PLAYING");
        Receiver { pipeline }
    }

    fn check_bus(&self) {
        check_bus(self.pipeline.upcast_ref(), "receiver error");
    }

    fn stop(self) {
        self.check_bus();
        self.pipeline
            .set_state(gst::State::Null)
            .expect("receiver to NULL");
    }
}

fn soak(seconds: u64) {
    init();
    let total = seconds * FPS;
    let port = free_port();
    // Loss stops for the last 4 s: one refresh period (1 s) to heal, the rest
    // to prove it stays exact.
    let loss_until = total - 4 * FPS;
    let resize_at = [total / 4, total / 2];
    let restart_at = total * 3 / 4 - total / 10;

    let sender = gst::parse::launch(&format!(
        "appsrc name=src is-live=true format=time do-timestamp=false \
         ! deltaenc intra-refresh={REFRESH} ! rtpdeltapay mtu=1200 \
         ! netsim name=net drop-probability={LOSS} duplicate-probability=0.01 \
           delay-probability=0.05 min-delay=1 max-delay=15 allow-reordering=true \
         ! udpsink host=127.0.0.1 port={port} sync=false async=false"
    ))
    .expect("sender pipeline")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    let src = common::pipeline::appsrc(&sender, "src");
    let net = sender.by_name("net").expect("netsim");

    let sizes = Arc::new(Mutex::new(vec![(0u64, SIZES[0].0, SIZES[0].1)]));
    let seen = Arc::new(Mutex::new(Received::default()));
    let exact_from = Arc::new(AtomicU64::new(0));
    let mut receiver = Some(Receiver::start(
        port,
        sizes.clone(),
        seen.clone(),
        exact_from.clone(),
    ));
    src.set_caps(Some(&caps(SIZES[0].0, SIZES[0].1)));
    sender
        .set_state(gst::State::Playing)
        .expect("sender to PLAYING");

    let start = Instant::now();
    let mut size_index = 0;
    let mut rss_after_a_minute = None;
    let mut rss_max = 0;
    for n in 0..total {
        if resize_at.contains(&n) {
            size_index += 1;
            let (w, h) = SIZES[size_index];
            sizes.lock().unwrap().push((n, w, h));
            src.set_caps(Some(&caps(w, h)));
        }
        if n == restart_at {
            if let Some(r) = receiver.take() {
                r.stop();
            }
            receiver = Some(Receiver::start(
                port,
                sizes.clone(),
                seen.clone(),
                exact_from.clone(),
            ));
        }
        if n == loss_until {
            net.set_property("drop-probability", 0.0f32);
            net.set_property("duplicate-probability", 0.0f32);
            net.set_property("delay-probability", 0.0f32);
            // One refresh period, plus the frames that may still be in
            // flight or held for reordering.
            exact_from.store(n + REFRESH + 3, Ordering::SeqCst);
        }
        let (w, h) = SIZES[size_index];
        let mut buffer = gst::Buffer::from_mut_slice(make_frame(n, w, h));
        {
            let b = buffer.get_mut().expect("writable");
            b.set_pts(gst::ClockTime::from_nseconds(n * 1_000_000_000 / FPS));
            b.set_duration(gst::ClockTime::from_nseconds(1_000_000_000 / FPS));
        }
        src.push_buffer(buffer).expect("push frame");
        if n % FPS == 0 {
            if let Some(r) = &receiver {
                r.check_bus();
            }
            let rss = resident_bytes();
            rss_max = rss_max.max(rss);
            if n == 60 * FPS {
                rss_after_a_minute = Some(rss);
            }
        }
        // Live pace.
        let due = start + Duration::from_nanos((n + 1) * 1_000_000_000 / FPS);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    // Let the last packets arrive.
    std::thread::sleep(Duration::from_millis(300));
    let rss_end = resident_bytes();
    src.end_of_stream().expect("EOS");
    sender.set_state(gst::State::Null).expect("sender to NULL");
    if let Some(r) = receiver.take() {
        r.stop();
    }

    let seen = seen.lock().unwrap();
    eprintln!(
        "soak {seconds} s: {total} frames sent, {} output, {} bit-exact; after healing (from frame {}): {} output, {} not exact; resident: after 1 min {:?} KiB, max {} KiB, end {} KiB",
        seen.frames,
        seen.exact,
        exact_from.load(Ordering::SeqCst),
        seen.after_heal,
        seen.wrong_after_heal.len(),
        rss_after_a_minute.map(|r| r / 1024),
        rss_max / 1024,
        rss_end / 1024
    );
    assert!(
        seen.wrong_after_heal.is_empty(),
        "frames not bit-exact one refresh period after the loss stopped: {:?}",
        &seen.wrong_after_heal[..seen.wrong_after_heal.len().min(20)]
    );
    // Nearly every frame of the clean tail arrives (loopback, no loss).
    let tail = total - exact_from.load(Ordering::SeqCst);
    assert!(
        seen.after_heal * 10 >= tail * 9,
        "only {} of the last {tail} frames were output",
        seen.after_heal
    );
    if let Some(base) = rss_after_a_minute {
        assert!(
            rss_end <= base + 5 * 1024 * 1024,
            "resident memory grew from {} KiB after the first minute to {} KiB",
            base / 1024,
            rss_end / 1024
        );
    }
}

#[test]
fn short_soak() {
    soak(20);
}

#[test]
#[ignore = "takes 10 minutes: run it with scripts/soak.sh"]
fn ten_minute_soak() {
    let seconds = std::env::var("STREAMKIT_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    soak(seconds);
}
