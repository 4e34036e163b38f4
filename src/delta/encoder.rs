//! The changes-only encoder: decides which tiles to send and codes them.

use super::bitstream::{FrameHeader, FrameWriter, TileCoding, FRAME_HEADER_LEN};
use super::canvas::{FrameView, ReferenceCanvas};
use super::geometry::Geometry;
use super::lossy;
use super::tile::{self, LosslessScratch, TileSamples};

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
    pub bytes: u64,
}

/// One encoded frame.
#[derive(Debug)]
pub struct EncodedFrame {
    pub data: Vec<u8>,
    pub keyframe: bool,
    pub tiles_sent: u32,
    pub tiles_changed: u32,
}

/// Encoder state: the decoder's reference picture and the refresh schedule.
pub struct DeltaEncoder {
    geometry: Geometry,
    config: EncoderConfig,
    /// What the decoder holds (DESIGN principle 1).
    reference: ReferenceCanvas,
    /// Lossy only: the source each reference tile was coded from. A tile whose
    /// source is unchanged would reconstruct to exactly what the decoder holds,
    /// so it is skipped without a lossy comparison.
    coded_source: Option<ReferenceCanvas>,
    frame_number: u32,
    frames_since_key: u64,
    refresh_cursor: u32,
    started: bool,
    stats: EncoderStats,
    dirty: Vec<bool>,
    /// Tiles to send this frame, and whether each must be coded afresh.
    plan: Vec<(u32, bool)>,
    /// The last record sent for each tile. Refresh and keyframes re-send an
    /// unchanged tile from here instead of coding it again: the same bytes,
    /// at the cost of a copy.
    sent: Vec<Option<SentRecord>>,
    workers: [TileWorker; 2],
}

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
            coded_source,
            frame_number: 0,
            frames_since_key: 0,
            refresh_cursor: 0,
            started: false,
            stats: EncoderStats::default(),
            dirty: Vec::new(),
            plan: Vec::new(),
            sent: vec![None; geometry.tile_count() as usize],
            workers: Default::default(),
        }
    }

    /// The geometry this encoder was made for.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Changes settings that need no new reference (threshold, refresh, key
    /// interval, quality). Switching between lossless and lossy needs a new
    /// encoder.
    pub fn reconfigure(&mut self, config: EncoderConfig) {
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

    /// Whether a tile that differs byte-wise from what was coded for it
    /// differs enough from the decoder's reference to be sent.
    fn exceeds_threshold(&self, frame: &FrameView, tile: u32) -> bool {
        self.config.threshold == 0
            || self.reference.tile_block_difference(frame, tile) > self.config.threshold
    }

    /// Encodes `frame`; `force_key` asks for every tile to be sent.
    pub fn encode(&mut self, frame: &FrameView, force_key: bool) -> EncodedFrame {
        let count = self.geometry.tile_count();
        let keyframe = force_key
            || !self.started
            || (self.config.key_int_max > 0
                && self.frames_since_key >= self.config.key_int_max as u64);
        self.started = true;

        // Cyclic intra refresh: a window of ceil(count / period) tiles a frame.
        let (refresh_start, refresh_len) = if self.config.intra_refresh > 0 && !keyframe {
            let len = count.div_ceil(self.config.intra_refresh);
            let start = self.refresh_cursor;
            self.refresh_cursor = (start + len) % count;
            (start, len)
        } else {
            (0, 0)
        };
        let in_refresh = |tile: u32| (tile + count - refresh_start) % count < refresh_len;

        let header = FrameHeader {
            geometry: self.geometry,
            keyframe,
            frame_number: self.frame_number,
        };
        self.frame_number = self.frame_number.wrapping_add(1);
        let mut writer = FrameWriter::new(&header, FRAME_HEADER_LEN + 4096);
        // Tiles whose bytes differ from what was last coded for them.
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.clear();
        dirty.resize(count as usize, false);
        match &self.coded_source {
            Some(src) => src.mark_dirty_tiles(frame, &mut dirty, self.config.parallel),
            None => self
                .reference
                .mark_dirty_tiles(frame, &mut dirty, self.config.parallel),
        }
        // Decide what to send; unchanged tiles go out from the cache.
        let mut plan = std::mem::take(&mut self.plan);
        plan.clear();
        let mut changed_count = 0u32;
        let mut refreshed = 0u32;
        for tile in 0..count {
            let changed = dirty[tile as usize] && self.exceeds_threshold(frame, tile);
            changed_count += changed as u32;
            if !(keyframe || changed || in_refresh(tile)) {
                continue;
            }
            if !changed && !keyframe {
                refreshed += 1;
            }
            let cached = !changed && self.sent[tile as usize].is_some();
            plan.push((tile, !cached));
        }
        let sent = plan.len() as u32;
        self.code_planned_tiles(frame, &plan);
        for &(tile, _) in &plan {
            if let Some(record) = &self.sent[tile as usize] {
                writer
                    .begin_record(tile, record.coding, record.param)
                    .extend_from_slice(&record.payload);
                // A payload over 16 MiB cannot come from a 256x256 tile.
                let _ = writer.finish_record();
            }
        }
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
        self.stats.bytes += data.len() as u64;
        EncodedFrame {
            data,
            keyframe,
            tiles_sent: sent,
            tiles_changed: changed_count,
        }
    }

    /// Codes every planned tile that needs coding, on two threads when
    /// there is enough work, and mirrors each into the reference exactly as
    /// a decoder will apply it.
    fn code_planned_tiles(&mut self, frame: &FrameView, plan: &[(u32, bool)]) {
        let g = self.geometry;
        let mode = self.config.mode;
        let mut jobs: Vec<TileJob> = Vec::new();
        {
            let mut slots = self.sent.iter_mut().enumerate();
            for &(tile, code) in plan {
                if !code {
                    continue;
                }
                // plan is in increasing tile order, so this walks forward only.
                let slot = slots
                    .find(|(i, _)| *i == tile as usize)
                    .map(|(_, slot)| slot)
                    .expect("planned tile is in the grid");
                jobs.push(TileJob {
                    tile,
                    slot,
                    recon: None,
                });
            }
        }
        if self.config.parallel && jobs.len() >= PARALLEL_MIN_TILES {
            let half = jobs.len() / 2;
            let (first, second) = jobs.split_at_mut(half);
            let (w0, w1) = self.workers.split_at_mut(1);
            super::parallel::join(
                || w0[0].code(&g, mode, frame, first),
                || w1[0].code(&g, mode, frame, second),
            );
        } else {
            self.workers[0].code(&g, mode, frame, &mut jobs);
        }
        // Mirror into the reference (and the coded source) what was sent.
        for job in jobs {
            match job.recon {
                Some(samples) => samples.scatter(&mut self.reference, job.tile),
                None => self.reference.copy_tile_from(frame, job.tile),
            }
            if let Some(src) = &mut self.coded_source {
                src.copy_tile_from(frame, job.tile);
            }
        }
    }
}

/// Tiles coded on one thread below this count: handing half to the other
/// worker costs more than it saves.
const PARALLEL_MIN_TILES: usize = 8;

/// The last record sent for a tile.
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
    slot: &'a mut Option<SentRecord>,
    recon: Option<TileSamples>,
}

/// Scratch buffers of one coding thread.
#[derive(Default)]
struct TileWorker {
    samples: TileSamples,
    lossless: LosslessScratch,
}

impl TileWorker {
    fn code(&mut self, g: &Geometry, mode: TileMode, frame: &FrameView, jobs: &mut [TileJob]) {
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
                    record.coding = TileCoding::Lossless;
                    record.param = 0;
                    tile::encode_lossless(&self.samples, &mut self.lossless, &mut record.payload);
                }
                TileMode::Lossy { quality } => {
                    let quality = quality.clamp(lossy::MIN_QUALITY, lossy::MAX_QUALITY);
                    record.coding = TileCoding::Lossy;
                    record.param = quality;
                    lossy::encode(&mut self.samples, g.format, quality, &mut record.payload);
                    // Reconstruct exactly as a decoder will, from the bytes sent.
                    let mut recon = TileSamples::default();
                    recon.layout(g, job.tile);
                    let decoded =
                        lossy::decode(&mut recon, g.format, quality, job.tile, &record.payload);
                    debug_assert!(decoded.is_ok(), "encoder produced an undecodable tile");
                    job.recon = Some(recon);
                }
            }
        }
    }
}
