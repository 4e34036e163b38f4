// SPDX-License-Identifier: MPL-2.0
//! One tile's samples split into channels, and the moves between a frame or
//! canvas and those channels (gather, scatter): what every tile coding
//! reads and writes.
//!
//! Channels: I420 and NV12 give Y, U, V (chroma at half size; NV12's
//! interleaved pairs are split); the packed 4-byte formats give B, G, R and
//! the fourth byte (alpha or padding), each at full size, in that order
//! whatever the format's byte order ([`PixelFormat::packed_order`]), so every
//! coding treats them alike. Coding channel by channel keeps like samples
//! together, which is what makes the byte compressor effective.

use super::canvas::{FrameView, ReferenceCanvas};
use super::geometry::{Geometry, PixelFormat, Rect};

/// A tile's samples, channel by channel, each tightly packed row by row.
#[derive(Default, Clone)]
pub struct TileSamples {
    pub channels: [Vec<u8>; 4],
    /// Width and height of each channel.
    pub dims: [(usize, usize); 4],
    pub count: usize,
}

impl TileSamples {
    /// Sets the channel layout of `tile` and sizes the buffers for it.
    pub fn layout(&mut self, g: &Geometry, tile: u32) {
        if g.format.packed_order().is_some() {
            self.count = 4;
            let r = g.tile_rect(tile);
            self.dims = [(r.w, r.h); 4];
        } else {
            // Y, then U and V, which share plane 1's rectangle (I420's plane
            // 2 has the same one; NV12 holds both in plane 1).
            self.count = 3;
            let luma = g.tile_plane_rect(tile, 0);
            let chroma = g.tile_plane_rect(tile, 1);
            self.dims = [
                (luma.w, luma.h),
                (chroma.w, chroma.h),
                (chroma.w, chroma.h),
                (0, 0),
            ];
        }
        for c in 0..self.count {
            let (w, h) = self.dims[c];
            self.channels[c].resize(w * h, 0);
        }
    }

    /// Total samples over all channels.
    pub fn total(&self) -> usize {
        self.dims[..self.count].iter().map(|(w, h)| w * h).sum()
    }

    /// Reads `tile` of `frame` into channels.
    pub fn gather(&mut self, g: &Geometry, frame: &FrameView, tile: u32) {
        self.gather_shifted(g, frame, tile, 0, 0);
    }

    /// Reads into `tile`'s channels the samples of `frame` at the tile moved
    /// by (`dx`, `dy`), which must be a valid prediction
    /// ([`Geometry::prediction_is_valid`]; rows clamped into the picture).
    pub fn gather_shifted(&mut self, g: &Geometry, frame: &FrameView, tile: u32, dx: i32, dy: i32) {
        debug_assert!(g.prediction_is_valid(tile, dx, dy));
        self.layout(g, tile);
        if g.format.packed_order().is_none() {
            for p in 0..g.format.plane_count() {
                let r = g.tile_plane_rect(tile, p);
                let (sx, sy) = g.format.subsampling(p);
                let ph = g.plane_size(p).1;
                let bpp = g.format.bytes_per_pixel(p);
                let x = (r.x as i64 + (dx >> sx) as i64) as usize;
                for i in 0..r.h {
                    let y = Geometry::clamp_row(r.y + i, dy >> sy, ph);
                    let src = frame.row(p, y, x * bpp, r.w * bpp);
                    let span = i * r.w..(i + 1) * r.w;
                    if bpp == 1 {
                        self.channels[p][span].copy_from_slice(src);
                    } else {
                        // NV12's interleaved chroma: U, V pairs.
                        let [_, u, v, _] = &mut self.channels;
                        let pairs = src.as_chunks::<2>().0;
                        for ((pair, u), v) in
                            pairs.iter().zip(&mut u[span.clone()]).zip(&mut v[span])
                        {
                            *u = pair[0];
                            *v = pair[1];
                        }
                    }
                }
            }
            return;
        }
        let r = g.tile_rect(tile);
        let x = (r.x as i64 + dx as i64) as usize;
        let h = g.height as usize;
        let rows =
            (r.y..r.y + r.h).map(|y| frame.row(0, Geometry::clamp_row(y, dy, h), x * 4, r.w * 4));
        let c = &mut self.channels;
        // One copy of the loop per byte order, so that each reads its bytes
        // at fixed positions (packed_order, checked by the tests).
        match g.format {
            PixelFormat::Bgrx | PixelFormat::Bgra => gather_packed::<0, 1, 2, 3>(c, r.w, rows),
            PixelFormat::Rgbx | PixelFormat::Rgba => gather_packed::<2, 1, 0, 3>(c, r.w, rows),
            PixelFormat::Xrgb => gather_packed::<3, 2, 1, 0>(c, r.w, rows),
            PixelFormat::Xbgr => gather_packed::<1, 2, 3, 0>(c, r.w, rows),
            PixelFormat::I420 | PixelFormat::Nv12 => {}
        }
    }

    /// Writes the channels into `tile` of `canvas`.
    pub fn scatter(&self, canvas: &mut ReferenceCanvas, tile: u32) {
        let g = *canvas.geometry();
        if g.format.packed_order().is_none() {
            for p in 0..g.format.plane_count() {
                let r = g.tile_plane_rect(tile, p);
                let bpp = g.format.bytes_per_pixel(p);
                for (i, y) in (r.y..r.y + r.h).enumerate() {
                    let dst = canvas.row_mut(p, y, r.x * bpp, r.w * bpp);
                    let span = i * r.w..(i + 1) * r.w;
                    if bpp == 1 {
                        dst.copy_from_slice(&self.channels[p][span]);
                    } else {
                        let pairs = dst.as_chunks_mut::<2>().0;
                        let (u, v) = (&self.channels[1][span.clone()], &self.channels[2][span]);
                        for ((pair, &u), &v) in pairs.iter_mut().zip(u).zip(v) {
                            *pair = [u, v];
                        }
                    }
                }
            }
            return;
        }
        let r = g.tile_rect(tile);
        let c = &self.channels;
        match g.format {
            PixelFormat::Bgrx | PixelFormat::Bgra => scatter_packed::<0, 1, 2, 3>(c, canvas, r),
            PixelFormat::Rgbx | PixelFormat::Rgba => scatter_packed::<2, 1, 0, 3>(c, canvas, r),
            PixelFormat::Xrgb => scatter_packed::<3, 2, 1, 0>(c, canvas, r),
            PixelFormat::Xbgr => scatter_packed::<1, 2, 3, 0>(c, canvas, r),
            PixelFormat::I420 | PixelFormat::Nv12 => {}
        }
    }

    /// One value per channel when every channel is constant.
    pub fn fill_values(&self) -> Option<[u8; 4]> {
        let mut values = [0u8; 4];
        for (c, value) in values.iter_mut().enumerate().take(self.count) {
            let ch = &self.channels[c];
            let first = *ch.first()?;
            if ch.iter().any(|&s| s != first) {
                return None;
            }
            *value = first;
        }
        Some(values)
    }
}

/// Splits rows of packed pixels (`w` pixels each) into the four channels,
/// reading blue, green, red and the fourth byte at positions `B`, `G`, `R`,
/// `A` of each pixel.
fn gather_packed<'a, const B: usize, const G: usize, const R: usize, const A: usize>(
    channels: &mut [Vec<u8>; 4],
    w: usize,
    rows: impl Iterator<Item = &'a [u8]>,
) {
    let [c0, c1, c2, c3] = channels;
    for (i, row) in rows.enumerate() {
        let span = i * w..(i + 1) * w;
        let pixels = row.as_chunks::<4>().0;
        for ((((px, b), g), r), a) in pixels
            .iter()
            .zip(&mut c0[span.clone()])
            .zip(&mut c1[span.clone()])
            .zip(&mut c2[span.clone()])
            .zip(&mut c3[span])
        {
            *b = px[B];
            *g = px[G];
            *r = px[R];
            *a = px[A];
        }
    }
}

/// Writes the four channels into `rect` of a packed canvas, each pixel's
/// blue, green, red and fourth byte at positions `B`, `G`, `R`, `A`.
fn scatter_packed<const B: usize, const G: usize, const R: usize, const A: usize>(
    channels: &[Vec<u8>; 4],
    canvas: &mut ReferenceCanvas,
    rect: Rect,
) {
    let [c0, c1, c2, c3] = channels;
    let w = rect.w;
    for (i, y) in (rect.y..rect.y + rect.h).enumerate() {
        let span = i * w..(i + 1) * w;
        let pixels = canvas
            .row_mut(0, y, rect.x * 4, w * 4)
            .as_chunks_mut::<4>()
            .0;
        for ((((px, &b), &g), &r), &a) in pixels
            .iter_mut()
            .zip(&c0[span.clone()])
            .zip(&c1[span.clone()])
            .zip(&c2[span.clone()])
            .zip(&c3[span])
        {
            px[B] = b;
            px[G] = g;
            px[R] = r;
            px[A] = a;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_detects_constant_tiles() {
        let g = Geometry::new(PixelFormat::I420, 32, 32, 16).unwrap();
        let mut s = TileSamples::default();
        s.layout(&g, 0);
        s.channels[0].fill(10);
        s.channels[1].fill(20);
        s.channels[2].fill(30);
        assert_eq!(s.fill_values(), Some([10, 20, 30, 0]));
        s.channels[2][5] = 31;
        assert_eq!(s.fill_values(), None);
    }

    /// A canvas of `g` whose every byte is a function of its plane and
    /// position, so that any misplaced sample shows.
    fn numbered_canvas(g: Geometry) -> ReferenceCanvas {
        let mut c = ReferenceCanvas::new(g);
        for p in 0..g.format.plane_count() {
            let (pw, ph) = g.plane_size(p);
            let row_bytes = pw * g.format.bytes_per_pixel(p);
            for y in 0..ph {
                for (x, v) in c.row_mut(p, y, 0, row_bytes).iter_mut().enumerate() {
                    *v = (x * 7 + y * 13 + p * 101) as u8;
                }
            }
        }
        c
    }

    #[test]
    fn packed_channels_come_out_blue_green_red_fourth() {
        for format in PixelFormat::ALL {
            let Some(order) = format.packed_order() else {
                continue;
            };
            let g = Geometry::new(format, 3, 2, 16).unwrap();
            let mut canvas = ReferenceCanvas::new(g);
            // pixel i: blue 10 + i, green 20 + i, red 30 + i, fourth 40 + i
            for y in 0..2 {
                for (x, px) in canvas.row_mut(0, y, 0, 12).chunks_exact_mut(4).enumerate() {
                    let i = (y * 3 + x) as u8;
                    for (c, &pos) in order.iter().enumerate() {
                        px[pos] = 10 * (c as u8 + 1) + i;
                    }
                }
            }
            let mut s = TileSamples::default();
            s.gather(&g, &canvas.view(), 0);
            for c in 0..4 {
                let want: Vec<u8> = (0..6).map(|i| 10 * (c as u8 + 1) + i).collect();
                assert_eq!(s.channels[c], want, "{format:?} channel {c}");
            }
            // and back, in the format's own byte order
            let mut out = ReferenceCanvas::new(g);
            s.scatter(&mut out, 0);
            assert!(out.plane(0) == canvas.plane(0), "{format:?}");
        }
    }

    #[test]
    fn gather_and_scatter_copy_every_tile_exactly() {
        for format in PixelFormat::ALL {
            // partial edge tiles and, for the YUV formats, odd chroma sizes
            let g = Geometry::new(format, 53, 37, 16).unwrap();
            let source = numbered_canvas(g);
            let mut copy = ReferenceCanvas::new(g);
            let mut s = TileSamples::default();
            for tile in 0..g.tile_count() {
                s.gather(&g, &source.view(), tile);
                assert_eq!(
                    s.total(),
                    s.channels[..s.count].iter().map(Vec::len).sum::<usize>()
                );
                s.scatter(&mut copy, tile);
            }
            for p in 0..format.plane_count() {
                assert!(copy.plane(p) == source.plane(p), "{format:?} plane {p}");
            }
        }
    }

    #[test]
    fn nv12_tiles_split_chroma_pairs_into_u_and_v() {
        let g = Geometry::new(PixelFormat::Nv12, 35, 20, 32).unwrap();
        let canvas = numbered_canvas(g);
        let mut s = TileSamples::default();
        // tile 1: pixels 32..35 (chroma pairs 16..18), rows 0..20 (chroma 0..10)
        s.gather(&g, &canvas.view(), 1);
        assert_eq!(s.dims[..3], [(3, 20), (2, 10), (2, 10)]);
        let pair = |x: usize, y: usize| canvas.row(1, y, x * 2, 2).to_vec();
        assert_eq!(s.channels[1][..2], [pair(16, 0)[0], pair(17, 0)[0]]);
        assert_eq!(s.channels[2][2..4], [pair(16, 1)[1], pair(17, 1)[1]]);
        // moved by (-2, 2): chroma read one pair left and one row down
        s.gather_shifted(&g, &canvas.view(), 1, -2, 2);
        assert_eq!(s.channels[1][0], pair(15, 1)[0]);
        assert_eq!(s.channels[2][0], pair(15, 1)[1]);
        assert_eq!(s.channels[0][0], canvas.row(0, 2, 30, 1)[0]);
    }
}
