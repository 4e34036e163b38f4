// SPDX-License-Identifier: MPL-2.0
//! Receiving side: payloads of one RTP timestamp back into one frame.

use super::packet::{piece_end, DepacketizeError, FragmentHeader, PayloadHeader, PayloadKind};
use super::packet::{FRAGMENT_HEADER_LEN, PAYLOAD_HEADER_LEN};
use crate::delta::bitstream::{
    parse_record, FrameHeader, RecordReader, FRAME_HEADER_LEN, MAX_CACHE_TILES, REMEMBER_KEY_BASE,
};
use crate::delta::Geometry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// Defaults of [`AssemblerLimits::max_width`] and `max_height`: the same
/// bounds as the decoder's, so the two receiving elements agree.
pub use crate::delta::decoder::{DEFAULT_MAX_HEIGHT, DEFAULT_MAX_WIDTH};
/// Default [`AssemblerLimits::max_pending_frames`]: a frame whose marker
/// packet is lost waits for the next frame at most.
pub const DEFAULT_MAX_PENDING_FRAMES: usize = 2;
/// Default [`AssemblerLimits::reorder_packets`]: more reordering than this
/// is rare on real paths, and at a few thousand packets a second it is
/// waited out in a few milliseconds.
pub const DEFAULT_REORDER_PACKETS: u16 = 16;
/// Default [`AssemblerLimits::reorder_time`]: 10 ms. A
/// frame's packets leave the sender back to back, so a packet reordered
/// within its frame is rarely that late.
pub const DEFAULT_REORDER_TIME: Duration = Duration::from_millis(10);
/// Default [`AssemblerLimits::max_fragment_pieces`]. A loss-free stream
/// holds the pieces of one record at a time; this leaves room for thousands
/// of records left incomplete by loss or reordering.
pub const DEFAULT_MAX_FRAGMENT_PIECES: usize = 16_384;
/// Default [`AssemblerLimits::frame_timeout`]: 200 ms.
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_millis(200);
/// No frame holds more than this many bytes, whatever its geometry or
/// [`AssemblerLimits::max_frame_bytes`] say.
pub const MAX_FRAME_BYTES: usize = 256 << 20;
/// The derived byte limit of a frame is this many times its raw size (plus
/// [`FRAME_BYTES_SLACK`]): a valid frame holds each tile at most once, and
/// a record is at most about twice its tile's raw size.
const FRAME_BYTES_PER_RAW_BYTE: usize = 4;
/// Added to the derived byte limit so that small frames, whose record
/// headers weigh more, are not cut short.
const FRAME_BYTES_SLACK: usize = 1 << 20;

/// Bounds on what the assembler accepts and holds, so that a broken or
/// hostile sender cannot make it allocate or work without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssemblerLimits {
    /// Widest frame accepted, in pixels.
    pub max_width: u32,
    /// Tallest frame accepted, in pixels.
    pub max_height: u32,
    /// The stream's geometry when it is known beforehand (RTP caps, SDP):
    /// frames announcing any other are refused.
    pub expected_geometry: Option<Geometry>,
    /// Bytes of records and fragments one frame may hold; `None` derives
    /// the limit from the frame's geometry (see [`Self::frame_byte_limit`]).
    pub max_frame_bytes: Option<usize>,
    /// Fragment pieces one frame may hold while their records are
    /// incomplete.
    pub max_fragment_pieces: usize,
    /// Frames collected at once: the oldest is output, holes and all, when
    /// a newer timestamp would exceed this (at least 1).
    pub max_pending_frames: usize,
    /// How far packets may be reordered, in sequence numbers: a frame with
    /// a hole is output, holes and all, as soon as a packet arrives more
    /// than this many sequence numbers past the frame's end (its marker, or
    /// the first packet seen of a newer frame). A missing packet that far
    /// behind is lost, not late.
    pub reorder_packets: u16,
    /// How long a frame with a hole waits after its marker packet for
    /// reordered packets; then it is output, holes and all.
    pub reorder_time: Duration,
    /// A frame is output with its holes once this long has passed since its
    /// first packet, on the clock given to [`FrameAssembler::expire`].
    pub frame_timeout: Duration,
}

impl Default for AssemblerLimits {
    fn default() -> Self {
        AssemblerLimits {
            max_width: DEFAULT_MAX_WIDTH,
            max_height: DEFAULT_MAX_HEIGHT,
            expected_geometry: None,
            max_frame_bytes: None,
            max_fragment_pieces: DEFAULT_MAX_FRAGMENT_PIECES,
            max_pending_frames: DEFAULT_MAX_PENDING_FRAMES,
            reorder_packets: DEFAULT_REORDER_PACKETS,
            reorder_time: DEFAULT_REORDER_TIME,
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
        }
    }
}

impl AssemblerLimits {
    /// Whether frames of `geometry` are accepted.
    pub fn check_geometry(&self, geometry: &Geometry) -> Result<(), DepacketizeError> {
        if geometry.width > self.max_width || geometry.height > self.max_height {
            return Err(DepacketizeError::GeometryTooLarge {
                width: geometry.width,
                height: geometry.height,
                max_width: self.max_width,
                max_height: self.max_height,
            });
        }
        match self.expected_geometry {
            Some(expected) if expected != *geometry => Err(DepacketizeError::GeometryMismatch {
                got: *geometry,
                expected,
            }),
            _ => Ok(()),
        }
    }

    /// Bytes a frame of `geometry` may hold: [`Self::max_frame_bytes`], or
    /// four times the frame's raw size plus 1 MiB; never more than
    /// [`MAX_FRAME_BYTES`].
    pub fn frame_byte_limit(&self, geometry: &Geometry) -> usize {
        self.max_frame_bytes
            .unwrap_or_else(|| {
                raw_frame_bytes(geometry)
                    .saturating_mul(FRAME_BYTES_PER_RAW_BYTE)
                    .saturating_add(FRAME_BYTES_SLACK)
            })
            .min(MAX_FRAME_BYTES)
    }
}

/// Bytes of one decoded frame of `geometry`, all planes.
fn raw_frame_bytes(geometry: &Geometry) -> usize {
    (0..geometry.format.plane_count())
        .map(|plane| {
            let (w, h) = geometry.plane_size(plane);
            w.saturating_mul(h)
                .saturating_mul(geometry.format.bytes_per_pixel(plane))
        })
        .fold(0, usize::saturating_add)
}

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
    /// The frame header as written at the start of `data` (its keyframe
    /// flag cleared when the frame is incomplete), so a caller need not
    /// parse it again.
    pub header: FrameHeader,
    /// Frame header followed by records: a valid delta frame.
    pub data: Vec<u8>,
    /// Every packet and every fragment of this frame arrived. When false the
    /// keyframe flag is cleared in `data`, since not every tile is present.
    pub complete: bool,
    /// Packets were lost between the previous output frame and this one, a
    /// loss was reported with [`FrameAssembler::note_loss`], or the sender
    /// restarted. This is the frame's whole discontinuity verdict (the
    /// element's `DISCONT`): reordering and duplicates, which lose nothing,
    /// never set it, whatever gaps the sequence numbers showed on the way in.
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
    /// Payloads of a packet already received, ignored.
    pub duplicates: u64,
    /// Payloads of a frame already output, ignored.
    pub late: u64,
    /// Payloads dropped because they did not parse or contradicted their
    /// frame.
    pub malformed: u64,
    /// Frames output.
    pub frames: u64,
    /// Frames output with a hole, or after a loss.
    pub frames_with_loss: u64,
    /// Records dropped because one of their fragments was missing.
    pub fragments_dropped: u64,
    /// Sender restarts: a new SSRC, or timestamps jumping backwards.
    pub restarts: u64,
    /// Payloads dropped because their frame header announced a geometry
    /// beyond the limits or other than the expected one.
    pub geometry_rejected: u64,
    /// Payloads dropped because their frame would have held more bytes
    /// than its limit.
    pub over_frame_bytes: u64,
    /// Fragment payloads dropped because their frame already held the
    /// maximum number of fragment pieces.
    pub over_fragment_pieces: u64,
    /// Frames output incomplete because too many newer frames started.
    pub frames_evicted: u64,
    /// Frames output incomplete because what they missed could no longer
    /// be merely reordered: packets well past their end arrived, or their
    /// marker came [`AssemblerLimits::reorder_time`] ago (see
    /// [`AssemblerLimits::reorder_packets`]).
    pub frames_given_up: u64,
    /// Frames output incomplete because their time-out passed.
    pub frames_expired: u64,
    /// Losses reported from upstream with [`FrameAssembler::note_loss`].
    pub lost_events: u64,
}

/// A record being put back together from its fragments.
struct Reassembly {
    record_len: u32,
    /// Pieces by offset. They never overlap, so a new piece need only be
    /// checked against its two neighbours: O(log n) per piece, where a list
    /// compared with every earlier piece made one record quadratic.
    pieces: BTreeMap<u32, Vec<u8>>,
    received: usize,
    /// Packet index of the first piece, which orders the record in the frame.
    first_packet: Option<u16>,
}

impl Reassembly {
    /// Whether `start..end` overlaps a piece already held.
    fn overlaps(&self, start: u32, end: u32) -> bool {
        let before = self.pieces.range(..=start).next_back();
        let after = self.pieces.range(start..).next();
        before.is_some_and(|(&o, p)| piece_end(o, p.len()).is_none_or(|e| e > start))
            || after.is_some_and(|(&o, _)| o < end)
    }
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
    /// The lowest and highest sequence numbers received for the frame:
    /// every packet of an older frame came before the lowest.
    seq_span: Option<(u16, u16)>,
    /// Whole records by the packet index they started in.
    records: BTreeMap<u16, Vec<u8>>,
    /// Tiles already present (whole): each tile appears at most once per
    /// frame, which also bounds the frame's memory by its geometry.
    tiles: Vec<bool>,
    /// Remember records already present, by rank (allocated at the first):
    /// at most one per rank, so at most a cache's worth a frame.
    ranks: Vec<bool>,
    /// Records being reassembled, by key ([`TileRecord::key`]).
    fragments: BTreeMap<u32, Reassembly>,
    /// Records whose pieces all arrived but did not form a valid record.
    broken_records: u32,
    /// Bytes of records and fragment pieces held.
    bytes: usize,
    /// Most bytes this frame may hold.
    byte_limit: usize,
    /// Fragment pieces held in `fragments`.
    pieces: usize,
    /// The assembler's clock when the frame's first packet arrived.
    started: Duration,
    /// The assembler's clock when the frame's marker packet arrived.
    marker_at: Option<Duration>,
}

impl<T> PendingFrame<T> {
    /// Whether the tile, or the remember record's rank, with record key
    /// `key` (checked against the geometry and the rank bound) is present.
    fn claimed(&mut self, key: u32) -> &mut bool {
        match key.checked_sub(REMEMBER_KEY_BASE) {
            Some(rank) => {
                if self.ranks.is_empty() {
                    self.ranks = vec![false; MAX_CACHE_TILES as usize];
                }
                &mut self.ranks[rank as usize]
            }
            None => &mut self.tiles[key as usize],
        }
    }

    /// Every packet the sender made for the frame arrived (whether or not
    /// its records could all be used).
    fn all_packets_in(&self) -> bool {
        self.last_index
            .is_some_and(|last| self.packets.len() == usize::from(last) + 1)
    }

    fn complete(&self) -> bool {
        self.fragments.is_empty() && self.broken_records == 0 && self.all_packets_in()
    }

    /// Refuses `len` more bytes if they would take the frame past its limit.
    fn reserve(&self, len: usize) -> Result<(), DepacketizeError> {
        match self.bytes.checked_add(len) {
            Some(total) if total <= self.byte_limit => Ok(()),
            _ => Err(DepacketizeError::FrameTooLarge {
                limit: self.byte_limit,
            }),
        }
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
    /// The RTP source (SSRC) of the frames in progress, once known.
    source: Option<u32>,
    loss_pending: bool,
    restart_after: u32,
    limits: AssemblerLimits,
    /// The caller's clock as of the last [`FrameAssembler::expire`].
    now: Duration,
    stats: AssemblerStats,
    /// Earlier fragment pieces a new piece was compared with, over all
    /// frames: what made reassembly quadratic, counted so a test can tell.
    piece_comparisons: u64,
}

/// `a` is earlier than `b` in wrapping 16-bit sequence number order.
fn seq_before(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) < 0
}

/// `a` is earlier than `b` in wrapping 32-bit timestamp order.
fn ts_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl<T: Clone> FrameAssembler<T> {
    /// A new assembler with the default [`AssemblerLimits`]. A packet whose
    /// timestamp is more than `restart_after` ticks older than the last
    /// output frame is taken as a sender restart rather than a late packet.
    pub fn new(restart_after: u32) -> Self {
        Self::with_limits(restart_after, AssemblerLimits::default())
    }

    /// A new assembler with the given limits; see [`FrameAssembler::new`].
    pub fn with_limits(restart_after: u32, limits: AssemblerLimits) -> Self {
        FrameAssembler {
            pending: VecDeque::new(),
            last_output: None,
            last_frame_number: None,
            next_seq: None,
            source: None,
            loss_pending: false,
            restart_after,
            limits,
            now: Duration::ZERO,
            stats: AssemblerStats::default(),
            piece_comparisons: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> AssemblerLimits {
        self.limits
    }

    /// Changes the limits for packets from now on; frames in progress keep
    /// their byte limit.
    pub fn set_limits(&mut self, limits: AssemblerLimits) {
        self.limits = limits;
    }

    /// Counters so far.
    pub fn stats(&self) -> AssemblerStats {
        self.stats
    }

    /// Frames being collected.
    pub fn pending_frames(&self) -> usize {
        self.pending.len()
    }

    #[cfg(test)]
    pub(super) fn piece_comparisons(&self) -> u64 {
        self.piece_comparisons
    }

    /// Something upstream reports lost packets: the next output frame is
    /// marked with `loss_before`.
    pub fn note_loss(&mut self) {
        self.loss_pending = true;
        self.stats.lost_events += 1;
    }

    /// The next packets come from the RTP source `ssrc`. A source other
    /// than the last one is a new (or restarted) sender, whose timestamps
    /// and sequence numbers have nothing to do with the old ones: the frames
    /// in progress are output and the assembler [restarts](Self::restart).
    /// Returns whether it did.
    pub fn set_source(&mut self, ssrc: u32, out: &mut Vec<AssembledFrame<T>>) -> bool {
        let restarted = self.source.is_some_and(|old| old != ssrc);
        if restarted {
            self.restart(out);
        }
        self.source = Some(ssrc);
        restarted
    }

    /// Forgets every frame in progress and the source (flush, new stream);
    /// counters stay.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.last_output = None;
        self.last_frame_number = None;
        self.next_seq = None;
        self.source = None;
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

    /// Sets the assembler's clock to `now`, on any monotonic clock the
    /// caller likes, and outputs every frame that is due, holes and all (with any
    /// older frame, to keep timestamp order): its first packet arrived at
    /// least a time-out ago, or its marker packet at least
    /// [`AssemblerLimits::reorder_time`] ago. Packets pushed later are
    /// stamped with `now`. The assembler reads no clock itself: without
    /// calls to this, frames wait only for newer frames or
    /// [`FrameAssembler::drain`].
    pub fn expire(&mut self, now: Duration, out: &mut Vec<AssembledFrame<T>>) {
        self.now = now;
        let Some(last) = self.pending.iter().rposition(|f| self.deadline(f) <= now) else {
            return;
        };
        for _ in 0..=last {
            if let Some(frame) = self.pending.pop_front() {
                // Given up if its own wait for reordered packets ended
                // first; expired if its time-out passed, or it goes out
                // ahead of a newer frame that is due.
                let wait_over = self.reorder_deadline(&frame).is_some_and(|d| d <= now);
                if wait_over && now < self.timeout(&frame) {
                    self.stats.frames_given_up += 1;
                } else {
                    self.stats.frames_expired += 1;
                }
                out.push(self.finish(frame));
            }
        }
    }

    /// When `frame` is output whatever else arrives: its time-out, or
    /// earlier the end of its wait for reordered packets.
    fn deadline(&self, frame: &PendingFrame<T>) -> Duration {
        let timeout = self.timeout(frame);
        self.reorder_deadline(frame)
            .map_or(timeout, |wait| wait.min(timeout))
    }

    /// When `frame` has been in progress for the time-out.
    fn timeout(&self, frame: &PendingFrame<T>) -> Duration {
        frame.started.saturating_add(self.limits.frame_timeout)
    }

    /// When `frame`'s wait for reordered packets after its marker ends, if
    /// its marker arrived.
    fn reorder_deadline(&self, frame: &PendingFrame<T>) -> Option<Duration> {
        frame
            .marker_at
            .map(|at| at.saturating_add(self.limits.reorder_time))
    }

    /// When [`FrameAssembler::expire`] will next have something to output,
    /// on the caller's clock: the earliest deadline of the frames in
    /// progress (see [`FrameAssembler::expire`]), or `None` when none is. A
    /// caller with no packets coming schedules a wake-up for it, so that a
    /// stream that stops dead still gets its last frame out, and a frame
    /// with a hole goes out once its wait for reordered packets is over.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.pending.iter().map(|f| self.deadline(f)).min()
    }

    /// Takes one payload. Frames that are finished by it (complete, or given
    /// up because newer frames started) are appended to `out` in timestamp
    /// order. A payload that is malformed or beyond the limits is dropped,
    /// counted and returned as the error; its frame then has a hole.
    pub fn push(
        &mut self,
        meta: PacketMeta,
        payload: &[u8],
        tag: T,
        out: &mut Vec<AssembledFrame<T>>,
    ) -> Result<PushOutcome, DepacketizeError> {
        let result = self.add(meta, payload, tag, out);
        let counter = match &result {
            Ok(PushOutcome::Accepted) => &mut self.stats.packets,
            Ok(PushOutcome::Duplicate) => &mut self.stats.duplicates,
            Ok(PushOutcome::Late) => &mut self.stats.late,
            Err(
                DepacketizeError::GeometryTooLarge { .. }
                | DepacketizeError::GeometryMismatch { .. },
            ) => &mut self.stats.geometry_rejected,
            Err(DepacketizeError::FrameTooLarge { .. }) => &mut self.stats.over_frame_bytes,
            Err(DepacketizeError::TooManyFragmentPieces { .. }) => {
                &mut self.stats.over_fragment_pieces
            }
            Err(_) => &mut self.stats.malformed,
        };
        *counter += 1;
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
            .get(PAYLOAD_HEADER_LEN..PAYLOAD_HEADER_LEN + FRAME_HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(DepacketizeError::TooShort(payload.len()))?;
        let header = FrameHeader::parse(&header_bytes)?;
        // Before anything is allocated for the frame: its tile map and byte
        // limit follow from the geometry the sender announces.
        self.limits.check_geometry(&header.geometry)?;
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
                    seq_span: None,
                    records: BTreeMap::new(),
                    tiles: vec![false; header.geometry.tile_count() as usize],
                    ranks: Vec::new(),
                    fragments: BTreeMap::new(),
                    broken_records: 0,
                    bytes: 0,
                    byte_limit: self.limits.frame_byte_limit(&header.geometry),
                    pieces: 0,
                    started: self.now,
                    marker_at: None,
                };
                self.pending.insert(pos, frame);
                pos
            }
        };

        let result = Self::add_to_frame(
            &mut self.pending[pos],
            meta,
            ph,
            body,
            &self.limits,
            &mut self.piece_comparisons,
        );
        if self.pending[pos].packets.is_empty() {
            // Nothing valid ever arrived for it: do not output an empty frame
            // that only a malformed packet announced.
            self.pending.remove(pos);
            return result;
        }
        if meta.marker && matches!(result, Ok(PushOutcome::Accepted)) {
            let now = self.now;
            self.pending[pos].marker_at.get_or_insert(now);
        }
        if matches!(result, Ok(PushOutcome::Accepted)) && self.pending[pos].complete() {
            for _ in 0..=pos {
                if let Some(frame) = self.pending.pop_front() {
                    out.push(self.finish(frame));
                }
            }
        }
        while self.front_overtaken() {
            if let Some(frame) = self.pending.pop_front() {
                self.stats.frames_given_up += 1;
                out.push(self.finish(frame));
            }
        }
        while self.pending.len() > self.limits.max_pending_frames.max(1) {
            if let Some(frame) = self.pending.pop_front() {
                self.stats.frames_evicted += 1;
                out.push(self.finish(frame));
            }
        }
        result
    }

    /// Whether the oldest frame in progress will get nothing more: every
    /// packet it sent has arrived (some records were broken), or packets of
    /// newer frames more than [`AssemblerLimits::reorder_packets`] past its
    /// end did.
    fn front_overtaken(&self) -> bool {
        let Some(front) = self.pending.front() else {
            return false;
        };
        if front.all_packets_in() {
            return true;
        }
        let newer = || self.pending.iter().skip(1).filter_map(|f| f.seq_span);
        // Where the frame's packets end at the latest: after its marker,
        // or before the first packet seen of any newer frame.
        let end = front.end_seq.or_else(|| {
            newer()
                .map(|(lowest, _)| lowest)
                .reduce(|a, b| if seq_before(b, a) { b } else { a })
        });
        let highest =
            newer()
                .map(|(_, highest)| highest)
                .reduce(|a, b| if seq_before(a, b) { b } else { a });
        match (end, highest) {
            (Some(end), Some(highest)) => {
                let past = highest.wrapping_sub(end) as i16;
                past >= 0 && past.unsigned_abs() >= self.limits.reorder_packets
            }
            _ => false,
        }
    }

    fn add_to_frame(
        frame: &mut PendingFrame<T>,
        meta: PacketMeta,
        ph: PayloadHeader,
        body: &[u8],
        limits: &AssemblerLimits,
        piece_comparisons: &mut u64,
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
                frame.reserve(body.len())?;
                // A packet is taken whole or not at all: tiles are marked as
                // they are checked (the frame's map also catches a tile twice
                // in this packet, in constant time) and unmarked if a later
                // record fails.
                let mut marked = Vec::new();
                let mut check = || {
                    for record in RecordReader::new(body, geometry) {
                        // A move names a run of tiles; each counts. A
                        // remember record claims its rank instead.
                        for t in record?.claims() {
                            if *frame.claimed(t) || frame.fragments.contains_key(&t) {
                                return Err(DepacketizeError::DuplicateTile(t));
                            }
                            *frame.claimed(t) = true;
                            marked.push(t);
                        }
                    }
                    Ok(())
                };
                if let Err(e) = check() {
                    for t in marked {
                        *frame.claimed(t) = false;
                    }
                    return Err(e);
                }
                if !body.is_empty() {
                    frame.bytes += body.len();
                    frame.records.insert(index, body.to_vec());
                }
            }
            PayloadKind::Fragment => {
                let piece = body.get(FRAGMENT_HEADER_LEN..).unwrap_or(&[]);
                let fh = FragmentHeader::parse(body, &frame.header, piece.len())?;
                let t = fh.tile_index;
                if *frame.claimed(t) {
                    return Err(DepacketizeError::DuplicateTile(t));
                }
                // FragmentHeader::parse checked that the piece ends inside
                // its record.
                let start = fh.offset;
                let end =
                    piece_end(start, piece.len()).ok_or(DepacketizeError::FragmentOutOfRange {
                        tile: t,
                        offset: fh.offset,
                        len: piece.len(),
                        record_len: fh.record_len,
                    })?;
                frame.reserve(piece.len())?;
                if frame.pieces >= limits.max_fragment_pieces {
                    return Err(DepacketizeError::TooManyFragmentPieces {
                        limit: limits.max_fragment_pieces,
                    });
                }
                let r = frame.fragments.entry(t).or_insert_with(|| Reassembly {
                    record_len: fh.record_len,
                    pieces: BTreeMap::new(),
                    received: 0,
                    first_packet: None,
                });
                *piece_comparisons += r.pieces.len().min(2) as u64;
                if r.record_len != fh.record_len || r.overlaps(start, end) {
                    if r.pieces.is_empty() {
                        frame.fragments.remove(&t);
                    }
                    return Err(DepacketizeError::FragmentMismatch(t));
                }
                r.pieces.insert(start, piece.to_vec());
                r.received += piece.len();
                frame.bytes += piece.len();
                frame.pieces += 1;
                if start == 0 {
                    r.first_packet = Some(index);
                }
                if r.received == r.record_len as usize {
                    let Some(r) = frame.fragments.remove(&t) else {
                        return Err(DepacketizeError::FragmentMismatch(t));
                    };
                    frame.pieces -= r.pieces.len();
                    let mut record = Vec::with_capacity(r.received);
                    for piece in r.pieces.values() {
                        record.extend_from_slice(piece);
                    }
                    let tiles = match parse_record(&record, &geometry) {
                        Ok((rec, used)) if rec.key() == t && used == record.len() => rec.claims(),
                        _ => {
                            // The pieces arrived but do not form the record they
                            // claim: the record is lost, the packet was valid.
                            frame.packets.insert(index);
                            frame.broken_records += 1;
                            frame.bytes -= record.len();
                            return Err(DepacketizeError::ReassemblyMismatch(t));
                        }
                    };
                    // The rest of a move's run must be free as well.
                    if tiles.clone().skip(1).any(|t| *frame.claimed(t)) {
                        frame.packets.insert(index);
                        frame.broken_records += 1;
                        frame.bytes -= record.len();
                        return Err(DepacketizeError::DuplicateTile(t));
                    }
                    for t in tiles {
                        *frame.claimed(t) = true;
                    }
                    // Non-overlapping pieces summing to the length cover it
                    // from offset 0, so the first piece's index is known.
                    let key = r.first_packet.unwrap_or(index);
                    frame.records.insert(key, record);
                }
            }
        }
        frame.packets.insert(index);
        let seq = meta.seqnum;
        frame.seq_span = Some(match frame.seq_span {
            None => (seq, seq),
            Some((lowest, highest)) => (
                if seq_before(seq, lowest) { seq } else { lowest },
                if seq_before(highest, seq) {
                    seq
                } else {
                    highest
                },
            ),
        });
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
        // Not every tile is here: a decoder must not take it for a keyframe.
        let header = FrameHeader {
            keyframe: frame.header.keyframe && complete,
            ..frame.header
        };
        let len = frame
            .records
            .values()
            .map(Vec::len)
            .fold(FRAME_HEADER_LEN, usize::saturating_add);
        let mut data = Vec::with_capacity(len);
        header.write(&mut data);
        for record in frame.records.values() {
            data.extend_from_slice(record);
        }
        let fragments_dropped = u32::try_from(frame.fragments.len())
            .unwrap_or(u32::MAX)
            .saturating_add(frame.broken_records);
        self.next_seq = frame.end_seq;
        self.last_output = Some(frame.timestamp);
        self.last_frame_number = Some(frame.header.frame_number);
        self.stats.frames += 1;
        self.stats.fragments_dropped += u64::from(fragments_dropped);
        let out = AssembledFrame {
            timestamp: frame.timestamp,
            tag: frame.tag,
            header,
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
