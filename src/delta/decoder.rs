// SPDX-License-Identifier: MPL-2.0
//! The changes-only decoder: applies tile records to a canvas it keeps.
//!
//! It also decides when the picture may change size (docs/bitstream.md,
//! "Decoder behaviour"): within [`DecoderLimits`], at most once per
//! interval, on a keyframe or on a new geometry that persists. The decoder
//! reads no clock: the caller passes each frame's time in.

use std::time::Duration;

use super::bitstream::{
    self, parse_frame, BitstreamError, FrameHeader, FrameWriter, TileCoding, TileRecord,
    FRAME_HEADER_LEN, MAX_CACHE_TILES, MOVE_OFFSET_LEN, REMEMBER_TILE_LEN,
};
use super::cache::{self, TileCache};
use super::canvas::ReferenceCanvas;
use super::entropy::LosslessScratch;
use super::geometry::Geometry;
use super::lossy;
use super::palette::{self, PaletteScratch};
use super::samples::TileSamples;
use super::tile;

/// Default largest picture width: the widest common screen (4K DCI).
pub const DEFAULT_MAX_WIDTH: u32 = 4096;
/// Default largest picture height: the tallest common screen (4096x2304, the
/// 16:9 5K/4K "Retina" class).
pub const DEFAULT_MAX_HEIGHT: u32 = 2304;
/// Smallest size limit a receiver may be given (`max-width`, `max-height`):
/// one tile. The largest is the format's own, [`super::geometry::MAX_DIMENSION`].
pub const MIN_SIZE_LIMIT: u32 = super::geometry::MIN_TILE_SIZE;
/// Default shortest time between two accepted geometry changes.
pub const DEFAULT_MIN_GEOMETRY_CHANGE_INTERVAL: Duration = Duration::from_secs(1);
/// Consecutive frames that must announce the same new geometry before a
/// decoder adopts it without a keyframe: one damaged header is not enough,
/// a real size change whose keyframe was lost is.
pub const GEOMETRY_CONFIRM_FRAMES: u32 = 3;

/// What a decoder accepts from a stream, whatever its headers claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Largest picture width in pixels.
    pub max_width: u32,
    /// Largest picture height in pixels.
    pub max_height: u32,
    /// A geometry change this soon after the previous one is refused.
    pub min_geometry_change_interval: Duration,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        DecoderLimits {
            max_width: DEFAULT_MAX_WIDTH,
            max_height: DEFAULT_MAX_HEIGHT,
            min_geometry_change_interval: DEFAULT_MIN_GEOMETRY_CHANGE_INTERVAL,
        }
    }
}

/// What one call to [`DeltaDecoder::decode`] did.
#[derive(Debug, Default)]
pub struct DecodeReport {
    /// The frame's header, when the frame was accepted.
    pub header: Option<FrameHeader>,
    /// Records decoded and written to the canvas.
    pub tiles_applied: u32,
    /// Records that could not be applied (corrupt payload or framing).
    pub records_dropped: u32,
    /// The first problem met, if any.
    pub error: Option<BitstreamError>,
    /// The geometry changed: the canvas was replaced.
    pub geometry_changed: bool,
    /// Recall records whose entry the cache did not hold: their tiles kept
    /// what they held and are marked stale.
    pub recall_misses: u32,
}

/// Counters since the decoder was made.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DecoderStats {
    /// Frames accepted (applied, whole or in part).
    pub frames: u64,
    /// Accepted frames flagged as keyframes.
    pub keyframes: u64,
    /// Records decoded and written to the canvas.
    pub tiles_applied: u64,
    /// Records dropped: corrupt, badly framed or repeating a tile.
    pub records_dropped: u64,
    /// Frames refused whole, for any reason (the next three included).
    pub frames_rejected: u64,
    /// Frames refused for a geometry over [`DecoderLimits`].
    pub frames_oversized: u64,
    /// Frames refused because they would change the geometry again within
    /// [`DecoderLimits::min_geometry_change_interval`].
    pub geometry_changes_throttled: u64,
    /// Geometry changes accepted (the first picture is not a change).
    pub geometry_changes: u64,
    /// Bytes passed to the decoder.
    pub bytes: u64,
    /// Tiles written from the cache by recall records.
    pub tiles_recalled: u64,
    /// Recall records whose entry the cache did not hold (after a loss, or
    /// with a smaller cache than the encoder's): the tile is marked stale.
    pub recall_misses: u64,
}

/// A geometry other than the canvas's, announced by consecutive frames.
#[derive(Debug, Clone, Copy)]
struct GeometryCandidate {
    geometry: Geometry,
    frames: u32,
}

/// Decoder state: the canvas and which tiles it has received.
#[derive(Default)]
pub struct DeltaDecoder {
    limits: DecoderLimits,
    /// When the geometry last changed (the caller's time base).
    last_change: Option<Duration>,
    candidate: Option<GeometryCandidate>,
    canvas: Option<ReferenceCanvas>,
    /// The canvas as it was before the current frame's records: what moves
    /// read, whatever order their records come in.
    previous: Option<ReferenceCanvas>,
    received: Vec<bool>,
    missing: u32,
    /// Tiles not known to be right: not updated by a self-contained record
    /// since the decoder learned of a loss, or copied from such a tile.
    stale: Vec<bool>,
    stale_count: u32,
    /// `received` and `stale` before the current frame's records (valid for
    /// the tiles this frame's moves read).
    previous_received: Vec<bool>,
    previous_stale: Vec<bool>,
    /// Per tile, whether this frame's records claim it and whether its moves
    /// read it (scratch).
    move_sources: Vec<u8>,
    /// The number of the last frame accepted.
    last_frame_number: u32,
    /// Per tile, the number of the last frame that carried it: a record
    /// whose tile already appeared in this frame is a repeat. Numbering the
    /// frames spares clearing a per-frame bitmap.
    seen_in_frame: Vec<u32>,
    frame_serial: u32,
    stats: DecoderStats,
    /// Cache entries the stream announces (`cache-tiles`); the cache holds
    /// [`cache::capacity`] of them for the geometry.
    cache_tiles: u32,
    cache: TileCache,
    /// Tiles this frame's records wrote: their earlier content goes into
    /// the cache after the frame.
    written: Vec<u32>,
    /// This frame's remember records: rank, content, a tile of its shape.
    remembered: Vec<(u32, TileSamples, u32)>,
    /// Per rank, the serial of the last frame with a remember record of it.
    remember_seen: Vec<u32>,
    samples: TileSamples,
    lossless: LosslessScratch,
    palette: PaletteScratch,
}

impl DeltaDecoder {
    /// A decoder holding nothing yet, with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder holding nothing yet, with `limits`.
    pub fn with_limits(limits: DecoderLimits) -> Self {
        DeltaDecoder {
            limits,
            ..Self::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> DecoderLimits {
        self.limits
    }

    /// Replaces the limits. A canvas already over the new ones stays until
    /// the next frame, which is then refused like any oversized frame.
    pub fn set_limits(&mut self, limits: DecoderLimits) {
        self.limits = limits;
    }

    /// Sets the number of tile contents kept for recall records, as the
    /// stream announces it (`cache-tiles` in the caps; 0, the default,
    /// keeps none and every recall misses). Bounded by
    /// [`MAX_CACHE_TILES`]; a change empties the cache.
    pub fn set_cache_tiles(&mut self, tiles: u32) {
        let tiles = tiles.min(MAX_CACHE_TILES);
        if tiles != self.cache_tiles {
            self.cache_tiles = tiles;
            let capacity = self
                .canvas
                .as_ref()
                .map_or(0, |c| cache::capacity(tiles, c.geometry()));
            self.cache = TileCache::new(capacity);
        }
    }

    /// The tile cache (entries oldest first).
    pub fn cache(&self) -> &TileCache {
        &self.cache
    }

    /// The canvas, once a frame has set its geometry.
    pub fn canvas(&self) -> Option<&ReferenceCanvas> {
        self.canvas.as_ref()
    }

    /// The tiles the last call to [`DeltaDecoder::decode`] wrote, in no
    /// particular order (what a viewer repaints; after a geometry change,
    /// repaint the whole picture). Empty after a refused frame.
    pub fn written_tiles(&self) -> &[u32] {
        &self.written
    }

    /// Tiles never received since the canvas was made.
    pub fn missing_tiles(&self) -> u32 {
        self.missing
    }

    /// Tiles that may be stale: not updated since the last reported loss.
    pub fn stale_tiles(&self) -> u32 {
        self.stale_count
    }

    /// Every tile has arrived at least once.
    pub fn is_complete(&self) -> bool {
        self.canvas.is_some() && self.missing == 0
    }

    /// Counters so far.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Marks every tile as possibly stale: some records were lost upstream.
    pub fn note_loss(&mut self) {
        self.stale.fill(true);
        self.stale_count = self.stale.len() as u32;
    }

    /// Decides whether a frame announcing `header`'s geometry may be applied
    /// at `now`, and records a change it accepts (see docs/bitstream.md).
    fn admit_geometry(
        &mut self,
        header: &FrameHeader,
        now: Duration,
    ) -> Result<(), BitstreamError> {
        let g = header.geometry;
        if g.width > self.limits.max_width || g.height > self.limits.max_height {
            self.stats.frames_oversized += 1;
            return Err(BitstreamError::GeometryOverLimit {
                width: g.width,
                height: g.height,
                max_width: self.limits.max_width,
                max_height: self.limits.max_height,
            });
        }
        let Some(current) = self.canvas.as_ref().map(|c| *c.geometry()) else {
            // The first picture is not a change.
            return Ok(());
        };
        if current == g {
            self.candidate = None;
            return Ok(());
        }
        let frames = match self.candidate {
            Some(c) if c.geometry == g => c.frames.saturating_add(1),
            _ => 1,
        };
        self.candidate = Some(GeometryCandidate {
            geometry: g,
            frames,
        });
        if !header.keyframe && frames < GEOMETRY_CONFIRM_FRAMES {
            // A damaged delta must not throw the canvas away; a new geometry
            // that persists is a real resize whose keyframe was lost.
            return Err(BitstreamError::GeometryChangeWithoutKeyframe {
                width: g.width,
                height: g.height,
            });
        }
        // A time before the last change (a restarted time base) counts as
        // long enough: the limit must never freeze the picture for good.
        let too_soon = self
            .last_change
            .and_then(|last| now.checked_sub(last))
            .is_some_and(|elapsed| elapsed < self.limits.min_geometry_change_interval);
        if too_soon {
            self.stats.geometry_changes_throttled += 1;
            return Err(BitstreamError::GeometryChangeTooSoon {
                width: g.width,
                height: g.height,
            });
        }
        self.last_change = Some(now);
        self.candidate = None;
        self.stats.geometry_changes += 1;
        Ok(())
    }

    fn reset(&mut self, geometry: Geometry) {
        let n = geometry.tile_count() as usize;
        self.canvas = Some(ReferenceCanvas::new(geometry));
        self.previous = None;
        self.received = vec![false; n];
        self.stale = vec![false; n];
        self.previous_received = vec![false; n];
        self.previous_stale = vec![false; n];
        self.seen_in_frame = vec![0; n];
        self.remember_seen = vec![0; MAX_CACHE_TILES as usize];
        self.frame_serial = 0;
        self.cache = TileCache::new(cache::capacity(self.cache_tiles, &geometry));
        self.missing = n as u32;
        self.stale_count = 0;
    }

    /// Copies into `previous` every tile that this frame's moves and move
    /// residuals read, as the canvas holds it before the frame, and with
    /// `written` every tile the frame writes (its content goes into the
    /// cache after the frame).
    fn keep_move_sources<'a>(
        &mut self,
        g: &Geometry,
        records: impl Iterator<Item = Result<TileRecord<'a>, BitstreamError>>,
        written: bool,
    ) {
        let Some(canvas) = &self.canvas else {
            return;
        };
        // Per tile: claimed by a record of this frame, read by a move. A
        // record naming a claimed tile is dropped later as a repeat, so it
        // is skipped here too: the work is bounded by the tile count,
        // whatever the frame holds.
        let n = g.tile_count() as usize;
        let mut marks = std::mem::take(&mut self.move_sources);
        marks.clear();
        marks.resize(n, 0);
        const CLAIMED: u8 = 1;
        const SOURCE: u8 = 2;
        let mut any = false;
        for record in records.flatten() {
            if record.tiles().any(|t| marks[t as usize] & CLAIMED != 0) {
                continue;
            }
            for t in record.tiles() {
                marks[t as usize] |= CLAIMED;
                if written {
                    marks[t as usize] |= SOURCE;
                    any = true;
                }
            }
            let Some((dx, dy)) = record.offset() else {
                continue;
            };
            for t in record.tiles() {
                // Offsets that read outside the picture are refused later.
                if g.prediction_is_valid(t, dx, dy) {
                    for s in g.shifted_tiles(t, dx, dy) {
                        marks[s as usize] |= SOURCE;
                        any = true;
                    }
                }
            }
        }
        if any {
            let previous = match &mut self.previous {
                Some(p) => p,
                // The first time, a whole copy (the buffer is kept).
                None => self.previous.insert(canvas.clone()),
            };
            let view = canvas.view();
            for (t, _) in marks.iter().enumerate().filter(|(_, m)| **m & SOURCE != 0) {
                previous.copy_tile_from(&view, t as u32);
                self.previous_received[t] = self.received[t];
                self.previous_stale[t] = self.stale[t];
            }
        }
        self.move_sources = marks;
    }

    /// Decodes one record and writes it to the canvas, with its tiles'
    /// bookkeeping. Nothing is written for a record that does not decode.
    fn apply(&mut self, g: &Geometry, record: &TileRecord) -> Result<(), BitstreamError> {
        let corrupt = |reason| BitstreamError::CorruptPayload {
            index: record.index,
            coding: record.coding,
            reason,
        };
        match record.coding {
            TileCoding::Recall => return self.recall(g, record),
            TileCoding::Remember => return self.remember(g, record),
            _ => {}
        }
        if record.coding.reads_previous() {
            let (dx, dy) = record
                .offset()
                .ok_or_else(|| corrupt("shorter than a move's offset"))?;
            if record.coding == TileCoding::Move && record.payload.len() != MOVE_OFFSET_LEN {
                return Err(corrupt("a move's payload is its offset alone"));
            }
            let valid = |t| match record.coding {
                TileCoding::Move => g.shift_is_valid(t, dx, dy),
                _ => g.prediction_is_valid(t, dx, dy),
            };
            if !record.tiles().all(valid) {
                return Err(corrupt("the move reads outside the picture"));
            }
            let (Some(canvas), Some(previous)) = (&mut self.canvas, &self.previous) else {
                return Err(corrupt("nothing to move from"));
            };
            let previous_view = previous.view();
            if record.coding == TileCoding::Move {
                for t in record.tiles() {
                    canvas.copy_tile_from_shifted(&previous_view, t, dx, dy);
                }
            } else {
                self.samples
                    .gather_shifted(g, &previous_view, record.index, dx, dy);
                tile::apply_residual(
                    &mut self.samples,
                    &mut self.lossless,
                    record.index,
                    &record.payload[MOVE_OFFSET_LEN..],
                )?;
                self.samples.scatter(canvas, record.index);
            }
            for t in record.tiles() {
                let (received, stale) = self.sources_state(g, t, dx, dy);
                self.mark(t, received, stale);
            }
            return Ok(());
        }
        self.samples.layout(g, record.index);
        match record.coding {
            TileCoding::Fill => tile::decode_fill(&mut self.samples, record.index, record.payload),
            TileCoding::Lossless => tile::decode_lossless(
                &mut self.samples,
                &mut self.lossless,
                record.index,
                record.payload,
            ),
            TileCoding::Palette => palette::decode(
                &mut self.samples,
                &mut self.palette,
                &mut self.lossless,
                record.index,
                record.param,
                record.payload,
            ),
            _ => lossy::decode(
                &mut self.samples,
                g.format,
                record.param,
                record.index,
                record.payload,
            ),
        }?;
        if let Some(canvas) = &mut self.canvas {
            self.samples.scatter(canvas, record.index);
        }
        self.mark(record.index, true, false);
        Ok(())
    }

    /// A recall: the cache entry (as it was before the frame) when it is
    /// held, else the tile keeps what it held and is marked stale.
    fn recall(&mut self, g: &Geometry, record: &TileRecord) -> Result<(), BitstreamError> {
        let hash = record.recall_hash().ok_or(BitstreamError::CorruptPayload {
            index: record.index,
            coding: record.coding,
            reason: "a recall's payload is its 8-byte hash",
        })?;
        let t = record.index;
        match (self.cache.get(g, hash, t), &mut self.canvas) {
            (Some(entry), Some(canvas)) => {
                entry.samples.scatter(canvas, t);
                self.stats.tiles_recalled += 1;
                self.mark(t, true, false);
            }
            _ => {
                self.stats.recall_misses += 1;
                self.mark(t, self.received[t as usize], true);
                return Err(BitstreamError::RecallMiss { index: t });
            }
        }
        Ok(())
    }

    /// A remember record: its content is decoded and kept for the cache,
    /// which takes it after the frame. Ranks past this decoder's cache are
    /// skipped undecoded (a smaller cache keeps the newest entries).
    fn remember(&mut self, g: &Geometry, record: &TileRecord) -> Result<(), BitstreamError> {
        let rank = record.index;
        if rank as usize >= self.cache.capacity() {
            return Ok(());
        }
        if self.remember_seen[rank as usize] == self.frame_serial {
            return Err(BitstreamError::RepeatedRank { rank });
        }
        self.remember_seen[rank as usize] = self.frame_serial;
        let corrupt = |reason| BitstreamError::CorruptPayload {
            index: rank,
            coding: record.coding,
            reason,
        };
        let Some((shape, content)) = record.payload.split_first_chunk::<REMEMBER_TILE_LEN>() else {
            return Err(corrupt("shorter than a remember record's tile"));
        };
        let shape = u32::from_be_bytes([0, shape[0], shape[1], shape[2]]);
        if shape >= g.tile_count() {
            return Err(corrupt("a remember record's tile is outside the grid"));
        }
        self.samples.layout(g, shape);
        match TileCoding::from_code(record.param) {
            Some(TileCoding::Lossless) => {
                tile::decode_lossless(&mut self.samples, &mut self.lossless, rank, content)
            }
            // A remembered palette always has the sorted table layout.
            Some(TileCoding::Palette) => palette::decode(
                &mut self.samples,
                &mut self.palette,
                &mut self.lossless,
                rank,
                palette::SORTED_TABLE,
                content,
            ),
            _ => Err(corrupt("a remembered content is lossless or palette coded")),
        }?;
        self.remembered.push((rank, self.samples.clone(), shape));
        Ok(())
    }

    /// After a frame: the content each written tile held before it, when
    /// the frame changed it and it was not uniform (a fill is smaller than
    /// a recall), goes into the cache in tile order; then the frame's
    /// remember records, oldest first. A keyframe inserts only the latter.
    fn update_cache(&mut self, g: &Geometry, keyframe: bool) {
        if self.cache.capacity() == 0 {
            self.remembered.clear();
            return;
        }
        if let (false, Some(canvas), Some(previous)) = (keyframe, &self.canvas, &self.previous) {
            self.written.sort_unstable();
            let before = previous.view();
            for &t in &self.written {
                if canvas.shifted_row_differences(&before, t, 0, 0, 0) == 0 {
                    continue;
                }
                self.samples.gather(g, &before, t);
                if self.samples.fill_values().is_none() {
                    self.cache
                        .insert(cache::tile_hash(&self.samples), &self.samples, t, 0);
                }
            }
        }
        self.remembered
            .sort_unstable_by_key(|&(rank, _, _)| std::cmp::Reverse(rank));
        for (_, samples, tile) in self.remembered.drain(..) {
            self.cache
                .insert(cache::tile_hash(&samples), &samples, tile, 0);
        }
    }

    /// Whether every tile a move of `tile` by (dx, dy) reads had arrived,
    /// and whether any of them was stale, before this frame.
    fn sources_state(&self, g: &Geometry, tile: u32, dx: i32, dy: i32) -> (bool, bool) {
        g.shifted_tiles(tile, dx, dy)
            .fold((true, false), |(received, stale), t| {
                (
                    received && self.previous_received[t as usize],
                    stale || self.previous_stale[t as usize],
                )
            })
    }

    /// Records what `tile` now holds: whether all of it has arrived, and
    /// whether it may be wrong.
    fn mark(&mut self, tile: u32, received: bool, stale: bool) {
        let i = tile as usize;
        if received != self.received[i] {
            self.received[i] = received;
            if received {
                self.missing -= 1;
            } else {
                self.missing += 1;
            }
        }
        if stale != self.stale[i] {
            self.stale[i] = stale;
            if stale {
                self.stale_count += 1;
            } else {
                self.stale_count -= 1;
            }
        }
    }

    /// A keyframe that puts a fresh decoder in this decoder's state: every
    /// tile of the canvas, self-contained and lossless, then every cache
    /// entry as a remember record, numbered as the last frame accepted. A decoder that applies it and then the frames that
    /// follow holds exactly what this one holds. `None` before the first
    /// frame.
    pub fn snapshot(&mut self) -> Option<Vec<u8>> {
        let canvas = self.canvas.as_ref()?;
        let g = *canvas.geometry();
        let header = FrameHeader {
            geometry: g,
            keyframe: true,
            frame_number: self.last_frame_number,
        };
        let mut writer = FrameWriter::new(&header, FRAME_HEADER_LEN + g.tile_count() as usize * 64);
        let view = canvas.view();
        for t in 0..g.tile_count() {
            self.samples.gather(&g, &view, t);
            match self.samples.fill_values() {
                Some(values) => {
                    let out = writer.begin_record(t, TileCoding::Fill, 0);
                    tile::encode_fill(&self.samples, values, out);
                }
                None => {
                    let mut payload = Vec::new();
                    let (coding, param) = palette::encode_exact(
                        &self.samples,
                        &mut self.lossless,
                        &mut self.palette,
                        &mut payload,
                    );
                    writer
                        .begin_record(t, coding, param)
                        .extend_from_slice(&payload);
                }
            }
            // A tile's lossless record is far below the 16 MiB field.
            let _ = writer.finish_record();
        }
        // The cache, oldest first, so that a decoder inserting in rank
        // order evicts in the same order as this one.
        let held = self.cache.len();
        for (i, entry) in self.cache.entries().enumerate() {
            let mut payload = Vec::new();
            // encode_exact writes palettes in the sorted table layout, the
            // one a remember record's palette has.
            let (coding, _) = palette::encode_exact(
                &entry.samples,
                &mut self.lossless,
                &mut self.palette,
                &mut payload,
            );
            let out =
                writer.begin_record((held - 1 - i) as u32, TileCoding::Remember, coding.code());
            out.extend_from_slice(&entry.tile.to_be_bytes()[1..]);
            out.extend_from_slice(&payload);
            let _ = writer.finish_record();
        }
        Some(writer.into_bytes())
    }

    /// Applies one frame (or any subset of one frame's records) that
    /// arrived at `now` (any monotonic time base: only differences count).
    /// A corrupt record is dropped whole and counted; a framing error stops
    /// the frame there. Either way the canvas holds only complete tiles.
    pub fn decode(&mut self, data: &[u8], now: Duration) -> DecodeReport {
        let mut report = DecodeReport::default();
        self.stats.bytes += data.len() as u64;
        self.written.clear();
        let (header, records) = match parse_frame(data) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.stats.frames_rejected += 1;
                report.error = Some(e);
                return report;
            }
        };
        // Every check on the header comes before the canvas is touched:
        // nothing is allocated for a frame that is then refused.
        if let Err(e) = self.admit_geometry(&header, now) {
            self.stats.frames_rejected += 1;
            report.error = Some(e);
            return report;
        }
        report.header = Some(header);
        if self.canvas.as_ref().map(|c| *c.geometry()) != Some(header.geometry) {
            self.reset(header.geometry);
            report.geometry_changed = true;
        }
        if bitstream::is_damaged(data) {
            // Lost upstream of whoever forwarded it: the same as a loss here.
            self.note_loss();
        }
        let g = header.geometry;
        self.frame_serial = match self.frame_serial.checked_add(1) {
            Some(serial) => serial,
            None => {
                // Once in 2^32 frames: forget the old numbers so none of them
                // can collide with the restarted count.
                self.seen_in_frame.fill(0);
                self.remember_seen.fill(0);
                1
            }
        };
        // Moves read the picture as it was before any record of this frame:
        // keep a copy of the tiles they read (only those: a dragged window
        // costs its own area, not the whole picture).
        if header.keyframe {
            // A decoder may start here: nothing before it may be recalled.
            self.cache.clear();
        }
        let keep_written = !header.keyframe && self.cache.capacity() > 0;
        self.keep_move_sources(&g, records.clone(), keep_written);
        self.written.clear();
        for record in records {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    report.records_dropped = report.records_dropped.saturating_add(1);
                    report.error.get_or_insert(e);
                    break;
                }
            };
            // A repeat is refused before any decoding: thousands of records
            // naming one large tile would otherwise cost a full tile decode
            // each (a 64 KiB frame rewriting over a gigabyte). So each tile
            // is written at most once a frame, whatever the records say.
            let tiles = record.tiles();
            if let Some(index) = tiles
                .clone()
                .find(|&t| self.seen_in_frame[t as usize] == self.frame_serial)
            {
                report.records_dropped = report.records_dropped.saturating_add(1);
                report
                    .error
                    .get_or_insert(BitstreamError::RepeatedTile { index });
                continue;
            }
            for t in tiles.clone() {
                self.seen_in_frame[t as usize] = self.frame_serial;
            }
            match self.apply(&g, &record) {
                Ok(()) => {
                    report.tiles_applied = report.tiles_applied.saturating_add(tiles.len() as u32);
                    self.written.extend(tiles);
                }
                Err(BitstreamError::RecallMiss { .. }) => {
                    report.recall_misses = report.recall_misses.saturating_add(1);
                }
                Err(e) => {
                    report.records_dropped = report.records_dropped.saturating_add(1);
                    report.error.get_or_insert(e);
                }
            }
        }
        self.update_cache(&g, header.keyframe);
        self.last_frame_number = header.frame_number;
        self.stats.frames += 1;
        self.stats.keyframes += header.keyframe as u64;
        self.stats.tiles_applied += report.tiles_applied as u64;
        self.stats.records_dropped += report.records_dropped as u64;
        report
    }
}
