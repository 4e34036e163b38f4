// SPDX-License-Identifier: MPL-2.0
//! `segmentpackager`: cuts encoded H.264/H.265 into self-contained MPEG-TS
//! segments, one buffer each.

use gst::glib;
use gst::prelude::*;

use std::sync::LazyLock;

mod assembler;
pub mod cutter;
mod imp;
pub mod paramsets;

/// Debug category shared by the bin and the element inside it.
pub(crate) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "segmentpackager",
        gst::DebugColorFlags::empty(),
        Some("Streamkit segment packager: cuts H.264/H.265 into MPEG-TS segments"),
    )
});

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
