// SPDX-License-Identifier: MPL-2.0
//! The strategies compared, as data: adding one is adding an entry to
//! [`all`]. Each entry says how to turn stamped raw video into bytes for the
//! network and back, which transport carries them, and which elements it
//! needs; an entry whose elements are not installed is listed as skipped.

/// How the encoded stream travels from sender to receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// RTP packets over UDP, through netsim (loss, delay, jitter, bandwidth).
    Udp,
    /// One TCP connection that stays open (tcpserversink / tcpclientsrc).
    Tcp,
    /// HLS over HTTP: hlssegmentsink's files served by an HTTP server on
    /// the sender's side, fetched by a live client on the receiver's side
    /// that polls the playlist (see `hls`).
    Hls,
    /// RTP over UDP as WebRTC runs it: an `rtpbin` at each end with RTCP
    /// both ways (reports, NACK, PLI), retransmission of lost packets from a
    /// separate RTX stream (RFC 4588), all through netsim (see `rtpsession`).
    RtpSession,
    /// Media over QUIC: `moqsink` publishes to a `moq-relay` on the
    /// sender's side of the link, `moqsrc` on the receiver's side
    /// subscribes across it (QUIC over UDP, encrypted; see docs/moq.md).
    /// Link only: QUIC's packets do not pass through netsim.
    Moq,
}

impl Transport {
    /// Element factories the transport's own wiring creates around the
    /// sender and receiver chains.
    pub fn elements(self) -> &'static [&'static str] {
        match self {
            Transport::Udp => &["netsim", "udpsink", "udpsrc"],
            Transport::Tcp => &["tcpserversink", "tcpclientsrc"],
            Transport::Hls => &["hlssegmentsink", "appsrc"],
            Transport::RtpSession => &[
                "netsim",
                "udpsink",
                "udpsrc",
                "rtpbin",
                "rtprtxsend",
                "rtprtxreceive",
            ],
            Transport::Moq => &["moqsink", "moqsrc"],
        }
    }

    /// Whether packets travel as UDP datagrams through netsim (else as a
    /// TCP byte stream).
    pub fn is_udp(self) -> bool {
        matches!(self, Transport::Udp | Transport::RtpSession)
    }

    /// Whether the transport needs the link (`--network link`): the model
    /// has no path for it.
    pub fn needs_link(self) -> bool {
        matches!(self, Transport::Hls | Transport::Moq)
    }
}

/// Encoder settings shared by all strategies.
#[derive(Debug, Clone)]
pub struct CodecOptions {
    /// jpegenc quality (1..100).
    pub jpeg_quality: u32,
    /// x264enc target bitrate in kbit/s.
    pub h264_kbps: u32,
    /// Frames per segment for the segment strategy (also the H.264 GOP).
    pub segment_frames: u32,
    /// Intra-refresh period of the changes-only codec, in frames; also the
    /// keyframe interval of H.264 over RTP, so that both heal from loss
    /// within the same period when no request gets through.
    pub delta_refresh: u32,
    /// deltaenc tile coding: `lossless` or `lossy`.
    pub delta_mode: String,
    /// deltaenc quality for lossy tiles.
    pub delta_quality: u32,
    /// deltaenc change threshold (0: any change is sent).
    pub delta_threshold: u32,
}

/// The command line's defaults (`streamkit-compare --help`).
impl Default for CodecOptions {
    fn default() -> Self {
        CodecOptions {
            jpeg_quality: 75,
            h264_kbps: 2000,
            segment_frames: 10,
            delta_refresh: 30,
            delta_mode: "lossless".into(),
            delta_quality: 75,
            delta_threshold: 0,
        }
    }
}

impl CodecOptions {
    fn deltaenc(&self) -> String {
        format!(
            "deltaenc mode={} quality={} threshold={}",
            self.delta_mode, self.delta_quality, self.delta_threshold
        )
    }
}

/// One way of streaming.
#[derive(Clone, Copy)]
pub struct Strategy {
    /// Short name, used on the command line and in reports.
    pub id: &'static str,
    /// What it is, for people.
    pub label: &'static str,
    /// The transport it runs over.
    pub transport: Transport,
    /// Element factories its sender and receiver chains create (checked
    /// before running, with those of its transport).
    pub needs: &'static [&'static str],
    /// Sender chain from raw I420 to what goes on the network.
    pub sender: fn(&CodecOptions) -> String,
    /// Receiver chain from the network source to raw video.
    pub receiver: fn(&CodecOptions) -> String,
    /// For RTP: the depayloader whose sink template gives the udpsrc caps.
    pub depayloader: Option<&'static str>,
    /// Losing any one packet of a frame loses the whole frame.
    pub frame_needs_all_packets: bool,
    /// MoQ: how long `moqsrc` holds a frame behind a missing one (its
    /// `latency`); `None`: the default, [`crate::pipeline::MOQ_LATENCY`]
    /// (and nothing to say for the other transports).
    pub moq_wait: Option<std::time::Duration>,
}

/// What the segment strategies' chains create.
const SEGMENT_ELEMENTS: &[&str] = &[
    "x264enc",
    "h264parse",
    "segmentpackager",
    "tsdemux",
    "avdec_h264",
];

/// H.264 cut into self-contained segments of `segment_frames` frames, each
/// starting with a keyframe.
fn segments_sender(o: &CodecOptions) -> String {
    format!(
        "x264enc tune=zerolatency speed-preset=veryfast bitrate={} key-int-max={} \
         ! h264parse config-interval=-1 ! segmentpackager frames-per-segment={}",
        o.h264_kbps, o.segment_frames, o.segment_frames
    )
}

/// What [`segments_sender`] makes, back to raw video.
fn segments_receiver(_: &CodecOptions) -> String {
    "tsdemux ! h264parse ! avdec_h264".into()
}

/// The changes-only codec with intra-refresh, payloaded.
fn delta_sender(o: &CodecOptions) -> String {
    format!(
        "{} intra-refresh={} ! rtpdeltapay",
        o.deltaenc(),
        o.delta_refresh
    )
}

/// The changes-only stream over MoQ, waiting for retransmissions.
const DELTA_MOQ: Strategy = Strategy {
    id: "delta-moq",
    label: "changes only over QUIC: deltaenc, Media over QUIC through moq-relay (a stream per frame; the join from the relay's cache, repairs from the viewer's own state)",
    transport: Transport::Moq,
    needs: &["deltaenc", "deltadec"],
    // No intra-refresh: a viewer that lost a frame rebuilds its
    // picture from its own state and the relay's cached frames.
    sender: |o| format!("{} intra-refresh=0", o.deltaenc()),
    receiver: |_| "deltadec".into(),
    depayloader: None,
    frame_needs_all_packets: false,
    moq_wait: None,
};

/// Every strategy, in report order.
pub fn all() -> Vec<Strategy> {
    vec![
        Strategy {
            id: "mjpeg",
            label: "full frame: MJPEG, RTP/UDP",
            transport: Transport::Udp,
            needs: &["jpegenc", "rtpjpegpay", "rtpjpegdepay", "jpegdec"],
            sender: |o| format!("jpegenc quality={} ! rtpjpegpay", o.jpeg_quality),
            receiver: |_| "rtpjpegdepay ! jpegdec".into(),
            depayloader: Some("rtpjpegdepay"),
            frame_needs_all_packets: true,
            moq_wait: None,
        },
        Strategy {
            id: "delta-intra",
            label: "full frame: deltaenc every frame a keyframe, RTP/UDP",
            transport: Transport::Udp,
            needs: &["deltaenc", "deltadec", "rtpdeltapay", "rtpdeltadepay"],
            sender: |o| format!("{} key-int-max=1 ! rtpdeltapay", o.deltaenc()),
            receiver: |_| "rtpdeltadepay ! deltadec".into(),
            depayloader: Some("rtpdeltadepay"),
            frame_needs_all_packets: false,
            moq_wait: None,
        },
        Strategy {
            id: "segments",
            label: "video segments: H.264 in MPEG-TS, TCP",
            transport: Transport::Tcp,
            needs: SEGMENT_ELEMENTS,
            sender: segments_sender,
            receiver: segments_receiver,
            depayloader: None,
            frame_needs_all_packets: false,
            moq_wait: None,
        },
        Strategy {
            id: "hls",
            label: "video segments: H.264 in MPEG-TS, HLS over HTTP (playlist polled per RFC 8216)",
            transport: Transport::Hls,
            needs: SEGMENT_ELEMENTS,
            sender: segments_sender,
            receiver: segments_receiver,
            depayloader: None,
            frame_needs_all_packets: false,
            moq_wait: None,
        },
        Strategy {
            id: "delta",
            label: "changes only: deltaenc with intra-refresh, RTP/UDP",
            transport: Transport::Udp,
            needs: &["deltaenc", "deltadec", "rtpdeltapay", "rtpdeltadepay"],
            sender: delta_sender,
            receiver: |_| "rtpdeltadepay ! deltadec".into(),
            depayloader: Some("rtpdeltadepay"),
            frame_needs_all_packets: false,
            moq_wait: None,
        },
        Strategy {
            id: "delta-rtx",
            label: "changes only, repaired: deltaenc with intra-refresh, RTP session with NACK/RTX and PLI",
            transport: Transport::RtpSession,
            needs: &["deltaenc", "deltadec", "rtpdeltapay", "rtpdeltadepay"],
            sender: delta_sender,
            receiver: |_| "rtpdeltadepay ! deltadec".into(),
            depayloader: Some("rtpdeltadepay"),
            frame_needs_all_packets: false,
            moq_wait: None,
        },
        DELTA_MOQ,
        Strategy {
            id: "delta-moq-eager",
            label: "changes only over QUIC, not waiting: as delta-moq, but moqsrc holds no frame behind a lost one (5 ms); the picture is repaired from the viewer's own state when the lost frame arrives",
            moq_wait: Some(std::time::Duration::from_millis(5)),
            ..DELTA_MOQ
        },
        Strategy {
            id: "h264-moq",
            label: "H.264 over QUIC: x264 zerolatency, Media over QUIC through moq-relay (a stream per GOP)",
            transport: Transport::Moq,
            needs: &["x264enc", "h264parse", "avdec_h264"],
            // As h264-rtp's encoder; a group of pictures is a QUIC stream,
            // so the GOP is the refresh period here too.
            sender: |o| {
                format!(
                    "x264enc tune=zerolatency speed-preset=ultrafast bframes=0 \
                     bitrate={} key-int-max={} ! h264parse config-interval=-1",
                    o.h264_kbps, o.delta_refresh
                )
            },
            receiver: |_| "h264parse ! avdec_h264".into(),
            depayloader: None,
            frame_needs_all_packets: false,
            moq_wait: None,
        },
        Strategy {
            id: "h264-rtp",
            label: "H.264 over RTP, WebRTC style: x264 zerolatency, NACK/RTX, RTCP PLI",
            transport: Transport::RtpSession,
            needs: &[
                "x264enc",
                "rtph264pay",
                "rtph264depay",
                "h264parse",
                "avdec_h264",
            ],
            // What a WebRTC sender does with x264: no lookahead and no
            // B-frames (tune=zerolatency, bframes=0), the fastest preset, rate
            // control at a target bitrate (congestion control would set it;
            // here --h264-kbps, as for segments). A short GOP rather than
            // intra-refresh: an RTCP PLI then gets an IDR at once, while x264's
            // intra-refresh starts the requested refresh only after the wave
            // in progress (measured: a GstForceKeyUnit in mid-wave gave no
            // keyframe for the next 15 frames), so with intra-refresh a PLI
            // would heal no sooner than waiting. The GOP is the changes-only
            // stream's refresh period, so that without a return path both
            // heal within the same time; the price is a keyframe spike per
            // GOP, which the bitrate plot shows. config-interval=-1 puts SPS
            // and PPS in front of every IDR (a receiver needs them after a
            // PLI); aggregate-mode=zero-latency packs them with the IDR into
            // STAP-A packets without waiting for more NAL units.
            sender: |o| {
                format!(
                    "x264enc tune=zerolatency speed-preset=ultrafast bframes=0 \
                     bitrate={} key-int-max={} \
                     ! rtph264pay config-interval=-1 aggregate-mode=zero-latency",
                    o.h264_kbps, o.delta_refresh
                )
            },
            // request-keyframe: a packet the jitterbuffer gave up on (after
            // its retransmission requests) becomes a GstForceKeyUnit upstream,
            // which rtpbin sends as RTCP PLI. wait-for-keyframe: as WebRTC
            // receivers do, show nothing broken after such a loss but hold the
            // last picture until the keyframe comes.
            receiver: |_| {
                "rtph264depay request-keyframe=true wait-for-keyframe=true \
                 ! h264parse ! avdec_h264"
                    .into()
            },
            depayloader: Some("rtph264depay"),
            frame_needs_all_packets: false,
            moq_wait: None,
        },
    ]
}

impl Strategy {
    /// The elements this strategy and its transport need that are not
    /// installed.
    pub fn missing(&self) -> Vec<&'static str> {
        self.needs
            .iter()
            .chain(self.transport.elements())
            .copied()
            .filter(|n| gst::ElementFactory::find(n).is_none())
            .collect()
    }

    /// Caps for udpsrc: the depayloader's sink template, fixated (media,
    /// clock-rate and encoding name as the depayloader expects them).
    pub fn rtp_caps(&self) -> Option<gst::Caps> {
        let factory = gst::ElementFactory::find(self.depayloader?)?;
        let template = factory
            .static_pad_templates()
            .into_iter()
            .find(|t| t.direction() == gst::PadDirection::Sink)?;
        let caps = template.caps();
        let first = caps.structure(0)?.to_owned();
        let mut caps = gst::Caps::builder_full().structure(first).build();
        caps.fixate();
        Some(caps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `needs` is what the chains really create: every element named in a
    /// sender or receiver chain is listed, and nothing else.
    #[test]
    fn needs_lists_exactly_the_elements_of_the_chains() {
        let o = CodecOptions::default();
        for s in all() {
            let chains = format!("{} ! {}", (s.sender)(&o), (s.receiver)(&o));
            let mut named: Vec<&str> = chains
                .split('!')
                .filter_map(|part| part.split_whitespace().next())
                .collect();
            named.sort_unstable();
            named.dedup();
            let mut needs = s.needs.to_vec();
            needs.sort_unstable();
            assert_eq!(named, needs, "{}", s.id);
            if let Some(depay) = s.depayloader {
                assert!(s.needs.contains(&depay), "{}", s.id);
            }
        }
    }
}
