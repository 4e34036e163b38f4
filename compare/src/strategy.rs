// SPDX-License-Identifier: MPL-2.0
//! The strategies compared, as data: adding one is adding an entry to
//! [`all`]. Each entry says how to turn stamped raw video into bytes for the
//! network and back, which transport carries them, and which elements it
//! needs; an entry whose elements are not built yet is listed as skipped.

/// How the encoded stream travels from sender to receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// RTP packets over UDP, through netsim (loss, delay, jitter, bandwidth).
    Udp,
    /// One TCP connection that stays open (tcpserversink / tcpclientsrc).
    Tcp,
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
    /// Intra-refresh period of the changes-only codec, in frames.
    pub delta_refresh: u32,
    /// deltaenc tile coding: `lossless` or `lossy`.
    pub delta_mode: String,
    /// deltaenc quality for lossy tiles.
    pub delta_quality: u32,
    /// deltaenc change threshold (0: any change is sent).
    pub delta_threshold: u32,
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
pub struct Strategy {
    /// Short name, used on the command line and in reports.
    pub id: &'static str,
    /// What it is, for people.
    pub label: &'static str,
    /// The transport it runs over.
    pub transport: Transport,
    /// Element factories it needs (checked before running).
    pub needs: &'static [&'static str],
    /// Sender chain from raw I420 to what goes on the network.
    pub sender: fn(&CodecOptions, &Available) -> String,
    /// Receiver chain from the network source to raw video.
    pub receiver: fn(&CodecOptions, &Available) -> String,
    /// For RTP: the depayloader whose sink template gives the udpsrc caps.
    pub depayloader: fn(&Available) -> Option<&'static str>,
    /// What this run uses instead of a missing element, if anything.
    pub stand_in: fn(&Available) -> Option<&'static str>,
    /// Losing any one packet of a frame loses the whole frame.
    pub frame_needs_all_packets: bool,
}

/// Which optional elements exist in this GStreamer installation.
#[derive(Debug, Clone, Copy)]
pub struct Available {
    /// `segmentpackager` is built (else segments fall back to a plain TS stream).
    pub segmentpackager: bool,
    /// `rtpdeltapay` and `rtpdeltadepay` are built (else deltaenc's output
    /// travels in GStreamer's generic RTP payload).
    pub rtpdelta: bool,
}

impl Available {
    /// Looks the optional elements up in the registry.
    pub fn probe() -> Self {
        Self {
            segmentpackager: gst::ElementFactory::find("segmentpackager").is_some(),
            rtpdelta: gst::ElementFactory::find("rtpdeltapay").is_some()
                && gst::ElementFactory::find("rtpdeltadepay").is_some(),
        }
    }
}

/// Every strategy, in report order.
pub fn all() -> Vec<Strategy> {
    vec![
        Strategy {
            id: "mjpeg",
            label: "full frame: MJPEG, RTP/UDP",
            transport: Transport::Udp,
            needs: &["jpegenc", "rtpjpegpay", "rtpjpegdepay", "jpegdec"],
            sender: |o, _| format!("jpegenc quality={} ! rtpjpegpay", o.jpeg_quality),
            receiver: |_, _| "rtpjpegdepay ! jpegdec".into(),
            depayloader: |_| Some("rtpjpegdepay"),
            stand_in: |_| None,
            frame_needs_all_packets: true,
        },
        Strategy {
            id: "delta-intra",
            label: "full frame: deltaenc every frame a keyframe, RTP/UDP",
            transport: Transport::Udp,
            needs: &["deltaenc", "deltadec", "rtpgstpay", "rtpgstdepay"],
            sender: |o, a| format!("{} key-int-max=1 ! {}", o.deltaenc(), delta_pay(a)),
            receiver: |_, a| format!("{} ! deltadec", delta_depay(a)),
            depayloader: |a| Some(delta_depayloader(a)),
            stand_in: delta_stand_in,
            frame_needs_all_packets: false,
        },
        Strategy {
            id: "segments",
            label: "video segments: H.264 in MPEG-TS, TCP",
            transport: Transport::Tcp,
            needs: &["x264enc", "h264parse", "mpegtsmux", "tsdemux", "avdec_h264"],
            sender: |o, a| {
                let encode = format!(
                    "x264enc tune=zerolatency speed-preset=veryfast bitrate={} key-int-max={} \
                     ! h264parse config-interval=-1",
                    o.h264_kbps, o.segment_frames
                );
                if a.segmentpackager {
                    format!(
                        "{encode} ! segmentpackager frames-per-segment={}",
                        o.segment_frames
                    )
                } else {
                    // Until segmentpackager lands: the same H.264 as a plain
                    // TS stream, without the wait for a whole segment.
                    format!("{encode} ! mpegtsmux")
                }
            },
            receiver: |_, _| "tsdemux ! h264parse ! avdec_h264".into(),
            depayloader: |_| None,
            stand_in: |a| {
                (!a.segmentpackager)
                    .then_some("segmentpackager not built: a plain TS stream, no segment wait")
            },
            frame_needs_all_packets: false,
        },
        Strategy {
            id: "delta",
            label: "changes only: deltaenc with intra-refresh, RTP/UDP",
            transport: Transport::Udp,
            needs: &["deltaenc", "deltadec", "rtpgstpay", "rtpgstdepay"],
            sender: |o, a| {
                format!(
                    "{} intra-refresh={} ! {}",
                    o.deltaenc(),
                    o.delta_refresh,
                    delta_pay(a)
                )
            },
            receiver: |_, a| format!("{} ! deltadec", delta_depay(a)),
            depayloader: |a| Some(delta_depayloader(a)),
            stand_in: delta_stand_in,
            frame_needs_all_packets: false,
        },
    ]
}

fn delta_pay(a: &Available) -> &'static str {
    if a.rtpdelta {
        "rtpdeltapay"
    } else {
        // caps in band every second, so a receiver that lost the first
        // packet still learns them
        "rtpgstpay config-interval=1"
    }
}

fn delta_depay(a: &Available) -> &'static str {
    if a.rtpdelta {
        "rtpdeltadepay"
    } else {
        "rtpgstdepay"
    }
}

fn delta_depayloader(a: &Available) -> &'static str {
    delta_depay(a)
}

fn delta_stand_in(a: &Available) -> Option<&'static str> {
    (!a.rtpdelta).then_some(
        "rtpdeltapay not built: generic rtpgstpay, where a lost packet loses the frame's whole update",
    )
}

impl Strategy {
    /// The elements this strategy needs that are not installed.
    pub fn missing(&self) -> Vec<&'static str> {
        self.needs
            .iter()
            .copied()
            .filter(|n| gst::ElementFactory::find(n).is_none())
            .collect()
    }

    /// Caps for udpsrc: the depayloader's sink template, fixated (media,
    /// clock-rate and encoding name as the depayloader expects them).
    pub fn rtp_caps(&self, available: &Available) -> Option<gst::Caps> {
        let factory = gst::ElementFactory::find((self.depayloader)(available)?)?;
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
