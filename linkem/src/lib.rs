// SPDX-License-Identifier: MPL-2.0
//! Streamkit's link emulator (issue 12): two network namespaces of this
//! process's own, joined through TUN devices by a userspace forwarder that
//! applies, per direction, random and bursty loss, delay and jitter,
//! reordering, duplication and a bandwidth cap with a bounded queue.
//!
//! - [`model`]: what one direction does to each packet offered to it. Pure:
//!   no sockets, no clock (times are passed in), seeded randomness; unit
//!   tested, its statistics checked.
//! - [`netns`]: anonymous network namespaces, held by a handle, gone with
//!   it (or with the process, however it ends).
//! - [`link`]: the two namespaces, their devices and the forwarder thread.
//! - [`probe`]: timestamped UDP probes that measure a link from outside.
//!
//! The `streamkit-linkem` program runs commands on either side of a link
//! (docs/linkem.md).

pub mod link;
pub mod model;
pub mod netns;
pub mod probe;

pub use link::{
    Direction, ForwarderStats, Link, LinkConfig, LinkError, ADDR_A, ADDR_B, DEVICE, MTU,
};
pub use model::{
    ConfigError, DropReason, Fate, GilbertElliott, Impairments, LinkDirection, LinkStats,
};
pub use netns::Namespace;
