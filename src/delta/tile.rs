// SPDX-License-Identifier: MPL-2.0
//! The lossless, fill and move-residual codings of one tile's samples
//! ([`TileSamples`]), and the one-channel coding of a lossy record's alpha.

use super::bitstream::write_offset;
use super::bitstream::{BitstreamError, TileCoding};
use super::entropy::{LosslessScratch, UnpackError};
use super::samples::TileSamples;

/// Appends a fill payload: one byte per channel.
pub fn encode_fill(samples: &TileSamples, values: [u8; 4], out: &mut Vec<u8>) {
    out.extend_from_slice(&values[..samples.count]);
}

/// Decodes a fill payload into `samples` (already laid out for the tile).
pub fn decode_fill(
    samples: &mut TileSamples,
    index: u32,
    payload: &[u8],
) -> Result<(), BitstreamError> {
    if payload.len() != samples.count {
        return Err(BitstreamError::CorruptPayload {
            index,
            coding: TileCoding::Fill,
            reason: "fill payload must hold one byte per channel",
        });
    }
    for (channel, &value) in samples.channels.iter_mut().zip(payload) {
        channel.fill(value);
    }
    Ok(())
}

/// The left-prediction residuals of every channel of `samples`, appended
/// to `out`: what a lossless record compresses.
pub fn predicted_residuals(samples: &TileSamples, out: &mut Vec<u8>) {
    for c in 0..samples.count {
        predict(&samples.channels[c], samples.dims[c].0, out);
    }
}

/// Replaces each sample by its difference from the sample to its left (the
/// first of each row from the one above), so flat and gradient areas turn
/// into runs the byte compressor squeezes well.
fn predict(channel: &[u8], w: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + channel.len(), 0);
    let residual = &mut out[start..];
    for (y, (row, res)) in channel
        .chunks_exact(w)
        .zip(residual.chunks_exact_mut(w))
        .enumerate()
    {
        res[0] = row[0].wrapping_sub(if y == 0 { 0 } else { channel[(y - 1) * w] });
        // Written pairwise so the compiler vectorises it.
        for (r, pair) in res[1..].iter_mut().zip(row.windows(2)) {
            *r = pair[1].wrapping_sub(pair[0]);
        }
    }
}

fn unpredict(residual: &[u8], w: usize, channel: &mut [u8]) {
    for y in 0..residual.len() / w {
        let mut prev = if y == 0 { 0 } else { channel[(y - 1) * w] };
        for x in 0..w {
            let s = residual[y * w + x].wrapping_add(prev);
            channel[y * w + x] = s;
            prev = s;
        }
    }
}

/// Appends a lossless payload for `samples` to `out`.
pub fn encode_lossless(samples: &TileSamples, scratch: &mut LosslessScratch, out: &mut Vec<u8>) {
    scratch.pack_with(out, |residual| predicted_residuals(samples, residual));
}

/// Decodes a lossless payload into `samples` (already laid out for the tile).
/// The output size comes from the geometry, never from the payload.
pub fn decode_lossless(
    samples: &mut TileSamples,
    scratch: &mut LosslessScratch,
    index: u32,
    payload: &[u8],
) -> Result<(), BitstreamError> {
    let residual = scratch
        .unpack_to_len(payload, samples.total())
        .map_err(|e| BitstreamError::CorruptPayload {
            index,
            coding: TileCoding::Lossless,
            reason: e.reason(),
        })?;
    let mut offset = 0;
    for c in 0..samples.count {
        let (w, h) = samples.dims[c];
        unpredict(
            &residual[offset..offset + w * h],
            w,
            &mut samples.channels[c],
        );
        offset += w * h;
    }
    Ok(())
}

/// Appends one channel (`w` samples a row), left-predicted as in a lossless
/// record and compressed as one zstd frame: the alpha of a lossy record.
pub fn encode_channel(channel: &[u8], w: usize, scratch: &mut LosslessScratch, out: &mut Vec<u8>) {
    scratch.pack_with(out, |residual| predict(channel, w, residual));
}

/// Decodes what [`encode_channel`] wrote into `channel`, whose size (from
/// the tile) the frame must decompress to exactly.
pub fn decode_channel(
    packed: &[u8],
    w: usize,
    scratch: &mut LosslessScratch,
    channel: &mut [u8],
) -> Result<(), &'static str> {
    let residual = scratch
        .unpack_to_len(packed, channel.len())
        .map_err(UnpackError::reason)?;
    unpredict(residual, w, channel);
    Ok(())
}

/// Appends a move residual's payload: the offset, then the difference of
/// `samples` from `predicted` (sample minus prediction, modulo 256, channel
/// after channel), compressed. Both must be laid out for the same tile.
pub fn encode_residual(
    samples: &TileSamples,
    predicted: &TileSamples,
    dx: i32,
    dy: i32,
    scratch: &mut LosslessScratch,
    out: &mut Vec<u8>,
) {
    write_offset(out, dx, dy);
    scratch.pack_with(out, |residual| {
        for c in 0..samples.count {
            residual.extend(
                samples.channels[c]
                    .iter()
                    .zip(&predicted.channels[c])
                    .map(|(s, p)| s.wrapping_sub(*p)),
            );
        }
    });
}

/// Adds a move residual's differences (the payload after its offset) to
/// `samples`, which hold the prediction.
pub fn apply_residual(
    samples: &mut TileSamples,
    scratch: &mut LosslessScratch,
    index: u32,
    packed: &[u8],
) -> Result<(), BitstreamError> {
    let residual = scratch
        .unpack_to_len(packed, samples.total())
        .map_err(|e| BitstreamError::CorruptPayload {
            index,
            coding: TileCoding::MoveResidual,
            reason: e.reason(),
        })?;
    let mut offset = 0;
    for c in 0..samples.count {
        let n = samples.channels[c].len();
        for (s, r) in samples.channels[c]
            .iter_mut()
            .zip(&residual[offset..offset + n])
        {
            *s = s.wrapping_add(*r);
        }
        offset += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::entropy::Packer;
    use crate::delta::geometry::{Geometry, PixelFormat};

    fn samples_from(g: &Geometry, tile: u32, seed: u32) -> TileSamples {
        let mut s = TileSamples::default();
        s.layout(g, tile);
        let mut v = seed;
        for c in 0..s.count {
            for x in s.channels[c].iter_mut() {
                v = v.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *x = (v >> 24) as u8 & 0xf0;
            }
        }
        s
    }

    #[test]
    fn lossless_round_trip_every_format() {
        for format in PixelFormat::ALL {
            let g = Geometry::new(format, 70, 50, 32).unwrap();
            for tile in 0..g.tile_count() {
                let s = samples_from(&g, tile, tile);
                let mut scratch = LosslessScratch::default();
                let mut payload = Vec::new();
                encode_lossless(&s, &mut scratch, &mut payload);
                let mut d = TileSamples::default();
                d.layout(&g, tile);
                decode_lossless(&mut d, &mut scratch, tile, &payload).unwrap();
                assert_eq!(&d.channels[..d.count], &s.channels[..s.count]);
            }
        }
    }

    #[test]
    fn lossless_rejects_garbage_and_short_data() {
        let g = Geometry::new(PixelFormat::Bgrx, 64, 64, 32).unwrap();
        let s = samples_from(&g, 0, 1);
        let mut scratch = LosslessScratch::default();
        let mut payload = Vec::new();
        encode_lossless(&s, &mut scratch, &mut payload);
        let mut d = TileSamples::default();
        d.layout(&g, 0);
        assert!(decode_lossless(&mut d, &mut scratch, 0, &payload[..payload.len() / 2]).is_err());
        assert!(decode_lossless(&mut d, &mut scratch, 0, &[0xff; 40]).is_err());
        assert!(decode_lossless(&mut d, &mut scratch, 0, &[]).is_err());
        // a valid zstd frame of too few samples
        let mut short = Vec::new();
        Packer::default().pack(&[0u8; 100], &mut short);
        assert!(decode_lossless(&mut d, &mut scratch, 0, &short).is_err());
    }
}
