// SPDX-License-Identifier: MPL-2.0
//! `segmentpackager`: cuts encoded H.264/H.265 into self-contained MPEG-TS
//! segments, one buffer each.

use gst::glib;
use gst::prelude::*;

mod collector;
mod imp;
mod keyframes;
mod pads;
mod settings;

glib::wrapper! {
    /// A bin that cuts H.264/H.265 into MPEG-TS segments, one buffer per segment.
    pub struct SegmentPackager(ObjectSubclass<imp::SegmentPackager>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::ChildProxy;
}

/// Registers `segmentpackager` with the plugin.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "segmentpackager",
        gst::Rank::NONE,
        SegmentPackager::static_type(),
    )
}
