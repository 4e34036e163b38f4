// SPDX-License-Identifier: MPL-2.0
//! `deltaenc`: the changes-only video encoder element.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// Encodes raw video into the changes-only delta bitstream.
    pub struct DeltaEnc(ObjectSubclass<imp::DeltaEnc>)
        @extends gst_video::VideoEncoder, gst::Element, gst::Object;
}

/// How `deltaenc` codes the tiles it sends.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstDeltaEncMode")]
pub enum DeltaEncMode {
    /// Bit-exact tiles (moves, and zstd of predicted samples): screen content.
    #[enum_value(
        name = "Lossless: bit-exact tiles, for screen content",
        nick = "lossless"
    )]
    Lossless = 0,
    /// DCT-coded tiles at `quality`: camera content.
    #[enum_value(
        name = "Lossy: DCT-coded tiles at the quality property, for camera content",
        nick = "lossy"
    )]
    Lossy = 1,
}

/// Registers `deltaenc` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // gst-inspect and the documentation tooling list the values of enums
    // marked as plugin API.
    DeltaEncMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "deltaenc",
        gst::Rank::NONE,
        DeltaEnc::static_type(),
    )
}
