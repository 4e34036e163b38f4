// SPDX-License-Identifier: MPL-2.0
//! The fuzz targets' bodies ([`targets`]) and the input formats they share
//! with the seed generator (`make_seeds`), so a seed is written in exactly
//! the layout its target reads. See docs/reliability.md, "Fuzzing".
//!
//! Free of libFuzzer (only the thin `fuzz_targets/` wrappers use it), so
//! the main crate's `tests/fuzz_corpus.rs` compiles these sources too.

pub mod targets;

use gststreamkit::delta::bitstream::{FrameHeader, MAGIC, VERSION};
use gststreamkit::rtp::PacketMeta;

/// Largest width or height a target hands to the decoder or the assembler.
/// The library accepts up to 8192x8192; the cap keeps one fuzz input cheap
/// (a 256x256 BGRx canvas is 256 KiB) without hiding any parsing path.
pub const MAX_FUZZ_SIDE: u32 = 256;

/// Whether a frame of this geometry is small enough to decode in a harness.
pub fn small_enough(header: &FrameHeader) -> bool {
    header.geometry.width <= MAX_FUZZ_SIDE && header.geometry.height <= MAX_FUZZ_SIDE
}

/// What `rtpdeltadepay` gives its assembler as the restart threshold.
pub use gststreamkit::rtp::RESTART_AFTER_TICKS as DEPAY_RESTART_AFTER;

/// Splits a concatenation of delta frames back into frames: a new frame
/// starts at every occurrence of the magic and version (`SK`, 1). Bytes before
/// the first magic come out as a frame of their own, which the decoder
/// rejects; a magic inside a payload cuts that frame short, which is just
/// one more malformed frame.
pub fn split_frames(data: &[u8]) -> Vec<&[u8]> {
    let marker = [MAGIC[0], MAGIC[1], VERSION];
    let mut starts: Vec<usize> = data
        .windows(marker.len())
        .enumerate()
        .filter(|(_, w)| *w == marker)
        .map(|(i, _)| i)
        .collect();
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| &data[s..starts.get(n + 1).copied().unwrap_or(data.len())])
        .filter(|f| !f.is_empty())
        .collect()
}

/// One thing done to a [`gststreamkit::rtp::FrameAssembler`] by the
/// `rtp_assembler` target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssemblerStep<'a> {
    /// A received payload with its RTP fields.
    Push(PacketMeta, &'a [u8]),
    /// Upstream reported a loss.
    NoteLoss,
    /// End of stream: output every frame in progress.
    Drain,
    /// The sender restarted (new SSRC).
    Restart,
    /// Flush.
    Reset,
    /// The clock moved on by this many milliseconds: frames past their
    /// time-out are output.
    Advance(u8),
}

const OP_ADVANCE: u8 = 0xfb;
const OP_NOTE_LOSS: u8 = 0xfc;
const OP_DRAIN: u8 = 0xfd;
const OP_RESTART: u8 = 0xfe;
const OP_RESET: u8 = 0xff;
const PUSH_MARKER: u8 = 0x01;

/// Reads an assembler script: a sequence of steps, each an op byte. Op 0xfb
/// is [`AssemblerStep::Advance`], followed by its milliseconds (one byte);
/// ops 0xfc..=0xff are [`AssemblerStep::NoteLoss`], `Drain`, `Restart`, `Reset`;
/// any other op is a push whose bit 0 is the RTP marker, followed by the RTP
/// timestamp (u32 BE), sequence number (u16 BE), payload length (u16 BE) and
/// the payload (cut short at the end of the input).
pub fn parse_assembler_script(mut data: &[u8]) -> Vec<AssemblerStep<'_>> {
    let mut steps = Vec::new();
    while let Some((&op, rest)) = data.split_first() {
        data = rest;
        let step = match op {
            OP_NOTE_LOSS => AssemblerStep::NoteLoss,
            OP_DRAIN => AssemblerStep::Drain,
            OP_RESTART => AssemblerStep::Restart,
            OP_RESET => AssemblerStep::Reset,
            OP_ADVANCE => {
                let Some((&ms, rest)) = data.split_first() else {
                    break;
                };
                data = rest;
                AssemblerStep::Advance(ms)
            }
            _ => {
                if data.len() < 8 {
                    break;
                }
                let timestamp = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                let seqnum = u16::from_be_bytes([data[4], data[5]]);
                let len = u16::from_be_bytes([data[6], data[7]]) as usize;
                data = &data[8..];
                let (payload, rest) = data.split_at(len.min(data.len()));
                data = rest;
                AssemblerStep::Push(
                    PacketMeta {
                        timestamp,
                        seqnum,
                        marker: op & PUSH_MARKER != 0,
                    },
                    payload,
                )
            }
        };
        steps.push(step);
    }
    steps
}

/// Appends `step` to a script in the layout [`parse_assembler_script`] reads.
pub fn write_assembler_step(out: &mut Vec<u8>, step: &AssemblerStep<'_>) {
    match step {
        AssemblerStep::NoteLoss => out.push(OP_NOTE_LOSS),
        AssemblerStep::Drain => out.push(OP_DRAIN),
        AssemblerStep::Restart => out.push(OP_RESTART),
        AssemblerStep::Reset => out.push(OP_RESET),
        AssemblerStep::Advance(ms) => out.extend_from_slice(&[OP_ADVANCE, *ms]),
        AssemblerStep::Push(meta, payload) => {
            let len = u16::try_from(payload.len()).expect("seed payload fits u16");
            out.push(if meta.marker { PUSH_MARKER } else { 0 });
            out.extend_from_slice(&meta.timestamp.to_be_bytes());
            out.extend_from_slice(&meta.seqnum.to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(payload);
        }
    }
}

/// Settings of the `segment_cutter` target, from the first
/// [`CUTTER_HEADER_LEN`] bytes of its input (missing bytes read as zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CutterSettings {
    /// Bit 0: H.265 (else H.264). Bit 1: length is a duration (else a
    /// frame count). Bit 2: the stream has a fixed frame rate.
    pub flags: u8,
    /// Frames per segment, or segment duration in milliseconds.
    pub length: u16,
    /// Frame duration in milliseconds (with bit 2 of `flags`).
    pub frame_ms: u8,
    /// Keyframe wait in units of 100 ms; 0 waits for ever.
    pub wait_100ms: u8,
    /// Encoder delay in milliseconds.
    pub delay_ms: u16,
}

/// Bytes of [`CutterSettings`] at the start of a `segment_cutter` input.
pub const CUTTER_HEADER_LEN: usize = 7;
/// `CutterSettings::flags` bits.
pub const CUTTER_H265: u8 = 0x01;
pub const CUTTER_DURATION: u8 = 0x02;
pub const CUTTER_FIXED_RATE: u8 = 0x04;

impl CutterSettings {
    /// Reads the settings header.
    pub fn parse(data: &[u8]) -> (Self, &[u8]) {
        let mut h = [0u8; CUTTER_HEADER_LEN];
        let n = data.len().min(CUTTER_HEADER_LEN);
        h[..n].copy_from_slice(&data[..n]);
        (
            CutterSettings {
                flags: h[0],
                length: u16::from_be_bytes([h[1], h[2]]),
                frame_ms: h[3],
                wait_100ms: h[4],
                delay_ms: u16::from_be_bytes([h[5], h[6]]),
            },
            &data[n..],
        )
    }

    /// Appends the settings header.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.flags);
        out.extend_from_slice(&self.length.to_be_bytes());
        out.push(self.frame_ms);
        out.push(self.wait_100ms);
        out.extend_from_slice(&self.delay_ms.to_be_bytes());
    }
}

/// One access unit of a `segment_cutter` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutterUnit<'a> {
    /// Bit 0: keyframe. Bit 1: the buffer has a timestamp. Bit 2: it has a
    /// duration.
    pub flags: u8,
    /// Milliseconds from the previous unit's time (may go backwards).
    pub step_ms: i16,
    /// Annex B bytes.
    pub data: &'a [u8],
}

/// `CutterUnit::flags` bits.
pub const UNIT_KEYFRAME: u8 = 0x01;
pub const UNIT_TIMED: u8 = 0x02;
pub const UNIT_HAS_DURATION: u8 = 0x04;

/// Reads the access units after the settings header: each is flags (u8),
/// time step (i16 BE), length (u16 BE) and the bytes (cut short at the end).
pub fn parse_cutter_units(mut data: &[u8]) -> Vec<CutterUnit<'_>> {
    let mut units = Vec::new();
    while data.len() >= 5 {
        let flags = data[0];
        let step_ms = i16::from_be_bytes([data[1], data[2]]);
        let len = u16::from_be_bytes([data[3], data[4]]) as usize;
        data = &data[5..];
        let (bytes, rest) = data.split_at(len.min(data.len()));
        data = rest;
        units.push(CutterUnit {
            flags,
            step_ms,
            data: bytes,
        });
    }
    units
}

/// Appends one access unit in the layout [`parse_cutter_units`] reads.
pub fn write_cutter_unit(out: &mut Vec<u8>, unit: &CutterUnit<'_>) {
    let len = u16::try_from(unit.data.len()).expect("seed access unit fits u16");
    out.push(unit.flags);
    out.extend_from_slice(&unit.step_ms.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(unit.data);
}

/// The plane and layout of a `stamp_reader` input, from its first
/// [`STAMP_HEADER_LEN`] bytes; the rest are the plane's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StampInput {
    pub width: u16,
    pub height: u16,
    /// Bits 0-1: pixel stride - 1. Bit 2: use the samples as they are, even
    /// if shorter than the plane (else they are repeated to fill it).
    pub flags: u8,
    /// Bytes of padding at the end of each row.
    pub row_padding: u8,
    pub x: u16,
    pub y: u16,
    /// Block side minus the smallest block size framestamp accepts.
    pub block_step: u8,
    /// Stamp drawn for the round trip.
    pub frame: u32,
    pub capture_time_ns: u64,
    /// Sample values of white and black blocks for the round trip.
    pub white: u8,
    pub black: u8,
}

/// Bytes of [`StampInput`] at the start of a `stamp_reader` input.
pub const STAMP_HEADER_LEN: usize = 25;
/// `StampInput::flags` bit: samples used as they are.
pub const STAMP_RAW_SAMPLES: u8 = 0x04;

impl StampInput {
    /// Reads the header; `None` when the input is shorter than it.
    pub fn parse(data: &[u8]) -> Option<(Self, &[u8])> {
        if data.len() < STAMP_HEADER_LEN {
            return None;
        }
        let u16_at = |i: usize| u16::from_be_bytes([data[i], data[i + 1]]);
        let mut time = [0u8; 8];
        time.copy_from_slice(&data[15..23]);
        Some((
            StampInput {
                width: u16_at(0),
                height: u16_at(2),
                flags: data[4],
                row_padding: data[5],
                x: u16_at(6),
                y: u16_at(8),
                block_step: data[10],
                frame: u32::from_be_bytes([data[11], data[12], data[13], data[14]]),
                capture_time_ns: u64::from_be_bytes(time),
                white: data[23],
                black: data[24],
            },
            &data[STAMP_HEADER_LEN..],
        ))
    }

    /// Appends the header.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.width.to_be_bytes());
        out.extend_from_slice(&self.height.to_be_bytes());
        out.push(self.flags);
        out.push(self.row_padding);
        out.extend_from_slice(&self.x.to_be_bytes());
        out.extend_from_slice(&self.y.to_be_bytes());
        out.push(self.block_step);
        out.extend_from_slice(&self.frame.to_be_bytes());
        out.extend_from_slice(&self.capture_time_ns.to_be_bytes());
        out.push(self.white);
        out.push(self.black);
    }
}

/// Settings of the `moq_object` target, from the first [`MOQ_HEADER_LEN`]
/// bytes of its input (missing bytes read as zero); the pieces follow
/// ([`parse_moq_pieces`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MoqSettings {
    /// The subscriber's object limit: `parse_object`'s `max_payload`.
    pub max_payload: u16,
    /// The composite's tile cache when no piece parses as a catalog (a
    /// catalog's `cache_tiles` wins, as in the subscriber).
    pub cache_tiles: u8,
}

/// Bytes of [`MoqSettings`] at the start of a `moq_object` input.
pub const MOQ_HEADER_LEN: usize = 3;
/// Most pieces a `moq_object` input is cut into: a catalog, a snapshot and
/// a few frames, as a joining subscriber reads them.
pub const MOQ_MAX_PIECES: usize = 8;

impl MoqSettings {
    /// Reads the settings header.
    pub fn parse(data: &[u8]) -> (Self, &[u8]) {
        let mut h = [0u8; MOQ_HEADER_LEN];
        let n = data.len().min(MOQ_HEADER_LEN);
        h[..n].copy_from_slice(&data[..n]);
        (
            MoqSettings {
                max_payload: u16::from_be_bytes([h[0], h[1]]),
                cache_tiles: h[2],
            },
            &data[n..],
        )
    }

    /// Appends the settings header.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.max_payload.to_be_bytes());
        out.push(self.cache_tiles);
    }
}

/// Reads the pieces after the settings header: each is a length (u16 BE)
/// and the bytes (cut short at the end of the input); at most
/// [`MOQ_MAX_PIECES`], bytes after them are ignored.
pub fn parse_moq_pieces(mut data: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    while data.len() >= 2 && pieces.len() < MOQ_MAX_PIECES {
        let len = u16::from_be_bytes([data[0], data[1]]) as usize;
        data = &data[2..];
        let (piece, rest) = data.split_at(len.min(data.len()));
        data = rest;
        pieces.push(piece);
    }
    pieces
}

/// Appends one piece in the layout [`parse_moq_pieces`] reads.
pub fn write_moq_piece(out: &mut Vec<u8>, piece: &[u8]) {
    let len = u16::try_from(piece.len()).expect("seed piece fits u16");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(piece);
}
