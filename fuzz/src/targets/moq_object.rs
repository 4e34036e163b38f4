// SPDX-License-Identifier: MPL-2.0
//! The `moq_object` fuzz target (its libFuzzer wrapper: fuzz_targets/moq_object.rs).

use super::super::{parse_moq_pieces, MoqSettings, MAX_FUZZ_SIDE};
use gststreamkit::delta::{DecoderLimits, DeltaDecoder};
use gststreamkit::moq::catalog::{
    Catalog, CatalogError, Codec, CATALOG_VERSION, MAX_CATALOG_BYTES,
};
use gststreamkit::moq::object::{
    parse_object, write_object, ObjectError, FLAG_DISCONT, FLAG_SYNC, OBJECT_HEADER_LEN,
    OBJECT_VERSION,
};
use gststreamkit::moq::snapshot::{composite, CompositeError};
use std::time::Duration;

/// Checks one piece as an object; returns its payload if it parses.
fn check_object(piece: &[u8], max_payload: usize) -> Option<&[u8]> {
    match parse_object(piece, max_payload) {
        Ok((header, payload)) => {
            assert!(!payload.is_empty());
            assert!(payload.len() <= max_payload, "payload over the limit");
            assert_eq!(
                payload.as_ptr(),
                piece[OBJECT_HEADER_LEN..].as_ptr(),
                "the payload is the bytes after the header"
            );
            assert_eq!(payload.len(), piece.len() - OBJECT_HEADER_LEN);
            assert_eq!(header.sync, piece[1] & FLAG_SYNC != 0);
            assert_eq!(header.discont, piece[1] & FLAG_DISCONT != 0);
            assert_eq!(
                write_object(&header, payload),
                piece,
                "an object writes back as read"
            );
            // The limit is inclusive.
            assert_eq!(parse_object(piece, payload.len()), Ok((header, payload)));
            assert_eq!(
                parse_object(piece, payload.len() - 1),
                Err(ObjectError::TooLarge {
                    size: payload.len(),
                    limit: payload.len() - 1
                })
            );
            Some(payload)
        }
        Err(e) => {
            match e {
                ObjectError::Truncated(n) => {
                    assert_eq!(n, piece.len());
                    assert!(n < OBJECT_HEADER_LEN);
                }
                ObjectError::Version(v) => {
                    assert_eq!(v, piece[0]);
                    assert_ne!(v, OBJECT_VERSION);
                }
                ObjectError::Flags(f) => {
                    assert_eq!(f, piece[1]);
                    assert_ne!(f & !(FLAG_SYNC | FLAG_DISCONT), 0);
                }
                ObjectError::Empty => assert_eq!(piece.len(), OBJECT_HEADER_LEN),
                ObjectError::TooLarge { size, limit } => {
                    assert_eq!(size, piece.len() - OBJECT_HEADER_LEN);
                    assert_eq!(limit, max_payload);
                    assert!(size > limit);
                    // Nothing else was wrong with it.
                    assert!(parse_object(piece, size).is_ok());
                }
            }
            None
        }
    }
}

/// Checks one piece as a catalog; returns it if it parses.
fn check_catalog(piece: &[u8]) -> Option<Catalog> {
    let catalog = match Catalog::parse(piece) {
        Ok(c) => c,
        Err(CatalogError::TooLarge(n)) => {
            assert_eq!(n, piece.len());
            assert!(n > MAX_CATALOG_BYTES);
            return None;
        }
        Err(_) => return None,
    };
    assert!(piece.len() <= MAX_CATALOG_BYTES);
    assert_eq!(catalog.version, CATALOG_VERSION);
    assert!(!catalog.frames_track.is_empty());
    match &catalog.snapshot_track {
        Some(name) => assert!(!name.is_empty()),
        None => assert_ne!(
            catalog.codec,
            Codec::Delta,
            "changes only needs a snapshot track"
        ),
    }
    let bytes = catalog.to_bytes();
    assert!(!bytes.is_empty());
    match Catalog::parse(&bytes) {
        Ok(again) => {
            assert_eq!(again, catalog, "a catalog written again reads the same");
            assert_eq!(again.to_bytes(), bytes, "written bytes are a fixed point");
        }
        // Written pretty, a compact catalog near the limit grows past it.
        Err(CatalogError::TooLarge(n)) => assert!(n > MAX_CATALOG_BYTES),
        Err(e) => panic!("a catalog that parsed, written again, is refused: {e}"),
    }
    Some(catalog)
}

fn cache_hashes(d: &DeltaDecoder) -> Vec<u64> {
    d.cache().entries().map(|e| e.hash).collect()
}

fn same_picture(a: &DeltaDecoder, b: &DeltaDecoder) -> bool {
    match (a.canvas(), b.canvas()) {
        (Some(a), Some(b)) => {
            a.geometry() == b.geometry()
                && (0..a.geometry().format.plane_count()).all(|p| a.plane(p) == b.plane(p))
        }
        _ => false,
    }
}

/// What a MoQ subscriber reads from the relay: the object header
/// (`moq::object::parse_object`), the catalog (`moq::catalog::Catalog::
/// parse`) and a joiner's composite of a snapshot and the frames after it
/// (`moq::snapshot::composite`). Input: `streamkit_fuzz::MoqSettings` (the
/// object limit, a cache size) then at most eight length-prefixed pieces
/// (`streamkit_fuzz::parse_moq_pieces`); every piece goes through both
/// parsers. As in the subscriber, a catalog that parses gives the cache
/// size, the first object that parses is the snapshot, and the objects after
/// it are the frames since (refused ones left out).
///
/// Checks: an object that parses has a payload of 1 to `max_payload` bytes,
/// the bytes after its header, and `write_object` writes it back byte for
/// byte (a time of all ones is "none" and is written back as all ones); a
/// refused object is refused for the reason its bytes give. A catalog that
/// parses obeys its rules and, written again, parses to an equal catalog
/// whose bytes are a fixed point. A composite decodes alone into a complete
/// picture equal to the snapshot and frames decoded in order (tile cache
/// included), and is its own composite; a refused snapshot is one a decoder
/// refuses or leaves incomplete. Pictures are capped at 256x256 by the
/// decoder limits, to keep one input cheap.
pub fn moq_object(data: &[u8]) {
    let (settings, rest) = MoqSettings::parse(data);
    let max_payload = usize::from(settings.max_payload);
    let pieces = parse_moq_pieces(rest);

    let mut catalog = None;
    let mut payloads = Vec::new();
    for piece in &pieces {
        if let Some(c) = check_catalog(piece) {
            catalog.get_or_insert(c);
        }
        if let Some(p) = check_object(piece, max_payload) {
            payloads.push(p);
        }
    }

    let Some((&snapshot, frames)) = payloads.split_first() else {
        return;
    };
    let cache_tiles = match &catalog {
        Some(c) => c.cache_tiles.unwrap_or(0),
        None => u32::from(settings.cache_tiles),
    };
    let limits = DecoderLimits {
        max_width: MAX_FUZZ_SIDE,
        max_height: MAX_FUZZ_SIDE,
        ..DecoderLimits::default()
    };
    let fresh = || {
        let mut d = DeltaDecoder::with_limits(limits);
        d.set_cache_tiles(cache_tiles);
        d
    };

    // The same bytes decoded in order, as a viewer that was live all along
    // (but for the snapshot) would have them.
    let mut live = fresh();
    let snapshot_report = live.decode(snapshot, Duration::ZERO);

    match composite(snapshot, frames.iter().copied(), cache_tiles, limits) {
        Ok(picture) => {
            assert!(snapshot_report.error.is_none());
            assert!(live.canvas().is_some());
            for frame in frames {
                live.decode(frame, Duration::ZERO);
            }
            let mut joiner = fresh();
            let report = joiner.decode(&picture, Duration::ZERO);
            assert!(
                report.error.is_none(),
                "a composite is refused: {:?}",
                report.error
            );
            assert_eq!(report.records_dropped, 0);
            assert!(joiner.is_complete(), "a composite leaves tiles missing");
            assert_eq!(joiner.stale_tiles(), 0);
            assert!(
                same_picture(&joiner, &live),
                "the composite is not the picture"
            );
            assert_eq!(
                cache_hashes(&joiner),
                cache_hashes(&live),
                "the composite restores the tile cache"
            );
            assert_eq!(
                composite(&picture, [], cache_tiles, limits),
                Ok(picture.clone()),
                "a composite is its own composite"
            );
        }
        Err(CompositeError::Snapshot(_)) => {
            assert!(snapshot_report.error.is_some());
        }
        Err(CompositeError::Incomplete(n)) => {
            assert!(snapshot_report.error.is_none());
            assert!(!live.is_complete());
            assert_eq!(n, live.missing_tiles(), "missing tiles miscounted");
        }
    }
}
