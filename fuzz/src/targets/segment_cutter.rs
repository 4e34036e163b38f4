// SPDX-License-Identifier: MPL-2.0
//! The `segment_cutter` fuzz target (its libFuzzer wrapper: fuzz_targets/segment_cutter.rs).

use super::super::{
    parse_cutter_units, CutterSettings, CUTTER_DURATION, CUTTER_FIXED_RATE, CUTTER_H265,
    UNIT_HAS_DURATION, UNIT_KEYFRAME, UNIT_TIMED,
};
use gststreamkit::segment::cutter::{
    CutterConfig, Frame, FrameAction, SegmentCutter, SegmentLength, MAX_REQUESTS_AT_ONCE,
};
use gststreamkit::segment::paramsets::{nal_units, Codec, ParameterSetCache};
use std::time::Duration;

const MS: u64 = 1_000_000;

fn nal_type(codec: Codec, header: u8) -> u8 {
    match codec {
        Codec::H264 => header & 0x1f,
        Codec::H265 => (header >> 1) & 0x3f,
    }
}

fn check_nal_units(data: &[u8]) -> Vec<&[u8]> {
    let ranges = nal_units(data);
    let mut end = 0;
    for r in &ranges {
        assert!(r.start >= end + 3 && r.start < r.end && r.end <= data.len());
        assert_eq!(data[r.start - 3..r.start], [0, 0, 1]);
        assert_ne!(data[r.end - 1], 0, "trailing zeros are trimmed");
        end = r.end;
    }
    ranges.into_iter().map(|r| &data[r]).collect()
}

fn check_completion(cache: &ParameterSetCache, au: &[u8], remembered: &[Option<Vec<u8>>]) {
    let codec = cache.codec();
    let before = check_nal_units(au);
    let Some(completed) = cache.complete(au) else {
        return;
    };
    let after = check_nal_units(&completed);
    // The original units stay, in order, with the missing sets inserted
    // after a leading delimiter.
    let aud = match codec {
        Codec::H264 => 9,
        Codec::H265 => 35,
    };
    let skip = usize::from(before.first().is_some_and(|n| nal_type(codec, n[0]) == aud));
    let added = after.len() - before.len();
    assert!(added >= 1);
    assert_eq!(after[..skip], before[..skip]);
    assert_eq!(after[skip + added..], before[skip..]);
    for set in &after[skip..skip + added] {
        assert!(remembered.iter().flatten().any(|r| r[..] == set[..]));
    }
    for set in remembered.iter().flatten() {
        let t = nal_type(codec, set[0]);
        assert!(after.iter().any(|n| nal_type(codec, n[0]) == t));
    }
    assert_eq!(cache.complete(&completed), None, "completion is idempotent");
}

/// The segment packager's pure side on a stream of access units: the Annex B
/// parameter-set cache (`paramsets`: `nal_units`, `observe`, `complete`),
/// which reads the encoded bytes, and the `SegmentCutter`, which reads their
/// timing and keyframe flags, wired as `segmentpackager` wires them. Input:
/// `streamkit_fuzz::CutterSettings` then `CutterUnit`s.
///
/// Checks: NAL ranges are in bounds, ordered and non-empty; an access unit
/// completed with parameter sets splits back into exactly the NAL units put
/// in, has every remembered set and needs no second completion; segments
/// start on keyframes only, are numbered in order and count their frames.
pub fn segment_cutter(data: &[u8]) {
    let (settings, rest) = CutterSettings::parse(data);
    let codec = if settings.flags & CUTTER_H265 != 0 {
        Codec::H265
    } else {
        Codec::H264
    };
    let frame_duration = (settings.flags & CUTTER_FIXED_RATE != 0)
        .then_some(Duration::from_millis(u64::from(settings.frame_ms)));
    let config = CutterConfig {
        length: if settings.flags & CUTTER_DURATION != 0 {
            SegmentLength::Duration(Duration::from_millis(u64::from(settings.length)))
        } else {
            SegmentLength::Frames(u32::from(settings.length))
        },
        frame_duration,
        max_keyframe_wait: Duration::from_millis(u64::from(settings.wait_100ms) * 100),
        encoder_delay: Duration::from_millis(u64::from(settings.delay_ms)),
    };
    let mut cutter = SegmentCutter::new(config);
    let mut cache = ParameterSetCache::new(codec);
    // The latest set of each type, kept here independently of the cache.
    let types: &[u8] = match codec {
        Codec::H264 => &[7, 8],
        Codec::H265 => &[32, 33, 34],
    };
    let mut remembered: Vec<Option<Vec<u8>>> = vec![None; types.len()];
    let mut time: i64 = 0;
    let mut next_index = 0u64;
    let mut open_frames: Option<u32> = None;

    for unit in parse_cutter_units(rest) {
        time = time.saturating_add(i64::from(unit.step_ms) * MS as i64);
        let frame = Frame {
            time: (unit.flags & UNIT_TIMED != 0)
                .then_some(Duration::from_nanos(time.max(0) as u64)),
            duration: (unit.flags & UNIT_HAS_DURATION != 0)
                .then_some(frame_duration.unwrap_or(Duration::from_millis(1))),
            keyframe: unit.flags & UNIT_KEYFRAME != 0,
        };
        let decision = cutter.push(frame);

        for nal in check_nal_units(unit.data) {
            if let Some(slot) = types.iter().position(|&t| t == nal_type(codec, nal[0])) {
                remembered[slot] = Some(nal.to_vec());
            }
        }
        cache.observe(unit.data);
        check_completion(&cache, unit.data, &remembered);

        let Ok(decision) = decision else {
            // The packager posts an error and stops here.
            return;
        };
        assert!(decision.requests.len() as u64 <= MAX_REQUESTS_AT_ONCE);
        match decision.action {
            FrameAction::Drop => {
                assert!(!frame.keyframe && open_frames.is_none());
                assert!(decision.finished.is_none());
            }
            FrameAction::Append => {
                assert!(decision.finished.is_none());
                let n = open_frames.as_mut().expect("append needs an open segment");
                *n = n.saturating_add(1);
            }
            FrameAction::StartSegment { index } => {
                assert!(frame.keyframe, "a segment starts on a keyframe");
                assert_eq!(index, next_index);
                next_index += 1;
                match (decision.finished, open_frames) {
                    (Some(done), Some(n)) => {
                        assert_eq!(done.index + 1, index);
                        assert_eq!(done.frames, n);
                    }
                    (None, None) => {}
                    other => panic!("finished segment and open segment disagree: {other:?}"),
                }
                open_frames = Some(1);
            }
        }
        assert_eq!(cutter.has_open_segment(), open_frames.is_some());
    }
    let last = cutter.finish();
    assert_eq!(last.map(|s| s.frames), open_frames);
}
