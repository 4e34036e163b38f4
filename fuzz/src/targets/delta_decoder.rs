// SPDX-License-Identifier: MPL-2.0
//! The `delta_decoder` fuzz target (its libFuzzer wrapper: fuzz_targets/delta_decoder.rs).

use super::super::{small_enough, split_frames};
use gststreamkit::delta::bitstream::{FrameHeader, FRAME_HEADER_LEN, RECORD_HEADER_LEN};
use gststreamkit::delta::{DeltaDecoder, DeltaEncoder, EncoderConfig, ReferenceCanvas};
use std::time::Duration;

fn same_picture(a: &ReferenceCanvas, b: &ReferenceCanvas) -> bool {
    a.geometry() == b.geometry()
        && (0..a.geometry().format.plane_count()).all(|p| a.plane(p) == b.plane(p))
}

/// The whole delta decoder fed a sequence of frames: the input is cut before
/// every `SK`,1 (see `streamkit_fuzz::split_frames`), so a seed is simply
/// encoded frames one after the other. Frames announcing more than
/// 256x256 are skipped (read with the public header parser first) to keep
/// one input cheap. Checks the decoder's counters, then re-encodes the
/// canvas it ended with losslessly and decodes that into a fresh decoder,
/// which must give the same picture bit for bit; its snapshot must restore
/// picture and tile cache (recall and remember records included).
pub fn delta_decoder(data: &[u8]) {
    // A small cache, so that eviction is reached.
    const CACHE_TILES: u32 = 8;
    let mut decoder = DeltaDecoder::new();
    decoder.set_cache_tiles(CACHE_TILES);
    let mut fed = 0u64;
    for frame in split_frames(data) {
        let header = FrameHeader::parse(frame);
        if header.as_ref().is_ok_and(|h| !small_enough(h)) {
            continue;
        }
        let before = decoder.stats();
        // Frames 33 ms apart, as at 30 fps: geometry changes meet the
        // decoder's once-a-second limit as a live stream would.
        let report = decoder.decode(frame, Duration::from_millis(33 * fed));
        fed += 1;
        let after = decoder.stats();
        assert_eq!(after.bytes - before.bytes, frame.len() as u64);
        match report.header {
            Some(h) => {
                assert_eq!(Ok(h), header);
                let canvas = decoder.canvas().expect("an accepted frame sets the canvas");
                assert_eq!(*canvas.geometry(), h.geometry);
                let tiles = h.geometry.tile_count();
                // Each tile is written at most once a frame, whatever the
                // records say (a move's run counts every tile it writes).
                assert!(report.tiles_applied <= tiles);
                assert!(
                    report.records_dropped as usize
                        <= (frame.len() - FRAME_HEADER_LEN) / RECORD_HEADER_LEN + 1,
                    "every record costs at least its header"
                );
                assert!(decoder.missing_tiles() <= tiles);
                assert!(decoder.cache().len() <= CACHE_TILES as usize);
                assert_eq!(
                    after.recall_misses - before.recall_misses,
                    u64::from(report.recall_misses)
                );
                assert!(decoder.stale_tiles() <= tiles);
                assert_eq!(after.frames, before.frames + 1);
                assert_eq!(
                    after.tiles_applied - before.tiles_applied,
                    u64::from(report.tiles_applied)
                );
            }
            None => {
                assert!(report.error.is_some());
                assert_eq!(report.tiles_applied, 0);
                assert_eq!(after.frames_rejected, before.frames_rejected + 1);
            }
        }
        if fed.is_multiple_of(3) {
            decoder.note_loss();
            assert_eq!(
                decoder.stale_tiles(),
                decoder.canvas().map_or(0, |c| c.geometry().tile_count())
            );
        }
    }
    let stats = decoder.stats();
    assert_eq!(stats.frames + stats.frames_rejected, fed);

    let Some(canvas) = decoder.canvas() else {
        return;
    };
    let mut encoder = DeltaEncoder::new(*canvas.geometry(), EncoderConfig::LOSSLESS);
    let encoded = encoder.encode(&canvas.view(), true);
    assert!(encoded.keyframe);
    assert!(same_picture(encoder.reference(), canvas));
    let mut fresh = DeltaDecoder::new();
    let report = fresh.decode(&encoded.data, Duration::ZERO);
    assert!(
        report.error.is_none(),
        "own keyframe rejected: {:?}",
        report.error
    );
    assert_eq!(report.records_dropped, 0);
    assert!(fresh.is_complete());
    assert!(same_picture(fresh.canvas().expect("decoded"), canvas));

    let snapshot = decoder.snapshot().expect("a canvas exists");
    let mut restored = DeltaDecoder::new();
    restored.set_cache_tiles(CACHE_TILES);
    let report = restored.decode(&snapshot, Duration::ZERO);
    assert!(
        report.error.is_none(),
        "snapshot rejected: {:?}",
        report.error
    );
    assert!(restored.is_complete());
    let hashes = |d: &DeltaDecoder| d.cache().entries().map(|e| e.hash).collect::<Vec<_>>();
    assert_eq!(
        hashes(&restored),
        hashes(&decoder),
        "snapshot restores the cache"
    );
    let canvas = decoder.canvas().expect("still there");
    assert!(same_picture(restored.canvas().expect("decoded"), canvas));
}
