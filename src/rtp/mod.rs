// SPDX-License-Identifier: MPL-2.0
//! The RTP payload format of the delta stream, free of GStreamer types
//! (specified in `docs/rtp-payload.md`).
//!
//! [`packetize`] cuts one encoded frame into RTP payloads at tile-record
//! boundaries; every payload repeats the frame header, so each packet is
//! decodable on its own. A record larger than the budget is split into
//! fragments that the receiver reassembles or drops whole.
//! [`FrameAssembler`] is the receiving side: it collects the payloads of one
//! RTP timestamp into a frame (header + the records that arrived), tolerates
//! reordering and duplicates, and says which frames have holes. It works
//! within [`AssemblerLimits`] (frame geometry, bytes and fragment pieces per
//! frame, frames in progress, a time-out on the caller's clock), each packet
//! in O(log n), so that no sender can make it allocate or work without bound.
//! [`KeyframeRequestPacer`] keeps the receiver's keyframe requests to one
//! per interval.
//! `rtpdeltapay` / `rtpdeltadepay` are thin adapters around this module.

mod frame_assembler;
mod keyframe_pacer;
mod packet;

/// Encoding name of the format in RTP caps and SDP (`a=rtpmap`).
pub const ENCODING_NAME: &str = "X-STREAMKIT-DELTA";
/// RTP clock rate of the format: the usual video clock.
pub const CLOCK_RATE: u32 = 90_000;
/// A packet whose timestamp is this far behind the last output frame is
/// taken as a sender restart, not as late: two seconds of [`CLOCK_RATE`].
pub const RESTART_AFTER_TICKS: u32 = 2 * CLOCK_RATE;

#[cfg(feature = "gst")]
pub(crate) mod rtpdeltadepay;
#[cfg(feature = "gst")]
pub(crate) mod rtpdeltapay;

pub use frame_assembler::{
    AssembledFrame, AssemblerLimits, AssemblerStats, FrameAssembler, PacketMeta, PushOutcome,
    DEFAULT_FRAME_TIMEOUT, DEFAULT_MAX_FRAGMENT_PIECES, DEFAULT_MAX_HEIGHT,
    DEFAULT_MAX_PENDING_FRAMES, DEFAULT_MAX_WIDTH, MAX_FRAME_BYTES,
};
pub use keyframe_pacer::{KeyframeRequestPacer, DEFAULT_MIN_KEYFRAME_INTERVAL};
pub use packet::{
    packetize, DepacketizeError, FragmentHeader, PacketizeError, PayloadHeader, PayloadKind,
    FRAGMENT_HEADER_LEN, MIN_PAYLOAD_BUDGET, PAYLOAD_HEADER_LEN, PAYLOAD_VERSION,
};

#[cfg(test)]
mod tests;
