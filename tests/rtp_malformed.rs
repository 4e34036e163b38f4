// SPDX-License-Identifier: MPL-2.0
//! rtpdeltadepay against malformed packets: each kind dropped and counted
//! with one bus warning, and thousands of mutated packets without a panic.

mod common;

use common::init;
use common::media::bytes;
use common::rng::Lcg;
use common::rtp::{encode, payload, stat};
use gst::prelude::*;
use gst_check::Harness;

#[test]
fn malformed_packets_are_dropped_and_counted() {
    init();
    let (frames, caps) = encode(2, "tile-size=32");
    let (packets, rtp_caps) = payload(&frames, &caps, 1400);
    let good = bytes(&packets[0]);
    let header_len = 12;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push(("too short", good[..header_len + 6].to_vec()));
    let mut bad = good.clone();
    bad[header_len] = 77;
    cases.push(("wrong payload version", bad));
    let mut bad = good.clone();
    bad[header_len + 4] = b'Q';
    cases.push(("wrong frame magic", bad));
    let mut bad = good.clone();
    // First record's tile index: 80 tiles in 320x240 at 32 px.
    bad[header_len + 18..header_len + 21].copy_from_slice(&[0, 1, 0]);
    cases.push(("tile outside the frame", bad));
    let mut bad = good[..header_len + 18].to_vec();
    bad[header_len + 1] = 1; // fragment kind
    bad.extend_from_slice(&3u32.to_be_bytes()); // tile
    bad.extend_from_slice(&100u32.to_be_bytes()); // record length
    bad.extend_from_slice(&90u32.to_be_bytes()); // offset
    bad.extend_from_slice(&[0u8; 20]); // runs past the record
    cases.push(("fragment out of range", bad));

    let mut h = Harness::new("rtpdeltadepay");
    // A harness element has no bus of its own: give it one to see warnings.
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(rtp_caps);
    for (i, (what, data)) in cases.iter().enumerate() {
        let mut b = gst::Buffer::from_mut_slice(data.clone());
        {
            // Distinct timestamps and seqnums so each case stands alone.
            let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(b.get_mut().unwrap()).unwrap();
            rtp.set_timestamp(1_000 + 3_000 * i as u32);
            rtp.set_seq(500 + i as u16);
            rtp.set_marker(true);
        }
        h.push(b).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert!(h.try_pull().is_none(), "{what}: no frame out of it");
    }
    let depay = h.element().unwrap();
    assert_eq!(stat(&depay, "malformed"), cases.len() as u64);
    // One bus warning for the burst (rate-limited), naming the problem.
    let warnings: Vec<_> = std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(format!("{} {:?}", w.error(), w.debug())),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("malformed"), "{warnings:?}");
    assert_eq!(stat(&depay, "frames"), 0);
    // A good stream still goes through afterwards.
    for p in &packets {
        let mut p = p.copy();
        {
            let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(p.get_mut().unwrap()).unwrap();
            let ts = rtp.timestamp();
            rtp.set_timestamp(ts.wrapping_add(100_000));
        }
        h.push(p).unwrap();
    }
    h.push_event(gst::event::Eos::new());
    let mut n = 0;
    while let Some(o) = h.try_pull() {
        assert_eq!(bytes(&o), bytes(&frames[n]));
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn mutated_packets_never_panic_the_depayloader() {
    init();
    let (frames, caps) = encode(6, "tile-size=32 intra-refresh=3");
    let (packets, rtp_caps) = payload(&frames, &caps, 200);
    let mut h = Harness::new("rtpdeltadepay");
    h.set_src_caps(rtp_caps);
    let mut rng = Lcg(99);
    let mut outputs = 0;
    for i in 0..5000u32 {
        let mut data = bytes(&packets[rng.next() as usize % packets.len()]);
        // Only the payload (after the 12-byte RTP header) is mutated, so the
        // packets reach the depayloader rather than the base class's checks.
        match rng.next() % 3 {
            0 => {
                let at = 12 + rng.next() as usize % (data.len() - 12);
                data[at] ^= 1 << (rng.next() % 8);
            }
            1 => {
                let keep = 12 + rng.next() as usize % (data.len() - 12);
                data.truncate(keep);
            }
            _ => {
                let at = 12 + rng.next() as usize % (data.len() - 12);
                data[at] = rng.next() as u8;
            }
        }
        let mut b = gst::Buffer::from_mut_slice(data);
        {
            let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(b.get_mut().unwrap()).unwrap();
            rtp.set_seq(i as u16);
            rtp.set_timestamp((i / 10) * 3000);
        }
        h.push(b).unwrap();
        while let Some(o) = h.try_pull() {
            // Whatever came in, what comes out is a well-formed frame.
            let data = bytes(&o);
            let (_, records) = gststreamkit::delta::bitstream::parse_frame(&data).unwrap();
            for r in records {
                r.unwrap();
            }
            outputs += 1;
        }
    }
    let depay = h.element().unwrap();
    assert!(stat(&depay, "malformed") > 1000);
    assert!(outputs > 0);
}
