// SPDX-License-Identifier: MPL-2.0
//! An adaptive binary range coder: the entropy stage of lossy tiles.
//!
//! Each binary decision is coded with a probability that a [`BitModel`]
//! learns from the decisions coded with it so far, so a decision that is
//! nearly always the same costs a small fraction of a bit. Everything is
//! integer arithmetic on fixed widths, so encoder and decoder agree bit for
//! bit on every platform (docs/bitstream.md, "Range coder", is the exact
//! specification).
//!
//! The decoder never fails in the middle of a symbol: bytes past the end of
//! its input read as zero and it keeps going, so the caller's loops stay
//! simple and bounded by the tile's structure, not by the input. Whether the
//! input was well-formed is asked once, at the end ([`RangeDecoder::finish`]).

/// Probabilities are in units of 2^-15.
const PROB_BITS: u32 = 15;
const PROB_ONE: u32 = 1 << PROB_BITS;
/// The range is renormalised (a byte shifted out) when it falls below this.
const TOP: u32 = 1 << 24;
/// The slowest adaptation: a model moves 1/2^MAX_RATE of the way to each new
/// decision once it has seen many.
const MAX_RATE: u32 = 6;
/// Bytes after the end of a payload that a decoder reads as zero: the
/// encoder leaves out the last three bytes of the code value, which it
/// chooses to be zero.
const IMPLIED_ZERO_BYTES: usize = 3;

/// The adaptive probability of one kind of binary decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BitModel {
    /// Probability that the decision is 0, in 1..PROB_ONE.
    p0: u16,
    /// Decisions seen, saturating: young models adapt fast, old ones slowly.
    seen: u8,
}

impl BitModel {
    /// A model that starts at probability `p0 / 2^15` of a 0 and adapts as if
    /// it had already seen `seen` decisions.
    pub const fn new(p0: u16, seen: u8) -> Self {
        let p0 = if p0 == 0 {
            1
        } else if p0 as u32 >= PROB_ONE {
            (PROB_ONE - 1) as u16
        } else {
            p0
        };
        BitModel { p0, seen }
    }

    /// Probability of a 0 in units of 2^-15.
    pub fn p0(&self) -> u16 {
        self.p0
    }

    /// Decisions seen (saturating at 255).
    pub fn seen(&self) -> u8 {
        self.seen
    }

    /// How far a model moves towards each decision: 1/2^rate of the way,
    /// with rate = floor(log2(seen + 2)) capped at MAX_RATE, which follows
    /// the frequency count of the first decisions and then settles.
    #[inline]
    fn update(&mut self, bit: bool) {
        let rate = (31 - (self.seen as u32 + 2).leading_zeros()).min(MAX_RATE);
        self.seen = self.seen.saturating_add(1);
        let p = self.p0 as u32;
        // p stays within 1..PROB_ONE: a shift by at least 1 never reaches
        // either end.
        self.p0 = if bit {
            p - (p >> rate)
        } else {
            p + ((PROB_ONE - p) >> rate)
        } as u16;
    }
}

impl Default for BitModel {
    fn default() -> Self {
        BitModel::new((PROB_ONE / 2) as u16, 0)
    }
}

/// Writes binary decisions into a byte buffer.
pub struct RangeEncoder<'a> {
    out: &'a mut Vec<u8>,
    /// The low end of the interval: 32 bits and a carry (bit 32).
    low: u64,
    range: u32,
    /// The byte waiting to be written (a carry may still change it) and how
    /// many 0xff bytes wait behind it.
    cache: u8,
    pending_ff: usize,
    /// The first byte of the code value is always 0 and is not written.
    started: bool,
}

impl<'a> RangeEncoder<'a> {
    /// An encoder appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        RangeEncoder {
            out,
            low: 0,
            range: u32::MAX,
            cache: 0,
            pending_ff: 0,
            started: false,
        }
    }

    /// Codes `bit` with the probability `model` gives, then adapts `model`.
    #[inline]
    pub fn encode(&mut self, model: &mut BitModel, bit: bool) {
        let bound = (self.range >> PROB_BITS) * model.p0 as u32;
        if bit {
            self.low += bound as u64;
            self.range -= bound;
        } else {
            self.range = bound;
        }
        model.update(bit);
        self.normalise();
    }

    /// Codes `bit` at probability one half, with no model.
    #[inline]
    pub fn encode_bypass(&mut self, bit: bool) {
        self.range >>= 1;
        if bit {
            self.low += self.range as u64;
        }
        self.normalise();
    }

    /// Codes the low `count` bits of `value`, most significant first, each
    /// at probability one half.
    pub fn encode_bypass_bits(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.encode_bypass(value >> i & 1 == 1);
        }
    }

    #[inline]
    fn normalise(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Moves the top byte of `low` out, resolving a carry into the bytes
    /// already waiting.
    fn shift_low(&mut self) {
        if self.low < 0xff00_0000 || self.low >= 1 << 32 {
            let carry = (self.low >> 32) as u8;
            if self.started {
                self.out.push(self.cache.wrapping_add(carry));
            }
            self.started = true;
            for _ in 0..self.pending_ff {
                self.out.push(0xffu8.wrapping_add(carry));
            }
            self.pending_ff = 0;
            self.cache = (self.low >> 24) as u8;
        } else {
            self.pending_ff += 1;
        }
        self.low = (self.low & 0x00ff_ffff) << 8;
    }

    /// Ends the code: picks the value in the final interval whose low three
    /// bytes are zero (the range is at least 2^24, so there is one), and
    /// writes it without those bytes, which the decoder implies.
    pub fn finish(mut self) {
        self.low = (self.low + 0x00ff_ffff) & !0x00ff_ffff;
        self.shift_low();
        self.shift_low();
    }
}

/// Reads binary decisions back; see the module documentation for how it
/// treats malformed input.
pub struct RangeDecoder<'a> {
    data: &'a [u8],
    /// Bytes read so far, counting those past the end.
    pos: usize,
    code: u32,
    range: u32,
}

impl<'a> RangeDecoder<'a> {
    /// A decoder of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        let mut d = RangeDecoder {
            data,
            pos: 0,
            code: 0,
            range: u32::MAX,
        };
        for _ in 0..4 {
            d.code = d.code << 8 | d.next_byte() as u32;
        }
        d
    }

    #[inline]
    fn next_byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// Reads a decision coded with `model`, then adapts `model`.
    #[inline]
    pub fn decode(&mut self, model: &mut BitModel) -> bool {
        let bound = (self.range >> PROB_BITS) * model.p0 as u32;
        let bit = self.code >= bound;
        if bit {
            self.code -= bound;
            self.range -= bound;
        } else {
            self.range = bound;
        }
        model.update(bit);
        self.normalise();
        bit
    }

    /// Reads a decision coded at probability one half.
    #[inline]
    pub fn decode_bypass(&mut self) -> bool {
        self.range >>= 1;
        let bit = self.code >= self.range;
        if bit {
            self.code -= self.range;
        }
        self.normalise();
        bit
    }

    /// Reads `count` bits coded by [`RangeEncoder::encode_bypass_bits`].
    pub fn decode_bypass_bits(&mut self, count: u32) -> u32 {
        let mut v = 0;
        for _ in 0..count {
            v = v << 1 | self.decode_bypass() as u32;
        }
        v
    }

    #[inline]
    fn normalise(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.code = self.code << 8 | self.next_byte() as u32;
        }
    }

    /// Bytes read so far, counting those past the end of the input.
    pub fn bytes_read(&self) -> usize {
        self.pos
    }

    /// Whether the input was exactly one well-formed code: every byte of it
    /// read, no byte read beyond the three implied zeros, and the code value
    /// inside the final interval (always so for what an encoder wrote).
    pub fn finish(&self) -> bool {
        self.pos == self.data.len() + IMPLIED_ZERO_BYTES && self.code < self.range
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testrng::Lcg;

    /// A mix of skewed modelled decisions and bypass bits.
    fn script(seed: u64, len: usize) -> Vec<(usize, bool, bool)> {
        let mut rng = Lcg(seed);
        (0..len)
            .map(|_| {
                let model = (rng.next() % 4) as usize;
                let bypass = rng.next().is_multiple_of(5);
                // model i is 1 with probability about i/8
                let bit = rng.next() % 8 < model as u32 * 2;
                (model, bypass, bit)
            })
            .collect()
    }

    fn encode_script(s: &[(usize, bool, bool)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut models = [BitModel::default(); 4];
        let mut enc = RangeEncoder::new(&mut out);
        for &(m, bypass, bit) in s {
            if bypass {
                enc.encode_bypass(bit);
            } else {
                enc.encode(&mut models[m], bit);
            }
        }
        enc.finish();
        out
    }

    fn decode_script(s: &[(usize, bool, bool)], data: &[u8]) -> (Vec<bool>, bool) {
        let mut models = [BitModel::default(); 4];
        let mut dec = RangeDecoder::new(data);
        let bits = s
            .iter()
            .map(|&(m, bypass, _)| {
                if bypass {
                    dec.decode_bypass()
                } else {
                    dec.decode(&mut models[m])
                }
            })
            .collect();
        (bits, dec.finish())
    }

    #[test]
    fn round_trips_and_reads_exactly_its_input() {
        for seed in 0..200 {
            let s = script(seed, (seed as usize * 37) % 3000);
            let data = encode_script(&s);
            let (bits, ok) = decode_script(&s, &data);
            assert!(ok, "seed {seed}: decoder did not end exactly at the end");
            assert!(bits.iter().zip(&s).all(|(b, (_, _, want))| b == want));
        }
    }

    #[test]
    fn carries_propagate_through_runs_of_ff() {
        // Near-certain decisions coded as the unlikely outcome push `low` up
        // against the top of the range, the case where carries ripple.
        for seed in 0..50 {
            let mut rng = Lcg(seed);
            let s: Vec<(usize, bool, bool)> = (0..5000)
                .map(|_| (0, false, !rng.next().is_multiple_of(64)))
                .collect();
            let mut out = Vec::new();
            let mut enc = RangeEncoder::new(&mut out);
            let mut m = BitModel::new(32000, 255);
            for &(_, _, bit) in &s {
                // a model that stays wrong: re-made each time
                m = BitModel::new(m.p0().max(30000), 255);
                enc.encode(&mut m, bit);
            }
            enc.finish();
            let mut dec = RangeDecoder::new(&out);
            let mut m = BitModel::new(32000, 255);
            for &(_, _, bit) in &s {
                m = BitModel::new(m.p0().max(30000), 255);
                assert_eq!(dec.decode(&mut m), bit);
            }
            assert!(dec.finish());
        }
    }

    #[test]
    fn skewed_decisions_cost_little() {
        let mut out = Vec::new();
        let mut enc = RangeEncoder::new(&mut out);
        let mut m = BitModel::default();
        let mut rng = Lcg(5);
        for _ in 0..80_000 {
            enc.encode(&mut m, rng.next().is_multiple_of(100));
        }
        enc.finish();
        // entropy of p = 0.01 is 0.081 bits: 810 bytes
        assert!(out.len() < 1000, "{} bytes", out.len());
    }

    #[test]
    fn truncated_or_extended_input_is_detected() {
        // Cutting bytes changes the last decisions, which can change how many
        // bytes the decoder reads: the length check catches nearly all cuts,
        // not every one (the tile's structure catches more).
        let (mut cuts, mut caught) = (0, 0);
        for seed in 0..300 {
            let s = script(seed, 500 + seed as usize);
            let data = encode_script(&s);
            for cut in 1..8 {
                let (_, ok) = decode_script(&s, &data[..data.len() - cut]);
                cuts += 1;
                caught += !ok as usize;
            }
            let mut longer = data.clone();
            longer.push(0);
            assert!(!decode_script(&s, &longer).1);
        }
        eprintln!("{caught} of {cuts}");
        assert!(caught * 100 >= cuts * 95, "{caught} of {cuts} cuts caught");
    }

    #[test]
    fn garbage_decodes_without_panicking() {
        let mut rng = Lcg(9);
        for len in 0..300 {
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut models = [BitModel::default(); 3];
            let mut dec = RangeDecoder::new(&data);
            for i in 0..2000 {
                if i % 7 == 0 {
                    dec.decode_bypass_bits(5);
                } else {
                    dec.decode(&mut models[i % 3]);
                }
            }
            let _ = dec.finish();
        }
        for data in [vec![0xffu8; 64], vec![0u8; 64], vec![]] {
            let mut dec = RangeDecoder::new(&data);
            let mut m = BitModel::default();
            for _ in 0..1000 {
                dec.decode(&mut m);
            }
            assert!(!dec.finish());
        }
    }

    #[test]
    fn models_stay_inside_their_range() {
        let mut m = BitModel::new(0, 0);
        assert_eq!(m.p0(), 1);
        for _ in 0..1000 {
            m.update(true);
        }
        assert!(m.p0() >= 1);
        let mut m = BitModel::new(u16::MAX, 0);
        assert_eq!(m.p0() as u32, PROB_ONE - 1);
        for _ in 0..1000 {
            m.update(false);
        }
        assert!((m.p0() as u32) < PROB_ONE);
    }
}
