// SPDX-License-Identifier: MPL-2.0
//! `framestamp`: draws the frame number and capture time into each frame.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// Stamps frame number and capture time into raw video frames.
    pub struct FrameStamp(ObjectSubclass<imp::FrameStamp>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Which moment the capture time that `framestamp` stamps records.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstFrameStampTimeSource")]
pub enum FrameStampTimeSource {
    /// When the buffer's timestamp was on the pipeline clock, carried over to
    /// the system clock: the capture time of a live source.
    #[enum_value(
        name = "Buffer: when the frame's timestamp was on the pipeline clock (capture time of a live source)",
        nick = "buffer"
    )]
    Buffer = 0,
    /// When framestamp handles the frame, on the system clock.
    #[enum_value(name = "Now: when framestamp handles the frame", nick = "now")]
    Now = 1,
}

/// Registers `framestamp` with the plugin.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // gst-inspect and the documentation tooling list the values of enums
    // marked as plugin API.
    FrameStampTimeSource::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "framestamp",
        gst::Rank::NONE,
        FrameStamp::static_type(),
    )
}
