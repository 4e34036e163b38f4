// SPDX-License-Identifier: MPL-2.0
//! `framestamp`: draws the frame number and capture time into each frame.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// Stamps frame number and capture time into raw video frames.
    pub struct FrameStamp(ObjectSubclass<imp::FrameStamp>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers `framestamp` with the plugin.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "framestamp",
        gst::Rank::NONE,
        FrameStamp::static_type(),
    )
}
