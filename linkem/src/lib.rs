//! Streamkit's link emulator (issue 12): what one direction of a network
//! link does to the packets offered to it. This first part is the pure
//! model — no sockets, no clock: times are passed in — so that it is
//! unit-tested and its statistics checked; the forwarder that runs it
//! between two network namespaces joined by TUN devices comes next.

pub mod model;

pub use model::{
    ConfigError, DropReason, Fate, GilbertElliott, Impairments, LinkDirection, LinkStats,
};
