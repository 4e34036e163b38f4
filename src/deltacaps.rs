//! Caps of the delta stream (`video/x-streamkit-delta`), shared by the
//! encoder, the payloader and the depayloader.

use crate::delta::geometry::{MAX_DIMENSION, MAX_TILE_SIZE, MIN_TILE_SIZE};
use crate::delta::{Geometry, PixelFormat};

/// Media type of the delta stream.
pub(crate) const MEDIA_TYPE: &str = "video/x-streamkit-delta";

/// Every delta stream this build can carry: the pad template caps.
pub(crate) fn template() -> gst::Caps {
    gst::Caps::builder(MEDIA_TYPE)
        .field(
            "format",
            gst::List::new([PixelFormat::I420.caps_name(), PixelFormat::Bgrx.caps_name()]),
        )
        .field("width", gst::IntRange::new(1, MAX_DIMENSION as i32))
        .field("height", gst::IntRange::new(1, MAX_DIMENSION as i32))
        .field(
            "tile-size",
            gst::IntRange::new(MIN_TILE_SIZE as i32, MAX_TILE_SIZE as i32),
        )
        .build()
}

/// Fixed caps for a stream of `g`.
pub(crate) fn for_geometry(g: &Geometry) -> gst::Caps {
    gst::Caps::builder(MEDIA_TYPE)
        .field("format", g.format.caps_name())
        .field("width", g.width as i32)
        .field("height", g.height as i32)
        .field("tile-size", g.tile_size as i32)
        .build()
}
