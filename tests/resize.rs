//! A resolution change mid-stream over lossy RTP, with no return path: the
//! receiver must adopt the new size and converge by intra refresh alone.

mod common;

use common::init;
use gst::prelude::*;
use gst_check::Harness;
use gst_video::prelude::*;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const FRAME_MS: u64 = 33;
const BEFORE: (u32, u32) = (320, 240);
const AFTER: (u32, u32) = (384, 288);

fn raw_caps((w, h): (u32, u32)) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", w as i32)
        .field("height", h as i32)
        .field("framerate", gst::Fraction::new(30, 1))
        .build()
}

/// Small deterministic generator, so every run sees the same loss.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() as f64) < p * (1u64 << 31) as f64
    }
}

/// Frame `t` at `size`: a square sliding over a gradient that changes every
/// 45 frames, so a lost background update stays wrong until refreshed.
fn make_frame(t: u64, size: (u32, u32)) -> gst::Buffer {
    let info = gst_video::VideoInfo::from_caps(&raw_caps(size)).unwrap();
    let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
    {
        let buf = buffer.get_mut().unwrap();
        buf.set_pts(gst::ClockTime::from_mseconds(FRAME_MS * t));
        buf.set_duration(gst::ClockTime::from_mseconds(FRAME_MS));
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &info).unwrap();
        for p in 0..frame.n_planes() {
            let stride = frame.plane_stride()[p as usize] as usize;
            let scale = if p == 0 { 1 } else { 2 };
            let data = frame.plane_data_mut(p).unwrap();
            for (i, v) in data.iter_mut().enumerate() {
                let (x, y) = ((i % stride) * scale, (i / stride) * scale);
                let sx = (t as usize * 5) % size.0 as usize;
                let scene = (t / 45) as usize;
                *v = if x >= sx && x < sx + 48 && (60..120).contains(&y) {
                    220
                } else {
                    ((x / 2 + y + p as usize * 70 + scene * 37) % 200) as u8
                };
            }
        }
    }
    buffer
}

fn bytes(buffer: &gst::BufferRef) -> Vec<u8> {
    buffer.map_readable().unwrap().to_vec()
}

#[test]
fn a_resize_under_loss_converges_without_keyframe_requests() {
    init();
    let refresh = 30u64;
    let resize_at = 60u64;
    let loss_until = 120u64;
    let frames = 200u64;
    let size_of = |t: u64| if t < resize_at { BEFORE } else { AFTER };

    let mut h = Harness::new_parse(&format!(
        "deltaenc name=enc tile-size=32 intra-refresh={refresh} ! rtpdeltapay name=pay mtu=600 ! \
         rtpdeltadepay name=depay request-keyframe=false ! deltadec name=dec"
    ));
    let bin = h.element().unwrap().downcast::<gst::Bin>().unwrap();
    let pay = bin.by_name("pay").unwrap();
    let depay = bin.by_name("depay").unwrap();
    let enc = bin.by_name("enc").unwrap();
    let dec = bin.by_name("dec").unwrap();

    // Seeded 5% loss until `loss_until`, and the first packet of each of
    // the first two frames of the new size: the new size's keyframe arrives
    // incomplete (its keyframe flag cleared) and so does the next frame.
    let frame_of = |b: &gst::BufferRef| b.pts().unwrap().mseconds() / FRAME_MS;
    let rng = Mutex::new(Lcg(99));
    let seen = Mutex::new(std::collections::BTreeSet::new());
    let lost = Arc::new(AtomicU64::new(0));
    let lose = {
        let lost = lost.clone();
        move |b: &gst::BufferRef| {
            let t = frame_of(b);
            let first_of_frame = seen.lock().unwrap().insert(t);
            let drop = (first_of_frame && (resize_at..resize_at + 2).contains(&t))
                || (t < loss_until && rng.lock().unwrap().chance(0.05));
            lost.fetch_add(drop as u64, Ordering::Relaxed);
            drop
        }
    };
    pay.static_pad("src").unwrap().add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| match &mut info.data {
            Some(gst::PadProbeData::BufferList(list)) => {
                list.make_mut().foreach_mut(|b, _| {
                    ControlFlow::Continue(if lose(&b) { None } else { Some(b) })
                });
                gst::PadProbeReturn::Ok
            }
            Some(gst::PadProbeData::Buffer(b)) if lose(b) => gst::PadProbeReturn::Drop,
            _ => gst::PadProbeReturn::Ok,
        },
    );
    // No return path: deltadec's keyframe requests never reach the encoder.
    let requests = Arc::new(AtomicU64::new(0));
    {
        let requests = requests.clone();
        depay.static_pad("sink").unwrap().add_probe(
            gst::PadProbeType::EVENT_UPSTREAM,
            move |_, info| {
                let Some(gst::PadProbeData::Event(e)) = &info.data else {
                    return gst::PadProbeReturn::Ok;
                };
                if gst_video::UpstreamForceKeyUnitEvent::parse(e).is_ok() {
                    requests.fetch_add(1, Ordering::Relaxed);
                    // Swapped for an event nobody acts on: GStreamer 1.22
                    // warns when a probe drops a pushed upstream event.
                    let inert = gst::event::CustomUpstream::new(gst::Structure::new_empty(
                        "test-keyframe-request-dropped",
                    ));
                    info.data = Some(gst::PadProbeData::Event(inert));
                }
                gst::PadProbeReturn::Ok
            },
        );
    }

    let mut outputs: Vec<(u64, bool)> = Vec::new();
    let collect = |h: &mut Harness, outputs: &mut Vec<(u64, bool)>| {
        while let Some(o) = h.try_pull() {
            let t = frame_of(&o);
            outputs.push((t, bytes(&o) == bytes(&make_frame(t, size_of(t)))));
        }
    };
    for t in 0..frames {
        if t == 0 || t == resize_at {
            h.set_src_caps(raw_caps(size_of(t)));
        }
        h.push(make_frame(t, size_of(t))).unwrap();
        collect(&mut h, &mut outputs);
    }
    h.push_event(gst::event::Eos::new());
    collect(&mut h, &mut outputs);

    let stats = dec.property::<gst::Structure>("stats");
    eprintln!(
        "{} packets lost, {} outputs, {} keyframe requests stopped, deltadec {stats}",
        lost.load(Ordering::Relaxed),
        outputs.len(),
        requests.load(Ordering::Relaxed)
    );
    let forced = enc
        .property::<gst::Structure>("stats")
        .get::<u64>("forced-keyframes")
        .unwrap();
    assert_eq!(forced, 0, "a keyframe request reached the encoder");
    assert!(
        outputs.iter().any(|(t, exact)| *t < resize_at && *exact),
        "the old size was decoded"
    );
    // Within one refresh period of the loss stopping (plus the frame a lost
    // marker can delay), every output is bit-exact at the new size.
    let converged = loss_until + refresh + 1;
    let bad: Vec<u64> = outputs
        .iter()
        .filter(|(t, exact)| *t >= converged && !exact)
        .map(|(t, _)| *t)
        .collect();
    assert!(bad.is_empty(), "not bit-exact after convergence: {bad:?}");
    let after: Vec<u64> = outputs
        .iter()
        .filter(|(t, _)| *t >= converged)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        after,
        (converged..frames).collect::<Vec<_>>(),
        "every frame after convergence is output"
    );
}
