//! linkem-bench: what the link emulator itself costs, measured beside the
//! loopback device in the same run (docs/linkem.md).
//!
//! 1. Added delay: trains of timestamped UDP probes across a perfect link
//!    (no loss, no delay) and over loopback, alternating, one clock at both
//!    ends; the difference of their one-way delays is the forwarder's.
//! 2. Packet rate: 64-byte probes sent as fast as one thread can across a
//!    perfect link; the forwarder's own CPU time gives the packets it
//!    forwards per second of one core, whatever else shares the machine.

use std::time::{Duration, Instant};

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
    /// Probes sent flat out in the rate measurement.
    #[arg(long, default_value_t = 300_000)]
    flood: u64,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let link =
        Link::new(LinkConfig::symmetric(Default::default(), 1)).map_err(|e| e.to_string())?;

    // 1. Added delay.
    let train = Train {
        packets: args.probes,
        size: 200,
        gap: Duration::from_micros(100),
        settle: Duration::ZERO,
    };
    let (mut across, mut lo) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        across.extend(probe::across(&link, train).map_err(|e| e.to_string())?);
        lo.extend(probe::over_loopback(train).map_err(|e| e.to_string())?);
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

    // 2. Packet rate, on a fresh link so its counters and CPU are this
    // part's alone.
    drop(link);
    let link =
        Link::new(LinkConfig::symmetric(Default::default(), 2)).map_err(|e| e.to_string())?;
    let before = link.forwarder_stats().cpu;
    let start = Instant::now();
    let got = probe::across(
        &link,
        Train {
            packets: args.flood,
            size: 64,
            gap: Duration::ZERO,
            settle: Duration::ZERO,
        },
    )
    .map_err(|e| e.to_string())?;
    let wall = got.last().map_or(start.elapsed(), |a| {
        a.arrived.saturating_sub(got[0].arrived)
    });
    let [ab, _] = link.stats();
    let forwarder = link.close().map_err(|e| e.to_string())?;
    let cpu = forwarder.cpu.saturating_sub(before).as_secs_f64();
    println!(
        "packet rate ({} probes of 64 bytes sent flat out):",
        args.flood
    );
    println!(
        "  forwarded {} of {} sent ({} dropped before the forwarder read them), {} received",
        ab.delivered,
        args.flood,
        args.flood - ab.offered,
        got.len()
    );
    println!(
        "  {:.0} packets/s over {:.2} s of wall time; the forwarder used {:.2} s of CPU: \
         {:.0} packets per second of one core",
        ab.delivered as f64 / wall.as_secs_f64(),
        wall.as_secs_f64(),
        cpu,
        ab.delivered as f64 / cpu
    );
    Ok(())
}
