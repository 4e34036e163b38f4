// SPDX-License-Identifier: MPL-2.0
//! Where segments begin and end, decided from frame timing and keyframe flags
//! alone, free of GStreamer types so it can be tested frame by frame.
//!
//! A segment always begins with a keyframe, so it decodes on its own. The
//! cutter closes the open segment when a keyframe arrives at or after the
//! boundary (frame count reached, or target duration elapsed); a keyframe that
//! arrives early is simply kept inside the segment. Ahead of each boundary it
//! asks for a keyframe at the boundary's time. An encoder that holds frames
//! (look-ahead, B-frames) has already taken every frame up to its delay past
//! the segment start when that start comes out of it, so the cutter asks for
//! the first boundaries beyond that delay, never for one the encoder has
//! passed (that would put a keyframe off the grid); the first segment is then
//! longer, all later ones exact. When a boundary passes without a keyframe it
//! asks again and, after a bounded wait, gives up with an error.
//!
//! Times are running times as `Duration`s; the element converts its
//! `ClockTime`s at the boundary.

use std::fmt;
use std::time::Duration;

/// Most keyframe requests sent when a segment starts (for an encoder whose
/// delay is many segments long).
pub const MAX_REQUESTS_AT_ONCE: u64 = 32;

/// While waiting for a keyframe, ask again this often (stream time).
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_secs(1);

/// Frames that carry no time and no duration in a stream without a frame
/// rate are taken to be this far apart, so the keyframe wait stays bounded.
pub const ASSUMED_FRAME_DURATION: Duration = Duration::from_nanos(1_000_000_000 / 30);

/// How long a segment should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentLength {
    /// Exactly this many frames (more only if the encoder ignores a request).
    Frames(u32),
    /// This much stream time, cut at the first keyframe at or after it.
    Duration(Duration),
}

impl SegmentLength {
    /// `frames` frames when that is not zero, else `duration` of stream time
    /// (at least 1 ns): the packager's `frames-per-segment` and
    /// `segment-duration`.
    pub fn frames_or_duration(frames: u32, duration: Duration) -> Self {
        if frames > 0 {
            SegmentLength::Frames(frames)
        } else {
            SegmentLength::Duration(duration.max(Duration::from_nanos(1)))
        }
    }
}

/// Duration of one frame at `numer`/`denom` frames per second, rounded
/// down; `None` for a variable (0/1) or senseless rate.
pub fn frame_duration(numer: i32, denom: i32) -> Option<Duration> {
    let numer = u64::try_from(numer).ok().filter(|&n| n > 0)?;
    let denom = u64::try_from(denom).ok().filter(|&d| d > 0)?;
    let ns = 1_000_000_000u128 * u128::from(denom) / u128::from(numer);
    u64::try_from(ns).ok().map(Duration::from_nanos)
}

/// `d` times `k`, saturating: `Duration::saturating_mul` takes a `u32`, and
/// a count of segments ahead need not fit one.
fn times(d: Duration, k: u64) -> Duration {
    let ns = d.as_nanos().saturating_mul(u128::from(k));
    u64::try_from(ns / 1_000_000_000).map_or(Duration::MAX, |secs| {
        Duration::new(secs, (ns % 1_000_000_000) as u32)
    })
}

/// What the cutter needs to know about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutterConfig {
    /// Segment length asked for.
    pub length: SegmentLength,
    /// Duration of one frame when the stream has a fixed frame rate.
    pub frame_duration: Option<Duration>,
    /// Stream time to wait for a keyframe that was asked for before failing;
    /// zero waits for ever.
    pub max_keyframe_wait: Duration,
    /// How far behind its input the encoder's output runs (its reported
    /// latency); requests go out this much further ahead.
    pub encoder_delay: Duration,
}

impl CutterConfig {
    /// Target length of a segment in stream time, when it can be known:
    /// the duration asked for, or the frame count times the frame duration.
    pub fn segment_duration(&self) -> Option<Duration> {
        match self.length {
            SegmentLength::Duration(d) => Some(d),
            SegmentLength::Frames(n) => self.frame_duration.map(|d| d.saturating_mul(n)),
        }
    }
}

/// One encoded frame as the cutter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Running time of the frame, if known.
    pub time: Option<Duration>,
    /// Duration of the frame, if known.
    pub duration: Option<Duration>,
    /// Whether the frame can be decoded without earlier frames.
    pub keyframe: bool,
}

/// A request to the encoder for a keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeRequest {
    /// The first frame at or after this running time should be a keyframe.
    At(Duration),
    /// The next frame should be a keyframe.
    Now,
}

/// What to do with the frame just pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameAction {
    /// Discard it: no segment is open and it is not a keyframe.
    Drop,
    /// Add it to the open segment.
    Append,
    /// It opens segment `index`.
    StartSegment {
        /// Sequence number of the new segment, counting from zero.
        index: u64,
    },
}

/// A segment that is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Sequence number, counting from zero.
    pub index: u64,
    /// Running time of its first frame.
    pub start: Duration,
    /// Time from its first frame to the frame after its last one.
    pub duration: Duration,
    /// Number of frames in it.
    pub frames: u32,
}

/// The cutter's answer for one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What to do with the frame.
    pub action: FrameAction,
    /// The segment that this frame closed, if any; it must be emitted before
    /// the frame itself is passed on.
    pub finished: Option<SegmentSummary>,
    /// Keyframes to ask the encoder for.
    pub requests: Vec<KeyframeRequest>,
}

/// Why the cutter cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CutterError {
    /// A keyframe was asked for and none came within the allowed wait.
    #[error(
        "no keyframe arrived within {} of stream time after asking for one ({frames} frames seen meanwhile); \
         the encoder ignores keyframe requests (GstForceKeyUnit)",
        Seconds(*.waited)
    )]
    NoKeyframe {
        /// Stream time waited.
        waited: Duration,
        /// Frames seen while waiting.
        frames: u64,
    },
}

struct Seconds(Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} s", self.0.as_secs_f64())
    }
}

#[derive(Debug, Clone, Copy)]
struct OpenSegment {
    index: u64,
    start: Duration,
    frames: u32,
    /// End of the last frame added (its time plus its duration).
    end: Duration,
    /// Half a frame: boundaries are asked for this early so timestamp
    /// jitter cannot push the keyframe one frame late.
    slack: Duration,
    /// How long it should turn out if the encoder's delay is as assumed:
    /// one segment, or for a segment no earlier request reached, up to the
    /// first boundary the encoder had not yet taken in.
    expected: Option<Duration>,
}

#[derive(Debug, Clone, Copy)]
struct KeyframeWait {
    since: Duration,
    last_request: Duration,
    frames: u64,
}

/// Cuts a stream of encoded frames into segments that each begin with a keyframe.
#[derive(Debug)]
pub struct SegmentCutter {
    config: CutterConfig,
    next_index: u64,
    open: Option<OpenSegment>,
    wait: Option<KeyframeWait>,
    /// Time the next frame would have if it carries none.
    expected_time: Option<Duration>,
}

impl SegmentCutter {
    /// A cutter that has seen no frame yet.
    pub fn new(config: CutterConfig) -> Self {
        Self {
            config,
            next_index: 0,
            open: None,
            wait: None,
            expected_time: None,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &CutterConfig {
        &self.config
    }

    /// Changes timing or length from the next segment on; the open segment
    /// and the numbering are kept.
    pub fn set_config(&mut self, config: CutterConfig) {
        self.config = config;
    }

    /// Takes one frame, in decoding order, and says what to do with it.
    pub fn push(&mut self, frame: Frame) -> Result<Decision, CutterError> {
        let time = frame.time.or(self.expected_time).unwrap_or(Duration::ZERO);
        let duration = frame.duration.or(self.config.frame_duration);
        self.expected_time = Some(time.saturating_add(duration.unwrap_or(ASSUMED_FRAME_DURATION)));
        let end = time.saturating_add(duration.unwrap_or(Duration::ZERO));

        let Some(mut open) = self.open else {
            if frame.keyframe {
                return Ok(self.start_segment(time, end, duration, None));
            }
            let requests = self.keep_waiting(time)?.into_iter().collect();
            return Ok(Decision {
                action: FrameAction::Drop,
                finished: None,
                requests,
            });
        };

        let due = self.boundary_due(&open, time);
        if due && frame.keyframe {
            let finished = SegmentSummary {
                index: open.index,
                start: open.start,
                duration: time.saturating_sub(open.start),
                frames: open.frames,
            };
            self.learn_from(&finished, &open);
            return Ok(self.start_segment(time, end, duration, Some(finished)));
        }

        open.frames = open.frames.saturating_add(1);
        open.end = open.end.max(end);
        self.open = Some(open);

        let request = if due {
            self.keep_waiting(time)?
        } else if self.needs_blind_request(&open) {
            Some(KeyframeRequest::Now)
        } else {
            None
        };
        Ok(Decision {
            action: FrameAction::Append,
            finished: None,
            requests: request.into_iter().collect(),
        })
    }

    /// Closes the open segment at the end of the stream.
    pub fn finish(&mut self) -> Option<SegmentSummary> {
        self.wait = None;
        self.open.take().map(|open| SegmentSummary {
            index: open.index,
            start: open.start,
            duration: open.end.saturating_sub(open.start),
            frames: open.frames,
        })
    }

    /// Forgets the open segment and any wait (after a flush); numbering goes on.
    pub fn reset(&mut self) {
        self.open = None;
        self.wait = None;
        self.expected_time = None;
    }

    /// Whether a segment is open.
    pub fn has_open_segment(&self) -> bool {
        self.open.is_some()
    }

    /// Target length of a segment in stream time, when it can be known.
    pub fn segment_duration(&self) -> Option<Duration> {
        self.config.segment_duration()
    }

    fn start_segment(
        &mut self,
        time: Duration,
        end: Duration,
        frame_duration: Option<Duration>,
        finished: Option<SegmentSummary>,
    ) -> Decision {
        let index = self.next_index;
        self.next_index += 1;
        self.wait = None;
        let frame_duration = frame_duration.or(self.config.frame_duration);
        let slack = frame_duration.map_or(Duration::ZERO, |d| d / 2);
        let length = match self.config.length {
            SegmentLength::Duration(d) => Some(d),
            SegmentLength::Frames(n) => frame_duration.map(|d| d.saturating_mul(n)),
        };
        // The first boundary the encoder has not taken in yet.
        let first = length.filter(|l| !l.is_zero()).map_or(1, |l| {
            u64::try_from(self.config.encoder_delay.as_nanos() / l.as_nanos())
                .unwrap_or(u64::MAX)
                .saturating_add(1)
        });
        // After a segment this one's boundary was asked for by earlier
        // segments; the first segment can end no earlier than `first`.
        let expected = length.map(|l| {
            if finished.is_some() {
                l
            } else {
                times(l, first)
            }
        });
        self.open = Some(OpenSegment {
            index,
            start: time,
            frames: 1,
            end,
            slack,
            expected,
        });

        let requests = match (length, self.config.length) {
            (Some(l), _) if !l.is_zero() => {
                // From the first boundary the encoder has not taken in yet, as
                // many boundaries on as it will take in before the next
                // segment starts (when more are asked for): every boundary
                // gets asked for in time, also after a long first segment. A
                // boundary asked for again names the same frame.
                let last = (2 * first).min(first + MAX_REQUESTS_AT_ONCE - 1);
                (first..=last)
                    .map(|k| {
                        KeyframeRequest::At(time.saturating_add(times(l, k)).saturating_sub(slack))
                    })
                    .collect()
            }
            // One frame per segment: every frame must be a keyframe.
            (_, SegmentLength::Frames(n)) if n <= 1 => vec![KeyframeRequest::Now],
            _ => Vec::new(),
        };
        Decision {
            action: FrameAction::StartSegment { index },
            finished,
            requests,
        }
    }

    /// A segment that came out longer than expected means its keyframe
    /// request reached the encoder too late: the encoder holds more than it
    /// said (x265enc reports a fraction of its look-ahead). Ask further ahead.
    fn learn_from(&mut self, finished: &SegmentSummary, open: &OpenSegment) {
        let Some(expected) = open.expected else {
            return;
        };
        if finished.duration > expected.saturating_add(open.slack) {
            // The request was late by at least the overshoot.
            self.config.encoder_delay = self
                .config
                .encoder_delay
                .saturating_add(finished.duration - expected);
        }
    }

    fn boundary_due(&self, open: &OpenSegment, time: Duration) -> bool {
        match self.config.length {
            SegmentLength::Frames(n) => open.frames >= n.max(1),
            SegmentLength::Duration(d) => {
                time.saturating_add(open.slack) >= open.start.saturating_add(d)
            }
        }
    }

    /// Without a known frame duration a frame count cannot be turned into a
    /// time, so the request goes out when the last frame of the segment has
    /// arrived; it is right for encoders without frame delay.
    fn needs_blind_request(&self, open: &OpenSegment) -> bool {
        match self.config.length {
            SegmentLength::Frames(n) => open.slack.is_zero() && open.frames == n.max(1),
            SegmentLength::Duration(_) => false,
        }
    }

    fn keep_waiting(&mut self, time: Duration) -> Result<Option<KeyframeRequest>, CutterError> {
        let Some(mut wait) = self.wait else {
            self.wait = Some(KeyframeWait {
                since: time,
                last_request: time,
                frames: 1,
            });
            return Ok(Some(KeyframeRequest::Now));
        };
        wait.frames += 1;
        let waited = time.saturating_sub(wait.since);
        if !self.config.max_keyframe_wait.is_zero() && waited > self.config.max_keyframe_wait {
            self.wait = Some(wait);
            return Err(CutterError::NoKeyframe {
                waited,
                frames: wait.frames,
            });
        }
        let request = if time.saturating_sub(wait.last_request) >= KEYFRAME_REQUEST_INTERVAL {
            wait.last_request = time;
            Some(KeyframeRequest::Now)
        } else {
            None
        };
        self.wait = Some(wait);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test times are counted in nanoseconds and made `Duration`s where they
    // meet the cutter.
    const SECOND: u64 = 1_000_000_000;
    const FRAME: u64 = SECOND / 30;

    fn ns(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    fn config(length: SegmentLength) -> CutterConfig {
        CutterConfig {
            length,
            frame_duration: Some(ns(FRAME)),
            max_keyframe_wait: ns(2 * SECOND),
            encoder_delay: Duration::ZERO,
        }
    }

    fn frame(i: u64, keyframe: bool) -> Frame {
        Frame {
            time: Some(ns(i * FRAME)),
            duration: Some(ns(FRAME)),
            keyframe,
        }
    }

    /// Feeds frames, key where `key(i)` says, and returns the closed segments.
    fn run(
        cutter: &mut SegmentCutter,
        frames: std::ops::Range<u64>,
        key: impl Fn(u64) -> bool,
    ) -> Vec<SegmentSummary> {
        let mut out = Vec::new();
        for i in frames {
            let d = cutter.push(frame(i, key(i))).expect("no error");
            out.extend(d.finished);
        }
        out.extend(cutter.finish());
        out
    }

    #[test]
    fn ten_frame_segments_when_encoder_obeys() {
        let mut c = SegmentCutter::new(config(SegmentLength::Frames(10)));
        let segs = run(&mut c, 0..60, |i| i % 10 == 0);
        assert_eq!(segs.len(), 6);
        for (n, s) in segs.iter().enumerate() {
            assert_eq!(s.index, n as u64);
            assert_eq!(s.frames, 10);
            assert_eq!(s.start, ns(n as u64 * 10 * FRAME));
            assert_eq!(s.duration, ns(10 * FRAME));
        }
    }

    #[test]
    fn asks_for_the_boundary_keyframe_half_a_frame_early() {
        let mut c = SegmentCutter::new(config(SegmentLength::Frames(10)));
        let d = c.push(frame(0, true)).unwrap();
        assert_eq!(d.action, FrameAction::StartSegment { index: 0 });
        assert_eq!(
            d.requests,
            [
                KeyframeRequest::At(ns(10 * FRAME - FRAME / 2)),
                KeyframeRequest::At(ns(20 * FRAME - FRAME / 2))
            ]
        );
        let d = c.push(frame(1, false)).unwrap();
        assert_eq!(d.requests, []);
    }

    /// Runs the cutter against a model encoder that holds `delay` frames and
    /// honours a keyframe request only for frames it has not taken in yet;
    /// returns the segment lengths.
    fn with_delaying_encoder(delay: u64, reported: u64, frames: u64) -> Vec<u32> {
        with_glitchy_encoder(delay, reported, frames, u64::MAX)
    }

    fn with_glitchy_encoder(delay: u64, reported: u64, frames: u64, deaf_at: u64) -> Vec<u32> {
        let mut c = SegmentCutter::new(CutterConfig {
            encoder_delay: ns(reported * FRAME),
            ..config(SegmentLength::Frames(10))
        });
        let mut pending: Vec<KeyframeRequest> = Vec::new();
        let mut inside = std::collections::VecDeque::new();
        let mut segs = Vec::new();
        for j in 0..frames + delay {
            if j < frames {
                let t = ns(j * FRAME);
                let forced = j != deaf_at
                    && pending.iter().any(|r| match r {
                        KeyframeRequest::At(at) => *at <= t,
                        KeyframeRequest::Now => true,
                    });
                pending.retain(|r| matches!(r, KeyframeRequest::At(at) if *at > t));
                inside.push_back((j, j == 0 || forced));
            }
            if j >= delay {
                let (i, key) = inside.pop_front().expect("frame inside");
                let d = c.push(frame(i, key)).expect("no error");
                segs.extend(d.finished.map(|s| s.frames));
                pending.extend(d.requests);
            }
        }
        segs.extend(c.finish().map(|s| s.frames));
        segs
    }

    #[test]
    fn encoder_delay_known_gives_exact_segments_after_the_first() {
        let segs = with_delaying_encoder(47, 47, 200);
        assert_eq!(segs[0], 50);
        assert!(segs[1..].iter().all(|&n| n == 10), "{segs:?}");
        let segs = with_delaying_encoder(0, 0, 100);
        assert!(segs.iter().all(|&n| n == 10), "{segs:?}");
    }

    #[test]
    fn one_ignored_request_costs_one_long_segment_not_more() {
        // the encoder misses the keyframe it was asked for at frame 200;
        // what it learns from that must not snowball
        for (delay, reported) in [(0, 0), (16, 16), (47, 47), (28, 6)] {
            let segs = with_glitchy_encoder(delay, reported, 600, 200);
            let odd = segs[1..segs.len() - 1].iter().filter(|&&n| n != 10).count();
            assert!(odd <= 2, "delay {delay}, reported {reported}: {segs:?}");
            let tail = &segs[segs.len() - 20..segs.len() - 1];
            assert!(tail.iter().all(|&n| n == 10), "settles again: {segs:?}");
        }
    }

    #[test]
    fn encoder_delay_underreported_is_learnt() {
        // x265enc-like: says 6 frames, holds 28
        let segs = with_delaying_encoder(28, 6, 300);
        let settled = &segs[4..segs.len() - 1];
        assert!(settled.iter().all(|&n| n == 10), "{segs:?}");
    }

    #[test]
    fn long_encoder_delay_asks_for_many_boundaries_but_not_unboundedly() {
        let mut c = SegmentCutter::new(CutterConfig {
            encoder_delay: ns(47 * FRAME),
            ..config(SegmentLength::Frames(10))
        });
        let at = |k: u64| KeyframeRequest::At(ns(k * 10 * FRAME - FRAME / 2));
        let d = c.push(frame(0, true)).unwrap();
        assert_eq!(d.requests, (5..=10).map(at).collect::<Vec<_>>());
        let mut c = SegmentCutter::new(CutterConfig {
            encoder_delay: ns(3600 * SECOND),
            ..config(SegmentLength::Frames(10))
        });
        let d = c.push(frame(0, true)).unwrap();
        assert_eq!(d.requests.len() as u64, MAX_REQUESTS_AT_ONCE);
    }

    #[test]
    fn asks_only_for_boundaries_beyond_the_encoder_delay() {
        // 16 frames of encoder delay, 10-frame segments: when frame 0 comes
        // out, frame 10 is already inside the encoder; frame 20 is not.
        let mut c = SegmentCutter::new(CutterConfig {
            encoder_delay: ns(16 * FRAME),
            ..config(SegmentLength::Frames(10))
        });
        let at = |k: u64| KeyframeRequest::At(ns(k * 10 * FRAME - FRAME / 2));
        let d = c.push(frame(0, true)).unwrap();
        assert_eq!(d.requests, [at(2), at(3), at(4)]);
        assert_eq!(c.push(frame(1, false)).unwrap().requests, []);
        // the encoder obeys: a 20-frame first segment, then exact ones that
        // keep asking two segments ahead
        let mut segs = Vec::new();
        for i in 2..60 {
            let d = c.push(frame(i, i % 10 == 0 && i >= 20)).unwrap();
            if let Some(s) = d.finished {
                segs.push(s.frames);
                let next = (i / 10) + 2;
                assert_eq!(d.requests, [at(next), at(next + 1), at(next + 2)]);
            }
        }
        assert_eq!(segs, [20, 10, 10, 10]);
    }

    #[test]
    fn early_keyframe_stays_inside_the_segment() {
        let mut c = SegmentCutter::new(config(SegmentLength::Frames(10)));
        let segs = run(&mut c, 0..20, |i| i % 10 == 0 || i == 4);
        assert_eq!(segs.iter().map(|s| s.frames).collect::<Vec<_>>(), [10, 10]);
    }

    #[test]
    fn drops_frames_before_the_first_keyframe_and_asks_for_one() {
        let mut c = SegmentCutter::new(config(SegmentLength::Frames(10)));
        let d = c.push(frame(0, false)).unwrap();
        assert_eq!(d.action, FrameAction::Drop);
        assert_eq!(d.requests, [KeyframeRequest::Now]);
        let d = c.push(frame(1, false)).unwrap();
        assert_eq!(d.action, FrameAction::Drop);
        assert_eq!(d.requests, [], "asks again only after an interval");
        let d = c.push(frame(2, true)).unwrap();
        assert_eq!(d.action, FrameAction::StartSegment { index: 0 });
        assert!(c.has_open_segment());
    }

    #[test]
    fn late_keyframe_lengthens_the_segment_and_is_asked_for_again() {
        let mut c = SegmentCutter::new(config(SegmentLength::Frames(10)));
        let mut requests = Vec::new();
        let mut segs = Vec::new();
        for i in 0..40 {
            let d = c.push(frame(i, i == 0 || i == 13 || i == 23)).unwrap();
            segs.extend(d.finished);
            requests.push(d.requests);
        }
        assert_eq!(requests[10], [KeyframeRequest::Now]);
        assert_eq!(segs.iter().map(|s| s.frames).collect::<Vec<_>>(), [13, 10]);
    }

    #[test]
    fn errors_after_the_bounded_wait_without_keyframe() {
        let mut c = SegmentCutter::new(config(SegmentLength::Frames(10)));
        let mut requests = 0;
        let mut error = None;
        for i in 0..200 {
            match c.push(frame(i, false)) {
                Ok(d) => requests += d.requests.len(),
                Err(e) => {
                    error = Some((i, e));
                    break;
                }
            }
        }
        let (at, err) = error.expect("must give up");
        // 2 s at 30 fps, then the first frame past it.
        assert_eq!(at, 61);
        assert!(matches!(err, CutterError::NoKeyframe { frames: 62, .. }));
        assert!(err
            .to_string()
            .contains("no keyframe arrived within 2.033 s"));
        assert_eq!(requests, 2, "asked at once and again a second later");
    }

    #[test]
    fn waits_for_ever_when_the_wait_is_zero() {
        let mut c = SegmentCutter::new(CutterConfig {
            max_keyframe_wait: Duration::ZERO,
            ..config(SegmentLength::Frames(10))
        });
        for i in 0..1000 {
            assert!(c.push(frame(i, false)).is_ok());
        }
    }

    #[test]
    fn duration_mode_cuts_at_first_keyframe_after_target() {
        let mut c = SegmentCutter::new(config(SegmentLength::Duration(ns(SECOND / 2))));
        let d = c.push(frame(0, true)).unwrap();
        assert_eq!(
            d.requests,
            [
                KeyframeRequest::At(ns(SECOND / 2 - FRAME / 2)),
                KeyframeRequest::At(ns(SECOND - FRAME / 2))
            ]
        );
        let segs = run(&mut c, 1..45, |i| i % 15 == 0);
        assert_eq!(
            segs.iter().map(|s| s.frames).collect::<Vec<_>>(),
            [15, 15, 15]
        );
        assert_eq!(segs[1].duration, ns(15 * FRAME));
    }

    #[test]
    fn jittered_timestamps_still_cut_at_the_frame_count() {
        let mut c = SegmentCutter::new(config(SegmentLength::Duration(ns(SECOND / 3))));
        let mut segs = Vec::new();
        for i in 0..30u64 {
            // +-3 ms of capture jitter
            let jitter = [0i64, 3_000_000, -3_000_000][(i % 3) as usize];
            let t = (i * FRAME) as i64 + jitter;
            let d = c
                .push(Frame {
                    time: Some(ns(t as u64)),
                    duration: Some(ns(FRAME)),
                    keyframe: i % 10 == 0,
                })
                .unwrap();
            segs.extend(d.finished);
        }
        segs.extend(c.finish());
        assert_eq!(
            segs.iter().map(|s| s.frames).collect::<Vec<_>>(),
            [10, 10, 10]
        );
    }

    #[test]
    fn without_timestamps_or_frame_rate_asks_when_the_count_is_reached() {
        let mut c = SegmentCutter::new(CutterConfig {
            frame_duration: None,
            ..config(SegmentLength::Frames(3))
        });
        let untimed = |keyframe| Frame {
            time: None,
            duration: None,
            keyframe,
        };
        // no frame duration: no boundary time to ask for in advance
        assert_eq!(c.push(untimed(true)).unwrap().requests, []);
        assert_eq!(c.push(untimed(false)).unwrap().requests, []);
        assert_eq!(
            c.push(untimed(false)).unwrap().requests,
            [KeyframeRequest::Now]
        );
        let d = c.push(untimed(true)).unwrap();
        assert_eq!(d.finished.map(|s| s.frames), Some(3));
    }

    #[test]
    fn untimed_stream_without_keyframes_still_errors() {
        let mut c = SegmentCutter::new(CutterConfig {
            frame_duration: None,
            ..config(SegmentLength::Frames(10))
        });
        let untimed = Frame {
            time: None,
            duration: None,
            keyframe: false,
        };
        let failed_at = (0..1000).find(|_| c.push(untimed).is_err());
        // 2 s at the assumed 30 frames a second
        assert_eq!(failed_at, Some(61));
    }

    #[test]
    fn finish_reports_the_open_segment_once() {
        let mut c = SegmentCutter::new(config(SegmentLength::Frames(10)));
        for i in 0..4 {
            c.push(frame(i, i == 0)).unwrap();
        }
        let last = c.finish().expect("open segment");
        assert_eq!((last.frames, last.duration), (4, ns(4 * FRAME)));
        assert_eq!(c.finish(), None);
    }

    #[test]
    fn reset_waits_for_a_new_keyframe_and_keeps_numbering() {
        let mut c = SegmentCutter::new(config(SegmentLength::Frames(10)));
        c.push(frame(0, true)).unwrap();
        c.reset();
        assert_eq!(c.push(frame(1, false)).unwrap().action, FrameAction::Drop);
        assert_eq!(
            c.push(frame(2, true)).unwrap().action,
            FrameAction::StartSegment { index: 1 }
        );
    }

    #[test]
    fn segment_duration_from_frames_and_rate() {
        let c = SegmentCutter::new(config(SegmentLength::Frames(10)));
        assert_eq!(c.segment_duration(), Some(ns(10 * FRAME)));
        let c = SegmentCutter::new(CutterConfig {
            frame_duration: None,
            ..config(SegmentLength::Frames(10))
        });
        assert_eq!(c.segment_duration(), None);
    }

    #[test]
    fn a_frame_count_wins_over_a_duration_and_zero_duration_is_one_ns() {
        assert_eq!(
            SegmentLength::frames_or_duration(10, ns(SECOND)),
            SegmentLength::Frames(10)
        );
        assert_eq!(
            SegmentLength::frames_or_duration(0, ns(SECOND / 5)),
            SegmentLength::Duration(ns(SECOND / 5))
        );
        assert_eq!(
            SegmentLength::frames_or_duration(0, Duration::ZERO),
            SegmentLength::Duration(ns(1))
        );
    }

    #[test]
    fn sub_second_durations_cut_low_latency_parts() {
        // 200 ms parts of an all-keyframe stream at 30 fps: six frames each.
        let mut c =
            SegmentCutter::new(config(SegmentLength::frames_or_duration(0, ns(SECOND / 5))));
        let segs = run(&mut c, 0..30, |_| true);
        assert_eq!(
            segs.iter().map(|s| s.frames).collect::<Vec<_>>(),
            [6, 6, 6, 6, 6]
        );
        assert_eq!(c.config().segment_duration(), Some(ns(SECOND / 5)));
    }

    #[test]
    fn frame_duration_from_the_frame_rate() {
        assert_eq!(frame_duration(30, 1), Some(ns(SECOND / 30)));
        assert_eq!(frame_duration(30000, 1001), Some(ns(33_366_666)));
        assert_eq!(frame_duration(0, 1), None, "variable rate");
        assert_eq!(frame_duration(25, 0), None);
        assert_eq!(frame_duration(-25, 1), None);
        assert_eq!(
            frame_duration(1, i32::MAX),
            Some(ns(i32::MAX as u64 * SECOND))
        );
    }
}
