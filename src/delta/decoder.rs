//! The changes-only decoder: applies tile records to a canvas it keeps.

use super::bitstream::{parse_frame, BitstreamError, FrameHeader, TileCoding};
use super::canvas::ReferenceCanvas;
use super::geometry::Geometry;
use super::lossy;
use super::tile::{self, LosslessScratch, TileSamples};

/// What one call to [`DeltaDecoder::decode`] did.
#[derive(Debug, Default)]
pub struct DecodeReport {
    pub header: Option<FrameHeader>,
    pub tiles_applied: u32,
    /// Records that could not be applied (corrupt payload or framing).
    pub records_dropped: u32,
    /// The first problem met, if any.
    pub error: Option<BitstreamError>,
    /// The geometry changed: the canvas was replaced.
    pub geometry_changed: bool,
}

/// Counters since the decoder was made.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DecoderStats {
    pub frames: u64,
    pub keyframes: u64,
    pub tiles_applied: u64,
    pub records_dropped: u64,
    pub frames_rejected: u64,
    pub bytes: u64,
}

/// Decoder state: the canvas and which tiles it has received.
#[derive(Default)]
pub struct DeltaDecoder {
    canvas: Option<ReferenceCanvas>,
    received: Vec<bool>,
    missing: u32,
    /// Tiles not updated since the decoder learned of a loss.
    stale: Vec<bool>,
    stale_count: u32,
    /// Per tile, the number of the last frame that carried it: a record
    /// whose tile already appeared in this frame is a repeat. Numbering the
    /// frames spares clearing a per-frame bitmap.
    seen_in_frame: Vec<u32>,
    frame_serial: u32,
    stats: DecoderStats,
    samples: TileSamples,
    lossless: LosslessScratch,
}

impl DeltaDecoder {
    /// A decoder holding nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The canvas, once a frame has set its geometry.
    pub fn canvas(&self) -> Option<&ReferenceCanvas> {
        self.canvas.as_ref()
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

    fn reset(&mut self, geometry: Geometry) {
        let n = geometry.tile_count() as usize;
        self.canvas = Some(ReferenceCanvas::new(geometry));
        self.received = vec![false; n];
        self.stale = vec![false; n];
        self.seen_in_frame = vec![0; n];
        self.frame_serial = 0;
        self.missing = n as u32;
        self.stale_count = 0;
    }

    /// Applies one frame (or any subset of one frame's records). A corrupt
    /// record is dropped whole and counted; a framing error stops the frame
    /// there. Either way the canvas holds only complete tiles.
    pub fn decode(&mut self, data: &[u8]) -> DecodeReport {
        let mut report = DecodeReport::default();
        self.stats.bytes += data.len() as u64;
        let (header, records) = match parse_frame(data) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.stats.frames_rejected += 1;
                report.error = Some(e);
                return report;
            }
        };
        let current = self.canvas.as_ref().map(|c| *c.geometry());
        if current.is_some() && current != Some(header.geometry) && !header.keyframe {
            // Only a keyframe defines a whole new picture; a damaged delta
            // must not throw away the canvas.
            self.stats.frames_rejected += 1;
            report.error = Some(BitstreamError::GeometryChangeWithoutKeyframe {
                width: header.geometry.width,
                height: header.geometry.height,
            });
            return report;
        }
        report.header = Some(header);
        if current != Some(header.geometry) {
            self.reset(header.geometry);
            report.geometry_changed = true;
        }
        let g = header.geometry;
        self.frame_serial = match self.frame_serial.checked_add(1) {
            Some(serial) => serial,
            None => {
                // Once in 2^32 frames: forget the old numbers so none of them
                // can collide with the restarted count.
                self.seen_in_frame.fill(0);
                1
            }
        };
        for record in records {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    report.records_dropped += 1;
                    report.error.get_or_insert(e);
                    break;
                }
            };
            // A repeat is refused before any decoding: thousands of records
            // naming one large tile would otherwise cost a full tile decode
            // each (a 64 KiB frame rewriting over a gigabyte).
            let seen = &mut self.seen_in_frame[record.index as usize];
            if *seen == self.frame_serial {
                report.records_dropped += 1;
                report.error.get_or_insert(BitstreamError::RepeatedTile {
                    index: record.index,
                });
                continue;
            }
            *seen = self.frame_serial;
            self.samples.layout(&g, record.index);
            let result = match record.coding {
                TileCoding::Fill => {
                    tile::decode_fill(&mut self.samples, record.index, record.payload)
                }
                TileCoding::Lossless => tile::decode_lossless(
                    &mut self.samples,
                    &mut self.lossless,
                    record.index,
                    record.payload,
                ),
                TileCoding::Lossy => lossy::decode(
                    &mut self.samples,
                    g.format,
                    record.param,
                    record.index,
                    record.payload,
                ),
            };
            if let Err(e) = result {
                report.records_dropped += 1;
                report.error.get_or_insert(e);
                continue;
            }
            if let Some(canvas) = &mut self.canvas {
                self.samples.scatter(canvas, record.index);
            }
            let i = record.index as usize;
            if !self.received[i] {
                self.received[i] = true;
                self.missing -= 1;
            }
            if self.stale[i] {
                self.stale[i] = false;
                self.stale_count -= 1;
            }
            report.tiles_applied += 1;
        }
        self.stats.frames += 1;
        self.stats.keyframes += header.keyframe as u64;
        self.stats.tiles_applied += report.tiles_applied as u64;
        self.stats.records_dropped += report.records_dropped as u64;
        report
    }
}
