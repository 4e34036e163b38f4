// SPDX-License-Identifier: MPL-2.0
//! What several integration tests share, one module per job: plugin
//! registration here; in the modules below, headless Chromium (`browser`),
//! pipelines (`pipeline`), scratch
//! directories (`scratch`), ffprobe/ffmpeg checks (`ffmpeg`), free UDP ports
//! and an HTTP server (`net`), resident memory (`memory`), the seeded
//! generator (`rng`), test video (`media`) and the RTP tests'
//! harness chain (`rtp`).
//!
//! Every test binary compiles this module whole and uses only part of it.
#![allow(dead_code)]

pub mod browser;
pub mod ffmpeg;
pub mod media;
pub mod memory;
pub mod net;
pub mod pipeline;
pub mod rng;
pub mod rtp;
pub mod scratch;

use std::sync::Once;

/// Initialises GStreamer and registers the streamkit elements, once per
/// test process.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("gst init");
        gststreamkit::plugin_register_static().expect("register streamkit");
    });
}
