// SPDX-License-Identifier: MPL-2.0
//! The `delta_frame` fuzz target (its libFuzzer wrapper: fuzz_targets/delta_frame.rs).

use gststreamkit::delta::bitstream::{
    max_payload_len, parse_frame, parse_record, FrameHeader, FrameWriter, TileCoding,
    FRAME_HEADER_LEN, MAX_CACHE_TILES, RECORD_HEADER_LEN,
};

/// The delta frame parser: `parse_frame` and every record after it, and
/// `parse_record` on its own. A frame that parses whole must be written back
/// byte for byte by `FrameWriter` (parse what you write).
pub fn delta_frame(data: &[u8]) {
    let Ok((header, records)) = parse_frame(data) else {
        return;
    };
    let g = header.geometry;
    assert!(g.tiles_x >= 1 && g.tiles_y >= 1);

    // The header writes back as read, but for flag bits other than keyframe.
    let mut written = Vec::new();
    header.write(&mut written);
    assert_eq!(written.len(), FRAME_HEADER_LEN);
    assert_eq!(written[..3], data[..3]);
    assert_eq!(written[4..], data[4..FRAME_HEADER_LEN]);
    assert_eq!(FrameHeader::parse(&written), Ok(header));

    let body = &data[FRAME_HEADER_LEN..];
    let mut used = 0;
    let mut parsed = Vec::new();
    let mut whole = true;
    for record in records {
        match record {
            Ok(r) => {
                if r.coding == TileCoding::Remember {
                    // a rank in the cache, not a tile
                    assert!(r.index < MAX_CACHE_TILES && r.tiles().is_empty());
                } else {
                    assert!(r.index < g.tile_count());
                }
                assert!(r.payload.len() <= max_payload_len(&g));
                // Each record comes straight after the previous one.
                let (again, len) = parse_record(&body[used..], &g).expect("reader accepted it");
                assert_eq!(again, r);
                assert_eq!(len, r.wire_len());
                assert_eq!(
                    &body[used + RECORD_HEADER_LEN..used + len],
                    r.payload,
                    "payload is the bytes after the record header"
                );
                used += len;
                parsed.push(r);
            }
            Err(e) => {
                assert_eq!(parse_record(&body[used..], &g).err(), Some(e));
                whole = false;
            }
        }
    }
    if !whole {
        return;
    }
    assert_eq!(
        used,
        body.len(),
        "the reader stops only at the end or an error"
    );

    let mut writer = FrameWriter::new(&header, data.len());
    for r in &parsed {
        writer
            .begin_record(r.index, r.coding, r.param)
            .extend_from_slice(r.payload);
        writer
            .finish_record()
            .expect("a parsed payload fits its length field");
    }
    let rewritten = writer.into_bytes();
    assert_eq!(rewritten[FRAME_HEADER_LEN..], data[FRAME_HEADER_LEN..]);
    assert_eq!(rewritten[..FRAME_HEADER_LEN], written[..]);
}
