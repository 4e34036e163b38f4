// SPDX-License-Identifier: MPL-2.0
//! `hlssegmentsink`: writes segments from `segmentpackager` as files and keeps
//! a live HLS media playlist over them.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// A sink writing HLS segment files and a live media playlist.
    pub struct HlsSegmentSink(ObjectSubclass<imp::HlsSegmentSink>) @extends gst_base::BaseSink, gst::Element, gst::Object;
}

/// Registers `hlssegmentsink` with the plugin.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "hlssegmentsink",
        gst::Rank::NONE,
        HlsSegmentSink::static_type(),
    )
}
