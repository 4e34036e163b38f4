// SPDX-License-Identifier: MPL-2.0
//! The simulated network between sender and receiver: its settings, and
//! what is wired into the sender pipeline on top of the elements
//! `pipeline` puts there. On UDP, netsim drops, delays and caps (in an RTP
//! session, RTCP both ways as well: see `rtpsession`); EOS is held back
//! behind what it delays. On TCP, the modelled link
//! (`tcplink`) delays each write on the queue before tcpserversink.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;
use gststreamkit::gstcommon::stampframe::host_clock_time;

use crate::pipeline::by_name;
use crate::run::RunConfig;
use crate::strategy::{Strategy, Transport};
use crate::tcplink::TcpLink;

/// What the simulated network does.
#[derive(Debug, Clone, Default)]
pub struct NetOptions {
    /// Probability (0..1) that a packet is lost.
    pub loss: f64,
    /// Seconds after the start at which loss stops (None: never).
    pub loss_until: Option<f64>,
    /// One-way delay in milliseconds.
    pub delay_ms: u32,
    /// Delay varies uniformly by +- this many milliseconds.
    pub jitter_ms: u32,
    /// Bandwidth cap in kbit/s.
    pub kbps: Option<u32>,
}

/// A netsim doing what `net` says to one direction of a UDP path, as a
/// launch fragment; `name` is its element name. The media path gets the
/// bandwidth cap, RTCP (`capped` false) does not.
pub fn netsim_launch(name: &str, net: &NetOptions, capped: bool) -> String {
    let delay = if net.delay_ms > 0 || net.jitter_ms > 0 {
        format!(
            "delay-probability=1.0 min-delay={} max-delay={} allow-reordering=false",
            net.delay_ms.saturating_sub(net.jitter_ms),
            net.delay_ms + net.jitter_ms
        )
    } else {
        "delay-probability=0.0".into()
    };
    let kbps = if capped {
        net.kbps.map_or(-1, |k| k as i64)
    } else {
        -1
    };
    format!(
        "netsim name={name} drop-probability={} {delay} max-kbps={kbps}",
        net.loss
    )
}

/// The network model wired into one run's sender.
pub struct SimulatedNetwork {
    tcp_loss_on: Arc<AtomicBool>,
}

impl SimulatedNetwork {
    /// Wires the model for `strategy`'s transport and `cfg`'s network into
    /// `sender`, whose element names start with `tx`.
    pub fn attach(
        strategy: &Strategy,
        cfg: &RunConfig,
        sender: &gst::Pipeline,
        tx: &str,
    ) -> Result<Self, String> {
        let net = &cfg.net;
        // netsim passes EOS on at once, ahead of the packets it is still
        // delaying, and udpsink refuses what comes after EOS: hold EOS back
        // until those packets are out, or the last frames of every delayed run
        // would count as lost.
        if strategy.transport.is_udp() && net.delay_ms + net.jitter_ms > 0 {
            let hold = Duration::from_millis(50 + u64::from(net.delay_ms + net.jitter_ms));
            by_name(sender, &format!("{tx}net"))?
                .static_pad("sink")
                .ok_or("netsim has no sink pad")?
                .add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                    if let Some(gst::PadProbeData::Event(e)) = &info.data {
                        if e.type_() == gst::EventType::Eos {
                            std::thread::sleep(hold);
                        }
                    }
                    gst::PadProbeReturn::Ok
                });
        }

        let tcp_loss_on = Arc::new(AtomicBool::new(net.loss > 0.0));
        // The TCP link: a delay line on the queue before tcpserversink. The
        // queue's input records when each buffer entered; its output thread
        // holds each buffer until it would have been delivered, while the queue
        // keeps filling, so delays overlap as on a real path.
        if strategy.transport == Transport::Tcp {
            let link = Arc::new(Mutex::new(TcpLink::new(net, cfg.seed)));
            let queue = by_name(sender, &format!("{tx}tcp"))?;
            let entered = link.clone();
            queue
                .static_pad("sink")
                .ok_or("queue has no sink pad")?
                .add_probe(
                    gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                    move |_, _| {
                        let mut l = entered.lock().unwrap_or_else(|e| e.into_inner());
                        l.entered.push_back(host_clock_time());
                        gst::PadProbeReturn::Ok
                    },
                );
            let on = tcp_loss_on.clone();
            queue
                .static_pad("src")
                .ok_or("queue has no src pad")?
                .add_probe(
                    gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                    move |_, info| {
                        let size = match &info.data {
                            Some(gst::PadProbeData::Buffer(b)) => b.size() as u64,
                            Some(gst::PadProbeData::BufferList(l)) => l.calculate_size() as u64,
                            _ => 0,
                        };
                        let deliver_at = link.lock().unwrap_or_else(|e| e.into_inner()).deliver(
                            size,
                            host_clock_time(),
                            on.load(Ordering::Relaxed),
                        );
                        let wait = deliver_at.saturating_sub(host_clock_time());
                        if wait > 0 {
                            std::thread::sleep(Duration::from_nanos(wait));
                        }
                        gst::PadProbeReturn::Ok
                    },
                );
        }
        Ok(Self { tcp_loss_on })
    }

    /// Stops the loss (the rest of the model stays): on every netsim of
    /// `sender` and `receiver`, whose element names start with `tx` and
    /// `rx` (the media path, and RTCP both ways in an RTP session), and on
    /// the TCP link.
    pub fn stop_loss(&self, sender: &gst::Pipeline, tx: &str, receiver: &gst::Pipeline, rx: &str) {
        let netsims = [
            sender.by_name(&format!("{tx}net")),
            sender.by_name(&format!("{tx}rtcpnet")),
            receiver.by_name(&format!("{rx}rtcpnet")),
        ];
        for netsim in netsims.into_iter().flatten() {
            netsim.set_property("drop-probability", 0.0f32);
        }
        self.tcp_loss_on.store(false, Ordering::Relaxed);
    }
}
