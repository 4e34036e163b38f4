// SPDX-License-Identifier: MPL-2.0
//! The two pipelines of one strategy run, in this process and joined over
//! loopback, and the plumbing every pipeline here shares.
//!
//! Sender: scene ! framestamp ! queue ! (strategy encoder/payloader) !
//! netsim (UDP) or a TCP-loss model (TCP) ! udpsink / tcpserversink.
//! Receiver: udpsrc / tcpclientsrc ! (strategy depayloader/decoder) !
//! videoconvert ! framemeter ! appsink.

use std::net::{TcpListener, UdpSocket};

use gst::prelude::*;

use crate::run::RunConfig;
use crate::strategy::{Strategy, Transport};

/// A strategy's sender and receiver pipelines, not yet started.
pub struct RunPipelines {
    /// Content, stamp, encoder and payloader, network sink.
    pub sender: gst::Pipeline,
    /// Network source, depayloader and decoder, framemeter, appsink.
    pub receiver: gst::Pipeline,
    /// Prefix of every sender element's name ("tx3_").
    pub tx: String,
    /// Prefix of every receiver element's name ("rx3_").
    pub rx: String,
}

/// Builds the pipelines that run `strategy` with `cfg`. `index` tells runs
/// apart when several run at once: it is part of every element name, hence
/// of every streaming thread's name, which is how CPU time is billed.
pub fn build(strategy: &Strategy, cfg: &RunConfig, index: usize) -> Result<RunPipelines, String> {
    let net = &cfg.net;
    // thread names keep 15 characters: "tx3_enc:src" fits
    let (tx, rx) = (format!("tx{index}_"), format!("rx{index}_"));
    let (net_src, net_sink) = match strategy.transport {
        Transport::Udp => {
            let port = free_udp_port()?;
            let caps = strategy
                .rtp_caps()
                .ok_or_else(|| format!("{}: no RTP caps for the depayloader", strategy.id))?;
            let delay = if net.delay_ms > 0 || net.jitter_ms > 0 {
                format!(
                    "delay-probability=1.0 min-delay={} max-delay={} allow-reordering=false",
                    net.delay_ms.saturating_sub(net.jitter_ms),
                    net.delay_ms + net.jitter_ms
                )
            } else {
                "delay-probability=0.0".into()
            };
            (
                format!(
                    "udpsrc name={rx}src address=127.0.0.1 port={port} buffer-size=8388608 caps=\"{caps}\" \
                     ! queue name={rx}q max-size-buffers=0 max-size-bytes=0 max-size-time=0"
                ),
                format!(
                    "netsim name={tx}net drop-probability={} {delay} max-kbps={} \
                     ! udpsink name={tx}out host=127.0.0.1 port={port} sync=false async=false",
                    net.loss,
                    net.kbps.map_or(-1, |k| k as i64)
                ),
            )
        }
        Transport::Tcp => {
            let port = free_tcp_port()?;
            // No netsim here: it drops what exceeds the bandwidth and lets
            // EOS overtake what it delays, neither of which TCP does. The
            // link is modelled on the queue instead (see TcpLink).
            (
                format!("tcpclientsrc name={rx}src host=127.0.0.1 port={port}"),
                format!(
                    "queue name={tx}tcp max-size-time=0 max-size-bytes=0 max-size-buffers=0 \
                     ! tcpserversink name={tx}out host=127.0.0.1 port={port} sync=false async=false"
                ),
            )
        }
    };
    let sender_launch = format!(
        "{scene} ! framestamp name={tx}stamp ! queue name={tx}enc max-size-buffers=30 max-size-time=0 \
         max-size-bytes=0 ! {chain} ! {net_sink}",
        scene = cfg.scene.launch(cfg.width, cfg.height, cfg.fps),
        chain = (strategy.sender)(&cfg.codec),
    );
    let receiver_launch = format!(
        "{net_src} ! {chain} ! videoconvert name={rx}conv ! video/x-raw,format=I420 \
         ! framemeter name={rx}meter interval=0 ! appsink name={rx}sink sync=false",
        chain = (strategy.receiver)(&cfg.codec),
    );
    let sender = parse(&sender_launch)?;
    cfg.scene.configure(&sender, cfg.height);
    let receiver = parse(&receiver_launch)?;
    Ok(RunPipelines {
        sender,
        receiver,
        tx,
        rx,
    })
}

fn free_udp_port() -> Result<u16, String> {
    let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("no free UDP port: {e}"))?;
    s.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free UDP port: {e}"))
}

fn free_tcp_port() -> Result<u16, String> {
    let s = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free TCP port: {e}"))?;
    s.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free TCP port: {e}"))
}

/// Builds the pipeline `launch` describes.
pub fn parse(launch: &str) -> Result<gst::Pipeline, String> {
    gst::parse::launch(launch)
        .map_err(|e| format!("cannot build pipeline: {e}\n  {launch}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())
}

/// The element of `p` called `name`.
pub fn by_name(p: &gst::Pipeline, name: &str) -> Result<gst::Element, String> {
    p.by_name(name)
        .ok_or_else(|| format!("pipeline has no element {name}"))
}

/// Reads what `p`'s bus holds: an error (named after `side`) as `Err`,
/// else whether end of stream came.
pub fn check_bus(p: &gst::Pipeline, side: &str) -> Result<bool, String> {
    let Some(bus) = p.bus() else {
        return Ok(false);
    };
    let mut eos = false;
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Error(e) => {
                return Err(format!(
                    "{side} error from {}: {} ({})",
                    e.src()
                        .map(|s| s.path_string().to_string())
                        .unwrap_or_default(),
                    e.error(),
                    e.debug().map(|d| d.to_string()).unwrap_or_default()
                ))
            }
            gst::MessageView::Eos(_) => eos = true,
            _ => {}
        }
    }
    Ok(eos)
}
