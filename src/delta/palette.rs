//! Palette coding (bitstream coding 5): a tile of at most 256 colours as a
//! colour table and one index a pixel, the indices compressed.
//!
//! Text, terminals and user interfaces draw with few colours: a 64x64 tile
//! of a bitmap font has two, anti-aliased text a few dozen. One byte a pixel
//! instead of four channels of prediction residuals takes about a fifth off
//! such tiles after compression (docs/recordings.md). It applies to packed
//! pictures, where every channel has one sample a pixel.

use super::bitstream::{BitstreamError, TileCoding};
use super::tile::{LosslessScratch, TileSamples};

/// Most colours a palette holds: indices are one byte.
pub const MAX_COLOURS: usize = 256;

/// Slots of the colour lookup table: a power of two, four times the most
/// colours, so probes stay short.
const SLOTS: usize = 1024;

/// Reusable buffers of the palette coder.
pub struct PaletteScratch {
    /// Open-addressing table: colour -> index + 1 (0: empty).
    slots: Vec<(u32, u16)>,
    colours: Vec<u32>,
    indices: Vec<u8>,
}

impl Default for PaletteScratch {
    fn default() -> Self {
        PaletteScratch {
            slots: vec![(0, 0); SLOTS],
            colours: Vec::with_capacity(MAX_COLOURS),
            indices: Vec::new(),
        }
    }
}

/// Whether `samples` can be palette coded: packed, every channel one sample
/// a pixel.
pub fn applies(samples: &TileSamples) -> bool {
    samples.count == 4 && samples.dims[1..4].iter().all(|d| *d == samples.dims[0])
}

impl PaletteScratch {
    /// The slot where a colour's probe starts.
    fn home(colour: u32) -> usize {
        (colour.wrapping_mul(0x9e37_79b1) >> 22) as usize & (SLOTS - 1)
    }

    /// Builds the palette and indices of `samples`; false when the tile has
    /// more than [`MAX_COLOURS`] colours.
    fn index(&mut self, samples: &TileSamples) -> bool {
        // Empty the slots the last tile used (few), not the whole table.
        for &c in &self.colours {
            let mut slot = Self::home(c);
            while self.slots[slot].1 != 0 {
                self.slots[slot] = (0, 0);
                slot = (slot + 1) & (SLOTS - 1);
            }
        }
        self.colours.clear();
        self.indices.clear();
        let [c0, c1, c2, c3] = &samples.channels;
        let n = samples.dims[0].0 * samples.dims[0].1;
        let mut last: Option<(u32, u8)> = None;
        for i in 0..n {
            let colour = u32::from_le_bytes([c0[i], c1[i], c2[i], c3[i]]);
            if let Some((c, k)) = last {
                if c == colour {
                    self.indices.push(k);
                    continue;
                }
            }
            let mut slot = Self::home(colour);
            let k = loop {
                match self.slots[slot] {
                    (_, 0) => {
                        if self.colours.len() == MAX_COLOURS {
                            return false;
                        }
                        self.colours.push(colour);
                        self.slots[slot] = (colour, self.colours.len() as u16);
                        break (self.colours.len() - 1) as u8;
                    }
                    (c, k) if c == colour => break (k - 1) as u8,
                    _ => slot = (slot + 1) & (SLOTS - 1),
                }
            };
            last = Some((colour, k));
            self.indices.push(k);
        }
        true
    }
}

/// Appends a palette payload for `samples` to `out` and returns the number
/// of colours, or `None` (writing nothing) when the tile does not apply or
/// has too many colours.
pub fn encode(
    samples: &TileSamples,
    palette: &mut PaletteScratch,
    scratch: &mut LosslessScratch,
    out: &mut Vec<u8>,
) -> Option<usize> {
    if !applies(samples) || !palette.index(samples) {
        return None;
    }
    out.push((palette.colours.len() - 1) as u8);
    for c in &palette.colours {
        out.extend_from_slice(&c.to_le_bytes());
    }
    scratch.pack(&palette.indices, out);
    Some(palette.colours.len())
}

/// Decodes a palette payload into `samples` (already laid out for the tile).
pub fn decode(
    samples: &mut TileSamples,
    palette: &mut PaletteScratch,
    scratch: &mut LosslessScratch,
    index: u32,
    payload: &[u8],
) -> Result<(), BitstreamError> {
    let corrupt = |reason| BitstreamError::CorruptPayload {
        index,
        coding: TileCoding::Palette,
        reason,
    };
    if !applies(samples) {
        return Err(corrupt("palette coding needs a packed picture"));
    }
    let (&count, rest) = payload
        .split_first()
        .ok_or(corrupt("empty palette payload"))?;
    let count = count as usize + 1;
    if rest.len() < count * 4 {
        return Err(corrupt("palette table is truncated"));
    }
    let (table, packed) = rest.split_at(count * 4);
    let n = samples.dims[0].0 * samples.dims[0].1;
    palette.indices.resize(n, 0);
    scratch
        .unpack(packed, &mut palette.indices)
        .map_err(|e| corrupt(super::tile::unpack_reason(e)))?;
    let [c0, c1, c2, c3] = &mut samples.channels;
    for (i, &k) in palette.indices.iter().enumerate() {
        let k = k as usize;
        if k >= count {
            return Err(corrupt("index past the palette"));
        }
        let c = &table[k * 4..k * 4 + 4];
        c0[i] = c[0];
        c1[i] = c[1];
        c2[i] = c[2];
        c3[i] = c[3];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::{Geometry, PixelFormat};

    fn tile(colours: u32) -> TileSamples {
        let g = Geometry::new(PixelFormat::Bgrx, 64, 64, 64).unwrap();
        let mut s = TileSamples::default();
        s.layout(&g, 0);
        for i in 0..64 * 64 {
            let c = (i as u32 * 7 + i as u32 / 64) % colours;
            s.channels[0][i] = c as u8;
            s.channels[1][i] = (c >> 8) as u8 ^ 0x55;
            s.channels[2][i] = (c * 3) as u8;
            s.channels[3][i] = 255;
        }
        s
    }

    #[test]
    fn round_trip_up_to_256_colours_and_refuses_more() {
        let mut palette = PaletteScratch::default();
        let mut scratch = LosslessScratch::default();
        for colours in [1, 2, 17, 256] {
            let s = tile(colours);
            let mut payload = Vec::new();
            assert_eq!(
                encode(&s, &mut palette, &mut scratch, &mut payload),
                Some(colours as usize)
            );
            assert_eq!(payload[0] as u32 + 1, colours);
            let mut d = s.clone();
            for c in d.channels.iter_mut() {
                c.fill(0);
            }
            decode(&mut d, &mut palette, &mut scratch, 0, &payload).unwrap();
            assert_eq!(d.channels, s.channels, "{colours}");
        }
        let mut payload = Vec::new();
        assert_eq!(
            encode(&tile(257), &mut palette, &mut scratch, &mut payload),
            None
        );
        assert!(payload.is_empty());
    }

    #[test]
    fn corrupt_payloads_are_refused() {
        let mut palette = PaletteScratch::default();
        let mut scratch = LosslessScratch::default();
        let s = tile(5);
        let mut payload = Vec::new();
        assert!(encode(&s, &mut palette, &mut scratch, &mut payload).is_some());
        let mut d = s.clone();
        // truncated anywhere, an empty payload, a table too short
        for cut in [0, 1, 10, 21, payload.len() - 1] {
            assert!(decode(&mut d, &mut palette, &mut scratch, 0, &payload[..cut]).is_err());
        }
        // an index past a smaller table: claim 2 colours instead of 5
        let mut fewer = vec![1u8];
        fewer.extend_from_slice(&payload[1..9]);
        fewer.extend_from_slice(&payload[21..]);
        assert!(decode(&mut d, &mut palette, &mut scratch, 0, &fewer).is_err());
        // planar tiles have no palette coding
        let g = Geometry::new(PixelFormat::I420, 64, 64, 64).unwrap();
        let mut planar = TileSamples::default();
        planar.layout(&g, 0);
        assert!(encode(&planar, &mut palette, &mut scratch, &mut Vec::new()).is_none());
        assert!(decode(&mut planar, &mut palette, &mut scratch, 0, &payload).is_err());
    }
}
