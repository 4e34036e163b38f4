// SPDX-License-Identifier: MPL-2.0
//! Lossy tile coding: three planes (BGRx chroma subsampled 4:2:0 inside the
//! tile), 8x8 DCT, quality-scaled quantisation, each block's DC predicted
//! from the reconstructed pixels around it, and the levels range-coded
//! (`coefficients`, `range_coder`).
//!
//! Everything a decoder computes is integer-only, so an encoder's
//! reconstruction and any decoder's agree exactly on every platform: that
//! is what keeps lossy coding from drifting (DESIGN principle 1).

use super::bitstream::{BitstreamError, TileCoding};
use super::coefficients::{self, BlockError, BlockNeighbours, PlaneKind, PlaneModels};
use super::entropy::LosslessScratch;
use super::geometry::PixelFormat;
use super::range_coder::{RangeDecoder, RangeEncoder};
use super::samples::TileSamples;
use super::tile;
use once_cell::sync::Lazy;
use std::cell::RefCell;

/// Lowest and highest accepted quality.
pub const MIN_QUALITY: u8 = 1;
pub const MAX_QUALITY: u8 = 100;

/// Coefficient magnitudes a well-formed stream never exceeds; larger decoded
/// values are clamped so that hostile input cannot overflow the transform.
const COEFF_LIMIT: i32 = 4096;
/// DC levels of 8-bit blocks lie within ±1024 (the level-shifted block mean
/// times 8, at a step of at least 1); a decoded DC level beyond this makes
/// the payload corrupt.
const DC_LEVEL_LIMIT: i32 = 2048;

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
/// Written as two passes of 8-wide multiply-adds, which the compiler
/// vectorises.
fn fdct(block: &[i32; 64], out: &mut [f32; 64]) {
    let basis = &*BASIS_F32;
    // rows: tmp[y][u] = sum_x block[y][x] * basis[x][u]
    let mut tmp = [[0f32; 8]; 8];
    for (y, t) in tmp.iter_mut().enumerate() {
        for (x, b) in basis.iter().enumerate() {
            let s = block[y * 8 + x] as f32;
            for u in 0..8 {
                t[u] += s * b[u];
            }
        }
    }
    // columns: out[v][u] = sum_y basis[y][v] * tmp[y][u]
    for v in 0..8 {
        let mut acc = [0f32; 8];
        for (y, t) in tmp.iter().enumerate() {
            let b = basis[y][v];
            for u in 0..8 {
                acc[u] += b * t[u];
            }
        }
        out[v * 8..v * 8 + 8].copy_from_slice(&acc);
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

/// The basis transposed: BASIS_T[u][x] = BASIS[x][u].
static BASIS_T: Lazy<[[i32; 8]; 8]> = Lazy::new(|| {
    let mut t = [[0i32; 8]; 8];
    for (x, row) in BASIS.iter().enumerate() {
        for (u, &b) in row.iter().enumerate() {
            t[u][x] = b;
        }
    }
    t
});

/// Integer inverse DCT in two passes of 32-bit arithmetic with a rounding
/// shift between them (docs/bitstream.md gives the exact definition and why
/// nothing overflows for coefficients within ±COEFF_LIMIT); output is
/// level-shifted back and clamped to 0..=255. Rows of zero coefficients are
/// skipped, which changes nothing in the sums.
fn idct(coeffs: &BlockCoefficients, out: &mut [u8; 64]) {
    let basis_t = &*BASIS_T;
    let f = &coeffs.f;
    // pass 1, column by column: tmp[u][y] = (sum_v basis[y][v] * F[v][u]
    // + 2^7) >> 8, one 8-wide multiply-add per non-zero coefficient
    let mut tmp = [[0i32; 8]; 8];
    for y in 0..8 {
        tmp[0][y] = basis_t[0][y] * f[0];
    }
    let mut last_u = 0;
    for &i in coeffs.nonzero_ac() {
        let (v, u) = (i as usize / 8, i as usize % 8);
        last_u = last_u.max(u);
        let column = &basis_t[v];
        let c = f[i as usize];
        for y in 0..8 {
            tmp[u][y] += column[y] * c;
        }
    }
    // pass 2, row by row: p[y][x] = ((sum_u basis[x][u] * tmp[u][y] + 2^15)
    // >> 16) + 128; columns u past the last non-zero one are all zero
    let mut rows = [[1i32 << 15; 8]; 8];
    for (u, t) in tmp.iter().enumerate().take(last_u + 1) {
        let bt = &basis_t[u];
        for (y, acc) in rows.iter_mut().enumerate() {
            let tu = (t[y] + (1 << 7)) >> 8;
            for x in 0..8 {
                acc[x] += bt[x] * tu;
            }
        }
    }
    for (y, acc) in rows.iter().enumerate() {
        for x in 0..8 {
            out[y * 8 + x] = ((acc[x] >> 16) + 128).clamp(0, 255) as u8;
        }
    }
}

/// A block's dequantised coefficients in natural order, with the positions
/// of its non-zero AC coefficients listed: the inverse DCT and the DC
/// prediction visit only those.
struct BlockCoefficients {
    f: [i32; 64],
    ac: [u8; 63],
    ac_len: usize,
}

impl BlockCoefficients {
    fn new() -> Self {
        BlockCoefficients {
            f: [0; 64],
            ac: [0; 63],
            ac_len: 0,
        }
    }

    /// Lists the non-zero AC positions of `f` (without a branch per
    /// position: which ones are non-zero is as good as random).
    fn index(&mut self) {
        let mut n = 0;
        for i in 1..64 {
            self.ac[n.min(62)] = i as u8;
            n += (self.f[i] != 0) as usize;
        }
        self.ac_len = n;
    }

    fn nonzero_ac(&self) -> &[u8] {
        &self.ac[..self.ac_len]
    }
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

/// The alpha of a lossy record (BGRA, RGBA) comes before the colour's range
/// code (which must end the payload): this byte and the value every sample
/// has...
const ALPHA_UNIFORM: u8 = 0;
/// ...or this byte, the length of what follows (3 bytes, big-endian) and a
/// zstd frame of the channel's left-prediction residuals of that length, as
/// a lossless record codes a channel. Alpha is never lossy.
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
            out.extend_from_slice(&[ALPHA_PACKED, 0, 0, 0]);
            let start = out.len();
            let w = samples.dims[3].0;
            ALPHA_SCRATCH.with_borrow_mut(|scratch| tile::encode_channel(alpha, w, scratch, out));
            // A tile's alpha is at most 256 x 256 samples: its zstd frame is
            // far below 2^24 bytes.
            let len = (out.len() - start) as u32;
            out[start - 3..start].copy_from_slice(&len.to_be_bytes()[1..]);
        }
    }
}

/// Decodes the alpha part at the start of `payload` into channel 3 of
/// `samples`; returns the rest (the colour's range code).
fn decode_alpha<'a>(
    samples: &mut TileSamples,
    payload: &'a [u8],
) -> Result<&'a [u8], &'static str> {
    let w = samples.dims[3].0;
    match payload {
        [ALPHA_UNIFORM, a, rest @ ..] => {
            samples.channels[3].fill(*a);
            Ok(rest)
        }
        [ALPHA_PACKED, l0, l1, l2, rest @ ..] => {
            let len = u32::from_be_bytes([0, *l0, *l1, *l2]) as usize;
            if len > rest.len() {
                return Err("alpha longer than the payload");
            }
            let (packed, code) = rest.split_at(len);
            ALPHA_SCRATCH.with_borrow_mut(|scratch| {
                tile::decode_channel(packed, w, scratch, &mut samples.channels[3])
            })?;
            Ok(code)
        }
        [ALPHA_UNIFORM | ALPHA_PACKED, ..] => Err("alpha cut short"),
        [_, ..] => Err("unknown alpha coding"),
        [] => Err("alpha missing"),
    }
}

/// The size of the three planes a tile codes: Y at the tile's size, then
/// two chroma planes: the U and V of I420 and NV12 as laid out, a packed
/// format's Cb and Cr subsampled 2x2 (4:2:0) inside the tile.
fn plane_dims(samples: &TileSamples, format: PixelFormat) -> [(usize, usize); 3] {
    if format.packed_order().is_some() {
        let (w, h) = samples.dims[0];
        let half = (w.div_ceil(2), h.div_ceil(2));
        [(w, h), half, half]
    } else {
        [samples.dims[0], samples.dims[1], samples.dims[2]]
    }
}

/// Averages each 2x2 square of a `w` x `h` channel into the first
/// `ceil(w/2) * ceil(h/2)` samples of it (a last odd row or column is
/// averaged with itself). In place: each output sample is written at or
/// before the first sample it reads, and after every sample read before it.
fn subsample(ch: &mut [u8], w: usize, h: usize) {
    let (cw, chh) = (w.div_ceil(2), h.div_ceil(2));
    for j in 0..chh {
        let (y0, y1) = (2 * j, (2 * j + 1).min(h - 1));
        for i in 0..cw {
            let (x0, x1) = (2 * i, (2 * i + 1).min(w - 1));
            let sum = ch[y0 * w + x0] as u32
                + ch[y0 * w + x1] as u32
                + ch[y1 * w + x0] as u32
                + ch[y1 * w + x1] as u32;
            ch[j * cw + i] = ((sum + 2) >> 2) as u8;
        }
    }
}

/// Interpolates a `ceil(w/2)` x `ceil(h/2)` chroma plane back to `w` x `h`:
/// each chroma sample sits at the centre of its 2x2 square, and an output
/// sample weighs the nearest chroma sample 9/16, the next one across and
/// the next one down 3/16 each, and the diagonal one 1/16 (neighbours past
/// the tile's edge are the edge sample itself).
fn upsample(half: &[u8], w: usize, h: usize, out: &mut [u8]) {
    let cw = w.div_ceil(2);
    let chh = h.div_ceil(2);
    for y in 0..h {
        let j = y / 2;
        // the other chroma row nearest to this output row
        let j2 = if y % 2 == 0 {
            j.saturating_sub(1)
        } else {
            (j + 1).min(chh - 1)
        };
        let (near, far) = (&half[j * cw..(j + 1) * cw], &half[j2 * cw..(j2 + 1) * cw]);
        for x in 0..w {
            let i = x / 2;
            let i2 = if x % 2 == 0 {
                i.saturating_sub(1)
            } else {
                (i + 1).min(cw - 1)
            };
            let v = 9 * near[i] as u32 + 3 * (near[i2] as u32 + far[i] as u32) + far[i2] as u32;
            out[y * w + x] = ((v + 8) >> 4) as u8;
        }
    }
}

/// Quantiser steps of a plane and what the encoder needs of them.
struct Quantiser {
    step: [i32; 64],
    /// 1 / step, so that quantising multiplies.
    inverse: [f32; 64],
    /// Rounding offset per position: 0.5 for the DC, the dead zone for AC.
    bias: [f32; 64],
}

impl Quantiser {
    fn new(chroma: bool, quality: u8) -> Self {
        let step = quant_table(chroma, quality);
        let mut inverse = [0f32; 64];
        let mut bias = [AC_ROUNDING; 64];
        bias[0] = 0.5;
        for (inv, &s) in inverse.iter_mut().zip(&step) {
            *inv = 1.0 / s as f32;
        }
        Quantiser {
            step,
            inverse,
            bias,
        }
    }

    /// Quantises the forward DCT of a level-shifted block: levels in zigzag
    /// order, and their dequantised coefficients in natural order (what a
    /// decoder makes of them: never beyond COEFF_LIMIT, since 8-bit blocks
    /// have coefficients within ±1100).
    fn quantise(&self, block: &[i32; 64], levels: &mut [i32; 64], coeffs: &mut BlockCoefficients) {
        let mut f = [0f32; 64];
        fdct(block, &mut f);
        let mut natural = [0i32; 64];
        for i in 0..64 {
            // A dead zone around zero for AC: small coefficients cost more
            // bits than the detail they carry is worth. Truncating a
            // non-negative value gives its floor.
            let magnitude = (f[i].abs() * self.inverse[i] + self.bias[i]) as i32;
            natural[i] = if f[i] < 0.0 { -magnitude } else { magnitude };
            coeffs.f[i] = natural[i] * self.step[i];
        }
        for (level, &pos) in levels.iter_mut().zip(ZIGZAG.iter()) {
            *level = natural[pos];
        }
        coeffs.index();
    }
}

/// Dequantised coefficients (natural order) of zigzag-ordered `levels`.
fn dequantise(levels: &[i32; 64], q: &[i32; 64], coeffs: &mut BlockCoefficients) {
    for (k, &level) in levels.iter().enumerate() {
        let pos = ZIGZAG[k];
        coeffs.f[pos] = level
            .saturating_mul(q[pos])
            .clamp(-COEFF_LIMIT, COEFF_LIMIT);
    }
    coeffs.index();
}

/// Reads the block at (`x0`, `y0`) of a `w` x `h` plane, level-shifted;
/// edge blocks are padded by repeating the last row and column.
fn gather_block(plane: &[u8], w: usize, h: usize, x0: usize, y0: usize, block: &mut [i32; 64]) {
    if x0 + 8 <= w && y0 + 8 <= h {
        for (y, row) in block.chunks_exact_mut(8).enumerate() {
            let src = &plane[(y0 + y) * w + x0..(y0 + y) * w + x0 + 8];
            for (d, &s) in row.iter_mut().zip(src) {
                *d = s as i32 - 128;
            }
        }
        return;
    }
    for y in 0..8 {
        let sy = (y0 + y).min(h - 1);
        for x in 0..8 {
            let sx = (x0 + x).min(w - 1);
            block[y * 8 + x] = plane[sy * w + sx] as i32 - 128;
        }
    }
}

/// EDGE_SUM[n - 1][u] = BASIS[0][u] + ... + BASIS[n - 1][u]: what frequency
/// `u` adds up to over the first `n` samples of a row or column.
static EDGE_SUM: Lazy<[[i64; 8]; 8]> = Lazy::new(|| {
    let mut t = [[0i64; 8]; 8];
    for (n, row) in t.iter_mut().enumerate() {
        for (u, sum) in row.iter_mut().enumerate() {
            *sum = BASIS[..=n].iter().map(|b| b[u] as i64).sum();
        }
    }
    t
});

/// EDGE_WEIGHT[v] = 3 * BASIS[0][v] - BASIS[1][v]: what frequency `v` adds
/// to the first sample of a row or column extrapolated half a sample
/// outwards (twice over).
static EDGE_WEIGHT: Lazy<[i32; 8]> = Lazy::new(|| {
    let mut t = [0i32; 8];
    for (v, w) in t.iter_mut().enumerate() {
        *w = 3 * BASIS[0][v] - BASIS[1][v];
    }
    t
});

/// The largest DC level a prediction gives (8-bit blocks have DC levels
/// within ±1024).
const DC_PREDICTION_LIMIT: i64 = 2048;
/// What a DC level of 1 adds to every sample of a block before the final
/// shift of the inverse DCT: BASIS[y][0] * BASIS[x][0].
const DC_GAIN: i64 = 1448 * 1448;

/// `a / b` rounded to the nearest integer, halves upwards (`b > 0`).
fn round_div(a: i64, b: i64) -> i64 {
    (2 * a + b).div_euclid(2 * b)
}

/// Predicts the DC level of the block at (`x0`, `y0`) of a `w` x `h` plane
/// whose earlier blocks are already reconstructed in `plane`, from its AC
/// coefficients `coeffs` (dequantised, natural order, `coeffs[0]` ignored):
/// the DC that best continues the row above the block and the column to
/// its left into the block's own first row and column. Returns the
/// predicted level and the context of the residual
/// (see [`coefficients::DC_CONTEXTS`]).
fn predict_dc(
    plane: &[u8],
    w: usize,
    h: usize,
    x0: usize,
    y0: usize,
    coeffs: &BlockCoefficients,
    q0: i32,
) -> (i32, usize) {
    let edge_sum = &*EDGE_SUM;
    let weight = &*EDGE_WEIGHT;
    let cols = (w - x0).min(8);
    let rows = (h - y0).min(8);
    // The block's first row and first column without its DC, each
    // extrapolated half a sample outwards (3 * first - second, so twice
    // the value), summed over the samples that lie inside the plane, in the
    // inverse DCT's fixed point (2^24 per sample value). Exact integer sums:
    // by columns and rows first, then along the edge.
    let mut by_column = [0i32; 8];
    let mut by_row = [0i32; 8];
    for &i in coeffs.nonzero_ac() {
        let (v, u) = (i as usize / 8, i as usize % 8);
        let f = coeffs.f[i as usize];
        by_column[u] += weight[v] * f;
        by_row[v] += weight[u] * f;
    }
    let top: i64 = (0..8)
        .map(|u| edge_sum[cols - 1][u] * by_column[u] as i64)
        .sum();
    let left: i64 = (0..8)
        .map(|v| edge_sum[rows - 1][v] * by_row[v] as i64)
        .sum();
    let scale = DC_GAIN * q0 as i64;
    let from_above = (y0 > 0).then(|| {
        let r1 = &plane[(y0 - 1) * w + x0..(y0 - 1) * w + x0 + cols];
        let r2 = &plane[(y0 - 2) * w + x0..(y0 - 2) * w + x0 + cols];
        let s: i64 = r1
            .iter()
            .zip(r2)
            .map(|(&a, &b)| 3 * (a as i64 - 128) - (b as i64 - 128))
            .sum();
        ((s << 24) - top, 2 * cols as i64)
    });
    let from_left = (x0 > 0).then(|| {
        let s: i64 = (0..rows)
            .map(|y| {
                3 * (plane[(y0 + y) * w + x0 - 1] as i64 - 128)
                    - (plane[(y0 + y) * w + x0 - 2] as i64 - 128)
            })
            .sum();
        ((s << 24) - left, 2 * rows as i64)
    });
    let level = |(s, n): (i64, i64)| {
        round_div(s, n * scale).clamp(-DC_PREDICTION_LIMIT, DC_PREDICTION_LIMIT) as i32
    };
    match (from_above, from_left) {
        (Some(a), Some(l)) => {
            let pred = level((a.0 + l.0, a.1 + l.1));
            let ctx = match (level(a) - level(l)).unsigned_abs() {
                0 => 0,
                1 => 1,
                2..=3 => 2,
                _ => 3,
            };
            (pred, ctx)
        }
        (Some(one), None) | (None, Some(one)) => (level(one), 4),
        (None, None) => (0, 5),
    }
}

/// Inverse-transforms dequantised `coeffs` into the block at (`x0`, `y0`)
/// of a `w` x `h` plane, cropped to the plane.
fn reconstruct(
    plane: &mut [u8],
    w: usize,
    h: usize,
    x0: usize,
    y0: usize,
    coeffs: &BlockCoefficients,
) {
    let mut px = [0u8; 64];
    idct(coeffs, &mut px);
    let cols = (w - x0).min(8);
    for y in 0..(h - y0).min(8) {
        plane[(y0 + y) * w + x0..(y0 + y) * w + x0 + cols]
            .copy_from_slice(&px[y * 8..y * 8 + cols]);
    }
}

/// Appends the lossy payload of `samples` at `quality` to `out`, and leaves
/// in `samples` the tile a decoder reconstructs from it (packed formats:
/// B, G, R converted back, alpha exact, padding 255).
pub fn encode(samples: &mut TileSamples, format: PixelFormat, quality: u8, out: &mut Vec<u8>) {
    let mut models = [
        PlaneModels::new(PlaneKind::Luma),
        PlaneModels::new(PlaneKind::Chroma),
    ];
    encode_with_models(samples, format, quality, out, &mut models);
}

/// [`encode`] with the caller's models, which it leaves as the tile's
/// decisions adapted them: `codec-probe --train` measures from them what
/// the initial probabilities should be.
pub fn encode_with_models(
    samples: &mut TileSamples,
    format: PixelFormat,
    quality: u8,
    out: &mut Vec<u8>,
    models: &mut [PlaneModels; 2],
) {
    let dims = plane_dims(samples, format);
    if format.has_alpha() {
        encode_alpha(samples, out);
    }
    let packed = format.packed_order().is_some();
    if packed {
        bgr_to_ycbcr(samples);
        let (w, h) = samples.dims[1];
        subsample(&mut samples.channels[1], w, h);
        subsample(&mut samples.channels[2], w, h);
    }
    let mut enc = RangeEncoder::new(out);
    for (c, &(w, h)) in dims.iter().enumerate() {
        let quantiser = Quantiser::new(CHANNEL_IS_CHROMA[c], quality);
        let ch = &mut samples.channels[c];
        let models = &mut models[c.min(1)];
        let mut neighbours = BlockNeighbours::new(w.div_ceil(8));
        for y0 in (0..h).step_by(8) {
            for x0 in (0..w).step_by(8) {
                let mut block = [0i32; 64];
                gather_block(ch, w, h, x0, y0, &mut block);
                let mut levels = [0i32; 64];
                let mut coeffs = BlockCoefficients::new();
                quantiser.quantise(&block, &mut levels, &mut coeffs);
                coefficients::encode_ac(&mut enc, models, &mut neighbours, &levels);
                let (pred, ctx) = predict_dc(ch, w, h, x0, y0, &coeffs, quantiser.step[0]);
                coefficients::encode_dc(&mut enc, models, levels[0] - pred, ctx);
                // The block is replaced by what the decoder will make of it,
                // which the blocks after it predict from.
                reconstruct(ch, w, h, x0, y0, &coeffs);
            }
        }
    }
    enc.finish();
    if packed {
        let (w, h) = dims[0];
        let half_len = dims[1].0 * dims[1].1;
        for c in 1..3 {
            let half = samples.channels[c][..half_len].to_vec();
            upsample(&half, w, h, &mut samples.channels[c]);
        }
        ycbcr_to_bgr(samples);
        if !format.has_alpha() {
            samples.channels[3].fill(0xff);
        }
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
    let dims = plane_dims(samples, format);
    let payload = if format.has_alpha() {
        decode_alpha(samples, payload).map_err(corrupt)?
    } else {
        payload
    };
    // Packed chroma is decoded at half size here, then interpolated into
    // the tile's channels.
    let packed = format.packed_order().is_some();
    let mut half = [Vec::new(), Vec::new()];
    if packed {
        for h in &mut half {
            h.resize(dims[1].0 * dims[1].1, 0);
        }
    }
    let mut dec = RangeDecoder::new(payload);
    let mut models = [
        PlaneModels::new(PlaneKind::Luma),
        PlaneModels::new(PlaneKind::Chroma),
    ];
    for (c, &(w, h)) in dims.iter().enumerate() {
        let q = quant_table(CHANNEL_IS_CHROMA[c], quality);
        let models = &mut models[c.min(1)];
        let mut neighbours = BlockNeighbours::new(w.div_ceil(8));
        let ch = if c > 0 && packed {
            &mut half[c - 1][..]
        } else {
            &mut samples.channels[c][..]
        };
        for y0 in (0..h).step_by(8) {
            for x0 in (0..w).step_by(8) {
                let mut levels = [0i32; 64];
                coefficients::decode_ac(&mut dec, models, &mut neighbours, &mut levels).map_err(
                    |e| match e {
                        BlockError::CountTooLarge => {
                            corrupt("more non-zero levels than a block holds")
                        }
                    },
                )?;
                let mut coeffs = BlockCoefficients::new();
                dequantise(&levels, &q, &mut coeffs);
                let (pred, ctx) = predict_dc(ch, w, h, x0, y0, &coeffs, q[0]);
                levels[0] = pred + coefficients::decode_dc(&mut dec, models, ctx);
                if levels[0].abs() > DC_LEVEL_LIMIT {
                    return Err(corrupt("DC level out of range"));
                }
                coeffs.f[0] = (levels[0] * q[0]).clamp(-COEFF_LIMIT, COEFF_LIMIT);
                reconstruct(ch, w, h, x0, y0, &coeffs);
            }
        }
    }
    if !dec.finish() {
        return Err(corrupt(
            "the range code does not end where the last block does",
        ));
    }
    if packed {
        let (w, h) = dims[0];
        upsample(&half[0], w, h, &mut samples.channels[1]);
        upsample(&half[1], w, h, &mut samples.channels[2]);
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
        crate::measure::quality::psnr(a, b).expect("channels of one tile")
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

    /// The bound docs/bitstream.md states: no sum of the inverse DCT leaves
    /// 32 bits for coefficients within ±COEFF_LIMIT.
    #[test]
    fn idct_sums_fit_in_32_bits() {
        let row_sum = |f: &dyn Fn(usize, usize) -> i32| {
            (0..8)
                .map(|y| (0..8).map(|v| f(y, v).unsigned_abs() as i64).sum::<i64>())
                .max()
                .unwrap()
        };
        let b = row_sum(&|y, v| BASIS[y][v]);
        let pass1 = b * COEFF_LIMIT as i64 + 128;
        let tmp = pass1 >> 8;
        let pass2 = b * (tmp + 1) + (1 << 15);
        assert!(pass1 < 1 << 31 && pass2 < 1 << 31, "{b} {pass1} {pass2}");
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
                let mut block = BlockCoefficients::new();
                block.f = coeffs;
                block.index();
                idct(&block, &mut fast);
                for y in 0..8 {
                    for x in 0..8 {
                        let mut s = 0i64;
                        for u in 0..8 {
                            let mut t = 0i64;
                            for v in 0..8 {
                                t += basis[y][v] as i64 * coeffs[v * 8 + u] as i64;
                            }
                            s += basis[x][u] as i64 * ((t + 128) >> 8);
                        }
                        let full = (((s + (1 << 15)) >> 16) + 128).clamp(0, 255) as u8;
                        assert_eq!(fast[y * 8 + x], full);
                    }
                }
            }
        }
    }

    /// Deterministic pseudo-random bytes.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn hostile_payloads_are_rejected() {
        for format in PixelFormat::ALL {
            let g = Geometry::new(format, 32, 32, 32).unwrap();
            let mut s = TileSamples::default();
            s.layout(&g, 0);
            assert!(decode(&mut s, format, 50, 0, &[]).is_err());
            assert!(decode(&mut s, format, 0, 0, &[0; 16]).is_err());
            assert!(decode(&mut s, format, 50, 0, &[0xff; 64]).is_err());
            assert!(decode(&mut s, format, 50, 0, &[0; 64]).is_err());
        }
    }

    #[test]
    fn truncated_and_extended_payloads_are_rejected() {
        for format in PixelFormat::ALL {
            let g = Geometry::new(format, 64, 48, 32).unwrap();
            for tile in 0..g.tile_count() {
                let mut work = smooth_tile(&g, tile);
                let mut payload = Vec::new();
                encode(&mut work, format, 70, &mut payload);
                let mut out = TileSamples::default();
                out.layout(&g, tile);
                assert!(decode(&mut out, format, 70, tile, &payload).is_ok());
                for cut in 1..payload.len().min(6) {
                    let short = &payload[..payload.len() - cut];
                    assert!(
                        decode(&mut out, format, 70, tile, short).is_err(),
                        "{format:?} tile {tile}: cut by {cut} accepted"
                    );
                }
                let mut longer = payload.clone();
                longer.push(0);
                assert!(decode(&mut out, format, 70, tile, &longer).is_err());
            }
        }
    }

    /// Random payloads of every length decode or fail, never panic, and
    /// never take longer than a tile's worth of blocks.
    #[test]
    fn garbage_never_panics() {
        for format in PixelFormat::ALL {
            let g = Geometry::new(format, 80, 40, 64).unwrap();
            for tile in 0..g.tile_count() {
                let mut s = TileSamples::default();
                s.layout(&g, tile);
                for len in 0..400 {
                    let data = noise(len as u64 * 31 + tile as u64, len);
                    let _ = decode(&mut s, format, 1 + (len % 100) as u8, tile, &data);
                }
            }
        }
    }

    #[test]
    fn bgrx_chroma_is_subsampled_and_interpolated() {
        // A tile of odd size (at the frame's edge) with a colour edge.
        let g = Geometry::new(PixelFormat::Bgrx, 45, 27, 32).unwrap();
        for tile in 0..g.tile_count() {
            let mut orig = TileSamples::default();
            orig.layout(&g, tile);
            let (w, _) = orig.dims[0];
            for c in 0..3 {
                for (i, v) in orig.channels[c].iter_mut().enumerate() {
                    let x = i % w;
                    *v = if (x < w / 2) == (c == 2) { 200 } else { 40 };
                }
            }
            let mut work = orig.clone();
            let mut payload = Vec::new();
            encode(&mut work, PixelFormat::Bgrx, 90, &mut payload);
            let mut out = TileSamples::default();
            out.layout(&g, tile);
            decode(&mut out, PixelFormat::Bgrx, 90, tile, &payload).unwrap();
            for c in 0..3 {
                let p = psnr(&orig.channels[c], &out.channels[c]);
                assert!(p > 20.0, "tile {tile} channel {c}: PSNR {p:.1}");
            }
            assert!(out.channels[3].iter().all(|&v| v == 255));
        }
    }

    /// The encoder's reference takes what `encode` leaves in its samples, so
    /// that must be exactly what a decoder makes of the payload, for any
    /// content, size and quality.
    #[test]
    fn encode_leaves_what_decode_reconstructs() {
        for format in PixelFormat::ALL {
            let g = Geometry::new(format, 100, 58, 48).unwrap();
            for tile in 0..g.tile_count() {
                for quality in [1u8, 20, 50, 80, 100] {
                    let mut work = smooth_tile(&g, tile);
                    let bytes = noise(tile as u64 * 101 + quality as u64, 64 * 64);
                    for c in 0..work.count {
                        for (i, v) in work.channels[c].iter_mut().enumerate() {
                            if (i / 7) % 3 == 0 {
                                *v = bytes[i % bytes.len()];
                            }
                        }
                    }
                    let mut payload = Vec::new();
                    encode(&mut work, format, quality, &mut payload);
                    let mut out = TileSamples::default();
                    out.layout(&g, tile);
                    decode(&mut out, format, quality, tile, &payload).unwrap();
                    for c in 0..out.count {
                        assert_eq!(
                            work.channels[c], out.channels[c],
                            "{format:?} tile {tile} q{quality} channel {c}"
                        );
                    }
                }
            }
        }
    }

    /// Noise at quality 100 (every level large, nothing predictable) and a
    /// one-pixel checkerboard (all energy in the highest frequency) in the
    /// largest tile stay well inside what a record may carry.
    #[test]
    fn worst_content_fits_the_record_bound() {
        for format in [PixelFormat::I420, PixelFormat::Bgrx] {
            let g = Geometry::new(format, 256, 256, 256).unwrap();
            let bound = crate::delta::bitstream::max_payload_len(&g);
            let mut s = TileSamples::default();
            s.layout(&g, 0);
            let bytes = noise(7, 256 * 256);
            for pattern in 0..2 {
                for c in 0..s.count {
                    let w = s.dims[c].0;
                    for (i, v) in s.channels[c].iter_mut().enumerate() {
                        *v = match pattern {
                            0 => bytes[i],
                            _ => 255 * ((i % w + i / w) % 2) as u8,
                        };
                    }
                }
                let mut payload = Vec::new();
                encode(&mut s.clone(), format, 100, &mut payload);
                assert!(
                    payload.len() * 3 / 2 < bound,
                    "{format:?} pattern {pattern}: {} bytes, bound {bound}",
                    payload.len()
                );
            }
        }
    }

    #[test]
    fn upsampling_a_flat_plane_is_exact() {
        for (w, h) in [(1usize, 1usize), (2, 2), (7, 5), (64, 64), (33, 17)] {
            let half = vec![77u8; w.div_ceil(2) * h.div_ceil(2)];
            let mut out = vec![0u8; w * h];
            upsample(&half, w, h, &mut out);
            assert!(out.iter().all(|&v| v == 77));
            let mut full = vec![91u8; w * h];
            subsample(&mut full, w, h);
            assert!(full[..half.len()].iter().all(|&v| v == 91));
        }
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
                    assert_eq!(payload[..2], [ALPHA_UNIFORM, a]);
                    let mut out = TileSamples::default();
                    out.layout(&g, tile);
                    decode(&mut out, format, 60, tile, &payload).unwrap();
                    assert!(out.channels[3].iter().all(|&v| v == a));
                }
                // varying alpha: exact, through zstd
                let mut work = orig.clone();
                let mut payload = Vec::new();
                encode(&mut work, format, 60, &mut payload);
                assert_eq!(payload[0], ALPHA_PACKED);
                let mut out = TileSamples::default();
                out.layout(&g, tile);
                decode(&mut out, format, 60, tile, &payload).unwrap();
                assert_eq!(out.channels[3], orig.channels[3]);
                // damaged alpha parts are refused
                let alpha_len = payload.len() - colour_only;
                let (alpha, colour) = payload.split_at(alpha_len);
                for head in [
                    &[][..],
                    &[ALPHA_UNIFORM][..],
                    &[2, 0][..],
                    &[ALPHA_PACKED][..],
                    &[ALPHA_PACKED, 0, 0][..],
                    &[ALPHA_PACKED, 0xff, 0xff, 0xff][..],
                    &alpha[..alpha_len - 1],
                ] {
                    let bad = [head, colour].concat();
                    assert!(
                        decode(&mut out, format, 60, tile, &bad).is_err(),
                        "{format:?} alpha part {head:?}"
                    );
                }
                // a padding format takes no alpha part
                let with_alpha = [&[ALPHA_UNIFORM, 255][..], colour].concat();
                assert!(decode(&mut out, PixelFormat::Bgrx, 60, tile, &with_alpha).is_err());
            }
        }
    }
}
