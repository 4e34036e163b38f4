// SPDX-License-Identifier: MPL-2.0
//! Measuring: the stamp code that carries a frame's number and capture time
//! in its pixels, and the tally that turns arrivals into latency, loss and
//! freezes; both free of GStreamer types. `framestamp` and `framemeter` are
//! the elements around them.

pub mod frametally;
pub mod stampcode;

pub(crate) mod framemeter;
pub(crate) mod framestamp;
