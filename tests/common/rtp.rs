// SPDX-License-Identifier: MPL-2.0
//! The RTP tests' stream: a moving 320x240 scene, encoded by deltaenc and
//! carried by rtpdeltapay and rtpdeltadepay, each in a harness.

use super::media::{raw_caps, scene_frame};
use gst::prelude::*;
use gst_check::Harness;

/// Width of the source frames.
pub const W: u32 = 320;
/// Height of the source frames.
pub const H: u32 = 240;
/// Caps of the source frames: I420, `W`x`H`, 30 fps.
pub fn source_caps() -> gst::Caps {
    raw_caps("I420", W, H)
}

/// Frame `t` of the moving scene at `W`x`H`, with its patch of noise.
pub fn source_frame(t: u64) -> gst::Buffer {
    scene_frame(t, (W, H), true)
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
        .unwrap_or_else(|e| panic!("delta-stats has no {name}: {e}"))
}
