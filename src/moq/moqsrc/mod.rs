// SPDX-License-Identifier: MPL-2.0
//! `moqsrc`: subscribes to a broadcast of the changes-only stream or H.264
//! at a MoQ relay.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// A live source subscribing to a broadcast at a MoQ relay.
    pub struct MoqSrc(ObjectSubclass<imp::MoqSrc>) @extends gst_base::PushSrc, gst_base::BaseSrc, gst::Element, gst::Object;
}

/// Registers `moqsrc` with the plugin.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "moqsrc",
        gst::Rank::NONE,
        MoqSrc::static_type(),
    )
}
