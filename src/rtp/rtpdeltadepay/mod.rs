// SPDX-License-Identifier: MPL-2.0
//! `rtpdeltadepay`: rebuilds delta frames from RTP packets.

use gst::glib;
use gst::prelude::*;

mod dropped;
mod imp;
mod settings;
mod timer;

glib::wrapper! {
    /// Collects the RTP packets of one timestamp back into a
    /// `video/x-streamkit-delta` frame, passing on whatever arrived.
    pub struct RtpDeltaDepay(ObjectSubclass<imp::RtpDeltaDepay>)
        @extends gst_rtp::RTPBaseDepayload, gst::Element, gst::Object;
}

/// Registers `rtpdeltadepay` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpdeltadepay",
        gst::Rank::SECONDARY,
        RtpDeltaDepay::static_type(),
    )
}
