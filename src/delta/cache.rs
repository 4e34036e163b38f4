// SPDX-License-Identifier: MPL-2.0
//! The tile cache behind recall records (docs/bitstream.md, "Repeats").
//!
//! Encoder and decoder each keep a bounded list of tile contents the
//! decoder held before they were overwritten, keyed by a 64-bit hash of the
//! samples. A recall record names an entry by its hash; a hit is the exact
//! content by construction, a miss leaves the tile as it was. The two lists
//! need not agree: a decoder that lost records only misses more.

use std::collections::VecDeque;

use super::bitstream::MAX_CACHE_TILES;
use super::geometry::Geometry;
use super::samples::TileSamples;

/// Entries `deltaenc` keeps unless told otherwise: none for now. On the
/// four screen recordings a cache of 256 saved nothing (terminal, editor),
/// cost bytes (browser 7.8 -> 8.9 KB/frame, drag 5.84 -> 5.92: recalled
/// content is older than a fresh record, so intra refresh re-sends it
/// sooner) and encoder CPU (the content of every overwritten tile is
/// gathered and hashed); it pays on still content that repeats.
pub const DEFAULT_CACHE_TILES: u32 = 0;
/// Most sample bytes a cache holds, whatever the entry count says: with
/// 256-pixel packed tiles (256 KiB each) this allows 256 entries.
pub const MAX_CACHE_BYTES: usize = 64 << 20;
/// Bytes of a recall record's payload: the hash.
pub const HASH_LEN: usize = 8;

/// Entries a cache of `requested` tiles holds for `geometry`: the request
/// bounded by [`MAX_CACHE_TILES`] and by [`MAX_CACHE_BYTES`] of samples.
/// Both sides compute it alike from the stream's parameters.
pub fn capacity(requested: u32, geometry: &Geometry) -> usize {
    let by_bytes = MAX_CACHE_BYTES / geometry.max_tile_bytes().max(1);
    (requested.min(MAX_CACHE_TILES) as usize).min(by_bytes)
}

/// The hash that names a tile's content: XXH3-64 with seed 0 over the
/// tile's channels, one after the other (docs/bitstream.md, "Tile hash").
pub fn tile_hash(samples: &TileSamples) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for channel in &samples.channels[..samples.count] {
        hasher.update(channel);
    }
    hasher.digest()
}

/// Whether tiles `a` and `b` of `geometry` have the same shape (edge tiles
/// are smaller), so that content of one can stand in the other.
pub fn same_shape(geometry: &Geometry, a: u32, b: u32) -> bool {
    let (ra, rb) = (geometry.tile_rect(a), geometry.tile_rect(b));
    (ra.w, ra.h) == (rb.w, rb.h)
}

/// One remembered tile content.
#[derive(Clone)]
pub struct CacheEntry {
    pub hash: u64,
    pub samples: TileSamples,
    /// A tile whose shape the content has (where it was last seen).
    pub tile: u32,
    /// Encoder only: the oldest frame whose self-contained record the
    /// content depends on (see the encoder's `clean_since`).
    pub age: u64,
}

/// A bounded list of tile contents, oldest first, evicted first in first
/// out; inserting content already present makes it the newest.
#[derive(Default)]
pub struct TileCache {
    capacity: usize,
    entries: VecDeque<CacheEntry>,
}

impl TileCache {
    /// An empty cache of at most `capacity` entries. Nothing is allocated
    /// until entries are inserted.
    pub fn new(capacity: usize) -> Self {
        TileCache {
            capacity,
            entries: VecDeque::new(),
        }
    }

    /// Most entries held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every entry (a keyframe).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &CacheEntry> {
        self.entries.iter()
    }

    /// The entry named `hash` if it can stand in `tile` (same shape).
    pub fn get(&self, geometry: &Geometry, hash: u64, tile: u32) -> Option<&CacheEntry> {
        self.entries
            .iter()
            .find(|e| e.hash == hash)
            .filter(|e| same_shape(geometry, e.tile, tile))
    }

    /// Inserts `samples` (of a tile shaped like `tile`) under `hash` as the
    /// newest entry. Content already present moves to newest and keeps the
    /// younger of the two ages; a full cache drops its oldest entry, whose
    /// buffers are reused.
    pub fn insert(&mut self, hash: u64, samples: &TileSamples, tile: u32, age: u64) {
        if self.capacity == 0 {
            return;
        }
        let mut entry = match self.entries.iter().position(|e| e.hash == hash) {
            Some(i) => {
                let mut e = self.entries.remove(i).expect("position is in range");
                e.age = e.age.max(age);
                e
            }
            None if self.entries.len() >= self.capacity => {
                let mut e = self.entries.pop_front().expect("a full cache has entries");
                e.age = age;
                e
            }
            None => CacheEntry {
                hash,
                samples: TileSamples::default(),
                tile,
                age,
            },
        };
        entry.hash = hash;
        entry.tile = tile;
        entry.samples.clone_from(samples);
        self.entries.push_back(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::geometry::PixelFormat;

    fn samples(g: &Geometry, tile: u32, value: u8) -> TileSamples {
        let mut s = TileSamples::default();
        s.layout(g, tile);
        for c in 0..s.count {
            for (i, x) in s.channels[c].iter_mut().enumerate() {
                *x = value.wrapping_add((i % 7) as u8);
            }
        }
        s
    }

    #[test]
    fn evicts_oldest_first_and_reinsertion_makes_newest() {
        let g = Geometry::new(PixelFormat::Bgrx, 128, 64, 32).unwrap();
        let mut cache = TileCache::new(3);
        for v in 0..3u8 {
            let s = samples(&g, 0, v);
            cache.insert(tile_hash(&s), &s, 0, v as u64);
        }
        // 0 again: now newest, so 1 is the oldest
        let s0 = samples(&g, 0, 0);
        cache.insert(tile_hash(&s0), &s0, 0, 5);
        let s3 = samples(&g, 0, 3);
        cache.insert(tile_hash(&s3), &s3, 0, 6);
        assert_eq!(cache.len(), 3);
        let held: Vec<u64> = cache.entries().map(|e| e.hash).collect();
        let want: Vec<u64> = [2u8, 0, 3]
            .iter()
            .map(|&v| tile_hash(&samples(&g, 0, v)))
            .collect();
        assert_eq!(held, want);
        assert_eq!(cache.get(&g, tile_hash(&s0), 0).unwrap().age, 5);
        assert!(cache.get(&g, tile_hash(&samples(&g, 0, 1)), 0).is_none());
    }

    #[test]
    fn an_entry_stands_only_in_a_tile_of_its_shape() {
        // 100 wide in 32-pixel tiles: the last column is 4 pixels wide
        let g = Geometry::new(PixelFormat::I420, 100, 64, 32).unwrap();
        let mut cache = TileCache::new(4);
        let s = samples(&g, 0, 9);
        let h = tile_hash(&s);
        cache.insert(h, &s, 0, 0);
        assert!(cache.get(&g, h, 1).is_some());
        assert!(cache.get(&g, h, 3).is_none());
    }

    #[test]
    fn capacity_is_bounded_by_entries_and_bytes() {
        let small = Geometry::new(PixelFormat::Bgrx, 640, 480, 32).unwrap();
        assert_eq!(capacity(100_000, &small), MAX_CACHE_TILES as usize);
        assert_eq!(capacity(0, &small), 0);
        let big = Geometry::new(PixelFormat::Bgrx, 1024, 1024, 256).unwrap();
        assert_eq!(capacity(1024, &big), 256);
        let mut cache = TileCache::new(0);
        let s = samples(&small, 0, 1);
        cache.insert(tile_hash(&s), &s, 0, 0);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_hash_is_xxh3_of_the_channels_in_order() {
        let g = Geometry::new(PixelFormat::I420, 32, 32, 32).unwrap();
        let s = samples(&g, 0, 40);
        let mut joined = Vec::new();
        for c in 0..s.count {
            joined.extend_from_slice(&s.channels[c]);
        }
        assert_eq!(tile_hash(&s), xxhash_rust::xxh3::xxh3_64(&joined));
        // a fixed value, so a change of hash function cannot pass unnoticed
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b""), 0x2d06_8005_38d3_94c2);
    }
}
