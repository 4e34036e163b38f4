// SPDX-License-Identifier: MPL-2.0
//! linkem-bench: what the link emulator itself costs, measured beside the
//! loopback device in the same run (docs/linkem.md).
//!
//! 1. Added delay: trains of timestamped UDP probes across a perfect link
//!    (no loss, no delay) and over loopback, alternating, one clock at both
//!    ends; the difference of their one-way delays is the forwarder's.
//! 2. Packet rate: 64-byte probes paced at fixed rates across a perfect
//!    link; what was forwarded and received, and the forwarder thread's own
//!    CPU time as a share of one core.

use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use streamkit_linkem::probe::{self, quantile, sorted_delays, Train};
use streamkit_linkem::{Link, LinkConfig};

/// Measure the link emulator's added delay and packet rate.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Alternating rounds of the delay measurement.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Probes per round and path.
    #[arg(long, default_value_t = 2000)]
    probes: u64,
    /// Packet rates to offer, per second.
    #[arg(long, value_delimiter = ',', default_value = "50000,100000,200000")]
    rates: Vec<u32>,
    /// Seconds at each rate.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let link = Link::new(LinkConfig::symmetric(Default::default(), 1))?;

    // 1. Added delay.
    let train = Train {
        packets: args.probes,
        size: 200,
        gap: Duration::from_micros(100),
        settle: Duration::ZERO,
    };
    let (mut across, mut lo) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        across.extend(probe::across(&link, train)?);
        lo.extend(probe::over_loopback(train)?);
    }
    let (across, lo) = (sorted_delays(&across), sorted_delays(&lo));
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "one-way delay, µs ({} probes each, {} rounds alternating):",
        across.len(),
        args.rounds
    );
    println!("  path        p50      p90      p99");
    for (name, d) in [("link", &across), ("loopback", &lo)] {
        println!(
            "  {name:8} {:7.1}  {:7.1}  {:7.1}",
            us(quantile(d, 0.5)),
            us(quantile(d, 0.9)),
            us(quantile(d, 0.99))
        );
    }
    let added = |q| us(quantile(&across, q)) - us(quantile(&lo, q));
    println!(
        "  added by the link: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs",
        added(0.5),
        added(0.9),
        added(0.99)
    );

    // 2. Packet rate: a fresh link per rate, so its counters and CPU are
    // that rate's alone.
    drop(link);
    println!(
        "packet rate ({} s of 64-byte probes at each rate):",
        args.seconds
    );
    println!("  offered/s   sent    forwarded  received  forwarder CPU");
    for rate in &args.rates {
        let link = Link::new(LinkConfig::symmetric(Default::default(), 2))?;
        let packets = (f64::from(*rate) * args.seconds) as u64;
        let got = probe::across(
            &link,
            Train {
                packets,
                size: 64,
                gap: Duration::from_secs_f64(1.0 / f64::from(*rate)),
                settle: Duration::ZERO,
            },
        )?;
        let [ab, _] = link.stats();
        let forwarder = link.close()?;
        println!(
            "  {rate:9} {packets:8} {:10} {:9}  {:.2} s ({:.0}% of one core)",
            ab.delivered,
            got.len(),
            forwarder.cpu.as_secs_f64(),
            100.0 * forwarder.cpu.as_secs_f64() / args.seconds
        );
    }
    Ok(())
}
