// SPDX-License-Identifier: MPL-2.0
//! relay-bench: an origin, the `streamkit-relay` program and N viewers on
//! 127.0.0.1; viewers join and leave during the run. Reports the time from
//! a viewer's PLAY to its first picture with every tile known good,
//! glass-to-glass latency through the relay, keyframes the joins cost the
//! origin, bytes around joins, the relay's CPU and memory, and frames lost
//! per viewer: a table, `--json` and `--html`.
//!
//! Most viewers are light (an RTSP session and a socket, all polled by one
//! thread; the pure decoder runs only until the first whole picture); a
//! few are full GStreamer viewers (`rtspsrc latency=0 ! rtpdeltadepay !
//! deltadec ! framemeter`) that measure latency.

mod bytebins;
mod light;
mod origin;
mod pipeline;
mod procstat;
mod relayproc;
mod report;
mod rtpheader;
mod rtsp;
mod run;

/// compare's content, so that the two programs' figures are about the
/// same pictures.
#[path = "../../../../compare/src/scene.rs"]
#[allow(dead_code)]
mod scene;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Sender, relay and viewers on loopback: join time, latency, CPU, memory.
#[derive(Debug, Parser, Clone)]
#[command(version, about)]
pub struct Args {
    /// Light viewers (RTSP session, RTP checks, the pure decoder only for
    /// the first picture).
    #[arg(long, default_value_t = 20)]
    viewers: usize,
    /// Full GStreamer viewers that decode everything and measure latency.
    #[arg(long, default_value_t = 2)]
    full: usize,
    /// Seconds of the run, from the first join.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Light viewers leave and a new one joins this many times during the
    /// run (after the first joins are spread).
    #[arg(long, default_value_t = 10)]
    churn: usize,
    /// Seconds over which the light viewers' first joins are spread.
    #[arg(long, default_value_t = 5.0)]
    join_spread: f64,
    /// Instead of a timed run: this many joins and leaves one after
    /// another (each waits for its first whole picture), next to
    /// `--viewers` steady light viewers and `--full` full ones; the relay's
    /// memory is sampled after the first 100 and at the end.
    #[arg(long, default_value_t = 0)]
    joins: usize,
    /// Picture width.
    #[arg(long, default_value_t = 1280)]
    width: u32,
    /// Picture height.
    #[arg(long, default_value_t = 720)]
    height: u32,
    /// Frames per second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Content: compare's built-in `screen` or `camera` scene.
    #[arg(long, default_value = "screen", value_parser = scene::Scene::parse_builtin)]
    scene: scene::Scene,
    /// Extra argument for streamkit-relay (repeatable), e.g.
    /// `--relay-arg=--ingest-latency=0`.
    #[arg(long, allow_hyphen_values = true)]
    relay_arg: Vec<String>,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write an HTML report (table and SVG plots) here.
    #[arg(long)]
    html: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let result = match run::run(&args, command) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("relay-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report::table(&result));
    if let Some(path) = &args.json {
        if let Err(e) = report::write_json(&result, path) {
            eprintln!("relay-bench: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = &args.html {
        if let Err(e) = std::fs::write(path, report::html(&result)) {
            eprintln!("relay-bench: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
