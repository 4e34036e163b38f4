// SPDX-License-Identifier: MPL-2.0
//! The `rtp_assembler` fuzz target (its libFuzzer wrapper: fuzz_targets/rtp_assembler.rs).

use super::super::{parse_assembler_script, small_enough, AssemblerStep, DEPAY_RESTART_AFTER};
use gststreamkit::delta::bitstream::{parse_frame, FrameHeader, FRAME_HEADER_LEN};
use gststreamkit::delta::DeltaDecoder;
use gststreamkit::rtp::{
    AssembledFrame, AssemblerLimits, DepacketizeError, FrameAssembler, PushOutcome,
    PAYLOAD_HEADER_LEN,
};
use std::time::Duration;

fn check_frame(frame: &AssembledFrame<usize>, decoder: &mut DeltaDecoder) {
    let (header, records) = parse_frame(&frame.data).expect("output frame has a valid header");
    // Tiles, and remember records' keys past them: each at most once.
    let mut seen = std::collections::HashSet::new();
    for record in records {
        let record = record.expect("every output record parses");
        for key in record.claims() {
            assert!(
                seen.insert(key),
                "tile or rank {key} twice in one output frame"
            );
        }
    }
    if !frame.complete {
        assert!(
            !header.keyframe,
            "an incomplete frame keeps its keyframe flag"
        );
    }
    let report = decoder.decode(&frame.data, Duration::ZERO);
    assert!(report.header.is_some() || report.error.is_some());
}

/// The receiving side of the RTP payload: a `FrameAssembler` driven by a
/// script of packets (timestamp, sequence number, marker, payload) and of
/// loss, drain, restart, reset and clock events (`streamkit_fuzz::
/// parse_assembler_script`). Packets announcing more than 256x256 are left
/// out. The limits are small so that every one of them is reached. Every
/// frame that comes out must be a valid delta frame with each tile at most
/// once, keep its keyframe flag only when complete, and decode; no frame is
/// held past its time-out, at most two frames are ever pending and the
/// counters add up.
pub fn rtp_assembler(data: &[u8]) {
    // Milliseconds on the fuzzer's clock; time-outs after 100 of them, the
    // wait for reordered packets after 5.
    let limits = AssemblerLimits {
        max_width: 256,
        max_height: 256,
        max_frame_bytes: Some(16 * 1024),
        max_fragment_pieces: 64,
        frame_timeout: Duration::from_millis(100),
        reorder_time: Duration::from_millis(5),
        ..AssemblerLimits::default()
    };
    let mut asm = FrameAssembler::<usize>::with_limits(DEPAY_RESTART_AFTER, limits);
    let mut now = Duration::ZERO;
    let mut decoder = DeltaDecoder::new();
    let mut out = Vec::new();
    let mut pushes = 0u64;
    let mut outputs = 0u64;
    for (n, step) in parse_assembler_script(data).into_iter().enumerate() {
        match step {
            AssemblerStep::Push(meta, payload) => {
                let header = payload
                    .get(PAYLOAD_HEADER_LEN..PAYLOAD_HEADER_LEN + FRAME_HEADER_LEN)
                    .map(FrameHeader::parse);
                if matches!(header, Some(Ok(h)) if !small_enough(&h)) {
                    continue;
                }
                pushes += 1;
                let before = asm.stats();
                let result = asm.push(meta, payload, n, &mut out);
                let after = asm.stats();
                match result {
                    Ok(PushOutcome::Accepted) => assert_eq!(after.packets, before.packets + 1),
                    Ok(PushOutcome::Duplicate) => {
                        assert_eq!(after.duplicates, before.duplicates + 1)
                    }
                    Ok(PushOutcome::Late) => assert_eq!(after.late, before.late + 1),
                    Err(
                        DepacketizeError::GeometryTooLarge { .. }
                        | DepacketizeError::GeometryMismatch { .. },
                    ) => assert_eq!(after.geometry_rejected, before.geometry_rejected + 1),
                    Err(DepacketizeError::FrameTooLarge { .. }) => {
                        assert_eq!(after.over_frame_bytes, before.over_frame_bytes + 1)
                    }
                    Err(DepacketizeError::TooManyFragmentPieces { .. }) => {
                        assert_eq!(after.over_fragment_pieces, before.over_fragment_pieces + 1)
                    }
                    Err(_) => assert_eq!(after.malformed, before.malformed + 1),
                }
            }
            AssemblerStep::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                asm.expire(now, &mut out);
                // Every pending frame started at an earlier `now`: a step
                // of a whole time-out leaves none of them.
                if ms >= 100 {
                    assert_eq!(asm.pending_frames(), 0, "a frame outlived its time-out");
                }
            }
            AssemblerStep::NoteLoss => asm.note_loss(),
            AssemblerStep::Drain => {
                asm.drain(&mut out);
                assert_eq!(asm.pending_frames(), 0);
            }
            AssemblerStep::Restart => {
                asm.restart(&mut out);
                assert_eq!(asm.pending_frames(), 0);
            }
            AssemblerStep::Reset => {
                asm.reset();
                assert_eq!(asm.pending_frames(), 0);
            }
        }
        assert!(
            asm.pending_frames() <= 2,
            "more frames pending than MAX_PENDING"
        );
        for frame in out.drain(..) {
            outputs += 1;
            check_frame(&frame, &mut decoder);
        }
    }
    asm.drain(&mut out);
    for frame in out.drain(..) {
        outputs += 1;
        check_frame(&frame, &mut decoder);
    }
    let stats = asm.stats();
    assert_eq!(
        stats.packets
            + stats.duplicates
            + stats.late
            + stats.malformed
            + stats.geometry_rejected
            + stats.over_frame_bytes
            + stats.over_fragment_pieces,
        pushes
    );
    assert_eq!(stats.frames, outputs);
}
