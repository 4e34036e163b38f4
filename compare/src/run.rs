// SPDX-License-Identifier: MPL-2.0
//! Runs one strategy end to end: its sender and receiver pipelines (built
//! in `pipeline`, the simulated network wired in by `network`) started,
//! watched while they run, drained and stopped, and everything measured on
//! the way (`collect`); and the chosen strategies one after another or
//! all at once, each under a progress bar.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use benchkit::moqrelay::MoqRelay;
use benchkit::pipeline::{by_name, check_bus};
use benchkit::procstat::ThreadTimes;
use gst::prelude::*;
use gststreamkit::gstcommon::stampframe::host_clock_time;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::collect::Measurement;
use crate::config::{Hosts, RunConfig};
use crate::hls;
use crate::network::{Network, Side};
use crate::pipeline::{self, RunPipelines, HLS_PLAYLIST};
use crate::result::{MoqCounts, StrategyResult};
use crate::strategy::{Strategy, Transport};

/// Runs `strategy` with `cfg`; `progress` gets the fraction done (0..1).
/// `index` tells runs apart when several run at once: it is part of every
/// element name, hence of every streaming thread's name, which is how CPU
/// time is billed.
pub fn run_strategy(
    strategy: &Strategy,
    cfg: &RunConfig,
    index: usize,
    progress: &dyn Fn(f64),
) -> Result<StrategyResult> {
    let net = &cfg.net;
    let RunPipelines {
        sender,
        receiver,
        tx,
        rx,
        session,
        hls_dir,
    } = pipeline::build(strategy, cfg, index)?;

    let measurement = Measurement::attach(strategy, &sender, &receiver, &tx, &rx)?;

    // After the byte count: probes on one pad run in the order they were
    // added, and bytes are counted when they leave the TCP queue, not when
    // the link delivers them.
    let network = Network::attach(strategy, cfg, &sender, &tx)?;

    // MoQ: the relay on the sender's side, its address and certificate
    // given to both ends before they start. Dropped (killed) with the run.
    let _moq_relay = if strategy.transport == Transport::Moq {
        let host: std::net::IpAddr = net.hosts().sender.parse()?;
        let relay = network
            .on(Side::Sender, || MoqRelay::start_on(host, |c| c.spawn()))?
            .context("cannot start the MoQ relay on the sender's side")?;
        for (pipeline, name) in [
            (&sender, format!("{tx}out")),
            (&receiver, format!("{rx}src")),
        ] {
            let end = by_name(pipeline, &name)?;
            end.set_property("url", relay.url());
            end.set_property("fingerprint", &relay.fingerprint);
        }
        Some(relay)
    } else {
        None
    };

    let mut hls_peers: Option<HlsPeers> = None;
    let cpu_before = ThreadTimes::sample();
    measurement.start_clock();
    let stop_all = |why: anyhow::Error| {
        let _ = sender.set_state(gst::State::Null);
        let _ = receiver.set_state(gst::State::Null);
        why
    };
    // Each side's state changes are made on its side of the network:
    // that is where its sockets are made.
    let start = |side: Side, state: gst::State| {
        let p = match side {
            Side::Sender => &sender,
            Side::Receiver => &receiver,
        };
        let change = || {
            p.set_state(state).map(|_| ()).map_err(|e| {
                // the bus says why (a missing file, no display, ...)
                match check_bus(p, "start") {
                    Err(why) => why.context(format!("cannot start {}", strategy.id)),
                    Ok(_) => anyhow!("cannot start {}: {e}", strategy.id),
                }
            })
        };
        network.on(side, change)?
    };
    match strategy.transport {
        // UDP: listen before anything is sent.
        Transport::Udp | Transport::RtpSession => {
            start(Side::Receiver, gst::State::Playing).map_err(stop_all)?;
            start(Side::Sender, gst::State::Playing).map_err(stop_all)?;
        }
        // MoQ: the viewer subscribes first and waits for the broadcast's
        // announcement, so that it sees the stream from its first frame, as
        // the other strategies' receivers do.
        Transport::Moq => {
            start(Side::Receiver, gst::State::Playing).map_err(stop_all)?;
            start(Side::Sender, gst::State::Playing).map_err(stop_all)?;
        }
        // TCP: tcpserversink drops what it gets before a client is
        // connected, so listen (paused: live sources send nothing yet),
        // connect, and only then start sending.
        Transport::Tcp => {
            start(Side::Sender, gst::State::Paused).map_err(stop_all)?;
            let _ = sender.state(gst::ClockTime::from_seconds(5));
            start(Side::Receiver, gst::State::Playing).map_err(stop_all)?;
            let server = by_name(&sender, &format!("{tx}out"))?;
            let deadline = Instant::now() + Duration::from_secs(5);
            while server.property::<u32>("num-handles") < 1 {
                if Instant::now() > deadline {
                    return Err(stop_all(anyhow!("the receiver did not connect within 5 s")));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            start(Side::Sender, gst::State::Playing).map_err(stop_all)?;
        }
        // HLS: the receiver waits on its appsrc; the sender writes
        // segments; the client polls for them.
        Transport::Hls => {
            start(Side::Receiver, gst::State::Playing).map_err(stop_all)?;
            start(Side::Sender, gst::State::Playing).map_err(stop_all)?;
            let dir = hls_dir.as_ref().context("no folder for HLS")?;
            let dir = dir.path().to_path_buf();
            hls_peers = Some(
                HlsPeers::start(&network, &net.hosts(), dir, &receiver, &tx, &rx)
                    .map_err(stop_all)?,
            );
        }
    }
    let started = Instant::now();

    let mut loss_stopped = false;
    let mut sender_eos = false;
    while started.elapsed() < cfg.duration && !sender_eos {
        std::thread::sleep(Duration::from_millis(50));
        sender_eos = check_bus(&sender, "sender").map_err(stop_all)?;
        check_bus(&receiver, "receiver").map_err(stop_all)?;
        let elapsed = started.elapsed().as_secs_f64();
        if let (Some(until), false) = (net.loss_until, loss_stopped) {
            if elapsed >= until {
                network.stop_loss(&sender, &tx, &receiver, &rx);
                loss_stopped = true;
            }
        }
        progress(elapsed / cfg.duration.as_secs_f64());
    }

    // Stop the content and let the sender drain...
    if !sender_eos {
        sender.send_event(gst::event::Eos::new());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sender_eos && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            sender_eos = check_bus(&sender, "sender").map_err(stop_all)?;
        }
    }
    // The sender's work is done: bill its threads now.
    let cpu_sender = ThreadTimes::sample().since(&cpu_before, &tx);
    if strategy.transport == Transport::Tcp {
        // Closing the connection is how the receiver learns the stream
        // ended: tsdemux only lets the last frame out at end of stream.
        let _ = sender.set_state(gst::State::Null);
    }
    // Wait until the receiver has reached end of stream or been quiet for
    // a while: frames still in flight are not lost.
    // An HLS client sees the end one playlist reload (a target duration,
    // 1 s) after it was written.
    let reload = if strategy.transport == Transport::Hls {
        1500
    } else {
        0
    };
    let quiet = Duration::from_millis(500 + reload + 2 * u64::from(net.delay_ms + net.jitter_ms));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if check_bus(&receiver, "receiver").map_err(stop_all)? {
            break;
        }
        let since = host_clock_time().saturating_sub(measurement.last_arrival_ns());
        if since > quiet.as_nanos() as u64 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    progress(1.0);
    let cpu_after = ThreadTimes::sample();
    let cpu_receiver = cpu_after.since(&cpu_before, &rx);

    let frames_sent = by_name(&sender, &format!("{tx}stamp"))?.property::<u64>("frames-stamped");
    let stats = by_name(&receiver, &format!("{rx}meter"))?.property::<gst::Structure>("stats");
    let repair = session.as_ref().map(|s| s.repair());
    let moq = if strategy.transport == Transport::Moq {
        let quic_ns = cpu_after.since(&cpu_before, MOQ_RUNTIME_THREADS);
        Some(moq_counts(
            &by_name(&sender, &format!("{tx}out"))?,
            &by_name(&receiver, &format!("{rx}src"))?,
            quic_ns as f64 / 1e6 / frames_sent.max(1) as f64,
        ))
    } else {
        None
    };
    let link = network.counts();
    if let Some(peers) = hls_peers.take() {
        peers.finish().map_err(stop_all)?;
    }
    let _ = sender.set_state(gst::State::Null);
    let _ = receiver.set_state(gst::State::Null);
    let mut result =
        measurement.finish(strategy, cfg, frames_sent, stats, cpu_sender, cpu_receiver)?;
    result.repair = repair;
    result.moq = moq;
    result.link = link;
    Ok(result)
}

/// The name of the MoQ elements' runtime threads (src/moq/runtime.rs).
const MOQ_RUNTIME_THREADS: &str = "streamkit-moq";

/// What `moqsink` and `moqsrc` counted, and the CPU of their shared
/// runtime per frame sent.
fn moq_counts(sink: &gst::Element, src: &gst::Element, quic_cpu_ms_per_frame: f64) -> MoqCounts {
    let (sink, src) = (
        sink.property::<gst::Structure>("stats"),
        src.property::<gst::Structure>("stats"),
    );
    let n = |s: &gst::Structure, field: &str| s.get::<u64>(field).unwrap_or(0);
    MoqCounts {
        frames_published: n(&sink, "frames"),
        frames_given_up: n(&src, "lost"),
        composites: n(&src, "composites"),
        composite_failures: n(&src, "composite-failures"),
        own_repairs: n(&src, "own-repairs"),
        quic_cpu_ms_per_frame,
    }
}

/// Runs each of `chosen` with `cfg`, one after another or, if `parallel`,
/// all at the same time, each under its own progress bar.
pub fn run_all(
    chosen: &[Strategy],
    cfg: &RunConfig,
    parallel: bool,
) -> Result<Vec<StrategyResult>> {
    let style =
        ProgressStyle::with_template("{spinner} {msg:12} [{bar:30}] {percent:>3}% {elapsed}")?
            .progress_chars("=> ");
    let bars = MultiProgress::new();
    let run_one = |i: usize, s: &Strategy, bar: &ProgressBar| {
        bar.set_message(s.id.to_string());
        let progress = |f: f64| bar.set_position((f.clamp(0.0, 1.0) * 1000.0) as u64);
        let result = run_strategy(s, cfg, i, &progress)?;
        bar.finish();
        Ok::<_, anyhow::Error>(result)
    };
    let new_bar = || {
        let bar = bars.add(ProgressBar::new(1000));
        bar.set_style(style.clone());
        bar
    };
    let results = if parallel {
        let bars: Vec<_> = chosen.iter().map(|_| new_bar()).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = chosen
                .iter()
                .zip(&bars)
                .enumerate()
                .map(|(i, (s, bar))| scope.spawn(move || run_one(i, s, bar)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("a run panicked"))))
                .collect::<Result<Vec<_>>>()
        })?
    } else {
        let mut results = Vec::new();
        for (i, s) in chosen.iter().enumerate() {
            results.push(run_one(i, s, &new_bar())?);
        }
        results
    };
    bars.clear().ok();
    Ok(results)
}

/// The HTTP server and the live client of an `hls` run, on the sender's
/// and the receiver's side of the network.
struct HlsPeers {
    stop: Arc<AtomicBool>,
    client: Option<JoinHandle<Result<hls::ClientStats>>>,
    server: Option<hls::Server>,
}

impl HlsPeers {
    /// Serves `dir` from the sender's side and follows its playlist from
    /// the receiver's, pushing the segments into the receiver's appsrc.
    /// Threads are named after `tx` and `rx`, so their CPU is billed.
    fn start(
        network: &Network,
        hosts: &Hosts,
        dir: PathBuf,
        receiver: &gst::Pipeline,
        tx: &str,
        rx: &str,
    ) -> Result<Self> {
        let listener = network
            .on(Side::Sender, || TcpListener::bind((hosts.sender, 0)))?
            .context("hls: cannot listen")?;
        let server = hls::Server::start(listener, dir, tx).context("hls: cannot serve")?;
        let port = server.port();
        let conn = network
            .on(Side::Receiver, || TcpStream::connect((hosts.sender, port)))?
            .context("hls: cannot connect")?;
        let mut client =
            hls::Client::new(conn, format!("{}:{port}", hosts.sender)).context("hls")?;
        let appsrc = by_name(receiver, &format!("{rx}src"))?
            .downcast::<gst_app::AppSrc>()
            .map_err(|_| anyhow!("hls: the receiver's source is not an appsrc"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("{rx}hls"))
            .spawn(move || {
                let followed = client.follow(HLS_PLAYLIST, &stopped, |bytes| {
                    let _ = appsrc.push_buffer(gst::Buffer::from_mut_slice(bytes));
                });
                let _ = appsrc.end_of_stream();
                followed.context("hls client")
            })
            .context("hls")?;
        Ok(HlsPeers {
            stop,
            client: Some(thread),
            server: Some(server),
        })
    }

    /// Stops the client and the server; the client's counters, or why it
    /// failed.
    fn finish(mut self) -> Result<hls::ClientStats> {
        self.stop.store(true, Ordering::Relaxed);
        let client = self.client.take().context("hls: already finished")?;
        client
            .join()
            .map_err(|_| anyhow!("hls: the client panicked"))?
    }
}

impl Drop for HlsPeers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(client) = self.client.take() {
            let _ = client.join();
        }
        self.server.take();
    }
}
