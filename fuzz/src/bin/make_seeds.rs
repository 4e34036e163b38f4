// SPDX-License-Identifier: MPL-2.0
//! Writes the seed corpus: real inputs for each fuzz target, made by the
//! codec itself (delta frames, RTP payloads, assembler scripts, MoQ objects,
//! catalogs and snapshots), by the stamp writer (stamped planes), and from
//! H.264/H.265 access units that
//! `scripts/fuzz.sh seeds` has x264enc and x265enc write with gst-launch-1.0.
//!
//! Usage: make_seeds CORPUS_DIR [H264_AU_DIR [H265_AU_DIR]]
//! (each AU directory holds one Annex B access unit per file, in name order).

use gststreamkit::delta::{
    DeltaDecoder, DeltaEncoder, EncoderConfig, FrameView, Geometry, PixelFormat, TileMode,
};
use gststreamkit::measure::stampcode::{PlaneMut, Stamp, StampLayout};
use gststreamkit::moq::catalog::{Catalog, Codec, CATALOG_VERSION};
use gststreamkit::moq::object::{write_object, ObjectHeader};
use gststreamkit::moq::snapshot::SnapshotMaker;
use gststreamkit::moq::{FRAMES_TRACK, SNAPSHOT_TRACK};
use gststreamkit::rtp::{packetize, PacketMeta, PayloadHeader, PayloadKind};
use std::path::{Path, PathBuf};
use std::time::Duration;
use streamkit_fuzz::{
    write_assembler_step, write_cutter_unit, write_moq_piece, AssemblerStep, CutterSettings,
    CutterUnit, MoqSettings, StampInput, CUTTER_DURATION, CUTTER_FIXED_RATE, CUTTER_H265,
    STAMP_RAW_SAMPLES, UNIT_HAS_DURATION, UNIT_KEYFRAME, UNIT_TIMED,
};

type Error = Box<dyn std::error::Error>;

/// A test picture: a gradient with a box that moves with `n`, so deltas
/// change a few tiles only; with `scroll`, the gradient moves up 4 rows a
/// frame under a still box, so deltas are moves and move residuals.
fn picture(g: &Geometry, n: u32, scroll: bool) -> Vec<Vec<u8>> {
    let (bx, by) = if scroll {
        (4, 3)
    } else {
        (4 + 6 * n, 3 + 2 * n)
    };
    let scrolled = if scroll { 4 * n } else { 0 };
    (0..g.format.plane_count())
        .map(|p| {
            let (w, h) = g.plane_size(p);
            let bpp = g.format.bytes_per_pixel(p);
            let (sx, sy) = g.format.subsampling(p);
            let mut data = vec![0u8; w * h * bpp];
            for y in 0..h {
                for x in 0..w {
                    let (fx, fy) = ((x << sx) as u32, (y << sy) as u32);
                    let in_box = (bx..bx + 12).contains(&fx) && (by..by + 10).contains(&fy);
                    for c in 0..bpp {
                        let v = if in_box {
                            200 - 40 * c as u32
                        } else {
                            let doc_y = fy + scrolled;
                            (fx * 3 + doc_y * 2 + (doc_y / 7) * 13 + 50 * (c as u32 + p as u32))
                                % 256
                        };
                        data[(y * w + x) * bpp + c] = v as u8;
                    }
                }
            }
            data
        })
        .collect()
}

/// Encodes `frames` pictures of a moving box at `g`.
fn encode_sequence(g: Geometry, mode: TileMode, frames: u32, scroll: bool) -> Vec<Vec<u8>> {
    encode_pictures(g, mode, 0, 0..frames, scroll)
}

/// Encodes `frames` pictures whose box blinks between two places, with a
/// cache of 8 tiles: from the third frame on, recalls.
fn encode_blinking(g: Geometry, frames: u32) -> Vec<Vec<u8>> {
    encode_pictures(g, TileMode::Lossless, 8, (0..frames).map(|n| n % 2), false)
}

/// Encodes the pictures numbered `numbers` (see `picture`) with a cache of
/// `cache_tiles`.
fn encode_pictures(
    g: Geometry,
    mode: TileMode,
    cache_tiles: u32,
    numbers: impl Iterator<Item = u32>,
    scroll: bool,
) -> Vec<Vec<u8>> {
    let config = EncoderConfig {
        mode,
        cache_tiles,
        ..EncoderConfig::LOSSLESS
    };
    let mut encoder = DeltaEncoder::new(g, config);
    numbers
        .map(|n| {
            let planes = picture(&g, n, scroll);
            let view = FrameView::tight(&g, &planes).expect("planes sized from the geometry");
            encoder.encode(&view, false).data
        })
        .collect()
}

struct Corpus {
    root: PathBuf,
}

impl Corpus {
    fn write(&self, target: &str, name: &str, data: &[u8]) -> Result<(), Error> {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), data)?;
        Ok(())
    }
}

fn delta_seeds(corpus: &Corpus) -> Result<(), Error> {
    let sequences = [
        (
            "bgrx64x48-lossless",
            Geometry::new(PixelFormat::Bgrx, 64, 48, 16)?,
            TileMode::Lossless,
        ),
        (
            "i420-80x48-lossy",
            Geometry::new(PixelFormat::I420, 80, 48, 32)?,
            TileMode::Lossy { quality: 60 },
        ),
        (
            "bgrx100x40-partial-tiles",
            Geometry::new(PixelFormat::Bgrx, 100, 40, 32)?,
            TileMode::Lossy { quality: 90 },
        ),
        (
            "bgrx96x64-scroll",
            Geometry::new(PixelFormat::Bgrx, 96, 64, 16)?,
            TileMode::Lossless,
        ),
        (
            "i420-96x64-scroll",
            Geometry::new(PixelFormat::I420, 96, 64, 16)?,
            TileMode::Lossless,
        ),
        // NV12 at an odd size (chroma rounded up, interleaved pairs), moving
        (
            "nv12-95x63-scroll",
            Geometry::new(PixelFormat::Nv12, 95, 63, 16)?,
            TileMode::Lossless,
        ),
        // RGBA lossy: the picture's alpha varies, so records carry packed alpha
        (
            "rgba-80x48-lossy",
            Geometry::new(PixelFormat::Rgba, 80, 48, 32)?,
            TileMode::Lossy { quality: 60 },
        ),
    ];
    // A box that blinks between two places, with a cache: recalls, then a
    // snapshot (remember records) and the stream going on after it.
    {
        let g = Geometry::new(PixelFormat::Bgrx, 64, 48, 16)?;
        let frames = encode_blinking(g, 6);
        for (n, f) in frames.iter().enumerate() {
            corpus.write("delta_frame", &format!("bgrx64x48-blink-{n}"), f)?;
        }
        let mut decoder = DeltaDecoder::new();
        decoder.set_cache_tiles(8);
        for f in &frames[..4] {
            decoder.decode(f, std::time::Duration::ZERO);
        }
        let snapshot = decoder.snapshot().ok_or("no canvas")?;
        corpus.write("delta_frame", "bgrx64x48-blink-snapshot", &snapshot)?;
        let stream = [frames.concat(), snapshot, frames[4..].concat()].concat();
        corpus.write("delta_decoder", "bgrx64x48-blink", &stream)?;
    }
    for (name, g, mode) in sequences {
        let scroll = name.ends_with("scroll");
        let frames = encode_sequence(g, mode, 3, scroll);
        for (n, f) in frames.iter().enumerate() {
            corpus.write("delta_frame", &format!("{name}-{n}"), f)?;
        }
        corpus.write("delta_decoder", name, &frames.concat())?;

        // Payloads at a budget that packs records, and one that fragments.
        for budget in [1200, 120] {
            let mut script = Vec::new();
            let mut seq = 100u16;
            for (n, f) in frames.iter().enumerate() {
                let payloads = packetize(f, budget)?;
                let last = payloads.len() - 1;
                for (i, p) in payloads.iter().enumerate() {
                    let kind = PayloadHeader::parse(p)?.kind;
                    // A few payloads of each kind are enough.
                    if i < 2 || (kind == PayloadKind::Fragment && i == last) {
                        let kind = if kind == PayloadKind::Fragment {
                            "frag"
                        } else {
                            "records"
                        };
                        corpus.write(
                            "rtp_payload",
                            &format!("{name}-{budget}-{n}-{i}-{kind}"),
                            p,
                        )?;
                    }
                    let meta = PacketMeta {
                        timestamp: 3000 * n as u32,
                        seqnum: seq,
                        marker: i == last,
                    };
                    seq = seq.wrapping_add(1);
                    write_assembler_step(&mut script, &AssemblerStep::Push(meta, p));
                }
            }
            write_assembler_step(&mut script, &AssemblerStep::Drain);
            corpus.write(
                "rtp_assembler",
                &format!("{name}-{budget}-in-order"),
                &script,
            )?;
        }

        // Reordered, duplicated and lost packets, then a loss report.
        let mut pushes = Vec::new();
        let mut seq = 7u16;
        for (n, f) in frames.iter().enumerate() {
            let payloads = packetize(f, 120)?;
            let last = payloads.len() - 1;
            for (i, p) in payloads.into_iter().enumerate() {
                let meta = PacketMeta {
                    timestamp: 90_000 + 3000 * n as u32,
                    seqnum: seq,
                    marker: i == last,
                };
                seq = seq.wrapping_add(1);
                pushes.push((meta, p));
            }
        }
        if pushes.len() > 4 {
            pushes.swap(1, 3);
            let dup = pushes[2].clone();
            pushes.insert(5, dup);
            pushes.remove(pushes.len() / 2);
        }
        let mut script = Vec::new();
        for (i, (meta, p)) in pushes.iter().enumerate() {
            if i == pushes.len() / 2 {
                write_assembler_step(&mut script, &AssemblerStep::NoteLoss);
            }
            write_assembler_step(&mut script, &AssemblerStep::Push(*meta, p));
        }
        write_assembler_step(&mut script, &AssemblerStep::Drain);
        corpus.write("rtp_assembler", &format!("{name}-reordered-lossy"), &script)?;
    }
    Ok(())
}

fn stamp_seeds(corpus: &Corpus) -> Result<(), Error> {
    // (name, width, height, pixel stride, block, x, y, raw samples)
    let planes = [
        (
            "gray72x40-block4",
            72u32,
            40u32,
            1usize,
            4u32,
            4u32,
            4u32,
            true,
        ),
        ("bgrx140x76-block8", 140, 76, 4, 8, 6, 5, true),
        ("gray80x40-repeated", 80, 40, 1, 4, 8, 2, false),
    ];
    for (i, (name, width, height, ps, block, x, y, raw)) in planes.into_iter().enumerate() {
        let stride = width as usize * ps;
        let mut data: Vec<u8> = (0..stride * height as usize)
            .map(|j| ((j * 7 + j / stride * 3) % 64 + 96) as u8)
            .collect();
        let layout = StampLayout::new(x, y, block)?;
        let stamp = Stamp {
            frame: 1000 + i as u32,
            capture_time_ns: 1_234_567_890_123 * (i as u64 + 1),
        };
        PlaneMut {
            data: &mut data,
            stride,
            pixel_stride: ps,
            components: &[0, 1, 2][..ps.min(3)],
            width,
            height,
        }
        .draw_stamp(&layout, &stamp, 235, 16)?;
        // Noise, as a lossy coder would leave it.
        for (j, s) in data.iter_mut().enumerate() {
            *s = s.saturating_add((j * 31 % 9) as u8).saturating_sub(4);
        }
        if !raw {
            // Repeated samples: one row is enough to seed the layout.
            data.truncate(stride);
        }
        let input = StampInput {
            width: (width - 1) as u16,
            height: (height - 1) as u16,
            flags: (ps - 1) as u8 | if raw { STAMP_RAW_SAMPLES } else { 0 },
            row_padding: 0,
            x: x as u16,
            y: y as u16,
            block_step: (block - gststreamkit::gstcommon::stampframe::MIN_BLOCK_SIZE) as u8,
            frame: stamp.frame + 1,
            capture_time_ns: stamp.capture_time_ns + 33_333_333,
            white: 200,
            black: 40,
        };
        let mut out = Vec::new();
        input.write(&mut out);
        out.extend_from_slice(&data);
        corpus.write("stamp_reader", name, &out)?;
    }
    Ok(())
}

/// A `moq_object` input: the settings, then the pieces.
fn moq_input(settings: MoqSettings, pieces: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    settings.write(&mut out);
    for piece in pieces {
        write_moq_piece(&mut out, piece);
    }
    out
}

/// What a joining subscriber reads, as `moqsink` publishes it: the
/// catalog, the latest snapshot (made by the origin's `SnapshotMaker`) and
/// the frames since, each frame and snapshot an object; and an H.264
/// broadcast's catalog and access units.
fn moq_seeds(corpus: &Corpus) -> Result<(), Error> {
    const CACHE_TILES: u32 = 8;
    let frame_time = Duration::from_nanos(33_333_333);
    let settings = MoqSettings {
        max_payload: u16::MAX,
        cache_tiles: 0,
    };
    let g = Geometry::new(PixelFormat::Bgrx, 64, 48, 16)?;
    let delta_catalog = Catalog {
        version: CATALOG_VERSION,
        codec: Codec::Delta,
        caps: "video/x-streamkit-delta, format=(string)BGRx, width=(int)64, height=(int)48, \
               tile-size=(int)16, cache-tiles=(int)8, framerate=(fraction)30/1"
            .into(),
        width: g.width,
        height: g.height,
        frames_track: FRAMES_TRACK.into(),
        snapshot_track: Some(SNAPSHOT_TRACK.into()),
        snapshot_interval_ms: Some(1000),
        tile_size: Some(g.tile_size),
        cache_tiles: Some(CACHE_TILES),
    };
    let object = |n: usize, sync: bool, payload: &[u8]| {
        write_object(
            &ObjectHeader {
                pts: Some(frame_time * n as u32),
                sync,
                discont: false,
            },
            payload,
        )
    };

    // A box blinking between two places, with a cache: the frames after
    // the snapshot recall tiles it carries.
    let frames = encode_blinking(g, 8);
    let mut maker = SnapshotMaker::new(
        Duration::from_secs(1),
        CACHE_TILES,
        gststreamkit::delta::DecoderLimits::default(),
    );
    let mut snapshot = None;
    for (n, f) in frames[..4].iter().enumerate() {
        // A second apart, so every frame makes one; the last is kept.
        if let Some(s) = maker.follow(f, Duration::from_secs(n as u64), false) {
            snapshot = Some(s);
        }
    }
    let snapshot = snapshot.ok_or("no snapshot")?;
    let mut pieces = vec![delta_catalog.to_bytes(), object(3, true, &snapshot)];
    for (n, f) in frames.iter().enumerate().skip(4) {
        pieces.push(object(n, false, f));
    }
    // The last frame after a loss at the origin, with no time.
    if let Some(last) = pieces.last_mut() {
        *last = write_object(
            &ObjectHeader {
                pts: None,
                sync: false,
                discont: true,
            },
            &frames[7],
        );
    }
    corpus.write("moq_object", "delta-join", &moq_input(settings, &pieces))?;

    // One object alone: a keyframe, which is also a snapshot without cache.
    let keyframe = &encode_sequence(g, TileMode::Lossless, 1, false)[0];
    corpus.write(
        "moq_object",
        "delta-keyframe-object",
        &moq_input(settings, &[object(0, true, keyframe)]),
    )?;
    // A lossy I420 stream, the snapshot being its first (key) frame.
    let lossy = encode_sequence(
        Geometry::new(PixelFormat::I420, 80, 48, 32)?,
        TileMode::Lossy { quality: 60 },
        3,
        false,
    );
    let pieces: Vec<Vec<u8>> = lossy
        .iter()
        .enumerate()
        .map(|(n, f)| object(n, n == 0, f))
        .collect();
    corpus.write(
        "moq_object",
        "i420-lossy-objects",
        &moq_input(settings, &pieces),
    )?;

    // H.264: the catalog, then an IDR access unit (delimiter, SPS, PPS,
    // slice) and a P access unit, Annex B, as h264parse gives them.
    let h264_catalog = Catalog {
        version: CATALOG_VERSION,
        codec: Codec::H264,
        caps: "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au, \
               width=(int)64, height=(int)48, framerate=(fraction)30/1"
            .into(),
        width: 64,
        height: 48,
        frames_track: FRAMES_TRACK.into(),
        snapshot_track: None,
        snapshot_interval_ms: None,
        tile_size: None,
        cache_tiles: None,
    };
    let nal = |header: u8, body: &[u8]| [&[0, 0, 0, 1, header][..], body].concat();
    let idr = [
        nal(0x09, &[0xf0]),
        nal(
            0x67,
            &[0x42, 0xc0, 0x0a, 0xda, 0x10, 0x5f, 0x90, 0x78, 0x40],
        ),
        nal(0x68, &[0xce, 0x3c, 0x80]),
        nal(
            0x65,
            &[0x88, 0x84, 0x0c, 0xf1, 0x18, 0xa0, 0x00, 0x20, 0x3b],
        ),
    ]
    .concat();
    let p = [
        nal(0x09, &[0x30]),
        nal(0x41, &[0x9a, 0x22, 0x4c, 0x21, 0x7f]),
    ]
    .concat();
    corpus.write(
        "moq_object",
        "h264-objects",
        &moq_input(
            settings,
            &[
                h264_catalog.to_bytes(),
                object(0, true, &idr),
                object(1, false, &p),
            ],
        ),
    )?;
    Ok(())
}

fn is_keyframe(h265: bool, au: &[u8]) -> bool {
    gststreamkit::segment::paramsets::nal_units(au)
        .into_iter()
        .any(|r| {
            let header = au[r.start];
            if h265 {
                (16..=21).contains(&((header >> 1) & 0x3f))
            } else {
                header & 0x1f == 5
            }
        })
}

fn cutter_seeds(corpus: &Corpus, dir: &Path, h265: bool, name: &str) -> Result<(), Error> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let aus: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let codec = if h265 { CUTTER_H265 } else { 0 };
    let configs = [
        (
            "frames5",
            CutterSettings {
                flags: codec | CUTTER_FIXED_RATE,
                length: 5,
                frame_ms: 33,
                wait_100ms: 20,
                delay_ms: 0,
            },
        ),
        (
            "duration200ms-untimed-rate",
            CutterSettings {
                flags: codec | CUTTER_DURATION,
                length: 200,
                frame_ms: 0,
                wait_100ms: 0,
                delay_ms: 100,
            },
        ),
    ];
    for (config_name, settings) in configs {
        let mut out = Vec::new();
        settings.write(&mut out);
        for au in &aus {
            let key = if is_keyframe(h265, au) {
                UNIT_KEYFRAME
            } else {
                0
            };
            let unit = CutterUnit {
                flags: key | UNIT_TIMED | UNIT_HAS_DURATION,
                step_ms: 33,
                data: au,
            };
            write_cutter_unit(&mut out, &unit);
        }
        corpus.write("segment_cutter", &format!("{name}-{config_name}"), &out)?;
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(root) = args.first() else {
        return Err("usage: make_seeds CORPUS_DIR [H264_AU_DIR [H265_AU_DIR]]".into());
    };
    let corpus = Corpus {
        root: PathBuf::from(root),
    };
    delta_seeds(&corpus)?;
    stamp_seeds(&corpus)?;
    moq_seeds(&corpus)?;
    if let Some(dir) = args.get(1) {
        cutter_seeds(&corpus, Path::new(dir), false, "x264")?;
    }
    if let Some(dir) = args.get(2) {
        cutter_seeds(&corpus, Path::new(dir), true, "x265")?;
    }
    Ok(())
}
