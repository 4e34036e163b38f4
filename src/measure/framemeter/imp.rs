// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-framemeter
 * @see_also: framestamp
 *
 * Reads the code `framestamp` drew into each frame (after encoding, network
 * and decoding) and measures, on the host's monotonic clock (GStreamer's
 * system clock, the same one framestamp stamps with):
 *
 * - glass-to-glass latency of each new frame: arrival here minus stamped
 *   capture time (min, mean, p50, p95, p99, max);
 * - frames received, new, missing (gaps in the numbering), repeated (a
 *   frozen picture shown again), reordered and unreadable;
 * - frames per second of new pictures.
 *
 * Frames pass through untouched. Every `interval` nanoseconds of arrivals,
 * and at end of stream, it posts an element message named `framemeter`
 * holding the totals plus `interval-*` fields for the last interval; the
 * read-only `stats` property holds the totals. With `post-frames=true` it also
 * posts a `framemeter-frame` message for every frame.
 *
 * `x`, `y` and `block-size` must match framestamp's, and the picture must
 * reach framemeter at the size it was stamped.
 *
 * Caps: raw video in the same formats as `framestamp` (planar and packed
 * YUV, GRAY8, 24- and 32-bit RGB), any size, passed through unchanged.
 *
 * Properties: `x`, `y` and `block-size` in pixels; `interval` in nanoseconds
 * (0 = post only at end of stream); `post-frames`; the read-only `stats`
 * structure, whose latencies are in nanoseconds.
 *
 * ## Example launch line
 * Stamp, encode and decode H.264, and print a summary every second (`-m`):
 * |[
 * gst-launch-1.0 -m videotestsrc num-buffers=150 is-live=true ! video/x-raw,width=640,height=360,framerate=30/1 ! \
 *     framestamp ! x264enc tune=zerolatency ! avdec_h264 ! \
 *     framemeter interval=1000000000 ! fakesink
 * ]|
 */
use once_cell::sync::Lazy;
use std::sync::Mutex;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use crate::gstcommon::clock::nanos;
use crate::gstcommon::stampframe::{
    host_clock_time, read_frame_stamp, DEFAULT_BLOCK_SIZE, DEFAULT_X, DEFAULT_Y, MAX_BLOCK_SIZE,
    MAX_POSITION, MIN_BLOCK_SIZE,
};
use crate::measure::frametally::{FrameTally, FrameVerdict, LatencySummary, TallySummary};
use crate::measure::stampcode::StampLayout;

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "framemeter",
        gst::DebugColorFlags::empty(),
        Some("Reads frame stamps and measures latency and loss"),
    )
});

const DEFAULT_INTERVAL: u64 = 1_000_000_000;
const DEFAULT_POST_FRAMES: bool = false;

#[derive(Debug, Clone, Copy)]
struct Settings {
    x: u32,
    y: u32,
    block_size: u32,
    interval: u64,
    post_frames: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            x: DEFAULT_X,
            y: DEFAULT_Y,
            block_size: DEFAULT_BLOCK_SIZE,
            interval: DEFAULT_INTERVAL,
            post_frames: DEFAULT_POST_FRAMES,
        }
    }
}

struct State {
    tally: FrameTally,
    last_post: Option<u64>,
}

#[derive(Default)]
pub struct FrameMeter {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

fn latency_fields(
    builder: gst::structure::Builder,
    prefix: &str,
    l: &LatencySummary,
) -> gst::structure::Builder {
    builder
        .field(format!("{prefix}latency-min"), nanos(l.min))
        .field(format!("{prefix}latency-mean"), nanos(l.mean))
        .field(format!("{prefix}latency-p50"), nanos(l.p50))
        .field(format!("{prefix}latency-p95"), nanos(l.p95))
        .field(format!("{prefix}latency-p99"), nanos(l.p99))
        .field(format!("{prefix}latency-max"), nanos(l.max))
}

fn summary_builder(name: &str, s: &TallySummary) -> gst::structure::Builder {
    let b = gst::Structure::builder(name)
        .field("frames-received", s.frames_received)
        .field("frames-new", s.frames_new)
        .field("frames-missing", s.frames_missing)
        .field("frames-repeated", s.frames_repeated)
        .field("frames-reordered", s.frames_reordered)
        .field("frames-unreadable", s.frames_unreadable)
        .field("gaps", s.gaps)
        .field("longest-gap", s.longest_gap)
        .field("fps", s.fps)
        .field("longest-stall", nanos(s.longest_stall))
        .field("restarts", s.restarts)
        .field_if_some("first-frame", s.first_frame)
        .field_if_some("last-frame", s.last_frame);
    latency_fields(b, "", &s.latency)
}

impl FrameMeter {
    fn layout(&self) -> StampLayout {
        let s = self.settings.lock().unwrap();
        StampLayout {
            x: s.x,
            y: s.y,
            block: s.block_size.max(1),
        }
    }

    /// The summary message for the interval ending `now`, which starts the
    /// next one. Built under the state lock and posted after it is released:
    /// a synchronous bus handler may read `stats`.
    fn take_summary(&self, state: &mut State, now: u64) -> gst::Message {
        let summary = state.tally.summary();
        let (window, fps) = state.tally.take_window(Duration::from_nanos(now));
        state.last_post = Some(now);
        let b = summary_builder("framemeter", &summary)
            .field("interval-frames", window.count)
            .field("interval-fps", fps);
        let s = latency_fields(b, "interval-", &window).build();
        gst::debug!(CAT, imp = self, "posting {s}");
        gst::message::Element::builder(s).src(&*self.obj()).build()
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FrameMeter {
    const NAME: &'static str = "GstFrameMeter";
    type Type = super::FrameMeter;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for FrameMeter {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            vec![
                glib::ParamSpecUInt::builder("x")
                    .nick("X")
                    .blurb("Left edge of the code, in pixels (as set on framestamp)")
                    .maximum(MAX_POSITION)
                    .default_value(DEFAULT_X)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("y")
                    .nick("Y")
                    .blurb("Top edge of the code, in pixels (as set on framestamp)")
                    .maximum(MAX_POSITION)
                    .default_value(DEFAULT_Y)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("block-size")
                    .nick("Block size")
                    .blurb("Side of one block of the code, in pixels (as set on framestamp)")
                    .minimum(MIN_BLOCK_SIZE)
                    .maximum(MAX_BLOCK_SIZE)
                    .default_value(DEFAULT_BLOCK_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("interval")
                    .nick("Interval")
                    .blurb(
                        "Post a 'framemeter' element message every this many nanoseconds of \
                         arrivals (0: only at end of stream)",
                    )
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-frames")
                    .nick("Post frames")
                    .blurb(
                        "Post a 'framemeter-frame' element message for every frame (status, \
                         frame-number, capture-time, arrival-time, latency in nanoseconds, pts)",
                    )
                    .default_value(DEFAULT_POST_FRAMES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(
                        "Totals since start: frames-received/new/missing/repeated/reordered/\
                         unreadable (frames), gaps (forward jumps in the numbering), \
                         longest-gap (frames), fps (new frames per second), longest-stall \
                         (nanoseconds between two new frames), restarts (sender counted from \
                         0 again), first-frame and last-frame (frame numbers, once seen), \
                         latency-min/mean/p50/p95/p99/max (nanoseconds)",
                    )
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "x" => settings.x = value.get().expect("type checked upstream"),
            "y" => settings.y = value.get().expect("type checked upstream"),
            "block-size" => settings.block_size = value.get().expect("type checked upstream"),
            "interval" => settings.interval = value.get().expect("type checked upstream"),
            "post-frames" => settings.post_frames = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
        gst::debug!(CAT, imp = self, "{} set: {:?}", pspec.name(), *settings);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stats" => {
                let state = self.state.lock().unwrap();
                let summary = state
                    .as_ref()
                    .map(|s| s.tally.summary())
                    .unwrap_or_default();
                summary_builder("application/x-framemeter-stats", &summary)
                    .build()
                    .to_value()
            }
            name => {
                let settings = self.settings.lock().unwrap();
                match name {
                    "x" => settings.x.to_value(),
                    "y" => settings.y.to_value(),
                    "block-size" => settings.block_size.to_value(),
                    "interval" => settings.interval.to_value(),
                    "post-frames" => settings.post_frames.to_value(),
                    _ => unimplemented!(),
                }
            }
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        // A meter never changes the picture; let buffers through unmapped for
        // writing, but still look at each one.
        self.obj().set_passthrough(true);
    }
}

impl GstObjectImpl for FrameMeter {}

impl ElementImpl for FrameMeter {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Frame meter",
                "Filter/Analyzer/Video",
                "Reads framestamp codes and measures glass-to-glass latency, lost, frozen \
                 and unreadable frames, posting 'framemeter' element messages \
                 (docs/measure.md). Example: gst-launch-1.0 videotestsrc num-buffers=30 ! \
                 video/x-raw,width=320,height=240 ! framestamp ! jpegenc ! jpegdec ! \
                 framemeter ! fakesink",
                "Streamkit developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let caps = crate::gstcommon::stampframe::raw_caps();
            crate::gstcommon::padtemplates::sink_and_src(&caps, &caps)
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FrameMeter {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = Some(State {
            tally: FrameTally::new(),
            last_post: None,
        });
        gst::debug!(CAT, imp = self, "started");
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Keep the final tally readable through `stats` after stopping; it
        // is replaced on the next start.
        gst::debug!(CAT, imp = self, "stopped");
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            let now = host_clock_time();
            let summary = self
                .state
                .lock()
                .unwrap()
                .as_mut()
                .map(|state| self.take_summary(state, now));
            if let Some(msg) = summary {
                let _ = self.obj().post_message(msg);
            }
        }
        self.parent_sink_event(event)
    }
}

impl VideoFilterImpl for FrameMeter {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let layout = self.layout();
        if let Err(err) = layout.check_fits(in_info.width(), in_info.height()) {
            // Not fatal: every frame will count as unreadable, which is what
            // the numbers should then say.
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                ("The stamp code does not fit: {err}; set x, y and block-size as on framestamp, and do not scale between them"),
                ["{err}"]
            );
        }
        gst::debug!(
            CAT,
            imp = self,
            "reading {:?} at {:?}",
            in_info.format(),
            layout
        );
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }

    fn transform_frame_ip_passthrough(
        &self,
        frame: &gst_video::VideoFrameRef<&gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (interval, post_frames) = {
            let s = self.settings.lock().unwrap();
            (s.interval, s.post_frames)
        };
        let read = read_frame_stamp(frame, &self.layout());
        let now = host_clock_time();

        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            return Err(gst::FlowError::Flushing);
        };
        let (verdict, latency, stamp) = match read {
            Ok(stamp) => {
                let (verdict, latency) = state.tally.observe(
                    stamp.frame,
                    Duration::from_nanos(stamp.capture_time_ns),
                    Duration::from_nanos(now),
                );
                (verdict, latency, Some(stamp))
            }
            Err(err) => {
                gst::debug!(
                    CAT,
                    imp = self,
                    "unreadable frame {:?}: {err}",
                    frame.buffer().pts()
                );
                (
                    state.tally.observe_unreadable(Duration::from_nanos(now)),
                    None,
                    None,
                )
            }
        };
        gst::trace!(
            CAT,
            imp = self,
            "{:?} {} latency {:?}",
            stamp,
            verdict.name(),
            latency
        );
        if verdict == FrameVerdict::Repeated {
            gst::log!(
                CAT,
                imp = self,
                "frozen: frame {:?} again",
                stamp.map(|s| s.frame)
            );
        }

        if interval > 0 && state.last_post.is_none() {
            // first arrival starts the first interval
            state.last_post = Some(now);
        }
        let summary = (interval > 0
            && state
                .last_post
                .is_some_and(|t| now.saturating_sub(t) >= interval))
        .then(|| self.take_summary(state, now));
        drop(guard);
        if let Some(msg) = summary {
            let _ = self.obj().post_message(msg);
        }

        if post_frames {
            let s = gst::Structure::builder("framemeter-frame")
                .field("status", verdict.name())
                .field_if_some("frame-number", stamp.map(|s| s.frame))
                .field_if_some("capture-time", stamp.map(|s| s.capture_time_ns))
                .field("arrival-time", now)
                .field_if_some("latency", latency.map(nanos))
                .field_if_some("pts", frame.buffer().pts())
                .build();
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
