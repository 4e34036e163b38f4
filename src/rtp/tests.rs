// SPDX-License-Identifier: MPL-2.0
//! Packetizer and assembler together: round trips, loss, reordering,
//! duplicates and malformed payloads.

use super::*;
use crate::delta::bitstream::{
    parse_frame, FrameHeader, FrameWriter, TileCoding, FRAME_HEADER_LEN, RECORD_HEADER_LEN,
    REMEMBER_KEY_BASE,
};
use crate::delta::{Geometry, PixelFormat};

use crate::testrng::Lcg;
use std::time::Duration;

fn geometry() -> Geometry {
    // 320x240 in 32-pixel tiles: 10x8 = 80 tiles.
    Geometry::new(PixelFormat::I420, 320, 240, 32).unwrap()
}

/// A frame whose records have the given payload lengths (payload bytes are
/// arbitrary: the transport never decodes them).
fn frame(number: u32, lens: &[usize], keyframe: bool) -> Vec<u8> {
    let header = FrameHeader {
        geometry: geometry(),
        keyframe,
        frame_number: number,
    };
    let mut w = FrameWriter::new(&header, 1024);
    for (i, &len) in lens.iter().enumerate() {
        let out = w.begin_record(i as u32 * 3 % 80, TileCoding::Lossless, 0);
        out.extend((0..len).map(|b| (b * 7 + i + number as usize) as u8));
        w.finish_record().unwrap();
    }
    w.into_bytes()
}

/// RTP-like packets of a frame: (meta, payload).
fn packets(data: &[u8], budget: usize, ts: u32, seq: &mut u16) -> Vec<(PacketMeta, Vec<u8>)> {
    let payloads = packetize(data, budget).unwrap();
    let n = payloads.len();
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let meta = PacketMeta {
                timestamp: ts,
                seqnum: *seq,
                marker: i + 1 == n,
            };
            *seq = seq.wrapping_add(1);
            (meta, p)
        })
        .collect()
}

fn run(asm: &mut FrameAssembler<u32>, pkts: &[(PacketMeta, Vec<u8>)]) -> Vec<AssembledFrame<u32>> {
    let mut out = Vec::new();
    for (meta, p) in pkts {
        let _ = asm.push(*meta, p, meta.timestamp, &mut out);
    }
    out
}

/// The tile indices of a frame's records.
fn tiles(data: &[u8]) -> Vec<u32> {
    let (_, records) = parse_frame(data).unwrap();
    records.map(|r| r.unwrap().index).collect()
}

#[test]
fn round_trip_is_bit_exact_at_several_budgets() {
    // 1500 and 3000 bytes: bigger than the smaller budgets, so fragmented.
    let lens = [10, 300, 1500, 0, 40, 3000, 5, 700];
    for budget in [MIN_PAYLOAD_BUDGET, 100, 300, 576, 1400, 9000] {
        let mut asm = FrameAssembler::new(90_000);
        let mut seq = 65530; // wraps inside the run
        let mut all = Vec::new();
        let frames: Vec<_> = (0..4).map(|n| frame(n, &lens, n == 0)).collect();
        for (n, f) in frames.iter().enumerate() {
            let pk = packets(f, budget, 1000 + 3000 * n as u32, &mut seq);
            assert!(pk.iter().all(|(_, p)| p.len() <= budget), "budget {budget}");
            all.extend(pk);
        }
        let out = run(&mut asm, &all);
        assert_eq!(out.len(), 4, "budget {budget}");
        for (o, f) in out.iter().zip(&frames) {
            assert_eq!(&o.data, f, "budget {budget}");
            assert!(o.complete && !o.loss_before && !o.damaged());
        }
        assert_eq!(asm.stats().frames_with_loss, 0);
        assert_eq!(asm.stats().packets, all.len() as u64);
        assert_eq!(asm.pending_frames(), 0);
    }
}

#[test]
fn records_are_never_split_unless_larger_than_a_packet() {
    let lens = [100, 100, 100, 100, 2000];
    let budget = 300;
    let payloads = packetize(&frame(1, &lens, false), budget).unwrap();
    let room = budget - PAYLOAD_HEADER_LEN - FRAME_HEADER_LEN;
    // Two whole 108-byte records fit in 282 bytes, so 2 + 2 whole-record
    // packets, then the 2008-byte record in ceil(2008 / 270) fragments.
    let frag_room = room - FRAGMENT_HEADER_LEN;
    let expect = 2 + (2000 + RECORD_HEADER_LEN).div_ceil(frag_room);
    assert_eq!(payloads.len(), expect);
    for (i, p) in payloads.iter().enumerate() {
        let ph = PayloadHeader::parse(p).unwrap();
        assert_eq!(ph.packet_index as usize, i);
        assert_eq!(ph.kind == PayloadKind::Fragment, i >= 2);
        // Every packet carries the frame header.
        assert_eq!(&p[4..6], b"SK");
    }
}

#[test]
fn empty_frame_is_one_packet() {
    let f = frame(9, &[], false);
    let mut seq = 0;
    let pk = packets(&f, 1400, 0, &mut seq);
    assert_eq!(pk.len(), 1);
    let out = run(&mut FrameAssembler::new(90_000), &pk);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data, f);
    assert!(out[0].complete);
}

#[test]
fn budget_below_minimum_is_refused() {
    assert_eq!(
        packetize(&frame(0, &[1], false), MIN_PAYLOAD_BUDGET - 1),
        Err(PacketizeError::BudgetTooSmall(MIN_PAYLOAD_BUDGET - 1))
    );
    assert!(matches!(
        packetize(b"XX not a frame", 1400),
        Err(PacketizeError::Bitstream(_))
    ));
}

#[test]
fn reordering_and_duplicates_give_the_same_frames() {
    let lens = [50, 400, 80, 900, 60, 60, 60];
    let frames: Vec<_> = (0..30).map(|n| frame(n, &lens, false)).collect();
    let mut seq = 100;
    let mut all = Vec::new();
    for (n, f) in frames.iter().enumerate() {
        all.extend(packets(f, 256, 3000 * n as u32, &mut seq));
    }
    let mut rng = Lcg(7);
    // Swap neighbours (including across frame boundaries) and duplicate some.
    let mut mixed = Vec::new();
    let mut i = 0;
    while i < all.len() {
        if i + 1 < all.len() && rng.next().is_multiple_of(3) {
            mixed.push(all[i + 1].clone());
            mixed.push(all[i].clone());
            i += 2;
        } else {
            mixed.push(all[i].clone());
            i += 1;
        }
        if rng.next().is_multiple_of(5) {
            mixed.push(mixed[mixed.len() - 1].clone());
        }
    }
    let mut asm = FrameAssembler::new(90_000);
    let mut out = run(&mut asm, &mixed);
    asm.drain(&mut out);
    assert_eq!(out.len(), frames.len());
    for (o, f) in out.iter().zip(&frames) {
        assert_eq!(&o.data, f);
        // Sequence gaps on the way in, but nothing lost: no DISCONT.
        assert!(o.complete && !o.loss_before);
    }
    let stats = asm.stats();
    assert_eq!(stats.packets, all.len() as u64);
    assert!(stats.duplicates + stats.late > 0);
    assert_eq!(stats.malformed, 0);
}

#[test]
fn a_lost_packet_leaves_the_rest_of_the_frame() {
    let lens = [100, 100, 100, 100, 100, 100];
    let f = frame(1, &lens, true);
    let mut seq = 0;
    let mut pk = packets(&f, 250, 0, &mut seq);
    assert!(pk.len() >= 3);
    let lost = pk.remove(1);
    let lost_tiles = tiles(&[&f[..FRAME_HEADER_LEN], &lost.1[18..]].concat());
    let mut asm = FrameAssembler::new(90_000);
    let mut out = run(&mut asm, &pk);
    // The marker arrived but a packet is missing: the frame waits for it
    // until newer frames push it out (or the stream ends).
    assert!(out.is_empty());
    asm.drain(&mut out);
    assert_eq!(out.len(), 1);
    let o = &out[0];
    assert!(!o.complete && o.damaged());
    // Not every tile is there: no longer a keyframe.
    let (h, _) = parse_frame(&o.data).unwrap();
    assert!(!h.keyframe);
    let got = tiles(&o.data);
    let all = tiles(&f);
    assert_eq!(got.len() + lost_tiles.len(), all.len());
    assert!(lost_tiles.iter().all(|t| !got.contains(t)));
}

#[test]
fn a_lost_fragment_drops_its_record_whole() {
    let lens = [20, 2000, 20];
    let f = frame(1, &lens, false);
    let mut seq = 0;
    let mut pk = packets(&f, 200, 0, &mut seq);
    // Remove one middle fragment of the big record.
    let idx = pk
        .iter()
        .position(|(_, p)| PayloadHeader::parse(p).unwrap().kind == PayloadKind::Fragment)
        .unwrap()
        + 2;
    pk.remove(idx);
    let mut asm = FrameAssembler::new(90_000);
    let mut out = run(&mut asm, &pk);
    asm.drain(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].fragments_dropped, 1);
    assert_eq!(tiles(&out[0].data), vec![0, 6]);
    assert_eq!(asm.stats().fragments_dropped, 1);
}

#[test]
fn a_whole_lost_frame_marks_the_next_one() {
    let frames: Vec<_> = (0..3).map(|n| frame(n, &[10, 10], false)).collect();
    let mut seq = 0;
    let pk: Vec<_> = frames
        .iter()
        .enumerate()
        .map(|(n, f)| packets(f, 1400, 3000 * n as u32, &mut seq))
        .collect();
    let mut asm = FrameAssembler::new(90_000);
    let out = run(&mut asm, &[pk[0].clone(), pk[2].clone()].concat());
    assert_eq!(out.len(), 2);
    assert!(out[0].complete && !out[0].loss_before);
    assert!(out[1].complete && out[1].loss_before && out[1].damaged());
    assert_eq!(out[1].data, frames[2]);
}

#[test]
fn a_lost_marker_costs_one_frame_of_delay() {
    let frames: Vec<_> = (0..3).map(|n| frame(n, &[300, 300], false)).collect();
    let mut seq = 0;
    let mut pk: Vec<_> = frames
        .iter()
        .enumerate()
        .map(|(n, f)| packets(f, 400, 3000 * n as u32, &mut seq))
        .collect();
    assert_eq!(pk[0].len(), 2);
    pk[0].pop(); // frame 0's marker packet
    let mut asm = FrameAssembler::new(90_000);
    let out = run(&mut asm, &pk[0]);
    assert!(out.is_empty());
    let out = run(&mut asm, &pk[1]);
    assert_eq!(out.len(), 2);
    assert!(!out[0].complete);
    assert_eq!(tiles(&out[0].data), vec![0]);
    assert!(out[1].complete && !out[1].loss_before);
    // A packet of frame 0 arriving now is late, not a new frame.
    let late = packets(&frames[0], 400, 0, &mut 1);
    let mut more = Vec::new();
    assert_eq!(
        asm.push(late[1].0, &late[1].1, 0, &mut more),
        Ok(PushOutcome::Late)
    );
    assert!(more.is_empty());
}

/// Packets as [`packets`] makes them.
type Packets = Vec<(PacketMeta, Vec<u8>)>;

/// Two frames of about 30 one-record packets each, sequence numbers from 0.
fn two_long_frames() -> (Vec<Vec<u8>>, Vec<Packets>) {
    let frames: Vec<_> = (0..2).map(|n| frame(n, &[60; 30], false)).collect();
    let mut seq = 0;
    let pk: Vec<_> = frames
        .iter()
        .enumerate()
        .map(|(n, f)| packets(f, 100, 3000 * n as u32, &mut seq))
        .collect();
    assert!(pk.iter().all(|p| p.len() >= 20));
    (frames, pk)
}

/// Pushes `pkts` one at a time; returns the index of the packet whose push
/// output the first frame, if any did, and everything output.
fn first_output_at(
    asm: &mut FrameAssembler<u32>,
    pkts: &[(PacketMeta, Vec<u8>)],
) -> (Option<usize>, Vec<AssembledFrame<u32>>) {
    let mut out = Vec::new();
    let mut at = None;
    for (i, (meta, p)) in pkts.iter().enumerate() {
        asm.push(*meta, p, meta.timestamp, &mut out).unwrap();
        if at.is_none() && !out.is_empty() {
            at = Some(i);
        }
    }
    (at, out)
}

#[test]
fn a_frame_with_a_hole_is_output_once_packets_well_past_its_end_arrive() {
    let (_, mut pk) = two_long_frames();
    // A middle packet of frame 0 is lost; its marker arrives.
    pk[0].remove(5);
    let mut asm = FrameAssembler::new(90_000);
    assert_eq!(asm.limits().reorder_packets, 16);
    let (at, _) = first_output_at(&mut asm, &pk[0]);
    assert_eq!(at, None, "the hole may still be filled by a late packet");
    // Frame 1's packets: the hole is given up at the packet more than 16
    // sequence numbers past frame 0's marker, long before frame 1 ends.
    let marker = pk[0].last().unwrap().0.seqnum;
    let (at, out) = first_output_at(&mut asm, &pk[1]);
    let at = at.expect("frame 0 was output");
    assert_eq!(pk[1][at].0.seqnum, marker + 17);
    assert!(!out[0].complete && out[0].timestamp == 0);
    assert_eq!(asm.stats().frames_given_up, 1);
    // Frame 1 completes on its own marker, after the loss.
    assert_eq!(out.len(), 2);
    assert!(out[1].complete && !out[1].loss_before);
}

#[test]
fn a_frame_whose_marker_is_lost_is_output_once_the_next_frame_is_well_under_way() {
    let (_, mut pk) = two_long_frames();
    pk[0].pop();
    let first_of_next = pk[1][0].0.seqnum;
    let mut asm = FrameAssembler::new(90_000);
    let (at, _) = first_output_at(&mut asm, &pk[0]);
    assert_eq!(at, None);
    let (at, out) = first_output_at(&mut asm, &pk[1]);
    assert_eq!(pk[1][at.unwrap()].0.seqnum, first_of_next + 16);
    assert!(!out[0].complete);
    assert_eq!(asm.stats().frames_given_up, 1);
}

#[test]
fn a_frame_with_a_hole_waits_for_reordered_packets_only_briefly_after_its_marker() {
    let (frames, mut pk) = two_long_frames();
    let straggler = pk[0].remove(5);
    let ms = Duration::from_millis(1);
    let mut asm = FrameAssembler::new(90_000);
    assert_eq!(asm.limits().reorder_time, 10 * ms);
    let mut out = Vec::new();
    asm.expire(1000 * ms, &mut out);
    for (meta, p) in &pk[0] {
        asm.push(*meta, p, 0, &mut out).unwrap();
    }
    // The marker is in: 10 ms for the missing packet, not the time-out.
    assert_eq!(asm.next_deadline(), Some(1010 * ms));
    asm.expire(1009 * ms, &mut out);
    assert!(out.is_empty());
    asm.expire(1010 * ms, &mut out);
    assert_eq!(out.len(), 1);
    assert!(!out[0].complete);
    assert_eq!(asm.stats().frames_given_up, 1);
    assert_eq!(asm.stats().frames_expired, 0);

    // A packet reordered by less than that completes its frame.
    let (_, pk) = two_long_frames();
    let mut asm = FrameAssembler::new(90_000);
    let mut out = Vec::new();
    asm.expire(1000 * ms, &mut out);
    for (i, (meta, p)) in pk[0].iter().enumerate() {
        if i != 5 {
            asm.push(*meta, p, 0, &mut out).unwrap();
        }
    }
    asm.expire(1009 * ms, &mut out);
    asm.push(straggler.0, &straggler.1, 0, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert!(out[0].complete && out[0].data == frames[0]);
    assert_eq!(asm.stats().frames_given_up, 0);
}

#[test]
fn reordering_within_the_window_loses_nothing_and_a_zero_window_waits_for_nothing() {
    let (frames, pk) = two_long_frames();
    // Packet 5 of frame 0 arrives among frame 1's, 10 sequence numbers
    // past frame 0's end.
    let mut late = pk[0].clone();
    let straggler = late.remove(5);
    let mut mixed = late;
    mixed.extend(pk[1][..11].iter().cloned());
    mixed.push(straggler);
    mixed.extend(pk[1][11..].iter().cloned());
    let mut asm = FrameAssembler::new(90_000);
    let out = run(&mut asm, &mixed);
    assert_eq!(out.len(), 2);
    for (o, f) in out.iter().zip(&frames) {
        assert!(o.complete && !o.loss_before);
        assert_eq!(&o.data, f);
    }
    assert_eq!(asm.stats().frames_given_up, 0);

    // With no reordering allowed, the first packet past the hole's frame
    // gives it up, and the straggler is late.
    let mut asm = FrameAssembler::with_limits(
        90_000,
        AssemblerLimits {
            reorder_packets: 0,
            ..AssemblerLimits::default()
        },
    );
    let (at, out) = first_output_at(&mut asm, &mixed);
    assert_eq!(
        at,
        Some(pk[0].len() - 1),
        "output at frame 1's first packet"
    );
    assert!(!out[0].complete);
    assert_eq!(asm.stats().late, 1);
}

#[test]
fn a_newer_frame_whose_timestamp_did_not_advance_is_not_late() {
    // Seen at start-up: a sender's second frame carried a timestamp no newer
    // than its first. Its frame number is newer, so it is a frame, not a
    // late packet; a real late packet (frame 0 again) still is.
    let frames: Vec<_> = (0..3).map(|n| frame(n, &[30], false)).collect();
    let mut asm = FrameAssembler::new(90_000);
    let mut seq = 0;
    let out = run(&mut asm, &packets(&frames[0], 1400, 6000, &mut seq));
    assert_eq!(out.len(), 1);
    let out = run(&mut asm, &packets(&frames[1], 1400, 6000, &mut seq));
    assert_eq!(out.len(), 1, "frame 1 with frame 0's timestamp was dropped");
    assert!(out[0].complete && !out[0].loss_before);
    let out = run(&mut asm, &packets(&frames[2], 1400, 9000, &mut seq));
    assert_eq!(out.len(), 1);
    let again = packets(&frames[0], 1400, 6000, &mut 0);
    let mut more = Vec::new();
    assert_eq!(
        asm.push(again[0].0, &again[0].1, 0, &mut more),
        Ok(PushOutcome::Late)
    );
    assert_eq!(asm.stats().late, 1);
}

#[test]
fn note_loss_marks_the_next_frame() {
    let f = frame(0, &[10], false);
    let mut asm = FrameAssembler::new(90_000);
    asm.note_loss();
    let out = run(&mut asm, &packets(&f, 1400, 0, &mut 0));
    assert!(out[0].loss_before && out[0].complete);
    let out = run(&mut asm, &packets(&f, 1400, 3000, &mut 1));
    assert!(!out[0].loss_before);
    assert_eq!(asm.stats().lost_events, 1);
}

#[test]
fn a_new_source_outputs_what_is_in_progress_and_starts_over() {
    let lens = [300, 300];
    let f0 = frame(0, &lens, false);
    let f1 = frame(1, &lens, false);
    let mut asm = FrameAssembler::new(90_000);
    let mut out = Vec::new();
    assert!(!asm.set_source(0xaaaa, &mut out));
    let first = packets(&f0, 200, 1000, &mut 0);
    // All but the marker: the frame stays in progress.
    let out0 = run(&mut asm, &first[..first.len() - 1]);
    assert!(out0.is_empty());
    assert!(
        !asm.set_source(0xaaaa, &mut out),
        "same source: nothing happens"
    );
    assert!(out.is_empty());
    assert!(asm.set_source(0xbbbb, &mut out), "another source restarts");
    assert_eq!(out.len(), 1);
    assert!(!out[0].complete);
    assert_eq!(asm.stats().restarts, 1);
    // The new sender's timeline has nothing to do with the old one, and its
    // first frame follows a discontinuity.
    let out = run(&mut asm, &packets(&f1, 1400, 5, &mut 40_000));
    assert_eq!(out.len(), 1);
    assert!(out[0].complete && out[0].loss_before);
    assert_eq!(out[0].data, f1);
}

#[test]
fn a_reset_forgets_the_source() {
    let mut asm = FrameAssembler::<u32>::new(90_000);
    let mut out = Vec::new();
    asm.set_source(1, &mut out);
    asm.reset();
    assert!(
        !asm.set_source(2, &mut out),
        "a flush is not a sender restart"
    );
    assert_eq!(asm.stats().restarts, 0);
}

#[test]
fn an_output_frame_carries_its_header() {
    let f = frame(7, &[100, 100, 100], true);
    let mut pk = packets(&f, 150, 0, &mut 0);
    let mut asm = FrameAssembler::new(90_000);
    let out = run(&mut asm, &pk);
    assert_eq!(out[0].header, FrameHeader::parse(&out[0].data).unwrap());
    assert!(out[0].header.keyframe && out[0].header.frame_number == 7);
    // Incomplete: the header says it is no keyframe, as the data does.
    pk.remove(1);
    let mut asm = FrameAssembler::new(90_000);
    let mut out = run(&mut asm, &pk);
    asm.drain(&mut out);
    assert_eq!(out[0].header, FrameHeader::parse(&out[0].data).unwrap());
    assert!(!out[0].header.keyframe);
}

#[test]
fn timestamps_jumping_back_far_are_a_restart() {
    let f = frame(0, &[10], false);
    let mut asm = FrameAssembler::new(90_000);
    let out = run(&mut asm, &packets(&f, 1400, 1_000_000, &mut 0));
    assert_eq!(out.len(), 1);
    let out = run(&mut asm, &packets(&f, 1400, 5, &mut 500));
    assert_eq!(out.len(), 1);
    assert!(out[0].loss_before);
    assert_eq!(asm.stats().restarts, 1);
}

fn expect_malformed(asm: &mut FrameAssembler<u32>, payload: &[u8], ts: u32) -> DepacketizeError {
    let mut out = Vec::new();
    let meta = PacketMeta {
        timestamp: ts,
        seqnum: 0,
        marker: true,
    };
    let err = asm.push(meta, payload, 0, &mut out).unwrap_err();
    assert!(out.is_empty());
    err
}

#[test]
fn malformed_payloads_are_dropped_and_counted() {
    let f = frame(0, &[20, 20], false);
    let good = packetize(&f, 1400).unwrap().remove(0);
    let mut asm = FrameAssembler::new(90_000);

    assert_eq!(
        expect_malformed(&mut asm, &good[..10], 0),
        DepacketizeError::TooShort(10)
    );
    let mut bad = good.clone();
    bad[0] = 9;
    assert_eq!(
        expect_malformed(&mut asm, &bad, 0),
        DepacketizeError::UnsupportedVersion(9)
    );
    let mut bad = good.clone();
    bad[1] = 7;
    assert_eq!(
        expect_malformed(&mut asm, &bad, 0),
        DepacketizeError::UnknownKind(7)
    );
    let mut bad = good.clone();
    bad[4] = b'X';
    assert!(matches!(
        expect_malformed(&mut asm, &bad, 0),
        DepacketizeError::Bitstream(_)
    ));
    // Tile outside the 80-tile frame.
    let mut bad = good.clone();
    bad[18..21].copy_from_slice(&[0, 0, 80]);
    assert!(matches!(
        expect_malformed(&mut asm, &bad, 0),
        DepacketizeError::Bitstream(crate::delta::BitstreamError::TileOutOfRange { .. })
    ));
    // Record length running past the packet.
    let mut bad = good.clone();
    bad.truncate(bad.len() - 1);
    assert!(matches!(
        expect_malformed(&mut asm, &bad, 0),
        DepacketizeError::Bitstream(_)
    ));
    // The same tile twice in one packet.
    let mut bad = good.clone();
    let second = 18 + RECORD_HEADER_LEN + 20;
    bad[second..second + 3].copy_from_slice(&[0, 0, 0]);
    assert_eq!(
        expect_malformed(&mut asm, &bad, 0),
        DepacketizeError::DuplicateTile(0)
    );
    assert_eq!(asm.pending_frames(), 0, "malformed packets leave no frame");

    // Fragments: a valid one, then broken variants.
    let big = frame(0, &[3000], false);
    let frag = packetize(&big, 500).unwrap().remove(0);
    let mut bad = frag.clone();
    bad[18..22].copy_from_slice(&1000u32.to_be_bytes());
    assert!(matches!(
        expect_malformed(&mut asm, &bad, 0),
        DepacketizeError::Bitstream(_)
    ));
    let mut bad = frag.clone();
    bad[26..30].copy_from_slice(&3000u32.to_be_bytes()); // offset past the end
    assert!(matches!(
        expect_malformed(&mut asm, &bad, 0),
        DepacketizeError::FragmentOutOfRange { .. }
    ));
    let mut bad = frag.clone();
    bad[22..26].copy_from_slice(&u32::MAX.to_be_bytes()); // absurd record length
    assert!(matches!(
        expect_malformed(&mut asm, &bad, 0),
        DepacketizeError::FragmentOutOfRange { .. }
    ));
    assert_eq!(asm.stats().malformed, 10);
    assert_eq!(asm.stats().frames, 0);

    // A packet whose frame header differs from its frame's first packet.
    let mut out = Vec::new();
    let meta = PacketMeta {
        timestamp: 50,
        seqnum: 1,
        marker: false,
    };
    asm.push(meta, &good, 0, &mut out).unwrap();
    let mut bad = packetize(&frame(1, &[20, 20], false), 1400)
        .unwrap()
        .remove(0);
    bad[2..4].copy_from_slice(&1u16.to_be_bytes());
    assert_eq!(
        expect_malformed(&mut asm, &bad, 50),
        DepacketizeError::HeaderMismatch
    );
}

#[test]
fn fragments_that_lie_about_their_record_are_dropped() {
    // Rewrite the tile index inside the record (first fragment) so the
    // reassembled record disagrees with the fragment headers.
    let big = frame(0, &[900], false);
    let mut pk = packets(&big, 300, 0, &mut 0);
    pk[0].1[18 + FRAGMENT_HEADER_LEN + 2] = 5;
    let mut asm = FrameAssembler::new(90_000);
    let mut out = run(&mut asm, &pk);
    asm.drain(&mut out);
    assert_eq!(out.len(), 1);
    assert!(!out[0].complete);
    assert_eq!(out[0].data.len(), FRAME_HEADER_LEN);
    assert_eq!(asm.stats().malformed, 1);
}

#[test]
fn random_and_mutated_payloads_never_panic() {
    let f = frame(3, &[30, 700, 2500, 4], true);
    let good: Vec<_> = packets(&f, 300, 0, &mut 0);
    let mut rng = Lcg(42);
    let mut asm = FrameAssembler::new(90_000);
    let mut out = Vec::new();
    for i in 0..20_000u32 {
        let (mut meta, mut p) = good[rng.next() as usize % good.len()].clone();
        match rng.next() % 4 {
            0 => {
                let n = rng.next() as usize % 64;
                p = (0..n).map(|_| rng.next() as u8).collect();
            }
            1 => {
                let at = rng.next() as usize % p.len();
                p[at] ^= 1 << (rng.next() % 8);
            }
            2 => {
                let n = rng.next() as usize % p.len();
                p.truncate(n);
            }
            _ => {}
        }
        meta.timestamp = (i / 40) * 3000;
        meta.marker = rng.next().is_multiple_of(8);
        let _ = asm.push(meta, &p, i, &mut out);
    }
    asm.drain(&mut out);
    for o in &out {
        // Whatever came in, what goes out parses as a frame.
        let (_, records) = parse_frame(&o.data).unwrap();
        for r in records {
            r.unwrap();
        }
    }
    assert!(asm.stats().malformed > 0);
}

/// One record of `record_len` bytes cut into `piece`-byte fragments, one per
/// packet: (meta, payload) in order, the last with the marker.
fn one_record_in_pieces(
    geometry: Geometry,
    record_len: usize,
    piece: usize,
) -> (Vec<u8>, Vec<(PacketMeta, Vec<u8>)>) {
    let header = FrameHeader {
        geometry,
        keyframe: false,
        frame_number: 1,
    };
    let mut w = FrameWriter::new(&header, record_len + 64);
    let out = w.begin_record(1, TileCoding::Lossless, 0);
    out.extend((0..record_len - RECORD_HEADER_LEN).map(|b| (b * 31) as u8));
    w.finish_record().unwrap();
    let data = w.into_bytes();
    let record = &data[FRAME_HEADER_LEN..];
    let n = record.len().div_ceil(piece);
    let packets = record
        .chunks(piece)
        .enumerate()
        .map(|(i, bytes)| {
            let mut p = Vec::new();
            PayloadHeader {
                kind: PayloadKind::Fragment,
                packet_index: i as u16,
            }
            .write(&mut p);
            p.extend_from_slice(&data[..FRAME_HEADER_LEN]);
            FragmentHeader {
                tile_index: 1,
                record_len: record.len() as u32,
                offset: (i * piece) as u32,
            }
            .write(&mut p);
            p.extend_from_slice(bytes);
            let meta = PacketMeta {
                timestamp: 9000,
                seqnum: i as u16,
                marker: i + 1 == n,
            };
            (meta, p)
        })
        .collect();
    (data, packets)
}

/// 320x320 in 160-pixel tiles: records of up to 77,832 bytes.
fn big_tile_geometry() -> Geometry {
    Geometry::new(PixelFormat::I420, 320, 320, 160).unwrap()
}

#[test]
fn a_record_in_65535_one_byte_fragments_is_reassembled_quickly() {
    // As many pieces as a frame can have packets; the default limit on
    // pieces held would refuse most of them.
    let limits = AssemblerLimits {
        max_fragment_pieces: 1 << 16,
        ..AssemblerLimits::default()
    };
    let reassemble = |len: usize, reverse: bool| {
        let (data, mut pk) = one_record_in_pieces(big_tile_geometry(), len, 1);
        if reverse {
            // The marker first: the frame completes on the last packet in.
            pk.reverse();
        }
        let mut asm = FrameAssembler::with_limits(90_000, limits);
        let start = std::time::Instant::now();
        let out = run(&mut asm, &pk);
        let elapsed = start.elapsed();
        assert_eq!(out.len(), 1);
        assert!(out[0].complete);
        assert_eq!(out[0].data, data);
        (elapsed, asm.piece_comparisons())
    };
    let (elapsed, work) = reassemble(65_535, false);
    eprintln!("65,535 one-byte fragments: {elapsed:?}, {work} piece comparisons");
    assert!(elapsed < Duration::from_millis(200), "{elapsed:?}");
    // Each piece is compared with at most its two neighbours, so the work
    // doubles with the record instead of quadrupling.
    let (_, half) = reassemble(32_768, false);
    assert!(work <= 2 * 65_535, "{work} comparisons");
    assert!(work <= 2 * half + 2, "{half} then {work}: not linear");
    let (elapsed, work) = reassemble(65_535, true);
    assert!(elapsed < Duration::from_millis(200), "{elapsed:?}");
    assert!(work <= 2 * 65_535, "{work} comparisons in reverse");
}

#[test]
fn packets_of_thousands_of_tiny_records_are_checked_in_linear_time() {
    // 4096x2304 in 16-pixel tiles: 36,864 tiles; a 64 KB packet holds 8,000
    // empty records, each of which used to be compared with every earlier
    // one of its packet.
    let geometry = Geometry::new(PixelFormat::I420, 4096, 2304, 16).unwrap();
    let mut asm = FrameAssembler::new(90_000);
    let start = std::time::Instant::now();
    for n in 0..30u32 {
        let header = FrameHeader {
            geometry,
            keyframe: false,
            frame_number: n,
        };
        let mut w = FrameWriter::new(&header, 70_000);
        for t in 0..8_000 {
            w.begin_record(t * 4 + n % 4, TileCoding::Lossless, 0);
            w.finish_record().unwrap();
        }
        let data = w.into_bytes();
        let out = run(&mut asm, &packets(&data, 65_000, n * 3000, &mut 0));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, data);
    }
    let elapsed = start.elapsed();
    eprintln!("30 packets of 8,000 records: {elapsed:?}");
    assert!(elapsed < Duration::from_millis(150), "{elapsed:?}");
}

#[test]
fn piece_ends_past_u32_max_are_refused_not_wrapped() {
    use super::packet::piece_end;
    assert_eq!(piece_end(0, 10), Some(10));
    assert_eq!(piece_end(u32::MAX - 10, 10), Some(u32::MAX));
    assert_eq!(piece_end(u32::MAX - 9, 10), None);
    assert_eq!(piece_end(u32::MAX, 1), None);
    assert_eq!(piece_end(1, usize::MAX), None);
    assert_eq!(piece_end(0, u32::MAX as usize + 1), None);
}

#[test]
fn fragment_offsets_near_u32_max_are_malformed() {
    // On a 32-bit target `offset as usize + len` wrapped to a small number
    // that passed the range check; the offset must be refused.
    let big = frame(0, &[3000], false);
    let frag = packetize(&big, 500).unwrap().remove(0);
    let piece_len = frag.len() - 18 - FRAGMENT_HEADER_LEN;
    let mut asm = FrameAssembler::new(90_000);
    for offset in [
        u32::MAX,
        u32::MAX - 1,
        u32::MAX - piece_len as u32 + 1,
        (u32::MAX - piece_len as u32 + 1).wrapping_add(16),
    ] {
        let mut bad = frag.clone();
        bad[26..30].copy_from_slice(&offset.to_be_bytes());
        assert!(
            matches!(
                expect_malformed(&mut asm, &bad, 0),
                DepacketizeError::FragmentOutOfRange { .. }
            ),
            "offset {offset:#x}"
        );
        // The same with the largest record length the geometry allows.
        let max =
            (RECORD_HEADER_LEN + crate::delta::bitstream::max_payload_len(&geometry())) as u32;
        bad[22..26].copy_from_slice(&max.to_be_bytes());
        assert!(matches!(
            expect_malformed(&mut asm, &bad, 0),
            DepacketizeError::FragmentOutOfRange { .. }
        ));
        let header = FrameHeader::parse(&bad[4..18]).unwrap();
        let body = &bad[18..];
        assert!(FragmentHeader::parse(body, &header, body.len() - FRAGMENT_HEADER_LEN).is_err());
        // A piece length that does not fit in u32 at all.
        assert!(FragmentHeader::parse(body, &header, usize::MAX).is_err());
    }
    assert_eq!(asm.pending_frames(), 0);
    assert_eq!(asm.stats().malformed, 8);
}

/// A payload of `frame` (its only one) with the given packet index and kind
/// left as packetize made it.
fn single_payload(f: &[u8]) -> Vec<u8> {
    let mut p = packetize(f, 65_000).unwrap();
    assert_eq!(p.len(), 1);
    p.remove(0)
}

fn meta(timestamp: u32, seqnum: u16, marker: bool) -> PacketMeta {
    PacketMeta {
        timestamp,
        seqnum,
        marker,
    }
}

/// A frame header with `geometry`, followed by `lens` records.
fn frame_of(geometry: Geometry, number: u32, lens: &[usize]) -> Vec<u8> {
    let header = FrameHeader {
        geometry,
        keyframe: false,
        frame_number: number,
    };
    let mut w = FrameWriter::new(&header, 1024);
    for (i, &len) in lens.iter().enumerate() {
        let out = w.begin_record(i as u32, TileCoding::Lossless, 0);
        out.extend((0..len).map(|b| b as u8));
        w.finish_record().unwrap();
    }
    w.into_bytes()
}

#[test]
fn a_frame_beyond_the_size_limits_is_refused_before_anything_is_held() {
    let mut asm = FrameAssembler::new(90_000);
    let limits = asm.limits();
    assert_eq!((limits.max_width, limits.max_height), (4096, 2304));
    let mut out = Vec::new();
    for (w, h) in [(8192, 8192), (4097, 16), (16, 2305)] {
        let huge = Geometry::new(PixelFormat::I420, w, h, 16).unwrap();
        let p = single_payload(&frame_of(huge, 0, &[10]));
        let err = asm.push(meta(0, 0, true), &p, 0, &mut out).unwrap_err();
        assert!(
            matches!(err, DepacketizeError::GeometryTooLarge { width, height, .. } if (width, height) == (w, h)),
            "{err}"
        );
        assert!(err.exceeds_limits());
        assert_eq!(asm.pending_frames(), 0, "no frame (and no tile map) for it");
    }
    // At the limit is fine.
    let edge = Geometry::new(PixelFormat::Bgrx, 4096, 2304, 256).unwrap();
    let p = single_payload(&frame_of(edge, 1, &[10]));
    assert_eq!(
        asm.push(meta(3000, 1, true), &p, 0, &mut out),
        Ok(PushOutcome::Accepted)
    );
    assert_eq!(out.len(), 1);
    let stats = asm.stats();
    assert_eq!(stats.geometry_rejected, 3);
    assert_eq!(stats.malformed, 0);
    assert_eq!(stats.frames, 1);

    // Tighter limits, set on the fly.
    asm.set_limits(AssemblerLimits {
        max_width: 320,
        max_height: 240,
        ..limits
    });
    let p = single_payload(&frame_of(
        Geometry::new(PixelFormat::I420, 640, 480, 32).unwrap(),
        2,
        &[5],
    ));
    assert!(matches!(
        asm.push(meta(6000, 2, true), &p, 0, &mut out),
        Err(DepacketizeError::GeometryTooLarge { .. })
    ));
    assert_eq!(asm.stats().geometry_rejected, 4);
}

#[test]
fn a_frame_other_than_the_expected_geometry_is_refused() {
    let expected = geometry();
    let mut asm = FrameAssembler::with_limits(
        90_000,
        AssemblerLimits {
            expected_geometry: Some(expected),
            ..AssemblerLimits::default()
        },
    );
    let mut out = Vec::new();
    let others = [
        Geometry::new(PixelFormat::I420, 640, 480, 32).unwrap(),
        Geometry::new(PixelFormat::I420, 320, 240, 16).unwrap(),
        Geometry::new(PixelFormat::Bgrx, 320, 240, 32).unwrap(),
        // Smaller is no better: the caps say what the decoder was set up for.
        Geometry::new(PixelFormat::I420, 160, 120, 32).unwrap(),
    ];
    for (i, g) in others.iter().enumerate() {
        let p = single_payload(&frame_of(*g, i as u32, &[10]));
        let err = asm
            .push(meta(3000 * i as u32, i as u16, true), &p, 0, &mut out)
            .unwrap_err();
        assert!(
            matches!(err, DepacketizeError::GeometryMismatch { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("caps announce 320x240"), "{err}");
    }
    assert!(out.is_empty());
    assert_eq!(asm.pending_frames(), 0);
    let p = single_payload(&frame(9, &[10], false));
    assert!(asm.push(meta(30_000, 9, true), &p, 0, &mut out).is_ok());
    assert_eq!(out.len(), 1);
    assert_eq!(asm.stats().geometry_rejected, 4);
}

#[test]
fn the_bytes_a_frame_holds_are_capped() {
    let g = geometry();
    let limits = AssemblerLimits::default();
    // 320x240 I420: 115,200 raw bytes, four times that plus 1 MiB.
    assert_eq!(limits.frame_byte_limit(&g), 4 * 115_200 + (1 << 20));
    let huge = Geometry::new(PixelFormat::Bgrx, 8192, 8192, 256).unwrap();
    assert_eq!(limits.frame_byte_limit(&huge), MAX_FRAME_BYTES);
    let explicit = AssemblerLimits {
        max_frame_bytes: Some(usize::MAX),
        ..limits
    };
    assert_eq!(explicit.frame_byte_limit(&g), MAX_FRAME_BYTES);

    // 1000 bytes a frame: whole records, then fragments, past the limit.
    let mut asm = FrameAssembler::with_limits(
        90_000,
        AssemblerLimits {
            max_frame_bytes: Some(1000),
            ..limits
        },
    );
    let f = frame(0, &[300, 300, 300, 300, 2000], false);
    let pk = packets(&f, 330, 0, &mut 0);
    let mut out = Vec::new();
    let mut refused = 0;
    for (m, p) in &pk {
        match asm.push(*m, p, 0, &mut out) {
            Err(DepacketizeError::FrameTooLarge { limit: 1000 }) => refused += 1,
            Err(e) => panic!("{e}"),
            Ok(_) => {}
        }
    }
    asm.drain(&mut out);
    assert_eq!(out.len(), 1);
    assert!(!out[0].complete);
    // Three whole 308-byte records fit; the rest is refused and counted.
    assert_eq!(tiles(&out[0].data).len(), 3);
    assert!(out[0].data.len() <= FRAME_HEADER_LEN + 1000);
    assert_eq!(asm.stats().over_frame_bytes, refused);
    assert_eq!(refused as usize, pk.len() - 3);
    assert_eq!(asm.stats().malformed, 0);
}

#[test]
fn the_fragment_pieces_a_frame_holds_are_capped() {
    let limits = AssemblerLimits {
        max_fragment_pieces: 10,
        ..AssemblerLimits::default()
    };
    let (_, pk) = one_record_in_pieces(big_tile_geometry(), 2_000, 100);
    assert_eq!(pk.len(), 20);
    let mut asm = FrameAssembler::with_limits(90_000, limits);
    let mut out = Vec::new();
    let results: Vec<_> = pk
        .iter()
        .map(|(m, p)| asm.push(*m, p, 0, &mut out))
        .collect();
    assert!(results[..10]
        .iter()
        .all(|r| r == &Ok(PushOutcome::Accepted)));
    assert!(results[10..]
        .iter()
        .all(|r| r == &Err(DepacketizeError::TooManyFragmentPieces { limit: 10 })));
    assert_eq!(asm.stats().over_fragment_pieces, 10);
    asm.drain(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].fragments_dropped, 1);

    // A record completed gives its pieces back: a frame may hold many
    // records in more pieces than the limit, just not all at once.
    let mut asm = FrameAssembler::with_limits(90_000, limits);
    let f = frame(0, &[900, 900, 900], false);
    let pk = packets(&f, 300, 0, &mut 0);
    assert!(pk.len() > 10);
    let mut out = run(&mut asm, &pk);
    asm.drain(&mut out);
    assert_eq!(out[0].data, f);
    assert_eq!(asm.stats().over_fragment_pieces, 0);
}

#[test]
fn pending_frames_are_capped() {
    let frames: Vec<_> = (0..4).map(|n| frame(n, &[300, 300], false)).collect();
    for max in [1, 2, 3] {
        let mut asm = FrameAssembler::with_limits(
            90_000,
            AssemblerLimits {
                max_pending_frames: max,
                ..AssemblerLimits::default()
            },
        );
        let mut out = Vec::new();
        // Every frame loses its marker packet, so none completes.
        for (n, f) in frames.iter().enumerate() {
            let pk = packets(f, 400, 3000 * n as u32, &mut 0);
            let (m, p) = &pk[0];
            asm.push(*m, p, 0, &mut out).unwrap();
            assert!(asm.pending_frames() <= max);
        }
        assert_eq!(out.len(), 4 - max);
        assert_eq!(asm.stats().frames_evicted, (4 - max) as u64);
        assert!(out.iter().all(|o| !o.complete));
    }
}

#[test]
fn a_pending_frame_is_released_after_its_time_out() {
    let f = frame(0, &[300, 300], false);
    let pk = packets(&f, 400, 0, &mut 0);
    assert_eq!(pk.len(), 2);
    let mut asm = FrameAssembler::new(90_000);
    assert_eq!(asm.limits().frame_timeout, Duration::from_millis(200));
    let ms = Duration::from_millis(1);
    let mut out = Vec::new();
    asm.expire(1000 * ms, &mut out);
    // Only the first packet: the marker is lost, and no frame follows.
    asm.push(pk[0].0, &pk[0].1, 0, &mut out).unwrap();
    assert_eq!(asm.next_deadline(), Some(1200 * ms));
    asm.expire(1199 * ms, &mut out);
    assert!(out.is_empty());
    assert_eq!(asm.pending_frames(), 1);
    asm.expire(1200 * ms, &mut out);
    assert_eq!(out.len(), 1);
    assert!(!out[0].complete);
    assert_eq!(tiles(&out[0].data), vec![0]);
    assert_eq!(asm.pending_frames(), 0);
    assert_eq!(asm.next_deadline(), None);
    assert_eq!(asm.stats().frames_expired, 1);
    // Its marker packet arriving now is late.
    assert_eq!(
        asm.push(pk[1].0, &pk[1].1, 0, &mut out),
        Ok(PushOutcome::Late)
    );

    // A newer frame that expires takes the older one (started later, say
    // after reordering) with it, in timestamp order.
    let g: Vec<_> = (1..3).map(|n| frame(n, &[300, 300], false)).collect();
    let newer = packets(&g[1], 400, 9000, &mut 10);
    let older = packets(&g[0], 400, 6000, &mut 20);
    asm.expire(2000 * ms, &mut out);
    asm.push(newer[0].0, &newer[0].1, 0, &mut out).unwrap();
    asm.expire(2100 * ms, &mut out);
    asm.push(older[0].0, &older[0].1, 0, &mut out).unwrap();
    // The deadline is the earliest start's, not the oldest timestamp's.
    assert_eq!(asm.next_deadline(), Some(2200 * ms));
    out.clear();
    asm.expire(2200 * ms, &mut out);
    assert_eq!(
        out.iter().map(|o| o.timestamp).collect::<Vec<_>>(),
        vec![6000, 9000]
    );
    assert_eq!(asm.stats().frames_expired, 3);
}

/// A scrolling picture (rows that move up `4 * n` with `n`) encoded by the
/// real encoder: its deltas are move runs and move residuals.
fn scrolled_frames(g: Geometry, n: usize) -> Vec<Vec<u8>> {
    use crate::delta::{DeltaEncoder, EncoderConfig, FrameView};
    let mut enc = DeltaEncoder::new(g, EncoderConfig::LOSSLESS);
    (0..n)
        .map(|i| {
            let planes: Vec<Vec<u8>> = (0..g.format.plane_count())
                .map(|p| {
                    let (w, h) = g.plane_size(p);
                    let (_, sy) = g.format.subsampling(p);
                    (0..h)
                        .flat_map(|y| {
                            let doc_y = (y << sy) + 4 * i;
                            (0..w)
                                .map(move |x| ((doc_y * 7 + (doc_y / 5) * 31 + x * 3) % 251) as u8)
                        })
                        .collect()
                })
                .collect();
            let view = FrameView::new(
                &g,
                planes
                    .iter()
                    .enumerate()
                    .map(|(p, d)| (d.as_slice(), g.plane_size(p).0))
                    .collect(),
            )
            .unwrap();
            enc.encode(&view, false).data
        })
        .collect()
}

#[test]
fn moves_cross_the_transport_and_a_lost_packet_costs_only_its_tiles() {
    let g = geometry();
    let frames = scrolled_frames(g, 6);
    let moves = frames[1..]
        .iter()
        .flat_map(|f| parse_frame(f).unwrap().1.map(|r| r.unwrap().coding))
        .filter(|c| *c == TileCoding::Move)
        .count();
    assert!(moves > 0, "the scroll was not sent as moves");
    let mut seq = 0;
    for budget in [1400, 200] {
        let mut asm = FrameAssembler::new(90_000);
        let mut all = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            all.extend(packets(f, budget, 3000 * i as u32, &mut seq));
        }
        let out = run(&mut asm, &all);
        assert_eq!(out.len(), frames.len());
        for (a, f) in out.iter().zip(&frames) {
            assert_eq!(&a.data, f, "budget {budget}");
            assert!(a.complete);
        }
    }
    // Drop the second packet of the last frame: the frame still parses and
    // every record it lost is gone whole, never a piece of a run.
    let last = frames.last().unwrap();
    let pkts = packets(last, 200, 90_000, &mut seq);
    assert!(pkts.len() > 2);
    let mut asm = FrameAssembler::new(90_000);
    let kept: Vec<_> = pkts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, p)| p.clone())
        .collect();
    let mut out = run(&mut asm, &kept);
    asm.drain(&mut out);
    assert_eq!(out.len(), 1);
    assert!(!out[0].complete);
    let (_, records) = parse_frame(&out[0].data).unwrap();
    let got: Vec<_> = records.map(|r| r.unwrap()).collect();
    let (_, all_records) = parse_frame(last).unwrap();
    let all_records: Vec<_> = all_records.map(|r| r.unwrap()).collect();
    assert!(got.len() < all_records.len());
    assert!(got.iter().all(|r| all_records.contains(r)));
}

/// A decoder whose cache holds `entries` noisy tile contents (each larger
/// than a packet), and the snapshot it writes.
fn snapshot_with_cache(g: Geometry, entries: usize) -> (crate::delta::DeltaDecoder, Vec<u8>) {
    use crate::delta::{DeltaDecoder, DeltaEncoder, EncoderConfig, FrameView};
    let mut enc = DeltaEncoder::new(
        g,
        EncoderConfig {
            cache_tiles: 64,
            ..EncoderConfig::LOSSLESS
        },
    );
    let mut dec = DeltaDecoder::new();
    dec.set_cache_tiles(64);
    let mut rng = Lcg(7);
    for n in 0..=entries {
        // tile 0 changes every frame: what it held goes into the cache
        let planes: Vec<Vec<u8>> = (0..g.format.plane_count())
            .map(|p| {
                // I420: one byte a sample
                let (w, h) = g.plane_size(p);
                let (sx, sy) = g.format.subsampling(p);
                (0..w * h)
                    .map(|i| {
                        if (i % w) << sx < 32 && (i / w) << sy < 32 {
                            rng.next() as u8
                        } else {
                            (n + p) as u8
                        }
                    })
                    .collect()
            })
            .collect();
        let view = FrameView::tight(&g, &planes).unwrap();
        let out = enc.encode(&view, false);
        dec.decode(&out.data, Duration::from_millis(40 * n as u64));
    }
    assert_eq!(dec.cache().len(), entries);
    let snapshot = dec.snapshot().unwrap();
    (dec, snapshot)
}

#[test]
fn a_snapshots_remember_records_cross_rtp_in_fragments() {
    let g = geometry();
    let (follower, snapshot) = snapshot_with_cache(g, 5);
    let hashes =
        |d: &crate::delta::DeltaDecoder| d.cache().entries().map(|e| e.hash).collect::<Vec<_>>();
    // remember records of about 1.5 KB: fragmented at 600 bytes, next to
    // tile 0's own fragmented record and remember rank 0's key
    let pkts = packets(&snapshot, 600, 3000, &mut 0);
    assert!(pkts.len() > 10);
    let mut asm = FrameAssembler::new(90_000);
    let out = run(&mut asm, &pkts);
    assert_eq!(out.len(), 1);
    assert!(out[0].complete && out[0].header.keyframe);
    assert_eq!(out[0].data, snapshot);
    let mut late = crate::delta::DeltaDecoder::new();
    late.set_cache_tiles(64);
    let report = late.decode(&out[0].data, std::time::Duration::ZERO);
    assert_eq!(report.records_dropped, 0, "{report:?}");
    assert_eq!(hashes(&late), hashes(&follower));

    // one packet lost: every other record still arrives and applies
    for lost in 0..pkts.len() {
        let mut asm = FrameAssembler::new(90_000);
        let mut kept = pkts.clone();
        kept.remove(lost);
        let mut out = run(&mut asm, &kept);
        asm.drain(&mut out);
        assert_eq!(out.len(), 1);
        let mut dec = crate::delta::DeltaDecoder::new();
        dec.set_cache_tiles(64);
        let report = dec.decode(&out[0].data, std::time::Duration::ZERO);
        assert_eq!(report.records_dropped, 0, "lost {lost}: {report:?}");
        assert!(dec.cache().len() >= 4, "lost {lost}");
    }
}

#[test]
fn a_remember_rank_twice_in_a_frame_is_malformed() {
    let g = geometry();
    let header = FrameHeader {
        geometry: g,
        keyframe: false,
        frame_number: 1,
    };
    let mut w = FrameWriter::new(&header, 64);
    for _ in 0..2 {
        w.begin_record(3, TileCoding::Remember, 0)
            .extend_from_slice(&[0, 0, 0, 1]);
        w.finish_record().unwrap();
    }
    // a recall of tile 3 next to them is no repeat: ranks are not tiles
    w.begin_record(3, TileCoding::Recall, 0)
        .extend_from_slice(&[0; 8]);
    w.finish_record().unwrap();
    let data = w.into_bytes();
    let mut payload = vec![PAYLOAD_VERSION, 0, 0, 0];
    payload.extend_from_slice(&data);
    let mut asm = FrameAssembler::new(90_000);
    let e = expect_malformed(&mut asm, &payload, 100);
    assert_eq!(e, DepacketizeError::DuplicateTile(REMEMBER_KEY_BASE + 3));
    // without the second one it is fine
    let one = [
        &data[..FRAME_HEADER_LEN + 12],
        &data[FRAME_HEADER_LEN + 24..],
    ]
    .concat();
    let pkts = packets(&one, 1400, 200, &mut 0);
    let out = run(&mut asm, &pkts);
    assert_eq!(out.last().unwrap().data, one);
}
