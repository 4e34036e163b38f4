// SPDX-License-Identifier: MPL-2.0
//! The changes-only codec, free of GStreamer types.
//!
//! A frame is cut into square tiles; the encoder sends a tile only when it
//! differs from what the decoder holds, each as a self-contained record (see
//! `docs/bitstream.md`). `deltaenc`/`deltadec` and the RTP payloader are thin
//! adapters around this module.

pub mod bitstream;
pub mod cache;
pub mod canvas;
pub mod coefficients;
pub mod decoder;
pub mod encoder;
pub mod entropy;
pub mod geometry;
pub mod lossy;
pub mod motion;
pub mod palette;
mod parallel;
pub mod range_coder;
pub mod samples;
pub mod tile;

#[cfg(feature = "gst")]
pub(crate) mod deltadec;
#[cfg(feature = "gst")]
pub(crate) mod deltaenc;

pub use bitstream::{BitstreamError, FrameHeader, TileCoding, TileRecord};
pub use canvas::{FrameView, FrameViewMut, ReferenceCanvas};
pub use decoder::{DecodeReport, DecoderLimits, DecoderStats, DeltaDecoder};
pub use encoder::{DeltaEncoder, EncodedFrame, EncoderConfig, EncoderStats, TileMode};
pub use geometry::{Geometry, PixelFormat};

#[cfg(test)]
mod tests;
