// SPDX-License-Identifier: MPL-2.0
//! One sender, many viewers: the relay's core (docs/relay.md).
//!
//! The relay receives the changes-only stream once, keeps its state in a
//! decoder, and serves any number of viewers. A viewer that joins, asks for
//! a keyframe or falls behind gets a whole picture made from that state
//! (the codec's lossless snapshot), for itself only; the others keep
//! receiving the origin's frames as they came, and the origin never hears of
//! it. Nothing here knows GStreamer, RTSP or UDP: the front end
//! (`streamkit-relay`, over gst-rtsp-server) maps its sessions to
//! [`ViewerId`]s, so another transport (QUIC, WebTransport) can reuse it.

pub mod core;
pub mod gate;

pub use self::core::{Delivery, IngestOutcome, Relay, RelayStats, ViewerId};
