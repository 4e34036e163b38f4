// SPDX-License-Identifier: MPL-2.0
//! The stamp code: a frame number and a capture time drawn into a picture as a
//! grid of large black and white blocks, and read back after lossy coding.
//!
//! The code is made to survive what a video path does to a picture: block
//! transforms (JPEG, H.264), chroma subsampling, colour conversion and limited
//! range. Each bit is a whole square block of `block` x `block` pixels, so an
//! 8x8 or 16x16 transform block aligned with it sees a flat area; the reader
//! averages the centre of each block and compares it with a threshold that it
//! calibrates on a known row of alternating blocks, so it does not care which
//! levels "black" and "white" became on the way.
//!
//! Layout, in blocks: [`COLUMNS`] x [`ROWS`]. Row 0 is the sync row (white,
//! black, white, ...). Rows 1.. hold 112 data bits, most significant first:
//! the frame number (32 bits), the capture time in nanoseconds (64 bits) and a
//! CRC-16/CCITT-FALSE over those 12 bytes (16 bits). A code that was damaged
//! fails the sync row or the checksum and is reported as unreadable rather
//! than misread.
//!
//! No GStreamer types here: the elements `framestamp` and `framemeter` and the
//! `streamkit-compare` program adapt their frames to [`Plane`] / [`PlaneMut`].

use thiserror::Error;

/// Width of the code, in blocks.
pub const COLUMNS: u32 = 16;
/// Height of the code, in blocks (one sync row and seven data rows).
pub const ROWS: u32 = 8;

const DATA_BITS: usize = ((ROWS - 1) * COLUMNS) as usize;
const PAYLOAD_BYTES: usize = 12;

/// Below this difference between the calibrated white and black levels the
/// area does not hold a code (or it was washed out); reading it would be a guess.
pub const MIN_CONTRAST: f32 = 48.0;

/// Default left edge of the code, in pixels (`framestamp`, `framemeter`
/// and the browser viewer).
pub const DEFAULT_X: u32 = 16;
/// Default top edge of the code, in pixels.
pub const DEFAULT_Y: u32 = 16;
/// Default block side: one H.264 macroblock.
pub const DEFAULT_BLOCK_SIZE: u32 = 16;
/// Smallest block that still survives 4:2:0 and an 8x8 transform.
pub const MIN_BLOCK_SIZE: u32 = 4;
/// Largest block size.
pub const MAX_BLOCK_SIZE: u32 = 256;
/// Largest x or y position.
pub const MAX_POSITION: u32 = 32768;

/// Where every reader and writer puts the code unless told otherwise.
pub fn default_layout() -> StampLayout {
    StampLayout {
        x: DEFAULT_X,
        y: DEFAULT_Y,
        block: DEFAULT_BLOCK_SIZE,
    }
}

/// What a stamp says about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    /// Counts frames from 0 at the stamping element's start.
    pub frame: u32,
    /// Capture time, in nanoseconds on the host clock both ends agree on.
    pub capture_time_ns: u64,
}

/// Where the code sits in the picture and how large its blocks are, in luma
/// (or RGB) pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StampLayout {
    /// Left edge of the code.
    pub x: u32,
    /// Top edge of the code.
    pub y: u32,
    /// Side of one block; 16 keeps blocks aligned with H.264 macroblocks.
    pub block: u32,
}

/// An axis-aligned rectangle in pixels of one plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Why a stamp could not be written or read.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StampError {
    /// The code does not fit inside the picture.
    #[error("the stamp code needs {needed_width}x{needed_height} pixels at ({x}, {y}) but the picture is {width}x{height}")]
    OutOfBounds {
        /// Left edge asked for.
        x: u32,
        /// Top edge asked for.
        y: u32,
        /// Right edge the code needs.
        needed_width: u32,
        /// Bottom edge the code needs.
        needed_height: u32,
        /// Picture width.
        width: u32,
        /// Picture height.
        height: u32,
    },
    /// A block size of zero.
    #[error("block size must be at least 1 pixel")]
    ZeroBlock,
    /// White and black are too close: no code there, or it was washed out.
    #[error("no stamp: white level {white:.0} and black level {black:.0} are too close")]
    NoContrast {
        /// Darkest white block of the sync row.
        white: f32,
        /// Brightest black block of the sync row.
        black: f32,
    },
    /// The sync row is not the expected alternation.
    #[error("sync row does not match at column {column}")]
    Sync {
        /// First column that did not match.
        column: u32,
    },
    /// The data bits were damaged.
    #[error("checksum mismatch: code says {stored:#06x}, data gives {computed:#06x}")]
    Checksum {
        /// CRC read from the picture.
        stored: u16,
        /// CRC of the data read from the picture.
        computed: u16,
    },
}

impl StampLayout {
    /// Checks the block size is usable.
    pub fn new(x: u32, y: u32, block: u32) -> Result<Self, StampError> {
        if block == 0 {
            return Err(StampError::ZeroBlock);
        }
        Ok(Self { x, y, block })
    }

    /// The whole area the code covers.
    pub fn bounds(&self) -> Rect {
        Rect {
            x: self.x,
            y: self.y,
            width: COLUMNS * self.block,
            height: ROWS * self.block,
        }
    }

    /// Fails unless the code fits in a `width` x `height` picture.
    pub fn check_fits(&self, width: u32, height: u32) -> Result<(), StampError> {
        let b = self.bounds();
        let right = b.x.checked_add(b.width);
        let bottom = b.y.checked_add(b.height);
        match (right, bottom) {
            (Some(r), Some(btm)) if r <= width && btm <= height => Ok(()),
            _ => Err(self.out_of(width, height)),
        }
    }

    /// The error for a picture with nothing to read the code from (none
    /// decoded yet, or no samples to map): it does not fit in 0 x 0.
    pub fn no_picture(&self) -> StampError {
        self.out_of(0, 0)
    }

    fn out_of(&self, width: u32, height: u32) -> StampError {
        let b = self.bounds();
        StampError::OutOfBounds {
            x: self.x,
            y: self.y,
            needed_width: b.width,
            needed_height: b.height,
            width,
            height,
        }
    }

    /// The pixels of block (`column`, `row`).
    pub fn cell(&self, column: u32, row: u32) -> Rect {
        Rect {
            x: self.x + column * self.block,
            y: self.y + row * self.block,
            width: self.block,
            height: self.block,
        }
    }
}

impl Rect {
    /// The same area on a plane subsampled by 2^`shift_x` and 2^`shift_y`
    /// (chroma of I420 is (1, 1)), grown outward to whole samples.
    pub fn subsampled(&self, shift_x: u32, shift_y: u32) -> Rect {
        let x0 = self.x >> shift_x;
        let y0 = self.y >> shift_y;
        let x1 = (self.x + self.width).div_ceil(1 << shift_x);
        let y1 = (self.y + self.height).div_ceil(1 << shift_y);
        Rect {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
        }
    }

    /// The middle half in each direction (at least one pixel): the part of a
    /// block that filtering and ringing at its edges leave alone.
    fn centre(&self) -> Rect {
        let width = (self.width / 2).max(1);
        let height = (self.height / 2).max(1);
        Rect {
            x: self.x + (self.width - width) / 2,
            y: self.y + (self.height - height) / 2,
            width,
            height,
        }
    }
}

/// The blocks of one code, row by row: `true` is white.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampCells(pub [[bool; COLUMNS as usize]; ROWS as usize]);

/// CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF, no reflection).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn sync_white(column: u32) -> bool {
    column.is_multiple_of(2)
}

impl Stamp {
    fn payload(&self) -> [u8; PAYLOAD_BYTES] {
        let mut p = [0u8; PAYLOAD_BYTES];
        p[..4].copy_from_slice(&self.frame.to_be_bytes());
        p[4..].copy_from_slice(&self.capture_time_ns.to_be_bytes());
        p
    }

    /// The blocks that show this stamp.
    pub fn cells(&self) -> StampCells {
        let payload = self.payload();
        let crc = crc16(&payload);
        let mut bytes = [0u8; PAYLOAD_BYTES + 2];
        bytes[..PAYLOAD_BYTES].copy_from_slice(&payload);
        bytes[PAYLOAD_BYTES..].copy_from_slice(&crc.to_be_bytes());

        let mut cells = [[false; COLUMNS as usize]; ROWS as usize];
        for (column, cell) in cells[0].iter_mut().enumerate() {
            *cell = sync_white(column as u32);
        }
        for bit in 0..DATA_BITS {
            let value = bytes[bit / 8] & (0x80 >> (bit % 8)) != 0;
            cells[1 + bit / COLUMNS as usize][bit % COLUMNS as usize] = value;
        }
        StampCells(cells)
    }

    /// Reads a stamp from the mean level of each block, as returned by
    /// `level(column, row)` (any scale where white is brighter than black).
    pub fn from_levels(level: impl Fn(u32, u32) -> f32) -> Result<Stamp, StampError> {
        let (mut white_sum, mut black_sum) = (0.0f32, 0.0f32);
        let (mut white_min, mut black_max) = (f32::MAX, f32::MIN);
        for column in 0..COLUMNS {
            let l = level(column, 0);
            if sync_white(column) {
                white_sum += l;
                white_min = white_min.min(l);
            } else {
                black_sum += l;
                black_max = black_max.max(l);
            }
        }
        let half = (COLUMNS / 2) as f32;
        let (white, black) = (white_sum / half, black_sum / half);
        if white - black < MIN_CONTRAST {
            return Err(StampError::NoContrast { white, black });
        }
        let threshold = (white + black) / 2.0;
        // Every sync block must fall on its side: a mean alone would accept
        // a picture with one bright and one dark half.
        if white_min <= threshold || black_max >= threshold {
            let column = (0..COLUMNS)
                .find(|&c| (level(c, 0) > threshold) != sync_white(c))
                .unwrap_or(0);
            return Err(StampError::Sync { column });
        }

        let mut bytes = [0u8; PAYLOAD_BYTES + 2];
        for bit in 0..DATA_BITS {
            let column = (bit % COLUMNS as usize) as u32;
            let row = 1 + (bit / COLUMNS as usize) as u32;
            if level(column, row) > threshold {
                bytes[bit / 8] |= 0x80 >> (bit % 8);
            }
        }
        let stored = u16::from_be_bytes([bytes[PAYLOAD_BYTES], bytes[PAYLOAD_BYTES + 1]]);
        let computed = crc16(&bytes[..PAYLOAD_BYTES]);
        if stored != computed {
            return Err(StampError::Checksum { stored, computed });
        }
        let mut frame = [0u8; 4];
        frame.copy_from_slice(&bytes[..4]);
        let mut time = [0u8; 8];
        time.copy_from_slice(&bytes[4..PAYLOAD_BYTES]);
        Ok(Stamp {
            frame: u32::from_be_bytes(frame),
            capture_time_ns: u64::from_be_bytes(time),
        })
    }
}

/// A read-only 8-bit component of a picture: a luma plane, or one channel of
/// packed RGB (`pixel_stride` 3 or 4, `data` starting at that channel).
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    /// Samples, starting at the first sample of the first row.
    pub data: &'a [u8],
    /// Bytes from one row to the next.
    pub stride: usize,
    /// Bytes from one pixel to the next in a row.
    pub pixel_stride: usize,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

/// A writable plane of a picture; every offset in `components` (bytes within
/// a pixel) is written, so packed RGB gets the same value in R, G and B.
#[derive(Debug)]
pub struct PlaneMut<'a> {
    /// Samples, starting at the first byte of the first row.
    pub data: &'a mut [u8],
    /// Bytes from one row to the next.
    pub stride: usize,
    /// Bytes from one pixel to the next in a row.
    pub pixel_stride: usize,
    /// Byte offsets within a pixel to write.
    pub components: &'a [usize],
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl Plane<'_> {
    /// Mean sample value over `rect`, clipped to the plane; `None` when
    /// nothing of it lies inside.
    pub fn mean(&self, rect: Rect) -> Option<f32> {
        let x1 = (rect.x + rect.width).min(self.width);
        let y1 = (rect.y + rect.height).min(self.height);
        if rect.x >= x1 || rect.y >= y1 {
            return None;
        }
        let mut sum = 0u64;
        let mut count = 0u64;
        for y in rect.y..y1 {
            let row = y as usize * self.stride;
            for x in rect.x..x1 {
                let i = row + x as usize * self.pixel_stride;
                sum += u64::from(*self.data.get(i)?);
                count += 1;
            }
        }
        Some(sum as f32 / count as f32)
    }

    /// Reads the stamp drawn at `layout`.
    pub fn read_stamp(&self, layout: &StampLayout) -> Result<Stamp, StampError> {
        layout.check_fits(self.width, self.height)?;
        // check_fits guarantees every block is inside, so mean() is Some
        // unless `data` is shorter than the geometry says; treat that as dark.
        Stamp::from_levels(|c, r| self.mean(layout.cell(c, r).centre()).unwrap_or(0.0))
    }
}

impl PlaneMut<'_> {
    /// Sets every component of every pixel of `rect` (clipped) to `value`.
    pub fn fill(&mut self, rect: Rect, value: u8) {
        let x1 = (rect.x + rect.width).min(self.width);
        let y1 = (rect.y + rect.height).min(self.height);
        for y in rect.y.min(y1)..y1 {
            let row = y as usize * self.stride;
            for x in rect.x.min(x1)..x1 {
                let pixel = row + x as usize * self.pixel_stride;
                for &c in self.components {
                    if let Some(sample) = self.data.get_mut(pixel + c) {
                        *sample = value;
                    }
                }
            }
        }
    }

    /// Draws `stamp` at `layout` with the given sample values for white and
    /// black blocks.
    pub fn draw_stamp(
        &mut self,
        layout: &StampLayout,
        stamp: &Stamp,
        white: u8,
        black: u8,
    ) -> Result<(), StampError> {
        layout.check_fits(self.width, self.height)?;
        let cells = stamp.cells();
        for (row, line) in cells.0.iter().enumerate() {
            for (column, &is_white) in line.iter().enumerate() {
                let value = if is_white { white } else { black };
                self.fill(layout.cell(column as u32, row as u32), value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 320;
    const H: u32 = 200;

    fn picture(fill: u8) -> Vec<u8> {
        vec![fill; (W * H) as usize]
    }

    fn draw(buf: &mut [u8], layout: &StampLayout, stamp: &Stamp) {
        let mut plane = PlaneMut {
            data: buf,
            stride: W as usize,
            pixel_stride: 1,
            components: &[0],
            width: W,
            height: H,
        };
        plane.draw_stamp(layout, stamp, 235, 16).unwrap();
    }

    fn read(buf: &[u8], layout: &StampLayout) -> Result<Stamp, StampError> {
        Plane {
            data: buf,
            stride: W as usize,
            pixel_stride: 1,
            width: W,
            height: H,
        }
        .read_stamp(layout)
    }

    #[test]
    fn crc_matches_the_published_check_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn round_trip_extremes() {
        let layout = StampLayout::new(8, 24, 16).unwrap();
        for stamp in [
            Stamp {
                frame: 0,
                capture_time_ns: 0,
            },
            Stamp {
                frame: u32::MAX,
                capture_time_ns: u64::MAX,
            },
            Stamp {
                frame: 123_456,
                capture_time_ns: 1_764_000_000_123_456_789,
            },
        ] {
            let mut buf = picture(128);
            draw(&mut buf, &layout, &stamp);
            assert_eq!(read(&buf, &layout), Ok(stamp));
        }
    }

    #[test]
    fn survives_level_shift_noise_and_blurred_edges() {
        let layout = StampLayout::new(0, 0, 16).unwrap();
        let stamp = Stamp {
            frame: 77,
            capture_time_ns: 987_654_321_000,
        };
        let mut buf = picture(0);
        draw(&mut buf, &layout, &stamp);
        // Squash the range (as a full-to-limited conversion would), add
        // deterministic noise, and smear each row horizontally.
        let mut seed = 0x1234_5678u32;
        for y in 0..H as usize {
            let row = &mut buf[y * W as usize..(y + 1) * W as usize];
            let orig = row.to_vec();
            for x in 0..W as usize {
                let left = orig[x.saturating_sub(2)] as i32;
                let right = orig[(x + 2).min(W as usize - 1)] as i32;
                let v = (left + 2 * orig[x] as i32 + right) / 4;
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let noise = ((seed >> 16) % 41) as i32 - 20;
                row[x] = (60 + v * 100 / 255 + noise).clamp(0, 255) as u8;
            }
        }
        assert_eq!(read(&buf, &layout), Ok(stamp));
    }

    #[test]
    fn flat_picture_is_no_stamp() {
        let layout = StampLayout::new(0, 0, 8).unwrap();
        assert!(matches!(
            read(&picture(128), &layout),
            Err(StampError::NoContrast { .. })
        ));
    }

    #[test]
    fn damaged_bit_is_detected_not_misread() {
        let layout = StampLayout::new(0, 0, 8).unwrap();
        let stamp = Stamp {
            frame: 5,
            capture_time_ns: 42,
        };
        let cells = stamp.cells();
        // Flip each data block in turn: every single flip must be caught.
        for row in 1..ROWS {
            for column in 0..COLUMNS {
                let mut buf = picture(0);
                draw(&mut buf, &layout, &stamp);
                let was_white = cells.0[row as usize][column as usize];
                let mut plane = PlaneMut {
                    data: &mut buf,
                    stride: W as usize,
                    pixel_stride: 1,
                    components: &[0],
                    width: W,
                    height: H,
                };
                plane.fill(layout.cell(column, row), if was_white { 16 } else { 235 });
                assert!(
                    matches!(read(&buf, &layout), Err(StampError::Checksum { .. })),
                    "flip at ({column}, {row}) not detected"
                );
            }
        }
    }

    #[test]
    fn broken_sync_row_is_detected() {
        let layout = StampLayout::new(0, 0, 8).unwrap();
        let stamp = Stamp {
            frame: 5,
            capture_time_ns: 42,
        };
        let mut buf = picture(0);
        draw(&mut buf, &layout, &stamp);
        let mut plane = PlaneMut {
            data: &mut buf,
            stride: W as usize,
            pixel_stride: 1,
            components: &[0],
            width: W,
            height: H,
        };
        plane.fill(layout.cell(3, 0), 235);
        assert_eq!(read(&buf, &layout), Err(StampError::Sync { column: 3 }));
    }

    #[test]
    fn out_of_bounds_is_refused() {
        let layout = StampLayout::new(200, 0, 16).unwrap();
        assert!(matches!(
            read(&picture(0), &layout),
            Err(StampError::OutOfBounds { .. })
        ));
        assert_eq!(StampLayout::new(0, 0, 0), Err(StampError::ZeroBlock));
    }

    #[test]
    fn packed_rgb_writes_all_channels_and_reads_green() {
        let (w, h) = (300u32, 150u32);
        let mut buf = vec![0x55u8; (w * h * 4) as usize];
        let layout = StampLayout::new(4, 4, 12).unwrap();
        let stamp = Stamp {
            frame: 9,
            capture_time_ns: 1 << 40,
        };
        PlaneMut {
            data: &mut buf,
            stride: w as usize * 4,
            pixel_stride: 4,
            components: &[0, 1, 2],
            width: w,
            height: h,
        }
        .draw_stamp(&layout, &stamp, 255, 0)
        .unwrap();
        // padding byte untouched, colour bytes equal
        let first = layout.cell(0, 0);
        let i = (first.y as usize * w as usize + first.x as usize) * 4;
        assert_eq!(&buf[i..i + 4], &[255, 255, 255, 0x55]);
        let green = Plane {
            data: &buf[1..],
            stride: w as usize * 4,
            pixel_stride: 4,
            width: w,
            height: h,
        };
        assert_eq!(green.read_stamp(&layout), Ok(stamp));
    }

    #[test]
    fn subsampled_rect_covers_the_luma_rect() {
        let r = Rect {
            x: 3,
            y: 5,
            width: 10,
            height: 7,
        };
        assert_eq!(
            r.subsampled(1, 1),
            Rect {
                x: 1,
                y: 2,
                width: 6,
                height: 4
            }
        );
    }
}
