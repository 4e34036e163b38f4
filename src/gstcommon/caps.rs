// SPDX-License-Identifier: MPL-2.0
//! Caps of the delta stream (`video/x-streamkit-delta`), shared by the
//! encoder, the payloader and the depayloader.

use crate::delta::bitstream::MAX_CACHE_TILES;
use crate::delta::geometry::{MAX_DIMENSION, MAX_TILE_SIZE, MIN_TILE_SIZE};
use crate::delta::{Geometry, PixelFormat};

/// Media type of the delta stream.
pub(crate) const MEDIA_TYPE: &str = "video/x-streamkit-delta";

/// Every delta stream this build can carry: the pad template caps.
pub(crate) fn template() -> gst::Caps {
    gst::Caps::builder(MEDIA_TYPE)
        .field(
            "format",
            gst::List::new(PixelFormat::ALL.map(PixelFormat::caps_name)),
        )
        .field("width", gst::IntRange::new(1, MAX_DIMENSION as i32))
        .field("height", gst::IntRange::new(1, MAX_DIMENSION as i32))
        .field(
            "tile-size",
            gst::IntRange::new(MIN_TILE_SIZE as i32, MAX_TILE_SIZE as i32),
        )
        .build()
}

/// What a MoQ broadcast carries (`moqsink`, `moqsrc`): the delta stream, or
/// H.264 as Annex B access units.
pub(crate) fn moq_template() -> gst::Caps {
    let mut caps = template();
    caps.merge(
        gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build(),
    );
    caps
}

/// Fixed caps for a stream of `g` whose decoder keeps `cache_tiles` tile
/// contents for recall records.
pub(crate) fn for_stream(g: &Geometry, cache_tiles: u32) -> gst::Caps {
    gst::Caps::builder(MEDIA_TYPE)
        .field("format", g.format.caps_name())
        .field("width", g.width as i32)
        .field("height", g.height as i32)
        .field("tile-size", g.tile_size as i32)
        .field("cache-tiles", cache_tiles.min(MAX_CACHE_TILES) as i32)
        .build()
}

/// The `cache-tiles` a stream's caps (or RTP caps carrying its SDP
/// parameters) announce, bounded by [`MAX_CACHE_TILES`]; 0 when absent or
/// malformed, so recalls miss and tiles heal by refresh.
pub fn cache_tiles_from_caps(s: &gst::StructureRef) -> u32 {
    uint_field(s, "cache-tiles").map_or(0, |n| n.min(MAX_CACHE_TILES))
}

/// A whole number field of `s`: an integer, or a decimal string as SDP's
/// `a=fmtp` parameters arrive in RTP caps.
fn uint_field(s: &gst::StructureRef, name: &str) -> Result<u32, String> {
    let value = match s.get::<&str>(name) {
        Ok(text) => text.trim().parse().ok(),
        Err(_) => s.get::<i32>(name).ok().and_then(|v| u32::try_from(v).ok()),
    };
    value.ok_or_else(|| format!("caps lack a valid `{name}`"))
}

/// The geometry that `video/x-streamkit-delta` caps, or RTP caps of the
/// delta stream carrying its SDP parameters, announce.
pub(crate) fn geometry_from_caps(s: &gst::StructureRef) -> Result<Geometry, String> {
    let format = s
        .get::<&str>("format")
        .ok()
        .and_then(PixelFormat::from_caps_name)
        .ok_or_else(|| {
            let names: Vec<&str> = PixelFormat::ALL.map(PixelFormat::caps_name).to_vec();
            format!("caps lack a supported `format` ({})", names.join(", "))
        })?;
    Geometry::new(
        format,
        uint_field(s, "width")?,
        uint_field(s, "height")?,
        uint_field(s, "tile-size")?,
    )
    .map_err(|e| e.to_string())
}

/// The raw video format of `format`: the GStreamer format of the same name.
pub(crate) fn video_format(format: PixelFormat) -> gst_video::VideoFormat {
    gst_video::VideoFormat::from_string(format.caps_name())
}

/// Raw video caps of every format the codec carries natively (I420 first,
/// so that a source free to choose gives the cheapest), up to its size
/// limit: `deltaenc`'s sink and `deltadec`'s src templates.
pub(crate) fn raw_template() -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format_list(PixelFormat::ALL.map(video_format))
        .width_range(1..=MAX_DIMENSION as i32)
        .height_range(1..=MAX_DIMENSION as i32)
        .build()
}

/// Width and height of caps that fix them, whatever else they leave open.
pub(crate) fn size_from_caps(s: &gst::StructureRef) -> Option<(u32, u32)> {
    Some((uint_field(s, "width").ok()?, uint_field(s, "height").ok()?))
}
