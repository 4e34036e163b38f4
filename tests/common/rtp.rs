// SPDX-License-Identifier: MPL-2.0
//! The RTP tests' stream: a moving 320x240 scene, encoded by deltaenc and
//! carried by rtpdeltapay and rtpdeltadepay, each in a harness.

use super::rng::Lcg;
use gst::prelude::*;
use gst_check::Harness;
use gst_video::prelude::*;

pub const W: u32 = 320;
pub const H: u32 = 240;
pub const FRAME_MS: u64 = 33;
pub const SCENE_FRAMES: u64 = 45;

/// Caps of the source frames: I420, `W`x`H`, 30 fps.
pub fn source_caps() -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", W as i32)
        .field("height", H as i32)
        .field("framerate", gst::Fraction::new(30, 1))
        .build()
}

/// Frame `t` of a moving scene: a gradient, a square sliding across it and a
/// patch of noise (incompressible, so its tile records outgrow small MTUs).
/// The gradient changes every `SCENE_FRAMES` frames ("next slide") and is
/// static in between, so a lost update of a background tile stays visible
/// until refresh or a keyframe repairs it: the loss tests can fail.
pub fn source_frame(t: u64) -> gst::Buffer {
    let info = gst_video::VideoInfo::from_caps(&source_caps()).unwrap();
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
                let sx = (t as usize * 5) % W as usize;
                let scene = (t / SCENE_FRAMES) as usize;
                *v = if x >= sx && x < sx + 48 && (60..120).contains(&y) {
                    220
                } else if x < 40 && y < 40 {
                    rng.next() as u8
                } else {
                    ((x / 2 + y + p as usize * 70 + scene * 37) % 200) as u8
                };
            }
        }
    }
    buffer
}

/// Encodes `n` frames with deltaenc; returns the encoded buffers and caps.
pub fn encode(n: u64, props: &str) -> (Vec<gst::Buffer>, gst::Caps) {
    let mut h = Harness::new_parse(&format!("deltaenc {props}"));
    h.set_src_caps(source_caps());
    let mut out = Vec::new();
    for t in 0..n {
        h.push(source_frame(t)).unwrap();
        while let Some(b) = h.try_pull() {
            out.push(b);
        }
    }
    h.push_event(gst::event::Eos::new());
    while let Some(b) = h.try_pull() {
        out.push(b);
    }
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    (out, caps)
}

/// Payloads `frames` at `mtu`; returns the RTP packets and their caps.
pub fn payload(
    frames: &[gst::Buffer],
    caps: &gst::Caps,
    mtu: u32,
) -> (Vec<gst::Buffer>, gst::Caps) {
    payload_with(frames, caps, |pay| pay.set_property("mtu", mtu))
}

/// Payloads `frames` with a payloader set up by `configure`.
pub fn payload_with(
    frames: &[gst::Buffer],
    caps: &gst::Caps,
    configure: impl FnOnce(&gst::Element),
) -> (Vec<gst::Buffer>, gst::Caps) {
    let mut h = Harness::new("rtpdeltapay");
    configure(&h.element().unwrap());
    h.set_src_caps(caps.clone());
    let mut out = Vec::new();
    for f in frames {
        h.push(f.clone()).unwrap();
        while let Some(b) = h.try_pull() {
            out.push(b);
        }
    }
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    (out, caps)
}

/// Depayloads `packets`; returns the output frames and the element.
pub fn depayload(packets: &[gst::Buffer], caps: &gst::Caps) -> (Vec<gst::Buffer>, gst::Element) {
    let mut h = Harness::new("rtpdeltadepay");
    h.set_src_caps(caps.clone());
    let mut out = Vec::new();
    for p in packets {
        h.push(p.clone()).unwrap();
        while let Some(b) = h.try_pull() {
            out.push(b);
        }
    }
    h.push_event(gst::event::Eos::new());
    while let Some(b) = h.try_pull() {
        out.push(b);
    }
    (out, h.element().unwrap())
}

/// Counter `name` of an rtpdeltadepay's `delta-stats`.
pub fn stat(element: &gst::Element, name: &str) -> u64 {
    element
        .property::<gst::Structure>("delta-stats")
        .get::<u64>(name)
        .unwrap()
}
