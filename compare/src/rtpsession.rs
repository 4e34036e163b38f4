// SPDX-License-Identifier: MPL-2.0
//! The RTP session transport (`Transport::RtpSession`): RTP as a WebRTC
//! peer runs it, between two `rtpbin`s (over 127.0.0.1, or across the link).
//!
//! ```text
//! sender:   chain ! rtpbin[rtprtxsend ! session] ! netsim ! udpsink      RTP + RTX  -> rtp port
//!                   rtpbin.send_rtcp_src         ! netsim ! udpsink      SR         -> rtcp_to_receiver
//!           udpsrc ! rtpbin.recv_rtcp_sink                              RR, NACK, PLI <- rtcp_to_sender
//! receiver: udpsrc ! rtpbin[session ! rtprtxreceive ! jitterbuffer] ! queue ! chain
//!           udpsrc ! rtpbin.recv_rtcp_sink                              SR
//!                   rtpbin.send_rtcp_src         ! netsim ! udpsink      RR, NACK, PLI
//! ```
//!
//! Retransmissions (RFC 4588) travel as their own SSRC and payload type
//! on the media's port (SSRC multiplexing, as WebRTC does), so they go
//! through the same netsim, are lost and delayed like any packet, and are
//! counted in the bitrate. RTCP goes through netsim in both directions
//! too, with the same loss, delay and jitter (no bandwidth cap of its own:
//! a few hundred bytes a second): a repair takes a real round trip, and a
//! NACK or a PLI can be lost like anything else on the path.
//!
//! `rtpbin` only asks for its retransmission elements (`request-aux-sender`
//! / `request-aux-receiver`) when its pads are first requested, so the
//! launch lines leave those links open and [`RtpSessionEnds::wire`] makes
//! them once the handlers are connected.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use benchkit::pipeline::by_name;
use gst::prelude::*;

use crate::config::Hosts;
use crate::result::Repair;

/// Payload type of the media: every payloader here uses its default, 96.
const MEDIA_PT: u32 = 96;
/// Payload type of the retransmission stream.
const RTX_PT: u32 = 97;
/// How long the receiver's jitterbuffer waits for a missing packet before
/// declaring it lost, beyond the path's round trip, ms. A WebRTC receiver
/// showing screen content waits about one round trip for a retransmission
/// it asked for, not more: see [`jitterbuffer_ms`].
const JITTERBUFFER_BASE_MS: u32 = 50;

/// The receiver's jitterbuffer latency on a path with `rtt_ms` of round
/// trip (its largest, jitter included): room for one retransmission.
pub fn jitterbuffer_ms(rtt_ms: u32) -> u32 {
    JITTERBUFFER_BASE_MS + rtt_ms
}
/// How much the sender keeps for retransmission, ms: far more than a
/// request can arrive late with this jitterbuffer latency.
const RTX_HISTORY_MS: u32 = 1000;

/// The three loopback ports one session uses.
#[derive(Debug, Clone, Copy)]
pub struct SessionPorts {
    /// RTP and RTX, sender to receiver.
    pub rtp: u16,
    /// RTCP sender reports, sender to receiver.
    pub rtcp_to_receiver: u16,
    /// RTCP receiver reports and feedback (NACK, PLI), receiver to sender.
    pub rtcp_to_sender: u16,
}

impl SessionPorts {
    /// Three different ports free on 127.0.0.1 now, released for the
    /// pipelines to bind.
    pub fn free() -> Result<Self> {
        let ports = benchkit::ports::free_udp_ports(3)?;
        Ok(Self {
            rtp: ports[0],
            rtcp_to_receiver: ports[1],
            rtcp_to_sender: ports[2],
        })
    }
}

/// The sender's network elements, after its chain in the launch line
/// (elements named `{tx}*`; `rtp_netsim` is the netsim of the media path,
/// `rtcp_netsim` one without a bandwidth cap).
pub fn sender_launch(
    tx: &str,
    hosts: &Hosts,
    ports: SessionPorts,
    rtp_netsim: &str,
    rtcp_netsim: &str,
) -> String {
    format!(
        "{rtp_netsim} ! udpsink name={tx}out host={rx_host} port={rtp} sync=false async=false \
         {rtcp_netsim} ! udpsink name={tx}rtcpout host={rx_host} port={to_rx} sync=false async=false \
         udpsrc name={tx}rtcpin address={tx_host} port={to_tx}",
        rx_host = hosts.receiver,
        tx_host = hosts.sender,
        rtp = ports.rtp,
        to_rx = ports.rtcp_to_receiver,
        to_tx = ports.rtcp_to_sender,
    )
}

/// The receiver's network elements, before its chain in the launch line,
/// which starts with the queue named `{rx}q` (elements named `{rx}*`).
pub fn receiver_launch(
    rx: &str,
    hosts: &Hosts,
    ports: SessionPorts,
    caps: &gst::Caps,
    rtcp_netsim: &str,
) -> String {
    format!(
        "udpsrc name={rx}src address={rx_host} port={rtp} buffer-size=8388608 caps=\"{caps}\" \
         udpsrc name={rx}rtcpin address={rx_host} port={to_rx} \
         {rtcp_netsim} ! udpsink name={rx}rtcpout host={tx_host} port={to_tx} sync=false async=false \
         queue name={rx}q max-size-buffers=0 max-size-bytes=0 max-size-time=0",
        caps = media_caps(caps),
        rx_host = hosts.receiver,
        tx_host = hosts.sender,
        rtp = ports.rtp,
        to_rx = ports.rtcp_to_receiver,
        to_tx = ports.rtcp_to_sender,
    )
}

/// The media's RTP caps (`caps`: the depayloader's, fixated) with what the
/// receiver's rtpbin needs to send feedback: generic NACK and PLI (SDP
/// `a=rtcp-fb:96 nack` and `a=rtcp-fb:96 nack pli`).
fn media_caps(caps: &gst::Caps) -> gst::Caps {
    let mut caps = caps.clone();
    if let Some(s) = caps.make_mut().structure_mut(0) {
        s.set("payload", MEDIA_PT as i32);
        s.set("rtcp-fb-nack", true);
        s.set("rtcp-fb-nack-pli", true);
    }
    caps
}

/// `96 -> 97`, as rtprtxsend and rtprtxreceive take it.
fn rtx_payload_map() -> gst::Structure {
    gst::Structure::builder("application/x-rtp-pt-map")
        .field(MEDIA_PT.to_string(), RTX_PT)
        .build()
}

/// `element` in a bin whose pads are named as rtpbin wants an auxiliary
/// element's: `sink_0` and `src_0` for session 0.
fn aux_bin(name: &str, element: &gst::Element) -> Result<gst::Element> {
    let bin = gst::Bin::builder().name(name).build();
    bin.add(element)?;
    for (inner, outer) in [("sink", "sink_0"), ("src", "src_0")] {
        let target = element
            .static_pad(inner)
            .with_context(|| format!("{} has no {inner} pad", element.name()))?;
        let ghost = gst::GhostPad::builder_with_target(&target)?
            .name(outer)
            .build();
        bin.add_pad(&ghost)?;
    }
    Ok(bin.upcast())
}

/// Tells session 0 of `rtpbin` the media's bitrate. RTCP gets 5% of it
/// (RFC 3550), and with AVPF that budget is also what spaces feedback: an
/// early packet (a NACK, a PLI) may follow another only a regular report
/// interval later (RFC 4585, 3.5.2). A receiver that sends no media
/// otherwise assumes 64 kbit/s, and early feedback was then refused for
/// several hundred ms after each NACK (seen with 5% loss: NACKs held for
/// the next regular report expired there), far beyond the jitterbuffer's
/// wait.
fn set_session_bandwidth(rtpbin: &gst::Element, kbps: u32) {
    let session = rtpbin.emit_by_name::<gst::glib::Object>("get-internal-session", &[&0u32]);
    session.set_property("bandwidth", f64::from(kbps) * 1000.0);
}

/// Counts the bytes handed to the element `name` of `p` (a netsim: what
/// goes on the network, before any loss).
fn count_bytes_into(p: &gst::Pipeline, name: &str) -> Result<Arc<AtomicU64>> {
    let bytes = Arc::new(AtomicU64::new(0));
    let counted = bytes.clone();
    static_pad(&by_name(p, name)?, "sink")?.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(b) = info.buffer() {
            counted.fetch_add(b.size() as u64, Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
    Ok(bytes)
}

/// Leaves the RTCP sink `name` of `p` out of the pipeline's end of
/// stream, which is then the media's alone. After the sender's last packet
/// rtpbin sends its BYE but does not always pass end of stream on to its
/// RTCP pad (3 runs in 25 here, GStreamer 1.22), and the run
/// then waited out the 10 s drain deadline for a sink that never finishes.
fn rtcp_takes_no_part_in_eos(p: &gst::Pipeline, name: &str) -> Result<()> {
    by_name(p, name)?.unset_element_flags(gst::ElementFlags::SINK);
    Ok(())
}

fn link(src: &gst::Pad, sink: &gst::Pad) -> Result<()> {
    src.link(sink)
        .map(|_| ())
        .map_err(|e| anyhow!("cannot link {} to {}: {e:?}", src.name(), sink.name()))
}

fn request(element: &gst::Element, name: &str) -> Result<gst::Pad> {
    element
        .request_pad_simple(name)
        .with_context(|| format!("{} gives no pad {name}", element.name()))
}

fn static_pad(element: &gst::Element, name: &str) -> Result<gst::Pad> {
    element
        .static_pad(name)
        .with_context(|| format!("{} has no pad {name}", element.name()))
}

/// Both ends of one session, wired: what is kept to read the repair
/// counters at the end of the run.
pub struct RtpSessionEnds {
    rtx_send: gst::Element,
    jitterbuffers: Arc<Mutex<Vec<gst::Element>>>,
    rtcp_to_receiver: Arc<AtomicU64>,
    rtcp_to_sender: Arc<AtomicU64>,
}

impl RtpSessionEnds {
    /// Adds an rtpbin to each pipeline and links it: in `sender` between
    /// `chain_end` (the payloader) and the elements of [`sender_launch`];
    /// in `receiver` between those of [`receiver_launch`] and the queue
    /// before its chain. `kbps` is the media's bitrate, the session
    /// bandwidth (SDP `b=AS`) from which rtpbin budgets RTCP; `latency_ms`
    /// the receiver's jitterbuffer latency.
    #[allow(clippy::too_many_arguments)]
    pub fn wire(
        sender: &gst::Pipeline,
        tx: &str,
        chain_end: &gst::Element,
        receiver: &gst::Pipeline,
        rx: &str,
        caps: &gst::Caps,
        kbps: u32,
        latency_ms: u32,
    ) -> Result<Self> {
        let rtx_send = Self::wire_sender(sender, tx, chain_end, kbps)?;
        let jitterbuffers = Self::wire_receiver(receiver, rx, caps, kbps, latency_ms)?;
        Ok(Self {
            rtx_send,
            jitterbuffers,
            rtcp_to_receiver: count_bytes_into(sender, &format!("{tx}rtcpnet"))?,
            rtcp_to_sender: count_bytes_into(receiver, &format!("{rx}rtcpnet"))?,
        })
    }

    fn wire_sender(
        sender: &gst::Pipeline,
        tx: &str,
        chain_end: &gst::Element,
        kbps: u32,
    ) -> Result<gst::Element> {
        let rtx_send = gst::ElementFactory::make("rtprtxsend")
            .name(format!("{tx}rtx"))
            .property("payload-type-map", rtx_payload_map())
            .property("max-size-time", RTX_HISTORY_MS)
            .property("max-size-packets", 0u32)
            .build()
            .context("cannot create rtprtxsend")?;
        // AVPF: feedback (NACK, PLI) may leave at once rather than with the
        // next regular report.
        let rtpbin = gst::ElementFactory::make("rtpbin")
            .name(format!("{tx}rtpbin"))
            .property_from_str("rtp-profile", "avpf")
            .build()
            .context("cannot create rtpbin")?;
        let aux = aux_bin(&format!("{tx}rtxbin"), &rtx_send)?;
        rtpbin.connect("request-aux-sender", false, move |args| {
            let session = args.get(1).and_then(|v| v.get::<u32>().ok());
            (session == Some(0)).then(|| aux.to_value())
        });
        sender.add(&rtpbin)?;

        link(
            &static_pad(chain_end, "src")?,
            &request(&rtpbin, "send_rtp_sink_0")?,
        )?;
        link(
            &static_pad(&rtpbin, "send_rtp_src_0")?,
            &static_pad(&by_name(sender, &format!("{tx}net"))?, "sink")?,
        )?;
        link(
            &request(&rtpbin, "send_rtcp_src_0")?,
            &static_pad(&by_name(sender, &format!("{tx}rtcpnet"))?, "sink")?,
        )?;
        link(
            &static_pad(&by_name(sender, &format!("{tx}rtcpin"))?, "src")?,
            &request(&rtpbin, "recv_rtcp_sink_0")?,
        )?;
        set_session_bandwidth(&rtpbin, kbps);
        rtcp_takes_no_part_in_eos(sender, &format!("{tx}rtcpout"))?;
        Ok(rtx_send)
    }

    fn wire_receiver(
        receiver: &gst::Pipeline,
        rx: &str,
        caps: &gst::Caps,
        kbps: u32,
        latency_ms: u32,
    ) -> Result<Arc<Mutex<Vec<gst::Element>>>> {
        let rtx_receive = gst::ElementFactory::make("rtprtxreceive")
            .name(format!("{rx}rtx"))
            .property("payload-type-map", rtx_payload_map())
            .build()
            .context("cannot create rtprtxreceive")?;
        // do-lost: a packet given up on becomes a lost event, which makes
        // the depayloader ask for a keyframe.
        let rtpbin = gst::ElementFactory::make("rtpbin")
            .name(format!("{rx}rtpbin"))
            .property_from_str("rtp-profile", "avpf")
            .property("latency", latency_ms)
            .property("do-retransmission", true)
            .property("do-lost", true)
            .build()
            .context("cannot create rtpbin")?;
        let aux = aux_bin(&format!("{rx}rtxbin"), &rtx_receive)?;
        rtpbin.connect("request-aux-receiver", false, move |args| {
            let session = args.get(1).and_then(|v| v.get::<u32>().ok());
            (session == Some(0)).then(|| aux.to_value())
        });
        // The session asks for the clock rate of each payload type it
        // sees: the media's (as on udpsrc) and the retransmissions'.
        let media = media_caps(caps);
        let rtx = {
            let mut rtx = media.clone();
            if let Some(s) = rtx.make_mut().structure_mut(0) {
                s.set("payload", RTX_PT as i32);
                s.set("encoding-name", "RTX");
                s.set("apt", MEDIA_PT as i32);
            }
            rtx
        };
        rtpbin.connect("request-pt-map", false, move |args| {
            match args.get(2).and_then(|v| v.get::<u32>().ok()) {
                Some(MEDIA_PT) => Some(media.to_value()),
                Some(RTX_PT) => Some(rtx.to_value()),
                _ => None,
            }
        });
        let jitterbuffers: Arc<Mutex<Vec<gst::Element>>> = Arc::default();
        {
            let jitterbuffers = jitterbuffers.clone();
            rtpbin.connect("new-jitterbuffer", false, move |args| {
                if let Some(jb) = args.get(1).and_then(|v| v.get::<gst::Element>().ok()) {
                    // Ask for a packet when a later one shows it missing, as
                    // libwebrtc's NACK module does, not when the timing
                    // predicts it: the prediction also asks for the packet
                    // after the last one at every end of stream, a phantom
                    // loss followed by a phantom keyframe request.
                    jb.set_property("rtx-next-seqnum", false);
                    jitterbuffers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(jb);
                }
                None
            });
        }
        // The decoded stream's pad appears when the first packet has come
        // through: link it to the queue before the receiver's chain.
        let queue_sink = static_pad(&by_name(receiver, &format!("{rx}q"))?, "sink")?;
        rtpbin.connect_pad_added(move |_, pad| {
            if pad.name().starts_with("recv_rtp_src_0_") && !queue_sink.is_linked() {
                let _ = pad.link(&queue_sink);
            }
        });
        receiver.add(&rtpbin)?;

        link(
            &static_pad(&by_name(receiver, &format!("{rx}src"))?, "src")?,
            &request(&rtpbin, "recv_rtp_sink_0")?,
        )?;
        link(
            &static_pad(&by_name(receiver, &format!("{rx}rtcpin"))?, "src")?,
            &request(&rtpbin, "recv_rtcp_sink_0")?,
        )?;
        link(
            &request(&rtpbin, "send_rtcp_src_0")?,
            &static_pad(&by_name(receiver, &format!("{rx}rtcpnet"))?, "sink")?,
        )?;
        set_session_bandwidth(&rtpbin, kbps);
        rtcp_takes_no_part_in_eos(receiver, &format!("{rx}rtcpout"))?;
        Ok(jitterbuffers)
    }

    /// What the return path did so far (read before the pipelines stop).
    pub fn repair(&self) -> Repair {
        let mut repair = Repair {
            retransmissions_sent: u64::from(self.rtx_send.property::<u32>("num-rtx-packets")),
            rtcp_bytes_to_receiver: self.rtcp_to_receiver.load(Ordering::Relaxed),
            rtcp_bytes_to_sender: self.rtcp_to_sender.load(Ordering::Relaxed),
            ..Repair::default()
        };
        for jb in self
            .jitterbuffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let stats = jb.property::<gst::Structure>("stats");
            let n = |f: &str| stats.get::<u64>(f).unwrap_or(0);
            repair.retransmissions_requested += n("rtx-count");
            repair.retransmissions_recovered += n("rtx-success-count");
            repair.packets_lost += n("num-lost");
        }
        repair
    }
}
