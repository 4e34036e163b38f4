// SPDX-License-Identifier: MPL-2.0
//! `segmentpackager`'s settings and the specs of the properties that read
//! and write them.

use gst::glib;
use gst::prelude::*;
use std::time::Duration;

use crate::segment::cutter::{CutterConfig, SegmentLength};

pub(super) const DEFAULT_FRAMES_PER_SEGMENT: u32 = 10;
pub(super) const MAX_FRAMES_PER_SEGMENT: u32 = 100_000;
pub(super) const DEFAULT_SEGMENT_DURATION: gst::ClockTime = gst::ClockTime::from_seconds(2);
/// Most `segment-duration` and `max-keyframe-wait` accept.
pub(super) const MAX_DURATION: gst::ClockTime = gst::ClockTime::from_seconds(3600);
pub(super) const DEFAULT_MAX_KEYFRAME_WAIT: gst::ClockTime = gst::ClockTime::from_seconds(5);

#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) frames_per_segment: u32,
    pub(super) segment_duration: gst::ClockTime,
    pub(super) max_keyframe_wait: gst::ClockTime,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            frames_per_segment: DEFAULT_FRAMES_PER_SEGMENT,
            segment_duration: DEFAULT_SEGMENT_DURATION,
            max_keyframe_wait: DEFAULT_MAX_KEYFRAME_WAIT,
        }
    }
}

impl Settings {
    pub(super) fn cutter_config(&self, frame_duration: Option<Duration>) -> CutterConfig {
        let length = SegmentLength::frames_or_duration(
            self.frames_per_segment,
            self.segment_duration.into(),
        );
        CutterConfig {
            length,
            frame_duration,
            max_keyframe_wait: self.max_keyframe_wait.into(),
            // learnt from a latency query once frames flow
            encoder_delay: Duration::ZERO,
        }
    }
}

/// The element's properties, for `ObjectImpl::properties`.
pub(super) fn param_specs() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecUInt::builder("frames-per-segment")
            .nick("Frames per segment")
            .blurb(
                "Frames in each segment; a keyframe is requested for the first frame of the \
                 next one. 0 cuts by segment-duration instead. Read when caps arrive.",
            )
            .minimum(0)
            .maximum(MAX_FRAMES_PER_SEGMENT)
            .default_value(DEFAULT_FRAMES_PER_SEGMENT)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt64::builder("segment-duration")
            .nick("Segment duration")
            .blurb(
                "Stream time in each segment, in nanoseconds, when frames-per-segment is 0; \
                 the segment ends at the first keyframe at or after it. Read when caps arrive.",
            )
            .minimum(1)
            .maximum(MAX_DURATION.nseconds())
            .default_value(DEFAULT_SEGMENT_DURATION.nseconds())
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt64::builder("max-keyframe-wait")
            .nick("Maximum keyframe wait")
            .blurb(
                "Stream time to wait for a requested keyframe before posting an error, in \
                 nanoseconds; 0 waits for ever",
            )
            .minimum(0)
            .maximum(MAX_DURATION.nseconds())
            .default_value(DEFAULT_MAX_KEYFRAME_WAIT.nseconds())
            .mutable_ready()
            .build(),
    ]
}
