// SPDX-License-Identifier: MPL-2.0
//! The codec core alone on raw frames: bytes, encode time and a decoder
//! check per frame, without GStreamer. For tuning the encoder on the
//! screen recordings; the benchmark of record is `scripts/bench.sh`.
//!
//!   ffmpeg -i recordings/terminal.mkv -f rawvideo -pix_fmt bgr0 /tmp/t.bgrx
//!   cargo run --release --example codec-probe -- /tmp/t.bgrx 1280 720 [refresh [cache-tiles]]
//!   cargo run --release --example codec-probe -- /tmp/t.bgrx 1280 720 --entropy
//!
//! `--entropy` compares entropy stages on what a lossless record
//! compresses (every tile's left-prediction residuals, every 10th frame):
//! LZ4 (bitstream v1) against zstd at several levels.
//!
//!   ffmpeg -i clip.mkv -f rawvideo -pix_fmt yuv420p /tmp/c.i420
//!   cargo run --release --example codec-probe -- /tmp/c.i420 1280 720 --lossy i420 50 75 90
//!
//! `--lossy FORMAT Q...` codes every frame of a raw BGRx (`bgrx`) or I420
//! (`i420`) file as a keyframe of lossy tiles at each quality and prints
//! bytes per frame, PSNR (over B, G, R or Y, U, V samples) and the thread
//! CPU time to encode and to decode a frame: the lossy tile coding alone,
//! for tuning.
//!
//! `--train FORMAT:FILE:W:H...` measures the initial probabilities of the
//! lossy models (the tables in src/delta/coefficients.rs and the appendix
//! of docs/bitstream.md). They were made from the photograph `hdr_room.png`
//! of Debian's libjxl-testdata, which no benchmark clip uses, as noisy
//! frames at its size and at 1.5x, in both formats, iterated twice (each
//! run starts from the tables of the one before):
//!
//!   R=/usr/share/libjxl-testdata/jxl/hdr_room.png
//!   ffmpeg -loop 1 -i $R -vf format=rgb24,noise=alls=4:allf=t -frames:v 3 -f rawvideo -pix_fmt bgr0 ra.bgrx
//!   ffmpeg -loop 1 -i $R -vf format=rgb24,noise=alls=4:allf=t -frames:v 3 -f rawvideo -pix_fmt yuv420p ra.i420
//!   ffmpeg -loop 1 -i $R -vf format=rgb24,scale=1014:674:flags=lanczos,noise=alls=3:allf=t -frames:v 2 -f rawvideo -pix_fmt bgr0 rb.bgrx
//!   ffmpeg -loop 1 -i $R -vf format=rgb24,scale=1014:674:flags=lanczos,noise=alls=3:allf=t -frames:v 2 -f rawvideo -pix_fmt yuv420p rb.i420
//!   codec-probe --train bgrx:ra.bgrx:676:449 i420:ra.i420:676:449 bgrx:rb.bgrx:1014:674 i420:rb.i420:1014:674

use std::time::{Duration, Instant};

use gststreamkit::delta::bitstream::parse_frame;
use gststreamkit::delta::entropy::Packer;
use gststreamkit::delta::samples::TileSamples;
use gststreamkit::delta::tile::predicted_residuals;
use gststreamkit::delta::{
    DeltaDecoder, DeltaEncoder, EncoderConfig, FrameView, Geometry, PixelFormat, TileCoding,
    TileMode,
};
use gststreamkit::measure::quality;

fn entropy(data: &[u8], g: &Geometry, frame_len: usize) -> Result<(), Box<dyn std::error::Error>> {
    let stride = g.width as usize * 4;
    let mut residuals: Vec<Vec<u8>> = Vec::new();
    let mut samples = TileSamples::default();
    for frame in data.chunks_exact(frame_len).step_by(10) {
        let view = FrameView::new(g, vec![(frame, stride)])?;
        for t in 0..g.tile_count() {
            samples.gather(g, &view, t);
            if samples.fill_values().is_some() {
                continue;
            }
            let mut r = Vec::new();
            predicted_residuals(&samples, &mut r);
            residuals.push(r);
        }
    }
    // Palette trial: tiles of at most 256 colours as a colour table plus
    // one index a pixel (raw, and left-predicted), compressed the same way.
    let mut pal_bytes = 0usize;
    let mut pal_pred_bytes = 0usize;
    let mut pal_lossless_bytes = 0usize;
    let mut pal_tiles = 0usize;
    // Bytes when the palette is used, without trying lossless, for tiles of
    // at most 16 / 64 / 256 colours.
    let mut by_rule = [0usize; 3];
    {
        let mut packer = Packer::new(3);
        let mut out = Vec::new();
        for frame in data.chunks_exact(frame_len).step_by(10) {
            let view = FrameView::new(g, vec![(frame, stride)])?;
            for t in 0..g.tile_count() {
                samples.gather(g, &view, t);
                if samples.fill_values().is_some() {
                    continue;
                }
                let n = samples.channels[0].len();
                let mut colours: Vec<u32> = Vec::new();
                let mut idx = Vec::with_capacity(n);
                let mut ok = true;
                for i in 0..n {
                    let c = u32::from_le_bytes([
                        samples.channels[0][i],
                        samples.channels[1][i],
                        samples.channels[2][i],
                        samples.channels[3][i],
                    ]);
                    let k = match colours.iter().position(|&x| x == c) {
                        Some(k) => k,
                        None => {
                            if colours.len() == 256 {
                                ok = false;
                                break;
                            }
                            colours.push(c);
                            colours.len() - 1
                        }
                    };
                    idx.push(k as u8);
                }
                let mut r = Vec::new();
                predicted_residuals(&samples, &mut r);
                out.clear();
                packer.pack(&r, &mut out);
                let lossless = out.len();
                if !ok {
                    for b in by_rule.iter_mut() {
                        *b += lossless;
                    }
                    pal_bytes += lossless;
                    pal_pred_bytes += lossless;
                    pal_lossless_bytes += lossless;
                    continue;
                }
                pal_tiles += 1;
                let table = colours.len() * 3 + 1;
                out.clear();
                packer.pack(&idx, &mut out);
                pal_bytes += (out.len() + table).min(lossless);
                for (b, k) in by_rule.iter_mut().zip([16, 64, 256]) {
                    *b += if colours.len() <= k {
                        out.len() + table
                    } else {
                        lossless
                    };
                }
                let w = samples.dims[0].0;
                let pred: Vec<u8> = idx
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        if i % w == 0 {
                            v
                        } else {
                            v.wrapping_sub(idx[i - 1])
                        }
                    })
                    .collect();
                out.clear();
                packer.pack(&pred, &mut out);
                pal_pred_bytes += (out.len() + table).min(lossless);
                pal_lossless_bytes += lossless;
            }
        }
    }
    println!(
        "palette trial: {pal_tiles} tiles of <=256 colours; lossless zstd-3 {pal_lossless_bytes}, \
         best of palette+zstd-3 and lossless {pal_bytes}, with left-predicted indices {pal_pred_bytes}"
    );
    println!("palette without trying lossless, up to 16/64/256 colours: {by_rule:?}");
    let raw: usize = residuals.iter().map(Vec::len).sum();
    println!("{} tiles, {} bytes of residuals", residuals.len(), raw);
    let mut out = Vec::new();
    let start = Instant::now();
    let mut lz4 = 0;
    for r in &residuals {
        out.resize(lz4_flex::block::get_maximum_output_size(r.len()), 0);
        lz4 += lz4_flex::block::compress_into(r, &mut out)?;
    }
    let t = start.elapsed();
    println!(
        "lz4       {:>9} bytes ({:.1}% of raw), {:.1} us/tile",
        lz4,
        100.0 * lz4 as f64 / raw as f64,
        t.as_secs_f64() * 1e6 / residuals.len() as f64
    );
    for level in [1, 3, 6, 9] {
        let mut packer = Packer::new(level);
        let start = Instant::now();
        let mut total = 0;
        for r in &residuals {
            out.clear();
            packer.pack(r, &mut out);
            total += out.len();
        }
        let t = start.elapsed();
        println!(
            "zstd -{level:<3} {:>9} bytes ({:.1}% of raw, {:.2}x lz4), {:.1} us/tile",
            total,
            100.0 * total as f64 / raw as f64,
            lz4 as f64 / total as f64,
            t.as_secs_f64() * 1e6 / residuals.len() as f64
        );
    }
    Ok(())
}

/// Every frame of `data` coded as a lossy keyframe at each quality.
fn lossy(
    data: &[u8],
    format: PixelFormat,
    w: u32,
    h: u32,
    qualities: &[u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let g = Geometry::new(format, w, h, 64)?;
    let (wu, hu) = (w as usize, h as usize);
    let (cw, ch) = (wu.div_ceil(2), hu.div_ceil(2));
    // only bgrx and i420 are parsed from the command line
    let frame_len = if format == PixelFormat::Bgrx {
        wu * hu * 4
    } else {
        wu * hu + 2 * cw * ch
    };
    println!("| quality | bytes/frame | PSNR dB | encode ms/frame | decode ms/frame |");
    println!("|---:|---:|---:|---:|---:|");
    for &quality in qualities {
        let mut enc = DeltaEncoder::new(
            g,
            EncoderConfig {
                mode: TileMode::Lossy { quality },
                key_int_max: 1,
                ..EncoderConfig::LOSSLESS
            },
        );
        let mut dec = DeltaDecoder::new();
        let (mut bytes, mut enc_time, mut dec_time, mut psnr, mut n) =
            (0usize, Duration::ZERO, Duration::ZERO, 0f64, 0usize);
        for (i, frame) in data.chunks_exact(frame_len).enumerate() {
            let planes = if format == PixelFormat::Bgrx {
                vec![(frame, wu * 4)]
            } else {
                let (y, uv) = frame.split_at(wu * hu);
                let (u, v) = uv.split_at(cw * ch);
                vec![(y, wu), (u, cw), (v, cw)]
            };
            let view = FrameView::new(&g, planes)?;
            let start = thread_cpu();
            let out = enc.encode(&view, false);
            enc_time += thread_cpu() - start;
            let start = thread_cpu();
            let report = dec.decode(&out.data, Duration::from_millis(33 * i as u64));
            dec_time += thread_cpu() - start;
            if report.records_dropped > 0 {
                return Err(format!("frame {i}: decoder dropped records ({report:?})").into());
            }
            let canvas = dec.canvas().ok_or("no canvas")?;
            let decoded: Vec<u8> = (0..g.format.plane_count())
                .flat_map(|p| canvas.plane(p).iter().copied())
                .collect();
            let samples = |data: &[u8]| -> Vec<u8> {
                data.iter()
                    .enumerate()
                    .filter(|(i, _)| format != PixelFormat::Bgrx || i % 4 != 3)
                    .map(|(_, &v)| v)
                    .collect()
            };
            psnr += quality::psnr(&samples(&decoded), &samples(frame))
                .ok_or("decoded frame of another size")?;
            bytes += out.data.len();
            n += 1;
        }
        let n_f = n.max(1) as f64;
        println!(
            "| {quality} | {:.0} | {:.2} | {:.2} | {:.2} |",
            bytes as f64 / n_f,
            psnr / n_f,
            enc_time.as_secs_f64() * 1e3 / n_f,
            dec_time.as_secs_f64() * 1e3 / n_f
        );
    }
    Ok(())
}

/// Measures initial probabilities for the lossy tile models: codes every
/// tile of every frame of the given raw files (`bgrx:FILE:W:H` or
/// `i420:FILE:W:H`) at a range of qualities, each tile with fresh models,
/// and averages each model's probability at the end of a tile, weighted by
/// how often the tile used it (at most 64 times, so that a few busy tiles do
/// not outweigh the rest). Prints the table for src/delta/coefficients.rs.
fn train(specs: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    use gststreamkit::delta::coefficients::{PlaneKind, PlaneModels, PLANE_MODELS};
    use gststreamkit::delta::lossy;
    let mut sums = [[(0f64, 0f64); PLANE_MODELS]; 2];
    for spec in specs {
        let parts: Vec<&str> = spec.split(':').collect();
        let [kind, path, w, h] = parts[..] else {
            return Err(format!("{spec}: expected FORMAT:FILE:WIDTH:HEIGHT").into());
        };
        let (w, h): (u32, u32) = (w.parse()?, h.parse()?);
        let format = match kind {
            "bgrx" => PixelFormat::Bgrx,
            "i420" => PixelFormat::I420,
            _ => return Err(format!("{spec}: format must be bgrx or i420").into()),
        };
        let data = std::fs::read(path)?;
        let g = Geometry::new(format, w, h, 64)?;
        let (wu, hu) = (w as usize, h as usize);
        let (cw, ch) = (wu.div_ceil(2), hu.div_ceil(2));
        let frame_len = if format == PixelFormat::Bgrx {
            wu * hu * 4
        } else {
            wu * hu + 2 * cw * ch
        };
        let mut samples = TileSamples::default();
        let mut out = Vec::new();
        for frame in data.chunks_exact(frame_len) {
            let planes = if format == PixelFormat::Bgrx {
                vec![(frame, wu * 4)]
            } else {
                let (y, uv) = frame.split_at(wu * hu);
                let (u, v) = uv.split_at(cw * ch);
                vec![(y, wu), (u, cw), (v, cw)]
            };
            let view = FrameView::new(&g, planes)?;
            for quality in [20u8, 35, 50, 65, 75, 85, 95] {
                for t in 0..g.tile_count() {
                    samples.gather(&g, &view, t);
                    let mut models = [
                        PlaneModels::new(PlaneKind::Luma),
                        PlaneModels::new(PlaneKind::Chroma),
                    ];
                    let fresh = models.clone();
                    out.clear();
                    lossy::encode_with_models(&mut samples, format, quality, &mut out, &mut models);
                    for k in 0..2 {
                        for (i, (m, f)) in
                            models[k].models().iter().zip(fresh[k].models()).enumerate()
                        {
                            let used = m.seen().saturating_sub(f.seen()).min(64) as f64;
                            sums[k][i].0 += used * m.p0() as f64;
                            sums[k][i].1 += used;
                        }
                    }
                }
            }
        }
    }
    for (k, name) in ["LUMA", "CHROMA"].iter().enumerate() {
        println!("const INITIAL_{name}: [u8; PLANE_MODELS] = [");
        let row: Vec<String> = sums[k]
            .iter()
            .map(|&(s, n)| {
                // 8 bits of probability; an unused model starts at one half
                let p = if n > 0.0 { s / n / 128.0 } else { 128.0 };
                format!("{}", (p.round() as i64).clamp(1, 255))
            })
            .collect();
        for chunk in row.chunks(20) {
            println!("    {},", chunk.join(", "));
        }
        println!("];");
    }
    Ok(())
}

/// CPU time this thread has used: steadier than wall time on a shared
/// machine.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--train") {
        return train(&args[2..]);
    }
    if args.len() < 4 {
        return Err("usage: codec-probe FILE WIDTH HEIGHT \
             [INTRA_REFRESH | --entropy | --lossy bgrx|i420 QUALITY...]"
            .into());
    }
    let data = std::fs::read(&args[1])?;
    let (w, h): (u32, u32) = (args[2].parse()?, args[3].parse()?);
    if args.get(4).map(String::as_str) == Some("--lossy") {
        let format = match args.get(5).map(String::as_str) {
            Some("bgrx") => PixelFormat::Bgrx,
            Some("i420") => PixelFormat::I420,
            _ => return Err("--lossy needs a format: bgrx or i420".into()),
        };
        let qualities = args[6..]
            .iter()
            .map(|q| q.parse())
            .collect::<Result<Vec<u8>, _>>()?;
        return lossy(&data, format, w, h, &qualities);
    }
    let g = Geometry::new(PixelFormat::Bgrx, w, h, 64)?;
    let frame_len = (w * h * 4) as usize;
    if args.get(4).map(String::as_str) == Some("--entropy") {
        return entropy(&data, &g, frame_len);
    }
    let refresh: u32 = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(30);
    let cache_tiles: u32 = args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let mut enc = DeltaEncoder::new(
        g,
        EncoderConfig {
            intra_refresh: refresh,
            cache_tiles,
            ..EncoderConfig::LOSSLESS
        },
    );
    let mut dec = DeltaDecoder::new();
    dec.set_cache_tiles(enc.cache_tiles());
    // For profiling the encoder alone: no decoder, no check.
    let check_off = std::env::var_os("CODEC_PROBE_NO_CHECK").is_some();
    let (mut bytes, mut time, mut n) = (0usize, Duration::ZERO, 0usize);
    // Bytes and records by coding, after the first frame (headers included).
    let mut by_coding: Vec<(TileCoding, usize, usize)> = Vec::new();
    for (i, frame) in data.chunks_exact(frame_len).enumerate() {
        let view = FrameView::new(&g, vec![(frame, (w * 4) as usize)])?;
        let start = thread_cpu();
        let out = enc.encode(&view, false);
        let spent = thread_cpu() - start;
        if check_off {
            bytes += out.data.len() * (i > 0) as usize;
            time += spent * (i > 0) as u32;
            n += (i > 0) as usize;
            continue;
        }
        let report = dec.decode(&out.data, Duration::from_millis(33 * i as u64));
        let exact = dec.canvas().map(|c| c.plane(0) == frame) == Some(true);
        if !exact || report.records_dropped > 0 {
            return Err(format!("frame {i}: decoder differs ({report:?})").into());
        }
        if i > 0 {
            bytes += out.data.len();
            time += spent;
            n += 1;
            let (_, records) = parse_frame(&out.data)?;
            for record in records {
                let record = record?;
                match by_coding.iter_mut().find(|(c, _, _)| *c == record.coding) {
                    Some((_, b, k)) => {
                        *b += record.wire_len();
                        *k += 1;
                    }
                    None => by_coding.push((record.coding, record.wire_len(), 1)),
                }
            }
        }
    }
    let s = enc.stats();
    println!(
        "{} frames after the first: {:.0} bytes/frame, {:.2} ms/frame encode (thread CPU time); \
         tiles: {} changed, {} moved, {} move+residual, {} recalled, {} refreshed, {} sent",
        n,
        bytes as f64 / n as f64,
        time.as_secs_f64() * 1e3 / n as f64,
        s.tiles_changed,
        s.tiles_moved,
        s.tiles_move_residual,
        s.tiles_recalled,
        s.tiles_refreshed,
        s.tiles_sent
    );
    let per_frame = |b: usize| b as f64 / n.max(1) as f64;
    // The first frame is a keyframe, which schedules no refresh.
    println!(
        "of which intra refresh: {:.0} bytes/frame",
        per_frame(s.refresh_bytes as usize)
    );
    for (coding, b, k) in &by_coding {
        println!(
            "  {coding:?}: {:.0} bytes/frame, {} records, {:.0} bytes/record",
            per_frame(*b),
            k,
            *b as f64 / *k as f64
        );
    }
    if cache_tiles > 0 {
        hash_cost(&data, &g, frame_len)?;
    }
    Ok(())
}

/// The cost of naming a tile's content for the cache: gathering its
/// channels and hashing them with XXH3-64 (the bitstream's tile hash), next
/// to the motion search's row hash over the same bytes, on every tile of
/// every 10th frame.
fn hash_cost(
    data: &[u8],
    g: &Geometry,
    frame_len: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let stride = g.width as usize * 4;
    let mut samples = TileSamples::default();
    let (mut gather, mut xxh3, mut row_hash, mut tiles) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO, 0u32);
    let mut sink = 0u64;
    let mut joined = Vec::new();
    for frame in data.chunks_exact(frame_len).step_by(10) {
        let view = FrameView::new(g, vec![(frame, stride)])?;
        for t in 0..g.tile_count() {
            let start = thread_cpu();
            samples.gather(g, &view, t);
            let gathered = thread_cpu();
            sink ^= gststreamkit::delta::cache::tile_hash(&samples);
            let hashed = thread_cpu();
            joined.clear();
            for c in &samples.channels[..samples.count] {
                joined.extend_from_slice(c);
            }
            let copied = thread_cpu();
            sink ^= gststreamkit::delta::motion::hash_row(&joined);
            row_hash += thread_cpu() - copied;
            gather += gathered - start;
            xxh3 += hashed - gathered;
            tiles += 1;
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / tiles as f64;
    println!(
        "per {0}x{0} tile ({1} bytes, {tiles} tiles): gather {2:.0} ns, XXH3-64 {3:.0} ns, \
         motion::hash_row {4:.0} ns (thread CPU time; {sink:x})",
        g.tile_size,
        g.max_tile_bytes(),
        per(gather),
        per(xxh3),
        per(row_hash)
    );
    Ok(())
}
