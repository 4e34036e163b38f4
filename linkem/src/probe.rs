// SPDX-License-Identifier: MPL-2.0
//! Measuring a link from outside: UDP probe packets that carry their
//! sequence number and send time, sent from side A and received on side B
//! by threads of this process, so one clock stamps both ends and one-way
//! delays are measured, not estimated. Used by the link's tests and by
//! `linkem-bench`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::link::{Link, ADDR_A, ADDR_B};
use crate::netns::Namespace;

/// Bytes of a probe's header: sequence number, then send time in ns since
/// the probe's origin, both big-endian.
pub const HEADER: usize = 16;
/// IPv4 and UDP headers, which a packet's size on the link includes.
pub const IP_UDP_HEADERS: usize = 28;

/// A probe packet as the receiver saw it.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub seq: u64,
    /// Bytes of the IP packet.
    pub ip_len: usize,
    pub sent: Duration,
    pub arrived: Duration,
}

impl Arrival {
    pub fn one_way(&self) -> Duration {
        self.arrived.saturating_sub(self.sent)
    }
}

/// How to send a train of probes.
#[derive(Debug, Clone, Copy)]
pub struct Train {
    pub packets: u64,
    /// UDP payload bytes, at least `HEADER`.
    pub size: usize,
    /// Between one send and the next; zero sends as fast as possible.
    pub gap: Duration,
    /// How long after the last send arrivals are still awaited, beyond
    /// 300 ms of quiet (set it to the link's delay).
    pub settle: Duration,
}

/// A UDP socket bound to `addr` inside `ns` (None: where the caller is).
pub fn socket(ns: Option<&Namespace>, addr: Ipv4Addr) -> io::Result<UdpSocket> {
    match ns {
        Some(ns) => ns.run(|| UdpSocket::bind((addr, 0)))?,
        None => UdpSocket::bind((addr, 0)),
    }
}

/// Sends `train` from `tx` to `rx`'s address and returns what `rx`
/// received, in arrival order.
pub fn send_train(tx: &UdpSocket, rx: &UdpSocket, train: Train) -> io::Result<Vec<Arrival>> {
    assert!(train.size >= HEADER, "a probe carries {HEADER} bytes");
    let to: SocketAddr = rx.local_addr()?;
    rx.set_read_timeout(Some(Duration::from_millis(20)))?;
    let origin = Instant::now();
    std::thread::scope(|scope| {
        let receiver = scope.spawn(|| receive(rx, origin, train));
        let mut packet = vec![0u8; train.size];
        let start = Instant::now();
        let mut result = Ok(());
        for seq in 0..train.packets {
            if !train.gap.is_zero() {
                // paced against the start, so the rate holds whatever each
                // send costs
                let due = start + train.gap.saturating_mul(seq as u32);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            packet[..8].copy_from_slice(&seq.to_be_bytes());
            let sent = origin.elapsed().as_nanos() as u64;
            packet[8..16].copy_from_slice(&sent.to_be_bytes());
            if let Err(e) = tx.send_to(&packet, to) {
                // a full socket buffer when sending flat out is the
                // kernel's own drop, not a failure
                if e.kind() != io::ErrorKind::WouldBlock && e.raw_os_error() != Some(libc::ENOBUFS)
                {
                    result = Err(e);
                    break;
                }
            }
        }
        let got = receiver
            .join()
            .map_err(|_| io::Error::other("the receiving thread panicked"))?;
        result.map(|()| got)
    })
}

fn receive(rx: &UdpSocket, origin: Instant, train: Train) -> Vec<Arrival> {
    let mut got = Vec::new();
    let mut buf = [0u8; 65_536];
    let mut quiet_since = Instant::now();
    let sending_for = train.gap.saturating_mul(train.packets as u32);
    loop {
        match rx.recv(&mut buf) {
            Ok(len) if len >= HEADER => {
                let arrived = origin.elapsed();
                let field =
                    |at: usize| u64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
                got.push(Arrival {
                    seq: field(0),
                    ip_len: len + IP_UDP_HEADERS,
                    sent: Duration::from_nanos(field(8)),
                    arrived,
                });
                quiet_since = Instant::now();
            }
            Ok(_) => {}
            Err(_) => {
                let done_sending = got.last().is_some_and(|a| a.seq + 1 >= train.packets)
                    || origin.elapsed() > sending_for;
                if done_sending && quiet_since.elapsed() > train.settle + Duration::from_millis(300)
                {
                    return got;
                }
            }
        }
    }
}

/// Sends `train` across `link`, from side A to side B.
pub fn across(link: &Link, train: Train) -> io::Result<Vec<Arrival>> {
    let rx = socket(Some(link.b()), ADDR_B)?;
    let tx = socket(Some(link.a()), ADDR_A)?;
    send_train(&tx, &rx, train)
}

/// Sends `train` over this namespace's loopback: the baseline the link's
/// added delay is measured against.
pub fn over_loopback(train: Train) -> io::Result<Vec<Arrival>> {
    let rx = socket(None, Ipv4Addr::LOCALHOST)?;
    let tx = socket(None, Ipv4Addr::LOCALHOST)?;
    send_train(&tx, &rx, train)
}

/// The one-way delays of `arrivals`, shortest first.
pub fn sorted_delays(arrivals: &[Arrival]) -> Vec<Duration> {
    let mut d: Vec<_> = arrivals.iter().map(Arrival::one_way).collect();
    d.sort();
    d
}

/// The `q` quantile (0..=1) of `sorted`, nearest rank; zero when empty.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize]
}
