//! Encoder and decoder together, on synthetic pictures.

use super::*;

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
                vec![0u8; w * h * geometry.format.bytes_per_pixel()]
            })
            .collect();
        TestFrame { geometry, planes }
    }

    /// Fills with a moving pattern: gradient plus a square at `t`.
    fn draw(&mut self, t: usize) {
        let g = self.geometry;
        let bpp = g.format.bytes_per_pixel();
        for (p, plane) in self.planes.iter_mut().enumerate() {
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
        let bpp = g.format.bytes_per_pixel();
        FrameView::new(
            &g,
            self.planes
                .iter()
                .enumerate()
                .map(|(p, d)| (d.as_slice(), g.plane_size(p).0 * bpp))
                .collect(),
        )
        .unwrap()
    }
}

fn config(mode: TileMode) -> EncoderConfig {
    EncoderConfig {
        mode,
        threshold: 0,
        intra_refresh: 0,
        key_int_max: 0,
        parallel: true,
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
            let report = dec.decode(&out.data);
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
            late.decode(&out.data);
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
        dec.decode(&out.data);
        // decoder and encoder reference agree exactly
        for p in 0..3 {
            assert_eq!(dec.canvas().unwrap().plane(p), enc.reference().plane(p));
        }
        let mse: f64 = dec
            .canvas()
            .unwrap()
            .plane(0)
            .iter()
            .zip(&frame.planes[0])
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum::<f64>()
            / frame.planes[0].len() as f64;
        let psnr = 10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10();
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
    let report = dec.decode(&subset);
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
        let mut changes = 0;
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
            let before = dec.canvas().map(|c| *c.geometry());
            let report = dec.decode(&bytes);
            let after = dec.canvas().map(|c| *c.geometry());
            // The report says exactly when the canvas was replaced...
            assert_eq!(report.geometry_changed, before != after, "iteration {i}");
            if before != after {
                changes += 1;
                // ...and only a frame that parsed, announced that geometry
                // and is a keyframe may replace it.
                let header = report.header.expect("a change comes from a header");
                assert_eq!(Some(header.geometry), after, "iteration {i}");
                assert!(
                    header.keyframe || before.is_none(),
                    "iteration {i}: a delta frame replaced {before:?} by {after:?}"
                );
            }
        }
        assert!(changes > 0, "the mutations did reach the geometry");
        // and a valid frame still decodes exactly afterwards (lossless)
        let report = dec.decode(&valid);
        assert!(report.error.is_none());
        if mode == TileMode::Lossless {
            assert_eq!(dec.canvas().unwrap().plane(0), frame.planes[0].as_slice());
        }
    }
}

#[test]
fn only_a_keyframe_may_change_the_geometry() {
    let small = Geometry::new(PixelFormat::I420, 64, 64, 32).unwrap();
    let large = Geometry::new(PixelFormat::I420, 128, 64, 32).unwrap();
    let mut dec = DeltaDecoder::new();
    let mut frame = TestFrame::new(small);
    frame.draw(0);
    dec.decode(
        &DeltaEncoder::new(small, config(TileMode::Lossless))
            .encode(&frame.view(), false)
            .data,
    );
    let mut big_frame = TestFrame::new(large);
    big_frame.draw(0);
    let mut enc = DeltaEncoder::new(large, config(TileMode::Lossless));
    let key = enc.encode(&big_frame.view(), false);
    big_frame.draw(1);
    let delta = enc.encode(&big_frame.view(), false);
    let report = dec.decode(&delta.data);
    assert!(matches!(
        report.error,
        Some(BitstreamError::GeometryChangeWithoutKeyframe { .. })
    ));
    assert_eq!(*dec.canvas().unwrap().geometry(), small);
    assert!(dec.decode(&key.data).geometry_changed);
    assert_eq!(*dec.canvas().unwrap().geometry(), large);
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
    let report = dec.decode(&frame_repeating_one_tile(g, 0, 1000));
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
    let report = dec.decode(&frame_repeating_one_tile(g, 0, 1));
    assert_eq!((report.tiles_applied, report.records_dropped), (1, 0));
}
