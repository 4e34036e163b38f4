// SPDX-License-Identifier: MPL-2.0
//! Media over QUIC: the changes-only stream and H.264 published to, and
//! subscribed from, a MoQ relay (`moq-relay`, moq-lite through `moq-net`).
//! docs/moq.md is the mapping, written for a third party to implement.
//!
//! The pure core: [`object`] (the object header), [`catalog`] (what a
//! broadcast holds), [`sequencer`] (groups back in order within the latency
//! bound), [`snapshot`] (the origin's snapshots and a joiner's composite).
//! Then the network, free of GStreamer but not of tokio: [`runtime`] (the
//! one tokio runtime the elements share), [`client`] (a relay connection
//! from a URL and a certificate fingerprint), [`publisher`] and
//! [`subscriber`] (the tracks of one broadcast). The elements: `moqsink`,
//! `moqsrc`.

pub mod catalog;
pub mod object;
pub mod sequencer;
pub mod snapshot;

#[cfg(feature = "gst")]
pub mod client;
#[cfg(feature = "gst")]
pub mod publisher;
#[cfg(feature = "gst")]
pub mod runtime;
#[cfg(feature = "gst")]
pub mod subscriber;

#[cfg(feature = "gst")]
pub mod moqsink;
#[cfg(feature = "gst")]
pub mod moqsrc;

/// The catalog's track.
pub const CATALOG_TRACK: &str = "catalog.json";
/// The frames' track.
pub const FRAMES_TRACK: &str = "frames";
/// The changes-only stream's snapshot track.
pub const SNAPSHOT_TRACK: &str = "snapshot";
