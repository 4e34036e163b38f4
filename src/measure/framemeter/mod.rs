// SPDX-License-Identifier: MPL-2.0
//! `framemeter`: reads `framestamp` codes after decoding and measures
//! latency, lost, frozen and unreadable frames.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// Reads stamps and measures what arrived; passes frames through untouched.
    pub struct FrameMeter(ObjectSubclass<imp::FrameMeter>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers `framemeter` with the plugin.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "framemeter",
        gst::Rank::NONE,
        FrameMeter::static_type(),
    )
}
