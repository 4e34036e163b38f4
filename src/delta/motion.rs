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

/// Hash of one row segment: eight bytes at a time, multiplied and mixed.
pub fn hash_row(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(23) ^ w).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
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
    /// Hashes of the current frame, valid for the rows of the tiles passed
    /// to [`MotionSearch::hash_frame_tiles`] this frame.
    current: Vec<u64>,
    /// Per strip, the table of its base rows, built on first use in a frame.
    tables: Vec<RowTable>,
    built: Vec<bool>,
    votes: Vec<(i32, u32)>,
}

impl MotionSearch {
    /// A search for pictures of `geometry`; its base starts empty and must
    /// be set with [`MotionSearch::rehash_base`].
    pub fn new(geometry: Geometry) -> Self {
        let strips = geometry.tiles_x as usize;
        let height = geometry.plane_size(0).1;
        MotionSearch {
            geometry,
            height,
            base: vec![0; strips * height],
            current: vec![0; strips * height],
            tables: (0..strips).map(|_| RowTable::default()).collect(),
            built: vec![false; strips],
            votes: Vec::new(),
        }
    }

    /// Plane-0 byte range of tile column `strip`.
    fn strip_span(&self, strip: usize) -> (usize, usize) {
        let bpp = self.geometry.format.bytes_per_pixel();
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

    /// Hashes every row of `base`, the picture the decoder now holds.
    pub fn rehash_base(&mut self, base: &FrameView) {
        let mut hashes = std::mem::take(&mut self.base);
        for strip in 0..self.geometry.tiles_x as usize {
            self.hash_rows(base, strip, 0..self.height, &mut hashes);
        }
        self.base = hashes;
    }

    /// Starts a frame: hashes the rows of `tiles` (the changed ones) of `frame`.
    pub fn hash_frame_tiles(&mut self, frame: &FrameView, tiles: impl Iterator<Item = u32>) {
        self.built.fill(false);
        let mut hashes = std::mem::take(&mut self.current);
        for tile in tiles {
            let r = self.geometry.tile_rect(tile);
            let strip = (tile % self.geometry.tiles_x) as usize;
            self.hash_rows(frame, strip, r.y..r.y + r.h, &mut hashes);
        }
        self.current = hashes;
    }

    fn build_table(&mut self, strip: usize) {
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

    /// Up to [`MAX_VOTED`] vertical offsets for `tile` (hashed this frame),
    /// most votes first, each proposed by at least two rows.
    pub fn vertical_candidates(&mut self, tile: u32, out: &mut Vec<Offset>) {
        let strip = (tile % self.geometry.tiles_x) as usize;
        if !self.built[strip] {
            self.build_table(strip);
        }
        let r = self.geometry.tile_rect(tile);
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

    /// The base picture's `tile` now holds the current frame's `tile`
    /// (hashed this frame): its rows' hashes move over.
    pub fn commit_tile(&mut self, tile: u32) {
        let r = self.geometry.tile_rect(tile);
        let strip = (tile % self.geometry.tiles_x) as usize;
        let range = strip * self.height + r.y..strip * self.height + r.y + r.h;
        self.base[range.clone()].copy_from_slice(&self.current[range]);
    }

    /// The base picture's `tile` changed to content that was not hashed
    /// (a lossy reconstruction): rehash its rows from `base`.
    pub fn rehash_tile(&mut self, base: &FrameView, tile: u32) {
        let r = self.geometry.tile_rect(tile);
        let strip = (tile % self.geometry.tiles_x) as usize;
        let mut hashes = std::mem::take(&mut self.base);
        self.hash_rows(base, strip, r.y..r.y + r.h, &mut hashes);
        self.base = hashes;
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
        m.rehash_base(&before.view());
        m.hash_frame_tiles(&after.view(), 0..g.tile_count());
        let mut out = Vec::new();
        // tile 5 (second row): its rows are the base's rows 20 lower
        m.vertical_candidates(5, &mut out);
        assert_eq!(out.first(), Some(&(0, 20)));
        // the proposal checks out on the pixels
        assert_eq!(
            before.shifted_row_differences(&after.view(), 5, 0, 20, 0),
            0
        );
        // committing the tile makes its rows the base's
        m.commit_tile(5);
        out.clear();
        m.hash_frame_tiles(&after.view(), std::iter::once(5));
        m.vertical_candidates(5, &mut out);
        assert!(out.is_empty(), "{out:?}");
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
        m.rehash_base(&base.view());
        m.hash_frame_tiles(&frame.view(), 0..g.tile_count());
        let mut out = Vec::new();
        m.vertical_candidates(0, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn hash_depends_on_every_byte() {
        let a = [1u8; 37];
        for i in 0..a.len() {
            let mut b = a;
            b[i] ^= 1;
            assert_ne!(hash_row(&a), hash_row(&b), "byte {i}");
        }
    }
}
