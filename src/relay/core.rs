// SPDX-License-Identifier: MPL-2.0
//! The relay's shared state: the stream's picture, the viewers, and which
//! of them needs a picture of its own. Free of GStreamer and of any
//! transport: a front end (RTSP today) turns viewers' joins, keyframe
//! requests and back-pressure into calls here, and delivers what
//! [`Relay::ingest`] returns.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::delta::bitstream::{self, BitstreamError, FrameHeader};
use crate::delta::{DecoderLimits, DeltaDecoder};

/// A viewer, as the relay numbers them (never reused).
pub type ViewerId = u64;

/// Where a viewer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ViewerState {
    /// Joined, asked for a keyframe, or fell behind: its next frame must be
    /// a whole picture.
    NeedsPicture,
    /// Holds what the relay holds: every frame is forwarded as it came.
    Live,
}

/// Bytes for some viewers: the same buffer for all of them.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// A whole frame of the bitstream (docs/bitstream.md).
    pub frame: Arc<[u8]>,
    /// Who gets it, in ascending order.
    pub viewers: Vec<ViewerId>,
    /// A whole picture made from the relay's state (or the origin's own
    /// keyframe) for viewers that needed one; otherwise the origin's frame
    /// as it came.
    pub picture: bool,
}

/// What one ingested frame gave.
#[derive(Debug, Default)]
pub struct IngestOutcome {
    /// At most two: the frame for live viewers, a picture for the others.
    pub deliveries: Vec<Delivery>,
    /// The frame was refused (bad header, over the limits): nothing was
    /// forwarded.
    pub error: Option<BitstreamError>,
    /// Viewers are waiting for a picture the relay cannot make yet (it has
    /// not received every tile, or holds stale ones since a loss): the front
    /// end may ask the origin for a keyframe (paced).
    pub needs_keyframe: bool,
}

/// Counters since the relay was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Frames received from the origin.
    pub frames_in: u64,
    /// Frames refused (not forwarded).
    pub frames_refused: u64,
    /// Frames received with records lost on the way.
    pub frames_damaged: u64,
    /// Pictures made from the relay's state (snapshots).
    pub snapshots: u64,
    /// Pictures served from the origin's own keyframes.
    pub keyframes_reused: u64,
    /// Times a viewer was given a picture (joins, requests, catch-ups).
    pub pictures_served: u64,
    /// Viewers that joined.
    pub joins: u64,
    /// Viewers that left.
    pub leaves: u64,
    /// Keyframe requests (or fall-behinds) from viewers.
    pub viewer_requests: u64,
}

/// The relay: one decoder fed by the origin, any number of viewers.
pub struct Relay {
    decoder: DeltaDecoder,
    viewers: BTreeMap<ViewerId, ViewerState>,
    next_id: ViewerId,
    stats: RelayStats,
}

impl Default for Relay {
    fn default() -> Self {
        Self::new(DecoderLimits::default())
    }
}

impl Relay {
    /// A relay holding no picture and no viewer; frames over `limits` are
    /// refused as a decoder would refuse them.
    pub fn new(limits: DecoderLimits) -> Self {
        Relay {
            decoder: DeltaDecoder::with_limits(limits),
            viewers: BTreeMap::new(),
            next_id: 1,
            stats: RelayStats::default(),
        }
    }

    /// The stream's tile cache size (`cache-tiles` in its caps): the
    /// relay's decoder keeps the same cache, and its pictures carry it.
    pub fn set_cache_tiles(&mut self, tiles: u32) {
        self.decoder.set_cache_tiles(tiles);
    }

    /// A new viewer: its first frame will be a whole picture.
    pub fn join(&mut self) -> ViewerId {
        let id = self.next_id;
        self.next_id += 1;
        self.viewers.insert(id, ViewerState::NeedsPicture);
        self.stats.joins += 1;
        id
    }

    /// The viewer is gone; false when it was not there.
    pub fn leave(&mut self, id: ViewerId) -> bool {
        let was = self.viewers.remove(&id).is_some();
        self.stats.leaves += was as u64;
        was
    }

    /// The viewer asked for a keyframe: it gets a whole picture next, from
    /// the relay's state, and nobody else notices. False when it is not a
    /// viewer.
    pub fn request_picture(&mut self, id: ViewerId) -> bool {
        let known = self.restart(id);
        self.stats.viewer_requests += known as u64;
        known
    }

    /// The front end could not deliver to the viewer (it fell behind, or
    /// its stream was not running yet): it gets a whole picture next.
    /// False when it is not a viewer.
    pub fn restart(&mut self, id: ViewerId) -> bool {
        match self.viewers.get_mut(&id) {
            Some(state) => {
                *state = ViewerState::NeedsPicture;
                true
            }
            None => false,
        }
    }

    /// Viewers now.
    pub fn viewer_count(&self) -> usize {
        self.viewers.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> RelayStats {
        self.stats
    }

    /// The relay can make a picture that is exactly the origin's: every tile
    /// received, none stale.
    pub fn holds_whole_picture(&self) -> bool {
        self.decoder.is_complete() && self.decoder.stale_tiles() == 0
    }

    /// Takes one frame from the origin, arrived at `now` (any monotonic
    /// clock), `damaged` when records of it (or before it) were lost on the
    /// way. Returns what to send to whom: live viewers get the frame as it
    /// came (flagged damaged when it is, so that their decoders know what
    /// the relay knows); viewers that need a picture get one made from the
    /// relay's state once it holds a whole one, all of them the same.
    pub fn ingest(&mut self, frame: &[u8], damaged: bool, now: Duration) -> IngestOutcome {
        let mut outcome = IngestOutcome::default();
        self.stats.frames_in += 1;
        if damaged {
            self.stats.frames_damaged += 1;
            self.decoder.note_loss();
        }
        let report = self.decoder.decode(frame, now);
        let Some(header) = report.header else {
            self.stats.frames_refused += 1;
            outcome.error = report.error;
            return outcome;
        };
        let live: Vec<ViewerId> = self.ids_in(ViewerState::Live);
        if !live.is_empty() {
            let forwarded: Arc<[u8]> = if damaged && !bitstream::is_damaged(frame) {
                let mut copy = frame.to_vec();
                bitstream::mark_damaged(&mut copy);
                copy.into()
            } else {
                frame.into()
            };
            outcome.deliveries.push(Delivery {
                frame: forwarded,
                viewers: live,
                picture: false,
            });
        }
        let waiting = self.ids_in(ViewerState::NeedsPicture);
        if waiting.is_empty() {
            return outcome;
        }
        if !self.holds_whole_picture() {
            outcome.needs_keyframe = true;
            return outcome;
        }
        let picture: Arc<[u8]> = if whole_keyframe(&header, damaged, report.records_dropped) {
            // The origin's keyframe is already a whole picture.
            self.stats.keyframes_reused += 1;
            frame.into()
        } else {
            match self.decoder.snapshot() {
                Some(snapshot) => {
                    self.stats.snapshots += 1;
                    snapshot.into()
                }
                None => {
                    outcome.needs_keyframe = true;
                    return outcome;
                }
            }
        };
        for id in &waiting {
            self.viewers.insert(*id, ViewerState::Live);
        }
        self.stats.pictures_served += waiting.len() as u64;
        outcome.deliveries.push(Delivery {
            frame: picture,
            viewers: waiting,
            picture: true,
        });
        outcome
    }

    fn ids_in(&self, state: ViewerState) -> Vec<ViewerId> {
        self.viewers
            .iter()
            .filter(|(_, s)| **s == state)
            .map(|(id, _)| *id)
            .collect()
    }
}

/// A keyframe that arrived whole can be handed on as the picture.
fn whole_keyframe(header: &FrameHeader, damaged: bool, records_dropped: u32) -> bool {
    header.keyframe && !damaged && records_dropped == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::{DeltaEncoder, EncoderConfig, FrameView, Geometry, PixelFormat};
    use crate::testrng::Lcg;

    const W: u32 = 128;
    const H: u32 = 96;

    fn geometry() -> Geometry {
        Geometry::new(PixelFormat::Bgrx, W, H, 32).unwrap()
    }

    /// A still background with a noisy block moving across its upper part:
    /// some tiles change every frame, the lower row never does.
    fn picture(n: u32, rng: &mut Lcg) -> Vec<u8> {
        let mut img = vec![0u8; (W * H * 4) as usize];
        for y in 0..H {
            for x in 0..W {
                let i = ((y * W + x) * 4) as usize;
                let inside = (x + n * 3) % W < 40 && y > 10 && y < 50;
                img[i] = if inside { 200 } else { (x * 2) as u8 };
                img[i + 1] = (y * 2) as u8;
                img[i + 2] = if inside && rng.next().is_multiple_of(7) {
                    255
                } else {
                    10
                };
                img[i + 3] = 255;
            }
        }
        img
    }

    fn encoder(refresh: u32) -> DeltaEncoder {
        DeltaEncoder::new(
            geometry(),
            EncoderConfig {
                intra_refresh: refresh,
                ..EncoderConfig::LOSSLESS
            },
        )
    }

    fn encode(enc: &mut DeltaEncoder, img: &[u8], keyframe: bool) -> Vec<u8> {
        let g = geometry();
        let view = FrameView::new(&g, vec![(img, (W * 4) as usize)]).unwrap();
        enc.encode(&view, keyframe).data
    }

    fn t(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// A viewer's decoder: the pure decoder fed what the relay gave it.
    struct Viewer {
        id: ViewerId,
        decoder: DeltaDecoder,
        frames: u32,
    }

    impl Viewer {
        fn take(&mut self, outcome: &IngestOutcome, now: Duration) {
            for d in &outcome.deliveries {
                if d.viewers.contains(&self.id) {
                    let report = self.decoder.decode(&d.frame, now);
                    assert!(report.error.is_none(), "{:?}", report.error);
                    self.frames += 1;
                }
            }
        }

        fn picture(&self) -> &[u8] {
            self.decoder.canvas().unwrap().plane(0)
        }
    }

    #[test]
    fn late_joiners_get_one_shared_snapshot_and_stay_exact() {
        let mut rng = Lcg(7);
        let mut enc = encoder(0);
        let mut relay = Relay::default();
        let mut origin_view = DeltaDecoder::new();
        let mut viewers: Vec<Viewer> = Vec::new();
        for n in 0..40u32 {
            if n == 10 || n == 25 {
                // Two join within one frame, one more later.
                for _ in 0..2 {
                    viewers.push(Viewer {
                        id: relay.join(),
                        decoder: DeltaDecoder::new(),
                        frames: 0,
                    });
                }
            }
            let frame = encode(&mut enc, &picture(n, &mut rng), n == 0);
            origin_view.decode(&frame, t(n as u64 * 33));
            let outcome = relay.ingest(&frame, false, t(n as u64 * 33));
            assert!(!outcome.needs_keyframe);
            let pictures: Vec<&Delivery> =
                outcome.deliveries.iter().filter(|d| d.picture).collect();
            if n == 10 || n == 25 {
                assert_eq!(
                    pictures.len(),
                    1,
                    "one snapshot for the joiners of frame {n}"
                );
                assert_eq!(pictures[0].viewers.len(), 2);
            } else {
                assert!(pictures.is_empty(), "frame {n}: nobody needed a picture");
            }
            for v in &mut viewers {
                v.take(&outcome, t(n as u64 * 33));
                let want = origin_view.canvas().unwrap().plane(0);
                assert_eq!(v.picture(), want, "viewer {} at frame {n}", v.id);
                assert!(v.decoder.is_complete());
            }
        }
        let s = relay.stats();
        assert_eq!(s.snapshots, 2);
        assert_eq!(s.pictures_served, 4);
        assert_eq!(viewers[0].frames, 30);
    }

    #[test]
    fn a_keyframe_request_serves_only_the_asker() {
        let mut rng = Lcg(3);
        let mut enc = encoder(0);
        let mut relay = Relay::default();
        let a = relay.join();
        let b = relay.join();
        for n in 0..5u32 {
            let frame = encode(&mut enc, &picture(n, &mut rng), n == 0);
            let outcome = relay.ingest(&frame, false, t(n as u64 * 33));
            if n == 0 {
                // The origin's first frame is a keyframe: handed on as is.
                assert_eq!(outcome.deliveries.len(), 1);
                assert!(outcome.deliveries[0].picture);
                assert_eq!(&*outcome.deliveries[0].frame, &frame[..]);
            }
        }
        assert!(relay.request_picture(b));
        let frame = encode(&mut enc, &picture(5, &mut rng), false);
        let outcome = relay.ingest(&frame, false, t(200));
        assert_eq!(outcome.deliveries.len(), 2);
        let live = &outcome.deliveries[0];
        assert!(!live.picture);
        assert_eq!(live.viewers, vec![a]);
        assert_eq!(
            &*live.frame,
            &frame[..],
            "the live viewer's frame is untouched"
        );
        let pic = &outcome.deliveries[1];
        assert!(pic.picture);
        assert_eq!(pic.viewers, vec![b]);
        let stats = relay.stats();
        assert_eq!(stats.keyframes_reused, 1);
        assert_eq!(stats.snapshots, 1);
        assert_eq!(stats.viewer_requests, 1);
        assert!(!relay.request_picture(99));
    }

    #[test]
    fn no_picture_before_the_relay_holds_a_whole_one() {
        let mut rng = Lcg(5);
        let mut enc = encoder(4);
        let mut relay = Relay::default();
        // The origin's keyframe is lost: the relay starts mid-stream.
        let _lost = encode(&mut enc, &picture(0, &mut rng), true);
        let v = relay.join();
        let mut served_at = None;
        for n in 1..30u32 {
            let frame = encode(&mut enc, &picture(n, &mut rng), false);
            let outcome = relay.ingest(&frame, n == 1, t(n as u64 * 33));
            let got = outcome
                .deliveries
                .iter()
                .any(|d| d.picture && d.viewers.contains(&v));
            if got {
                served_at.get_or_insert(n);
                assert!(relay.holds_whole_picture());
            } else if served_at.is_none() {
                assert!(
                    outcome.needs_keyframe,
                    "frame {n}: waiting, so ask the origin"
                );
            }
        }
        // Intra refresh every 4 frames fills the relay's picture, and then
        // the viewer is served without any keyframe from the origin.
        let at = served_at.expect("the viewer got a picture");
        assert!(at <= 10, "served at frame {at}");
    }

    #[test]
    fn damage_is_forwarded_flagged_and_the_snapshot_waits_for_healing() {
        let mut rng = Lcg(11);
        let mut enc = encoder(6);
        let mut relay = Relay::default();
        let live = relay.join();
        let mut viewer = Viewer {
            id: live,
            decoder: DeltaDecoder::new(),
            frames: 0,
        };
        for n in 0..3u32 {
            let frame = encode(&mut enc, &picture(n, &mut rng), n == 0);
            viewer.take(&relay.ingest(&frame, false, t(n as u64 * 33)), t(0));
        }
        assert_eq!(viewer.decoder.stale_tiles(), 0);
        // Frame 3 lost records on the way to the relay.
        let frame = encode(&mut enc, &picture(3, &mut rng), false);
        let late = relay.join();
        let outcome = relay.ingest(&frame, true, t(100));
        assert_eq!(
            outcome.deliveries.len(),
            1,
            "no picture from a damaged state"
        );
        assert!(outcome.needs_keyframe);
        assert!(bitstream::is_damaged(&outcome.deliveries[0].frame));
        viewer.take(&outcome, t(100));
        assert!(
            viewer.decoder.stale_tiles() > 0,
            "the viewer's decoder learns of the loss from the flag"
        );
        let mut served = false;
        for n in 4..20u32 {
            let frame = encode(&mut enc, &picture(n, &mut rng), false);
            let outcome = relay.ingest(&frame, false, t(n as u64 * 33));
            served |= outcome
                .deliveries
                .iter()
                .any(|d| d.picture && d.viewers == vec![late]);
            viewer.take(&outcome, t(0));
        }
        assert!(served, "healed by refresh, then the late viewer is served");
        assert_eq!(
            viewer.decoder.stale_tiles(),
            0,
            "and the live viewer healed too"
        );
    }

    #[test]
    fn refused_frames_are_not_forwarded_and_leaving_is_final() {
        let mut relay = Relay::default();
        let v = relay.join();
        let outcome = relay.ingest(b"not a frame", false, t(0));
        assert!(outcome.deliveries.is_empty());
        assert!(outcome.error.is_some());
        assert_eq!(relay.stats().frames_refused, 1);
        assert!(relay.leave(v));
        assert!(!relay.leave(v));
        assert_eq!(relay.viewer_count(), 0);
        let mut enc = encoder(0);
        let frame = encode(&mut enc, &picture(0, &mut Lcg(1)), true);
        assert!(relay.ingest(&frame, false, t(1)).deliveries.is_empty());
    }
}
