// SPDX-License-Identifier: MPL-2.0
//! Bytes over time, in fixed bins from the run's start, and what a join
//! does to them: a viewer's bytes in a window next to the origin's bytes in
//! the same window. The relay forwards the origin's frames as they came, so
//! a live viewer's ratio stays near 1 whatever the content does; a
//! keyframe sent to everybody at a join would show as a ratio well above.

use serde::{Deserialize, Serialize};

/// Width of a bin, milliseconds.
pub const BIN_MS: u64 = 50;

/// Bytes received per [`BIN_MS`] since the run's start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ByteBins {
    bins: Vec<u64>,
}

impl ByteBins {
    /// Counts `bytes` that arrived `at_ms` after the start.
    pub fn add(&mut self, at_ms: u64, bytes: u64) {
        let i = (at_ms / BIN_MS) as usize;
        if self.bins.len() <= i {
            self.bins.resize(i + 1, 0);
        }
        self.bins[i] += bytes;
    }

    /// Bytes of the bins inside `[from_ms, to_ms)` (bounds rounded down to
    /// bins).
    pub fn sum(&self, from_ms: u64, to_ms: u64) -> u64 {
        let (a, b) = ((from_ms / BIN_MS) as usize, (to_ms / BIN_MS) as usize);
        self.bins
            .get(a.min(self.bins.len())..b.min(self.bins.len()))
            .map_or(0, |s| s.iter().sum())
    }

    /// Kilobits per second over `[from_ms, to_ms)`.
    pub fn kbps(&self, from_ms: u64, to_ms: u64) -> f64 {
        let span = to_ms.saturating_sub(from_ms) / BIN_MS * BIN_MS;
        if span == 0 {
            return 0.0;
        }
        self.sum(from_ms, to_ms) as f64 * 8.0 / span as f64
    }

    /// Kilobits per second in successive steps of `step_ms` over `[0, to_ms)`.
    pub fn kbps_series(&self, step_ms: u64, to_ms: u64) -> Vec<f64> {
        let step = step_ms.max(BIN_MS);
        (0..to_ms / step)
            .map(|k| self.kbps(k * step, (k + 1) * step))
            .collect()
    }
}

/// A viewer's session as far as bytes around joins go.
#[derive(Debug, Clone, Copy)]
pub struct LiveSpan {
    /// From when it held a whole picture, ms since the start.
    pub live_from_ms: u64,
    /// Until when it received (its leave, or the end).
    pub until_ms: u64,
}

/// For every join at `joins_ms` and every other viewer live over the whole
/// of `[join - window, join + window)`: its bytes in the window after the
/// join divided by the origin's bytes in that window.
pub fn ratios_after_joins(
    joins_ms: &[u64],
    viewers: &[(LiveSpan, &ByteBins)],
    origin: &ByteBins,
    window_ms: u64,
) -> Vec<f64> {
    let mut out = Vec::new();
    for &join in joins_ms {
        let Some(before) = join.checked_sub(window_ms) else {
            continue;
        };
        let after = join + window_ms;
        let reference = origin.sum(join, after);
        if reference == 0 {
            continue;
        }
        for (span, bins) in viewers {
            if span.live_from_ms <= before && span.until_ms >= after {
                out.push(bins.sum(join, after) as f64 / reference as f64);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(bytes_per_bin: u64, bins: u64) -> ByteBins {
        let mut b = ByteBins::default();
        for i in 0..bins {
            b.add(i * BIN_MS + 1, bytes_per_bin);
        }
        b
    }

    #[test]
    fn sums_and_rates_follow_the_bins() {
        let b = steady(1000, 40);
        assert_eq!(b.sum(0, 1000), 20_000);
        assert_eq!(b.sum(1900, 5000), 2000, "past the end counts nothing");
        assert!((b.kbps(0, 1000) - 160.0).abs() < 1e-9);
        assert_eq!(b.kbps(10, 20), 0.0);
        assert_eq!(b.kbps_series(500, 2000), vec![160.0; 4]);
    }

    #[test]
    fn a_viewer_that_gets_the_origins_bytes_has_ratio_one_and_a_spike_shows() {
        let origin = steady(1000, 100);
        let quiet = steady(1000, 100);
        let mut spiked = steady(1000, 100);
        spiked.add(2000, 50_000);
        let span = LiveSpan {
            live_from_ms: 0,
            until_ms: 5000,
        };
        let late = LiveSpan {
            live_from_ms: 1800,
            until_ms: 5000,
        };
        let r = ratios_after_joins(
            &[500, 2000],
            &[(span, &quiet), (span, &spiked), (late, &quiet)],
            &origin,
            1000,
        );
        // The join at 500 ms has no full window before it; the late viewer
        // was not live a window before the join at 2 s.
        assert_eq!(r.len(), 2);
        assert!((r[0] - 1.0).abs() < 1e-9);
        assert!((r[1] - 3.5).abs() < 1e-9);
    }
}
