// SPDX-License-Identifier: MPL-2.0
//! A resolution change mid-stream over lossy RTP, with no return path: the
//! receiver must adopt the new size and converge by intra refresh alone.

mod common;

use common::init;
use common::media::{bytes, raw_caps, scene_frame, FRAME_MS};
use common::rng::Lcg;
use gst::prelude::*;
use gst_check::Harness;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const BEFORE: (u32, u32) = (320, 240);
const AFTER: (u32, u32) = (384, 288);

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
            outputs.push((t, bytes(&o) == bytes(&scene_frame(t, size_of(t), false))));
        }
    };
    for t in 0..frames {
        if t == 0 || t == resize_at {
            let (width, height) = size_of(t);
            h.set_src_caps(raw_caps("I420", width, height));
        }
        h.push(scene_frame(t, size_of(t), false)).unwrap();
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
