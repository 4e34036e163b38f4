// SPDX-License-Identifier: MPL-2.0
//! streamkit-linkem: runs commands on either side of an emulated link.
//! Side A is 198.18.0.1 and side B 198.18.0.2, each in a network namespace
//! of this process's own; whatever the commands send each other crosses
//! the link, which loses, delays, reorders, duplicates and caps it.
//! See docs/linkem.md.

use std::process::{Child, Command, ExitCode};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use streamkit_linkem::{GilbertElliott, Impairments, Link, LinkConfig, LinkStats, ADDR_A, ADDR_B};

/// Run commands on the two sides of an emulated network link.
///
/// Side A has the address 198.18.0.1, side B 198.18.0.2; nothing else is
/// reachable from either. Each setting applies to both directions, except
/// the bandwidth cap, which applies from A to B. The program ends when
/// every command has ended (Ctrl-C reaches the commands too), and prints
/// what the link did.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// A shell command to run on side A (198.18.0.1); may be repeated.
    #[arg(long = "a", value_name = "COMMAND")]
    a: Vec<String>,
    /// A shell command to run on side B (198.18.0.2); may be repeated.
    /// B's commands start first, so a receiver is listening before A sends.
    #[arg(long = "b", value_name = "COMMAND")]
    b: Vec<String>,
    /// Packets lost, percent.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Losses come in bursts of this many packets on average
    /// (Gilbert–Elliott per packet, as netem's gemodel); without it or
    /// --outage-ms, each packet is lost independently.
    #[arg(long, conflicts_with = "outage_ms")]
    burst: Option<f64>,
    /// Losses come as outages of this many ms on average, --loss being the
    /// share of the time the link is out (Gilbert–Elliott in time): every
    /// flow on the link meets the same outages, whatever its packet rate.
    #[arg(long)]
    outage_ms: Option<f64>,
    /// One-way delay, ms.
    #[arg(long, default_value_t = 0.0, conflicts_with = "rtt")]
    delay: f64,
    /// Round-trip time, ms: half of it each way.
    #[arg(long)]
    rtt: Option<f64>,
    /// The delay varies uniformly by ± this many ms (order kept).
    #[arg(long, default_value_t = 0.0)]
    jitter: f64,
    /// Packets held back by --reorder-delay and so overtaken, percent.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// How long a reordered packet is held back, ms.
    #[arg(long, default_value_t = 5.0)]
    reorder_delay: f64,
    /// Packets that arrive twice, percent.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Bandwidth cap from A to B, kbit/s.
    #[arg(long)]
    rate: Option<u64>,
    /// KiB that may queue at the bandwidth cap; more are dropped.
    #[arg(long, default_value_t = 64)]
    queue_kb: usize,
    /// Seed of the link's randomness (a run repeats exactly for the same
    /// packets at the same times).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn ms(v: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(v / 1000.0).map_err(|_| anyhow!("--{what} {v} is not a time in ms"))
}

fn ms_positive(v: f64, what: &str) -> Result<Duration> {
    let d = ms(v, what)?;
    if d.is_zero() {
        bail!("--{what} must be above zero");
    }
    Ok(d)
}

fn config(args: &Args) -> Result<LinkConfig> {
    let share = |v: f64, what: &str| {
        if (0.0..=100.0).contains(&v) {
            Ok(v / 100.0)
        } else {
            Err(anyhow!("--{what} {v} is not a percentage"))
        }
    };
    let loss = share(args.loss, "loss")?;
    let loss = match (args.burst, args.outage_ms) {
        (Some(b), _) if b.is_nan() || b < 1.0 => {
            bail!("--burst is a mean number of packets, at least 1");
        }
        (Some(b), _) => GilbertElliott::bursty(loss, b),
        (None, Some(ms)) => {
            let mean = ms_positive(ms, "outage-ms")?;
            GilbertElliott::outages(loss, mean)
        }
        (None, None) => GilbertElliott::random(loss),
    };
    let delay = match args.rtt {
        Some(rtt) => ms(rtt / 2.0, "rtt")?,
        None => ms(args.delay, "delay")?,
    };
    let each_way = Impairments {
        loss,
        delay,
        jitter: ms(args.jitter, "jitter")?,
        reorder: share(args.reorder, "reorder")?,
        reorder_delay: ms(args.reorder_delay, "reorder-delay")?,
        duplicate: share(args.duplicate, "duplicate")?,
        rate_bps: None,
        queue_bytes: args.queue_kb.saturating_mul(1024),
    };
    Ok(LinkConfig {
        a_to_b: Impairments {
            rate_bps: args.rate.map(|k| k.saturating_mul(1000)),
            ..each_way
        },
        b_to_a: each_way,
        seed: args.seed,
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("streamkit-linkem: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode> {
    if args.a.is_empty() && args.b.is_empty() {
        bail!("nothing to run: give --a and/or --b commands (see --help)");
    }
    let link = Link::new(config(args)?)?;
    eprintln!("streamkit-linkem: side A is {ADDR_A}, side B is {ADDR_B}");
    let mut children: Vec<(String, Child)> = Vec::new();
    let sides = args
        .b
        .iter()
        .map(|c| ('B', link.b(), c))
        .chain(args.a.iter().map(|c| ('A', link.a(), c)));
    for (side, ns, command) in sides {
        let child = ns
            .spawn(
                Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .env("LINKEM_SIDE", side.to_string())
                    .env("LINKEM_ADDR_A", ADDR_A.to_string())
                    .env("LINKEM_ADDR_B", ADDR_B.to_string()),
            )
            .with_context(|| format!("cannot start `{command}` on side {side}"))?;
        children.push((format!("{side}: {command}"), child));
    }
    let mut code = ExitCode::SUCCESS;
    for (name, mut child) in children {
        match child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => {
                eprintln!("streamkit-linkem: `{name}` ended with {status}");
                code = ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("streamkit-linkem: cannot wait for `{name}`: {e}");
                code = ExitCode::FAILURE;
            }
        }
    }
    let [ab, ba] = link.stats();
    let forwarder = link.close().context("the forwarder failed")?;
    eprintln!("{}", describe("A to B", ab));
    eprintln!("{}", describe("B to A", ba));
    eprintln!(
        "forwarder: {:.3} s of CPU, {} not IPv4, {} over its queue, {} write errors",
        forwarder.cpu.as_secs_f64(),
        forwarder.not_ipv4,
        forwarder.overflow,
        forwarder.write_errors
    );
    Ok(code)
}

fn describe(direction: &str, s: LinkStats) -> String {
    format!(
        "{direction}: {} packets ({} bytes) offered, {} lost, {} dropped at the queue, \
         {} delivered, {} duplicated, {} reordered",
        s.offered, s.offered_bytes, s.lost, s.dropped_queue, s.delivered, s.duplicated, s.reordered
    )
}
