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
    samples: TileSamples,
    lossless: LosslessScratch,
    dirty: Vec<bool>,
    /// The last record sent for each tile: (coding, parameter, payload).
    /// Refresh and keyframes re-send an unchanged tile from here instead of
    /// coding it again: the same bytes, at the cost of a copy.
    sent: Vec<Option<(TileCoding, u8, Vec<u8>)>>,
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
            samples: TileSamples::default(),
            lossless: LosslessScratch::default(),
            dirty: Vec::new(),
            sent: vec![None; geometry.tile_count() as usize],
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
            Some(src) => src.mark_dirty_tiles(frame, &mut dirty),
            None => self.reference.mark_dirty_tiles(frame, &mut dirty),
        }
        let mut sent = 0u32;
        let mut changed_count = 0u32;
        let mut refreshed = 0u32;
        for tile in 0..count {
            let changed = dirty[tile as usize] && self.exceeds_threshold(frame, tile);
            if changed {
                changed_count += 1;
            }
            if !(keyframe || changed || in_refresh(tile)) {
                continue;
            }
            if !changed && !keyframe {
                refreshed += 1;
            }
            sent += 1;
            if !changed {
                if let Some((coding, param, payload)) = &self.sent[tile as usize] {
                    writer
                        .begin_record(tile, *coding, *param)
                        .extend_from_slice(payload);
                    if writer.finish_record().is_ok() {
                        continue;
                    }
                }
            }
            self.code_tile(&mut writer, frame, tile);
        }
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

    fn code_tile(&mut self, writer: &mut FrameWriter, frame: &FrameView, tile: u32) {
        let before = writer.len();
        self.code_tile_inner(writer, frame, tile);
        self.sent[tile as usize] = writer
            .record_since(before)
            .map(|r| (r.0, r.1, r.2.to_vec()));
    }

    fn code_tile_inner(&mut self, writer: &mut FrameWriter, frame: &FrameView, tile: u32) {
        let g = self.geometry;
        self.samples.gather(&g, frame, tile);
        if let Some(values) = self.samples.fill_values() {
            tile::encode_fill(
                &self.samples,
                values,
                writer.begin_record(tile, TileCoding::Fill, 0),
            );
            self.commit(writer, frame, tile);
            return;
        }
        match self.config.mode {
            TileMode::Lossless => {
                let out = writer.begin_record(tile, TileCoding::Lossless, 0);
                tile::encode_lossless(&self.samples, &mut self.lossless, out);
                self.commit(writer, frame, tile);
            }
            TileMode::Lossy { quality } => {
                let quality = quality.clamp(lossy::MIN_QUALITY, lossy::MAX_QUALITY);
                let out = writer.begin_record(tile, TileCoding::Lossy, quality);
                let start = out.len();
                lossy::encode(&mut self.samples, g.format, quality, out);
                // Reconstruct exactly as a decoder will, from the bytes sent.
                let mut recon = std::mem::take(&mut self.samples);
                recon.layout(&g, tile);
                let decoded = lossy::decode(&mut recon, g.format, quality, tile, &out[start..]);
                debug_assert!(decoded.is_ok(), "encoder produced undecodable tile");
                if writer.finish_record().is_ok() && decoded.is_ok() {
                    recon.scatter(&mut self.reference, tile);
                    if let Some(src) = &mut self.coded_source {
                        src.copy_tile_from(frame, tile);
                    }
                }
                self.samples = recon;
            }
        }
    }

    /// Closes a bit-exact record and mirrors it into the reference.
    fn commit(&mut self, writer: &mut FrameWriter, frame: &FrameView, tile: u32) {
        if writer.finish_record().is_ok() {
            self.reference.copy_tile_from(frame, tile);
            if let Some(src) = &mut self.coded_source {
                src.copy_tile_from(frame, tile);
            }
        }
    }
}
