// SPDX-License-Identifier: MPL-2.0
//! What a comparison run is asked to do: the content, the picture, the
//! codecs' settings and the network. Plain values, read by every other
//! module and made by `main` from the command line; this module imports
//! none of the modules that use it.

use std::time::Duration;

use benchkit::scene::Scene;
use linkem::{GilbertElliott, Impairments, LinkConfig};

use crate::strategy::CodecOptions;

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Content.
    pub scene: Scene,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// How long the sender sends.
    pub duration: Duration,
    /// The network: the link or the model, and what it does.
    pub net: NetOptions,
    /// Encoder settings.
    pub codec: CodecOptions,
    /// Seed of the link's randomness (and of the TCP loss model).
    pub seed: u64,
}

/// How the network is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkKind {
    /// Real packets through the link emulator between two namespaces.
    #[default]
    Link,
    /// netsim on UDP, a model on TCP, over 127.0.0.1.
    Model,
}

impl NetworkKind {
    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::Link => "link",
            NetworkKind::Model => "model",
        }
    }
}

/// What the network does.
#[derive(Debug, Clone, Default)]
pub struct NetOptions {
    /// How it is made.
    pub kind: NetworkKind,
    /// Probability (0..1) that a packet is lost.
    pub loss: f64,
    /// Loss comes as outages of this many ms on average (a Gilbert–Elliott
    /// chain in time; the link only), `loss` being the share of the time
    /// the link is out. None: each packet lost independently.
    pub outage_ms: Option<u32>,
    /// Seconds after the start at which loss stops (None: never).
    pub loss_until: Option<f64>,
    /// One-way delay in milliseconds.
    pub delay_ms: u32,
    /// Delay varies uniformly by +- this many milliseconds.
    pub jitter_ms: u32,
    /// Bandwidth cap in kbit/s.
    pub kbps: Option<u32>,
    /// Bytes that may queue at the link's bandwidth cap.
    pub queue_bytes: usize,
    /// TCP congestion control on both sides of the link (None: the
    /// kernel's default, which a new namespace takes from the host's).
    pub tcp_cc: Option<String>,
}

/// The addresses each end uses.
pub struct Hosts {
    pub sender: &'static str,
    pub receiver: &'static str,
}

impl NetOptions {
    /// Where the sender and the receiver are.
    pub fn hosts(&self) -> Hosts {
        match self.kind {
            NetworkKind::Link => Hosts {
                sender: "198.18.0.1",
                receiver: "198.18.0.2",
            },
            NetworkKind::Model => Hosts {
                sender: "127.0.0.1",
                receiver: "127.0.0.1",
            },
        }
    }

    /// The link emulator's settings: loss, delay and jitter both ways (so
    /// RTCP and TCP's acknowledgements meet them too), the bandwidth cap on
    /// the way to the receiver only.
    pub fn link_config(&self, seed: u64) -> LinkConfig {
        let loss = match self.outage_ms {
            Some(ms) => GilbertElliott::outages(self.loss, Duration::from_millis(ms.into())),
            None => GilbertElliott::random(self.loss),
        };
        let back = Impairments {
            loss,
            delay: Duration::from_millis(self.delay_ms.into()),
            jitter: Duration::from_millis(self.jitter_ms.into()),
            ..Default::default()
        };
        LinkConfig {
            a_to_b: Impairments {
                rate_bps: self.kbps.map(|k| u64::from(k) * 1000),
                queue_bytes: self.queue_bytes,
                ..back
            },
            b_to_a: back,
            seed,
        }
    }
}
