// SPDX-License-Identifier: MPL-2.0
//! rtpdeltapay / rtpdeltadepay on a clean path: bit-exact round trips at
//! several MTUs, caps taken from the frame header, a sender restarting with
//! a new SSRC, and a flush in the middle of a frame.

mod common;

use common::init;
use common::media::bytes;
use common::rtp::{depayload, encode, payload, payload_with, stat};
use gst::prelude::*;
use gst_check::Harness;

#[test]
fn round_trip_is_bit_exact_at_several_mtus() {
    init();
    let (frames, caps) = encode(20, "tile-size=32 intra-refresh=5");
    assert_eq!(frames.len(), 20);
    let largest_record = frames.iter().map(|f| f.size()).max().unwrap();
    // 120 bytes is smaller than the noise tiles' records: they are fragmented.
    for mtu in [120u32, 400, 1400, 9000] {
        let (packets, rtp_caps) = payload(&frames, &caps, mtu);
        let s = rtp_caps.structure(0).unwrap();
        assert_eq!(s.get::<&str>("encoding-name").unwrap(), "X-STREAMKIT-DELTA");
        assert_eq!(s.get::<&str>("width").unwrap(), "320");
        assert_eq!(s.get::<&str>("tile-size").unwrap(), "32");
        for p in &packets {
            assert!(
                p.size() <= mtu as usize,
                "packet of {} > mtu {mtu}",
                p.size()
            );
        }
        // Exactly one marker per frame, on its last packet.
        let markers = packets
            .iter()
            .filter(|p| {
                gst_rtp::RTPBuffer::from_buffer_readable(p)
                    .unwrap()
                    .is_marker()
            })
            .count();
        assert_eq!(markers, frames.len());
        let (out, depay) = depayload(&packets, &rtp_caps);
        assert_eq!(out.len(), frames.len(), "mtu {mtu}");
        for (o, f) in out.iter().zip(&frames) {
            assert_eq!(bytes(o), bytes(f), "mtu {mtu}");
            assert_eq!(o.pts(), f.pts());
            assert!(!o.flags().contains(gst::BufferFlags::CORRUPTED));
        }
        assert_eq!(stat(&depay, "frames-with-loss"), 0);
        assert_eq!(stat(&depay, "packets"), packets.len() as u64);
        if mtu == 120 {
            assert!(packets.len() > 20 * largest_record / 120);
        }
    }
}

#[test]
fn caps_follow_the_frame_header_when_rtp_caps_carry_no_geometry() {
    init();
    let (frames, caps) = encode(3, "tile-size=32");
    let (packets, _) = payload(&frames, &caps, 1400);
    let bare = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("clock-rate", 90_000i32)
        .field("encoding-name", "X-STREAMKIT-DELTA")
        .field("payload", 96i32)
        .build();
    let mut h = Harness::new("rtpdeltadepay");
    h.set_src_caps(bare);
    for p in &packets {
        h.push(p.clone()).unwrap();
    }
    h.push_event(gst::event::Eos::new());
    let mut n = 0;
    while let Some(o) = h.try_pull() {
        assert_eq!(bytes(&o), bytes(&frames[n]));
        n += 1;
    }
    assert_eq!(n, 3);
    let out = h.sinkpad().unwrap().current_caps().unwrap();
    let s = out.structure(0).unwrap();
    assert_eq!(s.name(), "video/x-streamkit-delta");
    assert_eq!(s.get::<i32>("width").unwrap(), 320);
    assert_eq!(s.get::<i32>("height").unwrap(), 240);
    assert_eq!(s.get::<&str>("format").unwrap(), "I420");
    assert_eq!(s.get::<i32>("tile-size").unwrap(), 32);
}

#[test]
fn a_new_ssrc_starts_over() {
    init();
    let (frames, caps) = encode(10, "tile-size=32 intra-refresh=5");
    let stream = |ssrc: u32, ts_offset: u32| {
        payload_with(&frames, &caps, |pay| {
            pay.set_property("ssrc", ssrc);
            pay.set_property("timestamp-offset", ts_offset);
            pay.set_property("seqnum-offset", 1000i32);
        })
    };
    // The restarted sender's timestamps are half a second behind the old
    // ones: without the SSRC check its frames would all look late.
    let (first, rtp_caps) = stream(1111, 1_000_000);
    let (second, _) = stream(2222, 1_000_000 - 45_000);
    let all: Vec<_> = first.into_iter().chain(second).collect();
    let (out, depay) = depayload(&all, &rtp_caps);
    assert_eq!(out.len(), 2 * frames.len());
    for (o, f) in out.iter().zip(frames.iter().chain(&frames)) {
        assert_eq!(bytes(o), bytes(f));
    }
    assert_eq!(stat(&depay, "restarts"), 1);
    assert_eq!(stat(&depay, "late"), 0);
    // The first frame of the new stream follows a "loss" (the switch).
    assert!(out[frames.len()]
        .flags()
        .contains(gst::BufferFlags::DISCONT));
}

#[test]
fn a_flush_forgets_the_frame_in_progress() {
    init();
    let (frames, caps) = encode(2, "tile-size=32");
    let (packets, rtp_caps) = payload(&frames, &caps, 200);
    let first_frame_packets = packets
        .iter()
        .position(|p| {
            gst_rtp::RTPBuffer::from_buffer_readable(p)
                .unwrap()
                .is_marker()
        })
        .unwrap()
        + 1;
    assert!(first_frame_packets > 2);
    let mut h = Harness::new("rtpdeltadepay");
    h.set_src_caps(rtp_caps);
    // Half of frame 0, then a flush (a seek, say), then frame 1 whole.
    for p in &packets[..first_frame_packets / 2] {
        h.push(p.clone()).unwrap();
    }
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    for p in &packets[first_frame_packets..] {
        h.push(p.clone()).unwrap();
    }
    h.push_event(gst::event::Eos::new());
    let mut out = Vec::new();
    while let Some(o) = h.try_pull() {
        out.push(o);
    }
    assert_eq!(
        out.len(),
        1,
        "only frame 1: the partial frame 0 was flushed"
    );
    assert_eq!(bytes(&out[0]), bytes(&frames[1]));
}

#[test]
fn every_pixel_format_crosses_rtp_bit_exact() {
    init();
    // The RTP caps carry the format as an SDP parameter string; the
    // depayloader reads it back for every format the codec carries.
    for format in gststreamkit::delta::PixelFormat::ALL.map(|f| f.caps_name()) {
        let pipeline = common::pipeline::parse(&format!(
            "videotestsrc pattern=ball num-buffers=8 ! video/x-raw,format={format},width=96,height=66 \
             ! tee name=t t. ! queue ! appsink name=orig sync=false \
             t. ! queue ! deltaenc tile-size=32 ! rtpdeltapay mtu=400 ! rtpdeltadepay name=depay \
             ! deltadec ! appsink name=dec sync=false"
        ));
        let orig = common::pipeline::appsink(&pipeline, "orig");
        let dec = common::pipeline::appsink(&pipeline, "dec");
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut frames = 0;
        while let Ok(a) = orig.pull_sample() {
            let b = dec.pull_sample().expect("a decoded frame for every frame");
            let caps = b.caps().unwrap().structure(0).unwrap().to_owned();
            assert_eq!(caps.get::<&str>("format").unwrap(), format);
            assert_eq!(
                bytes(a.buffer().unwrap()),
                bytes(b.buffer().unwrap()),
                "{format} frame {frames}"
            );
            frames += 1;
        }
        assert_eq!(frames, 8, "{format}");
        let depay = pipeline.by_name("depay").unwrap();
        let rtp_caps = depay.static_pad("sink").unwrap().current_caps().unwrap();
        assert_eq!(
            rtp_caps
                .structure(0)
                .unwrap()
                .get::<&str>("format")
                .unwrap(),
            format
        );
        pipeline.set_state(gst::State::Null).unwrap();
    }
}
