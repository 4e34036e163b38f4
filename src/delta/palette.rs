// SPDX-License-Identifier: MPL-2.0
//! Palette coding (bitstream coding 5): a tile of at most 256 colours as a
//! colour table and one index a pixel, the indices compressed.
//!
//! Text, terminals and user interfaces draw with few colours: a 64x64 tile
//! of a bitmap font has two, anti-aliased text a few dozen. One byte a pixel
//! instead of four channels of prediction residuals takes about a fifth off
//! such tiles after compression (docs/recordings.md). It applies to packed
//! pictures, where every channel has one sample a pixel.
//!
//! The table goes into the same zstd frame as the indices, sorted and as
//! differences from the entry before (record parameter
//! [`SORTED_TABLE`]): anti-aliased text blends two colours, so a sorted
//! table of 150 such colours is a run of small steps. Raw (parameter
//! [`RAW_TABLE`], still read), that many colours took 600 bytes, about what
//! the tile's compressed indices took, on the browser recording.

use super::bitstream::{BitstreamError, TileCoding};
use super::entropy::LosslessScratch;
use super::samples::TileSamples;
use super::tile::encode_lossless;

/// Most colours a palette holds: indices are one byte.
pub const MAX_COLOURS: usize = 256;

/// Record parameter of the first layout: `n - 1`, the raw table, then the
/// indices alone compressed.
pub const RAW_TABLE: u8 = 0;
/// Record parameter of the layout the encoder writes: `n - 1`, then one
/// compressed frame of the table (per channel, each entry's difference from
/// the one before) followed by the indices.
pub const SORTED_TABLE: u8 = 1;

/// Slots of the colour lookup table: a power of two, four times the most
/// colours, so probes stay short.
const SLOTS: usize = 1024;

/// Reusable buffers of the palette coder.
pub struct PaletteScratch {
    /// Open-addressing table: colour -> index + 1 (0: empty).
    slots: Vec<(u32, u16)>,
    colours: Vec<u32>,
    indices: Vec<u8>,
    /// The table's differences and the indices, as compressed together.
    unpacked: Vec<u8>,
    /// Table order: `order[new] = old` index.
    order: Vec<u8>,
    /// A decoded table, four bytes an entry.
    table: Vec<u8>,
    remap: [u8; MAX_COLOURS],
}

impl Default for PaletteScratch {
    fn default() -> Self {
        PaletteScratch {
            slots: vec![(0, 0); SLOTS],
            colours: Vec::with_capacity(MAX_COLOURS),
            indices: Vec::new(),
            unpacked: Vec::new(),
            order: Vec::with_capacity(MAX_COLOURS),
            table: Vec::with_capacity(MAX_COLOURS * 4),
            remap: [0; MAX_COLOURS],
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
    let n = palette.colours.len();
    out.push((n - 1) as u8);
    // Sorted by the colour's bytes read as a number (alpha or padding, red,
    // green, blue): one of the cheapest orders measured, and a plain one.
    palette.order.clear();
    // (n may be 256: count in usize.)
    palette.order.extend((0..n).map(|k| k as u8));
    let colours = &palette.colours;
    palette.order.sort_unstable_by_key(|&k| colours[k as usize]);
    for (new, &old) in palette.order.iter().enumerate() {
        palette.remap[old as usize] = new as u8;
    }
    let unpacked = &mut palette.unpacked;
    unpacked.clear();
    for channel in 0..4 {
        let mut before = 0u8;
        for &k in &palette.order {
            let value = colours[k as usize].to_le_bytes()[channel];
            unpacked.push(value.wrapping_sub(before));
            before = value;
        }
    }
    let remap = &palette.remap;
    unpacked.extend(palette.indices.iter().map(|&k| remap[k as usize]));
    scratch.pack(unpacked, out);
    Some(n)
}

/// Codes `samples` exactly into `out` (which must be empty): as a palette
/// when the tile has at most [`MAX_COLOURS`] colours, else lossless;
/// returns the coding used and the record parameter it needs. With the
/// table in the compressed frame, lossless was smaller for few of those
/// tiles and by little (0.4% of the browser recording's bytes), and trying
/// both cost the encoder 8% of its time there.
pub fn encode_exact(
    samples: &TileSamples,
    scratch: &mut LosslessScratch,
    palette: &mut PaletteScratch,
    out: &mut Vec<u8>,
) -> (TileCoding, u8) {
    if encode(samples, palette, scratch, out).is_some() {
        return (TileCoding::Palette, SORTED_TABLE);
    }
    encode_lossless(samples, scratch, out);
    (TileCoding::Lossless, 0)
}

/// Decodes a palette payload of layout `param` ([`RAW_TABLE`] or
/// [`SORTED_TABLE`]) into `samples` (already laid out for the tile).
pub fn decode(
    samples: &mut TileSamples,
    palette: &mut PaletteScratch,
    scratch: &mut LosslessScratch,
    index: u32,
    param: u8,
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
    let n = samples.dims[0].0 * samples.dims[0].1;
    match param {
        RAW_TABLE => {
            if rest.len() < count * 4 {
                return Err(corrupt("palette table is truncated"));
            }
            let (table, packed) = rest.split_at(count * 4);
            palette.indices.resize(n, 0);
            scratch
                .unpack(packed, &mut palette.indices)
                .map_err(|e| corrupt(e.reason()))?;
            paint(samples, table, &palette.indices).map_err(corrupt)
        }
        SORTED_TABLE => {
            let unpacked = &mut palette.unpacked;
            unpacked.resize(count * 4 + n, 0);
            scratch
                .unpack(rest, unpacked)
                .map_err(|e| corrupt(e.reason()))?;
            let (deltas, indices) = unpacked.split_at(count * 4);
            let table = &mut palette.table;
            table.clear();
            table.resize(count * 4, 0);
            for (c, channel) in deltas.chunks_exact(count).enumerate() {
                let mut value = 0u8;
                for (k, &d) in channel.iter().enumerate() {
                    value = value.wrapping_add(d);
                    table[k * 4 + c] = value;
                }
            }
            paint(samples, table, indices).map_err(corrupt)
        }
        _ => Err(corrupt("unknown palette layout")),
    }
}

/// Writes the colour of each index (`table`: four bytes an entry) into
/// `samples`.
fn paint(samples: &mut TileSamples, table: &[u8], indices: &[u8]) -> Result<(), &'static str> {
    let count = table.len() / 4;
    let [c0, c1, c2, c3] = &mut samples.channels;
    for (i, &k) in indices.iter().enumerate() {
        let k = k as usize;
        if k >= count {
            return Err("index past the palette");
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

    /// A payload of the first layout ([`RAW_TABLE`]) for `s`: the table in
    /// order of first appearance, raw.
    fn raw_payload(s: &TileSamples, scratch: &mut LosslessScratch) -> Vec<u8> {
        let mut table: Vec<[u8; 4]> = Vec::new();
        let mut indices = Vec::new();
        for i in 0..s.channels[0].len() {
            let colour = [0, 1, 2, 3].map(|c| s.channels[c][i]);
            let k = table.iter().position(|&t| t == colour).unwrap_or_else(|| {
                table.push(colour);
                table.len() - 1
            });
            indices.push(k as u8);
        }
        let mut payload = vec![(table.len() - 1) as u8];
        payload.extend(table.iter().flatten());
        scratch.pack(&indices, &mut payload);
        payload
    }

    fn cleared(s: &TileSamples) -> TileSamples {
        let mut d = s.clone();
        for c in d.channels.iter_mut() {
            c.fill(0);
        }
        d
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
            let mut d = cleared(&s);
            decode(
                &mut d,
                &mut palette,
                &mut scratch,
                0,
                SORTED_TABLE,
                &payload,
            )
            .unwrap();
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
    fn the_raw_table_layout_is_still_read() {
        let mut palette = PaletteScratch::default();
        let mut scratch = LosslessScratch::default();
        for colours in [1, 5, 256] {
            let s = tile(colours);
            let payload = raw_payload(&s, &mut scratch);
            let mut d = cleared(&s);
            decode(&mut d, &mut palette, &mut scratch, 0, RAW_TABLE, &payload).unwrap();
            assert_eq!(d.channels, s.channels, "{colours}");
            // and the sorted table is smaller for many colours
            let mut sorted = Vec::new();
            encode(&s, &mut palette, &mut scratch, &mut sorted);
            if colours == 256 {
                assert!(
                    sorted.len() < payload.len() / 2,
                    "{} {}",
                    sorted.len(),
                    payload.len()
                );
            }
        }
    }

    #[test]
    fn corrupt_payloads_are_refused() {
        let mut palette = PaletteScratch::default();
        let mut scratch = LosslessScratch::default();
        let s = tile(5);
        let mut payload = Vec::new();
        assert!(encode(&s, &mut palette, &mut scratch, &mut payload).is_some());
        let raw = raw_payload(&s, &mut scratch);
        let mut d = s.clone();
        // truncated anywhere, an empty payload, a table too short
        for cut in [0, 1, 10, 21, payload.len() - 1] {
            let cut = cut.min(payload.len() - 1);
            assert!(decode(
                &mut d,
                &mut palette,
                &mut scratch,
                0,
                SORTED_TABLE,
                &payload[..cut]
            )
            .is_err());
        }
        for cut in [0, 1, 10, 21, raw.len() - 1] {
            assert!(decode(
                &mut d,
                &mut palette,
                &mut scratch,
                0,
                RAW_TABLE,
                &raw[..cut]
            )
            .is_err());
        }
        // a layout this reader does not know
        assert!(decode(&mut d, &mut palette, &mut scratch, 0, 2, &payload).is_err());
        // an index past a smaller table: claim 2 colours instead of 5
        let mut fewer = vec![1u8];
        fewer.extend_from_slice(&raw[1..9]);
        fewer.extend_from_slice(&raw[21..]);
        assert!(decode(&mut d, &mut palette, &mut scratch, 0, RAW_TABLE, &fewer).is_err());
        // the same in the sorted layout: two entries, an index of 2
        let mut unpacked = vec![0u8; 8];
        unpacked.extend(std::iter::repeat_n(2u8, 64 * 64));
        let mut past = vec![1u8];
        scratch.pack(&unpacked, &mut past);
        assert!(decode(&mut d, &mut palette, &mut scratch, 0, SORTED_TABLE, &past).is_err());
        // planar tiles have no palette coding
        let g = Geometry::new(PixelFormat::I420, 64, 64, 64).unwrap();
        let mut planar = TileSamples::default();
        planar.layout(&g, 0);
        assert!(encode(&planar, &mut palette, &mut scratch, &mut Vec::new()).is_none());
        assert!(decode(
            &mut planar,
            &mut palette,
            &mut scratch,
            0,
            SORTED_TABLE,
            &payload
        )
        .is_err());
    }
}
