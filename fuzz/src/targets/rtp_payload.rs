// SPDX-License-Identifier: MPL-2.0
//! The `rtp_payload` fuzz target (its libFuzzer wrapper: fuzz_targets/rtp_payload.rs).

use super::super::{small_enough, DEPAY_RESTART_AFTER};
use gststreamkit::delta::bitstream::{parse_frame, FrameHeader, FRAME_HEADER_LEN};
use gststreamkit::rtp::{
    packetize, FragmentHeader, FrameAssembler, PacketMeta, PayloadHeader, PayloadKind,
    FRAGMENT_HEADER_LEN, MIN_PAYLOAD_BUDGET, PAYLOAD_HEADER_LEN,
};

/// The RTP payload header and fragment header parsers, on one payload as
/// `rtpdeltadepay` receives it. Both headers must write back as read. A
/// records payload that parses whole is taken as a frame and sent through
/// `packetize` and the `FrameAssembler`, which must give that frame back
/// (the packet index picks the payload budget).
pub fn rtp_payload(data: &[u8]) {
    let Ok(ph) = PayloadHeader::parse(data) else {
        return;
    };
    let mut written = Vec::new();
    ph.write(&mut written);
    assert_eq!(written[..], data[..PAYLOAD_HEADER_LEN]);

    let frame = &data[PAYLOAD_HEADER_LEN..];
    let Ok(header) = FrameHeader::parse(frame) else {
        return;
    };
    let body = &frame[FRAME_HEADER_LEN..];
    match ph.kind {
        PayloadKind::Fragment => {
            let piece = body.get(FRAGMENT_HEADER_LEN..).unwrap_or(&[]);
            let Ok(fh) = FragmentHeader::parse(body, &header, piece.len()) else {
                return;
            };
            assert!(fh.tile_index < header.geometry.tile_count());
            assert!(!piece.is_empty());
            assert!(u64::from(fh.offset) + piece.len() as u64 <= u64::from(fh.record_len));
            let mut written = Vec::new();
            fh.write(&mut written);
            assert_eq!(written[..], body[..FRAGMENT_HEADER_LEN]);
        }
        PayloadKind::Records => {
            let Ok((_, records)) = parse_frame(frame) else {
                unreachable!("the header parsed above");
            };
            let tiles: Vec<u32> = match records.map(|r| r.map(|r| r.index)).collect() {
                Ok(tiles) => tiles,
                Err(_) => return,
            };
            if !small_enough(&header) {
                return;
            }
            let mut sorted = tiles.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != tiles.len() {
                // The assembler refuses a tile twice in one frame.
                return;
            }
            let budget = MIN_PAYLOAD_BUDGET + usize::from(ph.packet_index) % 1500;
            let payloads = packetize(frame, budget).expect("a frame that parsed packetizes");
            let mut asm = FrameAssembler::new(DEPAY_RESTART_AFTER);
            let mut out = Vec::new();
            let last = payloads.len() - 1;
            for (i, p) in payloads.iter().enumerate() {
                assert!(p.len() <= budget);
                let meta = PacketMeta {
                    timestamp: 90_000,
                    seqnum: i as u16,
                    marker: i == last,
                };
                asm.push(meta, p, (), &mut out)
                    .expect("own packets are well formed");
            }
            assert_eq!(out.len(), 1, "the marker completes the frame");
            assert!(out[0].complete && !out[0].damaged());
            assert_eq!(out[0].data[..], frame[..]);
        }
    }
}
