//! The RTP payload format of the delta stream, free of GStreamer types
//! (specified in `docs/rtp-payload.md`).
//!
//! [`packetize`] cuts one encoded frame into RTP payloads at tile-record
//! boundaries; every payload repeats the frame header, so each packet is
//! decodable on its own. A record larger than the budget is split into
//! fragments that the receiver reassembles or drops whole.
//! [`FrameAssembler`] is the receiving side: it collects the payloads of one
//! RTP timestamp into a frame (header + the records that arrived), tolerates
//! reordering and duplicates, and says which frames have holes.
//! `rtpdeltapay` / `rtpdeltadepay` are thin adapters around this module.

mod assembler;
mod packet;

pub use assembler::{AssembledFrame, AssemblerStats, FrameAssembler, PacketMeta, PushOutcome};
pub use packet::{
    packetize, DepacketizeError, FragmentHeader, PacketizeError, PayloadHeader, PayloadKind,
    FRAGMENT_HEADER_LEN, MIN_PAYLOAD_BUDGET, PAYLOAD_HEADER_LEN, PAYLOAD_VERSION,
};

#[cfg(test)]
mod tests;
