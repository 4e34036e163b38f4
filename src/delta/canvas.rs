// SPDX-License-Identifier: MPL-2.0
//! Picture memory: borrowed views of a caller's frame and the owned
//! [`ReferenceCanvas`] that mirrors what a decoder holds.

use super::geometry::{Geometry, Rect};
use thiserror::Error;

/// A plane that is too small for the geometry it claims to hold.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "plane {plane}: {len} bytes with stride {stride} cannot hold {rows} rows of {row_bytes} bytes"
)]
pub struct PlaneSizeError {
    pub plane: usize,
    pub len: usize,
    pub stride: usize,
    pub rows: usize,
    pub row_bytes: usize,
}

fn check_plane(
    g: &Geometry,
    plane: usize,
    len: usize,
    stride: usize,
) -> Result<(), PlaneSizeError> {
    let (pw, ph) = g.plane_size(plane);
    let row_bytes = pw * g.format.bytes_per_pixel(plane);
    let needed = stride
        .checked_mul(ph - 1)
        .and_then(|n| n.checked_add(row_bytes));
    if stride < row_bytes || needed.is_none_or(|n| n > len) {
        return Err(PlaneSizeError {
            plane,
            len,
            stride,
            rows: ph,
            row_bytes,
        });
    }
    Ok(())
}

/// Checks a frame's (length, stride) per plane against `g`.
fn check_planes(
    g: &Geometry,
    planes: impl ExactSizeIterator<Item = (usize, usize)>,
) -> Result<(), PlaneSizeError> {
    if planes.len() != g.format.plane_count() {
        return Err(PlaneSizeError {
            plane: planes.len(),
            len: 0,
            stride: 0,
            rows: 0,
            row_bytes: 0,
        });
    }
    for (i, (len, stride)) in planes.enumerate() {
        check_plane(g, i, len, stride)?;
    }
    Ok(())
}

/// A caller's frame, read-only: one slice and stride per plane, checked
/// against the geometry once so that tile loops never index out of bounds.
pub struct FrameView<'a> {
    planes: Vec<(&'a [u8], usize)>,
}

impl<'a> FrameView<'a> {
    /// Wraps `planes` (data, stride) after checking them against `g`.
    pub fn new(g: &Geometry, planes: Vec<(&'a [u8], usize)>) -> Result<Self, PlaneSizeError> {
        check_planes(g, planes.iter().map(|(d, s)| (d.len(), *s)))?;
        Ok(FrameView { planes })
    }

    /// Wraps one buffer per plane whose rows follow each other with no
    /// padding (stride = the plane's width in bytes), after checking them.
    pub fn tight(g: &Geometry, planes: &'a [Vec<u8>]) -> Result<Self, PlaneSizeError> {
        Self::new(
            g,
            planes
                .iter()
                .enumerate()
                .map(|(p, d)| {
                    (
                        d.as_slice(),
                        g.plane_size(p).0 * g.format.bytes_per_pixel(p),
                    )
                })
                .collect(),
        )
    }

    /// Row `y` of `plane`, bytes `x0..x0+len`.
    #[inline]
    pub fn row(&self, plane: usize, y: usize, x0: usize, len: usize) -> &[u8] {
        let (data, stride) = self.planes[plane];
        let start = y * stride + x0;
        &data[start..start + len]
    }
}

/// A caller's frame to write into.
pub struct FrameViewMut<'a> {
    planes: Vec<(&'a mut [u8], usize)>,
}

impl<'a> FrameViewMut<'a> {
    /// Wraps `planes` (data, stride) after checking them against `g`.
    pub fn new(g: &Geometry, planes: Vec<(&'a mut [u8], usize)>) -> Result<Self, PlaneSizeError> {
        check_planes(g, planes.iter().map(|(d, s)| (d.len(), *s)))?;
        Ok(FrameViewMut { planes })
    }
}

/// The picture a decoder holds: tightly packed planes in the frame's own
/// memory layout. The encoder keeps one too, updated exactly as the decoder
/// updates its own, so both always agree on every tile that arrived.
#[derive(Clone)]
pub struct ReferenceCanvas {
    geometry: Geometry,
    planes: Vec<Vec<u8>>,
    /// Bytes per row of each plane.
    strides: Vec<usize>,
}

impl ReferenceCanvas {
    /// A canvas filled with mid grey (opaque, padding 255, for the packed
    /// formats).
    pub fn new(geometry: Geometry) -> Self {
        let mut planes = Vec::new();
        let mut strides = Vec::new();
        for p in 0..geometry.format.plane_count() {
            let (pw, ph) = geometry.plane_size(p);
            let stride = pw * geometry.format.bytes_per_pixel(p);
            let mut data = vec![0x80u8; stride * ph];
            if let Some([_, _, _, fourth]) = geometry.format.packed_order() {
                for px in data.chunks_exact_mut(4) {
                    px[fourth] = 0xff;
                }
            }
            planes.push(data);
            strides.push(stride);
        }
        ReferenceCanvas {
            geometry,
            planes,
            strides,
        }
    }

    /// The geometry this canvas was made for.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The byte range of `rect` (in the samples of `plane`) within each row.
    fn row_span(&self, plane: usize, rect: &Rect) -> (usize, usize) {
        let bpp = self.geometry.format.bytes_per_pixel(plane);
        (rect.x * bpp, rect.w * bpp)
    }

    /// Row `y` of `plane`, bytes `x0..x0+len`.
    #[inline]
    pub fn row(&self, plane: usize, y: usize, x0: usize, len: usize) -> &[u8] {
        let start = y * self.strides[plane] + x0;
        &self.planes[plane][start..start + len]
    }

    /// Mutable row `y` of `plane`, bytes `x0..x0+len`.
    #[inline]
    pub fn row_mut(&mut self, plane: usize, y: usize, x0: usize, len: usize) -> &mut [u8] {
        let start = y * self.strides[plane] + x0;
        &mut self.planes[plane][start..start + len]
    }

    /// Marks in `dirty` (one flag per tile, raster order) every tile of
    /// `frame` that differs from this canvas. Whole rows are compared first,
    /// so an unchanged picture costs one long comparison per row; only rows
    /// that differ are examined tile by tile. Large frames are split between
    /// two threads by tile rows when `parallel` (the comparison is bound by
    /// memory bandwidth, which one core does not saturate).
    pub fn mark_dirty_tiles(&self, frame: &FrameView, dirty: &mut [bool], parallel: bool) {
        let g = self.geometry;
        let tiles_x = g.tiles_x as usize;
        let bytes: usize = self.planes.iter().map(Vec::len).sum();
        if !parallel || bytes < (1 << 20) || g.tiles_y < 2 {
            self.mark_dirty_rows(frame, dirty, 0);
            return;
        }
        let split = g.tiles_y as usize / 2;
        let (top, bottom) = dirty.split_at_mut(split * tiles_x);
        super::parallel::join(
            || self.mark_dirty_rows(frame, top, 0),
            || self.mark_dirty_rows(frame, bottom, split),
        );
    }

    /// [`Self::mark_dirty_tiles`] for the tile rows `first_ty..` that
    /// `dirty` covers.
    fn mark_dirty_rows(&self, frame: &FrameView, dirty: &mut [bool], first_ty: usize) {
        let g = self.geometry;
        let tiles_x = g.tiles_x as usize;
        let rows_of_tiles = dirty.len() / tiles_x;
        let ts = g.tile_size as usize;
        for p in 0..self.planes.len() {
            let bpp = g.format.bytes_per_pixel(p);
            let (pw, ph) = g.plane_size(p);
            let (sx, sy) = g.format.subsampling(p);
            let tile_w = (ts >> sx) * bpp;
            let tile_h = ts >> sy;
            let row_bytes = pw * bpp;
            let y_start = first_ty * tile_h;
            let y_end = ((first_ty + rows_of_tiles) * tile_h).min(ph);
            for y in y_start..y_end {
                if self.row(p, y, 0, row_bytes) == frame.row(p, y, 0, row_bytes) {
                    continue;
                }
                let base = (y / tile_h - first_ty) * tiles_x;
                for tx in 0..tiles_x {
                    if dirty[base + tx] {
                        continue;
                    }
                    let x0 = tx * tile_w;
                    let len = tile_w.min(row_bytes - x0);
                    if self.row(p, y, x0, len) != frame.row(p, y, x0, len) {
                        dirty[base + tx] = true;
                    }
                }
            }
        }
    }

    /// The largest mean absolute difference of any 8x8 block of samples of
    /// `tile` between `frame` and this canvas, over picture samples only
    /// (colour and alpha; padding bytes are ignored). Small for noise, large
    /// for any real local change such as a text cursor.
    pub fn tile_block_difference(&self, frame: &FrameView, tile: u32) -> u32 {
        // A padding position past the pixel's end ignores nothing.
        let padding = self.geometry.format.padding_byte().unwrap_or(usize::MAX);
        let mut worst = 0u32;
        for p in 0..self.planes.len() {
            let bpp = self.geometry.format.bytes_per_pixel(p);
            let samples_per_pixel = bpp - (padding < bpp) as usize;
            let r = self.geometry.tile_plane_rect(tile, p);
            let (x0, len) = self.row_span(p, &r);
            for by in (0..r.h).step_by(8) {
                let rows = (r.h - by).min(8);
                for bx in (0..r.w).step_by(8) {
                    let cols = (r.w - bx).min(8);
                    let mut sad = 0u32;
                    for y in r.y + by..r.y + by + rows {
                        let a = &self.row(p, y, x0, len)[bx * bpp..(bx + cols) * bpp];
                        let b = &frame.row(p, y, x0, len)[bx * bpp..(bx + cols) * bpp];
                        for (pa, pb) in a.chunks_exact(bpp).zip(b.chunks_exact(bpp)) {
                            for c in (0..bpp).filter(|&c| c != padding) {
                                sad += pa[c].abs_diff(pb[c]) as u32;
                            }
                        }
                    }
                    let samples = (rows * cols * samples_per_pixel) as u32;
                    worst = worst.max(sad / samples);
                }
            }
        }
        worst
    }

    /// Copies `tile` of `frame` into this canvas.
    pub fn copy_tile_from(&mut self, frame: &FrameView, tile: u32) {
        self.copy_tile_from_shifted(frame, tile, 0, 0);
    }

    /// `tile`'s rectangle in `plane`, the column it is read from when moved
    /// by (`dx`, `dy`) pixels, and the row offset in the plane's samples.
    /// The move must be a valid prediction ([`Geometry::prediction_is_valid`]);
    /// rows are clamped into the plane by the caller ([`Geometry::clamp_row`]).
    fn shifted_origin(&self, tile: u32, plane: usize, dx: i32, dy: i32) -> (Rect, usize, i32) {
        debug_assert!(self.geometry.prediction_is_valid(tile, dx, dy));
        let r = self.geometry.tile_plane_rect(tile, plane);
        let (sx, sy) = self.geometry.format.subsampling(plane);
        let x = (r.x as i64 + (dx >> sx) as i64) as usize;
        (r, x, dy >> sy)
    }

    /// Fills `tile` of this canvas from `frame` read at the tile moved by
    /// (`dx`, `dy`), which must be a valid prediction
    /// ([`Geometry::prediction_is_valid`]; rows clamped into the picture).
    pub fn copy_tile_from_shifted(&mut self, frame: &FrameView, tile: u32, dx: i32, dy: i32) {
        for p in 0..self.planes.len() {
            let bpp = self.geometry.format.bytes_per_pixel(p);
            let (r, sx, d) = self.shifted_origin(tile, p, dx, dy);
            let ph = self.geometry.plane_size(p).1;
            let len = r.w * bpp;
            for y in r.y..r.y + r.h {
                self.row_mut(p, y, r.x * bpp, len)
                    .copy_from_slice(frame.row(p, Geometry::clamp_row(y, d, ph), sx * bpp, len));
            }
        }
    }

    /// Calls `visit` with each row of `tile` of `frame` (all planes) and
    /// the row of this canvas it is predicted from when moved by (`dx`,
    /// `dy`) (a valid prediction, rows clamped into the picture), as
    /// (source, frame) byte slices, until `visit` returns false.
    fn visit_shifted_rows(
        &self,
        frame: &FrameView,
        tile: u32,
        dx: i32,
        dy: i32,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) {
        for p in 0..self.planes.len() {
            let bpp = self.geometry.format.bytes_per_pixel(p);
            let (r, sx, d) = self.shifted_origin(tile, p, dx, dy);
            let ph = self.geometry.plane_size(p).1;
            let len = r.w * bpp;
            for y in r.y..r.y + r.h {
                let source = self.row(p, Geometry::clamp_row(y, d, ph), sx * bpp, len);
                if !visit(source, frame.row(p, y, r.x * bpp, len)) {
                    return;
                }
            }
        }
    }

    /// Samples (bytes) of `tile`, over all planes, where `frame` differs
    /// from this canvas read at the tile moved by (`dx`, `dy`) (a valid
    /// prediction, rows clamped into the picture).
    pub fn shifted_sample_differences(
        &self,
        frame: &FrameView,
        tile: u32,
        dx: i32,
        dy: i32,
    ) -> usize {
        let mut differing = 0;
        self.visit_shifted_rows(frame, tile, dx, dy, |source, row| {
            differing += source.iter().zip(row).filter(|(a, b)| a != b).count();
            true
        });
        differing
    }

    /// Rows of `tile`, over all planes, where `frame` differs from this
    /// canvas read at the tile moved by (`dx`, `dy`) (a valid prediction,
    /// rows clamped into the picture).
    /// Counting stops past `limit`: any result over it means "more".
    pub fn shifted_row_differences(
        &self,
        frame: &FrameView,
        tile: u32,
        dx: i32,
        dy: i32,
        limit: usize,
    ) -> usize {
        let mut differing = 0;
        self.visit_shifted_rows(frame, tile, dx, dy, |source, row| {
            differing += (source != row) as usize;
            differing <= limit
        });
        differing
    }

    /// Copies the whole canvas into `out`.
    pub fn copy_to(&self, out: &mut FrameViewMut) {
        for (p, (data, stride)) in out.planes.iter_mut().enumerate() {
            let row_bytes = self.strides[p];
            for (y, src) in self.planes[p].chunks_exact(row_bytes).enumerate() {
                let start = y * *stride;
                data[start..start + row_bytes].copy_from_slice(src);
            }
        }
    }

    /// Tightly packed bytes of `plane` (rows of `plane_size * bpp` bytes).
    pub fn plane(&self, plane: usize) -> &[u8] {
        &self.planes[plane]
    }

    /// A read-only view of the canvas, as if it were a caller's frame.
    pub fn view(&self) -> FrameView<'_> {
        FrameView {
            planes: self
                .planes
                .iter()
                .zip(&self.strides)
                .map(|(d, s)| (d.as_slice(), *s))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::PixelFormat;

    /// The obvious tile-by-tile comparison, as the oracle for the row-first one.
    fn tile_equals(canvas: &ReferenceCanvas, frame: &FrameView, tile: u32) -> bool {
        (0..canvas.planes.len()).all(|p| {
            let r = canvas.geometry.tile_plane_rect(tile, p);
            let (x0, len) = canvas.row_span(p, &r);
            (r.y..r.y + r.h).all(|y| canvas.row(p, y, x0, len) == frame.row(p, y, x0, len))
        })
    }

    #[test]
    fn absurd_strides_are_refused_not_overflowed() {
        let g = Geometry::new(PixelFormat::Bgrx, 8192, 8192, 256).unwrap();
        let mut plane = [0u8; 64];
        for stride in [usize::MAX, usize::MAX / 2, usize::MAX / 8191 + 1, 0] {
            assert!(
                FrameViewMut::new(&g, vec![(&mut plane[..], stride)]).is_err(),
                "stride {stride}"
            );
        }
    }

    #[test]
    fn dirty_tiles_match_tile_by_tile_comparison() {
        for format in PixelFormat::ALL {
            for (w, h) in [(100, 70), (1000, 700)] {
                let g = Geometry::new(format, w, h, 32).unwrap();
                let canvas = ReferenceCanvas::new(g);
                for changed_at in [
                    (0usize, 0usize),
                    (w as usize - 1, h as usize - 1),
                    (33, 40),
                    (64, 31),
                    (500, 360),
                ] {
                    if changed_at.0 >= w as usize || changed_at.1 >= h as usize {
                        continue;
                    }
                    let mut other = canvas.clone();
                    // change one pixel of plane 0 (and one chroma sample: I420's
                    // V plane, NV12's V of an interleaved pair)
                    let bpp = format.bytes_per_pixel(0);
                    other.row_mut(0, changed_at.1, changed_at.0 * bpp, 1)[0] ^= 0x40;
                    match format {
                        PixelFormat::I420 => {
                            other.row_mut(2, changed_at.1 / 2, changed_at.0 / 2, 1)[0] ^= 0x40
                        }
                        PixelFormat::Nv12 => {
                            other.row_mut(1, changed_at.1 / 2, changed_at.0 / 2 * 2 + 1, 1)[0] ^=
                                0x40
                        }
                        _ => {}
                    }
                    let view = other.view();
                    let mut dirty = vec![false; g.tile_count() as usize];
                    canvas.mark_dirty_tiles(&view, &mut dirty, true);
                    let expected: Vec<bool> = (0..g.tile_count())
                        .map(|t| !tile_equals(&canvas, &view, t))
                        .collect();
                    assert_eq!(dirty, expected, "{format:?} {changed_at:?}");
                    assert_eq!(dirty.iter().filter(|d| **d).count(), 1);
                }
            }
        }
    }

    #[test]
    fn a_new_canvas_is_opaque_grey_in_each_layout() {
        for format in PixelFormat::ALL {
            let g = Geometry::new(format, 20, 10, 16).unwrap();
            let canvas = ReferenceCanvas::new(g);
            match format.packed_order() {
                Some([b, g_, r, fourth]) => {
                    for px in canvas.plane(0).chunks_exact(4) {
                        assert_eq!([px[b], px[g_], px[r], px[fourth]], [128, 128, 128, 255]);
                    }
                }
                None => {
                    for p in 0..format.plane_count() {
                        assert!(canvas.plane(p).iter().all(|&v| v == 128), "{format:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn block_difference_ignores_padding_but_not_alpha() {
        for format in PixelFormat::ALL {
            let Some([_, _, _, fourth]) = format.packed_order() else {
                continue;
            };
            let g = Geometry::new(format, 32, 32, 16).unwrap();
            let canvas = ReferenceCanvas::new(g);
            let mut other = canvas.clone();
            for y in 0..8 {
                for px in other.row_mut(0, y, 0, 8 * 4).chunks_exact_mut(4) {
                    px[fourth] = 0;
                }
            }
            let d = canvas.tile_block_difference(&other.view(), 0);
            if format.has_alpha() {
                // a quarter of the block's samples moved by 255
                assert_eq!(d, 255 / 4, "{format:?}");
            } else {
                assert_eq!(d, 0, "{format:?}");
            }
        }
    }
}
