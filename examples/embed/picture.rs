// SPDX-License-Identifier: MPL-2.0
//! The application's own pictures: a desktop with a window, a progress bar
//! that grows and an icon that moves, so that each frame changes only in a
//! few places (what the changes-only codec is for). `examples/embed.py`
//! draws the same scene.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::{Arc, Mutex};

/// Where `framestamp` draws its code and `framemeter` reads it, in pixels.
/// The code is 16 x 8 blocks; checksums skip that rectangle, because the
/// app's own picture is what it compares, not the stamp drawn over it.
#[derive(Debug, Clone, Copy)]
pub struct StampArea {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Side of one block of the code.
    pub block: u32,
}

impl StampArea {
    const COLUMNS: u32 = 16;
    const ROWS: u32 = 8;

    /// The columns `[left, right)` of row `y` that the code covers, if any.
    fn columns_in_row(&self, y: u32) -> Option<(u32, u32)> {
        let rows = self.y..self.y + Self::ROWS * self.block;
        rows.contains(&y)
            .then_some((self.x, self.x + Self::COLUMNS * self.block))
    }
}

/// A BGRx colour as its four bytes in memory.
type Bgrx = [u8; 4];

const DESKTOP: Bgrx = [0x70, 0x50, 0x20, 0xff];
const PANEL: Bgrx = [0x30, 0x30, 0x30, 0xff];
const WINDOW: Bgrx = [0xee, 0xee, 0xee, 0xff];
const TITLE_BAR: Bgrx = [0x80, 0x30, 0x10, 0xff];
const PROGRESS: Bgrx = [0x40, 0xb0, 0x40, 0xff];
const ICON: Bgrx = [0x20, 0x80, 0xf0, 0xff];

/// One frame of the scene in tightly packed BGRx (stride `width * 4`).
pub struct Picture {
    width: u32,
    height: u32,
    bytes: Vec<u8>,
}

impl Picture {
    /// Frame `n` of the scene at `width` x `height` (at least 320 x 256).
    pub fn draw(n: u32, width: u32, height: u32) -> Self {
        let mut p = Picture {
            width,
            height,
            bytes: vec![0; (width * height * 4) as usize],
        };
        p.fill(0, 0, width, height, DESKTOP);
        p.fill(0, 0, width, 24, PANEL);
        // A window with a title bar, a progress bar that grows by 7 pixels a
        // frame, and an icon sliding over it.
        let (wx, wy, ww, wh) = (64, 96, width - 128, height - 128);
        p.fill(wx, wy, ww, wh, WINDOW);
        p.fill(wx, wy, ww, 24, TITLE_BAR);
        let track = ww - 32;
        p.fill(wx + 16, wy + wh - 32, (n * 7) % track + 1, 16, PROGRESS);
        let icon_x = wx + 16 + (n * 5) % (ww - 72);
        let icon_y = wy + 40 + (n * 3) % (wh - 112);
        p.fill(icon_x, icon_y, 40, 40, ICON);
        p
    }

    fn fill(&mut self, x: u32, y: u32, w: u32, h: u32, colour: Bgrx) {
        let stride = self.width as usize * 4;
        for row in y..(y + h).min(self.height) {
            let start = row as usize * stride + x as usize * 4;
            let end = row as usize * stride + (x + w).min(self.width) as usize * 4;
            for px in self.bytes[start..end].chunks_exact_mut(4) {
                px.copy_from_slice(&colour);
            }
        }
    }

    /// The pixels, for the buffer pushed into `appsrc`.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The checksum of this picture outside `stamp`.
    pub fn checksum(&self, stamp: &StampArea) -> u64 {
        let stride = self.width as usize * 4;
        checksum(&self.bytes, stride, self.width, self.height, stamp)
    }
}

/// A checksum of a BGRx picture's rows (each `stride` bytes apart, `width`
/// pixels used), leaving out the pixels under `stamp`.
pub fn checksum(bytes: &[u8], stride: usize, width: u32, height: u32, stamp: &StampArea) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    for y in 0..height {
        let row = &bytes[y as usize * stride..][..width as usize * 4];
        match stamp.columns_in_row(y) {
            Some((left, right)) => {
                let right = right.min(width);
                hasher.write(&row[..left.min(width) as usize * 4]);
                hasher.write(&row[right as usize * 4..]);
            }
            None => hasher.write(row),
        }
    }
    hasher.finish()
}

/// The checksums of the pictures the app drew, shared by the sending side
/// (which notes each one as it is pushed) and the receiving side's
/// streaming thread (which looks up what arrived).
#[derive(Clone, Default)]
pub struct DrawnPictures(Arc<Mutex<HashMap<u64, u32>>>);

impl DrawnPictures {
    /// Notes that picture `n` has `checksum`.
    pub fn note(&self, checksum: u64, n: u32) {
        self.0.lock().unwrap().entry(checksum).or_insert(n);
    }

    /// The first picture drawn with `checksum`, if any.
    pub fn find(&self, checksum: u64) -> Option<u32> {
        self.0.lock().unwrap().get(&checksum).copied()
    }
}
