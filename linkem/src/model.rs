// SPDX-License-Identifier: MPL-2.0
//! One direction of an emulated link: what happens to each packet offered
//! to it, decided when it is offered.
//!
//! In order, as a packet meets them on a real path:
//! 1. **The bottleneck** (`rate_bps`): packets leave one after another at
//!    the link's rate; a packet that would find more than `queue_bytes`
//!    waiting ahead of it is dropped (drop-tail), so an overfull link shows
//!    both queueing delay (bufferbloat) and congestion loss.
//! 2. **Loss on the path**: a Gilbert–Elliott chain, stepped once per packet
//!    that left the bottleneck (random loss is its one-state case).
//! 3. **Delay**: `delay` plus a uniform variation of ± `jitter`; order is
//!    kept (a packet never arrives before the one sent ahead of it), as on a
//!    single path whose queues vary.
//! 4. **Reordering**: with probability `reorder`, a packet is held back a
//!    further `reorder_delay` and may be overtaken.
//! 5. **Duplication**: with probability `duplicate`, a second copy arrives
//!    just after the first.
//!
//! Times are passed in (any monotonic clock, as `Duration` since its
//! origin); randomness comes from a generator seeded by the caller, so a
//! run repeats exactly.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use thiserror::Error;

/// Two-state (Gilbert–Elliott) loss. In the good state a packet is lost
/// with probability `loss_good`, in the bad state with `loss_bad`.
///
/// Per packet (`time_unit` None): after each packet the chain moves good →
/// bad with probability `p` and bad → good with probability `r`, as netem's
/// `gemodel` does. Bursts are then counted in packets, which suits one
/// steady flow but not flows of different rates: a burst of 4 packets is
/// 2 ms of a 20 Mbit/s stream, and seconds of a TCP connection that is
/// sending one retransmission per time-out.
///
/// In time (`time_unit` Some(u)): the chain runs in continuous time, leaving
/// the good state at the rate `p` per `u` and the bad state at `r` per `u`;
/// each packet finds it where it has got to since the last one. A burst is
/// then an outage of some duration that every flow on the link meets alike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    pub p: f64,
    pub r: f64,
    pub loss_good: f64,
    pub loss_bad: f64,
    pub time_unit: Option<Duration>,
}

impl GilbertElliott {
    /// No loss.
    pub const NONE: GilbertElliott = GilbertElliott {
        p: 0.0,
        r: 1.0,
        loss_good: 0.0,
        loss_bad: 0.0,
        time_unit: None,
    };

    /// Independent loss of each packet with probability `rate`.
    pub fn random(rate: f64) -> Self {
        GilbertElliott {
            loss_good: rate,
            ..Self::NONE
        }
    }

    /// Loss in bursts: every packet in the bad state is lost, none in the
    /// good one (the simple Gilbert model), with `rate` the long-run loss
    /// and `mean_burst` (≥ 1) the mean number of packets lost in a row.
    pub fn bursty(rate: f64, mean_burst: f64) -> Self {
        let r = 1.0 / mean_burst.max(1.0);
        // Stationary share of the bad state, p / (p + r), equals `rate`.
        let p = if rate >= 1.0 {
            1.0
        } else {
            r * rate / (1.0 - rate)
        };
        GilbertElliott {
            p: p.min(1.0),
            r,
            loss_good: 0.0,
            loss_bad: 1.0,
            time_unit: None,
        }
    }

    /// Loss in outages: every packet sent while the link is out is lost,
    /// none otherwise, with `rate` the long-run share of the time it is out
    /// (so of the packets of any steady flow) and `mean_outage` how long an
    /// outage lasts on average (exponentially distributed, as are the
    /// spells between them).
    pub fn outages(rate: f64, mean_outage: Duration) -> Self {
        // Rates per mean outage: leave the bad state at 1, the good one at
        // rate / (1 - rate), so that the bad state's share is `rate`.
        let p = if rate >= 1.0 {
            f64::INFINITY
        } else {
            rate / (1.0 - rate)
        };
        GilbertElliott {
            p,
            r: 1.0,
            loss_good: 0.0,
            loss_bad: 1.0,
            time_unit: Some(mean_outage),
        }
    }

    /// The long-run share of packets lost (in time: of a steady flow's).
    pub fn mean_loss(&self) -> f64 {
        if self.p + self.r == 0.0 {
            return self.loss_good;
        }
        if self.p.is_infinite() {
            return self.loss_bad;
        }
        let bad = self.p / (self.p + self.r);
        (1.0 - bad) * self.loss_good + bad * self.loss_bad
    }
}

/// What one direction of the link does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairments {
    pub loss: GilbertElliott,
    /// One-way delay.
    pub delay: Duration,
    /// The delay varies uniformly by ± this much (order kept).
    pub jitter: Duration,
    /// Probability that a packet is held back by `reorder_delay`.
    pub reorder: f64,
    pub reorder_delay: Duration,
    /// Probability that a packet arrives twice.
    pub duplicate: f64,
    /// The bottleneck's rate in bits per second; `None`: unlimited.
    pub rate_bps: Option<u64>,
    /// Bytes that may wait at the bottleneck; more are dropped.
    pub queue_bytes: usize,
}

impl Default for Impairments {
    /// A perfect link: nothing lost, delayed, reordered or capped.
    fn default() -> Self {
        Impairments {
            loss: GilbertElliott::NONE,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
            rate_bps: None,
            queue_bytes: 64 * 1024,
        }
    }
}

/// Settings that describe no link.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("{name} = {value} is not a probability (0..=1)")]
    NotAProbability { name: &'static str, value: f64 },
    #[error("the rate cap must be at least 1000 bit/s")]
    RateTooLow,
    #[error("outages need a mean duration above zero and rates that are not negative")]
    BadOutages,
    #[error("jitter {jitter:?} is larger than the delay {delay:?}")]
    JitterOverDelay { jitter: Duration, delay: Duration },
}

impl Impairments {
    /// Checks every setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(unit) = self.loss.time_unit {
            let rate_ok = |v: f64| !v.is_nan() && v >= 0.0;
            if unit.is_zero() || !rate_ok(self.loss.p) || !rate_ok(self.loss.r) {
                return Err(ConfigError::BadOutages);
            }
        }
        let per_packet = self.loss.time_unit.is_none();
        let probabilities = [
            ("loss p", if per_packet { self.loss.p } else { 0.0 }),
            ("loss r", if per_packet { self.loss.r } else { 0.0 }),
            ("loss in the good state", self.loss.loss_good),
            ("loss in the bad state", self.loss.loss_bad),
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
        ];
        for (name, value) in probabilities {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::NotAProbability { name, value });
            }
        }
        if self.rate_bps.is_some_and(|r| r < 1000) {
            return Err(ConfigError::RateTooLow);
        }
        if self.jitter > self.delay {
            return Err(ConfigError::JitterOverDelay {
                jitter: self.jitter,
                delay: self.delay,
            });
        }
        Ok(())
    }
}

/// Why a packet did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The bottleneck's queue was full.
    Queue,
    /// Lost on the path.
    Loss,
}

/// What becomes of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Dropped(DropReason),
    /// It arrives at `at`, and a copy at `duplicate` if it is duplicated.
    Delivered {
        at: Duration,
        duplicate: Option<Duration>,
    },
}

/// Counters since the direction was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub offered: u64,
    pub offered_bytes: u64,
    pub dropped_queue: u64,
    pub lost: u64,
    pub delivered: u64,
    pub duplicated: u64,
    pub reordered: u64,
}

/// A copy of a duplicated packet arrives this long after the original.
const DUPLICATE_GAP: Duration = Duration::from_micros(1);

/// One direction of a link and its state.
#[derive(Debug, Clone)]
pub struct LinkDirection {
    cfg: Impairments,
    rng: SmallRng,
    bad: bool,
    /// When the bottleneck is free again.
    busy_until: Duration,
    /// The latest in-order arrival so far (later packets do not pass it).
    last_arrival: Duration,
    /// When the loss chain's state was last drawn (chains in time).
    chain_time: Option<Duration>,
    stats: LinkStats,
}

impl LinkDirection {
    /// A direction with `cfg`, its randomness seeded by `seed`.
    pub fn new(cfg: Impairments, seed: u64) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(LinkDirection {
            cfg,
            rng: SmallRng::seed_from_u64(seed),
            bad: false,
            busy_until: Duration::ZERO,
            last_arrival: Duration::ZERO,
            chain_time: None,
            stats: LinkStats::default(),
        })
    }

    pub fn impairments(&self) -> &Impairments {
        &self.cfg
    }

    /// Changes the settings from the next packet on (to stop the loss
    /// halfway through a run, say). The state stays: what waits at the
    /// bottleneck, the loss chain's state, the order of arrivals.
    pub fn set_impairments(&mut self, cfg: Impairments) -> Result<(), ConfigError> {
        cfg.validate()?;
        self.cfg = cfg;
        Ok(())
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Bytes waiting at the bottleneck at `now`.
    pub fn queued_bytes(&self, now: Duration) -> usize {
        match self.cfg.rate_bps {
            Some(rate) => {
                let wait = self.busy_until.saturating_sub(now);
                (wait.as_secs_f64() * rate as f64 / 8.0) as usize
            }
            None => 0,
        }
    }

    /// The per-packet chain: loss from the state this packet finds, then
    /// one step.
    fn lose_per_packet(&mut self) -> bool {
        let loss = self.cfg.loss;
        let lost = self.rng.random_bool(if self.bad {
            loss.loss_bad
        } else {
            loss.loss_good
        });
        self.bad = if self.bad {
            !self.rng.random_bool(loss.r)
        } else {
            self.rng.random_bool(loss.p)
        };
        lost
    }

    /// The chain in time: its state at `at`, drawn from where it was at the
    /// last packet (the two-state chain's transition probabilities over the
    /// time between), then loss from that state. The first packet finds the
    /// chain in its long-run distribution.
    fn lose_in_time(&mut self, at: Duration, unit: Duration) -> bool {
        let loss = self.cfg.loss;
        let unit = unit.as_secs_f64();
        let (leave_good, leave_bad) = (loss.p / unit, loss.r / unit);
        let total = leave_good + leave_bad;
        let stationary_bad = if leave_good.is_infinite() {
            1.0
        } else if total > 0.0 {
            leave_good / total
        } else {
            0.0
        };
        let p_bad = match self.chain_time {
            Some(then) if total.is_finite() => {
                let decay = (-total * at.saturating_sub(then).as_secs_f64()).exp();
                if self.bad {
                    stationary_bad + (1.0 - stationary_bad) * decay
                } else {
                    stationary_bad * (1.0 - decay)
                }
            }
            _ => stationary_bad,
        };
        self.chain_time = Some(at);
        self.bad = self.rng.random_bool(p_bad.clamp(0.0, 1.0));
        self.rng.random_bool(if self.bad {
            loss.loss_bad
        } else {
            loss.loss_good
        })
    }

    /// Offers a packet of `len` bytes at `now`; returns what becomes of it.
    pub fn offer(&mut self, now: Duration, len: usize) -> Fate {
        self.stats.offered += 1;
        self.stats.offered_bytes += len as u64;
        // 1. The bottleneck.
        let departs = match self.cfg.rate_bps {
            Some(rate) => {
                if self.queued_bytes(now) + len > self.cfg.queue_bytes {
                    self.stats.dropped_queue += 1;
                    return Fate::Dropped(DropReason::Queue);
                }
                let start = self.busy_until.max(now);
                let done = start + Duration::from_secs_f64(len as f64 * 8.0 / rate as f64);
                self.busy_until = done;
                done
            }
            None => now,
        };
        // 2. Loss on the path.
        let lost = match self.cfg.loss.time_unit {
            None => self.lose_per_packet(),
            Some(unit) => self.lose_in_time(departs, unit),
        };
        if lost {
            self.stats.lost += 1;
            return Fate::Dropped(DropReason::Loss);
        }
        // 3. Delay, order kept.
        let mut at = departs + self.cfg.delay;
        if !self.cfg.jitter.is_zero() {
            let j = self.cfg.jitter.as_secs_f64();
            let shift = self.rng.random_range(-j..=j);
            at = if shift >= 0.0 {
                at + Duration::from_secs_f64(shift)
            } else {
                at.saturating_sub(Duration::from_secs_f64(-shift))
            };
        }
        // 4. Reordering: held back, out of the order.
        if self.cfg.reorder > 0.0 && self.rng.random_bool(self.cfg.reorder) {
            at += self.cfg.reorder_delay;
            self.stats.reordered += 1;
        } else {
            at = at.max(self.last_arrival);
            self.last_arrival = at;
        }
        // 5. Duplication.
        let duplicate = (self.cfg.duplicate > 0.0 && self.rng.random_bool(self.cfg.duplicate))
            .then(|| at + DUPLICATE_GAP);
        self.stats.duplicated += duplicate.is_some() as u64;
        self.stats.delivered += 1;
        Fate::Delivered { at, duplicate }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn link(cfg: Impairments) -> LinkDirection {
        LinkDirection::new(cfg, 42).unwrap()
    }

    /// Offers `n` packets of `len` bytes, `gap` apart; returns the fates.
    fn run(l: &mut LinkDirection, n: usize, len: usize, gap: Duration) -> Vec<Fate> {
        (0..n).map(|i| l.offer(gap * i as u32, len)).collect()
    }

    /// Binomial bound: |observed - p| within 4.5 standard deviations.
    fn within_binomial(observed: u64, n: u64, p: f64) -> bool {
        let sigma = (p * (1.0 - p) / n as f64).sqrt();
        ((observed as f64 / n as f64) - p).abs() <= 4.5 * sigma + 1e-12
    }

    #[test]
    fn a_perfect_link_delivers_everything_at_once() {
        let mut l = link(Impairments::default());
        for (i, fate) in run(&mut l, 1000, 1200, MS).into_iter().enumerate() {
            assert_eq!(
                fate,
                Fate::Delivered {
                    at: MS * i as u32,
                    duplicate: None
                }
            );
        }
    }

    #[test]
    fn random_loss_is_within_statistical_bounds() {
        for rate in [0.01, 0.02, 0.05] {
            let mut l = link(Impairments {
                loss: GilbertElliott::random(rate),
                ..Default::default()
            });
            let n = 200_000;
            run(&mut l, n, 100, Duration::from_micros(10));
            let s = l.stats();
            assert!(within_binomial(s.lost, n as u64, rate), "{rate}: {s:?}");
            assert_eq!(s.lost + s.delivered, n as u64);
        }
    }

    #[test]
    fn bursty_loss_has_its_rate_and_its_burst_length() {
        let (rate, burst) = (0.05, 4.0);
        let ge = GilbertElliott::bursty(rate, burst);
        assert!((ge.mean_loss() - rate).abs() < 1e-12);
        let mut l = link(Impairments {
            loss: ge,
            ..Default::default()
        });
        let n = 400_000;
        let fates = run(&mut l, n, 100, Duration::from_micros(10));
        let lost: Vec<bool> = fates
            .iter()
            .map(|f| matches!(f, Fate::Dropped(DropReason::Loss)))
            .collect();
        let total = lost.iter().filter(|l| **l).count() as f64;
        let bursts = lost.windows(2).filter(|w| !w[0] && w[1]).count() as f64;
        // Bursts make losses correlated: the bound is wider than binomial
        // (the standard deviation of the count grows by about sqrt(2 *
        // burst)); 5% of 400,000 is 20,000 losses, so ±4% is far outside it.
        assert!(
            (total / n as f64 - rate).abs() < 0.04 * rate,
            "rate {}",
            total / n as f64
        );
        assert!(
            (total / bursts - burst).abs() < 0.2,
            "mean burst {}",
            total / bursts
        );
    }

    #[test]
    fn delay_is_exact_and_jitter_stays_in_bounds_and_in_order() {
        let mut l = link(Impairments {
            delay: 25 * MS,
            ..Default::default()
        });
        assert_eq!(
            l.offer(7 * MS, 1000),
            Fate::Delivered {
                at: 32 * MS,
                duplicate: None
            }
        );
        let mut l = link(Impairments {
            delay: 25 * MS,
            jitter: 10 * MS,
            ..Default::default()
        });
        // Packets 1 ms apart: the variation is larger than the gap, and
        // order is kept, so some wait for the one ahead of them.
        let mut last = Duration::ZERO;
        for i in 0..10_000u32 {
            let sent = MS * i;
            let Fate::Delivered { at, .. } = l.offer(sent, 1000) else {
                panic!("nothing is lost");
            };
            assert!(at >= last, "order kept");
            assert!(at <= sent + 35 * MS, "at most delay + jitter");
            assert!(at >= sent + 15 * MS, "at least delay - jitter");
            last = at;
        }
        // Packets 50 ms apart never wait for each other: the variation is
        // uniform over ±10 ms, half of them early.
        let mut early = 0;
        for i in 0..2000u32 {
            let sent = Duration::from_secs(20) + 50 * MS * i;
            let Fate::Delivered { at, .. } = l.offer(sent, 1000) else {
                panic!("nothing is lost");
            };
            assert!(at >= sent + 15 * MS && at <= sent + 35 * MS);
            early += (at < sent + 25 * MS) as u32;
        }
        assert!((900..=1100).contains(&early), "{early} of 2000 early");
    }

    #[test]
    fn the_rate_cap_spaces_packets_and_drops_when_the_queue_is_full() {
        let rate = 8_000_000; // 1 MB/s: 1000 bytes take 1 ms
        let mut l = link(Impairments {
            rate_bps: Some(rate),
            queue_bytes: 10_000,
            ..Default::default()
        });
        // Offered at twice the rate: 1000 bytes every 0.5 ms.
        let fates = run(&mut l, 4000, 1000, Duration::from_micros(500));
        let arrivals: Vec<Duration> = fates
            .iter()
            .filter_map(|f| match f {
                Fate::Delivered { at, .. } => Some(*at),
                _ => None,
            })
            .collect();
        for w in arrivals.windows(2) {
            let gap = w[1] - w[0];
            assert!(gap >= Duration::from_micros(999), "{gap:?}");
        }
        // Over the run the link carried its rate, within 5%, and dropped
        // about half of what was offered at the queue.
        let span = (*arrivals.last().unwrap() - arrivals[0]).as_secs_f64();
        let carried = (arrivals.len() - 1) as f64 * 1000.0 * 8.0 / span;
        assert!((carried / rate as f64 - 1.0).abs() < 0.05, "{carried}");
        let s = l.stats();
        assert!((1900..=2100).contains(&s.dropped_queue), "{s:?}");
        // The queue never held more than its bound: the delay it adds is
        // at most 10 packets' worth.
        for (i, f) in fates.iter().enumerate() {
            if let Fate::Delivered { at, .. } = f {
                let sent = Duration::from_micros(500) * i as u32;
                assert!(*at - sent <= Duration::from_millis(11), "{:?}", *at - sent);
            }
        }
    }

    #[test]
    fn reordering_and_duplication_happen_at_their_rates() {
        let mut l = link(Impairments {
            delay: 10 * MS,
            reorder: 0.02,
            reorder_delay: 5 * MS,
            duplicate: 0.01,
            ..Default::default()
        });
        let n = 100_000;
        let fates = run(&mut l, n, 500, MS);
        let s = l.stats();
        assert!(within_binomial(s.reordered, n as u64, 0.02), "{s:?}");
        assert!(within_binomial(s.duplicated, n as u64, 0.01), "{s:?}");
        // A held-back packet arrives after packets sent later than it.
        let at: Vec<Duration> = fates
            .iter()
            .map(|f| match f {
                Fate::Delivered { at, .. } => *at,
                _ => unreachable!(),
            })
            .collect();
        let overtaken = at.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(overtaken as u64 >= s.reordered * 9 / 10, "{overtaken}");
    }

    /// Lengths of the runs of consecutive losses among `fates`.
    fn loss_runs(fates: &[Fate]) -> Vec<usize> {
        let mut runs = Vec::new();
        let mut run = 0;
        for f in fates {
            if matches!(f, Fate::Dropped(DropReason::Loss)) {
                run += 1;
            } else if run > 0 {
                runs.push(run);
                run = 0;
            }
        }
        runs
    }

    #[test]
    fn outages_have_their_share_of_time_and_their_duration() {
        // 2% of the time out, outages of 50 ms on average; a packet every
        // millisecond for 2000 s meets about 800 of them.
        let mut l = link(Impairments {
            loss: GilbertElliott::outages(0.02, 50 * MS),
            ..Default::default()
        });
        let fates = run(&mut l, 2_000_000, 100, MS);
        let lost = l.stats().lost as f64 / fates.len() as f64;
        let runs = loss_runs(&fates);
        // outages are few, so the rate varies by about sqrt(2 / outages)
        let spread = (2.0 / runs.len() as f64).sqrt();
        assert!(
            (lost / 0.02 - 1.0).abs() <= 4.5 * spread,
            "lost {lost} over {} outages",
            runs.len()
        );
        // exponential durations: standard deviation = mean
        let mean_ms = runs.iter().sum::<usize>() as f64 / runs.len() as f64;
        let sigma = 50.0 / (runs.len() as f64).sqrt();
        assert!(
            (mean_ms - 50.0).abs() <= 4.5 * sigma + 1.0,
            "mean outage {mean_ms} ms"
        );
    }

    #[test]
    fn outages_hit_a_sparse_flow_one_packet_at_a_time() {
        // One packet a second (a TCP connection retransmitting on time-outs)
        // outlives every 50 ms outage: losses independent, at the rate of
        // the time out. The same share in bursts of 4 packets instead keeps
        // losing the next packet three times in four.
        let conditional = |loss: GilbertElliott| {
            let mut l = link(Impairments {
                loss,
                ..Default::default()
            });
            let fates = run(&mut l, 50_000, 100, 1000 * MS);
            let lost: Vec<bool> = fates
                .iter()
                .map(|f| matches!(f, Fate::Dropped(DropReason::Loss)))
                .collect();
            let after_loss = lost.windows(2).filter(|w| w[0]).count();
            let again = lost.windows(2).filter(|w| w[0] && w[1]).count();
            (
                lost.iter().filter(|&&x| x).count() as f64 / lost.len() as f64,
                again as f64 / after_loss.max(1) as f64,
            )
        };
        let (rate, again) = conditional(GilbertElliott::outages(0.02, 50 * MS));
        assert!(
            within_binomial((rate * 50_000.0) as u64, 50_000, 0.02),
            "{rate}"
        );
        assert!(again < 0.06, "lost again after a loss: {again}");
        let (_, again) = conditional(GilbertElliott::bursty(0.02, 4.0));
        assert!((again - 0.75).abs() < 0.1, "per packet: {again}");
    }

    #[test]
    fn settings_that_describe_no_link_are_refused() {
        assert_eq!(
            Impairments {
                loss: GilbertElliott::outages(0.02, Duration::ZERO),
                ..Default::default()
            }
            .validate(),
            Err(ConfigError::BadOutages)
        );
        let bad = |cfg: Impairments| LinkDirection::new(cfg, 1).unwrap_err();
        assert!(matches!(
            bad(Impairments {
                loss: GilbertElliott::random(1.5),
                ..Default::default()
            }),
            ConfigError::NotAProbability { .. }
        ));
        assert_eq!(
            bad(Impairments {
                rate_bps: Some(10),
                ..Default::default()
            }),
            ConfigError::RateTooLow
        );
        assert!(matches!(
            bad(Impairments {
                jitter: MS,
                ..Default::default()
            }),
            ConfigError::JitterOverDelay { .. }
        ));
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let cfg = Impairments {
            loss: GilbertElliott::bursty(0.05, 3.0),
            delay: 20 * MS,
            jitter: 5 * MS,
            ..Default::default()
        };
        let a = run(&mut link(cfg), 1000, 100, MS);
        let b = run(&mut link(cfg), 1000, 100, MS);
        assert_eq!(a, b);
    }
}
