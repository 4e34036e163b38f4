//! Lossy tile coding: 8x8 DCT, quality-scaled quantisation, and a byte
//! oriented run/level token stream.
//!
//! The inverse transform is integer-only, so an encoder's reconstruction and
//! any decoder's agree exactly on every platform: that is what keeps lossy
//! coding from drifting (DESIGN principle 1).

use super::bitstream::{BitstreamError, TileCoding};
use super::geometry::PixelFormat;
use super::tile::{self, LosslessScratch, TileSamples};
use once_cell::sync::Lazy;
use std::cell::RefCell;

/// Lowest and highest accepted quality.
pub const MIN_QUALITY: u8 = 1;
pub const MAX_QUALITY: u8 = 100;

/// Coefficient magnitudes a well-formed stream never exceeds; larger decoded
/// values are clamped so that hostile input cannot overflow the transform.
const COEFF_LIMIT: i32 = 4096;

const EOB: u8 = 0xff;
/// Rounding offset of AC levels (0.5 would be plain rounding).
const AC_ROUNDING: f32 = 0.35;
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

// Base quantiser steps for luma and chroma (the example tables of the JPEG
// standard, ITU-T T.81 Annex K), scaled by quality as is customary.
const BASE_LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const BASE_CHROMA: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// Quantiser steps (row-major) for a channel class at a quality.
fn quant_table(chroma: bool, quality: u8) -> [i32; 64] {
    let q = quality.clamp(MIN_QUALITY, MAX_QUALITY) as i32;
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    let base = if chroma { &BASE_CHROMA } else { &BASE_LUMA };
    let mut t = [0i32; 64];
    for (dst, &b) in t.iter_mut().zip(base.iter()) {
        *dst = ((b as i32 * scale + 50) / 100).clamp(1, 255);
    }
    t
}

/// Cosine basis in fixed point (scale 2^12): BASIS[x][u].
static BASIS: Lazy<[[i32; 8]; 8]> = Lazy::new(|| {
    let mut b = [[0i32; 8]; 8];
    for (x, row) in b.iter_mut().enumerate() {
        for (u, v) in row.iter_mut().enumerate() {
            let a = if u == 0 { (1.0f64 / 8.0).sqrt() } else { 0.5 };
            let c = a * (((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI) / 16.0).cos();
            *v = (c * 4096.0).round() as i32;
        }
    }
    b
});

/// Forward DCT of a level-shifted block (encoder only; floating point is fine
/// because only the integer inverse must agree between the two ends).
fn fdct(block: &[i32; 64], out: &mut [f32; 64]) {
    let basis = &*BASIS_F32;
    let mut tmp = [0f32; 64];
    for y in 0..8 {
        for u in 0..8 {
            let mut s = 0f32;
            for x in 0..8 {
                s += block[y * 8 + x] as f32 * basis[x][u];
            }
            tmp[y * 8 + u] = s;
        }
    }
    for u in 0..8 {
        for v in 0..8 {
            let mut s = 0f32;
            for y in 0..8 {
                s += tmp[y * 8 + u] * basis[y][v];
            }
            out[v * 8 + u] = s;
        }
    }
}

/// The basis as floats, already divided by its fixed-point scale.
static BASIS_F32: Lazy<[[f32; 8]; 8]> = Lazy::new(|| {
    let mut b = [[0f32; 8]; 8];
    for (row, src) in b.iter_mut().zip(BASIS.iter()) {
        for (v, &s) in row.iter_mut().zip(src.iter()) {
            *v = s as f32 / 4096.0;
        }
    }
    b
});

/// Integer inverse DCT; output is level-shifted back and clamped to 0..=255.
/// Terms of zero coefficients are skipped: they add nothing to the integer
/// sums, so the result is the same as the full transform, only faster for
/// the sparse blocks quantisation leaves.
fn idct(coeffs: &[i32; 64], out: &mut [u8; 64]) {
    let basis = &*BASIS;
    // Rows (v) and columns (u) beyond the last non-zero coefficient are empty.
    let (mut last_v, mut last_u) = (0usize, 0usize);
    for (i, &c) in coeffs.iter().enumerate() {
        if c != 0 {
            last_v = last_v.max(i / 8);
            last_u = last_u.max(i % 8);
        }
    }
    let mut tmp = [0i64; 64];
    // columns: tmp[y][u] = sum_v basis[y][v] * F[v][u]
    for u in 0..=last_u {
        for y in 0..8 {
            let mut s = 0i64;
            for v in 0..=last_v {
                s += basis[y][v] as i64 * coeffs[v * 8 + u] as i64;
            }
            tmp[y * 8 + u] = s;
        }
    }
    for y in 0..8 {
        for x in 0..8 {
            let mut s = 0i64;
            for u in 0..=last_u {
                s += basis[x][u] as i64 * tmp[y * 8 + u];
            }
            let v = ((s + (1 << 23)) >> 24) + 128;
            out[y * 8 + x] = v.clamp(0, 255) as u8;
        }
    }
}

fn push_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag_signed(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn unzigzag_signed(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Whether each of the three coded channels (Y, then two chroma: the U and
/// V of I420 and NV12, or the Cb and Cr of a packed format) is chroma.
const CHANNEL_IS_CHROMA: [bool; 3] = [false, true, true];

/// Converts B, G, R channels to Y, Cb, Cr in place (BT.601 full range).
fn bgr_to_ycbcr(s: &mut TileSamples) {
    let [b, g, r, _] = &mut s.channels;
    for i in 0..b.len() {
        let (bb, gg, rr) = (b[i] as i32, g[i] as i32, r[i] as i32);
        let y = (77 * rr + 150 * gg + 29 * bb + 128) >> 8;
        let cb = ((-43 * rr - 85 * gg + 128 * bb + 128) >> 8) + 128;
        let cr = ((128 * rr - 107 * gg - 21 * bb + 128) >> 8) + 128;
        b[i] = y.clamp(0, 255) as u8;
        g[i] = cb.clamp(0, 255) as u8;
        r[i] = cr.clamp(0, 255) as u8;
    }
}

/// Converts Y, Cb, Cr back to B, G, R.
fn ycbcr_to_bgr(s: &mut TileSamples) {
    let [c0, c1, c2, _] = &mut s.channels;
    for i in 0..c0.len() {
        let y = (c0[i] as i32) << 8;
        let cb = c1[i] as i32 - 128;
        let cr = c2[i] as i32 - 128;
        let r = (y + 359 * cr + 128) >> 8;
        let g = (y - 88 * cb - 183 * cr + 128) >> 8;
        let b = (y + 454 * cb + 128) >> 8;
        c0[i] = b.clamp(0, 255) as u8;
        c1[i] = g.clamp(0, 255) as u8;
        c2[i] = r.clamp(0, 255) as u8;
    }
}

/// The alpha of a lossy record (BGRA, RGBA) follows the colour blocks: this
/// byte and the value every sample has...
const ALPHA_UNIFORM: u8 = 0;
/// ...or this byte and a zstd frame of the channel's left-prediction
/// residuals, as a lossless record codes a channel. Alpha is never lossy.
const ALPHA_PACKED: u8 = 1;

thread_local! {
    /// zstd contexts for the alpha of lossy tiles, one per coding thread,
    /// made on the first non-uniform alpha.
    static ALPHA_SCRATCH: RefCell<LosslessScratch> = RefCell::default();
}

/// Appends the alpha channel (channel 3) of `samples`, exactly.
fn encode_alpha(samples: &TileSamples, out: &mut Vec<u8>) {
    let alpha = &samples.channels[3];
    match alpha.first() {
        Some(&a) if alpha.iter().all(|&v| v == a) => out.extend_from_slice(&[ALPHA_UNIFORM, a]),
        _ => {
            out.push(ALPHA_PACKED);
            let w = samples.dims[3].0;
            ALPHA_SCRATCH.with_borrow_mut(|scratch| tile::encode_channel(alpha, w, scratch, out));
        }
    }
}

/// Decodes the alpha part (`rest`, all the payload after the colour
/// blocks) into channel 3 of `samples`.
fn decode_alpha(samples: &mut TileSamples, rest: &[u8]) -> Result<(), &'static str> {
    let w = samples.dims[3].0;
    match rest.split_first() {
        Some((&ALPHA_UNIFORM, &[a])) => {
            samples.channels[3].fill(a);
            Ok(())
        }
        Some((&ALPHA_UNIFORM, _)) => Err("a uniform alpha is one byte, the last"),
        Some((&ALPHA_PACKED, packed)) => ALPHA_SCRATCH.with_borrow_mut(|scratch| {
            tile::decode_channel(packed, w, scratch, &mut samples.channels[3])
        }),
        Some(_) => Err("unknown alpha coding"),
        None => Err("alpha missing after the last block"),
    }
}

/// Appends the lossy payload of `samples` at `quality` to `out`. `samples`
/// is consumed as scratch (packed B, G, R channels are converted in place;
/// alpha is kept and coded exactly after the colour).
pub fn encode(samples: &mut TileSamples, format: PixelFormat, quality: u8, out: &mut Vec<u8>) {
    if format.packed_order().is_some() {
        bgr_to_ycbcr(samples);
    }
    for (c, &is_chroma) in CHANNEL_IS_CHROMA.iter().enumerate() {
        let q = quant_table(is_chroma, quality);
        let (w, h) = samples.dims[c];
        let ch = &samples.channels[c];
        let mut prev_dc = 0i32;
        for by in (0..h).step_by(8) {
            for bx in (0..w).step_by(8) {
                // Edge blocks are padded by repeating the last row and column.
                let mut block = [0i32; 64];
                for y in 0..8 {
                    let sy = (by + y).min(h - 1);
                    for x in 0..8 {
                        let sx = (bx + x).min(w - 1);
                        block[y * 8 + x] = ch[sy * w + sx] as i32 - 128;
                    }
                }
                let mut f = [0f32; 64];
                fdct(&block, &mut f);
                let mut levels = [0i32; 64];
                for (k, &pos) in ZIGZAG.iter().enumerate() {
                    let x = f[pos] / q[pos] as f32;
                    // A dead zone around zero for AC: small coefficients cost
                    // more bits than the detail they carry is worth.
                    let bias = if k == 0 { 0.5 } else { AC_ROUNDING };
                    levels[k] = (x.abs() + bias).floor().copysign(x) as i32;
                }
                push_varint(out, zigzag_signed(levels[0] - prev_dc));
                prev_dc = levels[0];
                let mut run = 0u8;
                for &level in &levels[1..] {
                    if level == 0 {
                        run += 1;
                        continue;
                    }
                    match level {
                        1 => out.push(run << 2),
                        -1 => out.push((run << 2) | 1),
                        _ => {
                            out.push((run << 2) | 2);
                            push_varint(out, zigzag_signed(level));
                        }
                    }
                    run = 0;
                }
                out.push(EOB);
            }
        }
    }
    if format.has_alpha() {
        encode_alpha(samples, out);
    }
}

/// Reads the token stream; every read is bounds-checked.
struct TokenReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl TokenReader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u32) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
}

/// Decodes a lossy payload into `samples` (already laid out for the tile;
/// for a packed format the four channels come out as B, G, R and the
/// exact alpha, or padding set to 255).
pub fn decode(
    samples: &mut TileSamples,
    format: PixelFormat,
    quality: u8,
    index: u32,
    payload: &[u8],
) -> Result<(), BitstreamError> {
    let corrupt = |reason| BitstreamError::CorruptPayload {
        index,
        coding: TileCoding::Lossy,
        reason,
    };
    if !(MIN_QUALITY..=MAX_QUALITY).contains(&quality) {
        return Err(corrupt("quality outside 1..=100"));
    }
    let mut rd = TokenReader {
        data: payload,
        pos: 0,
    };
    for (c, &is_chroma) in CHANNEL_IS_CHROMA.iter().enumerate() {
        let q = quant_table(is_chroma, quality);
        let (w, h) = samples.dims[c];
        let mut prev_dc = 0i32;
        for by in (0..h).step_by(8) {
            for bx in (0..w).step_by(8) {
                let mut coeffs = [0i32; 64];
                let dc = rd.varint().ok_or(corrupt("truncated DC value"))?;
                prev_dc = prev_dc.saturating_add(unzigzag_signed(dc));
                coeffs[0] = prev_dc
                    .saturating_mul(q[0])
                    .clamp(-COEFF_LIMIT, COEFF_LIMIT);
                let mut k = 1usize;
                loop {
                    let token = rd.byte().ok_or(corrupt("truncated block"))?;
                    if token == EOB {
                        break;
                    }
                    k += (token >> 2) as usize;
                    if k >= 64 {
                        return Err(corrupt("coefficient run past the end of a block"));
                    }
                    let level = match token & 3 {
                        0 => 1,
                        1 => -1,
                        2 => unzigzag_signed(rd.varint().ok_or(corrupt("truncated level"))?),
                        _ => return Err(corrupt("reserved token class")),
                    };
                    let pos = ZIGZAG[k];
                    coeffs[pos] = level
                        .saturating_mul(q[pos])
                        .clamp(-COEFF_LIMIT, COEFF_LIMIT);
                    k += 1;
                }
                let mut px = [0u8; 64];
                idct(&coeffs, &mut px);
                let ch = &mut samples.channels[c];
                for y in 0..(h - by).min(8) {
                    for x in 0..(w - bx).min(8) {
                        ch[(by + y) * w + bx + x] = px[y * 8 + x];
                    }
                }
            }
        }
    }
    let rest = &payload[rd.pos..];
    if format.has_alpha() {
        decode_alpha(samples, rest).map_err(corrupt)?;
    } else if !rest.is_empty() {
        return Err(corrupt("trailing bytes after the last block"));
    }
    if format.packed_order().is_some() {
        ycbcr_to_bgr(samples);
        if !format.has_alpha() {
            samples.channels[3].fill(0xff);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::geometry::Geometry;

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse: f64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
    }

    fn smooth_tile(g: &Geometry, tile: u32) -> TileSamples {
        let mut s = TileSamples::default();
        s.layout(g, tile);
        for c in 0..s.count {
            let (w, _) = s.dims[c];
            for (i, v) in s.channels[c].iter_mut().enumerate() {
                let (x, y) = (i % w, i / w);
                *v = (128.0 + 60.0 * ((x as f64 / 5.0).sin() + (y as f64 / 7.0).cos())) as u8;
            }
        }
        s
    }

    #[test]
    fn quality_trades_bytes_for_fidelity() {
        for format in PixelFormat::ALL {
            let g = Geometry::new(format, 64, 48, 32).unwrap();
            let mut last_bytes = 0;
            for quality in [30u8, 60, 90] {
                let mut total = 0;
                for tile in 0..g.tile_count() {
                    let orig = smooth_tile(&g, tile);
                    let mut work = orig.clone();
                    let mut payload = Vec::new();
                    encode(&mut work, format, quality, &mut payload);
                    total += payload.len();
                    let mut out = TileSamples::default();
                    out.layout(&g, tile);
                    decode(&mut out, format, quality, tile, &payload).unwrap();
                    for c in 0..3 {
                        let p = psnr(&orig.channels[c], &out.channels[c]);
                        assert!(p > 30.0, "{format:?} q{quality} channel {c}: PSNR {p:.1}");
                    }
                    // alpha is exact; padding comes out as 255
                    if format.has_alpha() {
                        assert_eq!(out.channels[3], orig.channels[3], "{format:?}");
                    } else if format.packed_order().is_some() {
                        assert!(out.channels[3].iter().all(|&v| v == 255), "{format:?}");
                    }
                }
                assert!(total > last_bytes, "higher quality must cost more bytes");
                last_bytes = total;
            }
        }
    }

    #[test]
    fn sparse_idct_equals_the_full_transform() {
        let basis = &*BASIS;
        let mut seed = 99u32;
        for density in [1u32, 4, 16, 64] {
            for _ in 0..200 {
                let mut coeffs = [0i32; 64];
                for c in coeffs.iter_mut() {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    if (seed >> 16) % 64 < density {
                        *c = ((seed >> 8) % 8193) as i32 - 4096;
                    }
                }
                let mut fast = [0u8; 64];
                idct(&coeffs, &mut fast);
                for y in 0..8 {
                    for x in 0..8 {
                        let mut s = 0i64;
                        for u in 0..8 {
                            let mut t = 0i64;
                            for v in 0..8 {
                                t += basis[y][v] as i64 * coeffs[v * 8 + u] as i64;
                            }
                            s += basis[x][u] as i64 * t;
                        }
                        let full = (((s + (1 << 23)) >> 24) + 128).clamp(0, 255) as u8;
                        assert_eq!(fast[y * 8 + x], full);
                    }
                }
            }
        }
    }

    #[test]
    fn hostile_payloads_are_rejected() {
        let g = Geometry::new(PixelFormat::I420, 32, 32, 32).unwrap();
        let mut s = TileSamples::default();
        s.layout(&g, 0);
        assert!(decode(&mut s, PixelFormat::I420, 50, 0, &[]).is_err());
        assert!(decode(&mut s, PixelFormat::I420, 50, 0, &[0, 250 << 2]).is_err());
        assert!(decode(&mut s, PixelFormat::I420, 0, 0, &[0, EOB]).is_err());
        assert!(decode(&mut s, PixelFormat::I420, 50, 0, &[0xff; 64]).is_err());
        // huge levels are clamped, not overflowed
        let mut evil = Vec::new();
        for _ in 0..(16 + 4 + 4) {
            evil.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
            evil.extend_from_slice(&[2, 0xff, 0xff, 0xff, 0xff, 0x0f, EOB]);
        }
        assert!(decode(&mut s, PixelFormat::I420, 50, 0, &evil).is_ok());
    }

    #[test]
    fn alpha_is_carried_exactly_and_uniform_alpha_costs_two_bytes() {
        for format in [PixelFormat::Bgra, PixelFormat::Rgba] {
            let g = Geometry::new(format, 40, 24, 32).unwrap();
            for tile in 0..g.tile_count() {
                let orig = smooth_tile(&g, tile);
                let colour_only = {
                    let mut work = orig.clone();
                    let mut payload = Vec::new();
                    encode(&mut work, PixelFormat::Bgrx, 60, &mut payload);
                    payload.len()
                };
                // uniform (opaque, and a uniform translucent) alpha: 2 bytes
                for a in [255u8, 77] {
                    let mut work = orig.clone();
                    work.channels[3].fill(a);
                    let mut payload = Vec::new();
                    encode(&mut work, format, 60, &mut payload);
                    assert_eq!(payload.len(), colour_only + 2);
                    assert_eq!(payload[payload.len() - 2..], [ALPHA_UNIFORM, a]);
                    let mut out = TileSamples::default();
                    out.layout(&g, tile);
                    decode(&mut out, format, 60, tile, &payload).unwrap();
                    assert!(out.channels[3].iter().all(|&v| v == a));
                }
                // varying alpha: exact, through zstd
                let mut work = orig.clone();
                let mut payload = Vec::new();
                encode(&mut work, format, 60, &mut payload);
                assert_eq!(payload[colour_only], ALPHA_PACKED);
                let mut out = TileSamples::default();
                out.layout(&g, tile);
                decode(&mut out, format, 60, tile, &payload).unwrap();
                assert_eq!(out.channels[3], orig.channels[3]);
                // damaged alpha parts are refused
                let colour = &payload[..colour_only];
                for tail in [
                    &[][..],
                    &[ALPHA_UNIFORM][..],
                    &[ALPHA_UNIFORM, 1, 2][..],
                    &[2, 0][..],
                    &[ALPHA_PACKED][..],
                    &payload[colour_only..payload.len() - 1],
                ] {
                    let bad = [colour, tail].concat();
                    assert!(
                        decode(&mut out, format, 60, tile, &bad).is_err(),
                        "{format:?} tail {tail:?}"
                    );
                }
                // a padding format takes no alpha part
                let mut with_alpha = colour.to_vec();
                with_alpha.extend_from_slice(&[ALPHA_UNIFORM, 255]);
                assert!(decode(&mut out, PixelFormat::Bgrx, 60, tile, &with_alpha).is_err());
            }
        }
    }
}
