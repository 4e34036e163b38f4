// SPDX-License-Identifier: MPL-2.0
//! Times across the element boundary. The pure cores count time in
//! `std::time::Duration` (docs/architecture.md, "Habits"); a `ClockTime`
//! becomes one with `.into()`, and one becomes a `ClockTime` here.

use std::time::Duration;

/// A core's time as a `ClockTime`. A `Duration` reaches further than
/// GStreamer's 64-bit nanoseconds (584 years); past them, the largest
/// `ClockTime`.
pub fn clock_time(d: Duration) -> gst::ClockTime {
    gst::ClockTime::try_from(d).unwrap_or(gst::ClockTime::MAX)
}

/// A core's time as the `guint64` nanoseconds of a property or a message
/// field (saturating like [`clock_time`]).
pub fn nanos(d: Duration) -> u64 {
    clock_time(d).nseconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_exactly_and_saturates() {
        let d = Duration::new(3, 141_592_653);
        assert_eq!(clock_time(d), gst::ClockTime::from_nseconds(3_141_592_653));
        assert_eq!(Duration::from(clock_time(d)), d);
        assert_eq!(clock_time(Duration::MAX), gst::ClockTime::MAX);
        assert_eq!(nanos(d), 3_141_592_653);
    }
}
