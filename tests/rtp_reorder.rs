// SPDX-License-Identifier: MPL-2.0
//! rtpdeltadepay given reordered and duplicated packets, on its own and
//! behind rtpjitterbuffer: the frames still come out bit-exact.

mod common;

use common::init;
use common::media::bytes;
use common::pipeline::check_bus;
use common::rng::Lcg;
use common::rtp::{depayload, encode, payload, stat};
use gst::prelude::*;

#[test]
fn reordered_and_duplicated_packets_without_jitterbuffer() {
    init();
    let (frames, caps) = encode(30, "tile-size=32 intra-refresh=5");
    let (packets, rtp_caps) = payload(&frames, &caps, 300);
    let mixed = reorder_and_duplicate(&packets, 11);
    let (out, depay) = depayload(&mixed, &rtp_caps);
    assert_eq!(out.len(), frames.len());
    for (o, f) in out.iter().zip(&frames) {
        assert_eq!(bytes(o), bytes(f));
        // Nothing was lost: no damage flag, although the base class saw
        // sequence gaps (it would have flagged DISCONT).
        assert!(!o.flags().contains(gst::BufferFlags::CORRUPTED));
        assert!(!o.flags().contains(gst::BufferFlags::DISCONT));
    }
    assert!(stat(&depay, "duplicates") + stat(&depay, "late") > 0);
    assert_eq!(stat(&depay, "frames-with-loss"), 0);
}

/// `packets` with neighbours swapped (across frame boundaries too) and some
/// repeated, from a seeded generator.
fn reorder_and_duplicate(packets: &[gst::Buffer], seed: u64) -> Vec<gst::Buffer> {
    let mut rng = Lcg(seed);
    let mut mixed = Vec::new();
    let mut i = 0;
    while i < packets.len() {
        if i + 1 < packets.len() && rng.chance(0.3) {
            mixed.push(packets[i + 1].clone());
            mixed.push(packets[i].clone());
            i += 2;
        } else {
            mixed.push(packets[i].clone());
            i += 1;
        }
        if rng.chance(0.1) {
            mixed.push(mixed[mixed.len() - 1].clone());
        }
    }
    mixed
}

#[test]
fn reordered_and_duplicated_packets_through_rtpjitterbuffer() {
    init();
    let (frames, caps) = encode(30, "tile-size=32 intra-refresh=5");
    let (packets, rtp_caps) = payload(&frames, &caps, 300);
    let mixed = reorder_and_duplicate(&packets, 5);
    let pipeline = gst::parse::launch(
        "appsrc name=src format=time is-live=true do-timestamp=true ! \
         rtpjitterbuffer latency=100 ! rtpdeltadepay name=depay ! appsink name=sink sync=false",
    )
    .unwrap()
    .downcast::<gst::Bin>()
    .unwrap();
    let src = common::pipeline::appsrc(&pipeline, "src");
    src.set_caps(Some(&rtp_caps));
    let sink = common::pipeline::appsink(&pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    for (i, p) in mixed.iter().enumerate() {
        // Strip the sender's timestamps: arrival time is what a receiver has.
        let mut p = p.copy();
        {
            let p = p.get_mut().unwrap();
            p.set_pts(gst::ClockTime::NONE);
            p.set_dts(gst::ClockTime::NONE);
        }
        src.push_buffer(p).unwrap();
        if i % 8 == 7 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    src.end_of_stream().unwrap();
    let mut out = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        out.push(sample.buffer_owned().unwrap());
    }
    check_bus(pipeline.upcast_ref(), "jitterbuffer pipeline");
    let depay = pipeline.by_name("depay").unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(out.len(), frames.len());
    for (o, f) in out.iter().zip(&frames) {
        assert_eq!(bytes(o), bytes(f));
        assert!(!o.flags().contains(gst::BufferFlags::CORRUPTED));
    }
    assert_eq!(stat(&depay, "frames-with-loss"), 0);
}
