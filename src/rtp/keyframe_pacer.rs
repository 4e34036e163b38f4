// SPDX-License-Identifier: MPL-2.0
//! How often a receiver may ask for a keyframe: loss tends to come in
//! bursts, and one request per burst is what heals the picture.

use std::time::Duration;

/// Default minimum interval between two keyframe requests.
pub const DEFAULT_MIN_KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// Lets a keyframe request through at most once per interval, and counts
/// the ones it let through. Reads no clock: times are passed in, on any
/// monotonic clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyframeRequestPacer {
    /// When the last request went out.
    last: Option<Duration>,
    /// Requests let through so far.
    requests: u64,
}

impl KeyframeRequestPacer {
    /// Whether a request may go out at `now`: none went out before, or the
    /// last one is at least `min_interval` ago (0 lets every request
    /// through). A request let through is recorded and counted.
    pub fn try_request(&mut self, now: Duration, min_interval: Duration) -> bool {
        if self
            .last
            .is_some_and(|last| now.saturating_sub(last) < min_interval)
        {
            return false;
        }
        self.last = Some(now);
        self.requests += 1;
        true
    }

    /// Requests let through so far.
    pub fn requests(&self) -> u64 {
        self.requests
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
    fn the_first_request_goes_out_then_one_per_interval() {
        let mut pacer = KeyframeRequestPacer::default();
        assert!(pacer.try_request(1_000 * MS, 500 * MS));
        assert!(!pacer.try_request(1_000 * MS, 500 * MS));
        assert!(!pacer.try_request(1_499 * MS, 500 * MS));
        assert!(pacer.try_request(1_500 * MS, 500 * MS));
        assert_eq!(pacer.requests(), 2);
    }

    #[test]
    fn a_refused_request_does_not_restart_the_interval() {
        let mut pacer = KeyframeRequestPacer::default();
        assert!(pacer.try_request(Duration::ZERO, 100 * MS));
        assert!(!pacer.try_request(90 * MS, 100 * MS));
        assert!(pacer.try_request(100 * MS, 100 * MS));
    }

    #[test]
    fn a_zero_interval_lets_every_request_through() {
        let mut pacer = KeyframeRequestPacer::default();
        for _ in 0..3 {
            assert!(pacer.try_request(ns(7), Duration::ZERO));
        }
        assert_eq!(pacer.requests(), 3);
    }

    #[test]
    fn intervals_below_a_millisecond_work() {
        let mut pacer = KeyframeRequestPacer::default();
        assert!(pacer.try_request(Duration::ZERO, ns(250_000)));
        assert!(!pacer.try_request(ns(249_999), ns(250_000)));
        assert!(pacer.try_request(ns(250_000), ns(250_000)));
    }

    #[test]
    fn a_clock_going_back_refuses_rather_than_wrapping() {
        let mut pacer = KeyframeRequestPacer::default();
        assert!(pacer.try_request(1_000 * MS, 500 * MS));
        assert!(!pacer.try_request(10 * MS, 500 * MS));
    }
}
