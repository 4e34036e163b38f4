// SPDX-License-Identifier: MPL-2.0
//! Video segments, free of GStreamer types: where a segment is cut
//! ([`cutter`]), the H.264/H.265 parameter sets every segment must carry
//! ([`paramsets`]), and the live HLS playlist ([`playlist`], with m3u8-rs).
//! `segmentpackager` and `hlssegmentsink` are the elements around them.

pub mod cutter;
pub mod paramsets;
pub mod playlist;

#[cfg(feature = "gst")]
pub(crate) mod hlssegmentsink;
#[cfg(feature = "gst")]
pub(crate) mod segmentpackager;
