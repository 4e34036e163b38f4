// SPDX-License-Identifier: MPL-2.0
//! What a page shows of a changes-only stream: one decoder (the plugin's
//! own [`DeltaDecoder`], with its limits), its picture kept as RGBA for a
//! `<canvas>`, the rectangles the last frame changed (the only ones a page
//! repaints), a checksum of the decoded picture and the stamp drawn in it.
//!
//! Free of any browser type: [`crate`]'s exported functions are a thin
//! adapter over this, and the native tests run it as it is.

use std::time::Duration;

use gststreamkit::delta::decoder::{DecoderLimits, DecoderStats, DeltaDecoder, MIN_SIZE_LIMIT};
use gststreamkit::delta::geometry::{Geometry, PixelFormat, MAX_DIMENSION};
use gststreamkit::measure::stampcode::{default_layout, Plane, Stamp, StampError};
use gststreamkit::moq::object::parse_object;
use gststreamkit::rtp::MAX_FRAME_BYTES;

/// Why a view cannot be made with the numbers asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum ViewError {
    /// A size limit outside what the decoder accepts.
    Limits { max_width: u32, max_height: u32 },
    /// An object limit outside 1 byte..=256 MiB (`moqsrc`'s range).
    ObjectLimit(u32),
}

impl std::fmt::Display for ViewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ViewError::Limits {
                max_width,
                max_height,
            } => write!(
                f,
                "size limit {max_width}x{max_height} is outside \
                 {MIN_SIZE_LIMIT}x{MIN_SIZE_LIMIT}..={MAX_DIMENSION}x{MAX_DIMENSION}"
            ),
            ViewError::ObjectLimit(n) => {
                write!(f, "object limit {n} is outside 1..={MAX_FRAME_BYTES} bytes")
            }
        }
    }
}

impl std::error::Error for ViewError {}

/// The names of [`View::stats_fields`], in order (`deltadec`'s `stats`).
pub const STATS: [&str; 11] = [
    "frames",
    "keyframes",
    "tiles-applied",
    "records-dropped",
    "frames-rejected",
    "frames-oversized",
    "geometry-changes-throttled",
    "geometry-changes",
    "bytes",
    "tiles-recalled",
    "recall-misses",
];

/// What the last call to [`View::decode`] or [`View::decode_object`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The frame was applied (whole or in part). A refused frame changes
    /// nothing.
    pub accepted: bool,
    /// The frame was a keyframe.
    pub keyframe: bool,
    /// The frame number its header carries.
    pub frame_number: u32,
    /// Records decoded and written.
    pub tiles_applied: u32,
    /// Records dropped (corrupt, badly framed, repeating a tile).
    pub records_dropped: u32,
    /// Recall records the cache could not answer.
    pub recall_misses: u32,
    /// The picture changed size: repaint (and resize) everything.
    pub geometry_changed: bool,
}

/// One changes-only stream as a page shows it.
pub struct View {
    decoder: DeltaDecoder,
    max_object_bytes: usize,
    /// The picture as RGBA, row after row, `width * 4` bytes a row.
    rgba: Vec<u8>,
    /// The last frame's changed rectangles: x, y, width, height in pixels.
    rects: Vec<[u32; 4]>,
    /// Scratch: the written tiles, sorted.
    tiles: Vec<u32>,
    outcome: Outcome,
    /// The first problem of the last call, as text (empty when none).
    error: String,
}

impl View {
    /// A view whose decoder refuses pictures over `max_width` x
    /// `max_height` (as `deltadec`'s properties of the same names) and
    /// objects over `max_object_bytes` (as `moqsrc`'s `max-object-bytes`),
    /// and keeps `cache_tiles` tile contents for recall records (the
    /// catalog's `cache_tiles`).
    pub fn new(
        max_width: u32,
        max_height: u32,
        max_object_bytes: u32,
        cache_tiles: u32,
    ) -> Result<View, ViewError> {
        let sizes = MIN_SIZE_LIMIT..=MAX_DIMENSION;
        if !sizes.contains(&max_width) || !sizes.contains(&max_height) {
            return Err(ViewError::Limits {
                max_width,
                max_height,
            });
        }
        if max_object_bytes == 0 || max_object_bytes as usize > MAX_FRAME_BYTES {
            return Err(ViewError::ObjectLimit(max_object_bytes));
        }
        let mut decoder = DeltaDecoder::with_limits(DecoderLimits {
            max_width,
            max_height,
            ..DecoderLimits::default()
        });
        decoder.set_cache_tiles(cache_tiles);
        Ok(View {
            decoder,
            max_object_bytes: max_object_bytes as usize,
            rgba: Vec::new(),
            rects: Vec::new(),
            tiles: Vec::new(),
            outcome: Outcome::default(),
            error: String::new(),
        })
    }

    /// Reads one MoQ object of the frames or snapshot track (docs/moq.md,
    /// "Objects") and decodes its payload. A refused object changes
    /// nothing; one flagged discontinuous marks every tile as possibly
    /// stale first, as `moqsrc` and `deltadec` do with `DISCONT`.
    pub fn decode_object(&mut self, object: &[u8], now: Duration) -> Outcome {
        match parse_object(object, self.max_object_bytes) {
            Ok((header, payload)) => {
                if header.discont {
                    self.decoder.note_loss();
                }
                self.decode(payload, now)
            }
            Err(e) => {
                self.refuse(e.to_string());
                self.outcome
            }
        }
    }

    /// Decodes one changes-only frame (or snapshot) that arrived at `now`
    /// (any monotonic time base) and brings the RGBA picture up to date
    /// where it changed.
    pub fn decode(&mut self, frame: &[u8], now: Duration) -> Outcome {
        let report = self.decoder.decode(frame, now);
        self.error.clear();
        if let Some(e) = &report.error {
            self.error = e.to_string();
        }
        self.rects.clear();
        let Some(header) = report.header else {
            self.outcome = Outcome::default();
            return self.outcome;
        };
        self.outcome = Outcome {
            accepted: true,
            keyframe: header.keyframe,
            frame_number: header.frame_number,
            tiles_applied: report.tiles_applied,
            records_dropped: report.records_dropped,
            recall_misses: report.recall_misses,
            geometry_changed: report.geometry_changed,
        };
        let Some(canvas) = self.decoder.canvas() else {
            return self.outcome;
        };
        let g = *canvas.geometry();
        let pixels = g.width as usize * g.height as usize * 4;
        if report.geometry_changed || self.rgba.len() != pixels {
            self.rgba.clear();
            self.rgba.resize(pixels, 255);
            self.rects.push([0, 0, g.width, g.height]);
        } else {
            self.tiles.clear();
            self.tiles.extend_from_slice(self.decoder.written_tiles());
            self.tiles.sort_unstable();
            merge_runs(&g, &self.tiles, &mut self.rects);
        }
        let planes: Vec<&[u8]> = (0..g.format.plane_count())
            .map(|p| canvas.plane(p))
            .collect();
        for r in &self.rects {
            to_rgba(&g, &planes, *r, &mut self.rgba);
        }
        self.outcome
    }

    fn refuse(&mut self, error: String) {
        self.error = error;
        self.rects.clear();
        self.outcome = Outcome::default();
    }

    /// Marks every tile as possibly stale: frames were lost before the
    /// next one (a gap in the frames track's sequences).
    pub fn note_loss(&mut self) {
        self.decoder.note_loss();
    }

    /// What the last call did.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The first problem the last call met, as the native decoder words
    /// it; `None` when there was none.
    pub fn error(&self) -> Option<&str> {
        (!self.error.is_empty()).then_some(self.error.as_str())
    }

    /// The picture's geometry, once a frame has set it.
    pub fn geometry(&self) -> Option<Geometry> {
        self.decoder.canvas().map(|c| *c.geometry())
    }

    /// Every tile has arrived at least once and none is suspect.
    pub fn is_whole(&self) -> bool {
        self.decoder.is_complete() && self.decoder.stale_tiles() == 0
    }

    /// The picture as RGBA (`width * height * 4` bytes; empty before the
    /// first picture).
    pub fn rgba(&self) -> &[u8] {
        &self.rgba
    }

    /// The rectangles the last frame changed, in pixels.
    pub fn rects(&self) -> &[[u32; 4]] {
        &self.rects
    }

    /// The decoder's counters.
    pub fn stats(&self) -> DecoderStats {
        self.decoder.stats()
    }

    /// The decoder's counters as numbers, in the order of [`STATS`].
    pub fn stats_fields(&self) -> [u64; STATS.len()] {
        let s = self.decoder.stats();
        [
            s.frames,
            s.keyframes,
            s.tiles_applied,
            s.records_dropped,
            s.frames_rejected,
            s.frames_oversized,
            s.geometry_changes_throttled,
            s.geometry_changes,
            s.bytes,
            s.tiles_recalled,
            s.recall_misses,
        ]
    }

    /// XXH3-64 of the decoded picture: its planes, tightly packed, in
    /// order (for a packed format, the one plane as the format orders its
    /// bytes), the same bytes `deltadec` outputs for a tight buffer.
    pub fn checksum(&self) -> Option<u64> {
        let canvas = self.decoder.canvas()?;
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for p in 0..canvas.geometry().format.plane_count() {
            hasher.update(canvas.plane(p));
        }
        Some(hasher.digest())
    }

    /// The stamp at the default place (`framestamp`'s), read from the
    /// decoded picture: green of a packed format, luma of a YUV one.
    pub fn stamp(&self) -> Result<Stamp, StampError> {
        let layout = default_layout();
        let Some(canvas) = self.decoder.canvas() else {
            return Err(layout.no_picture());
        };
        let g = canvas.geometry();
        let (offset, pixel_stride) = match g.format.packed_order() {
            Some([_, green, _, _]) => (green, 4),
            None => (0, 1),
        };
        let data = canvas.plane(0);
        Plane {
            data: data.get(offset..).unwrap_or(&[]),
            stride: g.width as usize * pixel_stride,
            pixel_stride,
            width: g.width,
            height: g.height,
        }
        .read_stamp(&layout)
    }
}

/// Reads the stamp at the default place from an RGBA picture `width`
/// pixels wide (its green channel): what a page reads back from a canvas it
/// drew another decoder's picture into (WebCodecs' H.264).
pub fn stamp_in_rgba(rgba: &[u8], width: u32, height: u32) -> Result<Stamp, StampError> {
    let rows = rgba.len() / (width.max(1) as usize * 4);
    Plane {
        data: rgba.get(1..).unwrap_or(&[]),
        stride: width as usize * 4,
        pixel_stride: 4,
        width,
        height: height.min(rows as u32),
    }
    .read_stamp(&default_layout())
}

/// Rectangles covering `tiles` (sorted): each run of neighbouring tiles
/// within one tile row is one rectangle, so a page paints a changed row
/// span with one call rather than a call per tile.
fn merge_runs(g: &Geometry, tiles: &[u32], out: &mut Vec<[u32; 4]>) {
    let mut i = 0;
    while i < tiles.len() {
        let first = tiles[i];
        let mut last = first;
        while i + 1 < tiles.len()
            && tiles[i + 1] == last + 1
            && tiles[i + 1] / g.tiles_x == first / g.tiles_x
        {
            i += 1;
            last = tiles[i];
        }
        let a = g.tile_rect(first);
        let b = g.tile_rect(last);
        out.push([a.x as u32, a.y as u32, (b.x + b.w - a.x) as u32, a.h as u32]);
        i += 1;
    }
}

/// Writes `rect` of the decoded planes into `rgba` as RGBA. Packed formats
/// keep their samples exactly (padding becomes an opaque alpha); I420 and
/// NV12 are converted with BT.709 limited-range coefficients.
fn to_rgba(g: &Geometry, planes: &[&[u8]], rect: [u32; 4], rgba: &mut [u8]) {
    let [x0, y0, w, h] = rect.map(|v| v as usize);
    let width = g.width as usize;
    match g.format.packed_order() {
        Some([b, gr, r, fourth]) => {
            let alpha = g.format.has_alpha();
            let src = planes[0];
            for y in y0..y0 + h {
                let row = y * width * 4;
                let from = &src[row + x0 * 4..row + (x0 + w) * 4];
                let to = &mut rgba[row + x0 * 4..row + (x0 + w) * 4];
                for (s, d) in from.chunks_exact(4).zip(to.chunks_exact_mut(4)) {
                    d[0] = s[r];
                    d[1] = s[gr];
                    d[2] = s[b];
                    d[3] = if alpha { s[fourth] } else { 255 };
                }
            }
        }
        None => {
            let chroma_width = width.div_ceil(2);
            let nv12 = g.format == PixelFormat::Nv12;
            for y in y0..y0 + h {
                let luma = &planes[0][y * width..];
                let cy = y / 2;
                for x in x0..x0 + w {
                    let cx = x / 2;
                    let (u, v) = if nv12 {
                        let i = cy * chroma_width * 2 + cx * 2;
                        (planes[1][i], planes[1][i + 1])
                    } else {
                        let i = cy * chroma_width + cx;
                        (planes[1][i], planes[2][i])
                    };
                    let d = &mut rgba[(y * width + x) * 4..][..4];
                    let [r, gr, b] = bt709(luma[x], u, v);
                    d.copy_from_slice(&[r, gr, b, 255]);
                }
            }
        }
    }
}

/// One BT.709 limited-range YUV sample as RGB, in 16.16 fixed point.
fn bt709(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = (i32::from(y) - 16) * 76_309; // 1.1644
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 32_768) >> 16).clamp(0, 255) as u8;
    [
        clamp(c + 117_504 * e),             // 1.7927 V
        clamp(c - 13_954 * d - 34_903 * e), // 0.2132 U, 0.5329 V
        clamp(c + 138_453 * d),             // 2.1124 U
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use gststreamkit::delta::canvas::FrameView;
    use gststreamkit::delta::encoder::{DeltaEncoder, EncoderConfig};

    fn bgrx(width: u32, height: u32, seed: u32) -> Vec<u8> {
        let mut data = vec![0u8; (width * height * 4) as usize];
        for (i, px) in data.chunks_exact_mut(4).enumerate() {
            let i = i as u32;
            let x = i % width;
            let y = i / width;
            px[0] = ((x / 8 + seed) % 7 * 30) as u8;
            px[1] = ((y / 8) % 5 * 50) as u8;
            px[2] = ((x + y) / 16 % 3 * 90) as u8;
            px[3] = 255;
        }
        data
    }

    fn encode(frames: &[Vec<u8>], width: u32, height: u32) -> Vec<Vec<u8>> {
        let g = Geometry::new(PixelFormat::Bgrx, width, height, 64).unwrap();
        let mut encoder = DeltaEncoder::new(g, EncoderConfig::LOSSLESS);
        frames
            .iter()
            .map(|f| {
                let planes = [f.clone()];
                let view = FrameView::tight(&g, &planes).unwrap();
                encoder.encode(&view, false).data
            })
            .collect()
    }

    #[test]
    fn the_rgba_picture_is_the_decoded_one_and_only_changed_tiles_are_named() {
        let (w, h) = (200, 130);
        let a = bgrx(w, h, 0);
        let mut b = a.clone();
        // change a few pixels inside tile (1, 1) only
        for y in 70..80 {
            for x in 70..90 {
                b[((y * w + x) * 4) as usize] ^= 0x55;
            }
        }
        let frames = encode(&[a, b.clone()], w, h);
        let mut view = View::new(4096, 2304, 1 << 20, 0).unwrap();
        let first = view.decode(&frames[0], Duration::ZERO);
        assert!(first.accepted && first.keyframe && first.geometry_changed);
        assert_eq!(view.rects(), &[[0, 0, w, h]]);
        let second = view.decode(&frames[1], Duration::from_millis(33));
        assert!(second.accepted && !second.keyframe);
        assert_eq!(view.rects(), &[[64, 64, 64, 64]]);
        for (s, d) in b.chunks_exact(4).zip(view.rgba().chunks_exact(4)) {
            assert_eq!(d, [s[2], s[1], s[0], 255]);
        }
        assert_eq!(view.checksum(), Some(xxhash_rust::xxh3::xxh3_64(&b)));
        assert!(view.is_whole());
    }

    #[test]
    fn a_stamp_reads_from_the_rgba_picture_as_from_the_decoded_one() {
        let frames = encode(&[bgrx(320, 200, 0)], 320, 200);
        let mut view = View::new(4096, 2304, 1 << 20, 0).unwrap();
        view.decode(&frames[0], Duration::ZERO);
        // no stamp drawn: both say so alike
        assert_eq!(
            view.stamp().is_ok(),
            stamp_in_rgba(view.rgba(), 320, 200).is_ok()
        );
        // too small a picture, or fewer rows than claimed: an error, no panic
        assert!(stamp_in_rgba(&[0; 64], 4, 4).is_err());
        assert!(stamp_in_rgba(&[0; 64], 320, 200).is_err());
    }

    #[test]
    fn runs_of_tiles_in_a_row_become_one_rectangle() {
        let g = Geometry::new(PixelFormat::Bgrx, 200, 130, 64).unwrap();
        // 4 tiles across (the last 8 wide), 3 down (the last 2 high)
        let mut out = Vec::new();
        merge_runs(&g, &[1, 2, 3, 4, 6, 11], &mut out);
        assert_eq!(
            out,
            vec![
                [64, 0, 136, 64],
                [0, 64, 64, 64],
                [128, 64, 64, 64],
                [192, 128, 8, 2]
            ]
        );
    }

    #[test]
    fn bad_objects_and_limits_are_refused_with_the_native_words() {
        assert!(View::new(8, 8, 1, 0).is_err());
        assert!(View::new(640, 480, 0, 0).is_err());
        let mut view = View::new(640, 480, 100, 0).unwrap();
        let out = view.decode_object(&[1, 0, 0], Duration::ZERO);
        assert!(!out.accepted);
        assert_eq!(
            view.error(),
            Some("object of 3 bytes is shorter than its 10-byte header")
        );
        let big = vec![0u8; 10 + 101];
        let mut big = big;
        big[0] = 1;
        view.decode_object(&big, Duration::ZERO);
        assert_eq!(
            view.error(),
            Some("object payload of 101 bytes is over the limit of 100")
        );
        // a frame over the size limit: refused before anything is made
        let frames = encode(&[bgrx(720, 500, 0)], 720, 500);
        let out = view.decode(&frames[0], Duration::ZERO);
        assert!(!out.accepted);
        assert!(view
            .error()
            .unwrap()
            .contains("over the decoder's limit of 640x480"));
        assert!(view.geometry().is_none() && view.rgba().is_empty());
    }

    #[test]
    fn yuv_greys_stay_grey_and_limited_range_ends_map_to_black_and_white() {
        assert_eq!(bt709(16, 128, 128), [0, 0, 0]);
        assert_eq!(bt709(235, 128, 128), [255, 255, 255]);
        let [r, g, b] = bt709(126, 128, 128);
        assert!(r == g && g == b && (127..=129).contains(&r));
    }
}
