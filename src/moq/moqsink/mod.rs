// SPDX-License-Identifier: MPL-2.0
//! `moqsink`: publishes the changes-only stream or H.264 to a MoQ relay.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// A sink publishing a broadcast to a MoQ relay.
    pub struct MoqSink(ObjectSubclass<imp::MoqSink>) @extends gst_base::BaseSink, gst::Element, gst::Object;
}

/// Registers `moqsink` with the plugin.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "moqsink",
        gst::Rank::NONE,
        MoqSink::static_type(),
    )
}
