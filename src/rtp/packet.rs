// SPDX-License-Identifier: MPL-2.0
//! Payload and fragment headers, and cutting a frame into payloads.

use crate::delta::bitstream::{
    max_payload_len, parse_frame, BitstreamError, FrameHeader, FRAME_HEADER_LEN, MAX_CACHE_TILES,
    RECORD_HEADER_LEN, REMEMBER_KEY_BASE,
};
use crate::delta::Geometry;
use thiserror::Error;

/// Version carried in the first byte of every payload.
pub const PAYLOAD_VERSION: u8 = 2;
/// Size of [`PayloadHeader`] on the wire.
pub const PAYLOAD_HEADER_LEN: usize = 4;
/// Size of [`FragmentHeader`] on the wire.
pub const FRAGMENT_HEADER_LEN: usize = 12;
/// Smallest payload budget [`packetize`] accepts: the headers of a fragment
/// packet plus enough room that a record is not cut into absurdly many
/// pieces.
pub const MIN_PAYLOAD_BUDGET: usize =
    PAYLOAD_HEADER_LEN + FRAME_HEADER_LEN + FRAGMENT_HEADER_LEN + 16;

const KIND_RECORDS: u8 = 0;
const KIND_FRAGMENT: u8 = 1;

/// What follows the frame header in a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// Zero or more whole tile records.
    Records,
    /// A [`FragmentHeader`] and one piece of a single tile record.
    Fragment,
}

/// The 4 bytes at the start of every payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadHeader {
    pub kind: PayloadKind,
    /// Position of this packet within its frame, from 0; the packet with the
    /// RTP marker bit is the last, so the receiver knows how many to expect.
    pub packet_index: u16,
}

impl PayloadHeader {
    /// Appends the header's bytes to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(PAYLOAD_VERSION);
        out.push(match self.kind {
            PayloadKind::Records => KIND_RECORDS,
            PayloadKind::Fragment => KIND_FRAGMENT,
        });
        out.extend_from_slice(&self.packet_index.to_be_bytes());
    }

    /// Parses the header at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<Self, DepacketizeError> {
        if data.len() < PAYLOAD_HEADER_LEN + FRAME_HEADER_LEN {
            return Err(DepacketizeError::TooShort(data.len()));
        }
        if data[0] != PAYLOAD_VERSION {
            return Err(DepacketizeError::UnsupportedVersion(data[0]));
        }
        let kind = match data[1] {
            KIND_RECORDS => PayloadKind::Records,
            KIND_FRAGMENT => PayloadKind::Fragment,
            other => return Err(DepacketizeError::UnknownKind(other)),
        };
        Ok(PayloadHeader {
            kind,
            packet_index: u16::from_be_bytes([data[2], data[3]]),
        })
    }
}

/// The 12 bytes after the frame header of a fragment payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader {
    /// Key of the record this piece belongs to ([`TileRecord::key`]): its
    /// tile, also inside the record's own header, which only the first piece
    /// carries; for a remember record [`REMEMBER_KEY_BASE`] plus its rank.
    ///
    /// [`TileRecord::key`]: crate::delta::TileRecord::key
    pub tile_index: u32,
    /// Length of the whole record on the wire, its 8-byte header included.
    pub record_len: u32,
    /// Where this piece starts within the record.
    pub offset: u32,
}

impl FragmentHeader {
    /// Appends the header's bytes to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.tile_index.to_be_bytes());
        out.extend_from_slice(&self.record_len.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
    }

    /// Parses and checks a fragment header against the frame's geometry,
    /// given the length of the piece that follows it.
    pub fn parse(
        data: &[u8],
        header: &FrameHeader,
        piece_len: usize,
    ) -> Result<Self, DepacketizeError> {
        if data.len() < FRAGMENT_HEADER_LEN {
            return Err(DepacketizeError::TooShort(data.len()));
        }
        let word = |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let frag = FragmentHeader {
            tile_index: word(0),
            record_len: word(4),
            offset: word(8),
        };
        let count = header.geometry.tile_count();
        // A remember record's key lies past every tile (its rank).
        let remember = frag
            .tile_index
            .checked_sub(REMEMBER_KEY_BASE)
            .is_some_and(|rank| rank < MAX_CACHE_TILES);
        if frag.tile_index >= count && !remember {
            return Err(DepacketizeError::Bitstream(
                BitstreamError::TileOutOfRange {
                    index: frag.tile_index,
                    count,
                },
            ));
        }
        let max = RECORD_HEADER_LEN.saturating_add(max_payload_len(&header.geometry));
        let fits = piece_end(frag.offset, piece_len).is_some_and(|end| end <= frag.record_len);
        let record_len = usize::try_from(frag.record_len).unwrap_or(usize::MAX);
        if record_len < RECORD_HEADER_LEN || record_len > max || piece_len == 0 || !fits {
            return Err(DepacketizeError::FragmentOutOfRange {
                tile: frag.tile_index,
                offset: frag.offset,
                len: piece_len,
                record_len: frag.record_len,
            });
        }
        Ok(frag)
    }
}

/// Where a piece of `len` bytes starting at `offset` of a record ends, or
/// `None` if that is past `u32::MAX`. Both come off the wire: the sum is
/// taken in `u32` so that it cannot wrap, whatever the width of `usize`.
pub(crate) fn piece_end(offset: u32, len: usize) -> Option<u32> {
    offset.checked_add(u32::try_from(len).ok()?)
}

/// Why a frame cannot be cut into payloads.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PacketizeError {
    #[error(
        "payload budget of {0} bytes is below the minimum of {MIN_PAYLOAD_BUDGET}: raise the mtu"
    )]
    BudgetTooSmall(usize),
    #[error("not a valid delta frame: {0}")]
    Bitstream(#[from] BitstreamError),
    #[error("frame needs more than 65536 packets at this mtu: raise the mtu")]
    TooManyPackets,
}

/// Why a received payload is dropped.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DepacketizeError {
    #[error("payload of {0} bytes is too short for its headers")]
    TooShort(usize),
    #[error("unsupported payload version {0} (this build reads {PAYLOAD_VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown payload kind {0}")]
    UnknownKind(u8),
    #[error("bad frame header or record: {0}")]
    Bitstream(#[from] BitstreamError),
    #[error(
        "fragment of tile {tile} at offset {offset} (+{len} bytes) does not fit a record of {record_len} bytes"
    )]
    FragmentOutOfRange {
        tile: u32,
        offset: u32,
        len: usize,
        record_len: u32,
    },
    #[error("fragment of tile {0} disagrees with the earlier fragments of that record")]
    FragmentMismatch(u32),
    #[error("reassembled record does not match its fragment headers (tile {0})")]
    ReassemblyMismatch(u32),
    #[error("tile {0} appears twice in one frame")]
    DuplicateTile(u32),
    #[error("frame header differs from the other packets of the same RTP timestamp")]
    HeaderMismatch,
    #[error("packet index {index} is past the frame's last packet {last}")]
    IndexPastEnd { index: u16, last: u16 },
    #[error(
        "frame of {width}x{height} is larger than this receiver accepts \
         ({max_width}x{max_height}: raise max-width/max-height)"
    )]
    GeometryTooLarge {
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
    },
    #[error(
        "frame of {}x{} {:?} in {}-pixel tiles, but the caps announce {}x{} {:?} in {}-pixel tiles",
        .got.width, .got.height, .got.format, .got.tile_size,
        .expected.width, .expected.height, .expected.format, .expected.tile_size
    )]
    GeometryMismatch { got: Geometry, expected: Geometry },
    #[error("frame would hold more than its limit of {limit} bytes")]
    FrameTooLarge { limit: usize },
    #[error("frame already holds its limit of {limit} fragment pieces")]
    TooManyFragmentPieces { limit: usize },
}

impl DepacketizeError {
    /// The payload may be well formed but goes beyond the receiver's limits
    /// (geometry, bytes or pieces per frame), rather than being malformed.
    pub fn exceeds_limits(&self) -> bool {
        matches!(
            self,
            DepacketizeError::GeometryTooLarge { .. }
                | DepacketizeError::GeometryMismatch { .. }
                | DepacketizeError::FrameTooLarge { .. }
                | DepacketizeError::TooManyFragmentPieces { .. }
        )
    }
}

/// Cuts an encoded frame into RTP payloads of at most `budget` bytes each.
///
/// Whole records are packed greedily in stream order; a record that cannot
/// fit a packet of its own is cut into fragments. Every payload starts with
/// a [`PayloadHeader`] and the frame's 14-byte header. The caller sets the
/// RTP marker bit on the last payload.
pub fn packetize(frame: &[u8], budget: usize) -> Result<Vec<Vec<u8>>, PacketizeError> {
    if budget < MIN_PAYLOAD_BUDGET {
        return Err(PacketizeError::BudgetTooSmall(budget));
    }
    let (_, records) = parse_frame(frame)?;
    let frame_header = &frame[..FRAME_HEADER_LEN];
    let room = budget - PAYLOAD_HEADER_LEN - FRAME_HEADER_LEN;
    let piece_room = room - FRAGMENT_HEADER_LEN;

    let mut packets: Vec<Vec<u8>> = Vec::new();
    let start = |kind, index: usize| -> Result<Vec<u8>, PacketizeError> {
        let packet_index = u16::try_from(index).map_err(|_| PacketizeError::TooManyPackets)?;
        let mut p = Vec::with_capacity(budget);
        PayloadHeader { kind, packet_index }.write(&mut p);
        p.extend_from_slice(frame_header);
        Ok(p)
    };
    // The open packet of whole records, if it holds any.
    let mut open: Option<Vec<u8>> = None;
    let mut offset = FRAME_HEADER_LEN;
    for record in records {
        let record = record?;
        let wire = &frame[offset..offset + record.wire_len()];
        offset += record.wire_len();
        if wire.len() <= room {
            if open.as_ref().is_some_and(|p| p.len() + wire.len() > budget) {
                packets.extend(open.take());
            }
            let p = match open.as_mut() {
                Some(p) => p,
                None => open.insert(start(PayloadKind::Records, packets.len())?),
            };
            p.extend_from_slice(wire);
            continue;
        }
        packets.extend(open.take());
        for (i, piece) in wire.chunks(piece_room).enumerate() {
            let mut p = start(PayloadKind::Fragment, packets.len())?;
            FragmentHeader {
                tile_index: record.key(),
                // Bounded by MAX_RECORD_PAYLOAD + 8, well inside u32.
                record_len: wire.len() as u32,
                offset: (i * piece_room) as u32,
            }
            .write(&mut p);
            p.extend_from_slice(piece);
            packets.push(p);
        }
    }
    packets.extend(open.take());
    if packets.is_empty() {
        packets.push(start(PayloadKind::Records, 0)?);
    }
    Ok(packets)
}
