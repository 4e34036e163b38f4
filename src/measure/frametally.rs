// SPDX-License-Identifier: MPL-2.0
//! What a receiver saw, frame by frame: which stamped frames arrived, which
//! are missing, which were shown again (frozen), which could not be read, and
//! how old each new frame was on arrival (glass-to-glass latency).
//!
//! No GStreamer types; `framemeter` feeds it and turns [`TallySummary`] into
//! a `GstStructure`, and `relay-bench` takes its spreads' percentiles from
//! [`nearest_rank`].

use std::collections::VecDeque;
use std::time::Duration;

/// How many recent frame numbers are remembered to tell a duplicate from a
/// late (reordered) frame.
const RECENT: usize = 256;

/// A frame number this far below the newest one is taken as the sender
/// counting from the start again, not as a late frame.
const RESTART_DISTANCE: u32 = RECENT as u32;

/// What one observed frame turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameVerdict {
    /// A frame number not seen before (in order, or after a gap).
    New,
    /// The same picture again: the number of a frame already seen.
    Repeated,
    /// A frame older than the newest seen, not seen before: it was counted
    /// missing and now is not.
    Reordered,
    /// No readable stamp.
    Unreadable,
}

impl FrameVerdict {
    /// A short lowercase name, for messages and reports.
    pub fn name(self) -> &'static str {
        match self {
            FrameVerdict::New => "new",
            FrameVerdict::Repeated => "repeated",
            FrameVerdict::Reordered => "reordered",
            FrameVerdict::Unreadable => "unreadable",
        }
    }
}

/// Latency distribution (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencySummary {
    /// Frames the numbers are over.
    pub count: u64,
    /// Smallest.
    pub min: Duration,
    /// Arithmetic mean, rounded down to the nanosecond.
    pub mean: Duration,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

/// The `p`th percentile (0..=100) of `sorted` (ascending, not empty) by
/// the nearest-rank method: the smallest value with at least `p`% of the
/// values at or below it. framemeter's latencies and relay-bench's spreads
/// use it.
pub fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> T {
    let r = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[r.clamp(1, sorted.len()) - 1]
}

impl LatencySummary {
    /// Summarises `samples`; all zero when empty.
    pub fn from_samples(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let rank = |p: f64| nearest_rank(&sorted, p);
        let sum: u128 = sorted.iter().map(Duration::as_nanos).sum();
        let mean = u64::try_from(sum / sorted.len() as u128).unwrap_or(u64::MAX);
        Self {
            count: sorted.len() as u64,
            min: sorted[0],
            mean: Duration::from_nanos(mean),
            p50: rank(50.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: sorted[sorted.len() - 1],
        }
    }
}

/// Counts and latency over some span of frames.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TallySummary {
    /// Every frame that passed, readable or not.
    pub frames_received: u64,
    /// Frames with a number not seen before (includes reordered ones).
    pub frames_new: u64,
    /// Numbers skipped between the first and the newest frame seen, less
    /// those that arrived late.
    pub frames_missing: u64,
    /// Frames showing a number already shown (frozen picture).
    pub frames_repeated: u64,
    /// Frames that arrived after a newer one.
    pub frames_reordered: u64,
    /// Frames without a readable stamp.
    pub frames_unreadable: u64,
    /// Times the numbering jumped forward by more than one.
    pub gaps: u64,
    /// Largest forward jump, in frames missing.
    pub longest_gap: u64,
    /// First frame number seen.
    pub first_frame: Option<u32>,
    /// Newest frame number seen (since the last restart).
    pub last_frame: Option<u32>,
    /// Times the numbering started again far below the newest frame (the
    /// sender restarted); counting goes on from the new numbers.
    pub restarts: u64,
    /// New frames per second of arrival time.
    pub fps: f64,
    /// Longest time between the arrivals of two successive new frames: how
    /// long the picture stood still at worst.
    pub longest_stall: Duration,
    /// Latency of new frames.
    pub latency: LatencySummary,
}

/// The running tally of one receiver.
#[derive(Debug, Default)]
pub struct FrameTally {
    total: TallySummary,
    latencies: Vec<Duration>,
    recent: VecDeque<u32>,
    first_arrival: Option<Duration>,
    last_new_arrival: Option<Duration>,
    window_latencies: Vec<Duration>,
    window_new: u64,
    window_start: Option<Duration>,
}

impl FrameTally {
    /// An empty tally.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a frame that arrived at `arrival` with no readable stamp.
    pub fn observe_unreadable(&mut self, arrival: Duration) -> FrameVerdict {
        self.arrived(arrival);
        self.total.frames_unreadable += 1;
        FrameVerdict::Unreadable
    }

    /// Records frame `frame`, captured at `capture`, arriving at `arrival`
    /// (times on the same clock). Returns what it was and, for a new frame,
    /// its latency.
    pub fn observe(
        &mut self,
        frame: u32,
        capture: Duration,
        arrival: Duration,
    ) -> (FrameVerdict, Option<Duration>) {
        self.arrived(arrival);
        let verdict = match self.total.last_frame {
            None => FrameVerdict::New,
            Some(newest) if frame > newest => {
                let skipped = u64::from(frame - newest - 1);
                if skipped > 0 {
                    self.total.gaps += 1;
                    self.total.frames_missing += skipped;
                    self.total.longest_gap = self.total.longest_gap.max(skipped);
                }
                FrameVerdict::New
            }
            Some(_) if self.recent.contains(&frame) => FrameVerdict::Repeated,
            // Far behind anything remembered: the sender started counting
            // again (restarted), not a frame that took that long.
            Some(newest) if newest - frame > RESTART_DISTANCE => {
                self.total.restarts += 1;
                self.total.last_frame = None;
                self.recent.clear();
                FrameVerdict::New
            }
            Some(_) => {
                self.total.frames_missing = self.total.frames_missing.saturating_sub(1);
                FrameVerdict::Reordered
            }
        };
        match verdict {
            FrameVerdict::Repeated => {
                self.total.frames_repeated += 1;
                return (verdict, None);
            }
            FrameVerdict::Reordered => self.total.frames_reordered += 1,
            _ => {}
        }
        if self.total.first_frame.is_none() {
            self.total.first_frame = Some(frame);
        }
        if self.total.last_frame.is_none_or(|n| frame > n) {
            self.total.last_frame = Some(frame);
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(frame);
        self.total.frames_new += 1;
        self.window_new += 1;
        if let Some(previous) = self.last_new_arrival {
            self.total.longest_stall = self
                .total
                .longest_stall
                .max(arrival.saturating_sub(previous));
        }
        self.last_new_arrival = Some(arrival);
        // A capture time after arrival means the clocks disagree; count the
        // frame as instant rather than wrap around.
        let latency = arrival.saturating_sub(capture);
        self.latencies.push(latency);
        self.window_latencies.push(latency);
        (verdict, Some(latency))
    }

    fn arrived(&mut self, arrival: Duration) {
        self.total.frames_received += 1;
        self.first_arrival.get_or_insert(arrival);
        self.window_start.get_or_insert(arrival);
    }

    /// Everything since the tally began.
    pub fn summary(&self) -> TallySummary {
        let mut s = self.total.clone();
        s.latency = LatencySummary::from_samples(&self.latencies);
        s.fps = match (self.first_arrival, self.last_new_arrival) {
            (Some(a), Some(b)) if b > a && s.frames_new > 1 => {
                (s.frames_new - 1) as f64 * 1e9 / (b - a).as_nanos() as f64
            }
            _ => 0.0,
        };
        s
    }

    /// Latency and frame rate since the previous call (or the start), ending
    /// at `now`; starts the next window.
    pub fn take_window(&mut self, now: Duration) -> (LatencySummary, f64) {
        let latency = LatencySummary::from_samples(&self.window_latencies);
        let fps = match self.window_start {
            Some(start) if now > start => {
                self.window_new as f64 * 1e9 / (now - start).as_nanos() as f64
            }
            _ => 0.0,
        };
        self.window_latencies.clear();
        self.window_new = 0;
        self.window_start = Some(now);
        (latency, fps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn ns(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(ns).collect();
        let s = LatencySummary::from_samples(&samples);
        assert_eq!(
            (s.min, s.p50, s.p95, s.p99, s.max, s.count),
            (ns(1), ns(50), ns(95), ns(99), ns(100), 100)
        );
        assert_eq!(s.mean, ns(50)); // 50.5 truncated
        assert_eq!(LatencySummary::from_samples(&[]), LatencySummary::default());
        assert_eq!(LatencySummary::from_samples(&[ns(7)]).p99, ns(7));
    }

    #[test]
    fn counts_gaps_repeats_reorders_and_unreadable() {
        let mut t = FrameTally::new();
        let mut at = Duration::ZERO;
        let mut feed = |t: &mut FrameTally, n: u32| {
            at += 10 * MS;
            t.observe(n, at - 5 * MS, at).0
        };
        assert_eq!(feed(&mut t, 0), FrameVerdict::New);
        assert_eq!(feed(&mut t, 1), FrameVerdict::New);
        assert_eq!(feed(&mut t, 1), FrameVerdict::Repeated);
        assert_eq!(feed(&mut t, 5), FrameVerdict::New); // 2, 3, 4 missing
        assert_eq!(feed(&mut t, 3), FrameVerdict::Reordered); // 3 found
        assert_eq!(feed(&mut t, 3), FrameVerdict::Repeated);
        assert_eq!(t.observe_unreadable(100 * MS), FrameVerdict::Unreadable);
        assert_eq!(feed(&mut t, 6), FrameVerdict::New);
        assert_eq!(feed(&mut t, 9), FrameVerdict::New); // 7, 8 missing

        let s = t.summary();
        assert_eq!(s.frames_received, 9);
        assert_eq!(s.frames_new, 6); // 0 1 5 3 6 9
        assert_eq!(s.frames_repeated, 2);
        assert_eq!(s.frames_reordered, 1);
        assert_eq!(s.frames_unreadable, 1);
        assert_eq!(s.frames_missing, 4); // 2 4 7 8
        assert_eq!(s.gaps, 2);
        assert_eq!(s.longest_gap, 3);
        assert_eq!((s.first_frame, s.last_frame), (Some(0), Some(9)));
        // numbers first..=last are each new or missing
        assert_eq!(s.frames_new + s.frames_missing, 10);
        assert_eq!(s.latency.count, 6);
        assert_eq!(s.latency.max, 5 * MS);
        // new frames arrived every 10 ms except where a repeat came in
        // between: 1 -> 5 and 3 -> 6 each took 20 ms
        assert_eq!(s.longest_stall, 20 * MS);
    }

    #[test]
    fn latency_and_fps() {
        let mut t = FrameTally::new();
        for n in 0..31u32 {
            let arrival = ns(u64::from(n) * 1_000_000_000 / 30) + 1_000 * MS;
            t.observe(n, arrival - (100 + n % 3) * MS, arrival);
        }
        let s = t.summary();
        assert!((s.fps - 30.0).abs() < 0.01, "fps {}", s.fps);
        assert_eq!(s.latency.min, 100 * MS);
        assert_eq!(s.latency.max, 102 * MS);
        assert_eq!(s.latency.p50, 101 * MS);
        let (window, fps) = t.take_window(2_000 * MS);
        assert_eq!(window.count, 31);
        assert!((fps - 31.0).abs() < 0.01, "window fps {fps}");
        let (window, fps) = t.take_window(3_000 * MS);
        assert_eq!((window.count, fps), (0, 0.0));
    }

    #[test]
    fn a_restarted_sender_is_a_restart_not_hundreds_of_late_frames() {
        let mut t = FrameTally::new();
        for n in 0..1000u32 {
            t.observe(n, Duration::ZERO, ns(1));
        }
        for n in 0..10u32 {
            assert_eq!(
                t.observe(n, Duration::ZERO, ns(1)).0,
                FrameVerdict::New,
                "frame {n}"
            );
        }
        let s = t.summary();
        assert_eq!(s.restarts, 1);
        assert_eq!(
            (s.frames_new, s.frames_reordered, s.frames_missing),
            (1010, 0, 0)
        );
        assert_eq!(s.last_frame, Some(9));
        // a frame a little late is still just late
        t.observe(20, Duration::ZERO, ns(1));
        assert_eq!(
            t.observe(15, Duration::ZERO, ns(1)).0,
            FrameVerdict::Reordered
        );
    }

    #[test]
    fn clock_disagreement_does_not_wrap() {
        let mut t = FrameTally::new();
        assert_eq!(
            t.observe(0, ns(2_000), ns(1_000)),
            (FrameVerdict::New, Some(Duration::ZERO))
        );
    }
}
