// SPDX-License-Identifier: MPL-2.0
//! `rtpdeltadepay`'s settings and the specs of the properties that read and
//! write them.

use gst::glib;
use gst::prelude::*;

// Bounds of `max-width` / `max-height`: the same as deltadec's.
use crate::delta::decoder::MIN_SIZE_LIMIT;
use crate::delta::geometry::MAX_DIMENSION;
use crate::gstcommon::clock::nanos;
use crate::rtp::{DEFAULT_MAX_HEIGHT, DEFAULT_MAX_WIDTH, DEFAULT_MIN_KEYFRAME_INTERVAL};

pub(super) const DEFAULT_REQUEST_KEYFRAME: bool = true;
/// Most `min-keyframe-interval` accepts: one minute, in nanoseconds.
pub(super) const MAX_MIN_KEYFRAME_INTERVAL: u64 = 60_000_000_000;

#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) request_keyframe: bool,
    /// Nanoseconds.
    pub(super) min_keyframe_interval: u64,
    pub(super) max_width: u32,
    pub(super) max_height: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            request_keyframe: DEFAULT_REQUEST_KEYFRAME,
            min_keyframe_interval: nanos(DEFAULT_MIN_KEYFRAME_INTERVAL),
            max_width: DEFAULT_MAX_WIDTH,
            max_height: DEFAULT_MAX_HEIGHT,
        }
    }
}

/// The element's properties, for `ObjectImpl::properties`.
pub(super) fn param_specs() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecBoolean::builder("request-keyframe")
            .nick("Request keyframes")
            .blurb(
                "Send a GstForceKeyUnit event upstream (RTCP PLI through rtpbin) \
                 when packets are lost",
            )
            .default_value(DEFAULT_REQUEST_KEYFRAME)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt64::builder("min-keyframe-interval")
            .nick("Minimum keyframe request interval")
            .blurb(
                "Nanoseconds to wait after a keyframe request before sending another \
                 (0 = request on every loss)",
            )
            .maximum(MAX_MIN_KEYFRAME_INTERVAL)
            .default_value(nanos(DEFAULT_MIN_KEYFRAME_INTERVAL))
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("max-width")
            .nick("Maximum width")
            .blurb(
                "Widest frame accepted, in pixels: packets announcing a wider frame \
                 are dropped (counted in delta-stats as geometry-rejected)",
            )
            .minimum(MIN_SIZE_LIMIT)
            .maximum(MAX_DIMENSION)
            .default_value(DEFAULT_MAX_WIDTH)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("max-height")
            .nick("Maximum height")
            .blurb(
                "Tallest frame accepted, in pixels: packets announcing a taller frame \
                 are dropped (counted in delta-stats as geometry-rejected)",
            )
            .minimum(MIN_SIZE_LIMIT)
            .maximum(MAX_DIMENSION)
            .default_value(DEFAULT_MAX_HEIGHT)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoxed::builder::<gst::Structure>("delta-stats")
            .nick("Delta depayloader statistics")
            .blurb(
                "Counters since start: packets, duplicates, late, malformed, frames, \
                 frames-with-loss, fragments-dropped, restarts, geometry-rejected, \
                 over-frame-bytes, over-fragment-pieces, frames-evicted, \
                 frames-given-up, frames-expired, lost-events, keyframe-requests",
            )
            .read_only()
            .build(),
    ]
}
