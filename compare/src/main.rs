// SPDX-License-Identifier: MPL-2.0
//! streamkit-compare: runs each streaming strategy with a sender and a
//! receiver in this process, on the same content and the same network —
//! real packets across the link emulator between two network namespaces,
//! or netsim and a TCP model over loopback — and compares glass-to-glass
//! latency, bitrate, quality, lost and frozen frames and CPU time. See
//! docs/measure.md.

mod collect;
mod config;
mod hls;
mod network;
mod pipeline;
mod quality;
mod report;
mod result;
mod rtpsession;
mod run;
mod snapshot;
mod strategy;
mod sweep;
mod tcplink;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use benchkit::scene::Scene;
use clap::Parser;

use crate::config::{NetOptions, NetworkKind, RunConfig};
use crate::report::Comparison;
use crate::strategy::CodecOptions;

/// Compare full frames, video segments and changes only, side by side.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Seconds each strategy sends.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Built-in content: screen (mostly still, a few changing regions) or
    /// camera (everything moves, with noise).
    #[arg(long, default_value = "screen", value_parser = Scene::parse_builtin)]
    scene: Scene,
    /// Use this video file as content instead of a built-in scene.
    #[arg(long, conflicts_with = "capture")]
    input: Option<PathBuf>,
    /// Capture the X11 screen (ximagesrc) as content.
    #[arg(long)]
    capture: bool,
    /// Picture width (default: an --input file's own, else 1280).
    #[arg(long)]
    width: Option<u32>,
    /// Picture height (default: an --input file's own, else 720).
    #[arg(long)]
    height: Option<u32>,
    /// Frames per second (default: an --input file's own, else 30).
    #[arg(long)]
    fps: Option<u32>,
    /// Strategies to run, comma-separated (default: all whose elements exist).
    #[arg(long, value_delimiter = ',')]
    strategies: Vec<String>,
    /// The network: `link` sends real packets across the link emulator
    /// between two network namespaces (needs root); `model` runs over
    /// 127.0.0.1 with netsim on UDP and a model of TCP's retransmission.
    #[arg(long, default_value = "link", value_parser = ["link", "model"])]
    network: String,
    /// Packet loss in percent, both ways (the model: on UDP paths; on TCP,
    /// each lost segment stalls the stream for a retransmission timeout).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Losses come as outages of this many ms on average, --loss being
    /// the share of the time the link is out (Gilbert–Elliott in time; the
    /// link only). Without it, each packet is lost on its own.
    #[arg(long)]
    outage_ms: Option<u32>,
    /// Stop the loss this many seconds into each run (to watch recovery).
    #[arg(long)]
    loss_until: Option<f64>,
    /// One-way network delay, ms.
    #[arg(long, default_value_t = 0, conflicts_with = "rtt")]
    delay: u32,
    /// Round-trip time, ms: half of it is each direction's delay.
    #[arg(long)]
    rtt: Option<u32>,
    /// Delay varies uniformly by +- this many ms (no reordering).
    #[arg(long, default_value_t = 0)]
    jitter: u32,
    /// Bandwidth cap, kbit/s (sender to receiver).
    #[arg(long)]
    bandwidth: Option<u32>,
    /// KiB that may queue at the bandwidth cap before packets are dropped
    /// (the link only).
    #[arg(long, default_value_t = 64)]
    queue_kb: u32,
    /// TCP congestion control on the link (cubic, bbr, reno: what the
    /// kernel offers); default: the kernel's, as the host has it set.
    #[arg(long)]
    tcp_cc: Option<String>,
    /// jpegenc quality for MJPEG.
    #[arg(long, default_value_t = CodecOptions::default().jpeg_quality)]
    jpeg_quality: u32,
    /// x264enc bitrate for segments and h264-rtp, kbit/s (for h264-rtp
    /// also the RTP session bandwidth, which budgets RTCP feedback).
    #[arg(long, default_value_t = CodecOptions::default().h264_kbps)]
    h264_kbps: u32,
    /// Frames per segment (and H.264 keyframe interval).
    #[arg(long, default_value_t = CodecOptions::default().segment_frames)]
    segment_frames: u32,
    /// Intra-refresh period of the changes-only codec, frames; also
    /// h264-rtp's keyframe interval (0: x264's default, 250).
    #[arg(long, default_value_t = CodecOptions::default().delta_refresh)]
    delta_refresh: u32,
    /// deltaenc tile coding: lossless or lossy (default: lossy for the
    /// camera scene, lossless for everything else: the screen scene, screen
    /// capture and --input files, which are mostly screen recordings).
    #[arg(long, value_parser = ["lossless", "lossy"])]
    delta_mode: Option<String>,
    /// deltaenc quality of lossy tiles (1..100).
    #[arg(long, default_value_t = CodecOptions::default().delta_quality)]
    delta_quality: u32,
    /// deltaenc change threshold: raise it for noisy (camera) content.
    #[arg(long, default_value_t = CodecOptions::default().delta_threshold)]
    delta_threshold: u32,
    /// Write the HTML report here.
    #[arg(long, default_value = "streamkit-report.html")]
    report: PathBuf,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write the summary as CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// List the strategies and whether they can run, then exit.
    #[arg(long)]
    list: bool,
    /// Run all strategies at the same time (same moment, shared CPU)
    /// instead of one after another.
    #[arg(long)]
    parallel: bool,
    /// Write one stamped frame of the content as PNG here, then exit.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Print Markdown tables of a loss sweep's results in this folder
    /// (scripts/loss-sweep.sh), write its plots, then exit.
    #[arg(long)]
    sweep_tables: Option<PathBuf>,
    /// Where --sweep-tables writes its plots (default: the sweep's folder).
    #[arg(long, requires = "sweep_tables")]
    plots: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = gst::init() {
        eprintln!("streamkit-compare: cannot initialise GStreamer: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = gststreamkit::plugin_register_static() {
        eprintln!("streamkit-compare: cannot register the streamkit elements: {e}");
        return ExitCode::FAILURE;
    }
    match compare(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streamkit-compare: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn compare(args: &Args) -> Result<()> {
    if let Some(dir) = &args.sweep_tables {
        print!(
            "{}",
            sweep::tables(dir, args.plots.as_deref().unwrap_or(dir))?
        );
        return Ok(());
    }
    if !(0.0..=100.0).contains(&args.loss) {
        bail!("--loss {} is not a percentage", args.loss);
    }
    let kind = match args.network.as_str() {
        "model" => NetworkKind::Model,
        _ => NetworkKind::Link,
    };
    if kind == NetworkKind::Model && args.outage_ms.is_some() {
        bail!("--outage-ms needs --network link");
    }
    if kind == NetworkKind::Model && args.tcp_cc.is_some() {
        bail!("--tcp-cc needs --network link");
    }
    if args.outage_ms == Some(0) {
        bail!("--outage-ms must be at least 1");
    }
    let delay_ms = args.rtt.map_or(args.delay, |rtt| rtt / 2);
    if args.duration.is_nan() || args.duration <= 0.0 {
        bail!("--duration must be positive");
    }
    let scene = match (&args.input, args.capture) {
        (Some(path), _) => Scene::File(path.clone()),
        (None, true) => Scene::Capture,
        (None, false) => args.scene.clone(),
    };
    // A recording is compared at its own size and rate: scaling it would
    // blur the text the codecs are compared on, and resampling its rate
    // would repeat or drop frames.
    let own = match &scene {
        Scene::File(path) => Some(benchkit::scene::probe_file(path)?),
        _ => None,
    };
    let width = args.width.or(own.map(|f| f.width)).unwrap_or(1280);
    let height = args.height.or(own.map(|f| f.height)).unwrap_or(720);
    let fps = args.fps.or(own.and_then(|f| f.fps)).unwrap_or(30);
    if let Err(e) = gststreamkit::gstcommon::stampframe::default_layout().check_fits(width, height)
    {
        bail!("--width/--height too small for the frame stamp: {e}");
    }
    let all = strategy::all();
    for wanted in &args.strategies {
        if !all.iter().any(|s| s.id == wanted) {
            let ids: Vec<_> = all.iter().map(|s| s.id).collect();
            bail!("unknown strategy '{wanted}'; known: {}", ids.join(", "));
        }
    }
    let mut skipped = Vec::new();
    let mut chosen = Vec::new();
    for s in all {
        if !args.strategies.is_empty() && !args.strategies.iter().any(|w| w == s.id) {
            continue;
        }
        let missing = s.missing();
        if kind == NetworkKind::Model && s.transport.needs_link() {
            skipped.push((
                s.id.to_string(),
                "the model has no path for it (HTTP, QUIC): it runs on --network link".into(),
            ));
        } else if missing.is_empty() {
            chosen.push(s);
        } else {
            skipped.push((
                s.id.to_string(),
                format!("elements not available: {}", missing.join(", ")),
            ));
        }
    }
    if args.list {
        for s in &chosen {
            println!("{:12} {}", s.id, s.label);
        }
        for (id, why) in &skipped {
            println!("{id:12} skipped: {why}");
        }
        return Ok(());
    }
    if let Some(path) = &args.snapshot {
        return snapshot::snapshot(&scene, width, height, fps, path);
    }
    if chosen.is_empty() {
        bail!("no strategy can run here");
    }

    let cfg = RunConfig {
        scene: scene.clone(),
        width,
        height,
        fps,
        duration: Duration::from_secs_f64(args.duration),
        net: NetOptions {
            kind,
            loss: args.loss / 100.0,
            outage_ms: args.outage_ms,
            loss_until: args.loss_until,
            delay_ms,
            jitter_ms: args.jitter,
            kbps: args.bandwidth,
            queue_bytes: args.queue_kb as usize * 1024,
            tcp_cc: args.tcp_cc.clone(),
        },
        codec: CodecOptions {
            jpeg_quality: args.jpeg_quality,
            h264_kbps: args.h264_kbps,
            segment_frames: args.segment_frames,
            delta_refresh: args.delta_refresh,
            // Lossy tiles are for camera content: on screen content they
            // blur the text and cost more than lossless ones (the terminal
            // recording: 10.5 Mbit/s lossy, 1.5 lossless; README.md).
            delta_mode: args.delta_mode.clone().unwrap_or_else(|| {
                if scene == Scene::Camera {
                    "lossy"
                } else {
                    "lossless"
                }
                .to_string()
            }),
            delta_quality: args.delta_quality,
            delta_threshold: args.delta_threshold,
        },
        seed: 0x5eed,
    };

    let results = run::run_all(&chosen, &cfg, args.parallel)?;

    let comparison = Comparison {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        scene: scene.name(),
        width,
        height,
        fps,
        duration_s: args.duration,
        parallel: args.parallel,
        network: kind.name().to_string(),
        loss: args.loss / 100.0,
        outage_ms: args.outage_ms,
        loss_until_s: args.loss_until,
        delay_ms,
        jitter_ms: args.jitter,
        bandwidth_kbps: args.bandwidth,
        queue_kb: args.queue_kb,
        skipped,
        results,
    };
    report::write(
        &comparison,
        &args.report,
        args.json.as_deref(),
        args.csv.as_deref(),
    )
}
