// SPDX-License-Identifier: MPL-2.0
//! Snapshots of the changes-only stream (docs/moq.md, "Joining and
//! repair"): the origin's, made every interval from a decoder that follows
//! what it publishes, and a subscriber's composite, one picture built from
//! the relay's latest snapshot and the frames since.
//!
//! A snapshot is `DeltaDecoder::snapshot`: every tile lossless and the
//! tile cache, numbered as the frame it stands for, so a decoder that takes
//! it and then the frames after it holds exactly what the encoder holds.

use std::time::Duration;

use thiserror::Error;

use crate::delta::{DecoderLimits, DeltaDecoder};

/// The origin's side: follows every frame it publishes and says when a
/// snapshot is due.
pub struct SnapshotMaker {
    decoder: DeltaDecoder,
    interval: Duration,
    last: Option<Duration>,
}

impl SnapshotMaker {
    /// Snapshots every `interval` of a stream whose decoder keeps
    /// `cache_tiles` tile contents.
    pub fn new(interval: Duration, cache_tiles: u32, limits: DecoderLimits) -> Self {
        let mut decoder = DeltaDecoder::with_limits(limits);
        decoder.set_cache_tiles(cache_tiles);
        Self {
            decoder,
            interval,
            last: None,
        }
    }

    /// Follows one published frame, at `now` (its presentation time: the
    /// clock the relay's retention counts in); returns a snapshot of the
    /// state after it when one is due: at the first whole picture, then
    /// every interval. `damaged`: records were lost before this frame (the
    /// publisher is fed from a lossy path), so every tile is suspect until
    /// it is sent again. A snapshot is made only of a state with every tile
    /// present and none suspect; a frame the decoder refuses makes none.
    pub fn follow(&mut self, frame: &[u8], now: Duration, damaged: bool) -> Option<Vec<u8>> {
        if damaged {
            self.decoder.note_loss();
        }
        let report = self.decoder.decode(frame, now);
        if report.header.is_none() || !self.decoder.is_complete() || self.decoder.stale_tiles() > 0
        {
            return None;
        }
        if self
            .last
            .is_some_and(|last| now.saturating_sub(last) < self.interval)
        {
            return None;
        }
        self.last = Some(now);
        self.decoder.snapshot()
    }
}

/// Why a composite could not be made.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CompositeError {
    #[error("the snapshot was refused: {0}")]
    Snapshot(String),
    #[error("the snapshot left {0} tiles missing")]
    Incomplete(u32),
}

/// One picture from `snapshot` and the frames after it, in order: a
/// snapshot numbered as the last frame, which a fresh decoder takes and
/// then goes on with the live frames. A frame that is refused leaves its
/// tiles as they were (they are then marked stale in the composite's
/// decoder only, which a later refresh heals); a bad snapshot is an error.
pub fn composite<'a>(
    snapshot: &[u8],
    frames: impl IntoIterator<Item = &'a [u8]>,
    cache_tiles: u32,
    limits: DecoderLimits,
) -> Result<Vec<u8>, CompositeError> {
    let (picture, _) = composite_and_state(snapshot, frames, cache_tiles, limits)?;
    Ok(picture)
}

/// [`composite`], and the decoder that made it: the state after the last
/// frame, which a subscriber keeps following (see [`Follower`]).
pub fn composite_and_state<'a>(
    snapshot: &[u8],
    frames: impl IntoIterator<Item = &'a [u8]>,
    cache_tiles: u32,
    limits: DecoderLimits,
) -> Result<(Vec<u8>, DeltaDecoder), CompositeError> {
    let mut decoder = DeltaDecoder::with_limits(limits);
    decoder.set_cache_tiles(cache_tiles);
    let report = decoder.decode(snapshot, Duration::ZERO);
    if let Some(e) = report.error {
        return Err(CompositeError::Snapshot(e.to_string()));
    }
    if !decoder.is_complete() {
        return Err(CompositeError::Incomplete(decoder.missing_tiles()));
    }
    for frame in frames {
        decoder.decode(frame, Duration::ZERO);
    }
    let picture = decoder
        .snapshot()
        .ok_or(CompositeError::Incomplete(u32::MAX))?;
    Ok((picture, decoder))
}

/// A subscriber's own copy of the stream's state: the decoder of its last
/// composite, brought forward by every frame handed on in order after it.
/// After a loss it stays exact at the frame before the missing one, so a
/// repair is that state, the missing frame and the frames since: no
/// snapshot from the relay (docs/moq.md, "Joining and repair").
pub struct Follower {
    decoder: DeltaDecoder,
    at: u64,
}

/// Why a follower could not make a picture.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FollowError {
    #[error("frame {0} is needed and not given")]
    Missing(u64),
    #[error("frame {0} was refused: {1}")]
    Refused(u64, String),
}

impl Follower {
    /// The state `decoder` holds after frame `at`.
    pub fn new(decoder: DeltaDecoder, at: u64) -> Self {
        Self { decoder, at }
    }

    /// The frame the state stands at.
    pub fn at(&self) -> u64 {
        self.at
    }

    /// Applies frame `sequence` if it is the next one; `false` (and
    /// nothing changes) if it is not. A frame the decoder refuses is an
    /// error, and the follower is then no longer exact: drop it.
    pub fn follow(&mut self, sequence: u64, frame: &[u8]) -> Result<bool, FollowError> {
        if sequence != self.at + 1 {
            return Ok(false);
        }
        if let Some(e) = self.decoder.decode(frame, Duration::ZERO).error {
            return Err(FollowError::Refused(sequence, e.to_string()));
        }
        self.at = sequence;
        Ok(true)
    }

    /// The state's picture: a snapshot numbered as its frame.
    pub fn picture(&mut self) -> Option<Vec<u8>> {
        self.decoder.snapshot()
    }

    /// Brings the state to frame `target` with `frames` (by sequence; the
    /// ones at or before the state's frame are ignored). A frame in between
    /// that `frames` lacks is an error, before anything is applied.
    pub fn advance_to<'a>(
        &mut self,
        target: u64,
        mut frames: impl FnMut(u64) -> Option<&'a [u8]>,
    ) -> Result<(), FollowError> {
        let wanted: Vec<(u64, &[u8])> = (self.at + 1..=target)
            .map(|s| frames(s).map(|f| (s, f)).ok_or(FollowError::Missing(s)))
            .collect::<Result<_, _>>()?;
        for (sequence, frame) in wanted {
            self.follow(sequence, frame)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta::{DeltaEncoder, EncoderConfig, Geometry, PixelFormat};
    use crate::testrng::Lcg;

    fn frames(n: usize) -> Vec<Vec<u8>> {
        let g = Geometry::new(PixelFormat::Bgrx, 64, 48, 16).unwrap();
        let mut enc = DeltaEncoder::new(g, EncoderConfig::LOSSLESS);
        let mut rng = Lcg(7);
        let mut picture = vec![0u8; 64 * 48 * 4];
        let mut out = Vec::new();
        for i in 0..n {
            // A few pixels change each frame, somewhere: most tiles stay.
            for _ in 0..3 {
                let at = rng.next() as usize % picture.len();
                picture[at] = rng.next() as u8;
            }
            let view = crate::delta::FrameView::new(&g, vec![(&picture[..], 64 * 4)]).unwrap();
            out.push(enc.encode(&view, i == 0).data);
        }
        out
    }

    fn decode_all<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> DeltaDecoder {
        let mut d = DeltaDecoder::new();
        for f in frames {
            d.decode(f, Duration::ZERO);
        }
        d
    }

    fn canvas_bytes(d: &DeltaDecoder) -> Vec<u8> {
        d.canvas().unwrap().plane(0).to_vec()
    }

    #[test]
    fn snapshots_at_the_first_picture_then_every_interval() {
        let f = frames(5);
        let mut maker = SnapshotMaker::new(Duration::from_secs(1), 0, DecoderLimits::default());
        let ms = Duration::from_millis;
        assert!(maker.follow(&f[0], ms(0), false).is_some());
        assert!(maker.follow(&f[1], ms(500), false).is_none());
        assert!(maker.follow(&f[2], ms(999), false).is_none());
        assert!(maker.follow(&f[3], ms(1000), false).is_some());
        assert!(maker.follow(b"garbage", ms(5000), false).is_none());
        assert!(maker.follow(&f[4], ms(5000), false).is_some());
        // After a loss upstream, no snapshot until every tile has been
        // sent again (here by a keyframe), however long it takes.
        assert!(maker.follow(&f[1], ms(9000), true).is_none());
        assert!(maker.follow(&f[2], ms(9500), false).is_none());
        assert!(maker.follow(&f[0], ms(9600), false).is_some());
    }

    #[test]
    fn snapshot_then_frames_is_exact_and_goes_on_live() {
        let f = frames(12);
        let mut maker = SnapshotMaker::new(Duration::from_secs(1), 0, DecoderLimits::default());
        let mut snap = None;
        for (i, frame) in f[..5].iter().enumerate() {
            if let Some(s) = maker.follow(frame, Duration::from_secs(i as u64), false) {
                snap = Some(s);
            }
        }
        // The snapshot stands for frame 4; the joiner has frames 5..8 from
        // the cache and goes on with 8.. live.
        let snap = snap.unwrap();
        let comp = composite(
            &snap,
            f[5..8].iter().map(Vec::as_slice),
            0,
            DecoderLimits::default(),
        )
        .unwrap();
        let joiner =
            decode_all(std::iter::once(comp.as_slice()).chain(f[8..].iter().map(Vec::as_slice)));
        let live = decode_all(f.iter().map(Vec::as_slice));
        assert!(joiner.is_complete());
        assert_eq!(canvas_bytes(&joiner), canvas_bytes(&live));
        assert_eq!(joiner.stale_tiles(), 0);
    }

    #[test]
    fn a_bad_snapshot_is_an_error() {
        let f = frames(3);
        assert!(matches!(
            composite(b"nonsense", [], 0, DecoderLimits::default()),
            Err(CompositeError::Snapshot(_))
        ));
        // A frame that is not a keyframe leaves tiles missing.
        assert!(matches!(
            composite(&f[1], [], 0, DecoderLimits::default()),
            Err(CompositeError::Snapshot(_)) | Err(CompositeError::Incomplete(_))
        ));
    }

    #[test]
    fn a_follower_repairs_from_its_own_state_exactly() {
        let f = frames(12);
        let limits = DecoderLimits::default();
        // The join: a composite at frame 4 (here from frame 0, a keyframe,
        // and the frames after it), whose decoder is kept.
        let (_, state) =
            composite_and_state(&f[0], f[1..5].iter().map(Vec::as_slice), 0, limits).unwrap();
        let mut follower = Follower::new(state, 4);
        assert!(follower.follow(5, &f[5]).unwrap());
        assert!(follower.follow(6, &f[6]).unwrap());
        // Frame 7 is lost; 8 and 9 are handed on, and the follower, exact
        // at 6, does not take them.
        assert!(!follower.follow(8, &f[8]).unwrap());
        assert_eq!(follower.at(), 6);
        // Asked for 9 before 7 is there: an error, and nothing applied.
        let without_7 = |s: u64| (s != 7).then(|| f[s as usize].as_slice());
        assert_eq!(
            follower.advance_to(9, without_7).unwrap_err(),
            FollowError::Missing(7)
        );
        assert_eq!(follower.at(), 6);
        // 7 arrives: the picture at 9 is exact, and a fresh decoder that
        // takes it and then goes on live holds what the live one holds.
        follower
            .advance_to(9, |s| Some(f[s as usize].as_slice()))
            .unwrap();
        let picture = follower.picture().unwrap();
        assert_eq!(follower.at(), 9);
        let repaired = decode_all(
            std::iter::once(picture.as_slice()).chain(f[10..].iter().map(Vec::as_slice)),
        );
        let live = decode_all(f.iter().map(Vec::as_slice));
        assert_eq!(canvas_bytes(&repaired), canvas_bytes(&live));
        assert_eq!(repaired.stale_tiles(), 0);
        // Garbage is refused, not followed.
        assert!(matches!(
            follower.follow(10, b"garbage"),
            Err(FollowError::Refused(10, _))
        ));
    }
}
