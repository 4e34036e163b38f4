// SPDX-License-Identifier: MPL-2.0
//! Streamkit in a web browser: the changes-only decoder, the MoQ object
//! reader and the stamp reader of the plugin, built for
//! `wasm32-unknown-unknown` from the same sources as the elements, behind
//! a plain exported-function ABI (docs/browser.md, "The WebAssembly
//! module").
//!
//! Why plain functions and not wasm-bindgen: the interface is a dozen
//! calls that pass numbers and a pointer into the module's memory, which
//! wasm-bindgen would wrap in generated glue and a command-line tool that
//! must match the crate's version exactly, one more thing to install and
//! keep in step on every machine. With plain functions the module has no
//! imports at all, `web/page/streamkit.js` is the whole binding, and the
//! same module loads in Chromium and in Node.js.
//!
//! Conventions:
//! - A view is a handle (a pointer into the module's memory, a `u32` in
//!   JavaScript) from [`sk_view_new`], freed with [`sk_view_free`].
//! - Bytes go in through a buffer from [`sk_alloc`] that the caller fills
//!   through the module's memory and frees with [`sk_free`].
//! - What a view returns by pointer (the picture, the rectangles, the
//!   counters, the error text) stays valid until the next call on that
//!   view; memory growth detaches JavaScript's views of it, so a caller
//!   makes its `Uint8Array` after each call.
//! - Times are milliseconds as `f64`, on any monotonic clock.

pub mod view;

use std::time::Duration;

use view::{stamp_in_rgba, View, STATS};

/// A view and what its last calls return by pointer.
pub struct Handle {
    view: View,
    outcome: [u32; OUTCOME_FIELDS],
    stats: [u64; STATS_FIELDS],
    stamp: Option<(u32, u64)>,
}

/// Fields of [`sk_view_outcome`]'s array.
pub const OUTCOME_FIELDS: usize = 7;
/// Fields of [`sk_view_stats`]'s array.
pub const STATS_FIELDS: usize = STATS.len();

fn millis(ms: f64) -> Duration {
    if ms.is_finite() && ms > 0.0 {
        Duration::from_secs_f64((ms / 1000.0).min(1e12))
    } else {
        Duration::ZERO
    }
}

/// `len` bytes for the caller to fill (null when `len` is 0 or memory is
/// exhausted). Free them with [`sk_free`] and the same `len`.
#[no_mangle]
pub extern "C" fn sk_alloc(len: usize) -> *mut u8 {
    if len == 0 {
        return std::ptr::null_mut();
    }
    let mut buf: Vec<u8> = Vec::new();
    if buf.try_reserve_exact(len).is_err() {
        return std::ptr::null_mut();
    }
    buf.resize(len, 0);
    Box::into_raw(buf.into_boxed_slice()).cast()
}

/// Frees what [`sk_alloc`] returned.
///
/// # Safety
/// `ptr` comes from `sk_alloc(len)` with the same `len`, and is freed once.
#[no_mangle]
pub unsafe extern "C" fn sk_free(ptr: *mut u8, len: usize) {
    if !ptr.is_null() && len > 0 {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)));
    }
}

/// A new view (see [`View::new`]); null when a limit is out of range.
#[no_mangle]
pub extern "C" fn sk_view_new(
    max_width: u32,
    max_height: u32,
    max_object_bytes: u32,
    cache_tiles: u32,
) -> *mut Handle {
    match View::new(max_width, max_height, max_object_bytes, cache_tiles) {
        Ok(view) => Box::into_raw(Box::new(Handle {
            view,
            outcome: [0; OUTCOME_FIELDS],
            stats: [0; STATS_FIELDS],
            stamp: None,
        })),
        Err(_) => std::ptr::null_mut(),
    }
}

/// Frees a view.
///
/// # Safety
/// `h` comes from [`sk_view_new`] and is freed once.
#[no_mangle]
pub unsafe extern "C" fn sk_view_free(h: *mut Handle) {
    if !h.is_null() {
        drop(Box::from_raw(h));
    }
}

/// # Safety
/// `ptr..ptr+len` is readable (null with `len` 0 is allowed).
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, len)
    }
}

fn record(h: &mut Handle) -> i32 {
    let o = h.view.outcome();
    h.outcome = [
        o.accepted as u32,
        o.keyframe as u32,
        o.frame_number,
        o.tiles_applied,
        o.records_dropped,
        o.recall_misses,
        o.geometry_changed as u32,
    ];
    h.stamp = None;
    o.accepted as i32
}

/// Reads one MoQ object (header and frame) and decodes it
/// ([`View::decode_object`]): 1 when the frame was applied, 0 when it was
/// refused ([`sk_view_error_ptr`] says why).
///
/// # Safety
/// `h` is a live view; `ptr..ptr+len` is readable.
#[no_mangle]
pub unsafe extern "C" fn sk_view_decode_object(
    h: *mut Handle,
    ptr: *const u8,
    len: usize,
    now_ms: f64,
) -> i32 {
    let h = &mut *h;
    h.view.decode_object(bytes(ptr, len), millis(now_ms));
    record(h)
}

/// Decodes one changes-only frame with no object header
/// ([`View::decode`]): 1 applied, 0 refused.
///
/// # Safety
/// As [`sk_view_decode_object`].
#[no_mangle]
pub unsafe extern "C" fn sk_view_decode(
    h: *mut Handle,
    ptr: *const u8,
    len: usize,
    now_ms: f64,
) -> i32 {
    let h = &mut *h;
    h.view.decode(bytes(ptr, len), millis(now_ms));
    record(h)
}

/// Marks every tile as possibly stale (frames were lost).
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_note_loss(h: *mut Handle) {
    (*h).view.note_loss();
}

/// The last decode's outcome, [`OUTCOME_FIELDS`] `u32`s: accepted,
/// keyframe, frame number, tiles applied, records dropped, recall misses,
/// geometry changed.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_outcome(h: *const Handle) -> *const u32 {
    (*h).outcome.as_ptr()
}

/// The last call's first problem as UTF-8 (see [`sk_view_error_len`]).
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_error_ptr(h: *const Handle) -> *const u8 {
    (*h).view.error().unwrap_or("").as_ptr()
}

/// Bytes of the error text; 0 when the last call met no problem.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_error_len(h: *const Handle) -> usize {
    (*h).view.error().map_or(0, str::len)
}

/// The picture's width in pixels; 0 before the first picture.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_width(h: *const Handle) -> u32 {
    (*h).view.geometry().map_or(0, |g| g.width)
}

/// The picture's height in pixels; 0 before the first picture.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_height(h: *const Handle) -> u32 {
    (*h).view.geometry().map_or(0, |g| g.height)
}

/// 1 when every tile has arrived and none is suspect.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_whole(h: *const Handle) -> u32 {
    (*h).view.is_whole() as u32
}

/// The picture as RGBA, `width * height * 4` bytes.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_rgba(h: *const Handle) -> *const u8 {
    (*h).view.rgba().as_ptr()
}

/// The last frame's changed rectangles, 4 `u32`s each (x, y, width,
/// height); [`sk_view_rect_count`] of them.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_rects(h: *const Handle) -> *const u32 {
    (*h).view.rects().as_ptr().cast()
}

/// How many rectangles [`sk_view_rects`] holds.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_rect_count(h: *const Handle) -> u32 {
    (*h).view.rects().len() as u32
}

/// XXH3-64 of the decoded picture ([`View::checksum`]); 0 before the
/// first picture.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_checksum(h: *const Handle) -> u64 {
    (*h).view.checksum().unwrap_or(0)
}

/// Reads the stamp of the picture: 1 when it reads (then
/// [`sk_view_stamp_frame`] and [`sk_view_stamp_time`] give it), 0 when it
/// does not.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_stamp(h: *mut Handle) -> i32 {
    let h = &mut *h;
    h.stamp = h.view.stamp().ok().map(|s| (s.frame, s.capture_time_ns));
    h.stamp.is_some() as i32
}

/// The frame number of the stamp [`sk_view_stamp`] read.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_stamp_frame(h: *const Handle) -> u32 {
    (*h).stamp.map_or(0, |s| s.0)
}

/// The capture time of the stamp [`sk_view_stamp`] read: nanoseconds on
/// the sender's monotonic clock.
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_stamp_time(h: *const Handle) -> u64 {
    (*h).stamp.map_or(0, |s| s.1)
}

/// The decoder's counters, [`STATS_FIELDS`] `u64`s in the order of
/// [`view::STATS`] (`deltadec`'s `stats`).
///
/// # Safety
/// `h` is a live view.
#[no_mangle]
pub unsafe extern "C" fn sk_view_stats(h: *mut Handle) -> *const u64 {
    let h = &mut *h;
    h.stats = h.view.stats_fields();
    h.stats.as_ptr()
}

/// Reads the stamp at the default place from an RGBA picture of `width` x
/// `height` pixels at `ptr` (`len` bytes; for example a canvas's
/// `getImageData` of another decoder's picture): 1 when it reads, and then
/// `out[0]` is its frame number and `out[1]` its capture time in
/// nanoseconds; 0 when it does not.
///
/// # Safety
/// `ptr..ptr+len` is readable; `out` points to two writable `u64`s.
#[no_mangle]
pub unsafe extern "C" fn sk_read_stamp_rgba(
    ptr: *const u8,
    len: usize,
    width: u32,
    height: u32,
    out: *mut u64,
) -> i32 {
    match stamp_in_rgba(bytes(ptr, len), width, height) {
        Ok(s) => {
            *out = u64::from(s.frame);
            *out.add(1) = s.capture_time_ns;
            1
        }
        Err(_) => 0,
    }
}
