// SPDX-License-Identifier: MPL-2.0
//! The changes-only encoder: decides which tiles to send and codes them.

use super::bitstream::{
    write_offset, FrameHeader, FrameWriter, TileCoding, FRAME_HEADER_LEN, MAX_CACHE_TILES,
    MAX_MOVE_RUN, RECORD_HEADER_LEN,
};
use super::cache::{self, TileCache};
use super::canvas::{FrameView, ReferenceCanvas};
use super::entropy::LosslessScratch;
use super::geometry::Geometry;
use super::lossy;
use super::motion::{MotionSearch, Offset};
use super::palette::{self, PaletteScratch};
use super::samples::TileSamples;
use super::tile;

/// How tiles are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileMode {
    /// Bit-exact (screen content).
    Lossless,
    /// DCT at the given quality, 1..=100 (camera content).
    Lossy { quality: u8 },
}

/// What the encoder is asked to do; see the `deltaenc` properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    pub mode: TileMode,
    /// A tile whose largest 8x8-block mean absolute difference from the
    /// decoder's reference is at most this counts as unchanged (0: exact).
    pub threshold: u32,
    /// Every tile is re-sent at least once every this many frames (0: off).
    pub intra_refresh: u32,
    /// A keyframe at least every this many frames (0: only when asked).
    pub key_int_max: u32,
    /// Split the comparison and the coding of a frame between two threads.
    pub parallel: bool,
    /// Tile contents the decoder keeps for recall records (0: none; at most
    /// [`MAX_CACHE_TILES`]). Lossless only: a lossy encoder keeps none.
    pub cache_tiles: u32,
}

impl EncoderConfig {
    /// Lossless and exact (threshold 0), with no intra-refresh, no periodic
    /// keyframe, no tile cache, on one thread: the base that tests and
    /// tools set the fields they care about on.
    pub const LOSSLESS: EncoderConfig = EncoderConfig {
        mode: TileMode::Lossless,
        threshold: 0,
        intra_refresh: 0,
        key_int_max: 0,
        parallel: false,
        cache_tiles: 0,
    };
}

/// Counters since the encoder was made.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EncoderStats {
    pub frames: u64,
    pub keyframes: u64,
    pub tiles_sent: u64,
    pub tiles_changed: u64,
    pub tiles_refreshed: u64,
    pub tiles_total: u64,
    /// Changed tiles sent as a move (a copy of the previous picture).
    pub tiles_moved: u64,
    /// Changed tiles sent as a move plus a residual.
    pub tiles_move_residual: u64,
    /// Changed tiles sent as a recall of content the decoder held before.
    pub tiles_recalled: u64,
    pub bytes: u64,
    /// Bytes of the records intra refresh sent (headers included): what
    /// the refresh costs on top of the changes.
    pub refresh_bytes: u64,
}

/// One encoded frame.
#[derive(Debug)]
pub struct EncodedFrame {
    pub data: Vec<u8>,
    pub keyframe: bool,
    pub tiles_sent: u32,
    pub tiles_changed: u32,
}

/// What the encoder sends for a tile this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// A self-contained record; `fresh`: code it now (else re-send the last
    /// self-contained record, whose content is unchanged).
    Intra { fresh: bool },
    /// A copy of the previous picture at an offset.
    Move(Offset),
    /// A copy at an offset plus the exact difference, when that is smaller
    /// than the self-contained record (decided when coding).
    Predict(Offset),
    /// The cache entry with this hash; `age` is the entry's `clean_since`.
    Recall { hash: u64, age: u64 },
}

/// Encoder state: the decoder's reference picture and the refresh schedule.
pub struct DeltaEncoder {
    geometry: Geometry,
    config: EncoderConfig,
    /// What the decoder holds (DESIGN principle 1).
    reference: ReferenceCanvas,
    /// The reference before this frame's records, for lossy moves, which
    /// copy reconstructed samples.
    previous: Option<ReferenceCanvas>,
    /// Lossy only: the source each reference tile was coded from. A tile whose
    /// source is unchanged would reconstruct to exactly what the decoder holds,
    /// so it is skipped without a lossy comparison.
    coded_source: Option<ReferenceCanvas>,
    motion: MotionSearch,
    /// The offset last used for each tile, and the offset most used in the
    /// last frame: the first candidates for the next.
    last_offset: Vec<Option<Offset>>,
    dominant: Option<Offset>,
    frame_number: u32,
    frames_since_key: u64,
    /// Frames encoded: the clock of `clean_since`.
    frame_index: u64,
    /// Per tile, the oldest frame whose self-contained record the tile's
    /// content depends on (moves carry their sources' age). A decoder that
    /// lost records before that frame and received everything since holds
    /// the tile exactly; intra refresh keeps every tile younger than its
    /// period.
    clean_since: Vec<u64>,
    /// `clean_since` before this frame's records (what moves read).
    previous_clean: Vec<u64>,
    /// What to send for each tile this frame (`None`: nothing).
    actions: Vec<Option<Action>>,
    /// Tiles that intra refresh, not a change, made self-contained this frame.
    refreshing: Vec<bool>,
    started: bool,
    stats: EncoderStats,
    dirty: Vec<bool>,
    /// Tiles to send this frame and how.
    plan: Vec<(u32, Action)>,
    /// The last record coded for each tile. Refresh and keyframes re-send an
    /// unchanged tile's self-contained record from here instead of coding it
    /// again: the same bytes, at the cost of a copy.
    sent: Vec<Option<SentRecord>>,
    candidates: Vec<Offset>,
    /// Offsets found by 2-D searches this frame, and how many were run.
    found: Vec<Offset>,
    searches: u32,
    /// Contents the decoder held before they were overwritten (a mirror of
    /// the decoder's, with each entry's age).
    cache: TileCache,
    /// A tile's samples for the cache (scratch).
    cache_samples: TileSamples,
    workers: [TileWorker; 2],
}

/// 2-D searches a frame at most: each costs about as much as coding a tile,
/// and the offsets found spread to the neighbours of the tiles searched.
const SEARCHES_PER_FRAME: u32 = 2;

impl DeltaEncoder {
    /// A new encoder; its first frame is a keyframe.
    pub fn new(geometry: Geometry, config: EncoderConfig) -> Self {
        let coded_source = match config.mode {
            TileMode::Lossy { .. } => Some(ReferenceCanvas::new(geometry)),
            TileMode::Lossless => None,
        };
        DeltaEncoder {
            geometry,
            config,
            reference: ReferenceCanvas::new(geometry),
            previous: None,
            coded_source,
            motion: MotionSearch::new(geometry),
            last_offset: vec![None; geometry.tile_count() as usize],
            dominant: None,
            frame_number: 0,
            frames_since_key: 0,
            frame_index: 0,
            clean_since: vec![0; geometry.tile_count() as usize],
            previous_clean: Vec::new(),
            actions: Vec::new(),
            refreshing: Vec::new(),
            started: false,
            stats: EncoderStats::default(),
            dirty: Vec::new(),
            plan: Vec::new(),
            sent: vec![None; geometry.tile_count() as usize],
            candidates: Vec::new(),
            found: Vec::new(),
            searches: 0,
            cache: TileCache::new(match config.mode {
                TileMode::Lossless => cache::capacity(config.cache_tiles, &geometry),
                TileMode::Lossy { .. } => 0,
            }),
            cache_samples: TileSamples::default(),
            workers: Default::default(),
        }
    }

    /// The geometry this encoder was made for.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Changes settings that need no new reference (threshold, refresh, key
    /// interval, quality). Switching between lossless and lossy, or the
    /// cache size (which the decoder learns from the caps), needs a new
    /// encoder.
    pub fn reconfigure(&mut self, config: EncoderConfig) {
        let config = EncoderConfig {
            cache_tiles: self.config.cache_tiles,
            ..config
        };
        let same_kind = matches!(
            (self.config.mode, config.mode),
            (TileMode::Lossless, TileMode::Lossless)
                | (TileMode::Lossy { .. }, TileMode::Lossy { .. })
        );
        if same_kind {
            self.config = config;
        }
    }

    /// The reference picture: what a decoder that received everything holds.
    pub fn reference(&self) -> &ReferenceCanvas {
        &self.reference
    }

    /// Counters so far.
    pub fn stats(&self) -> EncoderStats {
        self.stats
    }

    /// The cache size to announce to decoders (`cache-tiles`): 0 when the
    /// encoder sends no recalls.
    pub fn cache_tiles(&self) -> u32 {
        match self.config.mode {
            TileMode::Lossless => self.config.cache_tiles.min(MAX_CACHE_TILES),
            TileMode::Lossy { .. } => 0,
        }
    }

    /// The cache (entries oldest first): what a decoder that received
    /// everything holds.
    pub fn cache(&self) -> &TileCache {
        &self.cache
    }

    /// A recall of `tile`'s new content, when the cache holds it exactly.
    fn find_recall(&mut self, frame: &FrameView, tile: u32) -> Option<Action> {
        if self.cache.capacity() == 0 {
            return None;
        }
        let samples = &mut self.cache_samples;
        samples.gather(&self.geometry, frame, tile);
        let hash = cache::tile_hash(samples);
        let entry = self.cache.get(&self.geometry, hash, tile)?;
        // Content whose age intra refresh would force out this frame is
        // sent self-contained instead (`schedule_refresh` would anyway).
        let period = self.config.intra_refresh as u64;
        let now = self.frame_index - 1;
        if period > 0 && entry.age + period <= now {
            return None;
        }
        // A 64-bit hash names the content; the samples are compared all the
        // same, so a collision costs a self-contained record, not a wrong tile.
        let same = (0..samples.count).all(|c| entry.samples.channels[c] == samples.channels[c]);
        same.then_some(Action::Recall {
            hash,
            age: entry.age,
        })
    }

    /// Puts into the cache what each tile this frame changes held before,
    /// in tile order, unless it was uniform (a fill is smaller than a
    /// recall): what a decoder does after applying the frame. Lossless
    /// only, where a sent tile's new content is the frame's, so it changes
    /// exactly when it is dirty and not re-sent from its last record.
    fn remember_overwritten(&mut self, plan: &[(u32, Action)], dirty: &[bool]) {
        if self.cache.capacity() == 0 {
            return;
        }
        let view = self.reference.view();
        for &(tile, action) in plan {
            if !dirty[tile as usize] || action == (Action::Intra { fresh: false }) {
                continue;
            }
            self.cache_samples.gather(&self.geometry, &view, tile);
            if self.cache_samples.fill_values().is_none() {
                let hash = cache::tile_hash(&self.cache_samples);
                let age = self.previous_clean[tile as usize];
                self.cache.insert(hash, &self.cache_samples, tile, age);
            }
        }
    }

    /// The picture changes are detected against: the coded source (lossy)
    /// or the reference (lossless).
    fn base(&self) -> &ReferenceCanvas {
        self.coded_source.as_ref().unwrap_or(&self.reference)
    }

    /// Whether a tile that differs byte-wise from what was coded for it
    /// differs enough from the decoder's reference to be sent.
    fn exceeds_threshold(&self, frame: &FrameView, tile: u32) -> bool {
        self.config.threshold == 0
            || self.reference.tile_block_difference(frame, tile) > self.config.threshold
    }

    /// Whether one of `candidates` reproduces at least a quarter of the
    /// rows of `tile` exactly: a move or a useful prediction.
    fn any_prediction(&self, candidates: &[Offset], frame: &FrameView, tile: u32) -> bool {
        let g = self.geometry;
        let rows = g.tile_rows(tile);
        let limit = rows - rows / 4;
        candidates.iter().any(|&(dx, dy)| {
            (dx, dy) != (0, 0)
                && g.prediction_is_valid(tile, dx, dy)
                && self
                    .base()
                    .shifted_row_differences(frame, tile, dx, dy, limit)
                    <= limit
        })
    }

    /// How to send changed `tile`: a move when a candidate offset matches
    /// exactly, a prediction when one matches most rows (lossless only),
    /// else a self-contained record.
    fn choose(&mut self, frame: &FrameView, tile: u32) -> Action {
        let g = self.geometry;
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        let tx = tile % g.tiles_x;
        let neighbour_offset = |t: u32| match self.actions[t as usize] {
            Some(Action::Move(o) | Action::Predict(o)) => Some(o),
            _ => None,
        };
        let left = (tx > 0).then(|| neighbour_offset(tile - 1)).flatten();
        let up = (tile >= g.tiles_x)
            .then(|| neighbour_offset(tile - g.tiles_x))
            .flatten();
        for extra in [self.last_offset[tile as usize], left, up, self.dominant] {
            candidates.extend(extra);
        }
        // The usual case while scrolling: an offset that worked nearby or
        // before moves this tile too. A comparison that stops at the first
        // differing row says so without hashing anything.
        for (i, &(dx, dy)) in candidates.iter().enumerate() {
            if (dx, dy) != (0, 0)
                && !candidates[..i].contains(&(dx, dy))
                && g.shift_is_valid(tile, dx, dy)
                && self.base().shifted_row_differences(frame, tile, dx, dy, 0) == 0
            {
                self.candidates = candidates;
                return Action::Move((dx, dy));
            }
        }
        let base = self.coded_source.as_ref().unwrap_or(&self.reference).view();
        self.motion
            .vertical_candidates(tile, frame, &base, &mut candidates);
        // Moves other than vertical: offsets found by a 2-D search this
        // frame, and a new search when nothing predicts this tile at all
        // (a tile whose rows only shifted, like content scrolled in at the
        // bottom, has a vertical prediction and needs none).
        candidates.extend_from_slice(&self.found);
        if self.searches < SEARCHES_PER_FRAME && !self.any_prediction(&candidates, frame, tile) {
            self.searches += 1;
            let before = candidates.len();
            self.motion.search_2d(tile, frame, &base, &mut candidates);
            for &o in &candidates[before..] {
                if !self.found.contains(&o) {
                    self.found.push(o);
                }
            }
        }
        let rows = g.tile_rows(tile);
        // The candidate with the fewest differing rows; a move when none.
        let mut best: Option<(usize, Offset)> = None;
        for (i, &offset) in candidates.iter().enumerate() {
            let (dx, dy) = offset;
            if offset == (0, 0)
                || candidates[..i].contains(&offset)
                || !g.prediction_is_valid(tile, dx, dy)
            {
                continue;
            }
            let limit = best.map_or(rows, |(d, _)| d.saturating_sub(1));
            let differing = self
                .base()
                .shifted_row_differences(frame, tile, dx, dy, limit);
            if differing == 0 && g.shift_is_valid(tile, dx, dy) {
                best = Some((0, offset));
                break;
            }
            if differing <= limit {
                best = Some((differing, offset));
            }
        }
        let exact_move = matches!(best, Some((0, (dx, dy))) if g.shift_is_valid(tile, dx, dy));
        // Content the decoder held before (a blinking cursor, a window
        // closed): one hash, before any coding. A move still wins: it is
        // as cheap and keeps the offsets that the neighbours try first.
        if !exact_move {
            if let Some(recall) = self.find_recall(frame, tile) {
                self.candidates = candidates;
                return recall;
            }
        }
        let action = match best {
            Some((0, offset)) if g.shift_is_valid(tile, offset.0, offset.1) => Action::Move(offset),
            // Lossless only: a prediction is tried while most samples match
            // (rows may differ only in a still part, beside the moved one).
            Some((_, (dx, dy))) if self.config.mode == TileMode::Lossless => {
                let samples = g.max_tile_bytes();
                let differing = self.base().shifted_sample_differences(frame, tile, dx, dy);
                if differing * 2 < samples {
                    Action::Predict((dx, dy))
                } else {
                    Action::Intra { fresh: true }
                }
            }
            _ => Action::Intra { fresh: true },
        };
        self.candidates = candidates;
        action
    }

    /// The age a tile takes when moved by (dx, dy): that of the oldest
    /// tile it reads, before this frame.
    fn sources_clean_since(&self, tile: u32, dx: i32, dy: i32) -> u64 {
        self.geometry
            .shifted_tiles(tile, dx, dy)
            .map(|t| self.previous_clean[t as usize])
            .min()
            .unwrap_or(0)
    }

    /// Whether the last record coded for `tile` can be sent again as its
    /// self-contained record.
    fn has_cached_record(&self, tile: u32) -> bool {
        self.sent[tile as usize]
            .as_ref()
            .is_some_and(|r| !r.coding.reads_previous())
    }

    /// Intra refresh with period N: after this frame, every tile's content
    /// depends only on self-contained records of the last N frames, so a
    /// decoder that lost anything converges within N frames of receiving
    /// again. Tiles that would break that now (unchanged and old, or moved
    /// from old content) are sent self-contained. Then, so that refresh is
    /// spread evenly instead of falling due at once, the oldest of the rest:
    /// as many as the least even rate that meets every tile's deadline if
    /// nothing else refreshed them (`ceil(tiles / N)` a frame for a still
    /// picture; fewer when moves bring young content). Returns the tiles it
    /// scheduled.
    fn schedule_refresh(&mut self, changed: &[bool], now: u64) -> u32 {
        let period = self.config.intra_refresh as u64;
        if period == 0 {
            return 0;
        }
        let count = self.geometry.tile_count();
        let mut due: Vec<(u64, u32)> = Vec::new();
        // Tiles by frames left before they are forced (1..=period).
        let mut by_frames_left = vec![0u32; period as usize + 1];
        let mut scheduled = 0u32;
        for tile in 0..count {
            let t = tile as usize;
            let age_from = match self.actions[t] {
                Some(Action::Intra { .. }) => continue,
                Some(Action::Move((dx, dy)) | Action::Predict((dx, dy))) => {
                    self.sources_clean_since(tile, dx, dy)
                }
                Some(Action::Recall { age, .. }) => age,
                None => self.clean_since[t],
            };
            if age_from + period <= now {
                self.actions[t] = Some(Action::Intra {
                    fresh: changed[t] || !self.has_cached_record(tile),
                });
                self.refreshing[t] = true;
                scheduled += 1;
            } else {
                let left = (age_from + period - now).min(period);
                by_frames_left[left as usize] += 1;
                due.push((age_from, tile));
            }
        }
        // A tile with `k` frames left can wait k frames: the tiles due
        // within k frames, with those forced now, need this many a frame.
        let mut rate = scheduled;
        let mut within = scheduled;
        for (k, n) in by_frames_left.iter().enumerate().skip(1) {
            within += n;
            rate = rate.max(within.div_ceil(k as u32 + 1));
        }
        if scheduled < rate {
            let extra = (rate - scheduled) as usize;
            // Among equally old tiles, column by column: scrolls are mostly
            // vertical, and a tile moved within a refreshed column reads
            // only refreshed tiles, so the refresh is not undone by the next
            // frame's moves (row by row, each refreshed row would read the
            // old row below it).
            let tiles_x = self.geometry.tiles_x;
            let column_major = |&(age, t): &(u64, u32)| (age, t % tiles_x, t / tiles_x);
            if due.len() > extra {
                due.select_nth_unstable_by_key(extra, column_major);
                due.truncate(extra);
            }
            for (_, tile) in due {
                let t = tile as usize;
                self.actions[t] = Some(Action::Intra {
                    fresh: changed[t] || !self.has_cached_record(tile),
                });
                self.refreshing[t] = true;
                scheduled += 1;
            }
        }
        scheduled
    }

    /// Encodes `frame`; `force_key` asks for every tile to be sent.
    pub fn encode(&mut self, frame: &FrameView, force_key: bool) -> EncodedFrame {
        let count = self.geometry.tile_count();
        let keyframe = force_key
            || !self.started
            || (self.config.key_int_max > 0
                && self.frames_since_key >= self.config.key_int_max as u64);
        self.started = true;

        let header = FrameHeader {
            geometry: self.geometry,
            keyframe,
            frame_number: self.frame_number,
        };
        self.frame_number = self.frame_number.wrapping_add(1);
        let now = self.frame_index;
        self.frame_index += 1;
        // Tiles whose bytes differ from what was last coded for them.
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.clear();
        dirty.resize(count as usize, false);
        self.base()
            .mark_dirty_tiles(frame, &mut dirty, self.config.parallel);
        self.motion.begin_frame();
        self.found.clear();
        self.searches = 0;
        self.previous_clean.clone_from(&self.clean_since);
        let mut actions = std::mem::take(&mut self.actions);
        actions.clear();
        actions.resize(count as usize, None);
        self.actions = actions;
        self.refreshing.clear();
        self.refreshing.resize(count as usize, false);
        let mut changed = vec![false; count as usize];
        let mut changed_count = 0u32;
        for tile in 0..count {
            let t = tile as usize;
            changed[t] = dirty[t] && self.exceeds_threshold(frame, tile);
            changed_count += changed[t] as u32;
            self.actions[t] = if keyframe {
                Some(Action::Intra { fresh: true })
            } else if changed[t] {
                Some(self.choose(frame, tile))
            } else {
                None
            };
        }
        let refreshed = if keyframe {
            0
        } else {
            self.schedule_refresh(&changed, now)
        };
        for (t, action) in self.actions.iter().enumerate() {
            match action {
                Some(Action::Intra { .. }) => self.clean_since[t] = now,
                Some(Action::Move((dx, dy)) | Action::Predict((dx, dy))) => {
                    self.clean_since[t] = self.sources_clean_since(t as u32, *dx, *dy)
                }
                Some(Action::Recall { age, .. }) => self.clean_since[t] = *age,
                None => {}
            }
        }
        let mut plan = std::mem::take(&mut self.plan);
        plan.clear();
        plan.extend(
            self.actions
                .iter()
                .enumerate()
                .filter_map(|(t, a)| a.map(|a| (t as u32, a))),
        );
        let sent = plan.len() as u32;
        if keyframe {
            // A decoder may start here: nothing before it may be recalled.
            self.cache.clear();
        } else {
            self.remember_overwritten(&plan, &dirty);
        }
        self.code_planned_tiles(frame, &plan);
        let mut writer = FrameWriter::new(&header, FRAME_HEADER_LEN + 4096);
        let (moved, predicted, recalled, refresh_bytes) = self.write_records(&mut writer, &plan);
        self.update_motion(&plan, &dirty, keyframe);
        self.plan = plan;
        self.dirty = dirty;
        if keyframe {
            self.frames_since_key = 1;
        } else {
            self.frames_since_key += 1;
        }
        let data = writer.into_bytes();
        self.stats.frames += 1;
        self.stats.keyframes += keyframe as u64;
        self.stats.tiles_sent += sent as u64;
        self.stats.tiles_changed += changed_count as u64;
        self.stats.tiles_refreshed += refreshed as u64;
        self.stats.tiles_total += count as u64;
        self.stats.tiles_moved += moved as u64;
        self.stats.tiles_move_residual += predicted as u64;
        self.stats.tiles_recalled += recalled as u64;
        self.stats.bytes += data.len() as u64;
        self.stats.refresh_bytes += refresh_bytes as u64;
        EncodedFrame {
            data,
            keyframe,
            tiles_sent: sent,
            tiles_changed: changed_count,
        }
    }

    /// Writes the plan's records: runs of tiles with the same move become
    /// one record. Returns the tiles sent as moves, as predictions and as
    /// recalls, and the bytes of the records intra refresh asked for.
    fn write_records(
        &self,
        writer: &mut FrameWriter,
        plan: &[(u32, Action)],
    ) -> (u32, u32, u32, usize) {
        let mut moved = 0;
        let mut predicted = 0;
        let mut recalled = 0;
        let mut refresh_bytes = 0;
        let mut i = 0;
        while i < plan.len() {
            let (tile, action) = plan[i];
            if let Action::Recall { hash, .. } = action {
                writer
                    .begin_record(tile, TileCoding::Recall, 0)
                    .extend_from_slice(&hash.to_be_bytes());
                // Eight bytes always fit.
                let _ = writer.finish_record();
                recalled += 1;
                i += 1;
                continue;
            }
            if let Action::Move(offset) = action {
                let mut run = 1;
                while run < MAX_MOVE_RUN as usize
                    && plan
                        .get(i + run)
                        .is_some_and(|&(t, a)| t == tile + run as u32 && a == action)
                {
                    run += 1;
                }
                let out = writer.begin_record(tile, TileCoding::Move, (run - 1) as u8);
                write_offset(out, offset.0, offset.1);
                // Four bytes always fit.
                let _ = writer.finish_record();
                moved += run as u32;
                i += run;
                continue;
            }
            if let Some(record) = &self.sent[tile as usize] {
                predicted += (record.coding == TileCoding::MoveResidual) as u32;
                if self.refreshing[tile as usize] {
                    refresh_bytes += RECORD_HEADER_LEN + record.payload.len();
                }
                writer
                    .begin_record(tile, record.coding, record.param)
                    .extend_from_slice(&record.payload);
                // A payload over 16 MiB cannot come from a 256x256 tile.
                let _ = writer.finish_record();
            }
            i += 1;
        }
        (moved, predicted, recalled, refresh_bytes)
    }

    /// Keeps the motion search's hashes equal to the base picture's rows,
    /// and remembers the offsets used.
    fn update_motion(&mut self, plan: &[(u32, Action)], dirty: &[bool], keyframe: bool) {
        let mut counts: Vec<(Offset, u32)> = Vec::new();
        for &(tile, action) in plan {
            if let Action::Move(o) | Action::Predict(o) = action {
                self.last_offset[tile as usize] = Some(o);
                match counts.iter_mut().find(|(c, _)| *c == o) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((o, 1)),
                }
            }
        }
        self.dominant = counts.iter().max_by_key(|(_, n)| *n).map(|(o, _)| *o);
        if keyframe {
            self.motion.invalidate_all();
            return;
        }
        // Every planned tile now holds the frame's content in the base;
        // those that changed need new hashes: a vertical move's are its
        // source rows', a tile whose rows this frame hashed has those.
        self.motion.begin_update();
        for &(tile, action) in plan {
            if !dirty[tile as usize] {
                continue;
            }
            match action {
                Action::Move((0, dy)) => self.motion.tile_moved_vertically(tile, dy),
                _ => self.motion.tile_took_frame(tile),
            }
        }
    }

    /// Codes every planned tile that needs coding, on two threads when
    /// there is enough work, and mirrors each into the reference exactly as
    /// a decoder will apply it.
    fn code_planned_tiles(&mut self, frame: &FrameView, plan: &[(u32, Action)]) {
        let g = self.geometry;
        let mode = self.config.mode;
        let lossy_moves =
            self.coded_source.is_some() && plan.iter().any(|(_, a)| matches!(a, Action::Move(_)));
        if lossy_moves {
            // Lossy moves copy reconstructed samples: keep them as they
            // were before this frame's records.
            match &mut self.previous {
                Some(p) => p.clone_from(&self.reference),
                None => self.previous = Some(self.reference.clone()),
            }
        }
        let mut jobs: Vec<TileJob> = Vec::new();
        {
            let mut slots = self.sent.iter_mut().enumerate();
            for &(tile, action) in plan {
                let job_action = match action {
                    Action::Intra { fresh: false } | Action::Move(_) | Action::Recall { .. } => {
                        continue
                    }
                    Action::Intra { fresh: true } => None,
                    Action::Predict(o) => Some(o),
                };
                // plan is in increasing tile order, so this walks forward only.
                let slot = slots
                    .find(|(i, _)| *i == tile as usize)
                    .map(|(_, slot)| slot)
                    .expect("planned tile is in the grid");
                jobs.push(TileJob {
                    tile,
                    predict: job_action,
                    slot,
                    recon: None,
                });
            }
        }
        let reference = &self.reference;
        if self.config.parallel && jobs.len() >= PARALLEL_MIN_TILES {
            let half = jobs.len() / 2;
            let (first, second) = jobs.split_at_mut(half);
            let (w0, w1) = self.workers.split_at_mut(1);
            super::parallel::join(
                || w0[0].code(&g, mode, frame, reference, first),
                || w1[0].code(&g, mode, frame, reference, second),
            );
        } else {
            self.workers[0].code(&g, mode, frame, reference, &mut jobs);
        }
        let recons: Vec<(u32, Option<TileSamples>)> =
            jobs.into_iter().map(|j| (j.tile, j.recon)).collect();
        // Mirror into the reference (and the coded source) what was sent.
        for (tile, recon) in recons {
            match recon {
                Some(samples) => samples.scatter(&mut self.reference, tile),
                None => self.reference.copy_tile_from(frame, tile),
            }
        }
        for &(tile, action) in plan {
            if let Action::Recall { .. } = action {
                // Lossless only: the entry matched the frame exactly.
                self.reference.copy_tile_from(frame, tile);
                self.sent[tile as usize] = None;
            }
            if let Action::Move((dx, dy)) = action {
                match &self.previous {
                    Some(prev) if lossy_moves => {
                        self.reference
                            .copy_tile_from_shifted(&prev.view(), tile, dx, dy)
                    }
                    // Lossless: the move matched the frame exactly.
                    _ => self.reference.copy_tile_from(frame, tile),
                }
                // The last self-contained record no longer describes the tile.
                self.sent[tile as usize] = None;
            }
            if let Some(src) = &mut self.coded_source {
                if !matches!(action, Action::Intra { fresh: false }) {
                    src.copy_tile_from(frame, tile);
                }
            }
        }
    }
}

/// Tiles coded on one thread below this count: handing half to the other
/// worker costs more than it saves.
const PARALLEL_MIN_TILES: usize = 8;

/// The last record coded for a tile.
#[derive(Clone)]
struct SentRecord {
    coding: TileCoding,
    param: u8,
    payload: Vec<u8>,
}

/// One tile to code: where its record goes, and for lossy tiles the
/// reconstruction the reference must take.
struct TileJob<'a> {
    tile: u32,
    /// Try a prediction from the reference at this offset.
    predict: Option<Offset>,
    slot: &'a mut Option<SentRecord>,
    recon: Option<TileSamples>,
}

/// Scratch buffers of one coding thread.
#[derive(Default)]
struct TileWorker {
    samples: TileSamples,
    predicted: TileSamples,
    lossless: LosslessScratch,
    palette: PaletteScratch,
    residual: Vec<u8>,
}

impl TileWorker {
    fn code(
        &mut self,
        g: &Geometry,
        mode: TileMode,
        frame: &FrameView,
        reference: &ReferenceCanvas,
        jobs: &mut [TileJob],
    ) {
        for job in jobs {
            let record = job.slot.get_or_insert_with(|| SentRecord {
                coding: TileCoding::Fill,
                param: 0,
                payload: Vec::new(),
            });
            record.payload.clear();
            self.samples.gather(g, frame, job.tile);
            if let Some(values) = self.samples.fill_values() {
                record.coding = TileCoding::Fill;
                record.param = 0;
                tile::encode_fill(&self.samples, values, &mut record.payload);
                continue;
            }
            match mode {
                TileMode::Lossless => {
                    (record.coding, record.param) = palette::encode_exact(
                        &self.samples,
                        &mut self.lossless,
                        &mut self.palette,
                        &mut record.payload,
                    );
                    if let Some((dx, dy)) = job.predict {
                        self.predicted
                            .gather_shifted(g, &reference.view(), job.tile, dx, dy);
                        self.residual.clear();
                        tile::encode_residual(
                            &self.samples,
                            &self.predicted,
                            dx,
                            dy,
                            &mut self.lossless,
                            &mut self.residual,
                        );
                        if self.residual.len() < record.payload.len() {
                            record.coding = TileCoding::MoveResidual;
                            record.param = 0;
                            std::mem::swap(&mut record.payload, &mut self.residual);
                        }
                    }
                }
                TileMode::Lossy { quality } => {
                    let quality = quality.clamp(lossy::MIN_QUALITY, lossy::MAX_QUALITY);
                    record.coding = TileCoding::Lossy;
                    record.param = quality;
                    // `encode` leaves in the samples exactly what a decoder
                    // reconstructs from the bytes sent.
                    lossy::encode(&mut self.samples, g.format, quality, &mut record.payload);
                    job.recon = Some(self.samples.clone());
                }
            }
        }
    }
}
