// SPDX-License-Identifier: MPL-2.0
//! The network between sender and receiver: its settings, and the two
//! ways of making it.
//!
//! - **The link** (`--network link`, the default): the sender runs in one
//!   network namespace and the receiver in another, joined by the link
//!   emulator (`linkem`), which loses, delays, reorders and caps real IP
//!   packets. UDP, RTCP, TCP's retransmissions, congestion control and
//!   head-of-line blocking are then the kernel's own. Each side's sockets
//!   are made by a thread inside its namespace: the thread that changes
//!   that side's pipeline state (see [`Network::on`]).
//! - **The model** (`--network model`, no root needed): both ends on
//!   127.0.0.1. On UDP, netsim drops, delays and caps (in an RTP session,
//!   RTCP both ways as well: see `rtpsession`); EOS is held back behind
//!   what it delays. On TCP, the modelled link (`tcplink`) delays each
//!   write on the queue before tcpserversink.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use gst::prelude::*;
use gststreamkit::gstcommon::stampframe::host_clock_time;

use benchkit::pipeline::by_name;
use linkem::{Direction, GilbertElliott, Impairments, Link};

use crate::config::{NetOptions, NetworkKind, RunConfig};
use crate::result::LinkCounts;
use crate::strategy::{Strategy, Transport};
use crate::tcplink::TcpLink;

/// Where a namespace's TCP congestion control is set and read.
const TCP_CC: &str = "/proc/sys/net/ipv4/tcp_congestion_control";

/// A netsim doing what `net` says to one direction of a UDP path, as a
/// launch fragment; `name` is its element name. The media path gets the
/// bandwidth cap, RTCP (`capped` false) does not.
/// On the link, netsim is only where bytes are counted: it lets every
/// packet through at once.
pub fn netsim_launch(name: &str, net: &NetOptions, capped: bool) -> String {
    if net.kind == NetworkKind::Link {
        return format!("netsim name={name} drop-probability=0 delay-probability=0 max-kbps=-1");
    }
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

/// An end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Sender,
    Receiver,
}

/// One run's network.
pub enum Network {
    /// The model, wired into the sender.
    Model { tcp_loss_on: Arc<AtomicBool> },
    /// The link, with the sender on side A and the receiver on side B.
    Link(Link),
}

impl Network {
    /// Makes the network `cfg` asks for `strategy`: the link, or the model
    /// wired into `sender`, whose element names start with `tx`.
    pub fn attach(
        strategy: &Strategy,
        cfg: &RunConfig,
        sender: &gst::Pipeline,
        tx: &str,
    ) -> Result<Self> {
        let net = &cfg.net;
        if net.kind == NetworkKind::Link {
            let link = Link::new(net.link_config(cfg.seed))
                .map_err(|e| anyhow!("{e}; --network model runs without it"))?;
            if let Some(cc) = &net.tcp_cc {
                for ns in [link.a(), link.b()] {
                    ns.sysctl(TCP_CC, cc).map_err(|e| {
                        let available = std::fs::read_to_string(
                            "/proc/sys/net/ipv4/tcp_available_congestion_control",
                        )
                        .unwrap_or_default();
                        anyhow!(
                            "cannot use TCP congestion control '{cc}': {e} (available: {}; \
                             a namespace may only use those the host allows in \
                             net.ipv4.tcp_allowed_congestion_control)",
                            available.trim()
                        )
                    })?;
                }
            }
            return Ok(Network::Link(link));
        }
        // netsim passes EOS on at once, ahead of the packets it is still
        // delaying, and udpsink refuses what comes after EOS: hold EOS back
        // until those packets are out, or the last frames of every delayed run
        // would count as lost.
        if strategy.transport.is_udp() && net.delay_ms + net.jitter_ms > 0 {
            let hold = Duration::from_millis(50 + u64::from(net.delay_ms + net.jitter_ms));
            by_name(sender, &format!("{tx}net"))?
                .static_pad("sink")
                .context("netsim has no sink pad")?
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
                .context("queue has no sink pad")?
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
                .context("queue has no src pad")?
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
        Ok(Network::Model { tcp_loss_on })
    }

    /// Runs `f` where `side`'s sockets must be made: inside its side of
    /// the link (the sender's is A, the receiver's B), or here for the model.
    pub fn on<R: Send>(&self, side: Side, f: impl FnOnce() -> R + Send) -> Result<R> {
        let Network::Link(link) = self else {
            return Ok(f());
        };
        let (ns, name) = match side {
            Side::Sender => (link.a(), "sender"),
            Side::Receiver => (link.b(), "receiver"),
        };
        ns.run(f)
            .with_context(|| format!("cannot enter the {name}'s side of the link"))
    }

    /// What the link counted (None for the model).
    pub fn counts(&self) -> Option<LinkCounts> {
        match self {
            Network::Link(link) => {
                let [to_receiver, to_sender] = link.stats();
                let cc = link
                    .a()
                    .run(|| std::fs::read_to_string(TCP_CC))
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                Some(LinkCounts {
                    to_receiver: to_receiver.into(),
                    to_sender: to_sender.into(),
                    tcp_congestion_control: cc.trim().to_string(),
                })
            }
            Network::Model { .. } => None,
        }
    }

    /// Stops the loss (the rest of the model stays): on every netsim of
    /// `sender` and `receiver`, whose element names start with `tx` and
    /// `rx` (the media path, and RTCP both ways in an RTP session), and on
    /// the TCP link.
    pub fn stop_loss(&self, sender: &gst::Pipeline, tx: &str, receiver: &gst::Pipeline, rx: &str) {
        let tcp_loss_on = match self {
            Network::Link(link) => {
                for d in [Direction::AToB, Direction::BToA] {
                    let lossless = Impairments {
                        loss: GilbertElliott::NONE,
                        ..link.impairments(d)
                    };
                    // the settings were valid with loss; they are without
                    let _ = link.set_impairments(d, lossless);
                }
                return;
            }
            Network::Model { tcp_loss_on } => tcp_loss_on,
        };
        let netsims = [
            sender.by_name(&format!("{tx}net")),
            sender.by_name(&format!("{tx}rtcpnet")),
            receiver.by_name(&format!("{rx}rtcpnet")),
        ];
        for netsim in netsims.into_iter().flatten() {
            netsim.set_property("drop-probability", 0.0f32);
        }
        tcp_loss_on.store(false, Ordering::Relaxed);
    }
}
