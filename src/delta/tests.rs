// SPDX-License-Identifier: MPL-2.0
//! Encoder and decoder together, on synthetic pictures.

use super::*;
use std::time::Duration;

/// Frame times of a 25 fps stream.
fn at(frame: u64) -> Duration {
    Duration::from_millis(40 * frame)
}

/// A frame in memory, tightly packed, for tests.
struct TestFrame {
    geometry: Geometry,
    planes: Vec<Vec<u8>>,
}

impl TestFrame {
    fn new(geometry: Geometry) -> Self {
        let planes = (0..geometry.format.plane_count())
            .map(|p| {
                let (w, h) = geometry.plane_size(p);
                vec![0u8; w * h * geometry.format.bytes_per_pixel(p)]
            })
            .collect();
        TestFrame { geometry, planes }
    }

    /// Fills with a moving pattern: gradient plus a square at `t`.
    fn draw(&mut self, t: usize) {
        let g = self.geometry;
        for (p, plane) in self.planes.iter_mut().enumerate() {
            let bpp = g.format.bytes_per_pixel(p);
            let (w, _) = g.plane_size(p);
            for (i, v) in plane.iter_mut().enumerate() {
                let px = i / bpp;
                let (x, y) = (px % w, px / w);
                let inside = (x + 3 * t) % w < w / 4 && y % 40 < 20;
                *v = if inside {
                    (200 + p * 10 + i % bpp) as u8
                } else {
                    ((x * 2 + y + p * 50) % 256) as u8
                };
            }
        }
    }

    fn view(&self) -> FrameView<'_> {
        let g = self.geometry;
        FrameView::tight(&g, &self.planes).unwrap()
    }
}

fn config(mode: TileMode) -> EncoderConfig {
    EncoderConfig {
        mode,
        parallel: true,
        ..EncoderConfig::LOSSLESS
    }
}

#[test]
fn lossless_round_trip_is_bit_exact_on_moving_content() {
    for format in [PixelFormat::I420, PixelFormat::Bgrx] {
        let g = Geometry::new(format, 150, 94, 32).unwrap();
        let mut enc = DeltaEncoder::new(g, config(TileMode::Lossless));
        let mut dec = DeltaDecoder::new();
        let mut frame = TestFrame::new(g);
        for t in 0..8 {
            frame.draw(t);
            let out = enc.encode(&frame.view(), false);
            let report = dec.decode(&out.data, at(t as u64));
            assert!(report.error.is_none(), "{:?}", report.error);
            let canvas = dec.canvas().unwrap();
            for p in 0..format.plane_count() {
                assert_eq!(
                    canvas.plane(p),
                    frame.planes[p].as_slice(),
                    "{format:?} frame {t}"
                );
            }
        }
    }
}

#[test]
fn unchanged_frame_costs_only_a_header() {
    let g = Geometry::new(PixelFormat::Bgrx, 128, 64, 32).unwrap();
    for mode in [TileMode::Lossless, TileMode::Lossy { quality: 70 }] {
        let mut enc = DeltaEncoder::new(g, config(mode));
        let mut frame = TestFrame::new(g);
        frame.draw(1);
        let first = enc.encode(&frame.view(), false);
        assert!(first.keyframe);
        let second = enc.encode(&frame.view(), false);
        assert!(!second.keyframe);
        assert_eq!(second.data.len(), bitstream::FRAME_HEADER_LEN, "{mode:?}");
        assert_eq!(second.tiles_sent, 0);
    }
}

#[test]
fn late_decoder_converges_within_refresh_period() {
    let g = Geometry::new(PixelFormat::I420, 160, 96, 16).unwrap();
    let period = 10;
    let mut cfg = config(TileMode::Lossless);
    cfg.intra_refresh = period;
    let mut enc = DeltaEncoder::new(g, cfg);
    let mut frame = TestFrame::new(g);
    let mut late = DeltaDecoder::new();
    for t in 0..30 {
        frame.draw(t);
        let out = enc.encode(&frame.view(), false);
        if t >= 5 {
            late.decode(&out.data, at(t as u64));
        }
        if t >= 5 + period as usize - 1 {
            assert!(
                late.is_complete(),
                "frame {t}: {} missing",
                late.missing_tiles()
            );
            assert_eq!(late.canvas().unwrap().plane(0), frame.planes[0].as_slice());
        }
    }
    assert!(enc.stats().tiles_refreshed > 0);
}

#[test]
fn lossy_holds_quality_and_does_not_drift() {
    let g = Geometry::new(PixelFormat::I420, 128, 96, 32).unwrap();
    let mut enc = DeltaEncoder::new(g, config(TileMode::Lossy { quality: 75 }));
    let mut dec = DeltaDecoder::new();
    let mut frame = TestFrame::new(g);
    for t in 0..6 {
        frame.draw(t);
        let out = enc.encode(&frame.view(), false);
        dec.decode(&out.data, at(t as u64));
        // decoder and encoder reference agree exactly
        for p in 0..3 {
            assert_eq!(dec.canvas().unwrap().plane(p), enc.reference().plane(p));
        }
        let psnr = psnr(dec.canvas().unwrap().plane(0), &frame.planes[0]);
        assert!(psnr > 32.0, "frame {t}: PSNR {psnr:.1}");
    }
}

#[test]
fn threshold_ignores_noise_but_not_real_changes() {
    let g = Geometry::new(PixelFormat::I420, 64, 64, 32).unwrap();
    let mut cfg = config(TileMode::Lossless);
    cfg.threshold = 4;
    let mut enc = DeltaEncoder::new(g, cfg);
    let mut frame = TestFrame::new(g);
    frame.draw(0);
    enc.encode(&frame.view(), false);
    // +-2 noise everywhere
    for (i, v) in frame.planes[0].iter_mut().enumerate() {
        *v = if i % 2 == 0 {
            v.saturating_add(2)
        } else {
            v.saturating_sub(2)
        };
    }
    assert_eq!(enc.encode(&frame.view(), false).tiles_sent, 0);
    // a small bright mark in one tile
    for y in 40..48 {
        for x in 40..44 {
            frame.planes[0][y * 64 + x] = 255;
        }
    }
    assert_eq!(enc.encode(&frame.view(), false).tiles_sent, 1);
}

#[test]
fn forced_and_periodic_keyframes_send_everything() {
    let g = Geometry::new(PixelFormat::Bgrx, 64, 64, 32).unwrap();
    let mut cfg = config(TileMode::Lossless);
    cfg.key_int_max = 3;
    let mut enc = DeltaEncoder::new(g, cfg);
    let mut frame = TestFrame::new(g);
    frame.draw(0);
    let keys: Vec<bool> = (0..7)
        .map(|i| enc.encode(&frame.view(), i == 1).keyframe)
        .collect();
    assert_eq!(keys, [true, true, false, false, true, false, false]);
}

#[test]
fn decoder_applies_any_subset_and_drops_corrupt_records() {
    let g = Geometry::new(PixelFormat::Bgrx, 64, 64, 32).unwrap();
    let mut enc = DeltaEncoder::new(g, config(TileMode::Lossless));
    let mut frame = TestFrame::new(g);
    frame.draw(2);
    let out = enc.encode(&frame.view(), false);
    let (_, records) = bitstream::parse_frame(&out.data).unwrap();
    let records: Vec<_> = records.map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 4);
    // header + records 1 and 3 only; record 3 with a damaged payload
    let mut subset = out.data[..bitstream::FRAME_HEADER_LEN].to_vec();
    let mut offset = bitstream::FRAME_HEADER_LEN;
    let mut spans = Vec::new();
    for r in &records {
        spans.push((offset, r.wire_len()));
        offset += r.wire_len();
    }
    let (o1, l1) = spans[1];
    subset.extend_from_slice(&out.data[o1..o1 + l1]);
    let (o3, l3) = spans[3];
    let mut damaged = out.data[o3..o3 + l3].to_vec();
    let last = damaged.len() - 1;
    damaged.truncate(last - 3);
    let new_len = (damaged.len() - bitstream::RECORD_HEADER_LEN) as u32;
    damaged[5..8].copy_from_slice(&new_len.to_be_bytes()[1..]);
    subset.extend_from_slice(&damaged);
    let mut dec = DeltaDecoder::new();
    let report = dec.decode(&subset, at(0));
    assert_eq!(report.tiles_applied, 1);
    assert_eq!(report.records_dropped, 1);
    assert!(report.error.is_some());
    assert_eq!(dec.missing_tiles(), 3);
}

#[test]
fn mutated_frames_never_panic_and_change_the_canvas_only_by_the_rules() {
    // A deterministic stand-in for fuzzing: bit flips, truncations and
    // splices of valid frames, in both formats and all codings.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for (format, mode) in [
        (PixelFormat::I420, TileMode::Lossless),
        (PixelFormat::Bgrx, TileMode::Lossy { quality: 60 }),
        (PixelFormat::Nv12, TileMode::Lossless),
        (PixelFormat::Rgba, TileMode::Lossy { quality: 60 }),
    ] {
        let g = Geometry::new(format, 96, 64, 32).unwrap();
        let mut enc = DeltaEncoder::new(g, config(mode));
        let mut frame = TestFrame::new(g);
        frame.draw(4);
        let valid = enc.encode(&frame.view(), true).data;
        let mut moved = TestFrame::new(g);
        moved.draw(5);
        let delta = enc.encode(&moved.view(), false);
        assert!(!delta.keyframe);
        let mut dec = DeltaDecoder::new();
        let mut changes = 0u64;
        let mut last_change = None;
        // Geometries announced by the last frames whose header parsed.
        let mut announced: Vec<Geometry> = Vec::new();
        for i in 0..3000 {
            let mut bytes = if next() % 2 == 0 {
                valid.clone()
            } else {
                delta.data.clone()
            };
            match next() % 4 {
                0 => {
                    let n = 1 + next() as usize % 8;
                    for _ in 0..n {
                        let pos = next() as usize % bytes.len();
                        bytes[pos] ^= 1 << (next() % 8);
                    }
                }
                1 => bytes.truncate(next() as usize % bytes.len()),
                2 => {
                    let pos = bitstream::FRAME_HEADER_LEN + next() as usize % (bytes.len() - 14);
                    bytes[pos] = next() as u8;
                    bytes.truncate(bytes.len() - next() as usize % 20);
                }
                _ => {
                    let pos = next() as usize % bytes.len();
                    let extra: Vec<u8> = (0..next() % 64).map(|_| next() as u8).collect();
                    bytes.splice(pos..pos, extra);
                }
            }
            if let Ok(h) = FrameHeader::parse(&bytes) {
                announced.push(h.geometry);
            }
            let before = dec.canvas().map(|c| *c.geometry());
            let report = dec.decode(&bytes, at(i));
            let after = dec.canvas().map(|c| *c.geometry());
            // The report says exactly when the canvas was replaced...
            assert_eq!(report.geometry_changed, before != after, "iteration {i}");
            if before != after {
                // ...and only a frame that parsed and announced that
                // geometry may replace it: a keyframe, or a delta frame when
                // the same geometry was announced by the frames before it.
                let header = report.header.expect("a change comes from a header");
                assert_eq!(Some(header.geometry), after, "iteration {i}");
                let n = decoder::GEOMETRY_CONFIRM_FRAMES as usize;
                let persisted = announced.len() >= n
                    && announced[announced.len() - n..]
                        .iter()
                        .all(|g| *g == header.geometry);
                assert!(
                    header.keyframe || before.is_none() || persisted,
                    "iteration {i}: a delta frame replaced {before:?} by {after:?}"
                );
                // ...and at most once per interval.
                if before.is_some() {
                    changes += 1;
                    if let Some(last) = last_change {
                        assert!(
                            at(i) - last >= decoder::DEFAULT_MIN_GEOMETRY_CHANGE_INTERVAL,
                            "iteration {i}: changed again after {:?}",
                            at(i) - last
                        );
                    }
                    last_change = Some(at(i));
                }
            }
        }
        assert!(changes > 0, "the mutations did reach the geometry");
        assert_eq!(dec.stats().geometry_changes, changes);
        // and a valid frame still decodes exactly afterwards (lossless)
        let report = dec.decode(&valid, at(10_000));
        assert!(report.error.is_none());
        if mode == TileMode::Lossless {
            assert_eq!(dec.canvas().unwrap().plane(0), frame.planes[0].as_slice());
        }
    }
}

/// Encoded frames of a moving picture at `g`: a keyframe, then deltas with
/// intra refresh over `refresh` frames.
fn encoded_frames(g: Geometry, n: usize, refresh: u32) -> (Vec<EncodedFrame>, Vec<TestFrame>) {
    let mut cfg = config(TileMode::Lossless);
    cfg.intra_refresh = refresh;
    let mut enc = DeltaEncoder::new(g, cfg);
    let mut encoded = Vec::new();
    let mut sources = Vec::new();
    for t in 0..n {
        let mut frame = TestFrame::new(g);
        frame.draw(t);
        encoded.push(enc.encode(&frame.view(), false));
        sources.push(frame);
    }
    (encoded, sources)
}

#[test]
fn only_a_keyframe_may_change_the_geometry_at_once() {
    let small = Geometry::new(PixelFormat::I420, 64, 64, 32).unwrap();
    let large = Geometry::new(PixelFormat::I420, 128, 64, 32).unwrap();
    let mut dec = DeltaDecoder::new();
    let (small_frames, _) = encoded_frames(small, 1, 0);
    let (large_frames, _) = encoded_frames(large, 2, 0);
    dec.decode(&small_frames[0].data, at(0));
    let report = dec.decode(&large_frames[1].data, at(100));
    assert!(matches!(
        report.error,
        Some(BitstreamError::GeometryChangeWithoutKeyframe { .. })
    ));
    assert!(!report.geometry_changed);
    assert_eq!(*dec.canvas().unwrap().geometry(), small);
    let report = dec.decode(&large_frames[0].data, at(101));
    assert!(report.geometry_changed);
    assert_eq!(*dec.canvas().unwrap().geometry(), large);
    assert_eq!(dec.stats().geometry_changes, 1);
}

#[test]
fn a_single_damaged_header_never_discards_the_canvas() {
    let g = Geometry::new(PixelFormat::I420, 96, 64, 32).unwrap();
    let (frames, _) = encoded_frames(g, 40, 0);
    let mut dec = DeltaDecoder::new();
    for (t, f) in frames.iter().enumerate() {
        let mut bytes = f.data.clone();
        if t % 2 == 1 {
            // every other delta claims another height (a flipped bit)
            bytes[7] ^= 0x20;
        }
        dec.decode(&bytes, at(t as u64 * 100));
        assert_eq!(*dec.canvas().unwrap().geometry(), g, "frame {t}");
    }
    assert_eq!(dec.stats().geometry_changes, 0);
}

#[test]
fn a_resize_whose_keyframe_was_lost_is_adopted_and_refreshed() {
    let small = Geometry::new(PixelFormat::I420, 96, 64, 16).unwrap();
    let large = Geometry::new(PixelFormat::I420, 160, 96, 16).unwrap();
    let refresh = 10;
    let (small_frames, _) = encoded_frames(small, 50, refresh);
    let (large_frames, sources) = encoded_frames(large, 40, refresh);
    let mut dec = DeltaDecoder::new();
    for (t, f) in small_frames.iter().enumerate() {
        dec.decode(&f.data, at(t as u64));
    }
    // The resize: the new size's keyframe is lost.
    let first = 50u64;
    for (i, f) in large_frames.iter().enumerate().skip(1) {
        let report = dec.decode(&f.data, at(first + i as u64));
        let n = decoder::GEOMETRY_CONFIRM_FRAMES as usize;
        assert_eq!(report.geometry_changed, i == n, "frame {i}: {report:?}");
        if i < n {
            assert_eq!(*dec.canvas().unwrap().geometry(), small);
        }
        if i >= n + refresh as usize - 1 {
            assert!(
                dec.is_complete(),
                "frame {i}: {} missing",
                dec.missing_tiles()
            );
            assert_eq!(
                dec.canvas().unwrap().plane(0),
                sources[i].planes[0].as_slice(),
                "frame {i}"
            );
        }
    }
    assert_eq!(dec.stats().geometry_changes, 1);
}

#[test]
fn a_geometry_over_the_limits_is_refused_before_anything_is_allocated() {
    let mut header = Vec::new();
    FrameHeader {
        geometry: Geometry::new(PixelFormat::Bgrx, 8192, 8192, 256).unwrap(),
        keyframe: true,
        frame_number: 0,
    }
    .write(&mut header);
    let mut dec = DeltaDecoder::new();
    let report = dec.decode(&header, at(0));
    assert!(
        matches!(
            report.error,
            Some(BitstreamError::GeometryOverLimit {
                width: 8192,
                height: 8192,
                max_width: 4096,
                max_height: 2304
            })
        ),
        "{report:?}"
    );
    assert!(dec.canvas().is_none());
    assert_eq!(dec.stats().frames_oversized, 1);
    assert_eq!(dec.stats().frames_rejected, 1);
    // tighter limits refuse a picture the defaults allow; the canvas stays
    let g = Geometry::new(PixelFormat::Bgrx, 640, 480, 64).unwrap();
    let (frames, _) = encoded_frames(g, 2, 0);
    dec.decode(&frames[0].data, at(1));
    dec.set_limits(DecoderLimits {
        max_width: 320,
        ..DecoderLimits::default()
    });
    assert!(matches!(
        dec.decode(&frames[1].data, at(2)).error,
        Some(BitstreamError::GeometryOverLimit { .. })
    ));
    assert_eq!(dec.stats().frames_oversized, 2);
}

#[test]
fn geometry_changes_at_most_once_per_interval() {
    let a = Geometry::new(PixelFormat::I420, 64, 64, 32).unwrap();
    let b = Geometry::new(PixelFormat::I420, 96, 64, 32).unwrap();
    let (ka, _) = encoded_frames(a, 1, 0);
    let (kb, _) = encoded_frames(b, 1, 0);
    let (ka, kb) = (&ka[0].data, &kb[0].data);
    let mut dec = DeltaDecoder::new();
    let ms = Duration::from_millis;
    assert!(dec.decode(ka, ms(0)).geometry_changed); // first picture
    assert!(dec.decode(kb, ms(10)).geometry_changed); // first change
    let report = dec.decode(ka, ms(500));
    assert!(matches!(
        report.error,
        Some(BitstreamError::GeometryChangeTooSoon { .. })
    ));
    assert_eq!(*dec.canvas().unwrap().geometry(), b);
    // a keyframe storm alternating two sizes costs one canvas per interval
    for t in (20..1000).step_by(10) {
        dec.decode(if t % 20 == 0 { ka } else { kb }, ms(t));
    }
    assert_eq!(dec.stats().geometry_changes, 1);
    assert!(dec.stats().geometry_changes_throttled >= 49);
    assert!(dec.decode(ka, ms(1010)).geometry_changed);
    // a time base that restarts is not a reason to freeze
    assert!(dec.decode(kb, ms(5)).geometry_changed);
    assert_eq!(dec.stats().geometry_changes, 3);
}

/// A valid BGRx frame whose records all fill the same tile, the `i`th
/// record with value `i`.
fn frame_repeating_one_tile(g: Geometry, tile: u32, repeats: usize) -> Vec<u8> {
    let header = FrameHeader {
        geometry: g,
        keyframe: false,
        frame_number: 1,
    };
    let mut w = bitstream::FrameWriter::new(&header, 64);
    for i in 0..repeats {
        w.begin_record(tile, TileCoding::Fill, 0)
            .extend_from_slice(&[i as u8; 4]);
        w.finish_record().unwrap();
    }
    w.into_bytes()
}

#[test]
fn a_tile_repeated_within_one_frame_is_applied_once() {
    let g = Geometry::new(PixelFormat::Bgrx, 256, 256, 256).unwrap();
    let mut dec = DeltaDecoder::new();
    let report = dec.decode(&frame_repeating_one_tile(g, 0, 1000), at(0));
    assert_eq!(report.tiles_applied, 1, "{report:?}");
    assert_eq!(report.records_dropped, 999);
    assert!(matches!(
        report.error,
        Some(BitstreamError::RepeatedTile { index: 0 })
    ));
    // the first record won: later ones did not overwrite it
    assert_eq!(dec.canvas().unwrap().plane(0)[..4], [0, 0, 0, 0]);
    assert_eq!(dec.stats().records_dropped, 999);
    // the next frame may send the tile again
    let report = dec.decode(&frame_repeating_one_tile(g, 0, 1), at(1));
    assert_eq!((report.tiles_applied, report.records_dropped), (1, 0));
}

/// A page of "text" scrolled by `scroll` rows, beside a still sidebar
/// (`sidebar` pixels wide) under a still header (`header` rows high): the
/// shape of a browser scrolling a document.
fn scrolled_page(g: Geometry, scroll: usize, sidebar: usize, header: usize) -> TestFrame {
    let mut f = TestFrame::new(g);
    for p in 0..g.format.plane_count() {
        let bpp = g.format.bytes_per_pixel(p);
        let (w, h) = g.plane_size(p);
        let (sx, sy) = g.format.subsampling(p);
        for y in 0..h {
            for x in 0..w {
                let (px, py) = (x << sx, y << sy);
                let v = if py < header {
                    40 + (px / 16 % 3) as u8 * 20
                } else if px < sidebar {
                    // still, and different on every row
                    (py * 7 + px) as u8
                } else {
                    // document row, glyph cell: a pseudo-random glyph per
                    // cell, blank lines between text lines
                    let doc_y = py + scroll;
                    let (line, row_in_line) = (doc_y / 20, doc_y % 20);
                    let cell = px / 10;
                    let glyph = (line * 131 + cell * 71) % 97;
                    if row_in_line < 4 || glyph < 20 {
                        250
                    } else {
                        ((glyph * 5 + row_in_line * 11 + px % 10 * 3) % 200) as u8
                    }
                };
                for c in 0..bpp {
                    f.planes[p][(y * w + x) * bpp + c] = v.wrapping_add(c as u8 * 30);
                }
            }
        }
    }
    f
}

/// Encodes `frames` one after another and decodes each into one decoder,
/// checking that every record applies and that the decoder then holds the
/// frame exactly (every plane). Returns the first frame's bytes and the
/// others' total.
fn encode_and_check_exact(
    enc: &mut DeltaEncoder,
    frames: impl IntoIterator<Item = TestFrame>,
    what: &str,
) -> (usize, usize) {
    let mut dec = DeltaDecoder::new();
    // as the caps tell deltadec
    dec.set_cache_tiles(enc.cache_tiles());
    let (mut first, mut rest) = (0, 0);
    for (i, frame) in frames.into_iter().enumerate() {
        let out = enc.encode(&frame.view(), false);
        if i == 0 {
            first = out.data.len();
        } else {
            rest += out.data.len();
        }
        let report = dec.decode(&out.data, at(i as u64));
        assert_eq!(report.records_dropped, 0, "{what} frame {i}: {report:?}");
        let canvas = dec.canvas().unwrap();
        for (p, plane) in frame.planes.iter().enumerate() {
            assert!(
                canvas.plane(p) == plane.as_slice(),
                "{what} frame {i} plane {p} differs"
            );
        }
    }
    (first, rest)
}

#[test]
fn a_scrolled_page_is_sent_as_moves_and_decodes_exactly() {
    for format in [PixelFormat::I420, PixelFormat::Bgrx] {
        let g = Geometry::new(format, 320, 256, 64).unwrap();
        let mut enc = DeltaEncoder::new(g, config(TileMode::Lossless));
        // 40 px sidebar: the first tile column straddles the edge
        let frames = (0..8).map(|i| scrolled_page(g, i * 12, 40, 30));
        let (key_bytes, delta_bytes) =
            encode_and_check_exact(&mut enc, frames, &format!("{format:?}"));
        let stats = enc.stats();
        assert!(stats.tiles_moved > 0, "{format:?}: {stats:?}");
        assert!(stats.tiles_move_residual > 0, "{format:?}: {stats:?}");
        // A scrolled frame costs less than half the first one: a fifth of
        // its rows is new (scrolled in at the bottom or beside the still
        // sidebar and header), the rest moves.
        assert!(
            delta_bytes / 7 < key_bytes / 2,
            "{format:?}: 7 scrolled frames {delta_bytes} bytes, keyframe {key_bytes}, {stats:?}"
        );
    }
}

#[test]
fn a_snapshot_puts_a_fresh_decoder_in_the_same_state() {
    for (format, mode) in [
        (PixelFormat::Bgrx, TileMode::Lossless),
        (PixelFormat::I420, TileMode::Lossy { quality: 50 }),
        (PixelFormat::Nv12, TileMode::Lossy { quality: 50 }),
        (PixelFormat::Xrgb, TileMode::Lossless),
        (PixelFormat::Bgra, TileMode::Lossy { quality: 50 }),
    ] {
        let g = Geometry::new(format, 200, 136, 32).unwrap();
        let mut cfg = config(mode);
        cfg.intra_refresh = 0;
        cfg.cache_tiles = 64;
        let mut enc = DeltaEncoder::new(g, cfg);
        // scrolling, then a blinking cursor and a window that comes and
        // goes (recalls, in lossless mode)
        let frames: Vec<Vec<u8>> = (0..14)
            .map(|i| {
                let scene = desktop(g, i.min(5) * 6, i % 4 == 1, i % 2 == 0);
                enc.encode(&scene.view(), false).data
            })
            .collect();
        let mut follower = DeltaDecoder::new();
        follower.set_cache_tiles(enc.cache_tiles());
        for (i, f) in frames[..6].iter().enumerate() {
            follower.decode(f, at(i as u64));
        }
        let snapshot = follower.snapshot().expect("a canvas exists");
        assert!(FrameHeader::parse(&snapshot).unwrap().keyframe);
        let mut late = DeltaDecoder::new();
        late.set_cache_tiles(enc.cache_tiles());
        let report = late.decode(&snapshot, at(6));
        assert_eq!(report.records_dropped, 0);
        assert!(late.is_complete());
        let hashes = |d: &DeltaDecoder| d.cache().entries().map(|e| e.hash).collect::<Vec<_>>();
        assert_eq!(hashes(&late), hashes(&follower), "{format:?}");
        for (i, f) in frames[6..].iter().enumerate() {
            follower.decode(f, at(7 + i as u64));
            late.decode(f, at(7 + i as u64));
            let (a, b) = (follower.canvas().unwrap(), late.canvas().unwrap());
            for p in 0..g.format.plane_count() {
                assert!(
                    a.plane(p) == b.plane(p),
                    "{format:?} frame {} plane {p}",
                    6 + i
                );
            }
        }
        // and the stream really moved things after the snapshot
        assert!(enc.stats().tiles_moved > 0, "{format:?}: {:?}", enc.stats());
        if mode == TileMode::Lossless {
            // recalls after the snapshot read entries it restored, and hit
            assert!(late.stats().tiles_recalled > 0, "{format:?}");
            assert_eq!(late.stats().recall_misses, 0, "{format:?}");
            assert_eq!(
                late.stats().tiles_recalled,
                follower.stats().tiles_recalled - {
                    let mut before = DeltaDecoder::new();
                    before.set_cache_tiles(enc.cache_tiles());
                    for (i, f) in frames[..6].iter().enumerate() {
                        before.decode(f, at(i as u64));
                    }
                    before.stats().tiles_recalled
                }
            );
            assert_eq!(hashes(&late), hashes(&follower), "{format:?}");
        } else {
            assert_eq!(enc.cache_tiles(), 0, "lossy streams send no recalls");
        }
    }
    assert!(DeltaDecoder::new().snapshot().is_none());
}

#[test]
fn copies_of_stale_tiles_stay_stale_until_refreshed() {
    let g = Geometry::new(PixelFormat::Bgrx, 256, 256, 32).unwrap();
    let mut cfg = config(TileMode::Lossless);
    cfg.intra_refresh = 8;
    let mut enc = DeltaEncoder::new(g, cfg);
    let mut dec = DeltaDecoder::new();
    let mut lost_one = false;
    let mut stale_seen = Vec::new();
    for i in 0..24 {
        let frame = scrolled_page(g, i * 8, 0, 0);
        let out = enc.encode(&frame.view(), false);
        if i == 3 {
            // this frame is lost; the receiver learns of the loss
            lost_one = true;
            dec.note_loss();
            continue;
        }
        dec.decode(&out.data, at(i as u64));
        stale_seen.push(dec.stale_tiles());
        if lost_one && i < 3 + 2 {
            // moves read tiles the receiver holds wrong: still stale
            assert!(dec.stale_tiles() > 0, "frame {i}");
        }
    }
    // the refresh period (8 frames) heals everything, and the canvas is
    // then exactly the sender's
    assert_eq!(dec.stale_tiles(), 0, "{stale_seen:?}");
    let reference = enc.reference();
    assert!(dec.canvas().unwrap().plane(0) == reference.plane(0));
}

#[test]
fn a_move_outside_the_picture_or_of_repeated_tiles_is_dropped() {
    let g = Geometry::new(PixelFormat::Bgrx, 128, 128, 32).unwrap();
    let mut enc = DeltaEncoder::new(g, config(TileMode::Lossless));
    let key = enc.encode(&scrolled_page(g, 0, 0, 0).view(), true).data;
    let frame_with = |records: &[(u32, u8, i16, i16)]| {
        let header = FrameHeader {
            geometry: g,
            keyframe: false,
            frame_number: 1,
        };
        let mut w = bitstream::FrameWriter::new(&header, 64);
        for &(index, run_minus_one, dx, dy) in records {
            let out = w.begin_record(index, TileCoding::Move, run_minus_one);
            bitstream::write_offset(out, dx as i32, dy as i32);
            w.finish_record().unwrap();
        }
        w.into_bytes()
    };
    let mut dec = DeltaDecoder::new();
    dec.decode(&key, at(0));
    let before = dec.canvas().unwrap().plane(0).to_vec();
    // tile 0 moved up by 1 reads row -1; tiles 3..5 by 8 to the right read
    // past the right edge (tile 3 is in the last column)
    let r = dec.decode(&frame_with(&[(0, 0, 0, -1), (2, 2, 8, 0)]), at(1));
    assert_eq!((r.tiles_applied, r.records_dropped), (0, 2), "{r:?}");
    assert!(dec.canvas().unwrap().plane(0) == before.as_slice());
    // a run of 4 then a record naming a tile of that run again
    let r = dec.decode(&frame_with(&[(4, 3, 0, 32), (6, 0, 0, 32)]), at(2));
    assert_eq!((r.tiles_applied, r.records_dropped), (4, 1), "{r:?}");
    // a run past the grid's end does not parse
    let r = dec.decode(&frame_with(&[(15, 1, 0, -32)]), at(3));
    assert_eq!(r.tiles_applied, 0);
    assert!(
        matches!(r.error, Some(BitstreamError::TileOutOfRange { .. })),
        "{r:?}"
    );
}

#[test]
fn a_dragged_window_is_found_by_the_2d_search_and_decodes_exactly() {
    let g = Geometry::new(PixelFormat::Bgrx, 384, 256, 32).unwrap();
    let frame_at = |i: usize| {
        let mut f = TestFrame::new(g);
        let (wx, wy) = (20 + 12 * i, 16 + 6 * i);
        for y in 0..256 {
            for x in 0..384 {
                let inside = (wx..wx + 160).contains(&x) && (wy..wy + 120).contains(&y);
                let v = if inside {
                    // window content moves with the window
                    let (u, v) = (x - wx, y - wy);
                    ((u * 13 + v * 7 + (u / 5) * (v / 3)) % 251) as u8
                } else {
                    // a still background, flat enough to be cheap
                    40 + ((x / 32 + y / 32) % 2) as u8 * 10
                };
                for c in 0..4 {
                    f.planes[0][(y * 384 + x) * 4 + c] = v.wrapping_add(c as u8 * 40);
                }
            }
        }
        f
    };
    let mut enc = DeltaEncoder::new(g, config(TileMode::Lossless));
    encode_and_check_exact(&mut enc, (0..6).map(frame_at), "drag");
    let s = enc.stats();
    assert!(s.tiles_moved + s.tiles_move_residual > 0, "{s:?}");
}

/// Frame sizes for the per-format round trips: whole tiles, partial edge
/// tiles, and odd sizes (chroma rounded up for I420 and NV12).
const ROUND_TRIP_SIZES: [(u32, u32); 3] = [(320, 256), (318, 250), (317, 251)];

#[test]
fn every_format_round_trips_bit_exact_lossless_with_moves() {
    for format in PixelFormat::ALL {
        for (w, h) in ROUND_TRIP_SIZES {
            let g = Geometry::new(format, w, h, 64).unwrap();
            let mut enc = DeltaEncoder::new(g, config(TileMode::Lossless));
            let mut dec = DeltaDecoder::new();
            for i in 0..6 {
                let frame = scrolled_page(g, i * 12, 40, 30);
                let out = enc.encode(&frame.view(), false);
                let report = dec.decode(&out.data, at(i as u64));
                assert_eq!(report.records_dropped, 0, "{format:?} {w}x{h} frame {i}");
                let canvas = dec.canvas().unwrap();
                for p in 0..format.plane_count() {
                    assert!(
                        canvas.plane(p) == frame.planes[p].as_slice(),
                        "{format:?} {w}x{h} frame {i} plane {p} differs"
                    );
                }
            }
            let stats = enc.stats();
            assert!(stats.tiles_moved > 0, "{format:?} {w}x{h}: {stats:?}");
            assert!(
                stats.tiles_move_residual > 0,
                "{format:?} {w}x{h}: {stats:?}"
            );
        }
    }
}

#[test]
fn every_format_round_trips_lossy_with_moves_and_exact_alpha() {
    for format in PixelFormat::ALL {
        for (w, h) in ROUND_TRIP_SIZES {
            let g = Geometry::new(format, w, h, 64).unwrap();
            let mut enc = DeltaEncoder::new(g, config(TileMode::Lossy { quality: 70 }));
            let mut dec = DeltaDecoder::new();
            for i in 0..6 {
                let frame = scrolled_page(g, i * 12, 40, 30);
                let out = enc.encode(&frame.view(), false);
                let report = dec.decode(&out.data, at(i as u64));
                assert_eq!(report.records_dropped, 0, "{format:?} {w}x{h} frame {i}");
                let canvas = dec.canvas().unwrap();
                // decoder and encoder agree exactly: no drift
                for p in 0..format.plane_count() {
                    assert!(
                        canvas.plane(p) == enc.reference().plane(p),
                        "{format:?} {w}x{h} frame {i} plane {p}: decoder and encoder differ"
                    );
                }
                let (got, want) = (canvas.plane(0), frame.planes[0].as_slice());
                match format.packed_order() {
                    Some([b, g_, r, fourth]) => {
                        let colour = |plane: &[u8]| -> Vec<u8> {
                            plane
                                .chunks_exact(4)
                                .flat_map(|px| [px[b], px[g_], px[r]])
                                .collect()
                        };
                        // hard synthetic text at q70 whose colour changes
                        // from pixel to pixel (the channel offsets wrap
                        // around): lossy tiles code packed chroma 4:2:0,
                        // as JPEG and H.264 do, which leaves about 20-21 dB
                        // here in every byte order (25 dB with full chroma)
                        let psnr = psnr(&colour(got), &colour(want));
                        assert!(psnr > 19.0, "{format:?} {w}x{h} frame {i}: {psnr:.1} dB");
                        for (a, s) in got.chunks_exact(4).zip(want.chunks_exact(4)) {
                            if format.has_alpha() {
                                assert_eq!(a[fourth], s[fourth], "{format:?}: alpha is exact");
                            } else {
                                // lossy records make padding 255; fill records carry it
                                assert!(a[fourth] == 255 || a[fourth] == s[fourth]);
                            }
                        }
                    }
                    None => {
                        let psnr = psnr(got, want);
                        assert!(psnr > 28.0, "{format:?} {w}x{h} frame {i}: {psnr:.1} dB");
                    }
                }
            }
            assert!(enc.stats().tiles_moved > 0, "{format:?}: {:?}", enc.stats());
        }
    }
}

/// PSNR in dB of `a` against `b`, two pictures of one size.
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    crate::measure::quality::psnr(a, b).expect("pictures of one size")
}

#[test]
fn the_same_picture_codes_alike_in_every_byte_order() {
    // One picture in each packed layout: the records are the same bytes
    // (channels are coded in the canonical B, G, R, fourth order), so the
    // cost of a format is the same whatever its byte order.
    let base = Geometry::new(PixelFormat::Bgra, 200, 136, 32).unwrap();
    let frames: Vec<TestFrame> = (0..4).map(|i| scrolled_page(base, i * 8, 24, 10)).collect();
    let encode_all = |format: PixelFormat| -> Vec<Vec<u8>> {
        let g = Geometry::new(format, 200, 136, 32).unwrap();
        let [b, g_, r, fourth] = format.packed_order().unwrap();
        let mut enc = DeltaEncoder::new(g, config(TileMode::Lossless));
        frames
            .iter()
            .map(|f| {
                let mut t = TestFrame::new(g);
                for (dst, src) in t.planes[0]
                    .chunks_exact_mut(4)
                    .zip(f.planes[0].chunks_exact(4))
                {
                    (dst[b], dst[g_], dst[r], dst[fourth]) = (src[0], src[1], src[2], src[3]);
                }
                // records only: the header names the format
                enc.encode(&t.view(), false).data[bitstream::FRAME_HEADER_LEN..].to_vec()
            })
            .collect()
    };
    let reference = encode_all(PixelFormat::Bgra);
    for format in PixelFormat::ALL
        .into_iter()
        .filter(|f| f.packed_order().is_some())
    {
        assert!(encode_all(format) == reference, "{format:?}");
    }
}

#[test]
fn few_colour_tiles_are_palette_coded_exactly_in_every_packed_format() {
    // Text-like tiles of a few colours whose alpha (or padding) varies too.
    for format in PixelFormat::ALL {
        let Some(order) = format.packed_order() else {
            continue;
        };
        let g = Geometry::new(format, 128, 96, 32).unwrap();
        let mut frame = TestFrame::new(g);
        for (i, px) in frame.planes[0].chunks_exact_mut(4).enumerate() {
            let (x, y) = (i % 128, i / 128);
            let colour = ((x / 3) ^ (y / 5)) % 5;
            for (c, &pos) in order.iter().enumerate() {
                px[pos] = (colour * 40 + c * 7) as u8;
            }
        }
        let mut enc = DeltaEncoder::new(g, config(TileMode::Lossless));
        let out = enc.encode(&frame.view(), false);
        let (_, records) = bitstream::parse_frame(&out.data).unwrap();
        let palette = records
            .filter(|r| r.as_ref().unwrap().coding == TileCoding::Palette)
            .count();
        assert_eq!(palette, g.tile_count() as usize, "{format:?}");
        let mut dec = DeltaDecoder::new();
        assert_eq!(dec.decode(&out.data, at(0)).records_dropped, 0);
        assert!(dec.canvas().unwrap().plane(0) == frame.planes[0].as_slice());
    }
}

#[test]
fn odd_scroll_steps_move_subsampled_pictures_too() {
    for format in [PixelFormat::I420, PixelFormat::Nv12] {
        let g = Geometry::new(format, 256, 192, 32).unwrap();
        let mut enc = DeltaEncoder::new(g, config(TileMode::Lossless));
        // 5 rows a frame: every offset is odd or an odd multiple
        let frames = (0..6).map(|i| scrolled_page(g, i * 5, 0, 0));
        let (key_bytes, delta_bytes) =
            encode_and_check_exact(&mut enc, frames, &format!("{format:?}"));
        let s = enc.stats();
        assert!(
            s.tiles_moved + s.tiles_move_residual > 0,
            "{format:?}: {s:?}"
        );
        assert!(
            delta_bytes / 5 < key_bytes / 2,
            "{format:?}: {delta_bytes} vs {key_bytes}"
        );
    }
}

#[test]
fn the_order_of_a_frames_records_does_not_change_what_moves_read() {
    let g = Geometry::new(PixelFormat::Bgrx, 256, 192, 32).unwrap();
    let mut enc = DeltaEncoder::new(g, config(TileMode::Lossless));
    let key = enc.encode(&scrolled_page(g, 0, 20, 0).view(), false).data;
    let frame = scrolled_page(g, 9, 20, 0);
    let delta = enc.encode(&frame.view(), false).data;
    let (header, records) = bitstream::parse_frame(&delta).unwrap();
    let records: Vec<_> = records.map(|r| r.unwrap()).collect();
    assert!(records.iter().any(|r| r.coding == TileCoding::Move));
    // the same records, last first
    let mut w = bitstream::FrameWriter::new(&header, delta.len());
    for r in records.iter().rev() {
        w.begin_record(r.index, r.coding, r.param)
            .extend_from_slice(r.payload);
        w.finish_record().unwrap();
    }
    let reversed = w.into_bytes();
    for data in [&delta, &reversed] {
        let mut dec = DeltaDecoder::new();
        dec.decode(&key, at(0));
        let report = dec.decode(data, at(1));
        assert_eq!(report.records_dropped, 0);
        assert!(dec.canvas().unwrap().plane(0) == frame.planes[0].as_slice());
    }
}

/// Paints the pixels of `f` inside `x0..x1`, `y0..y1` (even bounds, so
/// chroma follows luma exactly) with `value(x, y, plane, byte)`.
fn paint(
    f: &mut TestFrame,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
    value: impl Fn(usize, usize, usize, usize) -> u8,
) {
    let g = f.geometry;
    for p in 0..g.format.plane_count() {
        let bpp = g.format.bytes_per_pixel(p);
        let (w, _) = g.plane_size(p);
        let (sx, sy) = g.format.subsampling(p);
        for y in (y0 >> sy)..(y1 >> sy) {
            for x in (x0 >> sx)..(x1 >> sx) {
                for c in 0..bpp {
                    f.planes[p][(y * w + x) * bpp + c] = value(x, y, p, c);
                }
            }
        }
    }
}

/// A still page (`scroll` rows down), a window over its middle while
/// `window`, and a text cursor in one tile while `cursor`.
fn desktop(g: Geometry, scroll: usize, window: bool, cursor: bool) -> TestFrame {
    let mut f = scrolled_page(g, scroll, 24, 10);
    if window {
        let rect = (
            g.width as usize / 4,
            g.height as usize / 4,
            g.width as usize * 3 / 4,
            g.height as usize * 3 / 4,
        );
        paint(&mut f, rect, |x, y, p, c| {
            (30 + (x * 3 + y * 5 + p * 40 + c * 9) % 150) as u8
        });
    }
    if cursor {
        paint(
            &mut f,
            (36, 44, 40, 60),
            |_, _, p, _| if p == 0 { 0 } else { 128 },
        );
    }
    f
}

fn cached(cache_tiles: u32) -> EncoderConfig {
    EncoderConfig {
        cache_tiles,
        ..config(TileMode::Lossless)
    }
}

fn assert_holds(dec: &DeltaDecoder, frame: &TestFrame, what: &str) {
    let canvas = dec.canvas().unwrap();
    for (p, plane) in frame.planes.iter().enumerate() {
        assert!(
            canvas.plane(p) == plane.as_slice(),
            "{what}: plane {p} differs"
        );
    }
}

#[test]
fn a_blinking_cursor_costs_a_recall_after_the_first_two_frames() {
    for format in [PixelFormat::Bgrx, PixelFormat::I420] {
        let g = Geometry::new(format, 256, 128, 32).unwrap();
        let mut enc = DeltaEncoder::new(g, cached(256));
        let mut dec = DeltaDecoder::new();
        dec.set_cache_tiles(enc.cache_tiles());
        for t in 0..12 {
            let frame = desktop(g, 0, false, t % 2 == 0);
            let out = enc.encode(&frame.view(), false);
            let report = dec.decode(&out.data, at(t as u64));
            assert!(report.error.is_none(), "{format:?} frame {t}: {report:?}");
            assert_holds(&dec, &frame, &format!("{format:?} frame {t}"));
            if t >= 2 {
                // one 16-byte record for the one changed tile
                assert_eq!(out.tiles_sent, 1, "{format:?} frame {t}");
                assert_eq!(
                    out.data.len(),
                    bitstream::FRAME_HEADER_LEN + 16,
                    "{format:?} frame {t}"
                );
            }
        }
        assert_eq!(enc.stats().tiles_recalled, 10, "{format:?}");
        assert_eq!(dec.stats().tiles_recalled, 10, "{format:?}");
        assert_eq!(dec.stats().recall_misses, 0);
        assert_eq!((dec.missing_tiles(), dec.stale_tiles()), (0, 0));
    }
}

#[test]
fn tiles_revealed_by_a_closed_window_are_recalled() {
    let g = Geometry::new(PixelFormat::Bgrx, 320, 192, 32).unwrap();
    let mut enc = DeltaEncoder::new(g, cached(256));
    let mut dec = DeltaDecoder::new();
    dec.set_cache_tiles(enc.cache_tiles());
    let mut sizes = Vec::new();
    let mut changed = Vec::new();
    for (t, window) in [false, true, false].into_iter().enumerate() {
        let frame = desktop(g, 0, window, false);
        let out = enc.encode(&frame.view(), false);
        let report = dec.decode(&out.data, at(t as u64));
        assert!(report.error.is_none(), "frame {t}: {report:?}");
        assert_holds(&dec, &frame, &format!("frame {t}"));
        sizes.push(out.data.len());
        changed.push(out.tiles_changed);
    }
    // every tile the window covered comes back by recall, 16 bytes each
    assert!(changed[2] >= 12, "{changed:?}");
    assert_eq!(enc.stats().tiles_recalled, changed[2] as u64);
    assert_eq!(
        sizes[2],
        bitstream::FRAME_HEADER_LEN + 16 * changed[2] as usize
    );
    assert!(sizes[2] * 10 < sizes[1], "{sizes:?}");
}

#[test]
fn the_cache_holds_at_most_its_size_and_evicts_the_oldest() {
    let g = Geometry::new(PixelFormat::Bgrx, 128, 64, 32).unwrap();
    let mut enc = DeltaEncoder::new(g, cached(4));
    let mut dec = DeltaDecoder::new();
    dec.set_cache_tiles(4);
    // a smaller cache than the stream's: its recalls may miss, never harm
    let mut small = DeltaDecoder::new();
    small.set_cache_tiles(2);
    // tile 0 shows glyph k in frame k, then glyph 0 (evicted) and 3 (held)
    let glyphs = [0usize, 1, 2, 3, 4, 5, 0, 3];
    let mut recalled = Vec::new();
    for (t, &k) in glyphs.iter().enumerate() {
        let mut frame = desktop(g, 0, false, false);
        paint(&mut frame, (0, 0, 32, 32), |x, y, _, c| {
            ((x * (k + 2) + y * 3 + c) % 251) as u8
        });
        let before = enc.stats().tiles_recalled;
        let out = enc.encode(&frame.view(), false);
        recalled.push(enc.stats().tiles_recalled - before);
        assert!(dec.decode(&out.data, at(t as u64)).error.is_none());
        assert_holds(&dec, &frame, &format!("frame {t}"));
        small.decode(&out.data, at(t as u64));
        assert!(enc.cache().len() <= 4 && dec.cache().len() <= 4 && small.cache().len() <= 2);
    }
    assert_eq!(recalled, [0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(dec.stats().recall_misses, 0);
    // glyph 3 had left the smaller cache: the tile kept glyph 0, marked stale
    assert_eq!(small.stats().recall_misses, 1);
    assert_eq!(small.stale_tiles(), 1);
}

#[test]
fn a_recall_missed_after_a_loss_marks_the_tile_stale_until_refresh() {
    let g = Geometry::new(PixelFormat::Bgrx, 256, 128, 32).unwrap();
    let period = 8;
    let mut cfg = cached(256);
    cfg.intra_refresh = period;
    let mut enc = DeltaEncoder::new(g, cfg);
    let mut dec = DeltaDecoder::new();
    dec.set_cache_tiles(enc.cache_tiles());
    let mut last = None;
    for t in 0..40u64 {
        let frame = desktop(g, 0, false, t % 2 == 0);
        let out = enc.encode(&frame.view(), false);
        if t == 1 {
            // lost: the decoder never saw the cursor go away
            dec.note_loss();
        } else {
            let report = dec.decode(&out.data, at(t));
            assert!(report.records_dropped == 0, "frame {t}: {report:?}");
        }
        if t == 3 {
            assert!(dec.stats().recall_misses >= 1);
            assert!(dec.stale_tiles() > 0);
        }
        last = Some(frame);
    }
    assert!(enc.stats().tiles_recalled > 20, "{:?}", enc.stats());
    // healed by refresh: exact, nothing stale, recalls hit again
    assert_holds(&dec, &last.unwrap(), "after refresh");
    assert_eq!((dec.missing_tiles(), dec.stale_tiles()), (0, 0));
    let misses = dec.stats().recall_misses;
    for t in 40..44u64 {
        let out = enc.encode(&desktop(g, 0, false, t % 2 == 0).view(), false);
        dec.decode(&out.data, at(t));
    }
    assert_eq!(dec.stats().recall_misses, misses);
}

#[test]
fn recall_and_remember_records_are_checked_like_any_other() {
    let g = Geometry::new(PixelFormat::Bgrx, 64, 64, 32).unwrap();
    let mut dec = DeltaDecoder::new();
    dec.set_cache_tiles(16);
    let header = FrameHeader {
        geometry: g,
        keyframe: true,
        frame_number: 0,
    };
    let mut w = bitstream::FrameWriter::new(&header, 256);
    w.begin_record(0, TileCoding::Fill, 0)
        .extend_from_slice(&[1, 2, 3, 4]);
    w.finish_record().unwrap();
    // a recall with a short hash, and one of an unknown hash
    w.begin_record(1, TileCoding::Recall, 0)
        .extend_from_slice(&[0; 7]);
    w.finish_record().unwrap();
    w.begin_record(2, TileCoding::Recall, 0)
        .extend_from_slice(&[9; 8]);
    w.finish_record().unwrap();
    // remember records: a tile outside the grid, an unknown inner coding,
    // a rank past this decoder's cache (skipped), a rank twice
    w.begin_record(0, TileCoding::Remember, 0)
        .extend_from_slice(&[0, 0, 9, 1]);
    w.finish_record().unwrap();
    w.begin_record(1, TileCoding::Remember, 2)
        .extend_from_slice(&[0, 0, 0, 1]);
    w.finish_record().unwrap();
    w.begin_record(100, TileCoding::Remember, 0)
        .extend_from_slice(&[0, 0, 0]);
    w.finish_record().unwrap();
    let report = dec.decode(&w.into_bytes(), at(0));
    assert_eq!(report.tiles_applied, 1);
    assert_eq!(report.recall_misses, 1);
    assert_eq!(report.records_dropped, 3, "{report:?}");
    assert!(dec.cache().is_empty());
    // a rank at or past the bound does not parse
    let rec = [0, 0x04, 0x00, 7, 0, 0, 0, 0];
    assert!(matches!(
        bitstream::parse_record(&rec, &g),
        Err(BitstreamError::RankOutOfRange { rank: 1024, .. })
    ));
}
