// SPDX-License-Identifier: MPL-2.0
//! What one strategy run produced: the per-frame records and the summary
//! the report shows and the JSON and CSV carry.

use serde::Serialize;

/// One received frame (first arrival of its number).
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    /// Capture time, seconds since the sender started.
    pub t: f64,
    /// Stamped frame number.
    pub frame: u32,
    /// Glass-to-glass latency in milliseconds.
    pub latency_ms: f64,
    /// PSNR against the original, dB (None: original no longer kept).
    pub psnr: Option<f64>,
    /// SSIM against the original.
    pub ssim: Option<f64>,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyMs {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// What the return path did to repair loss, for a transport that has one
/// (an RTP session: RTCP NACK and PLI).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Repair {
    /// Retransmissions the receiver's jitterbuffer asked for (NACK), a
    /// repeated request for the same packet counted again.
    pub retransmissions_requested: u64,
    /// Retransmission (RTX) packets the sender sent.
    pub retransmissions_sent: u64,
    /// Packets that arrived in time thanks to a retransmission.
    pub retransmissions_recovered: u64,
    /// Packets the jitterbuffer gave up on: lost for good.
    pub packets_lost: u64,
    /// RTCP bytes the sender sent (reports), not in `bytes`.
    pub rtcp_bytes_to_receiver: u64,
    /// RTCP bytes the receiver sent (reports, NACK, PLI), not in `bytes`.
    pub rtcp_bytes_to_sender: u64,
}

/// What the MoQ elements counted, for a MoQ strategy.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MoqCounts {
    /// Frames `moqsink` published.
    pub frames_published: u64,
    /// Frames `moqsrc` gave up after its latency bound.
    pub frames_given_up: u64,
    /// Pictures it built from the relay's snapshot and frames (the join,
    /// then each repair), and tries that could not be exact.
    pub composites: u64,
    pub composite_failures: u64,
    /// Of the composites, repairs from moqsrc's own state (no snapshot
    /// from the relay).
    pub own_repairs: u64,
    /// CPU milliseconds per frame sent of the tokio runtime both ends'
    /// MoQ elements share (`streamkit-moq` threads: QUIC, TLS, moq-net),
    /// which the sender's and receiver's columns leave out. With every
    /// strategy at once, it holds every MoQ run in flight.
    pub quic_cpu_ms_per_frame: f64,
}

/// What one strategy did.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyResult {
    /// Strategy id.
    pub id: String,
    /// Strategy description.
    pub label: String,
    /// Frames framestamp stamped (and the sender encoded).
    pub frames_sent: u64,
    /// Distinct frame numbers the receiver read.
    pub frames_received: u64,
    /// `frames_sent - frames_received`: never shown to the viewer.
    pub frames_lost: u64,
    /// Frames the receiver showed again (frozen picture).
    pub frames_frozen: u64,
    /// Frames whose stamp could not be read (a damaged picture).
    pub frames_unreadable: u64,
    /// Frames received after their original was dropped from memory.
    pub frames_unmatched: u64,
    /// framemeter's count of missing numbers between first and last seen.
    pub meter_missing: u64,
    /// Glass-to-glass latency.
    pub latency_ms: LatencyMs,
    /// Longest time between two new pictures at the receiver, ms.
    pub longest_stall_ms: f64,
    /// Bytes the sender put on the network (RTP packets incl. RTP header and
    /// retransmissions, or the TCP byte stream; without UDP/IP/TCP headers
    /// and without RTCP, which `repair` counts).
    pub bytes: u64,
    /// RTP packets (UDP) or buffers handed to tcpserversink (TCP: one per
    /// segment from segmentpackager, one per TS packet from mpegtsmux).
    pub packets: u64,
    /// UDP datagrams or TCP reads that reached the receiver.
    pub packets_received: u64,
    /// `bytes` per second of content, kbit/s.
    pub bitrate_kbps: f64,
    /// Mean PSNR of received frames, dB.
    pub psnr_mean: Option<f64>,
    /// Lowest PSNR, dB.
    pub psnr_min: Option<f64>,
    /// Mean SSIM of received frames.
    pub ssim_mean: Option<f64>,
    /// Mean PSNR of frames captured in the last second (after any loss).
    pub psnr_last_second: Option<f64>,
    /// Share of frames lost if losing any packet loses the frame.
    pub expected_lost_share: Option<f64>,
    /// Sender CPU milliseconds per frame sent (encoder, payloader, network).
    pub cpu_sender_ms_per_frame: f64,
    /// Receiver CPU milliseconds per frame received (network, decoder, meter).
    pub cpu_receiver_ms_per_frame: f64,
    /// Keyframe requests (GstForceKeyUnit events) that reached the encoder:
    /// RTCP PLI in an RTP session; none where there is no return path.
    pub keyframe_requests: u64,
    /// What RTCP feedback repaired (None: the transport has no return path).
    pub repair: Option<Repair>,
    /// What the MoQ elements counted (None: not a MoQ strategy).
    pub moq: Option<MoqCounts>,
    /// What the emulated link did to the packets (None: the model).
    pub link: Option<LinkCounts>,
    /// Per-frame record, in arrival order.
    pub frames: Vec<FrameRecord>,
    /// kbit/s in each second of the run.
    pub bitrate_series: Vec<f64>,
}

/// IP packets one direction of the emulated link carried.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DirectionCounts {
    /// Packets offered to the link.
    pub offered: u64,
    /// IP bytes offered (headers included).
    pub offered_bytes: u64,
    /// Lost on the path (the loss setting).
    pub lost: u64,
    /// Dropped because the queue at the bandwidth cap was full.
    pub dropped_queue: u64,
}

impl From<linkem::LinkStats> for DirectionCounts {
    fn from(s: linkem::LinkStats) -> Self {
        DirectionCounts {
            offered: s.offered,
            offered_bytes: s.offered_bytes,
            lost: s.lost,
            dropped_queue: s.dropped_queue,
        }
    }
}

/// Both directions of the emulated link during one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkCounts {
    /// Sender to receiver: media (and RTCP sender reports, TCP data).
    pub to_receiver: DirectionCounts,
    /// Receiver to sender: RTCP feedback, TCP acknowledgements.
    pub to_sender: DirectionCounts,
    /// The TCP congestion control the sender's side used.
    pub tcp_congestion_control: String,
}
