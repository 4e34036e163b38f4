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
//! `rtpdeltapay` / `rtpdeltadepay` are thin adapters around this module.

mod assembler;
mod packet;

pub use assembler::{
    AssembledFrame, AssemblerLimits, AssemblerStats, FrameAssembler, PacketMeta, PushOutcome,
    DEFAULT_FRAME_TIMEOUT, DEFAULT_MAX_FRAGMENT_PIECES, DEFAULT_MAX_HEIGHT,
    DEFAULT_MAX_PENDING_FRAMES, DEFAULT_MAX_WIDTH, MAX_FRAME_BYTES,
};
pub use packet::{
    packetize, DepacketizeError, FragmentHeader, PacketizeError, PayloadHeader, PayloadKind,
    FRAGMENT_HEADER_LEN, MIN_PAYLOAD_BUDGET, PAYLOAD_HEADER_LEN, PAYLOAD_VERSION,
};

#[cfg(test)]
mod tests;
