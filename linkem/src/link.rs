// SPDX-License-Identifier: MPL-2.0
//! A link between two network namespaces: side A holds `ADDR_A`, side B
//! `ADDR_B`, each on a TUN device of its own, and one forwarder thread
//! carries IPv4 packets between the two devices through a
//! [`LinkDirection`] per direction, which decides each packet's fate.
//!
//! Everything the kernel does with the packets — TCP's retransmission and
//! congestion control, UDP sockets' buffers, RTCP — is the kernel's own:
//! only the path between the two stacks is emulated.
//!
//! The namespaces and devices belong to this process alone (see
//! [`crate::netns`]): dropping the `Link`, or the process ending in any
//! way, removes them.

use std::collections::BinaryHeap;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;
use thiserror::Error;

use crate::model::{ConfigError, Fate, Impairments, LinkDirection, LinkStats};
use crate::netns::Namespace;

/// Side A's address (RFC 2544's benchmarking range, routed nowhere).
pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Side B's address.
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The TUN device's name on each side.
pub const DEVICE: &str = "linkem0";
/// The devices' MTU: an Ethernet path's.
pub const MTU: u16 = 1500;

/// Packets waiting in the forwarder (delayed) beyond this many are dropped
/// and counted: at 50,000 packets/s, 1.3 s of delay.
const MAX_PENDING: usize = 65_536;
/// Packets read from one device before the other gets its turn.
const READ_BATCH: usize = 64;

/// One of the two directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    AToB = 0,
    BToA = 1,
}

/// What each direction does, and the seed of their randomness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    pub a_to_b: Impairments,
    pub b_to_a: Impairments,
    pub seed: u64,
}

impl LinkConfig {
    /// The same impairments both ways.
    pub fn symmetric(each_way: Impairments, seed: u64) -> Self {
        LinkConfig {
            a_to_b: each_way,
            b_to_a: each_way,
            seed,
        }
    }
}

/// Why a link could not be made.
#[derive(Debug, Error)]
pub enum LinkError {
    #[error("invalid link settings: {0}")]
    Config(#[from] ConfigError),
    #[error(
        "cannot make a network namespace: {0} (the link emulator needs root, or CAP_NET_ADMIN)"
    )]
    Namespace(io::Error),
    #[error("cannot make the TUN device on side {side}: {why} (is /dev/net/tun there?)")]
    Tun { side: char, why: String },
    #[error("the link emulator: {0}")]
    Io(#[from] io::Error),
}

/// What the forwarder itself counted, beyond each direction's [`LinkStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwarderStats {
    /// Packets that were not IPv4 (the link carries IPv4 only).
    pub not_ipv4: u64,
    /// Delayed packets dropped because `MAX_PENDING` were already waiting.
    pub overflow: u64,
    /// Writes to a device that failed.
    pub write_errors: u64,
    /// CPU time the forwarder thread has used.
    pub cpu: Duration,
}

struct Shared {
    dirs: Mutex<[LinkDirection; 2]>,
    forwarder: Mutex<ForwarderStats>,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Two namespaces joined by an emulated link; see the module's text.
pub struct Link {
    a: Namespace,
    b: Namespace,
    shared: Arc<Shared>,
    wake: UnixDatagram,
    forwarder: Option<JoinHandle<io::Result<()>>>,
}

impl Link {
    /// Makes both namespaces and devices and starts forwarding.
    pub fn new(cfg: LinkConfig) -> Result<Self, LinkError> {
        let dirs = [
            LinkDirection::new(cfg.a_to_b, cfg.seed)?,
            LinkDirection::new(cfg.b_to_a, cfg.seed ^ 0x9e37_79b9_7f4a_7c15)?,
        ];
        let a = Namespace::new().map_err(LinkError::Namespace)?;
        let b = Namespace::new().map_err(LinkError::Namespace)?;
        // Each side is a host: its programs reach each other (a relay and
        // the origin that publishes to it) over its own loopback.
        for ns in [&a, &b] {
            ns.loopback_up().map_err(LinkError::Namespace)?;
        }
        let dev_a = device(&a, 'A', ADDR_A, ADDR_B)?;
        let dev_b = device(&b, 'B', ADDR_B, ADDR_A)?;
        let shared = Arc::new(Shared {
            dirs: Mutex::new(dirs),
            forwarder: Mutex::new(ForwarderStats::default()),
            stop: AtomicBool::new(false),
        });
        let (wake, woken) = UnixDatagram::pair()?;
        woken.set_nonblocking(true)?;
        let inside = shared.clone();
        let forwarder = std::thread::Builder::new()
            .name("linkem-forward".into())
            .spawn(move || forward([dev_a, dev_b], woken, &inside))?;
        Ok(Link {
            a,
            b,
            shared,
            wake,
            forwarder: Some(forwarder),
        })
    }

    /// Side A's namespace.
    pub fn a(&self) -> &Namespace {
        &self.a
    }

    /// Side B's namespace.
    pub fn b(&self) -> &Namespace {
        &self.b
    }

    /// Each direction's counters, A to B first.
    pub fn stats(&self) -> [LinkStats; 2] {
        let dirs = lock(&self.shared.dirs);
        [dirs[0].stats(), dirs[1].stats()]
    }

    /// The forwarder's own counters.
    pub fn forwarder_stats(&self) -> ForwarderStats {
        *lock(&self.shared.forwarder)
    }

    /// Changes what `direction` does from its next packet on.
    pub fn set_impairments(
        &self,
        direction: Direction,
        cfg: Impairments,
    ) -> Result<(), ConfigError> {
        lock(&self.shared.dirs)[direction as usize].set_impairments(cfg)
    }

    /// What `direction` does now.
    pub fn impairments(&self, direction: Direction) -> Impairments {
        *lock(&self.shared.dirs)[direction as usize].impairments()
    }

    /// Stops the forwarder; returns its final counters, or why it had
    /// failed. Dropping the link stops it too, silently.
    pub fn close(mut self) -> io::Result<ForwarderStats> {
        self.stop()?;
        Ok(self.forwarder_stats())
    }

    fn stop(&mut self) -> io::Result<()> {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.wake.send(&[1]);
        match self.forwarder.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| io::Error::other("the forwarder panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The TUN device of one side: made inside `ns`, addressed `local` with
/// `peer` at the other end, up.
fn device(
    ns: &Namespace,
    side: char,
    local: Ipv4Addr,
    peer: Ipv4Addr,
) -> Result<tun::Device, LinkError> {
    // No IPv6 on the link: its neighbour discovery would only add packets
    // the link then counts.
    let _ = ns.sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    let dev = ns
        .run(|| {
            let mut cfg = tun::Configuration::default();
            cfg.tun_name(DEVICE)
                .address(local)
                .destination(peer)
                .netmask(Ipv4Addr::new(255, 255, 255, 255))
                .mtu(MTU)
                .up();
            tun::create(&cfg)
        })?
        .map_err(|e| LinkError::Tun {
            side,
            why: e.to_string(),
        })?;
    dev.set_nonblock()?;
    Ok(dev)
}

/// A packet waiting to be written to the device `to` at `at`.
struct Pending {
    at: Duration,
    /// Ties in `at` leave in the order they came.
    seq: u64,
    to: usize,
    packet: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    /// Reversed, so that the heap's top is the earliest.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The forwarder's state between wake-ups.
struct Forwarder<'a> {
    devs: [tun::Device; 2],
    shared: &'a Shared,
    origin: Instant,
    pending: BinaryHeap<Pending>,
    /// Buffers of packets already written, for reuse.
    spare: Vec<Vec<u8>>,
    seq: u64,
    stats: ForwarderStats,
}

impl Forwarder<'_> {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn write(&mut self, to: usize, packet: &[u8]) {
        if self.devs[to].send(packet).is_err() {
            self.stats.write_errors += 1;
        }
    }

    /// Holds a copy of `packet` for the device `to` until `at`.
    fn hold(&mut self, to: usize, at: Duration, packet: &[u8]) {
        if self.pending.len() >= MAX_PENDING {
            self.stats.overflow += 1;
            return;
        }
        let mut copy = self.spare.pop().unwrap_or_default();
        copy.clear();
        copy.extend_from_slice(packet);
        self.seq += 1;
        self.pending.push(Pending {
            at,
            seq: self.seq,
            to,
            packet: copy,
        });
    }

    /// Writes every held packet that is due; returns when the next is.
    fn deliver_due(&mut self) -> Option<Duration> {
        loop {
            let now = self.now();
            match self.pending.peek() {
                Some(p) if p.at <= now => {
                    let p = self.pending.pop().expect("peeked");
                    self.write(p.to, &p.packet);
                    self.spare.push(p.packet);
                }
                Some(p) => return Some(p.at - now),
                None => return None,
            }
        }
    }

    /// Reads what device `from` has (up to a batch) and sends each packet
    /// on its way; returns whether it found the device empty.
    fn read_from(&mut self, from: usize, buf: &mut [u8]) -> io::Result<bool> {
        let to = 1 - from;
        for _ in 0..READ_BATCH {
            let n = match self.devs[from].recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let packet = &buf[..n];
            if packet.first().map(|b| b >> 4) != Some(4) {
                self.stats.not_ipv4 += 1;
                continue;
            }
            let now = self.now();
            let fate = lock(&self.shared.dirs)[from].offer(now, n);
            if let Fate::Delivered { at, duplicate } = fate {
                for at in std::iter::once(at).chain(duplicate) {
                    if at <= now {
                        self.write(to, packet);
                    } else {
                        self.hold(to, at, packet);
                    }
                }
            }
        }
        Ok(false)
    }

    fn publish(&mut self) {
        self.stats.cpu = thread_cpu_time();
        *lock(&self.shared.forwarder) = self.stats;
    }
}

/// The forwarder thread: waits for a packet on either device, for the
/// next held packet's time, or for `woken`; stops when told.
fn forward(devs: [tun::Device; 2], woken: UnixDatagram, shared: &Shared) -> io::Result<()> {
    // Wake on time: the kernel's default timer slack (50 µs) would be most
    // of the forwarder's budget of added delay.
    // SAFETY: prctl(PR_SET_TIMERSLACK) takes a plain integer and affects
    // only the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
    let fds: [i32; 2] = [devs[0].as_raw_fd(), devs[1].as_raw_fd()];
    let mut f = Forwarder {
        devs,
        shared,
        origin: Instant::now(),
        pending: BinaryHeap::new(),
        spare: Vec::new(),
        seq: 0,
        stats: ForwarderStats::default(),
    };
    let mut buf = vec![0u8; 65_536];
    let mut last_publish = Instant::now();
    let mut result = Ok(());
    while !shared.stop.load(Ordering::SeqCst) {
        let wait = f.deliver_due();
        // SAFETY: both descriptors belong to `f.devs`, which outlives
        // this borrow.
        let (a, b) = unsafe {
            (
                BorrowedFd::borrow_raw(fds[0]),
                BorrowedFd::borrow_raw(fds[1]),
            )
        };
        let mut polled = [
            PollFd::new(a, PollFlags::POLLIN),
            PollFd::new(b, PollFlags::POLLIN),
            PollFd::new(woken.as_fd(), PollFlags::POLLIN),
        ];
        // Publish the counters at least every 100 ms even when idle.
        let wait = wait.map_or(Duration::from_millis(100), |w| {
            w.min(Duration::from_millis(100))
        });
        match ppoll(&mut polled, Some(TimeSpec::from_duration(wait)), None) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                result = Err(e.into());
                break;
            }
        }
        let ready = polled
            .each_ref()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()));
        if ready[2] {
            let mut byte = [0u8; 16];
            while woken.recv(&mut byte).is_ok() {}
        }
        // Both devices in turn, a batch each, until both are empty.
        let mut busy = [ready[0], ready[1]];
        while busy[0] || busy[1] {
            for (from, is_busy) in busy.iter_mut().enumerate() {
                if *is_busy {
                    match f.read_from(from, &mut buf) {
                        Ok(empty) => *is_busy = !empty,
                        Err(e) => {
                            result = Err(e);
                            *is_busy = false;
                        }
                    }
                }
            }
            f.deliver_due();
        }
        if result.is_err() {
            break;
        }
        if last_publish.elapsed() >= Duration::from_millis(50) {
            f.publish();
            last_publish = Instant::now();
        }
    }
    f.publish();
    result
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}
