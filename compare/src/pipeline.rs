// SPDX-License-Identifier: MPL-2.0
//! The two pipelines of one strategy run, in this process and joined over
//! loopback (or across the link).
//!
//! Sender: scene ! framestamp ! queue ! (strategy encoder/payloader) !
//! netsim (UDP) or a TCP-loss model (TCP) ! udpsink / tcpserversink; in an
//! RTP session, rtpbin before netsim (see `rtpsession`).
//! Receiver: udpsrc / tcpclientsrc ! (rtpbin !) (strategy depayloader/decoder) !
//! videoconvert ! framemeter ! appsink.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use benchkit::pipeline::{chain_end, parse};
use benchkit::ports::{free_tcp_port, free_udp_port};

use crate::config::RunConfig;
use crate::network::netsim_launch;
use crate::rtpsession::{self, RtpSessionEnds, SessionPorts};
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
    /// The two rtpbins of an RTP session (`Transport::RtpSession`).
    pub session: Option<RtpSessionEnds>,
    /// Where hlssegmentsink writes (`Transport::Hls`), removed when the
    /// run's pipelines are dropped.
    pub hls_dir: Option<ScratchDir>,
}

/// A folder made for one run, removed with its contents when dropped, so
/// that a run that fails at any point leaves nothing behind.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Makes `path` (and its parents).
    pub fn create(path: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot make {}", path.display()))?;
        Ok(ScratchDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds the pipelines that run `strategy` with `cfg`. `index` tells runs
/// apart when several run at once: it is part of every element name, hence
/// of every streaming thread's name, which is how CPU time is billed.
pub fn build(strategy: &Strategy, cfg: &RunConfig, index: usize) -> Result<RunPipelines> {
    let net = &cfg.net;
    let hosts = net.hosts();
    let (tx_host, rx_host) = (hosts.sender, hosts.receiver);
    // thread names keep 15 characters: "tx3_enc:src" fits
    let (tx, rx) = (format!("tx{index}_"), format!("rx{index}_"));
    let rtp_caps = || {
        strategy
            .rtp_caps()
            .with_context(|| format!("{}: no RTP caps for the depayloader", strategy.id))
    };
    // net_src ends where the receiver's chain starts; net_sink starts with
    // the link from the end of the sender's chain, except in an RTP
    // session, where rtpbin is linked in later (see rtpsession).
    let hls_dir = (strategy.transport == Transport::Hls)
        .then(|| {
            ScratchDir::create(std::env::temp_dir().join(format!(
                "streamkit-compare-hls-{}-{index}",
                std::process::id()
            )))
        })
        .transpose()?;
    let (net_src, net_sink) = match strategy.transport {
        Transport::Udp => {
            let port = free_udp_port()?;
            (
                format!(
                    "udpsrc name={rx}src address={rx_host} port={port} buffer-size=8388608 caps=\"{caps}\" \
                     ! queue name={rx}q max-size-buffers=0 max-size-bytes=0 max-size-time=0",
                    caps = rtp_caps()?
                ),
                format!(
                    "! {netsim} ! udpsink name={tx}out host={rx_host} port={port} sync=false async=false",
                    netsim = netsim_launch(&format!("{tx}net"), net, true)
                ),
            )
        }
        Transport::Tcp => {
            let port = free_tcp_port()?;
            // No netsim here: it drops what exceeds the bandwidth and lets
            // EOS overtake what it delays, neither of which TCP does. The
            // link is modelled on the queue instead (see TcpLink).
            (
                format!("tcpclientsrc name={rx}src host={tx_host} port={port}"),
                format!(
                    "! queue name={tx}tcp max-size-time=0 max-size-bytes=0 max-size-buffers=0 \
                     ! tcpserversink name={tx}out host={tx_host} port={port} sync=false async=false"
                ),
            )
        }
        Transport::Hls => {
            let dir = hls_dir.as_ref().expect("made above for HLS");
            let dir = dir.path().display();
            (
                format!(
                    "appsrc name={rx}src is-live=true format=bytes \
                     caps=\"video/mpegts,systemstream=(boolean)true,packetsize=(int)188\""
                ),
                format!(
                    "! hlssegmentsink name={tx}out location=\"{dir}/seg%05d.ts\" \
                     playlist-location=\"{dir}/{HLS_PLAYLIST}\" playlist-length=6 max-files=12 \
                     target-duration=1 sync=false async=false"
                ),
            )
        }
        // The relay's address and certificate are set on both ends when it
        // has started, on the sender's side of the link (see `run`).
        Transport::Moq => (
            format!(
                "moqsrc name={rx}src broadcast=compare{index} latency={latency}",
                latency = strategy.moq_wait.unwrap_or(MOQ_LATENCY).as_nanos()
            ),
            format!("! moqsink name={tx}out broadcast=compare{index}"),
        ),
        Transport::RtpSession => {
            let ports = SessionPorts::free()?;
            (
                rtpsession::receiver_launch(
                    &rx,
                    &hosts,
                    ports,
                    &rtp_caps()?,
                    &netsim_launch(&format!("{rx}rtcpnet"), net, false),
                ),
                rtpsession::sender_launch(
                    &tx,
                    &hosts,
                    ports,
                    &netsim_launch(&format!("{tx}net"), net, true),
                    &netsim_launch(&format!("{tx}rtcpnet"), net, false),
                ),
            )
        }
    };
    let sender_launch = format!(
        "{scene} ! framestamp name={tx}stamp ! queue name={tx}enc max-size-buffers=30 max-size-time=0 \
         max-size-bytes=0 ! {chain} {net_sink}",
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
    let session = if strategy.transport == Transport::RtpSession {
        Some(RtpSessionEnds::wire(
            &sender,
            &tx,
            &chain_end(&sender, &format!("{tx}enc"))?,
            &receiver,
            &rx,
            &rtp_caps()?,
            cfg.codec.h264_kbps,
            rtpsession::jitterbuffer_ms(2 * (net.delay_ms + net.jitter_ms)),
        )?)
    } else {
        None
    };
    Ok(RunPipelines {
        sender,
        receiver,
        tx,
        rx,
        session,
        hls_dir,
    })
}

/// How long `moqsrc` holds a frame behind a missing one: its default, two
/// round trips of docs/loss.md's longest path.
pub const MOQ_LATENCY: std::time::Duration = std::time::Duration::from_millis(100);

/// The playlist's file name for the `hls` strategy.
pub const HLS_PLAYLIST: &str = "live.m3u8";

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use gst::prelude::*;

    use super::*;
    use crate::config::NetOptions;
    use crate::strategy::{all, CodecOptions};
    use benchkit::scene::Scene;

    /// What the screen scene and the measuring elements around the chains
    /// create, whatever the strategy.
    const AROUND_THE_CHAINS: [&str; 10] = [
        "compositor",
        "videotestsrc",
        "textoverlay",
        "timeoverlay",
        "capsfilter",
        "framestamp",
        "queue",
        "videoconvert",
        "framemeter",
        "appsink",
    ];

    /// The factories of every element in `p`, and in the bins the program
    /// makes itself, but not inside the bins that elements are (rtpbin's
    /// sessions and jitterbuffers, segmentpackager's muxer).
    fn factories(p: &gst::Pipeline) -> BTreeSet<String> {
        p.iterate_recurse()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| {
                let parent = e.parent().and_then(|p| p.downcast::<gst::Element>().ok());
                let parent_factory = parent.and_then(|p| p.factory()).map(|f| f.name());
                matches!(parent_factory.as_deref(), None | Some("pipeline"))
            })
            .filter_map(|e| e.factory().map(|f| f.name().to_string()))
            .collect()
    }

    /// A strategy's `needs` with its transport's `elements` is exactly
    /// what building its pipelines creates, beside the content and the
    /// measuring elements: the transport's list is checked against the
    /// wiring that is not in any chain string (rtpbin and its
    /// retransmission elements).
    #[test]
    fn needs_and_transport_elements_are_what_the_pipelines_create() {
        gst::init().expect("GStreamer initialises");
        gststreamkit::plugin_register_static().expect("streamkit registers");
        let cfg = RunConfig {
            scene: Scene::Screen,
            width: 320,
            height: 240,
            fps: 30,
            duration: Duration::from_secs(1),
            net: NetOptions::default(),
            codec: CodecOptions::default(),
            seed: 1,
        };
        for (i, s) in all().iter().enumerate() {
            let built = build(s, &cfg, i).expect("pipelines build");
            let mut created = factories(&built.sender);
            created.extend(factories(&built.receiver));
            for around in AROUND_THE_CHAINS {
                created.remove(around);
            }
            let expected: BTreeSet<String> = s
                .needs
                .iter()
                .chain(s.transport.elements())
                .map(|n| n.to_string())
                .collect();
            assert_eq!(created, expected, "{}", s.id);
            // HLS's folder goes with the pipelines, even from a run that
            // never started.
            let hls_dir = built.hls_dir.as_ref().map(|d| d.path().to_path_buf());
            assert_eq!(hls_dir.is_some(), s.transport == Transport::Hls);
            drop(built);
            if let Some(dir) = hls_dir {
                assert!(!dir.exists(), "{} left behind", dir.display());
            }
        }
    }
}
