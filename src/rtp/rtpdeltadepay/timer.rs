// SPDX-License-Identifier: MPL-2.0
//! The expiry timer: a wake-up on the system clock for the earliest time-out
//! of the frames in progress, so a stream that stops dead without EOS still
//! gets its last frame out.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtp::prelude::*;

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use super::imp::{RtpDeltaDepay, State, CAT};
use crate::gstcommon::clock::clock_time;

/// How long a time-out waits before it looks again when the streaming
/// thread holds the stream lock.
const TIMER_RETRY: Duration = Duration::from_millis(20);

/// A pad's stream lock, held only if it was free when asked for.
struct StreamLockAttempt<'a>(&'a gst::Pad);

impl<'a> StreamLockAttempt<'a> {
    fn take(pad: &'a gst::Pad) -> Option<Self> {
        // SAFETY: the pad's stream lock is initialised with the pad and
        // lives as long as it; the guard borrows the pad and unlocks in drop.
        let taken = unsafe {
            glib::ffi::g_rec_mutex_trylock(std::ptr::addr_of_mut!((*pad.as_ptr()).stream_rec_lock))
        };
        (taken != glib::ffi::GFALSE).then_some(StreamLockAttempt(pad))
    }
}

impl Drop for StreamLockAttempt<'_> {
    fn drop(&mut self) {
        // SAFETY: taken by this guard in `take`, on this thread.
        unsafe {
            glib::ffi::g_rec_mutex_unlock(std::ptr::addr_of_mut!(
                (*self.0.as_ptr()).stream_rec_lock
            ));
        }
    }
}

/// A scheduled wake-up for a frame's time-out.
pub(super) struct ExpiryTimer {
    id: gst::SingleShotClockId,
    /// On the assembler's clock.
    deadline: Duration,
}

/// What `State::update_timer` decided to do with the clock; done by
/// `RtpDeltaDepay::apply_timer` once the state lock is released.
#[derive(Default)]
#[must_use]
pub(super) struct TimerUpdate {
    cancel: Option<gst::SingleShotClockId>,
    start: Option<gst::SingleShotClockId>,
}

impl State {
    /// Makes the wake-up match the assembler's earliest deadline: one
    /// scheduled when a frame is left pending, replaced when the deadline
    /// moves, cancelled when nothing is pending or timers are no longer
    /// allowed. Called after everything that changes the frames in progress.
    pub(super) fn update_timer(&mut self) -> TimerUpdate {
        let wanted = self
            .timers_allowed
            .then(|| self.assembler.next_deadline())
            .flatten();
        if self.expiry_timer.as_ref().map(|t| t.deadline) == wanted {
            return TimerUpdate::default();
        }
        let cancel = self.expiry_timer.take().map(|t| t.id);
        let start = wanted.map(|deadline| {
            let id = self.clock.new_single_shot_id(clock_time(deadline));
            self.expiry_timer = Some(ExpiryTimer {
                id: id.clone(),
                deadline,
            });
            id
        });
        TimerUpdate { cancel, start }
    }

    /// The wake-up `id` could not run yet: replaces it with one `delay`
    /// from now, unless it was cancelled or replaced meanwhile.
    fn retry_timer(&mut self, id: &gst::ClockId, delay: Duration) -> TimerUpdate {
        if self.expiry_timer.as_ref().is_none_or(|t| *t.id != *id) {
            return TimerUpdate::default();
        }
        let deadline = self.now().saturating_add(delay);
        let retry = self.clock.new_single_shot_id(clock_time(deadline));
        self.expiry_timer = Some(ExpiryTimer {
            id: retry.clone(),
            deadline,
        });
        TimerUpdate {
            cancel: None,
            start: Some(retry),
        }
    }

    /// Cancels the wake-up and allows no other until the next start.
    pub(super) fn stop_timer(&mut self) -> TimerUpdate {
        self.timers_allowed = false;
        self.update_timer()
    }
}

impl RtpDeltaDepay {
    /// Cancels and schedules wake-ups as `State::update_timer` decided. Must
    /// be called without the state lock, like any call out of the element.
    /// Safe however late it comes: a wake-up cancelled before it is
    /// scheduled is refused by the clock, and a callback that runs anyway
    /// finds it is no longer the scheduled one.
    pub(super) fn apply_timer(&self, update: TimerUpdate) {
        if let Some(id) = update.cancel {
            id.unschedule();
        }
        let Some(id) = update.start else {
            return;
        };
        gst::trace!(CAT, imp = self, "time-out scheduled at {}", id.time());
        // Weak: a pending wake-up must not keep the element alive.
        let weak = self.obj().downgrade();
        let scheduled = id.wait_async(move |_, _, id| {
            // Runs on the clock's thread, where an unwinding panic would
            // abort the process.
            let Some(obj) = weak.upgrade() else {
                return;
            };
            let fired = panic::catch_unwind(AssertUnwindSafe(|| obj.imp().expiry_timer_fired(id)));
            if fired.is_err() {
                gst::error!(CAT, obj = obj, "handling a time-out panicked");
            }
        });
        if let Err(e) = scheduled {
            // Cancelled (stop or flush) between the decision and now.
            gst::debug!(CAT, imp = self, "time-out not scheduled: {e:?}");
        }
    }

    /// A frame's time-out came with no packet since: outputs what expired,
    /// as a packet would have, and schedules the next wake-up.
    fn expiry_timer_fired(&self, id: &gst::ClockId) {
        let obj = self.obj();
        let sink_pad = obj.sink_pad();
        // Serialized with packets and events exactly as they are, so the
        // assembler and the base class's output state see one thread at a
        // time, and pad deactivation (which takes this lock) waits for a
        // push in progress to finish. Taken only when free: the clock has one
        // callback thread for every async wait in the process, and the
        // streaming thread may hold the lock for long (blocked in a push
        // downstream, e.g. a sink prerolling); then look again shortly.
        let Some(_stream) = StreamLockAttempt::take(sink_pad) else {
            let retry = match self.state.lock() {
                Ok(mut state) => state.retry_timer(id, TIMER_RETRY),
                Err(_) => return,
            };
            gst::trace!(CAT, imp = self, "stream lock busy at a time-out: retrying");
            self.apply_timer(retry);
            return;
        };
        let mut frames = Vec::new();
        let timer = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            // Cancelled or replaced (flush, stop, a packet that moved the
            // deadline) while this waited for the stream lock. Ids compare
            // by identity, and both are alive here, so an id of an earlier
            // run of the element can never match.
            if state.expiry_timer.as_ref().is_none_or(|t| *t.id != *id) {
                return;
            }
            state.expiry_timer = None;
            let now = state.now();
            state.assembler.expire(now, &mut frames);
            state.update_timer()
        };
        self.apply_timer(timer);
        gst::debug!(
            CAT,
            imp = self,
            "time-out at {}: {} frames expired",
            id.time(),
            frames.len()
        );
        match self.push_frames(frames) {
            Ok(Some(last)) => {
                if let Err(e) = obj.push(last) {
                    gst::debug!(CAT, imp = self, "pushing an expired frame: {e:?}");
                }
            }
            Ok(None) => {}
            Err(e) => gst::debug!(CAT, imp = self, "pushing expired frames: {e:?}"),
        }
    }
}
