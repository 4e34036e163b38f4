// SPDX-License-Identifier: MPL-2.0
//! Frame geometry: pixel formats, planes and the tile grid.
//!
//! Everything here is pure arithmetic on validated dimensions; the limits
//! below bound every allocation the codec makes, whatever a bitstream claims.

use thiserror::Error;

/// Largest width or height the codec accepts (bounds every canvas allocation).
pub const MAX_DIMENSION: u32 = 8192;
/// Smallest and largest tile edge in pixels.
pub const MIN_TILE_SIZE: u32 = 16;
pub const MAX_TILE_SIZE: u32 = 256;

/// Pixel formats the codec carries without conversion: the encoder reads
/// and the decoder's canvas holds each in its own memory layout.
///
/// A tile is coded as channels (see [`crate::delta::samples`]): the YUV formats
/// give Y, U, V; the packed 4-byte formats give B, G, R and the fourth byte
/// (alpha or padding) in that canonical order whatever their byte order, so
/// that every coding treats them alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Planar Y, U, V; chroma subsampled by two in both directions.
    I420,
    /// Packed 4 bytes per pixel: blue, green, red, padding (screen capture).
    Bgrx,
    /// Y plane, then one plane of interleaved U, V pairs subsampled by two
    /// in both directions.
    Nv12,
    /// Packed 4 bytes per pixel: blue, green, red, alpha.
    Bgra,
    /// Packed 4 bytes per pixel: red, green, blue, alpha.
    Rgba,
    /// Packed 4 bytes per pixel: red, green, blue, padding.
    Rgbx,
    /// Packed 4 bytes per pixel: padding, red, green, blue.
    Xrgb,
    /// Packed 4 bytes per pixel: padding, blue, green, red.
    Xbgr,
}

impl PixelFormat {
    /// Every format, in the order of their bitstream codes.
    pub const ALL: [PixelFormat; 8] = [
        PixelFormat::I420,
        PixelFormat::Bgrx,
        PixelFormat::Nv12,
        PixelFormat::Bgra,
        PixelFormat::Rgba,
        PixelFormat::Rgbx,
        PixelFormat::Xrgb,
        PixelFormat::Xbgr,
    ];

    /// Code of the format in the bitstream.
    pub fn code(self) -> u8 {
        match self {
            PixelFormat::I420 => 0,
            PixelFormat::Bgrx => 1,
            PixelFormat::Nv12 => 2,
            PixelFormat::Bgra => 3,
            PixelFormat::Rgba => 4,
            PixelFormat::Rgbx => 5,
            PixelFormat::Xrgb => 6,
            PixelFormat::Xbgr => 7,
        }
    }

    /// Format for a bitstream code, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }

    /// Name as used in GStreamer caps (`format=`).
    pub fn caps_name(self) -> &'static str {
        match self {
            PixelFormat::I420 => "I420",
            PixelFormat::Bgrx => "BGRx",
            PixelFormat::Nv12 => "NV12",
            PixelFormat::Bgra => "BGRA",
            PixelFormat::Rgba => "RGBA",
            PixelFormat::Rgbx => "RGBx",
            PixelFormat::Xrgb => "xRGB",
            PixelFormat::Xbgr => "xBGR",
        }
    }

    /// Format for a GStreamer caps name, if supported.
    pub fn from_caps_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.caps_name() == name)
    }

    /// Number of planes in memory.
    pub fn plane_count(self) -> usize {
        match self {
            PixelFormat::I420 => 3,
            PixelFormat::Nv12 => 2,
            _ => 1,
        }
    }

    /// Bytes per sample position of `plane`: per pixel for a packed format,
    /// per chroma pair for NV12's interleaved plane.
    pub fn bytes_per_pixel(self, plane: usize) -> usize {
        match (self, plane) {
            (PixelFormat::I420, _) | (PixelFormat::Nv12, 0) => 1,
            (PixelFormat::Nv12, _) => 2,
            _ => 4,
        }
    }

    /// log2 of the horizontal and vertical subsampling of `plane`.
    pub fn subsampling(self, plane: usize) -> (u32, u32) {
        match (self, plane) {
            (PixelFormat::I420, 1 | 2) | (PixelFormat::Nv12, 1) => (1, 1),
            _ => (0, 0),
        }
    }

    /// Whether chroma is subsampled (I420, NV12): moves then go by even
    /// offsets only, so that chroma moves by whole samples.
    pub fn is_subsampled(self) -> bool {
        matches!(self, PixelFormat::I420 | PixelFormat::Nv12)
    }

    /// For a packed 4-byte format, the positions within a pixel of blue,
    /// green, red and the fourth byte (alpha or padding): the canonical
    /// channel order a tile is coded in. `None` for the YUV formats.
    pub fn packed_order(self) -> Option<[usize; 4]> {
        match self {
            PixelFormat::I420 | PixelFormat::Nv12 => None,
            PixelFormat::Bgrx | PixelFormat::Bgra => Some([0, 1, 2, 3]),
            PixelFormat::Rgbx | PixelFormat::Rgba => Some([2, 1, 0, 3]),
            PixelFormat::Xrgb => Some([3, 2, 1, 0]),
            PixelFormat::Xbgr => Some([1, 2, 3, 0]),
        }
    }

    /// Whether the fourth byte of a packed pixel is alpha (carried exactly
    /// in every coding) rather than padding.
    pub fn has_alpha(self) -> bool {
        matches!(self, PixelFormat::Bgra | PixelFormat::Rgba)
    }

    /// Position within a pixel of a packed format's padding byte, which is
    /// not picture (change thresholds ignore it; lossy tiles set it to 255).
    pub fn padding_byte(self) -> Option<usize> {
        match self.packed_order() {
            Some([_, _, _, fourth]) if !self.has_alpha() => Some(fourth),
            _ => None,
        }
    }
}

/// Why a geometry is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum GeometryError {
    #[error("frame size {width}x{height} is outside 1x1..={max}x{max}", max = MAX_DIMENSION)]
    BadDimensions { width: u32, height: u32 },
    #[error(
        "tile size {0} is not a multiple of 16 in {min}..={max}",
        min = MIN_TILE_SIZE,
        max = MAX_TILE_SIZE
    )]
    BadTileSize(u32),
}

/// A rectangle in pixel or sample coordinates: `x..x+w`, `y..y+h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

/// Validated frame size, format and tile grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    /// Tiles across and down (edge tiles may be partial).
    pub tiles_x: u32,
    pub tiles_y: u32,
}

impl Geometry {
    /// Checks the numbers and derives the tile grid.
    pub fn new(
        format: PixelFormat,
        width: u32,
        height: u32,
        tile_size: u32,
    ) -> Result<Self, GeometryError> {
        if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(GeometryError::BadDimensions { width, height });
        }
        if !(MIN_TILE_SIZE..=MAX_TILE_SIZE).contains(&tile_size) || !tile_size.is_multiple_of(16) {
            return Err(GeometryError::BadTileSize(tile_size));
        }
        Ok(Geometry {
            format,
            width,
            height,
            tile_size,
            tiles_x: width.div_ceil(tile_size),
            tiles_y: height.div_ceil(tile_size),
        })
    }

    /// Number of tiles in the frame.
    pub fn tile_count(&self) -> u32 {
        self.tiles_x * self.tiles_y
    }

    /// Width and height of `plane` in samples (pixels for packed formats).
    pub fn plane_size(&self, plane: usize) -> (usize, usize) {
        let (sx, sy) = self.format.subsampling(plane);
        (
            (self.width as usize).div_ceil(1 << sx),
            (self.height as usize).div_ceil(1 << sy),
        )
    }

    /// The tile's rectangle in pixels, clipped to the frame.
    pub fn tile_rect(&self, tile: u32) -> Rect {
        let ts = self.tile_size as usize;
        let tx = (tile % self.tiles_x) as usize;
        let ty = (tile / self.tiles_x) as usize;
        let x = tx * ts;
        let y = ty * ts;
        Rect {
            x,
            y,
            w: ts.min(self.width as usize - x),
            h: ts.min(self.height as usize - y),
        }
    }

    /// The tile's rectangle in the samples of `plane`, clipped to the plane.
    pub fn tile_plane_rect(&self, tile: u32, plane: usize) -> Rect {
        let r = self.tile_rect(tile);
        let (sx, sy) = self.format.subsampling(plane);
        let (pw, ph) = self.plane_size(plane);
        // Tile origins are multiples of 16, so they divide exactly.
        let x = r.x >> sx;
        let y = r.y >> sy;
        Rect {
            x,
            y,
            w: ((r.x + r.w).div_ceil(1 << sx)).min(pw) - x,
            h: ((r.y + r.h).div_ceil(1 << sy)).min(ph) - y,
        }
    }

    /// Rows of `tile` over all planes (chroma rows counted in their own
    /// plane's samples).
    pub fn tile_rows(&self, tile: u32) -> usize {
        (0..self.format.plane_count())
            .map(|p| self.tile_plane_rect(tile, p).h)
            .sum()
    }

    /// Whether `tile` moved by (`dx`, `dy`) lies inside the frame: the
    /// rectangle a move record for it reads. In subsampled formats chroma
    /// moves by `dx >> 1`, `dy >> 1` samples (rounded down): an odd offset
    /// moves luma exactly and chroma by the nearest whole sample, which a
    /// move residual then corrects (a page scrolls by odd steps as often as
    /// by even ones).
    pub fn shift_is_valid(&self, tile: u32, dx: i32, dy: i32) -> bool {
        let r = self.tile_rect(tile);
        let x = r.x as i64 + dx as i64;
        let y = r.y as i64 + dy as i64;
        x >= 0
            && y >= 0
            && x + r.w as i64 <= self.width as i64
            && y + r.h as i64 <= self.height as i64
    }

    /// Whether `tile` may be predicted from the previous picture at the
    /// tile moved by (`dx`, `dy`): the columns must lie inside the frame;
    /// rows above or below it read the nearest row of the frame (content
    /// scrolled in at an edge is predicted from the edge). Chroma moves as
    /// for [`Self::shift_is_valid`].
    pub fn prediction_is_valid(&self, tile: u32, dx: i32, dy: i32) -> bool {
        let r = self.tile_rect(tile);
        let x = r.x as i64 + dx as i64;
        x >= 0 && x + r.w as i64 <= self.width as i64 && dy.unsigned_abs() < self.height
    }

    /// The row of a plane `ph` rows high that row `y + d` of a prediction
    /// reads: clamped into the plane.
    pub fn clamp_row(y: usize, d: i32, ph: usize) -> usize {
        (y as i64 + d as i64).clamp(0, ph as i64 - 1) as usize
    }

    /// The tiles that `tile` moved by (`dx`, `dy`) reads (a valid
    /// prediction, [`Self::prediction_is_valid`]; rows clamped into the
    /// frame).
    pub fn shifted_tiles(&self, tile: u32, dx: i32, dy: i32) -> impl Iterator<Item = u32> {
        debug_assert!(self.prediction_is_valid(tile, dx, dy));
        let r = self.tile_rect(tile);
        let ts = self.tile_size as usize;
        let (w, h) = (self.width as usize, self.height as usize);
        // Rounded-down chroma offsets read up to one pixel's worth beyond
        // the luma rectangle on either side.
        let sub = self.format.is_subsampled();
        let (mx, my) = ((sub && dx % 2 != 0) as usize, (sub && dy % 2 != 0) as usize);
        let x = (r.x as i64 + dx as i64).max(0) as usize;
        let y0 = Self::clamp_row(r.y, dy, h).saturating_sub(my);
        let y1 = (Self::clamp_row(r.y + r.h - 1, dy, h) + my).min(h - 1);
        let tiles_x = self.tiles_x;
        let (tx0, tx1) = (
            x.saturating_sub(mx) / ts,
            (x + r.w - 1 + mx).min(w - 1) / ts,
        );
        let (ty0, ty1) = (y0 / ts, y1 / ts);
        (ty0..=ty1)
            .flat_map(move |ty| (tx0..=tx1).map(move |tx| (ty * tiles_x as usize + tx) as u32))
    }

    /// Samples (bytes) of one full tile over all planes: the largest tile
    /// payload a lossless record can decode to.
    pub fn max_tile_bytes(&self) -> usize {
        let ts = self.tile_size as usize;
        (0..self.format.plane_count())
            .map(|p| {
                let (sx, sy) = self.format.subsampling(p);
                (ts >> sx) * (ts >> sy) * self.format.bytes_per_pixel(p)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_frame_with_partial_edges() {
        let g = Geometry::new(PixelFormat::I420, 1920, 1080, 64).unwrap();
        assert_eq!((g.tiles_x, g.tiles_y), (30, 17));
        let last = g.tile_rect(g.tile_count() - 1);
        assert_eq!(
            last,
            Rect {
                x: 1856,
                y: 1024,
                w: 64,
                h: 56
            }
        );
        let chroma = g.tile_plane_rect(g.tile_count() - 1, 1);
        assert_eq!(
            chroma,
            Rect {
                x: 928,
                y: 512,
                w: 32,
                h: 28
            }
        );
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        let g = Geometry::new(PixelFormat::I420, 33, 17, 16).unwrap();
        assert_eq!(g.plane_size(1), (17, 9));
        let r = g.tile_plane_rect(2, 1);
        assert_eq!(
            r,
            Rect {
                x: 16,
                y: 0,
                w: 1,
                h: 8
            }
        );
    }

    #[test]
    fn formats_have_distinct_codes_and_names() {
        for (i, f) in PixelFormat::ALL.into_iter().enumerate() {
            assert_eq!(f.code() as usize, i);
            assert_eq!(PixelFormat::from_code(f.code()), Some(f));
            assert_eq!(PixelFormat::from_caps_name(f.caps_name()), Some(f));
            // packed formats: B, G, R and the fourth byte are four distinct positions
            if let Some(order) = f.packed_order() {
                let mut sorted = order;
                sorted.sort_unstable();
                assert_eq!(sorted, [0, 1, 2, 3], "{f:?}");
                assert_eq!(f.plane_count(), 1);
                assert_eq!(f.padding_byte().is_some(), !f.has_alpha());
            }
        }
        assert_eq!(PixelFormat::from_code(8), None);
        assert_eq!(PixelFormat::from_caps_name("ARGB"), None);
    }

    #[test]
    fn nv12_has_one_interleaved_chroma_plane() {
        let g = Geometry::new(PixelFormat::Nv12, 33, 17, 16).unwrap();
        assert_eq!(g.format.plane_count(), 2);
        assert_eq!(g.plane_size(1), (17, 9));
        assert_eq!(g.format.bytes_per_pixel(0), 1);
        assert_eq!(g.format.bytes_per_pixel(1), 2);
        assert_eq!(
            g.tile_plane_rect(2, 1),
            Rect {
                x: 16,
                y: 0,
                w: 1,
                h: 8
            }
        );
        // the same samples as I420, laid out in two planes
        let i420 = Geometry::new(PixelFormat::I420, 33, 17, 16).unwrap();
        assert_eq!(g.max_tile_bytes(), i420.max_tile_bytes());
        // chroma moves by whole samples, rounded down for odd offsets
        let g = Geometry::new(PixelFormat::Nv12, 64, 64, 16).unwrap();
        assert!(g.shift_is_valid(5, 2, -4));
        assert!(g.shift_is_valid(5, 1, 0));
        assert!(g.prediction_is_valid(5, 0, 3));
        assert!(!g.shift_is_valid(5, -17, 0));
        // an odd move reads up to one pixel's worth of chroma beyond the
        // luma rectangle: the tiles it reads include that neighbour
        let tiles: Vec<u32> = g.shifted_tiles(5, 15, 0).collect();
        assert_eq!(tiles, vec![5, 6]);
        let tiles: Vec<u32> = g.shifted_tiles(5, 1, 0).collect();
        assert_eq!(tiles, vec![5, 6]);
        let tiles: Vec<u32> = g.shifted_tiles(5, -1, 0).collect();
        assert_eq!(tiles, vec![4, 5]);
        let tiles: Vec<u32> = g.shifted_tiles(5, 0, 0).collect();
        assert_eq!(tiles, vec![5]);
        let packed = Geometry::new(PixelFormat::Xbgr, 64, 64, 16).unwrap();
        assert!(packed.shift_is_valid(5, 1, -3));
        assert_eq!(packed.max_tile_bytes(), 16 * 16 * 4);
    }

    #[test]
    fn rejects_absurd_numbers() {
        assert!(Geometry::new(PixelFormat::Bgrx, 0, 10, 16).is_err());
        assert!(Geometry::new(PixelFormat::Bgrx, 10, 100_000, 16).is_err());
        assert!(Geometry::new(PixelFormat::Bgrx, 10, 10, 24).is_err());
        assert!(Geometry::new(PixelFormat::Bgrx, 10, 10, 512).is_err());
    }
}
