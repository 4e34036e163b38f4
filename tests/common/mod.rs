// SPDX-License-Identifier: MPL-2.0
//! What several integration tests share, one module per job: plugin
//! registration here; pipelines, scratch directories, ffmpeg checks, the
//! network, resident memory, the seeded generator, test media and the RTP
//! harness chain in the modules below.
//!
//! Every test binary compiles this module whole and uses only part of it.
#![allow(dead_code)]

pub mod ffmpeg;
pub mod media;
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
