// SPDX-License-Identifier: MPL-2.0
//! The pad templates most elements here share: one always-present sink pad
//! and one always-present src pad.

/// An always `sink` pad with `sink_caps` and an always `src` pad with
/// `src_caps`, as a filter, encoder or payloader has.
pub(crate) fn sink_and_src(sink_caps: &gst::Caps, src_caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    [
        ("sink", gst::PadDirection::Sink, sink_caps),
        ("src", gst::PadDirection::Src, src_caps),
    ]
    .into_iter()
    .map(|(name, direction, caps)| {
        gst::PadTemplate::new(name, direction, gst::PadPresence::Always, caps)
            .expect("static pad template is valid")
    })
    .collect()
}
