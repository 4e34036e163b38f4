// SPDX-License-Identifier: MPL-2.0
//! Packet loss between rtpdeltapay and rtpdeltadepay: the receiver never
//! stalls, and heals by intra refresh, by a keyframe request, or (with
//! keyframes only) at the next frame.

mod common;

use common::init;
use common::media::{bytes, FRAME_MS};
use common::rng::Lcg;
use common::rtp::{source_caps, source_frame, stat};
use gst::prelude::*;
use gst_check::Harness;
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

/// Output of a lossy run through deltaenc ! pay ! (loss) ! depay ! deltadec.
struct LossRun {
    /// PTS of frames at least one packet of which reached the depayloader.
    delivered: BTreeSet<u64>,
    /// (frame index, bit-exact with its source) for every decoded frame.
    outputs: Vec<(u64, bool)>,
    depay: gst::Element,
    enc: gst::Element,
}

impl LossRun {
    /// Every frame that had a packet arrive was output (the receiver never
    /// stalls nor withholds).
    fn assert_no_stall(&self) {
        let out: BTreeSet<u64> = self
            .outputs
            .iter()
            .map(|(t, _)| gst::ClockTime::from_mseconds(FRAME_MS * t).nseconds())
            .collect();
        let missing: Vec<_> = self.delivered.difference(&out).collect();
        assert!(
            missing.is_empty(),
            "frames delivered but not output: {missing:?}"
        );
    }

    /// Every output frame from `first` on is bit-exact.
    fn assert_exact_from(&self, first: u64) {
        let bad: Vec<u64> = self
            .outputs
            .iter()
            .filter(|(t, exact)| *t >= first && !exact)
            .map(|(t, _)| *t)
            .collect();
        assert!(
            bad.is_empty(),
            "frames not bit-exact after healing: {bad:?}"
        );
        assert!(self.outputs.iter().any(|(t, _)| *t >= first));
    }

    fn damaged_outputs(&self) -> usize {
        self.outputs.iter().filter(|(_, exact)| !exact).count()
    }

    fn enc_stat(&self, name: &str) -> u64 {
        self.enc
            .property::<gst::Structure>("stats")
            .get::<u64>(name)
            .unwrap()
    }
}

/// Runs `frames` frames; `drop_packet(frame, rng)` decides each packet's fate
/// at the payloader's output while `frame < loss_frames`. With `netsim`, a
/// netsim at `drop` probability sits in the path instead and is switched
/// off after `loss_frames`.
fn loss_run(
    frames: u64,
    loss_frames: u64,
    enc_props: &str,
    depay_props: &str,
    loss: Loss,
) -> LossRun {
    let netsim = match loss {
        Loss::Netsim(p) => format!("netsim name=net drop-probability={p} ! "),
        Loss::Probe(_) => String::new(),
    };
    // output-incomplete: a frame 0 that lost packets is shown too (with
    // placeholder tiles) instead of withheld, so "every frame that had a
    // packet arrive is output" holds from the first frame on.
    let mut h = Harness::new_parse(&format!(
        "deltaenc name=enc tile-size=32 {enc_props} ! rtpdeltapay name=pay mtu=600 ! \
         {netsim}identity name=tap ! rtpdeltadepay name=depay {depay_props} ! deltadec output-incomplete=true"
    ));
    let bin = h.element().unwrap().downcast::<gst::Bin>().unwrap();
    let pay = bin.by_name("pay").unwrap();
    let tap = bin.by_name("tap").unwrap();
    let depay = bin.by_name("depay").unwrap();
    let enc = bin.by_name("enc").unwrap();

    let frame_of = |b: &gst::BufferRef| b.pts().unwrap().mseconds() / FRAME_MS;
    if let Loss::Probe(p) = loss {
        let rng = Mutex::new(Lcg(1234));
        pay.static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER_LIST, move |_, info| {
                if let Some(gst::PadProbeData::BufferList(list)) = &mut info.data {
                    let mut rng = rng.lock().unwrap();
                    list.make_mut().foreach_mut(|b, _| {
                        let lose = frame_of(&b) < loss_frames && rng.chance(p);
                        ControlFlow::Continue(if lose { None } else { Some(b) })
                    });
                }
                gst::PadProbeReturn::Ok
            });
    }
    let delivered = Arc::new(Mutex::new(BTreeSet::new()));
    {
        let delivered = delivered.clone();
        tap.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let mut d = delivered.lock().unwrap();
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => {
                        d.insert(b.pts().unwrap().nseconds());
                    }
                    Some(gst::PadProbeData::BufferList(l)) => {
                        for b in l.iter() {
                            d.insert(b.pts().unwrap().nseconds());
                        }
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    }

    h.set_src_caps(source_caps());
    let mut outputs = Vec::new();
    let collect = |h: &mut Harness, outputs: &mut Vec<(u64, bool)>| {
        while let Some(o) = h.try_pull() {
            let t = frame_of(&o);
            outputs.push((t, bytes(&o) == bytes(&source_frame(t))));
        }
    };
    for t in 0..frames {
        if t == loss_frames {
            if let Some(net) = bin.by_name("net") {
                net.set_property("drop-probability", 0f32);
            }
        }
        h.push(source_frame(t)).unwrap();
        collect(&mut h, &mut outputs);
    }
    h.push_event(gst::event::Eos::new());
    collect(&mut h, &mut outputs);
    let delivered = delivered.lock().unwrap().clone();
    LossRun {
        delivered,
        outputs,
        depay,
        enc,
    }
}

#[derive(Clone, Copy)]
enum Loss {
    /// Seeded drop at this probability at the payloader's output.
    Probe(f64),
    /// netsim drop-probability.
    Netsim(f32),
}

#[test]
fn loss_heals_within_the_intra_refresh_period() {
    init();
    let refresh = 15;
    let loss_frames = 200;
    let run = loss_run(
        300,
        loss_frames,
        &format!("intra-refresh={refresh}"),
        "request-keyframe=false",
        Loss::Probe(0.05),
    );
    let lost_frames = 300 - run.delivered.len();
    eprintln!(
        "probe 5%: {} frames delivered, {} output, {} not bit-exact, depay {:?}",
        run.delivered.len(),
        run.outputs.len(),
        run.damaged_outputs(),
        run.depay.property::<gst::Structure>("delta-stats")
    );
    assert!(
        stat(&run.depay, "frames-with-loss") > 10,
        "the loss did bite"
    );
    assert!(run.damaged_outputs() > 0, "loss showed in the picture");
    assert!(lost_frames < 30);
    run.assert_no_stall();
    // The last lossy frame can be output one frame late (lost marker), then
    // every tile is re-sent within one refresh period.
    run.assert_exact_from(loss_frames + refresh + 1);
    assert_eq!(run.enc_stat("forced-keyframes"), 0);
}

#[test]
fn loss_heals_after_a_keyframe_request_without_intra_refresh() {
    init();
    let loss_frames = 150;
    let run = loss_run(
        200,
        loss_frames,
        "intra-refresh=0",
        "min-keyframe-interval=0",
        Loss::Probe(0.05),
    );
    eprintln!(
        "keyframe requests: {} sent, {} forced keyframes",
        stat(&run.depay, "keyframe-requests"),
        run.enc_stat("forced-keyframes")
    );
    assert!(stat(&run.depay, "keyframe-requests") > 0);
    assert!(run.enc_stat("forced-keyframes") > 0);
    run.assert_no_stall();
    // Loss seen at frame N (or N+1 when its marker was lost) forces a
    // keyframe on the next encoded frame.
    run.assert_exact_from(loss_frames + 2);
}

#[test]
fn netsim_loss_never_stalls_and_heals() {
    init();
    let refresh = 10;
    let loss_frames = 300;
    let run = loss_run(
        330,
        loss_frames,
        &format!("intra-refresh={refresh}"),
        "request-keyframe=false",
        Loss::Netsim(0.05),
    );
    eprintln!(
        "netsim 5%: {} of 330 frames delivered, {} output, {} not bit-exact, depay {:?}",
        run.delivered.len(),
        run.outputs.len(),
        run.damaged_outputs(),
        run.depay.property::<gst::Structure>("delta-stats")
    );
    assert!(stat(&run.depay, "frames-with-loss") > 0);
    run.assert_no_stall();
    run.assert_exact_from(loss_frames + refresh + 1);
}

#[test]
fn keyframe_only_stream_over_the_same_payloader() {
    init();
    // The full-frame strategy with our codec: every frame a keyframe, so a
    // loss costs only the frame it hit.
    let run = loss_run(
        60,
        30,
        "intra-refresh=0 key-int-max=1",
        "request-keyframe=false",
        Loss::Probe(0.05),
    );
    run.assert_no_stall();
    run.assert_exact_from(31);
    assert_eq!(run.enc_stat("keyframes"), 60);
}
