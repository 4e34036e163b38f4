//! Entropy coding of quantised 8x8 DCT blocks for lossy tiles: binary
//! decisions with context modelling over the range coder.
//!
//! Per block, in this order (docs/bitstream.md, "Coding 1: lossy", is the
//! exact specification):
//! - the DC level, predicted from the left, upper and upper-left blocks of
//!   the same plane (the median predictor of LOCO-I on block DCs), so only a
//!   small correction is coded;
//! - how many AC levels are not zero, in the context of how many the left
//!   and upper blocks had: a flat block costs about one decision, and no
//!   end-of-block marker is needed;
//! - for each zigzag position until that many were found: whether it is
//!   non-zero, in the context of the position and of how many are still to
//!   come; for a non-zero level its magnitude (in the context of the
//!   position and of the larger levels already seen in the block) and sign.
//!
//! Every model starts afresh in every tile (tiles are self-contained), so
//! the number of models is kept small and each starts from a probability
//! measured on camera content rather than from one half.

use super::range_coder::{BitModel, RangeDecoder, RangeEncoder};

/// Largest magnitude class of a coded value: values up to 2^MAX_CLASS - 2.
/// Levels of 8-bit samples stay below 2^12 at any quantiser step.
const MAX_CLASS: usize = 14;
/// DC levels of 8-bit samples lie within ±1024 (level-shifted block mean
/// times 8); a decoded DC level beyond this makes the payload corrupt.
pub const DC_LEVEL_LIMIT: i32 = 2048;

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
/// Buckets of DC activity (how much the neighbours' DCs differ), and one for
/// "fewer than two neighbours".
const DC_BUCKETS: usize = 4;

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
fn level_context(k: usize, large_so_far: u32) -> usize {
    let group = match k {
        1..=2 => 0,
        3..=9 => 1,
        _ => 2,
    };
    group * 3 + large_so_far.min(2) as usize
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
const DC_SIGN: usize = DC_ZERO + DC_BUCKETS;
const DC_VALUE: usize = DC_SIGN + 1;
const COUNT: usize = DC_VALUE + VALUE_MODELS;
const SIGNIFICANT: usize = COUNT + COUNT_BUCKETS * VALUE_MODELS;
const ABOVE_ONE: usize = SIGNIFICANT + SIG_BANDS * REMAINING_BUCKETS;
const LEVEL: usize = ABOVE_ONE + 9;
/// Models of one kind of plane.
pub const PLANE_MODELS: usize = LEVEL + 3 * VALUE_MODELS;

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

/// What the blocks after a block need to know of it.
#[derive(Clone, Copy, Default)]
struct BlockSummary {
    dc: i32,
    count: u32,
}

/// The blocks already coded around the current one, in raster order of a
/// plane's blocks.
pub struct BlockNeighbours {
    above: Vec<BlockSummary>,
    blocks_x: usize,
    bx: usize,
    by: usize,
    /// The block above-left of the current one (the old `above[bx - 1]`).
    above_left: BlockSummary,
}

impl BlockNeighbours {
    /// Starts a plane `blocks_x` blocks wide.
    pub fn new(blocks_x: usize) -> Self {
        BlockNeighbours {
            above: vec![BlockSummary::default(); blocks_x],
            blocks_x,
            bx: 0,
            by: 0,
            above_left: BlockSummary::default(),
        }
    }

    fn left(&self) -> Option<BlockSummary> {
        (self.bx > 0).then(|| self.above[self.bx - 1])
    }

    fn up(&self) -> Option<BlockSummary> {
        (self.by > 0).then(|| self.above[self.bx])
    }

    /// The DC prediction and the DC context.
    fn dc_prediction(&self) -> (i32, usize) {
        match (self.left(), self.up()) {
            (Some(l), Some(a)) => {
                let c = self.above_left.dc;
                let (lo, hi) = (l.dc.min(a.dc), l.dc.max(a.dc));
                let pred = if c >= hi {
                    lo
                } else if c <= lo {
                    hi
                } else {
                    l.dc + a.dc - c
                };
                let activity = (l.dc - c).abs() + (a.dc - c).abs();
                (
                    pred,
                    if activity == 0 {
                        0
                    } else if activity <= 2 {
                        1
                    } else {
                        2
                    },
                )
            }
            (Some(n), None) | (None, Some(n)) => (n.dc, 3),
            (None, None) => (0, 3),
        }
    }

    /// The count the neighbours suggest.
    fn expected_count(&self) -> Option<u32> {
        match (self.left(), self.up()) {
            (Some(l), Some(a)) => Some((l.count + a.count).div_ceil(2)),
            (Some(n), None) | (None, Some(n)) => Some(n.count),
            (None, None) => None,
        }
    }

    fn advance(&mut self, summary: BlockSummary) {
        let next_above_left = self.above[self.bx];
        self.above[self.bx] = summary;
        self.above_left = next_above_left;
        self.bx += 1;
        if self.bx == self.blocks_x {
            self.bx = 0;
            self.by += 1;
            self.above_left = BlockSummary::default();
        }
    }
}

/// Codes one block's levels, in zigzag order.
pub fn encode_block(
    enc: &mut RangeEncoder,
    models: &mut PlaneModels,
    nb: &mut BlockNeighbours,
    levels: &[i32; 64],
) {
    let m = &mut models.m;
    let (pred, dc_ctx) = nb.dc_prediction();
    let r = levels[0] - pred;
    enc.encode(&mut m[DC_ZERO + dc_ctx], r != 0);
    if r != 0 {
        enc.encode(&mut m[DC_SIGN], r < 0);
        encode_value(enc, &mut m[DC_VALUE..], r.unsigned_abs() - 1);
    }
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
        let ctx = level_context(k, large);
        enc.encode(&mut m[ABOVE_ONE + ctx], mag > 1);
        if mag > 1 {
            large += 1;
            encode_value(enc, &mut m[LEVEL + ctx / 3 * VALUE_MODELS..], mag - 2);
        }
        enc.encode_bypass(v < 0);
    }
    nb.advance(BlockSummary {
        dc: levels[0],
        count,
    });
}

/// Why a block does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// More non-zero AC levels announced than a block has positions.
    CountTooLarge,
    /// A DC level no 8-bit block can have.
    DcOutOfRange,
}

/// Reads one block's levels (zigzag order) into `levels`. Work is bounded:
/// at most 63 positions, each with a bounded number of decisions.
pub fn decode_block(
    dec: &mut RangeDecoder,
    models: &mut PlaneModels,
    nb: &mut BlockNeighbours,
    levels: &mut [i32; 64],
) -> Result<(), BlockError> {
    *levels = [0; 64];
    let m = &mut models.m;
    let (pred, dc_ctx) = nb.dc_prediction();
    let mut dc = pred;
    if dec.decode(&mut m[DC_ZERO + dc_ctx]) {
        let negative = dec.decode(&mut m[DC_SIGN]);
        let mag = decode_value(dec, &mut m[DC_VALUE..]) as i32 + 1;
        dc += if negative { -mag } else { mag };
    }
    if dc.abs() > DC_LEVEL_LIMIT {
        return Err(BlockError::DcOutOfRange);
    }
    levels[0] = dc;
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
        let ctx = level_context(k, large);
        let mut mag = 1;
        if dec.decode(&mut m[ABOVE_ONE + ctx]) {
            large += 1;
            mag = decode_value(dec, &mut m[LEVEL + ctx / 3 * VALUE_MODELS..]) as i32 + 2;
        }
        *level = if dec.decode_bypass() { -mag } else { mag };
    }
    nb.advance(BlockSummary { dc, count });
    Ok(())
}

// Initial probabilities of a 0, in units of 2^-8, measured by
// `codec-probe --train` (see docs/bitstream.md).
#[rustfmt::skip]
const INITIAL_LUMA: [u8; PLANE_MODELS] = [
    179, 106, 35, 44, 126, 79, 93, 106, 124, 139, 160, 179, 211, 224, 230, 128, 128, 128, 128, 128,
    158, 159, 162, 166, 170, 173, 180, 193, 230, 128, 128, 128, 128, 207, 197, 182, 220, 213, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 195, 165, 189, 213, 128, 128, 128, 128, 128, 128, 128, 128,
    128, 98, 207, 205, 218, 215, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 182, 192, 184, 211,
    128, 128, 128, 128, 128, 128, 128, 128, 128, 43, 161, 223, 214, 217, 128, 128, 128, 128, 128, 128,
    128, 128, 128, 128, 130, 202, 192, 213, 128, 128, 128, 128, 128, 128, 128, 128, 128, 21, 88, 210,
    238, 224, 213, 128, 128, 128, 128, 128, 128, 128, 128, 128, 112, 167, 214, 211, 213, 128, 128, 128,
    128, 128, 128, 128, 128, 8, 35, 143, 246, 229, 213, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    109, 122, 207, 223, 213, 128, 128, 128, 128, 128, 128, 128, 128, 2, 10, 56, 222, 250, 215, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 108, 97, 150, 241, 198, 128, 128, 128, 128, 128, 128, 128,
    128, 1, 1, 7, 104, 253, 237, 128, 128, 128, 128, 128, 128, 128, 128, 128, 112, 97, 70, 225,
    222, 128, 128, 128, 128, 128, 128, 128, 128, 1, 1, 1, 13, 202, 255, 128, 128, 128, 128, 128,
    128, 128, 128, 128, 76, 113, 58, 124, 232, 128, 128, 128, 128, 128, 128, 128, 128, 67, 88, 108,
    149, 198, 213, 128, 128, 128, 128, 128, 128, 128, 128, 128, 131, 142, 142, 174, 185, 128, 128, 128,
    128, 128, 128, 128, 128, 149, 91, 78, 62, 45, 24, 8, 127, 107, 87, 57, 35, 21, 8, 209,
    174, 144, 107, 67, 37, 14, 203, 160, 122, 88, 53, 31, 12, 123, 107, 96, 88, 60, 32, 13,
    201, 178, 162, 143, 102, 58, 26, 161, 124, 93, 66, 44, 25, 11, 187, 151, 126, 102, 76, 47,
    24, 210, 197, 178, 151, 114, 79, 45, 178, 146, 119, 95, 69, 51, 30, 189, 168, 151, 131, 104,
    84, 54, 210, 188, 169, 153, 133, 104, 71, 198, 175, 155, 140, 118, 88, 57, 92, 52, 128, 214,
    154, 107, 251, 243, 187, 64, 83, 101, 119, 133, 143, 168, 210, 243, 224, 128, 128, 128, 128, 128,
    151, 155, 159, 165, 168, 171, 172, 202, 224, 128, 128, 128, 128, 98, 122, 140, 150, 164, 183, 213,
    247, 213, 128, 128, 128, 128, 128, 128, 156, 163, 167, 171, 177, 186, 215, 213, 128, 128, 128, 128,
    128, 139, 158, 174, 190, 216, 240, 235, 128, 128, 128, 128, 128, 128, 128, 128, 169, 173, 180, 187,
    209, 224, 128, 128, 128, 128, 128, 128, 128,
];
#[rustfmt::skip]
const INITIAL_CHROMA: [u8; PLANE_MODELS] = [
    217, 129, 55, 98, 132, 139, 135, 146, 160, 186, 207, 218, 128, 128, 128, 128, 128, 128, 128, 128,
    168, 170, 170, 170, 175, 218, 128, 128, 128, 128, 128, 128, 128, 236, 231, 220, 222, 128, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 205, 199, 222, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    128, 124, 231, 230, 216, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 189, 207, 199, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 128, 53, 178, 241, 217, 128, 128, 128, 128, 128, 128, 128,
    128, 128, 128, 128, 136, 205, 201, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 17, 89, 237,
    234, 213, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 100, 179, 223, 213, 128, 128, 128, 128,
    128, 128, 128, 128, 128, 3, 31, 193, 248, 223, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    86, 127, 228, 223, 128, 128, 128, 128, 128, 128, 128, 128, 128, 2, 8, 84, 240, 234, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 98, 91, 184, 233, 128, 128, 128, 128, 128, 128, 128, 128,
    128, 6, 7, 33, 205, 231, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 156, 77, 156, 223,
    128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 162, 146, 201,
    224, 213, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 166, 170, 199, 213, 128, 128, 128, 128,
    128, 128, 128, 128, 128, 157, 99, 79, 53, 26, 17, 17, 80, 69, 57, 37, 18, 18, 22, 165,
    118, 84, 50, 31, 21, 28, 166, 105, 69, 45, 29, 34, 35, 88, 67, 48, 36, 23, 16, 35,
    192, 147, 117, 92, 72, 56, 26, 100, 85, 88, 70, 66, 53, 20, 207, 195, 189, 154, 132, 113,
    147, 212, 194, 173, 149, 133, 111, 43, 235, 218, 200, 188, 174, 129, 128, 228, 214, 205, 192, 168,
    168, 128, 230, 217, 205, 197, 137, 128, 128, 227, 213, 203, 196, 128, 128, 128, 153, 91, 128, 223,
    184, 157, 241, 245, 245, 105, 133, 155, 192, 234, 235, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    161, 170, 173, 192, 235, 128, 128, 128, 128, 128, 128, 128, 128, 135, 157, 188, 228, 239, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 170, 177, 190, 237, 128, 128, 128, 128, 128, 128, 128, 128,
    128, 216, 245, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 219, 128, 128, 128,
    128, 128, 128, 128, 128, 128, 128, 128, 128,
];

#[cfg(test)]
mod tests {
    use super::*;

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
    }

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
            encode_block(&mut enc, &mut models, &mut nb, b);
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
                decode_block(&mut dec, &mut models, &mut nb, &mut got).unwrap();
                assert_eq!(&got, b);
            }
            assert!(dec.finish());
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
            decode_block(&mut dec, &mut models, &mut nb, &mut got).unwrap();
            assert_eq!(&got, want);
        }
        assert!(dec.finish());
    }
}
