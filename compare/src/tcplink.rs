// SPDX-License-Identifier: MPL-2.0
//! The modelled TCP link: when each write handed to tcpserversink would
//! reach the receiver over a path with delay, jitter, a bandwidth cap and
//! loss. Pure arithmetic on nanosecond timestamps, no GStreamer types.

use crate::config::NetOptions;

/// A small deterministic generator for the TCP loss model.
struct XorShift(u64);

impl XorShift {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The network under a TCP connection, as the sender sees it: bandwidth
/// (serialisation), one-way delay with jitter, and loss. TCP delivers in
/// order and never loses data: a lost segment is sent again and everything
/// behind it waits (head-of-line blocking), one round trip when enough
/// segments follow it for fast retransmit (3 duplicate ACKs), else a
/// tail-loss probe of two round trips (at least 10 ms, as Linux's TLP).
pub struct TcpLink {
    /// When each write still in the queue entered it, oldest first.
    pub entered: std::collections::VecDeque<u64>,
    link_free_at: u64,
    last_delivery: u64,
    delay_ns: u64,
    jitter_ns: u64,
    kbps: Option<u32>,
    loss: f64,
    rng: XorShift,
}

impl TcpLink {
    /// A link with `net`'s delay, jitter, bandwidth and loss; `seed` starts
    /// its random draws.
    pub fn new(net: &NetOptions, seed: u64) -> Self {
        Self {
            entered: Default::default(),
            link_free_at: 0,
            last_delivery: 0,
            delay_ns: u64::from(net.delay_ms) * 1_000_000,
            jitter_ns: u64::from(net.jitter_ms) * 1_000_000,
            kbps: net.kbps,
            loss: net.loss,
            rng: XorShift(seed | 1),
        }
    }

    /// When a write of `size` bytes leaving the queue at `now` arrives.
    pub fn deliver(&mut self, size: u64, now: u64, lossy: bool) -> u64 {
        let entered = self.entered.pop_front().unwrap_or(now);
        let start = entered.max(self.link_free_at);
        let sending = self
            .kbps
            .filter(|&k| k > 0)
            .map_or(0, |k| size * 8 * 1_000_000 / u64::from(k));
        self.link_free_at = start + sending;
        let jitter = if self.jitter_ns > 0 {
            (self.rng.next_f64() * 2.0 * self.jitter_ns as f64) as u64
        } else {
            0
        };
        let one_way = (self.delay_ns + jitter).saturating_sub(self.jitter_ns);
        let rtt = 2 * self.delay_ns;
        let mut stall = 0;
        if lossy && self.loss > 0.0 {
            let segments = size.div_ceil(TCP_MSS);
            for i in 0..segments {
                if self.rng.next_f64() < self.loss {
                    stall += if i + 3 < segments {
                        rtt.max(1_000_000)
                    } else {
                        (2 * rtt).max(TCP_MIN_TLP_MS * 1_000_000)
                    };
                }
            }
        }
        // in order: never before the previous write
        let at = (self.link_free_at + one_way).max(self.last_delivery) + stall;
        self.last_delivery = at;
        at
    }
}

/// Segment size of the TCP loss model: the MSS of a 1500-byte MTU path.
const TCP_MSS: u64 = 1448;
/// Linux's minimum tail-loss-probe timeout.
const TCP_MIN_TLP_MS: u64 = 10;

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn link(delay_ms: u32, jitter_ms: u32, kbps: Option<u32>, loss: f64) -> TcpLink {
        TcpLink::new(
            &NetOptions {
                loss,
                loss_until: None,
                delay_ms,
                jitter_ms,
                kbps,
                ..Default::default()
            },
            7,
        )
    }

    #[test]
    fn tcp_link_delays_each_write_by_the_one_way_delay() {
        let mut l = link(20, 0, None, 0.0);
        for i in 0..5u64 {
            let t = 1_000 * MS + i * 33 * MS;
            l.entered.push_back(t);
            assert_eq!(l.deliver(10_000, t, true), t + 20 * MS);
        }
    }

    #[test]
    fn tcp_link_serialises_at_the_bandwidth_and_keeps_order() {
        // 1 Mbit/s: 125 000 bytes take one second on the wire
        let mut l = link(0, 0, Some(1000), 0.0);
        l.entered.push_back(0);
        l.entered.push_back(0);
        assert_eq!(l.deliver(125_000, 0, true), 1_000 * MS);
        // entered at the same time, waits for the first to finish
        assert_eq!(l.deliver(125_000, 0, true), 2_000 * MS);
    }

    #[test]
    fn tcp_link_jitter_stays_in_range_and_never_reorders() {
        let mut l = link(20, 5, None, 0.0);
        let mut last = 0;
        for i in 0..200u64 {
            let t = i * MS; // 1 ms apart: jitter would reorder if allowed
            l.entered.push_back(t);
            let at = l.deliver(100, t, true);
            assert!(at >= last, "write {i} delivered before the previous one");
            assert!(
                at >= t + 15 * MS && at <= t.max(last) + 25 * MS,
                "write {i}: {at}"
            );
            last = at;
        }
    }

    #[test]
    fn tcp_link_loss_stalls_but_only_while_lossy() {
        let mut l = link(10, 0, None, 1.0);
        l.entered.push_back(0);
        // every one of 10 segments lost: the 7 followed by at least 3 others
        // are fast-retransmitted (one RTT, 20 ms), the last 3 are tail losses
        // (two RTTs, 40 ms)
        assert_eq!(
            l.deliver(10 * TCP_MSS, 0, true),
            10 * MS + 7 * 20 * MS + 3 * 40 * MS
        );
        let t = 1_000 * MS;
        l.entered.push_back(t);
        assert_eq!(l.deliver(10 * TCP_MSS, t, false), t + 10 * MS);
    }
}
