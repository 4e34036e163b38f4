// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-hlssegmentsink
 * @see_also: segmentpackager
 *
 * Writes every incoming buffer — one self-contained MPEG-TS segment, as
 * `segmentpackager` makes them (a delta-unit buffer is an error) — to its
 * own file and keeps a live HLS media playlist (RFC 8216) over the newest
 * `playlist-length` of them; the playlist appears with the first segment. Files older
 * than the newest `max-files` are deleted. EXT-X-TARGETDURATION is
 * `target-duration`, raised (rounded up) to cover the longest segment; each
 * segment carries EXT-X-PROGRAM-DATE-TIME; a DISCONT buffer (after a flush or
 * restart) gets EXT-X-DISCONTINUITY; EOS appends EXT-X-ENDLIST.
 *
 * Segment files and the playlist are first written to a `.tmp` file next to
 * them and then renamed, so an HTTP server never hands out half a file. A
 * failed write is an element error naming the path, the temporary file is
 * removed, and nothing more is written.
 *
 * After writing each segment the element posts an element message
 * `hls-segment-added` with `location`, `sequence` and `duration`.
 *
 * Sink caps: `video/mpegts, systemstream=true`, one whole segment per buffer
 * (its duration is the segment's duration).
 *
 * Properties: `location` (a file name pattern with one `%d`-style field for
 * the media sequence number) and `playlist-location` name the files;
 * `playlist-root` is the URI prefix segments get in the playlist;
 * `playlist-length` (segments, 0 = all) and `max-files` (segment files, 0 =
 * keep all) bound the playlist and the disk; `target-duration` is in seconds,
 * as HLS defines it. All are read when the element starts. The base class's
 * `sync` is on, as for any sink: segments are written at their running time.
 *
 * ## Example launch line
 * Three segments of 10 frames each (segmentpackager's default), written to
 * /tmp/hls:
 * |[
 * mkdir -p /tmp/hls && gst-launch-1.0 videotestsrc num-buffers=30 ! video/x-raw,framerate=30/1 ! \
 *     x264enc tune=zerolatency ! segmentpackager ! \
 *     hlssegmentsink location=/tmp/hls/seg%05d.ts playlist-location=/tmp/hls/live.m3u8
 * ]|
 * For a live stream use `videotestsrc is-live=true` without `num-buffers`,
 * then serve /tmp/hls over HTTP and open live.m3u8 in an HLS player.
 */
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use once_cell::sync::Lazy;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::segment::playlist::{format_location, segment_uri, LivePlaylist, PlaylistConfig};

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "hlssegmentsink",
        gst::DebugColorFlags::empty(),
        Some("Streamkit HLS sink: segment files and a live playlist"),
    )
});

const DEFAULT_LOCATION: &str = "segment%05d.ts";
const DEFAULT_PLAYLIST_LOCATION: &str = "playlist.m3u8";
const DEFAULT_PLAYLIST_LENGTH: u32 = 5;
const DEFAULT_MAX_FILES: u32 = 10;
const DEFAULT_TARGET_DURATION: u32 = 1;
const MAX_TARGET_DURATION: u32 = 3600;

#[derive(Debug, Clone)]
struct Settings {
    location: String,
    playlist_location: String,
    playlist_root: Option<String>,
    playlist_length: u32,
    max_files: u32,
    target_duration: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            location: DEFAULT_LOCATION.into(),
            playlist_location: DEFAULT_PLAYLIST_LOCATION.into(),
            playlist_root: None,
            playlist_length: DEFAULT_PLAYLIST_LENGTH,
            max_files: DEFAULT_MAX_FILES,
            target_duration: DEFAULT_TARGET_DURATION,
        }
    }
}

struct State {
    settings: Settings,
    playlist: LivePlaylist,
    /// A write failed: the element has posted an error and writes nothing more.
    failed: bool,
}

#[derive(Default)]
pub struct HlsSegmentSink {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

/// Writes `data` to `path` through a temporary file and a rename, so readers
/// see either the old file or the whole new one; on failure nothing is left.
fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(data)?;
        // A full disk can surface only when the data reaches it.
        file.sync_data()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl HlsSegmentSink {
    fn settings(&self) -> Settings {
        self.settings.lock().unwrap().clone()
    }

    fn state(&self) -> MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap()
    }

    /// Writes one segment file and the playlist that lists it; returns the
    /// segment's location and duration and the files that fell out of the
    /// playlist. Called under the state lock: it posts nothing.
    fn add_segment(
        &self,
        state: &mut State,
        buffer: &gst::Buffer,
        data: &[u8],
        sequence: u64,
    ) -> Result<(String, gst::ClockTime, Vec<String>), gst::ErrorMessage> {
        let location = format_location(&state.settings.location, sequence).map_err(|err| {
            gst::error_msg!(gst::ResourceError::Settings, ("Bad location: {}", err))
        })?;
        write_atomically(Path::new(&location), data).map_err(|err| {
            gst::error_msg!(
                gst::ResourceError::Write,
                ("Could not write segment {}: {}", location, err),
                ["Check that the directory exists, is writable and has free space"]
            )
        })?;
        let duration = buffer.duration().unwrap_or(gst::ClockTime::ZERO);
        // The segment arrives once complete, so it began one duration ago.
        let began = chrono::Utc::now()
            - chrono::Duration::nanoseconds(i64::try_from(duration.nseconds()).unwrap_or(0));
        let uri = segment_uri(
            &state.settings.playlist_location,
            &location,
            state.settings.playlist_root.as_deref(),
        );
        let expired = state.playlist.push(
            uri,
            location.clone(),
            duration.into(),
            Some(began.fixed_offset()),
            buffer.flags().contains(gst::BufferFlags::DISCONT),
        );
        self.write_playlist(state)?;
        Ok((location, duration, expired))
    }

    fn write_playlist(&self, state: &State) -> Result<(), gst::ErrorMessage> {
        let path = Path::new(&state.settings.playlist_location);
        let text = state.playlist.render().map_err(|err| {
            gst::error_msg!(
                gst::ResourceError::Write,
                ("Could not build the playlist: {}", err)
            )
        })?;
        write_atomically(path, &text).map_err(|err| {
            gst::error_msg!(
                gst::ResourceError::Write,
                ("Could not write playlist {}: {}", path.display(), err),
                ["Check that the directory exists, is writable and has free space"]
            )
        })?;
        gst::trace!(CAT, imp = self, "wrote playlist {}", path.display());
        Ok(())
    }
}

#[glib::object_subclass]
impl ObjectSubclass for HlsSegmentSink {
    const NAME: &'static str = "GstHlsSegmentSink";
    type Type = super::HlsSegmentSink;
    type ParentType = gst_base::BaseSink;
}

impl ObjectImpl for HlsSegmentSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Segment location")
                    .blurb(
                        "File name pattern of the segment files; its one %d (or %05d ...) field \
                         receives the segment's media sequence number",
                    )
                    .default_value(Some(DEFAULT_LOCATION))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("playlist-location")
                    .nick("Playlist location")
                    .blurb("File name of the live media playlist (HLS media playlist, .m3u8)")
                    .default_value(Some(DEFAULT_PLAYLIST_LOCATION))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("playlist-root")
                    .nick("Playlist root")
                    .blurb(
                        "URI prefix for segments in the playlist; unset, segments next to the \
                         playlist are listed by file name and others by their location",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("playlist-length")
                    .nick("Playlist length")
                    .blurb(
                        "Number of segments listed in the playlist (a sliding window over \
                         the newest); 0 lists all",
                    )
                    .minimum(0)
                    .maximum(u32::MAX)
                    .default_value(DEFAULT_PLAYLIST_LENGTH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-files")
                    .nick("Maximum files")
                    .blurb(
                        "Number of segment files kept on disk, older ones are deleted; never \
                         fewer than \
                         playlist-length, so listed segments stay (playlist-length 0: nothing is \
                         deleted). 0 keeps all",
                    )
                    .minimum(0)
                    .maximum(u32::MAX)
                    .default_value(DEFAULT_MAX_FILES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("target-duration")
                    .nick("Target duration")
                    .blurb(
                        "Smallest EXT-X-TARGETDURATION in seconds; raised, rounded up, to cover the \
                         longest segment written",
                    )
                    .minimum(1)
                    .maximum(MAX_TARGET_DURATION)
                    .default_value(DEFAULT_TARGET_DURATION)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => {
                settings.location = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_LOCATION.into());
                if let Err(err) = format_location(&settings.location, 0) {
                    gst::warning!(CAT, imp = self, "{err}");
                }
            }
            "playlist-location" => {
                settings.playlist_location = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_PLAYLIST_LOCATION.into());
            }
            "playlist-root" => {
                settings.playlist_root = value.get().expect("type checked upstream");
            }
            "playlist-length" => {
                settings.playlist_length = value.get().expect("type checked upstream");
            }
            "max-files" => settings.max_files = value.get().expect("type checked upstream"),
            "target-duration" => {
                settings.target_duration = value.get().expect("type checked upstream");
            }
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "{} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings();
        match pspec.name() {
            "location" => settings.location.to_value(),
            "playlist-location" => settings.playlist_location.to_value(),
            "playlist-root" => settings.playlist_root.to_value(),
            "playlist-length" => settings.playlist_length.to_value(),
            "max-files" => settings.max_files.to_value(),
            "target-duration" => settings.target_duration.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for HlsSegmentSink {}

impl ElementImpl for HlsSegmentSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "HLS segment sink",
                "Sink/File",
                "Writes each MPEG-TS segment from segmentpackager to its own file and keeps a \
                 live HLS media playlist (RFC 8216) over the newest of them, both replaced \
                 atomically. Example, writing segment00000.ts... and playlist.m3u8 into the \
                 current directory: gst-launch-1.0 videotestsrc num-buffers=30 ! x264enc ! \
                 segmentpackager ! hlssegmentsink",
                "Streamkit developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let caps = gst::Caps::builder("video/mpegts")
                .field("systemstream", true)
                .build();
            vec![gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &caps,
            )
            .expect("valid template")]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseSinkImpl for HlsSegmentSink {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings();
        format_location(&settings.location, 0).map_err(|err| {
            gst::error_msg!(gst::ResourceError::Settings, ("Bad location: {}", err))
        })?;
        // Fail at start, not at the first segment, when the playlist cannot
        // be written where it should go.
        let probe = format!("{}.tmp", settings.playlist_location);
        std::fs::write(&probe, b"").map_err(|err| {
            gst::error_msg!(
                gst::ResourceError::OpenWrite,
                (
                    "Cannot write the playlist at {}: {}",
                    settings.playlist_location,
                    err
                ),
                ["Check that the directory exists and is writable"]
            )
        })?;
        let _ = std::fs::remove_file(&probe);

        let playlist = LivePlaylist::new(PlaylistConfig {
            playlist_length: settings.playlist_length,
            max_files: settings.max_files,
            target_duration: settings.target_duration,
        });
        gst::info!(
            CAT,
            imp = self,
            "writing {} and {}",
            settings.location,
            settings.playlist_location
        );
        *self.state() = Some(State {
            settings,
            playlist,
            failed: false,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state() = None;
        Ok(())
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let map = buffer.map_readable().map_err(|_| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ("Could not map the segment buffer")
            );
            gst::FlowError::Error
        })?;
        // Each buffer becomes a file a player starts on: it must be a whole
        // segment (as segmentpackager makes), not a piece of a muxer's stream.
        if buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) || map.first() != Some(&0x47) {
            gst::element_imp_error!(
                self,
                gst::StreamError::WrongType,
                ("hlssegmentsink needs one whole MPEG-TS segment per buffer, starting with a keyframe"),
                ["Got a delta-unit or non-TS buffer of {} bytes; put segmentpackager in front", map.len()]
            );
            return Err(gst::FlowError::Error);
        }
        let mut guard = self.state();
        let Some(state) = guard.as_mut() else {
            return Err(gst::FlowError::Flushing);
        };
        if state.failed {
            return Err(gst::FlowError::Error);
        }
        let sequence = state.playlist.next_sequence();
        // Errors are built under the lock and posted after it is released.
        let written = self.add_segment(state, buffer, &map, sequence);
        let (location, duration, expired) = match written {
            Ok(written) => written,
            Err(err) => {
                state.failed = true;
                drop(guard);
                self.post_error_message(err);
                return Err(gst::FlowError::Error);
            }
        };
        drop(guard);
        for old in expired {
            if let Err(err) = std::fs::remove_file(&old) {
                gst::warning!(CAT, imp = self, "could not delete old segment {old}: {err}");
            }
        }
        gst::debug!(
            CAT,
            imp = self,
            "segment {sequence} -> {location} ({duration})"
        );
        let obj = self.obj();
        let _ = obj.post_message(
            gst::message::Element::builder(
                gst::Structure::builder("hls-segment-added")
                    .field("location", &location)
                    .field("sequence", sequence)
                    .field("duration", duration)
                    .build(),
            )
            .src(&*obj)
            .build(),
        );
        Ok(gst::FlowSuccess::Ok)
    }

    fn event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            let mut guard = self.state();
            // After a failed write the error stands; and with no segment
            // written there is nothing to list.
            let writable = guard
                .as_ref()
                .is_some_and(|s| !s.failed && s.playlist.next_sequence() > 0);
            if let (true, Some(state)) = (writable, guard.as_mut()) {
                state.playlist.end();
                if let Err(err) = self.write_playlist(state) {
                    drop(guard);
                    self.post_error_message(err);
                    return false;
                }
                gst::info!(
                    CAT,
                    imp = self,
                    "stream ended; playlist closed with EXT-X-ENDLIST"
                );
            }
        }
        self.parent_event(event)
    }
}
