// SPDX-License-Identifier: MPL-2.0
//! How long a MoQ viewer takes to its first whole picture (docs/quic.md):
//! joins a running broadcast again and again (`moqsrc ! deltadec !
//! appsink`, one viewer at a time, each a new QUIC connection) and prints
//! the distribution of moqsrc's connect-time (the QUIC, TLS, WebTransport
//! and MoQ handshakes), join-time (subscribing to the first picture: the
//! relay's snapshot and the frames since, fetched and folded into one) and
//! first-picture-time (the element's start to the first picture).
//!
//! ```text
//! cargo run --example moq-join -- URL BROADCAST FINGERPRINT [JOINS]
//! ```
//! Run it where the viewers are (for instance on side B of
//! `streamkit-linkem`, with pipelines/moq-relay.sh and moq-publish.sh on
//! side A).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use gst::prelude::*;

fn main() {
    if let Err(e) = run() {
        eprintln!("moq-join: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 || args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "usage: moq-join URL BROADCAST FINGERPRINT [JOINS]\n\
             Joins the broadcast JOINS times (default 20), one viewer at a time, and prints \
             percentiles of moqsrc's connect-time, join-time and first-picture-time."
        );
        if args.len() < 3 {
            bail!("URL, BROADCAST and FINGERPRINT are needed");
        }
        return Ok(());
    }
    let joins: usize = args
        .get(3)
        .map_or(Ok(20), |n| n.parse())
        .context("JOINS is a number")?;
    gst::init()?;
    gststreamkit::plugin_register_static()?;
    let mut times: [Vec<Duration>; 3] = Default::default();
    for i in 0..joins {
        let pipeline = gst::parse::launch(&format!(
            "moqsrc name=src url={} broadcast={} fingerprint={} ! deltadec ! appsink name=view sync=false",
            args[0], args[1], args[2]
        ))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
        let view = pipeline
            .by_name("view")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .context("no appsink")?;
        let started = Instant::now();
        pipeline.set_state(gst::State::Playing)?;
        let sample = view.try_pull_sample(gst::ClockTime::from_seconds(15));
        let stats = pipeline
            .by_name("src")
            .context("no moqsrc")?
            .property::<gst::Structure>("stats");
        let bus = pipeline.bus().context("no bus")?;
        let errors: Vec<String> = bus
            .iter()
            .filter_map(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            })
            .collect();
        pipeline.set_state(gst::State::Null)?;
        if sample.is_none() {
            bail!("join {i}: no picture within 15 s {errors:?}");
        }
        for (k, field) in ["connect-time", "join-time", "first-picture-time"]
            .iter()
            .enumerate()
        {
            times[k].push(Duration::from_nanos(stats.get::<u64>(*field)?));
        }
        eprintln!(
            "join {i}: first picture {:.1} ms after PLAYING",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    println!("{joins} joins        p50 ms   p95 ms   max ms");
    for (k, name) in ["connect-time", "join-time", "first-picture-time"]
        .iter()
        .enumerate()
    {
        let mut t = times[k].clone();
        t.sort();
        let at = |q: f64| {
            t[((t.len() as f64 * q).ceil() as usize).clamp(1, t.len()) - 1].as_secs_f64() * 1e3
        };
        println!(
            "{name:<19} {:7.1}  {:7.1}  {:7.1}",
            at(0.5),
            at(0.95),
            at(1.0)
        );
    }
    Ok(())
}
