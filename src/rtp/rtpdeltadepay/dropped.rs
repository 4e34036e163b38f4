// SPDX-License-Identifier: MPL-2.0
//! Packets the assembler refused: each one logged, reported on the bus at
//! most once per [`WARNING_INTERVAL`], and never while the state lock is held.

use gst::subclass::prelude::*;

use std::time::{Duration, Instant};

use super::imp::{RtpDeltaDepay, State, CAT};

/// Bus warnings about malformed packets are posted at most this often (each
/// one is still logged).
const WARNING_INTERVAL: Duration = Duration::from_secs(1);

impl RtpDeltaDepay {
    /// Logs a dropped packet; returns the bus warning to post when one is
    /// due (they are rate-limited). Called under the state lock, so it only
    /// decides: the caller posts after releasing the lock.
    pub(super) fn note_dropped(&self, state: &mut State, dropped: Dropped) -> Option<Dropped> {
        gst::warning!(CAT, imp = self, "dropping packet: {}", dropped.what);
        let now = Instant::now();
        let due = state
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= WARNING_INTERVAL);
        if due {
            state.last_warning = Some(now);
        }
        due.then_some(dropped)
    }

    /// Posts the warning `note_dropped` decided on. Must be called without
    /// the state lock: a synchronous bus handler may read `delta-stats`.
    pub(super) fn post_dropped_warning(&self, dropped: &Dropped) {
        let what = &dropped.what;
        if dropped.beyond_limits {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Decode,
                ("Dropping RTP packets beyond this receiver's limits"),
                ["{what} (further ones are counted in delta-stats)"]
            );
        } else {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Decode,
                ("Dropping malformed RTP packets: is the sender a matching rtpdeltapay?"),
                ["{what} (further ones are counted in delta-stats)"]
            );
        }
    }
}

/// A packet the assembler refused, for the log and the bus.
pub(super) struct Dropped {
    pub(super) what: String,
    /// Well formed, perhaps, but beyond the limits (geometry, bytes, pieces)
    /// rather than malformed: the warning then points at the settings.
    pub(super) beyond_limits: bool,
}
