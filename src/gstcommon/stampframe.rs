// SPDX-License-Identifier: MPL-2.0
//! The stamp code on GStreamer video frames: where `framestamp` and
//! `framemeter` put it by default, which raw formats they take, the clock
//! both ends read, and drawing and reading a stamp in a `VideoFrame` through
//! the pure planes of [`crate::measure::stampcode`]. Shared by the two
//! elements and the `streamkit-compare` program.

use gst::prelude::*;
use gst_video::prelude::*;

use crate::measure::stampcode::{Plane, PlaneMut, Stamp, StampError, StampLayout};

pub use crate::measure::stampcode::{
    default_layout, DEFAULT_BLOCK_SIZE, DEFAULT_X, DEFAULT_Y, MAX_BLOCK_SIZE, MAX_POSITION,
    MIN_BLOCK_SIZE,
};

/// The raw formats whose samples both elements can write and read: 8 bits
/// per component, not tiled.
pub const FORMATS: &[gst_video::VideoFormat] = &[
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Yv12,
    gst_video::VideoFormat::Nv12,
    gst_video::VideoFormat::Nv21,
    gst_video::VideoFormat::Y42b,
    gst_video::VideoFormat::Y444,
    gst_video::VideoFormat::Yuy2,
    gst_video::VideoFormat::Uyvy,
    gst_video::VideoFormat::Gray8,
    gst_video::VideoFormat::Bgrx,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Xrgb,
    gst_video::VideoFormat::Xbgr,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Argb,
    gst_video::VideoFormat::Abgr,
    gst_video::VideoFormat::Rgb,
    gst_video::VideoFormat::Bgr,
];

/// Caps of raw video in one of [`FORMATS`].
pub fn raw_caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format_list(FORMATS.iter().copied())
        .build()
}

/// The clock both ends read: GStreamer's system clock (`GstSystemClock`,
/// whose default clock type is `CLOCK_MONOTONIC`). It is one per process and
/// the same monotonic clock for every process on the host, so a sender and a
/// receiver in different pipelines or processes agree on it whatever clock
/// their pipelines run on.
pub fn host_clock_time() -> u64 {
    gst::SystemClock::obtain().time().nseconds()
}

/// The component a reader looks at: luma for YUV and grey, green for RGB
/// (the code is grey, so R = G = B).
fn read_component(info: &gst_video::VideoInfo) -> u32 {
    if info.format_info().is_rgb() {
        1
    } else {
        0
    }
}

/// Reads the stamp from `frame` at `layout`.
pub fn read_frame_stamp(
    frame: &gst_video::VideoFrameRef<&gst::BufferRef>,
    layout: &StampLayout,
) -> Result<Stamp, StampError> {
    let comp = read_component(frame.info());
    let Ok(data) = frame.comp_data(comp) else {
        return Err(layout.no_picture());
    };
    Plane {
        data,
        stride: frame.comp_stride(comp).max(0) as usize,
        pixel_stride: frame.comp_pstride(comp).max(1) as usize,
        width: frame.comp_width(comp),
        height: frame.comp_height(comp),
    }
    .read_stamp(layout)
}

/// Draws `stamp` into `frame` at `layout`: black and white in luma (or in
/// R, G and B) and neutral chroma under the code, so it stays grey through
/// any colour conversion.
pub fn draw_frame_stamp(
    frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    layout: &StampLayout,
    stamp: &Stamp,
) -> Result<(), StampError> {
    let info = frame.info().clone();
    let finfo = info.format_info();
    layout.check_fits(info.width(), info.height())?;
    let full_range = info.colorimetry().range() == gst_video::VideoColorRange::Range0_255;
    let (white, black) = if finfo.is_rgb() || full_range {
        (255, 0)
    } else {
        (235, 16)
    };
    let colour_comps: &[u32] = if finfo.is_rgb() { &[0, 1, 2] } else { &[0] };
    for comp in 0..finfo.n_components().min(3) {
        let stride = info.comp_stride(comp as u8).max(0) as usize;
        let pixel_stride = info.comp_pstride(comp as u8).max(1) as usize;
        let width = info.comp_width(comp as u8);
        let height = info.comp_height(comp as u8);
        let (w_sub, h_sub) = (finfo.w_sub()[comp as usize], finfo.h_sub()[comp as usize]);
        let Ok(data) = frame.comp_data_mut(comp) else {
            continue;
        };
        let mut plane = PlaneMut {
            data,
            stride,
            pixel_stride,
            components: &[0],
            width,
            height,
        };
        if colour_comps.contains(&comp) {
            plane.draw_stamp(layout, stamp, white, black)?;
        } else {
            // chroma of a YUV format: neutral under the whole code
            plane.fill(layout.bounds().subsampled(w_sub, h_sub), 128);
        }
    }
    Ok(())
}
