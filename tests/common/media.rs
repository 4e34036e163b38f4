// SPDX-License-Identifier: MPL-2.0
//! Test media: raw video caps, the moving scene the RTP tests send, and the
//! bytes of a buffer. (PSNR is the library's: `gststreamkit::measure::quality`.)

use super::rng::Lcg;
use gst_video::prelude::*;

/// Duration of one frame of the scene, in milliseconds (about 30 fps).
pub const FRAME_MS: u64 = 33;
/// Frames between two changes of the scene's background.
pub const SCENE_FRAMES: u64 = 45;

/// Caps of raw video in `format` at `width`x`height`, 30 fps.
pub fn raw_caps(format: &str, width: u32, height: u32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", format)
        .field("width", width as i32)
        .field("height", height as i32)
        .field("framerate", gst::Fraction::new(30, 1))
        .build()
}

/// Frame `t` of a moving I420 scene at `size`: a gradient with a square
/// sliding across it and, with `noise`, a patch of noise in the top left
/// corner (incompressible, so its tile records outgrow small MTUs).
/// The gradient changes every `SCENE_FRAMES` frames ("next slide") and is
/// static in between, so a lost update of a background tile stays visible
/// until refresh or a keyframe repairs it: the loss tests can fail.
pub fn scene_frame(t: u64, size: (u32, u32), noise: bool) -> gst::Buffer {
    let info = gst_video::VideoInfo::from_caps(&raw_caps("I420", size.0, size.1)).unwrap();
    let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
    {
        let buf = buffer.get_mut().unwrap();
        buf.set_pts(gst::ClockTime::from_mseconds(FRAME_MS * t));
        buf.set_duration(gst::ClockTime::from_mseconds(FRAME_MS));
        let mut rng = Lcg(t + 1);
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &info).unwrap();
        for p in 0..frame.n_planes() {
            let stride = frame.plane_stride()[p as usize] as usize;
            let scale = if p == 0 { 1 } else { 2 };
            let data = frame.plane_data_mut(p).unwrap();
            for (i, v) in data.iter_mut().enumerate() {
                let (x, y) = ((i % stride) * scale, (i / stride) * scale);
                let sx = (t as usize * 5) % size.0 as usize;
                let scene = (t / SCENE_FRAMES) as usize;
                *v = if x >= sx && x < sx + 48 && (60..120).contains(&y) {
                    220
                } else if noise && x < 40 && y < 40 {
                    rng.next() as u8
                } else {
                    ((x / 2 + y + p as usize * 70 + scene * 37) % 200) as u8
                };
            }
        }
    }
    buffer
}

/// The bytes of `buffer`, copied out.
pub fn bytes(buffer: &gst::BufferRef) -> Vec<u8> {
    buffer.map_readable().unwrap().to_vec()
}
