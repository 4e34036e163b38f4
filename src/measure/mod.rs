// SPDX-License-Identifier: MPL-2.0
//! Measuring: the stamp code that carries a frame's number and capture time
//! in its pixels, the tally that turns arrivals into latency, loss and
//! freezes, and picture quality (PSNR); all free of GStreamer types.
//! `framestamp` and `framemeter` are the elements around the first two.

pub mod frametally;
pub mod quality;
pub mod stampcode;

#[cfg(feature = "gst")]
pub(crate) mod framemeter;
#[cfg(feature = "gst")]
pub(crate) mod framestamp;
