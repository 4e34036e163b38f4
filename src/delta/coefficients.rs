// SPDX-License-Identifier: MPL-2.0
//! Entropy coding of quantised 8x8 DCT blocks for lossy tiles: binary
//! decisions with context modelling over the range coder.
//!
//! Per block, in this order (docs/bitstream.md, "Coding 1: lossy", is the
//! exact specification):
//! - how many AC levels are not zero, in the context of how many the left
//!   and upper blocks had: a flat block costs about one decision, and no
//!   end-of-block marker is needed;
//! - for each zigzag position until that many were found: whether it is
//!   non-zero, in the context of the position and of how many are still to
//!   come; for a non-zero level its magnitude (in the context of the
//!   position, of how busy the block is and of the larger levels already
//!   seen in it) and sign;
//! - the DC level as its difference from a prediction that the caller
//!   makes from the pixels around the block and the block's AC levels
//!   (`lossy.rs`), in the context of how sure that prediction is.
//!
//! Every model starts afresh in every tile (tiles are self-contained), so
//! the number of models is kept small and each starts from a probability
//! measured on camera content rather than from one half.

use super::range_coder::{BitModel, RangeDecoder, RangeEncoder};

/// Largest magnitude class of a coded value: values up to 2^MAX_CLASS - 2.
/// Levels of 8-bit samples stay below 2^12 at any quantiser step.
const MAX_CLASS: usize = 14;

/// Zigzag position band of each AC position (index 1..=63; 0 unused).
const SIG_BAND: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut k = 1;
    while k < 64 {
        t[k] = match k {
            1..=5 => (k - 1) as u8,
            6..=7 => 5,
            8..=9 => 6,
            10..=12 => 7,
            13..=16 => 8,
            17..=21 => 9,
            22..=28 => 10,
            29..=36 => 11,
            _ => 12,
        };
        k += 1;
    }
    t
};
const SIG_BANDS: usize = 13;
/// Buckets of the number of non-zero levels still to come.
const REMAINING_BUCKETS: usize = 7;
/// Buckets of the neighbours' non-zero counts, and one for "no neighbour".
const COUNT_BUCKETS: usize = 9;
/// Contexts of the DC residual: how far apart the predictions from above
/// and from the left are (0, 1, 2..=3, more), one neighbour, none.
pub const DC_CONTEXTS: usize = 6;

fn remaining_bucket(remaining: u32) -> usize {
    match remaining {
        0 | 1 => 0,
        2 => 1,
        3 => 2,
        4..=5 => 3,
        6..=8 => 4,
        9..=13 => 5,
        _ => 6,
    }
}

fn count_bucket(expected: Option<u32>) -> usize {
    match expected {
        None => 8,
        Some(0) => 0,
        Some(1) => 1,
        Some(2) => 2,
        Some(3..=4) => 3,
        Some(5..=7) => 4,
        Some(8..=12) => 5,
        Some(13..=20) => 6,
        Some(_) => 7,
    }
}

/// The model of a zero flag: position band, and levels still to come.
fn significance_context(k: usize, remaining: u32) -> usize {
    SIGNIFICANT + SIG_BAND[k] as usize * REMAINING_BUCKETS + remaining_bucket(remaining)
}

/// Magnitude-level context: position group, and how many levels above 1
/// the block already had (0, 1, 2 or more).
fn level_context(k: usize, large_so_far: u32, count: u32) -> usize {
    let group = match k {
        1..=2 => 0,
        3..=9 => 1,
        _ => 2,
    };
    let busy = match count {
        0..=3 => 0,
        4..=10 => 1,
        _ => 2,
    };
    (busy * 3 + group) * 3 + large_so_far.min(2) as usize
}

/// Models a value takes: one per unary position of its class, then one per
/// class for the first bit below the leading one.
const VALUE_MODELS: usize = 2 * MAX_CLASS;

/// Codes a non-negative value as its magnitude class
/// `c = floor(log2(v + 1))` in unary (one model per unary position; the
/// largest class has no terminating 0), then the `c` bits below the leading
/// one of `v + 1`: the first with the class's model, the rest at
/// probability one half. `m` holds VALUE_MODELS models.
fn encode_value(enc: &mut RangeEncoder, m: &mut [BitModel], v: u32) {
    let (prefix, top) = m.split_at_mut(MAX_CLASS);
    let v1 = v + 1;
    let class = (31 - v1.leading_zeros()) as usize;
    debug_assert!(class < MAX_CLASS, "value {v} beyond the largest class");
    for m in &mut prefix[..class] {
        enc.encode(m, true);
    }
    if class + 1 < MAX_CLASS {
        enc.encode(&mut prefix[class], false);
    }
    if class > 0 {
        let rest = v1 - (1 << class);
        enc.encode(&mut top[class], rest >> (class - 1) & 1 == 1);
        enc.encode_bypass_bits(rest, class as u32 - 1);
    }
}

/// Reads a value coded by [`encode_value`]: at most MAX_CLASS - 1 prefix
/// decisions and as many bits, whatever the input.
fn decode_value(dec: &mut RangeDecoder, m: &mut [BitModel]) -> u32 {
    let (prefix, top) = m.split_at_mut(MAX_CLASS);
    let mut class = 0;
    while class + 1 < MAX_CLASS && dec.decode(&mut prefix[class]) {
        class += 1;
    }
    if class == 0 {
        return 0;
    }
    let t = dec.decode(&mut top[class]) as u32;
    let low = dec.decode_bypass_bits(class as u32 - 1);
    (1 << class) + (t << (class - 1)) + low - 1
}

/// How many decisions a model's initial probability counts for: it adapts
/// as if it had seen that many already.
const INITIAL_SEEN: u8 = 8;

// Where each group of models sits in a plane's model array.
const DC_ZERO: usize = 0;
const DC_SIGN: usize = DC_ZERO + DC_CONTEXTS;
const DC_VALUE: usize = DC_SIGN + 1;
const COUNT: usize = DC_VALUE + VALUE_MODELS;
const SIGNIFICANT: usize = COUNT + COUNT_BUCKETS * VALUE_MODELS;
const ABOVE_ONE: usize = SIGNIFICANT + SIG_BANDS * REMAINING_BUCKETS;
const LEVEL: usize = ABOVE_ONE + 27;
/// Models of one kind of plane.
pub const PLANE_MODELS: usize = LEVEL + 9 * VALUE_MODELS;

/// The models of one kind of plane (luma, or both chroma planes).
#[derive(Clone)]
pub struct PlaneModels {
    m: [BitModel; PLANE_MODELS],
}

/// Which initial probabilities a plane's models take.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PlaneKind {
    Luma,
    Chroma,
}

impl PlaneModels {
    /// Fresh models for a plane of `kind`.
    pub fn new(kind: PlaneKind) -> Self {
        let table = match kind {
            PlaneKind::Luma => &INITIAL_LUMA,
            PlaneKind::Chroma => &INITIAL_CHROMA,
        };
        let mut m = [BitModel::default(); PLANE_MODELS];
        for (m, &p) in m.iter_mut().zip(table.iter()) {
            *m = BitModel::new((p as u16) << 7, INITIAL_SEEN);
        }
        PlaneModels { m }
    }

    /// Every model (for measuring what the initial probabilities should be).
    pub fn models(&self) -> &[BitModel] {
        &self.m
    }
}

/// The blocks already coded around the current one, in raster order of a
/// plane's blocks: how many non-zero AC levels each had.
pub struct BlockNeighbours {
    /// The count of each block column's last block (the left one, for the
    /// columns before the current one).
    above: Vec<u32>,
    blocks_x: usize,
    bx: usize,
    by: usize,
}

impl BlockNeighbours {
    /// Starts a plane `blocks_x` blocks wide.
    pub fn new(blocks_x: usize) -> Self {
        BlockNeighbours {
            above: vec![0; blocks_x],
            blocks_x,
            bx: 0,
            by: 0,
        }
    }

    /// The count the neighbours suggest.
    fn expected_count(&self) -> Option<u32> {
        let left = (self.bx > 0).then(|| self.above[self.bx - 1]);
        let up = (self.by > 0).then(|| self.above[self.bx]);
        match (left, up) {
            (Some(l), Some(a)) => Some((l + a).div_ceil(2)),
            (Some(n), None) | (None, Some(n)) => Some(n),
            (None, None) => None,
        }
    }

    fn advance(&mut self, count: u32) {
        self.above[self.bx] = count;
        self.bx += 1;
        if self.bx == self.blocks_x {
            self.bx = 0;
            self.by += 1;
        }
    }
}

/// Codes the AC levels of one block (`levels` in zigzag order; the DC at
/// index 0 is coded afterwards by [`encode_dc`]).
pub fn encode_ac(
    enc: &mut RangeEncoder,
    models: &mut PlaneModels,
    nb: &mut BlockNeighbours,
    levels: &[i32; 64],
) {
    let m = &mut models.m;
    let count = levels[1..].iter().filter(|&&v| v != 0).count() as u32;
    let ctx = COUNT + count_bucket(nb.expected_count()) * VALUE_MODELS;
    encode_value(enc, &mut m[ctx..], count);
    let mut remaining = count;
    let mut large = 0;
    for (k, &v) in levels.iter().enumerate().skip(1) {
        if remaining == 0 {
            break;
        }
        // When every position left is non-zero, nothing needs saying.
        if (remaining as usize) < 64 - k {
            let ctx = significance_context(k, remaining);
            enc.encode(&mut m[ctx], v != 0);
        }
        if v == 0 {
            continue;
        }
        remaining -= 1;
        let mag = v.unsigned_abs();
        let ctx = level_context(k, large, count);
        enc.encode(&mut m[ABOVE_ONE + ctx], mag > 1);
        if mag > 1 {
            large += 1;
            encode_value(enc, &mut m[LEVEL + ctx / 3 * VALUE_MODELS..], mag - 2);
        }
        enc.encode_bypass(v < 0);
    }
    nb.advance(count);
}

/// Codes a block's DC level as its difference `residual` from the
/// prediction, whose context (0..DC_CONTEXTS) says how sure it is.
pub fn encode_dc(enc: &mut RangeEncoder, models: &mut PlaneModels, residual: i32, ctx: usize) {
    let m = &mut models.m;
    enc.encode(&mut m[DC_ZERO + ctx], residual != 0);
    if residual != 0 {
        enc.encode(&mut m[DC_SIGN], residual < 0);
        encode_value(enc, &mut m[DC_VALUE..], residual.unsigned_abs() - 1);
    }
}

/// Why a block does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// More non-zero AC levels announced than a block has positions.
    CountTooLarge,
}

/// Reads one block's AC levels (zigzag order) into `levels`, and zero at
/// index 0. Work is bounded: at most 63 positions, each with a bounded
/// number of decisions.
pub fn decode_ac(
    dec: &mut RangeDecoder,
    models: &mut PlaneModels,
    nb: &mut BlockNeighbours,
    levels: &mut [i32; 64],
) -> Result<(), BlockError> {
    *levels = [0; 64];
    let m = &mut models.m;
    let ctx = COUNT + count_bucket(nb.expected_count()) * VALUE_MODELS;
    let count = decode_value(dec, &mut m[ctx..]);
    if count > 63 {
        return Err(BlockError::CountTooLarge);
    }
    let mut remaining = count;
    let mut large = 0;
    for (k, level) in levels.iter_mut().enumerate().skip(1) {
        if remaining == 0 {
            break;
        }
        if (remaining as usize) < 64 - k && !dec.decode(&mut m[significance_context(k, remaining)])
        {
            continue;
        }
        remaining -= 1;
        let ctx = level_context(k, large, count);
        let mut mag = 1;
        if dec.decode(&mut m[ABOVE_ONE + ctx]) {
            large += 1;
            mag = decode_value(dec, &mut m[LEVEL + ctx / 3 * VALUE_MODELS..]) as i32 + 2;
        }
        *level = if dec.decode_bypass() { -mag } else { mag };
    }
    nb.advance(count);
    Ok(())
}

/// Reads a DC residual coded by [`encode_dc`].
pub fn decode_dc(dec: &mut RangeDecoder, models: &mut PlaneModels, ctx: usize) -> i32 {
    let m = &mut models.m;
    if !dec.decode(&mut m[DC_ZERO + ctx]) {
        return 0;
    }
    let negative = dec.decode(&mut m[DC_SIGN]);
    let mag = decode_value(dec, &mut m[DC_VALUE..]) as i32 + 1;
    if negative {
        -mag
    } else {
        mag
    }
}

// Initial probabilities of a 0, in units of 2^-8, measured by
// `codec-probe --train` (see docs/bitstream.md).
#[rustfmt::skip]
const INITIAL_LUMA: [u8; PLANE_MODELS] = [
    140, 96, 73, 25, 69, 98, 125, 111, 132, 145, 150, 149, 151, 153, 152, 158, 128, 128, 128, 128,
    128, 128, 164, 164, 164, 159, 153, 149, 149, 139, 128, 128, 128, 128, 128, 203, 175, 153, 166, 158,
    128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 171, 145, 153, 158, 128, 128, 128, 128, 128, 128,
    128, 128, 128, 99, 196, 171, 166, 160, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 174, 161,
    151, 158, 128, 128, 128, 128, 128, 128, 128, 128, 128, 52, 157, 194, 164, 161, 128, 128, 128, 128,
    128, 128, 128, 128, 128, 128, 130, 177, 155, 159, 128, 128, 128, 128, 128, 128, 128, 128, 128, 28,
    90, 200, 192, 167, 158, 128, 128, 128, 128, 128, 128, 128, 128, 128, 115, 161, 177, 162, 158, 128,
    128, 128, 128, 128, 128, 128, 128, 14, 40, 142, 226, 172, 158, 128, 128, 128, 128, 128, 128, 128,
    128, 128, 116, 123, 192, 169, 158, 128, 128, 128, 128, 128, 128, 128, 128, 7, 15, 59, 217, 208,
    160, 128, 128, 128, 128, 128, 128, 128, 128, 128, 119, 105, 148, 202, 153, 128, 128, 128, 128, 128,
    128, 128, 128, 4, 5, 10, 104, 247, 180, 128, 128, 128, 128, 128, 128, 128, 128, 128, 122, 113,
    76, 221, 173, 128, 128, 128, 128, 128, 128, 128, 128, 3, 3, 4, 15, 200, 247, 128, 128, 128,
    128, 128, 128, 128, 128, 128, 107, 123, 92, 124, 225, 128, 128, 128, 128, 128, 128, 128, 128, 106,
    113, 121, 135, 152, 158, 128, 128, 128, 128, 128, 128, 128, 128, 128, 130, 133, 133, 145, 148, 128,
    128, 128, 128, 128, 128, 128, 128, 147, 96, 87, 69, 52, 30, 10, 127, 110, 94, 65, 44, 27,
    10, 200, 166, 141, 109, 72, 42, 16, 196, 155, 123, 93, 60, 37, 14, 123, 110, 103, 93, 67,
    38, 16, 198, 175, 159, 142, 103, 59, 27, 160, 124, 97, 69, 46, 27, 12, 186, 150, 127, 103,
    77, 48, 25, 209, 195, 176, 150, 114, 80, 45, 178, 145, 119, 95, 70, 52, 31, 188, 168, 151,
    131, 105, 84, 55, 210, 187, 169, 153, 133, 104, 71, 198, 174, 155, 140, 118, 88, 59, 167, 158,
    128, 226, 182, 167, 188, 174, 161, 90, 94, 128, 199, 164, 146, 217, 225, 213, 26, 25, 128, 124,
    86, 74, 208, 207, 173, 129, 152, 175, 185, 180, 158, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    156, 157, 165, 158, 158, 128, 128, 128, 128, 128, 128, 128, 128, 151, 171, 175, 162, 173, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 156, 161, 155, 166, 128, 128, 128, 128, 128, 128, 128, 128,
    128, 152, 152, 163, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 151, 137, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 128, 80, 113, 136, 160, 183, 183, 180, 158, 128, 128, 128,
    128, 128, 128, 128, 153, 158, 158, 164, 181, 186, 141, 128, 128, 128, 128, 128, 128, 130, 159, 173,
    177, 174, 188, 173, 128, 128, 128, 128, 128, 128, 128, 128, 167, 168, 166, 170, 182, 169, 128, 128,
    128, 128, 128, 128, 128, 172, 173, 171, 150, 142, 170, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    164, 161, 155, 150, 130, 128, 128, 128, 128, 128, 128, 128, 128, 28, 50, 79, 105, 124, 139, 164,
    199, 208, 168, 128, 128, 128, 128, 128, 135, 144, 153, 159, 161, 164, 163, 179, 168, 128, 128, 128,
    128, 68, 103, 130, 146, 162, 181, 206, 220, 158, 128, 128, 128, 128, 128, 128, 148, 159, 165, 169,
    174, 181, 194, 158, 128, 128, 128, 128, 128, 131, 155, 172, 189, 211, 218, 178, 128, 128, 128, 128,
    128, 128, 128, 128, 167, 172, 179, 182, 194, 171, 128, 128, 128, 128, 128, 128, 128,
];
#[rustfmt::skip]
const INITIAL_CHROMA: [u8; PLANE_MODELS] = [
    187, 115, 92, 46, 118, 82, 130, 147, 147, 153, 150, 152, 157, 158, 128, 128, 128, 128, 128, 128,
    128, 128, 163, 160, 156, 141, 144, 158, 128, 128, 128, 128, 128, 128, 128, 232, 191, 166, 165, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 173, 157, 165, 128, 128, 128, 128, 128, 128, 128,
    128, 128, 128, 124, 209, 175, 160, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 174, 164,
    154, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 68, 164, 194, 161, 128, 128, 128, 128, 128,
    128, 128, 128, 128, 128, 128, 132, 172, 154, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 31,
    93, 218, 176, 158, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 109, 169, 171, 158, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 18, 42, 185, 211, 166, 128, 128, 128, 128, 128, 128, 128, 128,
    128, 128, 108, 127, 197, 166, 128, 128, 128, 128, 128, 128, 128, 128, 128, 23, 28, 91, 215, 175,
    128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 117, 106, 170, 175, 128, 128, 128, 128, 128, 128,
    128, 128, 128, 49, 49, 65, 175, 172, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 138, 109,
    144, 168, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 144,
    135, 159, 167, 158, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 144, 145, 156, 158, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 152, 106, 92, 65, 45, 42, 64, 88, 83, 74, 52, 41, 47,
    71, 157, 120, 96, 65, 53, 54, 77, 159, 110, 85, 64, 55, 67, 84, 96, 81, 72, 62, 55,
    59, 88, 188, 145, 120, 98, 84, 78, 76, 103, 94, 100, 83, 83, 78, 81, 201, 185, 178, 150,
    131, 119, 140, 206, 186, 167, 147, 133, 116, 98, 229, 209, 189, 179, 164, 129, 128, 225, 205, 195,
    181, 159, 154, 128, 227, 208, 190, 186, 139, 128, 128, 225, 204, 192, 180, 128, 128, 128, 178, 143,
    128, 214, 186, 167, 173, 173, 163, 100, 89, 128, 199, 173, 161, 180, 194, 237, 56, 63, 128, 137,
    92, 93, 198, 222, 235, 140, 164, 178, 174, 166, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    155, 158, 162, 166, 128, 128, 128, 128, 128, 128, 128, 128, 128, 161, 166, 155, 178, 128, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 153, 144, 158, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    128, 158, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 128, 86, 119, 146, 176, 198, 172, 128, 128, 128, 128, 128,
    128, 128, 128, 128, 149, 158, 160, 167, 172, 128, 128, 128, 128, 128, 128, 128, 128, 135, 158, 185,
    190, 167, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 165, 164, 168, 165, 128, 128, 128, 128,
    128, 128, 128, 128, 128, 172, 184, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    184, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 44, 77, 107, 155, 174, 170, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 126, 133, 143, 147, 170, 128, 128, 128, 128, 128, 128, 128,
    128, 83, 124, 151, 185, 176, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 149, 163, 156, 176,
    128, 128, 128, 128, 128, 128, 128, 128, 128, 189, 193, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    128, 128, 128, 128, 169, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
];

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testrng::Lcg;

    /// Blocks shaped like quantised DCT output: a DC, a few low-frequency
    /// levels, rarely a large one; some blocks entirely flat or entirely
    /// full.
    fn blocks(seed: u64, n: usize) -> Vec<[i32; 64]> {
        let mut rng = Lcg(seed);
        (0..n)
            .map(|i| {
                let mut b = [0i32; 64];
                b[0] = (rng.next() % 2049) as i32 - 1024;
                let density = match i % 7 {
                    0 => 0,
                    1 => 64,
                    _ => rng.next() % 20,
                };
                for (k, v) in b.iter_mut().enumerate().skip(1) {
                    if rng.next() % 64 < density.saturating_sub(k as u32 / 4) {
                        let big = rng.next().is_multiple_of(50);
                        let mag = if big {
                            rng.next() % 2048 + 1
                        } else {
                            rng.next() % 3 + 1
                        };
                        *v = if rng.next().is_multiple_of(2) {
                            mag as i32
                        } else {
                            -(mag as i32)
                        };
                    }
                }
                b
            })
            .collect()
    }

    fn encode_all(blocks: &[[i32; 64]], blocks_x: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = RangeEncoder::new(&mut out);
        let mut models = PlaneModels::new(PlaneKind::Luma);
        let mut nb = BlockNeighbours::new(blocks_x);
        for b in blocks {
            encode_ac(&mut enc, &mut models, &mut nb, b);
            encode_dc(&mut enc, &mut models, b[0], (b[0] & 3) as usize);
        }
        enc.finish();
        out
    }

    #[test]
    fn blocks_round_trip() {
        for seed in 0..20 {
            let bs = blocks(seed, 64);
            let data = encode_all(&bs, 8);
            let mut dec = RangeDecoder::new(&data);
            let mut models = PlaneModels::new(PlaneKind::Luma);
            let mut nb = BlockNeighbours::new(8);
            for b in &bs {
                let mut got = [0i32; 64];
                decode_ac(&mut dec, &mut models, &mut nb, &mut got).unwrap();
                got[0] = decode_dc(&mut dec, &mut models, (b[0] & 3) as usize);
                assert_eq!(&got, b);
            }
            assert!(dec.finish());
        }
    }

    /// docs/bitstream.md carries the initial probabilities for whoever
    /// writes a decoder from it; they must be the ones in use.
    #[test]
    fn specification_has_these_tables() {
        let doc = include_str!("../../docs/bitstream.md");
        let appendix = &doc[doc
            .find("## Appendix: initial probabilities of the lossy models")
            .expect("appendix")..];
        let tables: Vec<Vec<u8>> = appendix
            .split("```text")
            .skip(1)
            .map(|block| {
                block[..block.find("```").unwrap()]
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|t| !t.is_empty())
                    .map(|t| t.parse().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0], INITIAL_LUMA.to_vec());
        assert_eq!(tables[1], INITIAL_CHROMA.to_vec());
    }

    /// Whatever the input, a block reads a bounded number of decisions: a
    /// count (at most 27 decisions and bits) and per position at most a zero
    /// flag, a magnitude flag, a value (27) and a sign, and the DC (29).
    /// A decision reads at most two bytes (the range shrinks by at most
    /// 2^-15), a plain bit at most one.
    #[test]
    fn a_block_reads_a_bounded_number_of_bytes() {
        let bound = 4 + 2 * (27 + 63 * 30 + 29);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for round in 0..2000 {
            let data: Vec<u8> = (0..bound * 2)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // mostly 0xff: pushes decisions to their unlikely side
                    if round % 2 == 0 {
                        x as u8
                    } else {
                        x as u8 | 0xf0
                    }
                })
                .collect();
            let mut dec = RangeDecoder::new(&data);
            let mut models = PlaneModels::new(PlaneKind::Luma);
            let mut nb = BlockNeighbours::new(1);
            let mut levels = [0i32; 64];
            if decode_ac(&mut dec, &mut models, &mut nb, &mut levels).is_ok() {
                decode_dc(&mut dec, &mut models, (round % DC_CONTEXTS as u32) as usize);
            }
            assert!(dec.bytes_read() <= bound, "{} > {bound}", dec.bytes_read());
        }
    }

    #[test]
    fn extreme_levels_round_trip() {
        let mut b = [0i32; 64];
        b[0] = -1024;
        for (k, v) in b.iter_mut().enumerate().skip(1) {
            *v = if k % 2 == 0 { 4095 } else { -4095 };
        }
        let mut c = [0i32; 64];
        c[0] = 1024;
        let bs = [b, c, b, b];
        let data = encode_all(&bs, 2);
        let mut dec = RangeDecoder::new(&data);
        let mut models = PlaneModels::new(PlaneKind::Luma);
        let mut nb = BlockNeighbours::new(2);
        for want in &bs {
            let mut got = [0i32; 64];
            decode_ac(&mut dec, &mut models, &mut nb, &mut got).unwrap();
            got[0] = decode_dc(&mut dec, &mut models, (want[0] & 3) as usize);
            assert_eq!(&got, want);
        }
        assert!(dec.finish());
    }
}
