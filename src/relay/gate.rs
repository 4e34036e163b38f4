// SPDX-License-Identifier: MPL-2.0
//! Relaying a stream the relay cannot make pictures of (H.264, MJPEG): what
//! the usual relays do, kept here so the comparison runs through the same
//! front end. A viewer that joins (or falls behind) receives nothing until
//! the origin's next keyframe; with [`JoinPolicy::ForceKeyframe`] the join
//! asks the origin for one, which every viewer then receives.

use std::collections::BTreeMap;

use super::core::ViewerId;

/// What a join does when the relay cannot make a picture itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JoinPolicy {
    /// Wait for the origin's next keyframe (no cost to anyone else).
    #[default]
    WaitForKeyframe,
    /// Ask the origin for a keyframe now: the joiner starts sooner, and
    /// every viewer pays for the keyframe.
    ForceKeyframe,
}

/// Counters since the gate was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateStats {
    pub frames_in: u64,
    pub keyframes_in: u64,
    pub joins: u64,
    pub leaves: u64,
    /// Viewers that started at one of the origin's keyframes.
    pub pictures_served: u64,
    /// Keyframe requests to the origin that joins asked for.
    pub join_keyframe_requests: u64,
    pub viewer_requests: u64,
}

/// Viewers of a pass-through stream: who may receive the next frame.
#[derive(Debug, Default)]
pub struct KeyframeGate {
    policy: JoinPolicy,
    /// Per viewer: whether it has started (received a keyframe).
    viewers: BTreeMap<ViewerId, bool>,
    next_id: ViewerId,
    stats: GateStats,
}

impl KeyframeGate {
    pub fn new(policy: JoinPolicy) -> Self {
        KeyframeGate {
            policy,
            next_id: 1,
            ..Default::default()
        }
    }

    /// A new viewer, and whether the origin should be asked for a keyframe
    /// because of it.
    pub fn join(&mut self) -> (ViewerId, bool) {
        let id = self.next_id;
        self.next_id += 1;
        self.viewers.insert(id, false);
        self.stats.joins += 1;
        let ask = self.policy == JoinPolicy::ForceKeyframe;
        self.stats.join_keyframe_requests += ask as u64;
        (id, ask)
    }

    pub fn leave(&mut self, id: ViewerId) -> bool {
        let was = self.viewers.remove(&id).is_some();
        self.stats.leaves += was as u64;
        was
    }

    /// The viewer fell behind (its front end dropped frames for it): it
    /// waits for the next keyframe. False when it is not a viewer.
    pub fn restart(&mut self, id: ViewerId) -> bool {
        match self.viewers.get_mut(&id) {
            Some(started) => {
                *started = false;
                true
            }
            None => false,
        }
    }

    /// A viewer asked for a keyframe: the relay holds none, so the origin
    /// must be asked (the front end paces it); the viewer keeps receiving.
    pub fn note_viewer_request(&mut self) {
        self.stats.viewer_requests += 1;
    }

    /// The viewers that receive a frame from the origin (`keyframe`: it can
    /// be decoded on its own), in ascending order, each marked `true` where
    /// the frame is its first picture (counted in `pictures_served`).
    pub fn ingest(&mut self, keyframe: bool) -> Vec<(ViewerId, bool)> {
        self.stats.frames_in += 1;
        self.stats.keyframes_in += keyframe as u64;
        let mut to = Vec::with_capacity(self.viewers.len());
        for (id, started) in self.viewers.iter_mut() {
            let first = !*started && keyframe;
            if first {
                *started = true;
                self.stats.pictures_served += 1;
            }
            if *started {
                to.push((*id, first));
            }
        }
        to
    }

    pub fn viewer_count(&self) -> usize {
        self.viewers.len()
    }

    pub fn stats(&self) -> GateStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Who receives the frame, marks dropped.
    fn ids(to: Vec<(ViewerId, bool)>) -> Vec<ViewerId> {
        to.into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn a_joiner_starts_at_the_next_keyframe() {
        let mut gate = KeyframeGate::new(JoinPolicy::WaitForKeyframe);
        let (a, ask) = gate.join();
        assert!(!ask);
        assert_eq!(ids(gate.ingest(false)), Vec::<ViewerId>::new());
        assert_eq!(ids(gate.ingest(true)), vec![a]);
        let (b, _) = gate.join();
        assert_eq!(ids(gate.ingest(false)), vec![a], "b waits");
        assert_eq!(ids(gate.ingest(true)), vec![a, b]);
        assert!(gate.restart(b));
        assert_eq!(ids(gate.ingest(false)), vec![a]);
        assert!(gate.leave(a));
        assert_eq!(ids(gate.ingest(true)), vec![b]);
        assert_eq!(gate.stats().pictures_served, 3);
        assert!(!gate.restart(a));
    }

    #[test]
    fn a_viewers_first_picture_is_marked() {
        let mut gate = KeyframeGate::new(JoinPolicy::WaitForKeyframe);
        let (a, _) = gate.join();
        assert_eq!(gate.ingest(false), vec![]);
        assert_eq!(gate.ingest(true), vec![(a, true)]);
        let (b, _) = gate.join();
        assert_eq!(gate.ingest(true), vec![(a, false), (b, true)]);
        assert_eq!(gate.stats().pictures_served, 2);
    }

    #[test]
    fn forcing_asks_the_origin_on_every_join() {
        let mut gate = KeyframeGate::new(JoinPolicy::ForceKeyframe);
        assert!(gate.join().1);
        assert!(gate.join().1);
        assert_eq!(gate.stats().join_keyframe_requests, 2);
        assert_eq!(gate.viewer_count(), 2);
    }
}
