// SPDX-License-Identifier: MPL-2.0
//! Finding content that moved: the encoder's search for move records.
//!
//! Screen content moves in whole regions (a scrolled page, a dragged
//! window), so a tile that changed is usually a tile of the previous picture
//! at another place. The search keeps a hash of every row of every tile
//! column (a *strip*) of the picture the decoder holds, and for a changed
//! tile looks up its own rows' hashes in its strip: rows found at another
//! height vote for that vertical offset. Only rows whose content occurs
//! once in the strip vote (blank rows, which are everywhere, do not). The
//! encoder adds the offsets that worked for this tile and its neighbours
//! before and checks each candidate on the pixels themselves; a hash only
//! proposes.
//!
//! Cost: hashing the rows of the changed tiles (the current frame) once, a
//! table per strip that has a changed tile, one lookup per row of a changed
//! tile. Unchanged content costs nothing.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::canvas::FrameView;
use super::geometry::Geometry;

/// A candidate offset (dx, dy) in pixels: the tile's content is found in
/// the previous picture at its position moved by this much.
pub type Offset = (i32, i32);

/// Most vertical candidates the votes propose for one tile.
pub const MAX_VOTED: usize = 2;

/// How far, in pixels each way, [`MotionSearch::search_2d`] looks.
pub const SEARCH_RANGE: i32 = 128;
/// Pixels in the row segment [`MotionSearch::search_2d`] looks for.
const FEATURE_PIXELS: usize = 16;
/// Most offsets one 2-D search returns.
const MAX_FOUND: usize = 4;

/// Row hashes are already well mixed: the table uses them as they are.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type RowTable = HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>;

/// A row found more than once in its strip: it proposes nothing.
const AMBIGUOUS: u32 = u32::MAX;

/// Hash of one row segment. Four independent lanes of eight bytes each,
/// multiplied and mixed, so the multiplications overlap instead of waiting
/// on one another (a changed tile hashes 16 KiB of rows per frame).
pub fn hash_row(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let word = |c: &[u8]| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
    let mut lanes = [
        bytes.len() as u64,
        0x6a09_e667_f3bc_c908,
        0xbb67_ae85_84ca_a73b,
        0x3c6e_f372_fe94_f82b,
    ];
    let mut blocks = bytes.chunks_exact(32);
    for b in &mut blocks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            *lane = (lane.rotate_left(23) ^ word(&b[i * 8..i * 8 + 8])).wrapping_mul(K);
        }
    }
    let mut h =
        lanes[0] ^ lanes[1].rotate_left(17) ^ lanes[2].rotate_left(31) ^ lanes[3].rotate_left(47);
    let mut words = blocks.remainder().chunks_exact(8);
    for c in &mut words {
        h = (h.rotate_left(23) ^ word(c)).wrapping_mul(K);
    }
    for &b in words.remainder() {
        h = (h.rotate_left(8) ^ b as u64).wrapping_mul(K);
    }
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

/// Row hashes of the decoder's picture and of the frame being encoded.
pub struct MotionSearch {
    geometry: Geometry,
    /// Rows of plane 0.
    height: usize,
    /// Hashes of the base picture (what the decoder holds), strip-major:
    /// `base[strip * height + y]`.
    base: Vec<u64>,
    /// Hashes of the current frame, valid for the rows of the tiles whose
    /// `current_serial` is this frame's.
    current: Vec<u64>,
    current_serial: Vec<u32>,
    serial: u32,
    /// Tiles whose base rows changed since they were hashed: rehashed when
    /// their strip's table is next needed, so a frame whose changes are all
    /// found by the cheap candidates hashes nothing.
    stale: Vec<bool>,
    /// `base` and `stale` as they were before the frame's records: where a
    /// tile that moved vertically takes its new hashes from.
    base_before: Vec<u64>,
    stale_before: Vec<bool>,
    /// Per strip, the table of its base rows, built on first use in a frame.
    tables: Vec<RowTable>,
    built: Vec<bool>,
    votes: Vec<(i32, u32)>,
}

impl MotionSearch {
    /// A search for pictures of `geometry`; every base row counts as
    /// changed until it is hashed.
    pub fn new(geometry: Geometry) -> Self {
        let strips = geometry.tiles_x as usize;
        let height = geometry.plane_size(0).1;
        let tiles = geometry.tile_count() as usize;
        MotionSearch {
            geometry,
            height,
            base: vec![0; strips * height],
            current: vec![0; strips * height],
            current_serial: vec![0; tiles],
            serial: 0,
            stale: vec![true; tiles],
            base_before: Vec::new(),
            stale_before: Vec::new(),
            tables: (0..strips).map(|_| RowTable::default()).collect(),
            built: vec![false; strips],
            votes: Vec::new(),
        }
    }

    /// Plane-0 byte range of tile column `strip`.
    fn strip_span(&self, strip: usize) -> (usize, usize) {
        let bpp = self.geometry.format.bytes_per_pixel(0);
        let ts = self.geometry.tile_size as usize;
        let x0 = strip * ts;
        let w = ts.min(self.geometry.width as usize - x0);
        (x0 * bpp, w * bpp)
    }

    fn hash_rows(
        &self,
        picture: &FrameView,
        strip: usize,
        rows: std::ops::Range<usize>,
        out: &mut [u64],
    ) {
        let (x0, len) = self.strip_span(strip);
        for y in rows {
            out[strip * self.height + y] = hash_row(picture.row(0, y, x0, len));
        }
    }

    /// Starts a frame: nothing of it is hashed yet, no table is built.
    pub fn begin_frame(&mut self) {
        self.built.fill(false);
        self.serial = match self.serial.checked_add(1) {
            Some(s) => s,
            None => {
                self.current_serial.fill(0);
                1
            }
        };
    }

    /// The base picture's `tile` changed: its rows are hashed again when
    /// next needed.
    pub fn invalidate_tile(&mut self, tile: u32) {
        self.stale[tile as usize] = true;
    }

    /// Starts bringing the base hashes up to date with a frame's records
    /// ([`Self::tile_moved_vertically`], [`Self::tile_took_frame`],
    /// [`Self::invalidate_tile`]).
    pub fn begin_update(&mut self) {
        self.base_before.clone_from(&self.base);
        self.stale_before.clone_from(&self.stale);
    }

    /// The base picture's `tile` now holds what the base held at its
    /// rectangle moved by (0, `dy`) before this frame (an exact move, inside
    /// the picture): its rows' hashes are those rows' hashes, when they were
    /// up to date. While a page scrolls, this keeps every strip hashed
    /// without reading a pixel, where rehashing them cost a tenth of the
    /// encoder's time on the browser recording.
    pub fn tile_moved_vertically(&mut self, tile: u32, dy: i32) {
        let g = self.geometry;
        if g.shifted_tiles(tile, 0, dy)
            .any(|t| self.stale_before[t as usize])
        {
            self.stale[tile as usize] = true;
            return;
        }
        let strip = (tile % g.tiles_x) as usize * self.height;
        let r = g.tile_rect(tile);
        let from = (r.y as i64 + dy as i64) as usize;
        self.base[strip + r.y..strip + r.y + r.h]
            .copy_from_slice(&self.base_before[strip + from..strip + from + r.h]);
        self.stale[tile as usize] = false;
    }

    /// The base picture's `tile` now holds the frame's `tile`: the frame's
    /// row hashes, when this frame computed them, else hashed when next
    /// needed.
    pub fn tile_took_frame(&mut self, tile: u32) {
        let t = tile as usize;
        if self.current_serial[t] != self.serial {
            self.stale[t] = true;
            return;
        }
        let strip = (tile % self.geometry.tiles_x) as usize * self.height;
        let r = self.geometry.tile_rect(tile);
        let rows = strip + r.y..strip + r.y + r.h;
        self.base[rows.clone()].copy_from_slice(&self.current[rows]);
        self.stale[t] = false;
    }

    /// The whole base picture changed (a keyframe).
    pub fn invalidate_all(&mut self) {
        self.stale.fill(true);
    }

    /// Offsets in any direction, up to [`SEARCH_RANGE`] pixels, at which a
    /// distinctive row segment of `tile` of `frame` appears in `base`
    /// (pixels compared, so each is a real match of that segment), nearest
    /// first. This is the seed for moves that are not vertical (a dragged
    /// window): the encoder runs it for a few tiles a frame, and the offsets
    /// it finds spread to neighbouring tiles as candidates. Costs one
    /// rolling hash step per position searched (about 66 000).
    pub fn search_2d(&self, tile: u32, frame: &FrameView, base: &FrameView, out: &mut Vec<Offset>) {
        let g = &self.geometry;
        let bpp = g.format.bytes_per_pixel(0);
        let r = g.tile_rect(tile);
        let (width, height) = (g.width as usize, self.height);
        if r.w < FEATURE_PIXELS {
            return;
        }
        let seg = FEATURE_PIXELS * bpp;
        let x0 = r.x + (r.w - FEATURE_PIXELS) / 2;
        // A row whose segment is not one colour: a flat one matches anywhere.
        let Some((fy, feature)) = [r.h / 2, r.h / 4, 3 * r.h / 4, 0]
            .iter()
            .map(|&dy| r.y + dy)
            .map(|y| (y, frame.row(0, y, x0 * bpp, seg)))
            .find(|(_, f)| f.chunks_exact(bpp).any(|p| p != &f[..bpp]))
        else {
            return;
        };
        // Polynomial rolling hash over pixels (bpp bytes each).
        const B: u64 = 0x0000_0100_0000_01b3;
        let pixel = |p: &[u8]| p.iter().fold(0u64, |a, &b| (a << 8) | b as u64);
        let hash = |row: &[u8]| {
            row.chunks_exact(bpp)
                .fold(0u64, |h, p| h.wrapping_mul(B).wrapping_add(pixel(p)))
        };
        let top = B.wrapping_pow(FEATURE_PIXELS as u32 - 1);
        let want = hash(feature);
        let range = SEARCH_RANGE as i64;
        let x_lo = (x0 as i64 - range).max(0) as usize;
        let x_hi = (x0 as i64 + range).min((width - FEATURE_PIXELS) as i64) as usize;
        let y_lo = (fy as i64 - range).max(0) as usize;
        let y_hi = (fy as i64 + range).min(height as i64 - 1) as usize;
        let mut found: Vec<(i64, Offset)> = Vec::new();
        for y in y_lo..=y_hi {
            let row = base.row(0, y, x_lo * bpp, (x_hi + FEATURE_PIXELS - x_lo) * bpp);
            let mut h = hash(&row[..seg]);
            for x in x_lo..=x_hi {
                if x > x_lo {
                    let i = (x - x_lo) * bpp;
                    let gone = pixel(&row[i - bpp..i]);
                    let new = pixel(&row[i + seg - bpp..i + seg]);
                    h = h
                        .wrapping_sub(gone.wrapping_mul(top))
                        .wrapping_mul(B)
                        .wrapping_add(new);
                }
                let i = (x - x_lo) * bpp;
                if h == want && &row[i..i + seg] == feature {
                    let offset = (x as i32 - x0 as i32, y as i32 - fy as i32);
                    if offset != (0, 0) {
                        let d = (offset.0 as i64).abs() + (offset.1 as i64).abs();
                        found.push((d, offset));
                    }
                }
            }
        }
        found.sort_unstable();
        out.extend(found.into_iter().take(MAX_FOUND).map(|(_, o)| o));
    }

    /// Rehashes the changed tiles of `strip` from `base` and builds its table.
    fn build_table(&mut self, strip: usize, base: &FrameView) {
        let mut hashes = std::mem::take(&mut self.base);
        for tile in
            (strip as u32..self.geometry.tile_count()).step_by(self.geometry.tiles_x as usize)
        {
            if std::mem::take(&mut self.stale[tile as usize]) {
                let r = self.geometry.tile_rect(tile);
                self.hash_rows(base, strip, r.y..r.y + r.h, &mut hashes);
            }
        }
        self.base = hashes;
        let table = &mut self.tables[strip];
        table.clear();
        let rows = &self.base[strip * self.height..(strip + 1) * self.height];
        for (y, &h) in rows.iter().enumerate() {
            table
                .entry(h)
                .and_modify(|v| *v = AMBIGUOUS)
                .or_insert(y as u32);
        }
        self.built[strip] = true;
    }

    /// Up to [`MAX_VOTED`] vertical offsets for `tile` of `frame`, most
    /// votes first, each proposed by at least two rows; `base` is the
    /// picture the decoder holds.
    pub fn vertical_candidates(
        &mut self,
        tile: u32,
        frame: &FrameView,
        base: &FrameView,
        out: &mut Vec<Offset>,
    ) {
        let strip = (tile % self.geometry.tiles_x) as usize;
        if !self.built[strip] {
            self.build_table(strip, base);
        }
        let r = self.geometry.tile_rect(tile);
        if self.current_serial[tile as usize] != self.serial {
            let mut hashes = std::mem::take(&mut self.current);
            self.hash_rows(frame, strip, r.y..r.y + r.h, &mut hashes);
            self.current = hashes;
            self.current_serial[tile as usize] = self.serial;
        }
        let base = strip * self.height;
        self.votes.clear();
        for y in r.y..r.y + r.h {
            let h = self.current[base + y];
            if h == self.base[base + y] {
                continue;
            }
            let Some(&found) = self.tables[strip].get(&h) else {
                continue;
            };
            if found == AMBIGUOUS {
                continue;
            }
            let dy = found as i32 - y as i32;
            match self.votes.iter_mut().find(|(d, _)| *d == dy) {
                Some((_, n)) => *n += 1,
                None => self.votes.push((dy, 1)),
            }
        }
        self.votes
            .sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.abs().cmp(&b.0.abs())));
        out.extend(
            self.votes
                .iter()
                .take_while(|(_, n)| *n >= 2)
                .take(MAX_VOTED)
                .map(|&(dy, _)| (0, dy)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::{PixelFormat, ReferenceCanvas};

    /// A picture of distinct rows: row y, column x holds a value of both.
    fn picture(g: Geometry, shift: usize) -> ReferenceCanvas {
        let mut c = ReferenceCanvas::new(g);
        let w = g.width as usize * 4;
        for y in 0..g.height as usize {
            let src_y = y + shift;
            let row = c.row_mut(0, y, 0, w);
            for (x, b) in row.iter_mut().enumerate() {
                *b = ((src_y * 31 + x * 7) ^ ((src_y >> 3) * 13)) as u8;
            }
        }
        c
    }

    #[test]
    fn finds_a_vertical_scroll() {
        let g = Geometry::new(PixelFormat::Bgrx, 256, 256, 64).unwrap();
        let before = picture(g, 0);
        let after = picture(g, 20); // content moved up by 20 rows
        let mut m = MotionSearch::new(g);
        m.begin_frame();
        let mut out = Vec::new();
        // tile 5 (second row): its rows are the base's rows 20 lower
        m.vertical_candidates(5, &after.view(), &before.view(), &mut out);
        assert_eq!(out.first(), Some(&(0, 20)));
        // the proposal checks out on the pixels
        assert_eq!(
            before.shifted_row_differences(&after.view(), 5, 0, 20, 0),
            0
        );
        // once the base holds the new picture (and says so), nothing moved
        m.invalidate_all();
        m.begin_frame();
        out.clear();
        m.vertical_candidates(5, &after.view(), &after.view(), &mut out);
        assert!(out.is_empty(), "{out:?}");
        // the base's hashes are only as new as the invalidations say
        m.begin_frame();
        out.clear();
        m.vertical_candidates(5, &after.view(), &before.view(), &mut out);
        assert!(out.is_empty(), "stale hashes used: {out:?}");
        m.invalidate_all();
        m.begin_frame();
        m.vertical_candidates(5, &after.view(), &before.view(), &mut out);
        assert_eq!(out.first(), Some(&(0, 20)));
    }

    #[test]
    fn moved_tiles_take_their_sources_hashes() {
        let g = Geometry::new(PixelFormat::Bgrx, 256, 256, 64).unwrap();
        let before = picture(g, 0);
        let after = picture(g, 20); // content moved up by 20 rows
        let mut m = MotionSearch::new(g);
        m.begin_frame();
        for strip in 0..4 {
            m.build_table(strip, &before.view());
        }
        // tile 1 changed and was not hashed again: a move that reads it
        // (only tile 1 itself, reading rows 20..84) is stale too
        m.invalidate_tile(1);
        m.begin_update();
        for tile in 0..12 {
            m.tile_moved_vertically(tile, 20);
        }
        // the bottom row cannot move by 20: it took the frame, unhashed
        for tile in 12..16 {
            m.tile_took_frame(tile);
        }
        for tile in 0..16u32 {
            let stale = m.stale[tile as usize];
            assert_eq!(stale, tile == 1 || tile >= 12, "tile {tile}");
            if stale {
                continue;
            }
            let strip = (tile % 4) as usize;
            let r = g.tile_rect(tile);
            for y in r.y..r.y + r.h {
                let row = after.row(0, y, strip * 256, 256);
                assert_eq!(
                    m.base[strip * 256 + y],
                    hash_row(row),
                    "tile {tile} row {y}"
                );
            }
        }
        // hashes of the frame computed this frame are taken as they are
        m.begin_frame();
        let mut out = Vec::new();
        m.vertical_candidates(13, &after.view(), &after.view(), &mut out);
        m.begin_update();
        m.tile_took_frame(13);
        assert!(!m.stale[13]);
        assert_eq!(m.base[256 + 200], hash_row(after.row(0, 200, 256, 256)));
    }

    #[test]
    fn finds_a_diagonal_move() {
        let g = Geometry::new(PixelFormat::Bgrx, 320, 256, 64).unwrap();
        let before = picture(g, 0);
        // the picture moved 24 right and 10 down
        let mut after = ReferenceCanvas::new(g);
        for y in 10..256 {
            let src = before.row(0, y - 10, 0, (320 - 24) * 4).to_vec();
            after
                .row_mut(0, y, 24 * 4, (320 - 24) * 4)
                .copy_from_slice(&src);
        }
        let m = MotionSearch::new(g);
        let mut out = Vec::new();
        // tile 7: second row, third column
        m.search_2d(7, &after.view(), &before.view(), &mut out);
        // the test picture repeats, so the segment may be found elsewhere
        // too: each offset is a real match of it, and the true one is there
        assert!(out.contains(&(-24, -10)), "{out:?}");
        assert_eq!(
            before.shifted_row_differences(&after.view(), 7, -24, -10, 0),
            0
        );
    }

    #[test]
    fn uniform_rows_propose_nothing() {
        let g = Geometry::new(PixelFormat::Bgrx, 128, 128, 64).unwrap();
        let base = ReferenceCanvas::new(g);
        let mut frame = ReferenceCanvas::new(g);
        for y in 0..128 {
            frame.row_mut(0, y, 0, 512).fill(7);
        }
        let mut m = MotionSearch::new(g);
        m.begin_frame();
        let mut out = Vec::new();
        m.vertical_candidates(0, &frame.view(), &base.view(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn hash_depends_on_every_byte() {
        for len in [1, 7, 8, 37, 64, 256] {
            let a = vec![1u8; len];
            for i in 0..a.len() {
                let mut b = a.clone();
                b[i] ^= 1;
                assert_ne!(hash_row(&a), hash_row(&b), "length {len}, byte {i}");
            }
        }
        // lanes are not interchangeable
        let mut x = [0u8; 64];
        let mut y = [0u8; 64];
        x[0] = 1;
        y[8] = 1;
        assert_ne!(hash_row(&x), hash_row(&y));
    }
}
