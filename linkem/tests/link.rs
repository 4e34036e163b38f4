// SPDX-License-Identifier: MPL-2.0
//! The link emulator measured from outside: real sockets on either side of
//! a real link (two namespaces, two TUN devices, the forwarder), with
//! timestamps from one clock, so one-way delays are measured, not guessed.
//! Needs root (CAP_NET_ADMIN) and /dev/net/tun.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use streamkit_linkem::probe::{self, quantile, sorted_delays, Arrival, Train};
use streamkit_linkem::{
    netns, Direction, GilbertElliott, Impairments, Link, LinkConfig, LinkStats, ADDR_A, ADDR_B,
};

const MS: Duration = Duration::from_millis(1);

fn link(each_way: Impairments) -> Link {
    Link::new(LinkConfig::symmetric(each_way, 7)).unwrap_or_else(|e| {
        panic!("{e}\nthese tests run the link emulator, which needs root and /dev/net/tun")
    })
}

/// Sends `n` probes of `size` payload bytes from side A to side B, `gap`
/// apart; returns what arrived.
fn udp_across(link: &Link, n: u64, size: usize, gap: Duration, settle: Duration) -> Vec<Arrival> {
    probe::across(
        link,
        Train {
            packets: n,
            size,
            gap,
            settle,
        },
    )
    .expect("probes cross the link")
}

/// |observed - expected| within `k` standard deviations of a proportion
/// out of `n`, its variance inflated by `inflation` (1 for independent
/// draws).
fn within(observed: f64, expected: f64, n: u64, k: f64, inflation: f64) -> bool {
    let sigma = (expected * (1.0 - expected) / n as f64 * inflation).sqrt();
    (observed - expected).abs() <= k * sigma
}

#[test]
fn a_perfect_link_delivers_everything_in_order_and_quickly() {
    let link = link(Impairments::default());
    let got = udp_across(&link, 2000, 200, Duration::from_micros(200), Duration::ZERO);
    assert_eq!(got.len(), 2000, "every packet arrives");
    assert!(
        got.windows(2).all(|w| w[0].seq < w[1].seq),
        "in the order sent"
    );
    let d = sorted_delays(&got);
    // The 0.2 ms target is measured by linkem-bench beside loopback; this
    // only catches a forwarder that waits for something.
    assert!(
        quantile(&d, 0.5) < MS,
        "median one-way {:?}",
        quantile(&d, 0.5)
    );
    let [ab, ba] = link.stats();
    assert_eq!(ab.delivered, 2000);
    assert_eq!(ba.offered, 0, "nothing went back: {ba:?}");
    assert_eq!(link.forwarder_stats().not_ipv4, 0);
}

#[test]
fn delay_is_kept_within_a_millisecond() {
    let link = link(Impairments {
        delay: 20 * MS,
        ..Default::default()
    });
    let got = udp_across(&link, 500, 200, Duration::from_millis(2), 20 * MS);
    assert_eq!(got.len(), 500);
    let d = sorted_delays(&got);
    assert!(d[0] >= 20 * MS, "none early: shortest {:?}", d[0]);
    // The link's precision is judged by the median: on a loaded 2-core
    // machine a sending or receiving thread is descheduled for milliseconds
    // often enough to move the p95 (24 ms seen under two busy loops), which
    // is only held to a looser bound.
    let (p50, p95) = (quantile(&d, 0.5), quantile(&d, 0.95));
    assert!(p50 < 21 * MS, "median one-way {p50:?} (p95 {p95:?})");
    assert!(p95 < 30 * MS, "p95 one-way {p95:?} (median {p50:?})");
}

#[test]
fn jitter_stays_in_its_range_and_keeps_the_order() {
    let link = link(Impairments {
        delay: 20 * MS,
        jitter: 5 * MS,
        ..Default::default()
    });
    let got = udp_across(&link, 500, 200, Duration::from_millis(2), 25 * MS);
    assert_eq!(got.len(), 500);
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq), "order kept");
    let d = sorted_delays(&got);
    assert!(d[0] >= 15 * MS, "shortest {:?}", d[0]);
    // Up to 25 ms from the link; more only from a descheduled thread, which
    // a loaded 2-core machine gives (31 ms seen under two busy loops), so
    // the top is held loosely and the middle of the range tightly.
    let p50 = quantile(&d, 0.5);
    assert!(p50 > 17 * MS && p50 < 23 * MS, "median {p50:?}");
    assert!(quantile(&d, 0.95) < 35 * MS, "p95 {:?}", quantile(&d, 0.95));
    // spread over the range, not all at one end
    assert!(
        quantile(&d, 0.9) - quantile(&d, 0.1) > 5 * MS,
        "p10 {:?} p90 {:?}",
        quantile(&d, 0.1),
        quantile(&d, 0.9)
    );
}

/// What arrived against what the link decided: the packets missing at
/// the receiver are exactly the ones the link lost.
fn check_losses_match(got: &[Arrival], sent: u64, ab: LinkStats) {
    assert_eq!(ab.offered, sent);
    assert_eq!(got.len() as u64, ab.delivered, "{ab:?}");
    assert_eq!(sent - got.len() as u64, ab.lost, "{ab:?}");
}

#[test]
fn random_loss_is_within_statistical_bounds() {
    let link = link(Impairments {
        loss: GilbertElliott::random(0.05),
        ..Default::default()
    });
    let n = 6000;
    let got = udp_across(&link, n, 100, Duration::from_micros(100), Duration::ZERO);
    check_losses_match(&got, n, link.stats()[0]);
    let loss = 1.0 - got.len() as f64 / n as f64;
    assert!(within(loss, 0.05, n, 4.5, 1.0), "measured loss {loss}");
}

#[test]
fn bursty_loss_has_its_rate_and_comes_in_bursts() {
    let mean_burst = 4.0;
    let ge = GilbertElliott::bursty(0.05, mean_burst);
    let link = link(Impairments {
        loss: ge,
        ..Default::default()
    });
    let n = 12_000;
    let got = udp_across(&link, n, 100, Duration::from_micros(80), Duration::ZERO);
    check_losses_match(&got, n, link.stats()[0]);
    let loss = 1.0 - got.len() as f64 / n as f64;
    // Losses in runs are correlated: the variance of the rate grows by
    // (1 + rho) / (1 - rho), rho = 1 - p - r the chain's lag-1 correlation.
    let rho = 1.0 - ge.p - ge.r;
    assert!(
        within(loss, 0.05, n, 4.5, (1.0 + rho) / (1.0 - rho)),
        "measured loss {loss}"
    );
    // runs of missing sequence numbers
    let mut runs = Vec::new();
    let mut next = 0;
    for a in got.iter().map(|a| a.seq).chain([n]) {
        if a > next {
            runs.push(a - next);
        }
        next = a + 1;
    }
    let mean = runs.iter().sum::<u64>() as f64 / runs.len() as f64;
    // geometric run lengths: standard deviation sqrt(m (m - 1)) each
    let sigma = (mean_burst * (mean_burst - 1.0) / runs.len() as f64).sqrt();
    assert!(
        (mean - mean_burst).abs() <= 4.5 * sigma,
        "mean burst {mean} over {} bursts",
        runs.len()
    );
}

#[test]
fn the_rate_cap_holds_within_five_percent_and_its_queue_fills() {
    let rate = 4_000_000;
    let queue = 64 * 1024;
    let link = link(Impairments {
        rate_bps: Some(rate),
        queue_bytes: queue,
        ..Default::default()
    });
    // Offer twice the cap for 1.5 s: 1172-byte payloads (1200-byte IP
    // packets) every 1.2 ms are 8 Mbit/s.
    let n = 1250;
    let got = udp_across(&link, n, 1172, Duration::from_micros(1200), 200 * MS);
    let [ab, _] = link.stats();
    check_losses_match(
        &got,
        n,
        LinkStats {
            lost: ab.dropped_queue,
            ..ab
        },
    );
    assert!(ab.dropped_queue > n / 3, "the queue overflowed: {ab:?}");
    // Throughput from the first arrival to the last, once the queue has
    // filled (the first quarter excluded).
    let steady = &got[got.len() / 4..];
    let bytes: usize = steady[1..].iter().map(|a| a.ip_len).sum();
    let span = steady.last().unwrap().arrived - steady[0].arrived;
    let measured = bytes as f64 * 8.0 / span.as_secs_f64();
    assert!(
        (measured / rate as f64 - 1.0).abs() <= 0.05,
        "measured {measured:.0} bit/s against a cap of {rate}"
    );
    // Bufferbloat: a full queue of 64 KiB at 4 Mbit/s is 131 ms of delay.
    let full = Duration::from_secs_f64(queue as f64 * 8.0 / rate as f64);
    let late = sorted_delays(steady);
    let median = quantile(&late, 0.5);
    assert!(
        median > full.mul_f64(0.9) && median < full.mul_f64(1.1),
        "queueing delay {median:?}, a full queue is {full:?}"
    );
}

#[test]
fn reordering_and_duplication_reach_the_receiver() {
    let link = link(Impairments {
        reorder: 0.05,
        reorder_delay: 3 * MS,
        duplicate: 0.03,
        ..Default::default()
    });
    let n = 4000;
    let got = udp_across(&link, n, 100, Duration::from_micros(250), 5 * MS);
    let [ab, _] = link.stats();
    assert_eq!(got.len() as u64, ab.delivered + ab.duplicated, "{ab:?}");
    let mut seen = std::collections::HashSet::new();
    let duplicates = got.iter().filter(|a| !seen.insert(a.seq)).count() as u64;
    assert_eq!(duplicates, ab.duplicated);
    assert!(within(duplicates as f64 / n as f64, 0.03, n, 4.5, 1.0));
    // A held-back packet arrives after later ones; so may its copy, if it
    // has one.
    let late = got.windows(2).filter(|w| w[1].seq < w[0].seq).count() as u64;
    assert!(
        late > 0 && late <= ab.reordered + ab.duplicated,
        "{late} arrived after a later one; {ab:?}"
    );
    assert!(within(ab.reordered as f64 / n as f64, 0.05, n, 4.5, 1.0));
}

#[test]
fn tcp_carries_every_byte_across_a_lossy_link() {
    let link = link(Impairments {
        loss: GilbertElliott::random(0.03),
        delay: 5 * MS,
        ..Default::default()
    });
    let listener = link
        .b()
        .run(|| TcpListener::bind((ADDR_B, 0)))
        .unwrap()
        .expect("a listener on side B");
    let to = listener.local_addr().unwrap();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let received = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let (mut conn, peer) = listener.accept().expect("accept");
            assert_eq!(peer.ip(), ADDR_A);
            let mut got = Vec::new();
            conn.read_to_end(&mut got).expect("read");
            got
        });
        let mut conn = link
            .a()
            .run(|| TcpStream::connect(to))
            .unwrap()
            .expect("connect from side A");
        conn.write_all(&data).expect("write");
        drop(conn);
        reader.join().expect("reader")
    });
    assert!(
        received == data,
        "{} of {} bytes, or corrupted",
        received.len(),
        data.len()
    );
    let [ab, ba] = link.stats();
    assert!(ab.lost > 0 && ba.lost > 0, "loss both ways: {ab:?} {ba:?}");
}

#[test]
fn settings_change_while_running() {
    let link = link(Impairments {
        loss: GilbertElliott::random(1.0),
        ..Default::default()
    });
    let got = udp_across(&link, 100, 100, Duration::from_micros(200), Duration::ZERO);
    assert!(got.is_empty());
    link.set_impairments(Direction::AToB, Impairments::default())
        .unwrap();
    let got = udp_across(&link, 100, 100, Duration::from_micros(200), Duration::ZERO);
    assert_eq!(got.len(), 100);
    assert!(link
        .set_impairments(
            Direction::BToA,
            Impairments {
                duplicate: 2.0,
                ..Default::default()
            }
        )
        .is_err());
}

/// Every network namespace inode this process refers to: its threads',
/// and its open descriptors'.
fn namespaces_held() -> Vec<u64> {
    let mut held = Vec::new();
    let links = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .map(|t| t.path().join("ns/net"))
        .chain(
            std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .flatten()
                .map(|f| f.path()),
        );
    for l in links {
        if let Ok(target) = std::fs::read_link(&l) {
            let t = target.to_string_lossy().to_string();
            if let Some(ino) = t.strip_prefix("net:[").and_then(|r| r.strip_suffix(']')) {
                held.push(ino.parse().unwrap());
            }
        }
    }
    held
}

fn root_devices() -> Vec<String> {
    let mut d: Vec<_> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    d.sort();
    d
}

#[test]
fn nothing_is_left_behind() {
    let before = root_devices();
    let here = netns::current_inode().unwrap();
    let link = link(Impairments::default());
    let (a, b) = (link.a().inode().unwrap(), link.b().inode().unwrap());
    assert!(a != here && b != here && a != b);
    assert!(namespaces_held().contains(&a));
    assert_eq!(root_devices(), before, "nothing appears outside the link");
    link.close().expect("the forwarder stops cleanly");
    let held = namespaces_held();
    assert!(
        !held.contains(&a) && !held.contains(&b),
        "no reference to either namespace is left, so the kernel removes them"
    );
    assert_eq!(root_devices(), before);
}
