// SPDX-License-Identifier: MPL-2.0
//! Puts a track's groups back in order at a subscriber, holding a group
//! that arrived early behind a missing one for at most the latency bound
//! (docs/moq.md, "Order and loss").
//!
//! Each group is a QUIC stream of its own, so a group whose packet was lost
//! can arrive after the ones that follow it. The sequencer releases groups
//! in sequence; when the next one is missing it holds the later ones until
//! the missing one arrives or the oldest held has waited `bound`, then
//! gives the missing one up (a gap: the release after it is marked) and
//! drops it if it turns up later. Until it is told where to start
//! ([`Sequencer::start_at`]) it holds everything: a joiner first builds its
//! picture from the relay's cache.

use std::collections::BTreeMap;
use std::time::Duration;

/// Counters since the sequencer was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SequencerStats {
    /// Groups released in order.
    pub released: u64,
    /// Sequence numbers given up: never arrived within the bound.
    pub lost: u64,
    /// Groups that arrived after they were given up or released, or
    /// before the start: dropped.
    pub late: u64,
    /// Groups dropped because more than the holding limit were waiting.
    pub overflow: u64,
}

/// One group let out, in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Released<T> {
    pub sequence: u64,
    pub item: T,
    /// Groups before this one were given up: the stream is discontinuous here.
    pub after_gap: bool,
}

struct Held<T> {
    item: T,
    arrived: Duration,
}

/// The reordering buffer of one track.
pub struct Sequencer<T> {
    bound: Duration,
    max_held: usize,
    /// The sequence released next; `None` until [`Self::start_at`].
    next: Option<u64>,
    held: BTreeMap<u64, Held<T>>,
    gap_pending: bool,
    stats: SequencerStats,
}

impl<T> Sequencer<T> {
    /// A sequencer that holds a group behind a missing one for at most
    /// `bound`, and never more than `max_held` groups (at least one).
    pub fn new(bound: Duration, max_held: usize) -> Self {
        Self {
            bound,
            max_held: max_held.max(1),
            next: None,
            held: BTreeMap::new(),
            gap_pending: false,
            stats: SequencerStats::default(),
        }
    }

    pub fn stats(&self) -> SequencerStats {
        self.stats
    }

    /// The sequence released next, once started.
    pub fn next_sequence(&self) -> Option<u64> {
        self.next
    }

    /// The newest sequence held, if any.
    pub fn newest_held(&self) -> Option<u64> {
        self.held.keys().next_back().copied()
    }

    /// The oldest sequence held, if any.
    pub fn oldest_held(&self) -> Option<u64> {
        self.held.keys().next().copied()
    }

    /// Copies of what is held at `last` or below, in order (they stay
    /// held).
    pub fn held_up_to(&self, last: u64) -> Vec<(u64, T)>
    where
        T: Clone,
    {
        self.held
            .range(..=last)
            .map(|(&sequence, held)| (sequence, held.item.clone()))
            .collect()
    }

    /// Releases from `next` on; what is held below it is dropped as late.
    /// Returns what is now in order.
    pub fn start_at(&mut self, next: u64, now: Duration) -> Vec<Released<T>> {
        let keep = self.held.split_off(&next);
        self.stats.late += self.held.len() as u64;
        self.held = keep;
        self.next = Some(next);
        self.gap_pending = false;
        self.poll(now)
    }

    /// Stops releasing until [`Self::start_at`] (a repair rebuilds the
    /// picture first); what arrives meanwhile is held.
    pub fn pause(&mut self) {
        self.next = None;
    }

    /// Takes group `sequence`, arrived at `now`. Returns what is now in order.
    pub fn push(&mut self, sequence: u64, item: T, now: Duration) -> Vec<Released<T>> {
        if self.next.is_some_and(|next| sequence < next) || self.held.contains_key(&sequence) {
            self.stats.late += 1;
            return Vec::new();
        }
        self.held.insert(sequence, Held { item, arrived: now });
        if self.held.len() > self.max_held {
            if self.next.is_none() {
                // Not started: keep the newest, a start will want them.
                self.held.pop_first();
                self.stats.overflow += 1;
            } else {
                // Give up what is missing before the oldest held.
                return self.skip_gap(now);
            }
        }
        self.poll(now)
    }

    /// Releases what is in order, and gives up a missing group whose
    /// successor has waited the bound by `now`.
    pub fn poll(&mut self, now: Duration) -> Vec<Released<T>> {
        let mut out = self.release_ready();
        if let Some(deadline) = self.deadline() {
            if now >= deadline {
                out.extend(self.skip_gap(now));
            }
        }
        out
    }

    /// When [`Self::poll`] next gives something up, if anything is held
    /// behind a gap.
    pub fn deadline(&self) -> Option<Duration> {
        self.next?;
        let (_, oldest) = self.held.first_key_value()?;
        Some(oldest.arrived + self.bound)
    }

    fn skip_gap(&mut self, _now: Duration) -> Vec<Released<T>> {
        let (Some(next), Some(oldest)) = (self.next, self.oldest_held()) else {
            return Vec::new();
        };
        if oldest > next {
            self.stats.lost += oldest - next;
            self.next = Some(oldest);
            self.gap_pending = true;
        }
        self.release_ready()
    }

    fn release_ready(&mut self) -> Vec<Released<T>> {
        let mut out = Vec::new();
        let Some(mut next) = self.next else {
            return out;
        };
        while let Some(held) = self.held.remove(&next) {
            out.push(Released {
                sequence: next,
                item: held.item,
                after_gap: std::mem::take(&mut self.gap_pending),
            });
            self.stats.released += 1;
            next += 1;
        }
        self.next = Some(next);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn seqs(r: &[Released<u64>]) -> Vec<(u64, bool)> {
        r.iter().map(|r| (r.sequence, r.after_gap)).collect()
    }

    #[test]
    fn holds_until_started_then_releases_in_order() {
        let mut s = Sequencer::new(100 * MS, 64);
        assert!(s.push(5, 5, MS).is_empty());
        assert!(s.push(6, 6, MS).is_empty());
        assert_eq!(s.deadline(), None);
        // Starting after 5 drops it as late.
        assert_eq!(seqs(&s.start_at(6, 2 * MS)), [(6, false)]);
        assert_eq!(s.stats().late, 1);
        assert_eq!(seqs(&s.push(7, 7, 3 * MS)), [(7, false)]);
    }

    #[test]
    fn a_late_group_within_the_bound_keeps_the_order() {
        let mut s = Sequencer::new(100 * MS, 64);
        s.start_at(10, Duration::ZERO);
        assert_eq!(seqs(&s.push(10, 10, MS)), [(10, false)]);
        assert!(s.push(12, 12, 2 * MS).is_empty());
        assert_eq!(s.deadline(), Some(102 * MS));
        assert!(s.poll(50 * MS).is_empty());
        assert_eq!(seqs(&s.push(11, 11, 60 * MS)), [(11, false), (12, false)]);
        assert_eq!(s.stats().lost, 0);
    }

    #[test]
    fn a_missing_group_is_given_up_at_the_bound_and_dropped_later() {
        let mut s = Sequencer::new(100 * MS, 64);
        s.start_at(0, Duration::ZERO);
        s.push(0, 0, Duration::ZERO);
        s.push(2, 2, 10 * MS);
        s.push(3, 3, 20 * MS);
        assert!(s.poll(109 * MS).is_empty());
        // No frame is held more than the bound behind the lost one.
        assert_eq!(seqs(&s.poll(110 * MS)), [(2, true), (3, false)]);
        assert_eq!(s.stats().lost, 1);
        assert!(s.push(1, 1, 120 * MS).is_empty());
        assert_eq!(s.stats().late, 1);
        assert_eq!(seqs(&s.push(4, 4, 130 * MS)), [(4, false)]);
    }

    #[test]
    fn too_many_held_gives_up_at_once() {
        let mut s = Sequencer::new(Duration::from_secs(10), 2);
        s.start_at(0, Duration::ZERO);
        assert!(s.push(1, 1, MS).is_empty());
        assert!(s.push(2, 2, MS).is_empty());
        assert_eq!(seqs(&s.push(3, 3, MS)), [(1, true), (2, false), (3, false)]);
        assert_eq!(s.stats().lost, 1);
        // Before a start, the oldest make room.
        let mut w = Sequencer::new(Duration::from_secs(10), 2);
        w.push(1, 1, MS);
        w.push(2, 2, MS);
        w.push(3, 3, MS);
        assert_eq!(w.stats().overflow, 1);
        assert_eq!(w.oldest_held(), Some(2));
    }

    #[test]
    fn pause_holds_and_duplicates_are_dropped() {
        let mut s = Sequencer::new(100 * MS, 64);
        s.start_at(0, Duration::ZERO);
        s.push(0, 0, Duration::ZERO);
        s.pause();
        assert!(s.push(1, 1, MS).is_empty());
        assert!(s.push(1, 1, MS).is_empty());
        assert_eq!(s.stats().late, 1);
        assert_eq!(s.newest_held(), Some(1));
        assert_eq!(seqs(&s.start_at(1, 2 * MS)), [(1, false)]);
    }

    #[test]
    fn what_is_held_can_be_copied_up_to_a_sequence() {
        let mut s = Sequencer::new(100 * MS, 64);
        s.pause();
        for n in [4, 2, 7, 3] {
            s.push(n, n * 10, MS);
        }
        assert_eq!(s.held_up_to(4), [(2, 20), (3, 30), (4, 40)]);
        assert!(s.held_up_to(1).is_empty());
        // Still held: a start releases them.
        assert_eq!(
            seqs(&s.start_at(2, 2 * MS)),
            [(2, false), (3, false), (4, false)]
        );
    }
}
