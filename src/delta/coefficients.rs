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

/// Models of a non-negative value coded as its magnitude class
/// `c = floor(log2(v + 1))` in unary (one model per unary position), then
/// the `c` bits below the leading one of `v + 1`: the first modelled per
/// class, the rest at probability one half.
#[derive(Clone, Copy)]
struct ValueModels {
    prefix: [BitModel; MAX_CLASS],
    top: [BitModel; MAX_CLASS],
}

impl ValueModels {
    fn new(prefix_p0: &[u16; MAX_CLASS]) -> Self {
        let mut prefix = [BitModel::default(); MAX_CLASS];
        for (m, &p) in prefix.iter_mut().zip(prefix_p0) {
            *m = BitModel::new(p, INITIAL_SEEN);
        }
        ValueModels {
            prefix,
            top: [BitModel::default(); MAX_CLASS],
        }
    }

    fn encode(&mut self, enc: &mut RangeEncoder, v: u32) {
        let v1 = v + 1;
        let class = (31 - v1.leading_zeros()) as usize;
        debug_assert!(class < MAX_CLASS, "value {v} beyond the largest class");
        for m in &mut self.prefix[..class] {
            enc.encode(m, true);
        }
        if class + 1 < MAX_CLASS {
            enc.encode(&mut self.prefix[class], false);
        }
        if class > 0 {
            let rest = v1 - (1 << class);
            enc.encode(&mut self.top[class], rest >> (class - 1) & 1 == 1);
            enc.encode_bypass_bits(rest, class as u32 - 1);
        }
    }

    /// Reads a value; at most MAX_CLASS - 1 prefix decisions and as many
    /// bits, whatever the input.
    fn decode(&mut self, dec: &mut RangeDecoder) -> u32 {
        let mut class = 0;
        while class + 1 < MAX_CLASS && dec.decode(&mut self.prefix[class]) {
            class += 1;
        }
        if class == 0 {
            return 0;
        }
        let top = dec.decode(&mut self.top[class]) as u32;
        let low = dec.decode_bypass_bits(class as u32 - 1);
        (1 << class) + (top << (class - 1)) + low - 1
    }
}

/// How many decisions a model's initial probability counts for: it adapts
/// as if it had seen that many already.
const INITIAL_SEEN: u8 = 6;

/// The models of one kind of plane (luma, or both chroma planes).
#[derive(Clone)]
pub struct PlaneModels {
    dc_zero: [BitModel; DC_BUCKETS],
    dc_sign: BitModel,
    dc_value: ValueModels,
    count: [ValueModels; COUNT_BUCKETS],
    significant: [[BitModel; REMAINING_BUCKETS]; SIG_BANDS],
    above_one: [BitModel; 9],
    level: [ValueModels; 3],
}

/// Which initial probabilities a plane's models take.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PlaneKind {
    Luma,
    Chroma,
}

impl PlaneModels {
    /// Fresh models for a plane of `kind`.
    pub fn new(_kind: PlaneKind) -> Self {
        let flat = [1u16 << 14; MAX_CLASS];
        PlaneModels {
            dc_zero: [BitModel::default(); DC_BUCKETS],
            dc_sign: BitModel::default(),
            dc_value: ValueModels::new(&flat),
            count: [ValueModels::new(&flat); COUNT_BUCKETS],
            significant: [[BitModel::default(); REMAINING_BUCKETS]; SIG_BANDS],
            above_one: [BitModel::default(); 9],
            level: [ValueModels::new(&flat); 3],
        }
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
    let (pred, dc_ctx) = nb.dc_prediction();
    let r = levels[0] - pred;
    enc.encode(&mut models.dc_zero[dc_ctx], r != 0);
    if r != 0 {
        enc.encode(&mut models.dc_sign, r < 0);
        models.dc_value.encode(enc, r.unsigned_abs() - 1);
    }
    let count = levels[1..].iter().filter(|&&v| v != 0).count() as u32;
    models.count[count_bucket(nb.expected_count())].encode(enc, count);
    let mut remaining = count;
    let mut large = 0;
    for (k, &v) in levels.iter().enumerate().skip(1) {
        if remaining == 0 {
            break;
        }
        // When every position left is non-zero, nothing needs saying.
        if (remaining as usize) < 64 - k {
            let m = &mut models.significant[SIG_BAND[k] as usize][remaining_bucket(remaining)];
            enc.encode(m, v != 0);
        }
        if v == 0 {
            continue;
        }
        remaining -= 1;
        let mag = v.unsigned_abs();
        let ctx = level_context(k, large);
        enc.encode(&mut models.above_one[ctx], mag > 1);
        if mag > 1 {
            large += 1;
            models.level[ctx / 3].encode(enc, mag - 2);
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
    let (pred, dc_ctx) = nb.dc_prediction();
    let mut dc = pred;
    if dec.decode(&mut models.dc_zero[dc_ctx]) {
        let negative = dec.decode(&mut models.dc_sign);
        let mag = models.dc_value.decode(dec) as i32 + 1;
        dc += if negative { -mag } else { mag };
    }
    if dc.abs() > DC_LEVEL_LIMIT {
        return Err(BlockError::DcOutOfRange);
    }
    levels[0] = dc;
    let count = models.count[count_bucket(nb.expected_count())].decode(dec);
    if count > 63 {
        return Err(BlockError::CountTooLarge);
    }
    let mut remaining = count;
    let mut large = 0;
    for (k, level) in levels.iter_mut().enumerate().skip(1) {
        if remaining == 0 {
            break;
        }
        if (remaining as usize) < 64 - k {
            let m = &mut models.significant[SIG_BAND[k] as usize][remaining_bucket(remaining)];
            if !dec.decode(m) {
                continue;
            }
        }
        remaining -= 1;
        let ctx = level_context(k, large);
        let mut mag = 1;
        if dec.decode(&mut models.above_one[ctx]) {
            large += 1;
            mag = models.level[ctx / 3].decode(dec) as i32 + 2;
        }
        *level = if dec.decode_bypass() { -mag } else { mag };
    }
    nb.advance(BlockSummary { dc, count });
    Ok(())
}

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
