// SPDX-License-Identifier: MPL-2.0
//! Keyframes on time: the GstForceKeyUnit requests the cutter decides on,
//! sent upstream, and the encoder delay they are sent that far ahead of.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::imp::{SegmentPackager, CAT};
use crate::gstcommon::clock::clock_time;
use crate::segment::cutter::KeyframeRequest;

impl SegmentPackager {
    pub(super) fn request_keyframe(&self, request: KeyframeRequest) {
        let running_time = match request {
            KeyframeRequest::At(t) => Some(clock_time(t)),
            KeyframeRequest::Now => None,
        };
        gst::debug!(
            CAT,
            imp = self,
            "asking upstream for a keyframe at {running_time:?}"
        );
        let event = gst_video::UpstreamForceKeyUnitEvent::builder()
            .running_time(running_time)
            .all_headers(true)
            .build();
        if !self.sinkpad.push_event(event) {
            gst::debug!(
                CAT,
                imp = self,
                "nobody upstream handled the keyframe request"
            );
        }
    }

    /// How far upstream's output lags its input: the minimum latency it
    /// reports (mostly the encoder's frame delay: look-ahead, B-frames).
    pub(super) fn learn_encoder_delay(&self) {
        let mut query = gst::query::Latency::new();
        let delay = if self.sinkpad.peer_query(&mut query) {
            query.result().1
        } else {
            gst::ClockTime::ZERO
        };
        gst::debug!(
            CAT,
            imp = self,
            "upstream reports {delay} of latency; asking that far ahead"
        );
        if let Some(cutter) = self.state().cutter.as_mut() {
            let mut config = *cutter.config();
            config.encoder_delay = delay.into();
            cutter.set_config(config);
        }
    }
}
