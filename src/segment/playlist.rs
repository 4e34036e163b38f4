// SPDX-License-Identifier: MPL-2.0
//! The live HLS media playlist (RFC 8216) and the segment files behind it,
//! kept without GStreamer types: which segments the sliding window shows,
//! which files on disk may go, and the playlist text, written by `m3u8-rs`.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use m3u8_rs::{MediaPlaylist, MediaSegment};

const NANOS_PER_MILLI: u128 = 1_000_000;

/// How the playlist and the files behind it are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaylistConfig {
    /// Segments listed in the playlist (the sliding window); zero lists all.
    pub playlist_length: u32,
    /// Segment files kept on disk; zero keeps all. Never fewer than the
    /// window, so a listed segment is never deleted (and with no window,
    /// none is).
    pub max_files: u32,
    /// Smallest EXT-X-TARGETDURATION, in seconds; longer segments raise it.
    pub target_duration: u32,
}

/// One segment as the playlist lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistEntry {
    /// Media sequence number.
    pub sequence: u64,
    /// URI written into the playlist.
    pub uri: String,
    /// Duration, rounded to the millisecond as EXTINF shows it.
    pub duration: Duration,
    /// Wall-clock time of the segment's first frame.
    pub program_date_time: Option<DateTime<FixedOffset>>,
    /// The stream does not continue smoothly from the previous segment
    /// (EXT-X-DISCONTINUITY).
    pub discontinuity: bool,
}

/// Errors building the playlist or naming files.
#[derive(Debug, thiserror::Error)]
pub enum PlaylistError {
    /// The file-name pattern has no `%d`-style field for the segment number.
    #[error("file-name pattern {0:?} has no %d (or %05d ...) field for the segment number")]
    NoNumberField(String),
    /// The file-name pattern has more than one field, or one this sink cannot fill.
    #[error("file-name pattern {pattern:?} has an unsupported field {field:?}; use one %d, %05d ... and %% for a percent sign")]
    BadField {
        /// The pattern.
        pattern: String,
        /// The field that cannot be filled.
        field: String,
    },
    /// Writing the playlist text failed.
    #[error("could not render the playlist: {0}")]
    Render(#[from] std::io::Error),
}

/// Fills the one `%d`, `%Nd` or `%0Nd` field of `pattern` with `number`.
pub fn format_location(pattern: &str, number: u64) -> Result<String, PlaylistError> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut filled = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            spec.push(d);
            chars.next();
        }
        let conversion = chars.next();
        let bad = || PlaylistError::BadField {
            pattern: pattern.to_owned(),
            field: format!(
                "%{spec}{}",
                conversion.map(String::from).unwrap_or_default()
            ),
        };
        if conversion != Some('d') && conversion != Some('u') || filled || spec.len() > 2 {
            return Err(bad());
        }
        let zero = spec.starts_with('0');
        let width: usize = if spec.is_empty() {
            0
        } else {
            spec.parse().map_err(|_| bad())?
        };
        if zero {
            out.push_str(&format!("{number:0width$}"));
        } else {
            out.push_str(&format!("{number:width$}"));
        }
        filled = true;
    }
    if !filled {
        return Err(PlaylistError::NoNumberField(pattern.to_owned()));
    }
    Ok(out)
}

/// URI under which the playlist lists a segment file: `root/<file name>`
/// with a root; the bare file name when the segment lies next to the
/// playlist; otherwise the segment's location as given.
pub fn segment_uri(playlist_location: &str, segment_location: &str, root: Option<&str>) -> String {
    let segment = Path::new(segment_location);
    let file_name = segment
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| segment_location.to_owned());
    if let Some(root) = root {
        return format!("{}/{}", root.trim_end_matches('/'), file_name);
    }
    let same_dir = match (Path::new(playlist_location).parent(), segment.parent()) {
        (Some(a), Some(b)) if a == b => true,
        // "./hls" and "/abs/hls" may still be one directory
        (Some(a), Some(b)) => match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        },
        _ => false,
    };
    if same_dir {
        file_name
    } else {
        segment_location.to_owned()
    }
}

/// A live media playlist with a sliding window, and the files behind it.
#[derive(Debug)]
pub struct LivePlaylist {
    config: PlaylistConfig,
    window: VecDeque<PlaylistEntry>,
    /// Segment files on disk, oldest first.
    files: VecDeque<String>,
    next_sequence: u64,
    /// Discontinuities that have left the window (EXT-X-DISCONTINUITY-SEQUENCE).
    discontinuity_sequence: u64,
    /// Longest `duration` ever listed.
    longest: Duration,
    ended: bool,
}

impl LivePlaylist {
    /// An empty playlist.
    pub fn new(config: PlaylistConfig) -> Self {
        Self {
            config,
            window: VecDeque::new(),
            files: VecDeque::new(),
            next_sequence: 0,
            discontinuity_sequence: 0,
            longest: Duration::ZERO,
            ended: false,
        }
    }

    /// Sequence number the next segment gets (and its file name carries).
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// Lists a new segment, written to `file` and reachable at `uri`;
    /// `discontinuity` marks a break in timing or encoding before it (ignored
    /// for the very first segment). Returns the files that are now beyond
    /// `max-files` and should be deleted.
    pub fn push(
        &mut self,
        uri: String,
        file: String,
        duration: Duration,
        program_date_time: Option<DateTime<FixedOffset>>,
        discontinuity: bool,
    ) -> Vec<String> {
        let millis = (duration.as_nanos() + NANOS_PER_MILLI / 2) / NANOS_PER_MILLI;
        let duration = Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX));
        self.longest = self.longest.max(duration);
        self.window.push_back(PlaylistEntry {
            sequence: self.next_sequence,
            uri,
            duration,
            program_date_time,
            discontinuity: discontinuity && self.next_sequence > 0,
        });
        self.next_sequence += 1;
        let length = self.config.playlist_length as usize;
        while length > 0 && self.window.len() > length {
            if let Some(gone) = self.window.pop_front() {
                self.discontinuity_sequence += u64::from(gone.discontinuity);
            }
        }

        self.files.push_back(file);
        let mut expired = Vec::new();
        // A listed segment is never deleted; with no window every segment
        // stays listed, so none is.
        if self.config.max_files > 0 && length > 0 {
            let keep = (self.config.max_files as usize).max(length);
            while self.files.len() > keep {
                expired.extend(self.files.pop_front());
            }
        }
        expired
    }

    /// Marks the stream as ended: the playlist gets EXT-X-ENDLIST.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Whether the stream has ended.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The segments listed now, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &PlaylistEntry> {
        self.window.iter()
    }

    /// EXT-X-TARGETDURATION: the configured one, raised to cover the longest
    /// segment ever listed (rounded up to whole seconds).
    pub fn target_duration(&self) -> u64 {
        let longest = u64::try_from(self.longest.as_millis().div_ceil(1_000)).unwrap_or(u64::MAX);
        longest.max(u64::from(self.config.target_duration)).max(1)
    }

    /// The playlist as `m3u8-rs` models it.
    pub fn to_media_playlist(&self) -> MediaPlaylist {
        MediaPlaylist {
            version: Some(3),
            target_duration: self.target_duration(),
            media_sequence: self
                .window
                .front()
                .map_or(self.next_sequence, |e| e.sequence),
            segments: self
                .window
                .iter()
                .map(|e| MediaSegment {
                    uri: e.uri.clone(),
                    duration: e.duration.as_millis() as f32 / 1_000.0,
                    program_date_time: e.program_date_time,
                    discontinuity: e.discontinuity,
                    ..Default::default()
                })
                .collect(),
            discontinuity_sequence: self.discontinuity_sequence,
            end_list: self.ended,
            independent_segments: true,
            ..Default::default()
        }
    }

    /// The playlist text.
    pub fn render(&self) -> Result<Vec<u8>, PlaylistError> {
        let mut text = Vec::new();
        self.to_media_playlist().write_to(&mut text)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECOND: Duration = Duration::from_secs(1);

    fn playlist(playlist_length: u32, max_files: u32, target_duration: u32) -> LivePlaylist {
        LivePlaylist::new(PlaylistConfig {
            playlist_length,
            max_files,
            target_duration,
        })
    }

    fn push(p: &mut LivePlaylist, duration: Duration) -> Vec<String> {
        let n = p.next_sequence();
        p.push(
            format!("seg{n}.ts"),
            format!("/out/seg{n}.ts"),
            duration,
            None,
            false,
        )
    }

    fn text(p: &LivePlaylist) -> String {
        String::from_utf8(p.render().unwrap()).unwrap()
    }

    #[test]
    fn window_slides_and_media_sequence_follows() {
        let mut p = playlist(3, 0, 1);
        for _ in 0..5 {
            push(&mut p, SECOND);
        }
        let seqs: Vec<u64> = p.entries().map(|e| e.sequence).collect();
        assert_eq!(seqs, [2, 3, 4]);
        let t = text(&p);
        assert!(t.contains("#EXT-X-MEDIA-SEQUENCE:2\n"), "{t}");
        assert!(t.contains("seg2.ts\n") && !t.contains("seg1.ts"), "{t}");
        assert!(!t.contains("#EXT-X-ENDLIST"));
    }

    #[test]
    fn files_beyond_max_files_are_returned_oldest_first() {
        let mut p = playlist(2, 4, 1);
        let mut deleted = Vec::new();
        for _ in 0..7 {
            deleted.extend(push(&mut p, SECOND));
        }
        assert_eq!(deleted, ["/out/seg0.ts", "/out/seg1.ts", "/out/seg2.ts"]);
    }

    #[test]
    fn max_files_never_deletes_a_listed_segment() {
        let mut p = playlist(5, 2, 1);
        let mut deleted = Vec::new();
        for _ in 0..6 {
            deleted.extend(push(&mut p, SECOND));
        }
        assert_eq!(deleted, ["/out/seg0.ts"]);
        assert_eq!(p.entries().next().map(|e| e.sequence), Some(1));
    }

    #[test]
    fn listing_everything_deletes_nothing() {
        let mut p = playlist(0, 3, 1);
        for _ in 0..10 {
            assert!(push(&mut p, SECOND).is_empty());
        }
        assert_eq!(p.entries().count(), 10);
    }

    #[test]
    fn zero_max_files_keeps_everything() {
        let mut p = playlist(2, 0, 1);
        for _ in 0..10 {
            assert!(push(&mut p, SECOND).is_empty());
        }
    }

    #[test]
    fn target_duration_rounds_up_and_never_shrinks() {
        let mut p = playlist(2, 0, 1);
        push(&mut p, SECOND / 3);
        assert_eq!(p.target_duration(), 1);
        push(&mut p, 2 * SECOND + Duration::from_millis(100));
        assert_eq!(p.target_duration(), 3);
        push(&mut p, SECOND);
        push(&mut p, SECOND);
        // the long segment has left the window; the target must not drop
        assert_eq!(p.target_duration(), 3);
        assert!(text(&p).contains("#EXT-X-TARGETDURATION:3\n"));
    }

    #[test]
    fn configured_target_duration_is_a_floor() {
        let mut p = playlist(2, 0, 6);
        push(&mut p, 2 * SECOND);
        assert_eq!(p.target_duration(), 6);
    }

    #[test]
    fn exact_durations_do_not_round_up_a_second() {
        let mut p = playlist(2, 0, 1);
        push(&mut p, 2 * SECOND);
        assert_eq!(p.target_duration(), 2);
        let t = text(&p);
        assert!(t.contains("#EXTINF:2,"), "{t}");
    }

    #[test]
    fn endlist_program_date_time_and_parse_back() {
        let mut p = playlist(0, 0, 1);
        let when = FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .unwrap();
        p.push("a.ts".into(), "a.ts".into(), SECOND / 3, Some(when), true);
        p.end();
        let t = text(&p);
        assert!(
            t.contains("#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.000Z"),
            "{t}"
        );
        assert!(t.trim_end().ends_with("#EXT-X-ENDLIST"), "{t}");
        assert!(!t.contains("#EXT-X-DISCONTINUITY"), "first segment: {t}");
        let parsed = m3u8_rs::parse_media_playlist_res(t.as_bytes()).expect("valid m3u8");
        assert!(parsed.end_list);
        assert_eq!(parsed.segments.len(), 1);
        assert!((parsed.segments[0].duration - 0.333).abs() < 1e-6);
    }

    #[test]
    fn discontinuities_are_tagged_and_counted_when_they_slide_out() {
        let mut p = playlist(2, 0, 1);
        for n in 0..5u64 {
            p.push(format!("s{n}.ts"), format!("s{n}.ts"), SECOND, None, n == 2);
        }
        // window holds s3, s4: the discontinuity before s2 has left it
        let t = text(&p);
        assert!(t.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{t}");
        assert!(!t.contains("#EXT-X-DISCONTINUITY\n"), "{t}");
        let mut p = playlist(3, 0, 1);
        for n in 0..4u64 {
            p.push(format!("s{n}.ts"), format!("s{n}.ts"), SECOND, None, n == 2);
        }
        let t = text(&p);
        assert!(t.contains("#EXT-X-DISCONTINUITY\n#EXTINF:1,\ns2.ts"), "{t}");
        assert!(!t.contains("DISCONTINUITY-SEQUENCE"), "{t}");
    }

    #[test]
    fn segment_uris() {
        assert_eq!(
            segment_uri("/srv/hls/live.m3u8", "/srv/hls/s1.ts", None),
            "s1.ts"
        );
        assert_eq!(segment_uri("live.m3u8", "s1.ts", None), "s1.ts");
        assert_eq!(
            segment_uri(
                "/srv/hls/live.m3u8",
                "/srv/hls/s1.ts",
                Some("https://cdn.example/live/")
            ),
            "https://cdn.example/live/s1.ts"
        );
        // two directories that do not exist are not "the same" directory
        assert_eq!(
            segment_uri("/nonexistent-a/live.m3u8", "/nonexistent-b/s1.ts", None),
            "/nonexistent-b/s1.ts"
        );
        assert_eq!(
            segment_uri("/srv/hls/live.m3u8", "segs/s1.ts", None),
            "segs/s1.ts"
        );
    }

    #[test]
    fn location_patterns() {
        assert_eq!(format_location("seg%05d.ts", 42).unwrap(), "seg00042.ts");
        assert_eq!(format_location("/x/%d.ts", 7).unwrap(), "/x/7.ts");
        assert_eq!(format_location("100%%-%u.ts", 3).unwrap(), "100%-3.ts");
        assert!(matches!(
            format_location("seg.ts", 1),
            Err(PlaylistError::NoNumberField(_))
        ));
        assert!(matches!(
            format_location("%d-%d.ts", 1),
            Err(PlaylistError::BadField { .. })
        ));
        assert!(matches!(
            format_location("%s.ts", 1),
            Err(PlaylistError::BadField { .. })
        ));
    }
}
