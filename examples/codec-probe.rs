//! The codec core alone on raw frames: bytes, encode time and a decoder
//! check per frame, without GStreamer. For tuning the encoder on the
//! screen recordings; the benchmark of record is `scripts/bench.sh`.
//!
//!   ffmpeg -i recordings/terminal.mkv -f rawvideo -pix_fmt bgr0 /tmp/t.bgrx
//!   cargo run --release --example codec-probe -- /tmp/t.bgrx 1280 720 [refresh]
//!   cargo run --release --example codec-probe -- /tmp/t.bgrx 1280 720 --entropy
//!
//! `--entropy` compares entropy stages on what a lossless record
//! compresses (every tile's left-prediction residuals, every 10th frame):
//! LZ4 (bitstream v1) against zstd at several levels.

use std::time::{Duration, Instant};

use gststreamkit::delta::entropy::Packer;
use gststreamkit::delta::tile::{predicted_residuals, TileSamples};
use gststreamkit::delta::{
    DeltaDecoder, DeltaEncoder, EncoderConfig, FrameView, Geometry, PixelFormat, TileMode,
};

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
    if args.len() < 4 {
        return Err("usage: codec-probe FILE.bgrx WIDTH HEIGHT [INTRA_REFRESH | --entropy]".into());
    }
    let data = std::fs::read(&args[1])?;
    let (w, h): (u32, u32) = (args[2].parse()?, args[3].parse()?);
    let g = Geometry::new(PixelFormat::Bgrx, w, h, 64)?;
    let frame_len = (w * h * 4) as usize;
    if args.get(4).map(String::as_str) == Some("--entropy") {
        return entropy(&data, &g, frame_len);
    }
    let refresh: u32 = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(30);
    let mut enc = DeltaEncoder::new(
        g,
        EncoderConfig {
            mode: TileMode::Lossless,
            threshold: 0,
            intra_refresh: refresh,
            key_int_max: 0,
            parallel: false,
        },
    );
    let mut dec = DeltaDecoder::new();
    // For profiling the encoder alone: no decoder, no check.
    let check_off = std::env::var_os("CODEC_PROBE_NO_CHECK").is_some();
    let (mut bytes, mut time, mut n) = (0usize, Duration::ZERO, 0usize);
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
        }
    }
    let s = enc.stats();
    println!(
        "{} frames after the first: {:.0} bytes/frame, {:.2} ms/frame encode (thread CPU time); \
         tiles: {} changed, {} moved, {} move+residual, {} refreshed, {} sent",
        n,
        bytes as f64 / n as f64,
        time.as_secs_f64() * 1e3 / n as f64,
        s.tiles_changed,
        s.tiles_moved,
        s.tiles_move_residual,
        s.tiles_refreshed,
        s.tiles_sent
    );
    Ok(())
}
