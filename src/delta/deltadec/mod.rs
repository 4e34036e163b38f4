// SPDX-License-Identifier: MPL-2.0
//! `deltadec`: the changes-only video decoder element.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// Decodes the changes-only delta bitstream into raw video.
    pub struct DeltaDec(ObjectSubclass<imp::DeltaDec>)
        @extends gst_video::VideoDecoder, gst::Element, gst::Object;
}

/// Registers `deltadec` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "deltadec",
        gst::Rank::PRIMARY,
        DeltaDec::static_type(),
    )
}
