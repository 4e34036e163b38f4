// SPDX-License-Identifier: MPL-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! Streamkit: GStreamer elements for comparing three ways of streaming live
//! video — full frames, video segments, and changes only.
//!
//! The pure logic (bitstreams, tile math, playlists, stamp codes) lives in
//! modules free of GStreamer types; each element folder is a thin adapter.

use gst::glib;

pub mod delta;
mod deltacaps;
pub mod framestamp;
pub mod frametally;
mod padtemplates;
pub mod rtpdelta;
pub mod stampcode;

mod deltadec;
mod deltaenc;
mod framemeter;
pub mod hlssegmentsink;
mod rtpdeltadepay;
mod rtpdeltapay;
pub mod segmentpackager;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    deltaenc::register(plugin)?;
    deltadec::register(plugin)?;
    rtpdeltapay::register(plugin)?;
    rtpdeltadepay::register(plugin)?;
    segmentpackager::register(plugin)?;
    hlssegmentsink::register(plugin)?;
    framestamp::register(plugin)?;
    framemeter::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    streamkit,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
