//! Receiving side: payloads of one RTP timestamp back into one frame.

use super::packet::{DepacketizeError, FragmentHeader, PayloadHeader, PayloadKind};
use super::packet::{FRAGMENT_HEADER_LEN, PAYLOAD_HEADER_LEN};
use crate::delta::bitstream::{parse_record, FrameHeader, RecordReader, FRAME_HEADER_LEN};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Frames collected at once. A frame is given up (output with its holes)
/// when this many newer timestamps have started: one frame of reordering is
/// absorbed without a jitterbuffer, and a lost marker packet costs at most
/// one frame of delay.
const MAX_PENDING: usize = 2;

/// Keyframe bit in the frame header's flags byte (docs/bitstream.md).
const FLAG_KEYFRAME: u8 = 0x01;

/// RTP fields of a received packet the assembler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta {
    pub timestamp: u32,
    pub seqnum: u16,
    pub marker: bool,
}

/// What [`FrameAssembler::push`] did with a payload that was not malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Added to its frame.
    Accepted,
    /// The same packet was already received: ignored.
    Duplicate,
    /// Its frame was already output: ignored.
    Late,
}

/// A frame ready for the decoder: the frame header and every record that
/// arrived, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledFrame<T> {
    /// RTP timestamp shared by the frame's packets.
    pub timestamp: u32,
    /// The caller's tag of the first packet received for this frame.
    pub tag: T,
    /// Frame header followed by records: a valid delta frame.
    pub data: Vec<u8>,
    /// Every packet and every fragment of this frame arrived. When false the
    /// keyframe flag is cleared in `data`, since not every tile is present.
    pub complete: bool,
    /// Packets were lost between the previous output frame and this one (or
    /// a loss was reported with [`FrameAssembler::note_loss`]).
    pub loss_before: bool,
    /// Records whose fragments did not all arrive, dropped whole.
    pub fragments_dropped: u32,
}

impl<T> AssembledFrame<T> {
    /// Records of the frame went missing here: the decoder must assume stale
    /// tiles.
    pub fn damaged(&self) -> bool {
        !self.complete || self.loss_before
    }
}

/// Counters since the assembler was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Payloads accepted into a frame.
    pub packets: u64,
    pub duplicates: u64,
    pub late: u64,
    pub malformed: u64,
    /// Frames output.
    pub frames: u64,
    /// Frames output with a hole, or after a loss.
    pub frames_with_loss: u64,
    /// Records dropped because one of their fragments was missing.
    pub fragments_dropped: u64,
    /// Sender restarts: a new SSRC, or timestamps jumping backwards.
    pub restarts: u64,
}

/// A record being put back together from its fragments.
struct Reassembly {
    record_len: u32,
    pieces: Vec<(u32, Vec<u8>)>,
    received: usize,
    /// Packet index of the first piece, which orders the record in the frame.
    first_packet: Option<u16>,
}

struct PendingFrame<T> {
    timestamp: u32,
    tag: T,
    header_bytes: [u8; FRAME_HEADER_LEN],
    header: FrameHeader,
    packets: BTreeSet<u16>,
    last_index: Option<u16>,
    first_seq: Option<u16>,
    end_seq: Option<u16>,
    /// Whole records by the packet index they started in.
    records: BTreeMap<u16, Vec<u8>>,
    /// Tiles already present (whole): each tile appears at most once per
    /// frame, which also bounds the frame's memory by its geometry.
    tiles: Vec<bool>,
    fragments: BTreeMap<u32, Reassembly>,
    /// Records whose pieces all arrived but did not form a valid record.
    broken_records: u32,
}

impl<T> PendingFrame<T> {
    fn complete(&self) -> bool {
        self.fragments.is_empty()
            && self.broken_records == 0
            && self
                .last_index
                .is_some_and(|last| self.packets.len() == last as usize + 1)
    }
}

/// Collects payloads into frames, in timestamp order; see the module docs.
pub struct FrameAssembler<T> {
    pending: VecDeque<PendingFrame<T>>,
    last_output: Option<u32>,
    /// Encoder frame number of the last output frame.
    last_frame_number: Option<u32>,
    /// Sequence number that should start the next frame, when known.
    next_seq: Option<u16>,
    loss_pending: bool,
    restart_after: u32,
    stats: AssemblerStats,
}

/// `a` is earlier than `b` in wrapping 32-bit timestamp order.
fn ts_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl<T: Clone> FrameAssembler<T> {
    /// A new assembler. A packet whose timestamp is more than `restart_after`
    /// ticks older than the last output frame is taken as a sender restart
    /// rather than a late packet.
    pub fn new(restart_after: u32) -> Self {
        FrameAssembler {
            pending: VecDeque::new(),
            last_output: None,
            last_frame_number: None,
            next_seq: None,
            loss_pending: false,
            restart_after,
            stats: AssemblerStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> AssemblerStats {
        self.stats
    }

    /// Frames being collected.
    pub fn pending_frames(&self) -> usize {
        self.pending.len()
    }

    /// Something upstream reports lost packets: the next output frame is
    /// marked with `loss_before`.
    pub fn note_loss(&mut self) {
        self.loss_pending = true;
    }

    /// Forgets every frame in progress (flush, new stream); counters stay.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.last_output = None;
        self.last_frame_number = None;
        self.next_seq = None;
        self.loss_pending = false;
    }

    /// The sender started over (new SSRC, or timestamps jumped back): outputs
    /// what is in progress, forgets the old timeline, and marks the next
    /// frame as following a loss.
    pub fn restart(&mut self, out: &mut Vec<AssembledFrame<T>>) {
        self.drain(out);
        self.reset();
        self.loss_pending = true;
        self.stats.restarts += 1;
    }

    /// Outputs every frame in progress, holes and all (end of stream).
    pub fn drain(&mut self, out: &mut Vec<AssembledFrame<T>>) {
        while let Some(frame) = self.pending.pop_front() {
            out.push(self.finish(frame));
        }
    }

    /// Takes one payload. Frames that are finished by it (complete, or given
    /// up because newer frames started) are appended to `out` in timestamp
    /// order. A malformed payload is dropped, counted and returned as the
    /// error; its frame then has a hole.
    pub fn push(
        &mut self,
        meta: PacketMeta,
        payload: &[u8],
        tag: T,
        out: &mut Vec<AssembledFrame<T>>,
    ) -> Result<PushOutcome, DepacketizeError> {
        let result = self.add(meta, payload, tag, out);
        match result {
            Ok(PushOutcome::Accepted) => self.stats.packets += 1,
            Ok(PushOutcome::Duplicate) => self.stats.duplicates += 1,
            Ok(PushOutcome::Late) => self.stats.late += 1,
            Err(_) => self.stats.malformed += 1,
        }
        result
    }

    fn add(
        &mut self,
        meta: PacketMeta,
        payload: &[u8],
        tag: T,
        out: &mut Vec<AssembledFrame<T>>,
    ) -> Result<PushOutcome, DepacketizeError> {
        let ph = PayloadHeader::parse(payload)?;
        let header_bytes: [u8; FRAME_HEADER_LEN] = payload
            [PAYLOAD_HEADER_LEN..PAYLOAD_HEADER_LEN + FRAME_HEADER_LEN]
            .try_into()
            .map_err(|_| DepacketizeError::TooShort(payload.len()))?;
        let header = FrameHeader::parse(&header_bytes)?;
        let body = &payload[PAYLOAD_HEADER_LEN + FRAME_HEADER_LEN..];

        // The encoder's own frame counter tells a newer frame whose RTP
        // timestamp did not advance (a sender whose first timestamps
        // stumble) from a genuinely late packet.
        let newer_frame = self
            .last_frame_number
            .is_some_and(|n| (header.frame_number.wrapping_sub(n) as i32) > 0);
        if let (Some(last), false) = (self.last_output, newer_frame) {
            if !ts_before(last, meta.timestamp) {
                if last.wrapping_sub(meta.timestamp) <= self.restart_after {
                    return Ok(PushOutcome::Late);
                }
                // Far in the past: the sender restarted its timestamps.
                self.restart(out);
            }
        }

        let pos = match self
            .pending
            .iter()
            .position(|f| f.timestamp == meta.timestamp)
        {
            Some(pos) => {
                if self.pending[pos].header_bytes != header_bytes {
                    return Err(DepacketizeError::HeaderMismatch);
                }
                pos
            }
            None => {
                let pos = self
                    .pending
                    .iter()
                    .position(|f| ts_before(meta.timestamp, f.timestamp))
                    .unwrap_or(self.pending.len());
                let frame = PendingFrame {
                    timestamp: meta.timestamp,
                    tag,
                    header_bytes,
                    header,
                    packets: BTreeSet::new(),
                    last_index: None,
                    first_seq: None,
                    end_seq: None,
                    records: BTreeMap::new(),
                    tiles: vec![false; header.geometry.tile_count() as usize],
                    fragments: BTreeMap::new(),
                    broken_records: 0,
                };
                self.pending.insert(pos, frame);
                pos
            }
        };

        let result = Self::add_to_frame(&mut self.pending[pos], meta, ph, body);
        if self.pending[pos].packets.is_empty() {
            // Nothing valid ever arrived for it: do not output an empty frame
            // that only a malformed packet announced.
            self.pending.remove(pos);
            return result;
        }
        if matches!(result, Ok(PushOutcome::Accepted)) && self.pending[pos].complete() {
            for _ in 0..=pos {
                if let Some(frame) = self.pending.pop_front() {
                    out.push(self.finish(frame));
                }
            }
        }
        while self.pending.len() > MAX_PENDING {
            if let Some(frame) = self.pending.pop_front() {
                out.push(self.finish(frame));
            }
        }
        result
    }

    fn add_to_frame(
        frame: &mut PendingFrame<T>,
        meta: PacketMeta,
        ph: PayloadHeader,
        body: &[u8],
    ) -> Result<PushOutcome, DepacketizeError> {
        let index = ph.packet_index;
        if frame.packets.contains(&index) {
            return Ok(PushOutcome::Duplicate);
        }
        if let Some(last) = frame.last_index {
            if index > last {
                return Err(DepacketizeError::IndexPastEnd { index, last });
            }
        }
        if meta.marker {
            if let Some(&max) = frame.packets.last() {
                if max > index {
                    return Err(DepacketizeError::IndexPastEnd {
                        index: max,
                        last: index,
                    });
                }
            }
        }
        let geometry = frame.header.geometry;
        match ph.kind {
            PayloadKind::Records => {
                // Check every record before taking any: a packet is taken
                // whole or not at all.
                let mut tiles = Vec::new();
                for record in RecordReader::new(body, geometry) {
                    let record = record?;
                    let t = record.index;
                    if frame.tiles[t as usize]
                        || frame.fragments.contains_key(&t)
                        || tiles.contains(&t)
                    {
                        return Err(DepacketizeError::DuplicateTile(t));
                    }
                    tiles.push(t);
                }
                for t in tiles {
                    frame.tiles[t as usize] = true;
                }
                if !body.is_empty() {
                    frame.records.insert(index, body.to_vec());
                }
            }
            PayloadKind::Fragment => {
                let piece = body.get(FRAGMENT_HEADER_LEN..).unwrap_or(&[]);
                let fh = FragmentHeader::parse(body, &frame.header, piece.len())?;
                let t = fh.tile_index;
                if frame.tiles[t as usize] {
                    return Err(DepacketizeError::DuplicateTile(t));
                }
                let r = frame.fragments.entry(t).or_insert_with(|| Reassembly {
                    record_len: fh.record_len,
                    pieces: Vec::new(),
                    received: 0,
                    first_packet: None,
                });
                let start = fh.offset as usize;
                let end = start + piece.len();
                let overlaps = r.pieces.iter().any(|(o, p)| {
                    let (o, e) = (*o as usize, *o as usize + p.len());
                    start < e && o < end
                });
                if r.record_len != fh.record_len || overlaps {
                    if r.pieces.is_empty() {
                        frame.fragments.remove(&t);
                    }
                    return Err(DepacketizeError::FragmentMismatch(t));
                }
                r.pieces.push((fh.offset, piece.to_vec()));
                r.received += piece.len();
                if fh.offset == 0 {
                    r.first_packet = Some(index);
                }
                if r.received == r.record_len as usize {
                    let Some(r) = frame.fragments.remove(&t) else {
                        return Err(DepacketizeError::FragmentMismatch(t));
                    };
                    let mut pieces = r.pieces;
                    pieces.sort_by_key(|(o, _)| *o);
                    let record: Vec<u8> = pieces.into_iter().flat_map(|(_, p)| p).collect();
                    match parse_record(&record, &geometry) {
                        Ok((rec, used)) if rec.index == t && used == record.len() => {}
                        _ => {
                            // The pieces arrived but do not form the record they
                            // claim: the record is lost, the packet was valid.
                            frame.packets.insert(index);
                            frame.broken_records += 1;
                            return Err(DepacketizeError::ReassemblyMismatch(t));
                        }
                    }
                    frame.tiles[t as usize] = true;
                    // Non-overlapping pieces summing to the length cover it
                    // from offset 0, so the first piece's index is known.
                    let key = r.first_packet.unwrap_or(index);
                    frame.records.insert(key, record);
                }
            }
        }
        frame.packets.insert(index);
        if index == 0 {
            frame.first_seq = Some(meta.seqnum);
        }
        if meta.marker {
            frame.last_index = Some(index);
            frame.end_seq = Some(meta.seqnum.wrapping_add(1));
            if frame.first_seq.is_none() {
                frame.first_seq = Some(meta.seqnum.wrapping_sub(index));
            }
        }
        Ok(PushOutcome::Accepted)
    }

    fn finish(&mut self, frame: PendingFrame<T>) -> AssembledFrame<T> {
        let complete = frame.complete();
        // With packet 0 or the marker in hand the frame's first sequence
        // number is known; anything between the previous frame's end and
        // it was lost.
        let gap = matches!((self.next_seq, frame.first_seq), (Some(n), Some(f)) if n != f);
        let loss_before = std::mem::take(&mut self.loss_pending) || gap;
        let mut header = frame.header_bytes;
        if !complete {
            header[3] &= !FLAG_KEYFRAME;
        }
        let len = FRAME_HEADER_LEN + frame.records.values().map(Vec::len).sum::<usize>();
        let mut data = Vec::with_capacity(len);
        data.extend_from_slice(&header);
        for record in frame.records.values() {
            data.extend_from_slice(record);
        }
        let fragments_dropped = frame.fragments.len() as u32 + frame.broken_records;
        self.next_seq = frame.end_seq;
        self.last_output = Some(frame.timestamp);
        self.last_frame_number = Some(frame.header.frame_number);
        self.stats.frames += 1;
        self.stats.fragments_dropped += fragments_dropped as u64;
        let out = AssembledFrame {
            timestamp: frame.timestamp,
            tag: frame.tag,
            data,
            complete,
            loss_before,
            fragments_dropped,
        };
        if out.damaged() {
            self.stats.frames_with_loss += 1;
        }
        out
    }
}
