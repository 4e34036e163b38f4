// SPDX-License-Identifier: MPL-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! Streamkit: GStreamer elements for comparing three ways of streaming live
//! video — full frames, video segments, and changes only.
//!
//! One folder per area — [`delta`] (the changes-only codec), [`rtp`] (its
//! RTP payload format), [`segment`] (segments and HLS), [`measure`] (stamps
//! and tallies) — each with its pure logic, free of GStreamer types, at the
//! top and its elements as `mod.rs` + `imp.rs` sub-folders; [`gstcommon`]
//! holds the GStreamer-facing pieces several elements share.
//! `docs/architecture.md` says where a new thing goes.

#[cfg(feature = "gst")]
use gst::glib;

pub mod delta;
#[cfg(feature = "gst")]
pub mod gstcommon;
pub mod measure;
pub mod moq;
pub mod relay;
pub mod rtp;
pub mod segment;
/// Seeded test generator shared by the unit tests, `tests/` and the
/// examples; not part of the plugin's interface.
#[doc(hidden)]
pub mod testrng;

#[cfg(feature = "gst")]
fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    delta::deltaenc::register(plugin)?;
    delta::deltadec::register(plugin)?;
    rtp::rtpdeltapay::register(plugin)?;
    rtp::rtpdeltadepay::register(plugin)?;
    segment::segmentpackager::register(plugin)?;
    segment::hlssegmentsink::register(plugin)?;
    measure::framestamp::register(plugin)?;
    measure::framemeter::register(plugin)?;
    moq::moqsink::register(plugin)?;
    moq::moqsrc::register(plugin)?;
    Ok(())
}

#[cfg(feature = "gst")]
gst::plugin_define!(
    streamkit,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    // The origin gst-inspect shows. Streamkit has no public URL, and an
    // invented one would send readers nowhere: name where it comes from.
    "Streamkit source tree (no public URL)",
    env!("BUILD_REL_DATE")
);
