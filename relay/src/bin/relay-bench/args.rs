// SPDX-License-Identifier: MPL-2.0
//! What the bench is asked to do: its command line.

use std::path::PathBuf;

use benchkit::scene::Scene;
use clap::{Parser, ValueEnum};

/// How the relay reaches the viewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// streamkit-relay: RTP in, RTSP sessions out.
    Rtsp,
    /// moq-relay: the origin's moqsink publishes, viewers' moqsrc subscribe.
    Moq,
}

/// Sender, relay and viewers on loopback: join time, latency, CPU, memory.
#[derive(Debug, Parser, Clone)]
#[command(version, about)]
pub struct Args {
    /// The relay and its viewers: streamkit-relay over RTSP, or moq-relay
    /// over Media over QUIC.
    #[arg(long, value_enum, default_value_t = Transport::Rtsp)]
    pub transport: Transport,
    /// MoQ: the viewers at a second moq-relay clustered with the origin's.
    #[arg(long)]
    pub cluster: bool,
    /// Light viewers (RTSP: a session, RTP checks, the pure decoder only
    /// for the first picture; MoQ: `moqsrc ! fakesink`, whose first buffer
    /// is its picture).
    #[arg(long, default_value_t = 20)]
    pub viewers: usize,
    /// Full GStreamer viewers that decode everything and measure latency.
    #[arg(long, default_value_t = 2)]
    pub full: usize,
    /// Seconds of the run, from the first join.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Light viewers leave and a new one joins this many times during the
    /// run (after the first joins are spread).
    #[arg(long, default_value_t = 10)]
    pub churn: usize,
    /// Seconds over which the light viewers' first joins are spread.
    #[arg(long, default_value_t = 5.0)]
    pub join_spread: f64,
    /// Instead of a timed run: this many joins and leaves one after
    /// another (each waits for its first whole picture), next to
    /// `--viewers` steady light viewers and `--full` full ones; the relay's
    /// memory is sampled after the first 100 and at the end.
    #[arg(long, default_value_t = 0)]
    pub joins: usize,
    /// Picture width.
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    /// Picture height.
    #[arg(long, default_value_t = 720)]
    pub height: u32,
    /// Frames per second.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Content: compare's built-in `screen` or `camera` scene.
    #[arg(long, default_value = "screen", value_parser = Scene::parse_builtin)]
    pub scene: Scene,
    /// Extra argument for streamkit-relay, or for each moq-relay
    /// (repeatable), e.g. `--relay-arg=--ingest-latency=0`.
    #[arg(long, allow_hyphen_values = true)]
    pub relay_arg: Vec<String>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an HTML report (table and SVG plots) here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Internal: be the MoQ mode's process of light viewers, driven over
    /// stdin and stdout by the bench.
    #[arg(long, hide = true)]
    pub viewer_process: bool,
}
