// SPDX-License-Identifier: MPL-2.0
//! `rtpdeltapay`: puts the changes-only delta stream into RTP packets.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// Payloads `video/x-streamkit-delta` frames into RTP, cut at tile-record
    /// boundaries (docs/rtp-payload.md).
    pub struct RtpDeltaPay(ObjectSubclass<imp::RtpDeltaPay>)
        @extends gst_rtp::RTPBasePayload, gst::Element, gst::Object;
}

/// Registers `rtpdeltapay` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpdeltapay",
        gst::Rank::SECONDARY,
        RtpDeltaPay::static_type(),
    )
}
