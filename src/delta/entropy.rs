// SPDX-License-Identifier: MPL-2.0
//! The codec's entropy stage: zstd frames without the optional fields.
//!
//! Records carry small payloads (one tile, a few hundred bytes to a few
//! KiB), so the per-frame overhead matters: the content size, checksum and
//! dictionary id are left out (docs/bitstream.md, "Entropy stage"). The
//! decoder never learns a size from the payload: it decompresses into a
//! buffer sized by the tile, and anything that does not fill it exactly is
//! corrupt.

use zstd::zstd_safe::{CParameter, DCtx};

/// zstd's compression level for tile payloads, chosen by measurement on the
/// screen recordings (docs/bitstream.md, "Entropy stage").
pub const LEVEL: i32 = 3;

/// A reusable zstd compression context.
pub struct Packer {
    ctx: zstd::bulk::Compressor<'static>,
}

impl Default for Packer {
    fn default() -> Self {
        Self::new(LEVEL)
    }
}

impl Packer {
    /// A context compressing at `level`.
    pub fn new(level: i32) -> Self {
        let mut ctx = zstd::bulk::Compressor::new(level).expect("zstd context");
        // Every tile is decoded into a buffer of known size: the frame
        // header needs none of these.
        for p in [
            CParameter::ContentSizeFlag(false),
            CParameter::ChecksumFlag(false),
            CParameter::DictIdFlag(false),
        ] {
            // Accepted by every zstd this crate builds with.
            let _ = ctx.set_parameter(p);
        }
        Packer { ctx }
    }

    /// Appends the compressed form of `data` to `out`.
    pub fn pack(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + zstd::zstd_safe::compress_bound(data.len()), 0);
        // The buffer has zstd's own worst case: this cannot run out of room.
        let written = self
            .ctx
            .compress_to_buffer(data, &mut out[start..])
            .unwrap_or(0);
        out.truncate(start + written);
    }
}

/// A reusable zstd decompression context.
pub struct Unpacker {
    ctx: DCtx<'static>,
}

impl Default for Unpacker {
    fn default() -> Self {
        Unpacker {
            ctx: DCtx::create(),
        }
    }
}

/// Why a payload did not unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpackError {
    /// Not a zstd frame, or one that would overrun the buffer.
    Corrupt,
    /// A valid frame of fewer bytes than the buffer holds.
    Short,
    /// Bytes left after the frame.
    Trailing,
}

impl Unpacker {
    /// Decompresses one frame from `payload` into exactly `out`.
    pub fn unpack_exact(&mut self, payload: &[u8], out: &mut [u8]) -> Result<(), UnpackError> {
        // One frame, and only one: the frame must fill `out` and end with
        // the payload. zstd stops at the buffer's end, so no untrusted size
        // ever reaches an allocation.
        let frame_len = zstd::zstd_safe::find_frame_compressed_size(payload)
            .map_err(|_| UnpackError::Corrupt)?;
        if frame_len != payload.len() {
            return Err(UnpackError::Trailing);
        }
        let n = self
            .ctx
            .decompress(out, payload)
            .map_err(|_| UnpackError::Corrupt)?;
        if n != out.len() {
            return Err(UnpackError::Short);
        }
        Ok(())
    }
}

impl UnpackError {
    /// What a corrupt-payload error says of a tile payload that did not
    /// unpack.
    pub fn reason(self) -> &'static str {
        match self {
            UnpackError::Corrupt => "zstd frame does not decode within the tile's size",
            UnpackError::Short => "zstd frame decodes to fewer samples than the tile holds",
            UnpackError::Trailing => "bytes after the zstd frame",
        }
    }
}

/// Scratch buffers and entropy contexts reused from tile to tile: the
/// buffer a coding fills before it is packed (or unpacks into), and the
/// zstd contexts.
#[derive(Default)]
pub struct LosslessScratch {
    residual: Vec<u8>,
    /// Made on first use: a decoder never packs.
    packer: Option<Packer>,
    unpacker: Unpacker,
}

impl LosslessScratch {
    /// Appends `data` compressed by the entropy stage to `out`.
    pub(crate) fn pack(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.packer
            .get_or_insert_with(Packer::default)
            .pack(data, out);
    }

    /// Decompresses `payload` into exactly `out`.
    pub(crate) fn unpack(&mut self, payload: &[u8], out: &mut [u8]) -> Result<(), UnpackError> {
        self.unpacker.unpack_exact(payload, out)
    }

    /// Appends to `out` the compressed form of what `fill` writes into the
    /// (emptied) scratch buffer.
    pub(crate) fn pack_with(&mut self, out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
        self.residual.clear();
        fill(&mut self.residual);
        self.packer
            .get_or_insert_with(Packer::default)
            .pack(&self.residual, out);
    }

    /// Decompresses `payload` into the scratch buffer, which it must fill
    /// to exactly `len` bytes, and returns that buffer.
    pub(crate) fn unpack_to_len(
        &mut self,
        payload: &[u8],
        len: usize,
    ) -> Result<&[u8], UnpackError> {
        self.residual.resize(len, 0);
        self.unpacker.unpack_exact(payload, &mut self.residual)?;
        Ok(&self.residual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_exact_size() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 13) as u8).collect();
        let mut packed = Vec::new();
        let mut p = Packer::default();
        p.pack(&data, &mut packed);
        assert!(packed.len() < data.len() / 10, "{} bytes", packed.len());
        let mut u = Unpacker::default();
        let mut out = vec![0u8; data.len()];
        u.unpack_exact(&packed, &mut out).unwrap();
        assert_eq!(out, data);
        // too small a buffer, too large a buffer, trailing bytes, garbage
        let mut small = vec![0u8; data.len() - 1];
        assert_eq!(
            u.unpack_exact(&packed, &mut small),
            Err(UnpackError::Corrupt)
        );
        let mut large = vec![0u8; data.len() + 1];
        assert_eq!(u.unpack_exact(&packed, &mut large), Err(UnpackError::Short));
        let mut trailing = packed.clone();
        trailing.push(0);
        assert_eq!(
            u.unpack_exact(&trailing, &mut out),
            Err(UnpackError::Trailing)
        );
        assert_eq!(
            u.unpack_exact(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3], &mut out),
            Err(UnpackError::Corrupt)
        );
        assert!(u
            .unpack_exact(&packed[..packed.len() - 1], &mut out)
            .is_err());
        assert!(u.unpack_exact(&[], &mut out).is_err());
    }

    #[test]
    fn leaves_out_optional_fields() {
        let mut packed = Vec::new();
        Packer::default().pack(&[0u8; 4096], &mut packed);
        // After the 4-byte magic, the frame header descriptor: no content
        // size, no checksum, no dictionary id (RFC 8878, 3.1.1.1.1).
        assert_eq!(&packed[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        assert_eq!(packed[4], 0, "{packed:02x?}");
        assert!(packed.len() <= 20, "{} bytes: {packed:02x?}", packed.len());
    }
}
