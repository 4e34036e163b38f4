// SPDX-License-Identifier: MPL-2.0
//! Reading and writing the delta bitstream (docs/bitstream.md).
//!
//! A frame is a 14-byte [`FrameHeader`] followed by zero or more records,
//! each self-contained: it names its tile (or, for a move, its run of
//! tiles), its coding and its length, so any subset of a frame's records can
//! be applied on its own.

use super::geometry::{Geometry, GeometryError, PixelFormat};
use thiserror::Error;

/// First two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"SK";
/// The bitstream version this module reads and writes.
pub const VERSION: u8 = 2;
/// Size of [`FrameHeader`] on the wire.
pub const FRAME_HEADER_LEN: usize = 14;
/// Size of a tile record's header on the wire.
pub const RECORD_HEADER_LEN: usize = 8;
/// Largest payload length a record can state (24-bit field).
pub const MAX_RECORD_PAYLOAD: usize = (1 << 24) - 1;
/// Bytes of a move's offset: dx and dy, signed 16-bit.
pub const MOVE_OFFSET_LEN: usize = 4;
/// Most tiles one move record covers (its parameter is the count minus 1).
pub const MAX_MOVE_RUN: u32 = 256;
/// Bytes of a remember record's payload before the coded content: the
/// tile whose shape the content has.
pub const REMEMBER_TILE_LEN: usize = 3;
/// Largest number of entries a stream may announce (`cache-tiles`), and so
/// the bound on a remember record's rank.
pub const MAX_CACHE_TILES: u32 = 1024;
/// What a remember record's index is turned into where records are told
/// apart by one number (RTP fragments): above every tile index.
pub const REMEMBER_KEY_BASE: u32 = 1 << 24;

const FLAG_KEYFRAME: u8 = 0x01;
/// Offset of the flags byte in the frame header.
const FLAGS_OFFSET: usize = 3;
/// Frame header flag: records were lost before this frame reached the one
/// who forwards it (a relay), so the receiver treats it as a loss of its own.
const FLAG_DAMAGED: u8 = 0x02;

/// Why a bitstream is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BitstreamError {
    #[error("truncated: {what} needs {need} bytes, {have} left")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("bad magic {0:02x?}: not a streamkit delta frame")]
    BadMagic([u8; 2]),
    #[error("unsupported bitstream version {0} (this build reads {VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown pixel format code {0}")]
    UnknownFormat(u8),
    #[error("invalid geometry: {0}")]
    Geometry(#[from] GeometryError),
    #[error("frame changes the picture to {width}x{height} without being a keyframe")]
    GeometryChangeWithoutKeyframe { width: u32, height: u32 },
    #[error("frame size {width}x{height} is over the decoder's limit of {max_width}x{max_height}")]
    GeometryOverLimit {
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
    },
    #[error("frame changes the picture to {width}x{height} too soon after the previous change")]
    GeometryChangeTooSoon { width: u32, height: u32 },
    #[error("tile {index} is outside the frame's {count} tiles")]
    TileOutOfRange { index: u32, count: u32 },
    #[error("tile {index} appears more than once in the frame")]
    RepeatedTile { index: u32 },
    #[error("remember record of rank {rank}: a cache holds at most {max} entries")]
    RankOutOfRange { rank: u32, max: u32 },
    #[error("remember record of rank {rank} appears more than once in the frame")]
    RepeatedRank { rank: u32 },
    #[error("tile {index}: recalled content is not in the cache (marked stale)")]
    RecallMiss { index: u32 },
    #[error("unknown tile coding {0}")]
    UnknownCoding(u8),
    #[error("tile {index}: payload of {len} bytes exceeds the bound of {max} for this geometry")]
    PayloadTooLarge { index: u32, len: usize, max: usize },
    #[error("tile {index}: corrupt {coding:?} payload: {reason}")]
    CorruptPayload {
        index: u32,
        coding: TileCoding,
        reason: &'static str,
    },
}

/// How a tile record's payload is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileCoding {
    /// Bit-exact: channels split into planes, left-predicted, zstd.
    Lossless,
    /// 8x8 DCT with quantisation at the record's quality.
    Lossy,
    /// Every sample of each channel has one value: one byte per channel.
    Fill,
    /// A run of tiles copied from the previous picture at an offset.
    Move,
    /// One tile predicted from the previous picture at an offset, plus the
    /// exact difference (zstd).
    MoveResidual,
    /// Bit-exact: a table of at most 256 colours and one index a pixel
    /// (zstd); packed formats only.
    Palette,
    /// One tile: the decoder's cache entry with the payload's hash.
    Recall,
    /// No tile: a content put into the decoder's cache (snapshots); the
    /// record's index is the entry's rank, 0 the newest.
    Remember,
}

impl TileCoding {
    /// Whether the record reads the previous picture (and so is only as
    /// good as what it reads).
    pub fn reads_previous(self) -> bool {
        matches!(self, TileCoding::Move | TileCoding::MoveResidual)
    }

    /// Whether the record replaces its tile whatever the decoder held.
    pub fn is_self_contained(self) -> bool {
        matches!(
            self,
            TileCoding::Lossless | TileCoding::Lossy | TileCoding::Fill | TileCoding::Palette
        )
    }

    /// The coding's number on the wire.
    pub fn code(self) -> u8 {
        match self {
            TileCoding::Lossless => 0,
            TileCoding::Lossy => 1,
            TileCoding::Fill => 2,
            TileCoding::Move => 3,
            TileCoding::MoveResidual => 4,
            TileCoding::Palette => 5,
            TileCoding::Recall => 6,
            TileCoding::Remember => 7,
        }
    }

    /// The coding numbered `code` on the wire, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(TileCoding::Lossless),
            1 => Some(TileCoding::Lossy),
            2 => Some(TileCoding::Fill),
            3 => Some(TileCoding::Move),
            4 => Some(TileCoding::MoveResidual),
            5 => Some(TileCoding::Palette),
            6 => Some(TileCoding::Recall),
            7 => Some(TileCoding::Remember),
            _ => None,
        }
    }
}

/// The fixed header at the start of every frame (and of every RTP packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub geometry: Geometry,
    /// Every tile of the frame is present: a decoder may start here.
    pub keyframe: bool,
    /// Wrapping frame counter set by the encoder.
    pub frame_number: u32,
}

impl FrameHeader {
    /// Appends the header's 14 bytes to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let g = &self.geometry;
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(if self.keyframe { FLAG_KEYFRAME } else { 0 });
        // Geometry::new bounds both dimensions to 8192, so they fit in u16.
        out.extend_from_slice(&(g.width as u16).to_be_bytes());
        out.extend_from_slice(&(g.height as u16).to_be_bytes());
        out.push(g.format.code());
        out.push((g.tile_size / 16) as u8);
        out.extend_from_slice(&self.frame_number.to_be_bytes());
    }

    /// Parses and validates the header at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<Self, BitstreamError> {
        if data.len() < FRAME_HEADER_LEN {
            return Err(BitstreamError::Truncated {
                what: "frame header",
                need: FRAME_HEADER_LEN,
                have: data.len(),
            });
        }
        if data[0..2] != MAGIC {
            return Err(BitstreamError::BadMagic([data[0], data[1]]));
        }
        if data[2] != VERSION {
            return Err(BitstreamError::UnsupportedVersion(data[2]));
        }
        let flags = data[FLAGS_OFFSET];
        let width = u16::from_be_bytes([data[4], data[5]]) as u32;
        let height = u16::from_be_bytes([data[6], data[7]]) as u32;
        let format =
            PixelFormat::from_code(data[8]).ok_or(BitstreamError::UnknownFormat(data[8]))?;
        let tile_size = data[9] as u32 * 16;
        let frame_number = u32::from_be_bytes([data[10], data[11], data[12], data[13]]);
        Ok(FrameHeader {
            geometry: Geometry::new(format, width, height, tile_size)?,
            keyframe: flags & FLAG_KEYFRAME != 0,
            frame_number,
        })
    }
}

/// One record, borrowed from the frame it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRecord<'a> {
    /// Raster index of the (first) tile (row-major over the tile grid); for
    /// [`TileCoding::Remember`], the rank of the cache entry (0 newest).
    pub index: u32,
    pub coding: TileCoding,
    /// Coding parameter: the quality for [`TileCoding::Lossy`], the run
    /// length minus one for [`TileCoding::Move`], else 0.
    pub param: u8,
    pub payload: &'a [u8],
}

impl TileRecord<'_> {
    /// Bytes this record occupies on the wire.
    pub fn wire_len(&self) -> usize {
        RECORD_HEADER_LEN + self.payload.len()
    }

    /// The tiles this record writes: one, a move's run, or none for a
    /// remember record.
    pub fn tiles(&self) -> std::ops::Range<u32> {
        let run = match self.coding {
            TileCoding::Move => self.param as u32 + 1,
            TileCoding::Remember => 0,
            _ => 1,
        };
        self.index..self.index + run
    }

    /// One number per record of a frame: the (first) tile index, or for a
    /// remember record [`REMEMBER_KEY_BASE`] plus its rank.
    pub fn key(&self) -> u32 {
        match self.coding {
            TileCoding::Remember => REMEMBER_KEY_BASE + self.index,
            _ => self.index,
        }
    }

    /// What the record claims in its frame, each at most once per frame:
    /// the tiles it writes, or for a remember record its [`Self::key`].
    pub fn claims(&self) -> std::ops::Range<u32> {
        match self.coding {
            TileCoding::Remember => self.key()..self.key() + 1,
            _ => self.tiles(),
        }
    }

    /// A recall's hash, when the payload is one.
    pub fn recall_hash(&self) -> Option<u64> {
        let bytes: [u8; 8] = self.payload.try_into().ok()?;
        (self.coding == TileCoding::Recall).then(|| u64::from_be_bytes(bytes))
    }

    /// A move's or move residual's offset (dx, dy), when the payload holds one.
    pub fn offset(&self) -> Option<(i32, i32)> {
        if !self.coding.reads_previous() || self.payload.len() < MOVE_OFFSET_LEN {
            return None;
        }
        let p = self.payload;
        Some((
            i16::from_be_bytes([p[0], p[1]]) as i32,
            i16::from_be_bytes([p[2], p[3]]) as i32,
        ))
    }
}

/// Appends a move's offset to a record payload.
pub fn write_offset(out: &mut Vec<u8>, dx: i32, dy: i32) {
    // Offsets come from positions inside an 8192-pixel frame.
    out.extend_from_slice(&(dx as i16).to_be_bytes());
    out.extend_from_slice(&(dy as i16).to_be_bytes());
}

/// Largest payload a well-formed record can carry for `geometry`: lossless
/// data can expand a little under zstd; lossy data stays near a byte per
/// sample even for noise at quality 100 (tested in `lossy`).
pub fn max_payload_len(geometry: &Geometry) -> usize {
    (geometry.max_tile_bytes() * 2 + 1024).min(MAX_RECORD_PAYLOAD)
}

/// Parses the record at the start of `data`; returns it and the bytes it used.
pub fn parse_record<'a>(
    data: &'a [u8],
    geometry: &Geometry,
) -> Result<(TileRecord<'a>, usize), BitstreamError> {
    if data.len() < RECORD_HEADER_LEN {
        return Err(BitstreamError::Truncated {
            what: "tile record header",
            need: RECORD_HEADER_LEN,
            have: data.len(),
        });
    }
    let index = u32::from_be_bytes([0, data[0], data[1], data[2]]);
    let coding = TileCoding::from_code(data[3]).ok_or(BitstreamError::UnknownCoding(data[3]))?;
    if coding == TileCoding::Remember {
        if index >= MAX_CACHE_TILES {
            return Err(BitstreamError::RankOutOfRange {
                rank: index,
                max: MAX_CACHE_TILES,
            });
        }
    } else if index >= geometry.tile_count() {
        return Err(BitstreamError::TileOutOfRange {
            index,
            count: geometry.tile_count(),
        });
    }
    let count = geometry.tile_count();
    let param = data[4];
    if coding == TileCoding::Move && index + param as u32 >= count {
        return Err(BitstreamError::TileOutOfRange {
            index: index + param as u32,
            count,
        });
    }
    let len = u32::from_be_bytes([0, data[5], data[6], data[7]]) as usize;
    let max = max_payload_len(geometry);
    if len > max {
        return Err(BitstreamError::PayloadTooLarge { index, len, max });
    }
    let rest = &data[RECORD_HEADER_LEN..];
    if rest.len() < len {
        return Err(BitstreamError::Truncated {
            what: "tile record payload",
            need: len,
            have: rest.len(),
        });
    }
    Ok((
        TileRecord {
            index,
            coding,
            param,
            payload: &rest[..len],
        },
        RECORD_HEADER_LEN + len,
    ))
}

/// Iterates over the records that follow a frame header.
#[derive(Clone)]
pub struct RecordReader<'a> {
    data: &'a [u8],
    geometry: Geometry,
}

impl<'a> RecordReader<'a> {
    /// Reads records from `data` (the bytes after the frame header).
    pub fn new(data: &'a [u8], geometry: Geometry) -> Self {
        RecordReader { data, geometry }
    }
}

impl<'a> Iterator for RecordReader<'a> {
    type Item = Result<TileRecord<'a>, BitstreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        match parse_record(self.data, &self.geometry) {
            Ok((record, used)) => {
                self.data = &self.data[used..];
                Some(Ok(record))
            }
            Err(e) => {
                // A record's length cannot be trusted past an error: stop.
                self.data = &[];
                Some(Err(e))
            }
        }
    }
}

/// Sets the frame's damaged flag: whoever forwards a frame that lost records
/// on its way (a relay) marks it so, and a decoder then holds every tile as
/// possibly stale, as after a loss of its own. Does nothing to data too short
/// to hold a frame header.
pub fn mark_damaged(frame: &mut [u8]) {
    if frame.len() >= FRAME_HEADER_LEN {
        frame[FLAGS_OFFSET] |= FLAG_DAMAGED;
    }
}

/// Whether the frame carries the damaged flag ([`mark_damaged`]).
pub fn is_damaged(frame: &[u8]) -> bool {
    frame.len() >= FRAME_HEADER_LEN && frame[FLAGS_OFFSET] & FLAG_DAMAGED != 0
}

/// Parses a whole frame: its header and an iterator over its records.
pub fn parse_frame(data: &[u8]) -> Result<(FrameHeader, RecordReader<'_>), BitstreamError> {
    let header = FrameHeader::parse(data)?;
    Ok((
        header,
        RecordReader::new(&data[FRAME_HEADER_LEN..], header.geometry),
    ))
}

/// Builds a frame in one growing buffer: header, then records whose payload
/// is written in place and whose length is patched when it is finished.
pub struct FrameWriter {
    out: Vec<u8>,
    open_record: Option<usize>,
}

impl FrameWriter {
    /// Starts a frame with `header`, reserving `capacity` bytes.
    pub fn new(header: &FrameHeader, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity.max(FRAME_HEADER_LEN));
        header.write(&mut out);
        FrameWriter {
            out,
            open_record: None,
        }
    }

    /// Writes a record header and returns the buffer to append the payload to.
    /// Must be followed by [`FrameWriter::finish_record`].
    pub fn begin_record(&mut self, index: u32, coding: TileCoding, param: u8) -> &mut Vec<u8> {
        debug_assert!(self.open_record.is_none());
        // Geometry bounds the tile count to 512 * 512, well inside 24 bits.
        self.out.extend_from_slice(&index.to_be_bytes()[1..]);
        self.out.push(coding.code());
        self.out.push(param);
        self.out.extend_from_slice(&[0, 0, 0]);
        self.open_record = Some(self.out.len());
        &mut self.out
    }

    /// Patches the open record's length. A payload that does not fit the
    /// 24-bit length field is an encoder bug, reported as an error and the
    /// record removed, so a frame never carries a lying length.
    pub fn finish_record(&mut self) -> Result<(), usize> {
        let Some(start) = self.open_record.take() else {
            return Ok(());
        };
        let len = self.out.len() - start;
        if len > MAX_RECORD_PAYLOAD {
            self.out.truncate(start - RECORD_HEADER_LEN);
            return Err(len);
        }
        self.out[start - 3..start].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
        Ok(())
    }

    /// The finished frame.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> FrameHeader {
        FrameHeader {
            geometry: Geometry::new(PixelFormat::Bgrx, 100, 40, 32).unwrap(),
            keyframe: true,
            frame_number: 7,
        }
    }

    #[test]
    fn round_trip() {
        let h = header();
        let mut w = FrameWriter::new(&h, 64);
        w.begin_record(3, TileCoding::Fill, 0)
            .extend_from_slice(&[1, 2, 3, 4]);
        w.finish_record().unwrap();
        w.begin_record(7, TileCoding::Lossy, 80)
            .extend_from_slice(&[9; 10]);
        w.finish_record().unwrap();
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), FRAME_HEADER_LEN + 2 * RECORD_HEADER_LEN + 14);
        let (parsed, records) = parse_frame(&bytes).unwrap();
        assert_eq!(parsed, h);
        let records: Vec<_> = records.collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].index, 3);
        assert_eq!(records[0].payload, &[1, 2, 3, 4]);
        assert_eq!(records[1].coding, TileCoding::Lossy);
        assert_eq!(records[1].param, 80);
    }

    #[test]
    fn rejects_bad_headers() {
        let mut bytes = Vec::new();
        header().write(&mut bytes);
        assert!(matches!(
            FrameHeader::parse(&bytes[..5]),
            Err(BitstreamError::Truncated { .. })
        ));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(matches!(
            FrameHeader::parse(&bad),
            Err(BitstreamError::BadMagic(_))
        ));
        let mut bad = bytes.clone();
        bad[2] = 9;
        assert_eq!(
            FrameHeader::parse(&bad),
            Err(BitstreamError::UnsupportedVersion(9))
        );
        let mut bad = bytes.clone();
        bad[4..6].copy_from_slice(&60000u16.to_be_bytes());
        assert!(matches!(
            FrameHeader::parse(&bad),
            Err(BitstreamError::Geometry(_))
        ));
        let mut bad = bytes.clone();
        bad[8] = 42;
        assert_eq!(
            FrameHeader::parse(&bad),
            Err(BitstreamError::UnknownFormat(42))
        );
        let mut bad = bytes;
        bad[9] = 0;
        assert!(matches!(
            FrameHeader::parse(&bad),
            Err(BitstreamError::Geometry(_))
        ));
    }

    #[test]
    fn rejects_bad_records() {
        let h = header();
        let g = h.geometry;
        // tile outside the 4x2 grid
        let rec = [0, 0, 8, 0, 0, 0, 0, 0];
        assert_eq!(
            parse_record(&rec, &g).unwrap_err(),
            BitstreamError::TileOutOfRange { index: 8, count: 8 }
        );
        // truncated payload
        let rec = [0, 0, 1, 0, 0, 0, 0, 9, 1, 2];
        assert!(matches!(
            parse_record(&rec, &g).unwrap_err(),
            BitstreamError::Truncated { .. }
        ));
        // unknown coding
        let rec = [0, 0, 1, 77, 0, 0, 0, 0];
        assert_eq!(
            parse_record(&rec, &g).unwrap_err(),
            BitstreamError::UnknownCoding(77)
        );
        // absurd length
        let rec = [0, 0, 1, 0, 0, 0xff, 0xff, 0xff];
        assert!(matches!(
            parse_record(&rec, &g).unwrap_err(),
            BitstreamError::PayloadTooLarge { .. }
        ));
        // the largest length the field can state, on a record at the very
        // end of the data: refused by the bound, never added past the end
        let big = Geometry::new(PixelFormat::Bgrx, 8192, 8192, 256).unwrap();
        let rec = [0, 0, 0, 0, 0, 0xff, 0xff, 0xff];
        assert!(matches!(
            parse_record(&rec, &big).unwrap_err(),
            BitstreamError::PayloadTooLarge { .. }
        ));
        let rec = [0, 0, 0, 0, 0, 0x08, 0x04, 0x00];
        assert!(matches!(
            parse_record(&rec, &big).unwrap_err(),
            BitstreamError::Truncated {
                need: 0x80400,
                have: 0,
                ..
            }
        ));
        // a header alone is a valid empty frame
        let mut bytes = Vec::new();
        h.write(&mut bytes);
        let (_, mut records) = parse_frame(&bytes).unwrap();
        assert!(records.next().is_none());
    }
}
