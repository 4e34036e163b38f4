// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-segmentpackager
 * @see_also: hlssegmentsink, mpegtsmux, tcpserversink
 *
 * Cuts an encoded H.264 or H.265 stream into segments that each begin with a
 * keyframe, and pushes every segment as ONE buffer holding a self-contained
 * MPEG transport stream (PAT, PMT, then the frames). The transport stream is
 * written by GStreamer's `mpegtsmux`, which runs inside this bin.
 *
 * A segment holds `frames-per-segment` frames or, when that is 0,
 * `segment-duration` of stream time (nanoseconds; below a second works, for
 * short parts). Ahead of each boundary the element sends a
 * GstForceKeyUnit event upstream so the encoder puts a keyframe exactly there.
 * An encoder that holds frames (look-ahead) is asked that far ahead — its
 * reported latency, corrected when segments still come out long — so only
 * the first segment is longer; x264enc tune=zerolatency is exact from the
 * first segment on. Frames before
 * the first keyframe are dropped. If a keyframe that was asked for does not
 * arrive within `max-keyframe-wait` of stream time (nanoseconds; 0 waits for
 * ever), the element posts an error.
 * A segment's keyframe that comes without parameter sets (x265enc sends them
 * only once) gets the latest ones inserted, so every segment decodes alone.
 *
 * No segment buffer is a delta unit, so `tcpserversink sync-method=latest-keyframe`
 * starts a client that connects mid-stream at the newest whole segment.
 * The element adds one segment duration of latency.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=900 is-live=true ! video/x-raw,framerate=30/1 ! \
 *     x264enc tune=zerolatency ! segmentpackager frames-per-segment=10 ! \
 *     tcpserversink host=127.0.0.1 port=5000 sync-method=latest-keyframe
 * ]|
 * |[
 * gst-launch-1.0 tcpclientsrc host=127.0.0.1 port=5000 ! tsdemux ! h264parse ! avdec_h264 ! autovideosink
 * ]|
 * Half-second segments by stream time, written as HLS:
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=300 is-live=true ! video/x-raw,framerate=30/1 ! \
 *     x264enc tune=zerolatency ! \
 *     segmentpackager frames-per-segment=0 segment-duration=500000000 ! \
 *     hlssegmentsink location=/tmp/segment%05d.ts playlist-location=/tmp/playlist.m3u8
 * ]|
 */
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use once_cell::sync::Lazy;
use std::sync::{Mutex, MutexGuard};

use super::collector::SegmentCollector;
use super::settings::Settings;
use crate::segment::cutter::SegmentCutter;
use crate::segment::paramsets::ParameterSetCache;

/// Debug category of the bin (the collector inside it has its own).
pub(super) static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "segmentpackager",
        gst::DebugColorFlags::empty(),
        Some("Streamkit segment packager: cuts H.264/H.265 into MPEG-TS segments"),
    )
});

#[derive(Default)]
pub(super) struct State {
    /// Created when caps arrive (the frame rate is needed).
    pub(super) cutter: Option<SegmentCutter>,
    /// Parameter sets for keyframes that arrive without them.
    pub(super) parameter_sets: Option<ParameterSetCache>,
    /// The encoder's delay is to be asked for before the next frame.
    pub(super) query_encoder_delay: bool,
    pub(super) segment: gst::FormattedSegment<gst::ClockTime>,
}

pub struct SegmentPackager {
    pub(super) sinkpad: gst::GhostPad,
    srcpad: gst::GhostPad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

fn sink_caps() -> gst::Caps {
    gst::Caps::builder_full()
        .structure(
            gst::Structure::builder("video/x-h264")
                .field("stream-format", "byte-stream")
                .field("alignment", "au")
                .build(),
        )
        .structure(
            gst::Structure::builder("video/x-h265")
                .field("stream-format", "byte-stream")
                .field("alignment", "au")
                .build(),
        )
        .build()
}

impl SegmentPackager {
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub(super) fn settings(&self) -> Settings {
        *self.settings.lock().unwrap()
    }
}

#[glib::object_subclass]
impl ObjectSubclass for SegmentPackager {
    const NAME: &'static str = "GstSegmentPackager";
    type Type = super::SegmentPackager;
    type ParentType = gst::Bin;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").expect("sink template");
        let sinkpad = gst::GhostPad::builder_from_template(&templ)
            .chain_function(|pad, parent, buffer| {
                SegmentPackager::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |this| this.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                SegmentPackager::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.sink_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                SegmentPackager::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.sink_query(pad, query),
                )
            })
            .build();
        let templ = klass.pad_template("src").expect("src template");
        let srcpad = gst::GhostPad::builder_from_template(&templ)
            .query_function(|pad, parent, query| {
                SegmentPackager::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.src_query(pad, query),
                )
            })
            .build();
        Self {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
        }
    }
}

impl ObjectImpl for SegmentPackager {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(super::settings::param_specs);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "frames-per-segment" => {
                settings.frames_per_segment = value.get().expect("type checked upstream");
            }
            "segment-duration" => {
                settings.segment_duration =
                    gst::ClockTime::from_nseconds(value.get().expect("type checked upstream"));
            }
            "max-keyframe-wait" => {
                settings.max_keyframe_wait =
                    gst::ClockTime::from_nseconds(value.get().expect("type checked upstream"));
            }
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "{} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings();
        match pspec.name() {
            "frames-per-segment" => settings.frames_per_segment.to_value(),
            "segment-duration" => settings.segment_duration.nseconds().to_value(),
            "max-keyframe-wait" => settings.max_keyframe_wait.nseconds().to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).expect("fresh pad");
        obj.add_pad(&self.srcpad).expect("fresh pad");

        // Without mpegtsmux the bin stays empty and refuses NULL->READY
        // with an error saying which package is missing.
        let Ok(mux) = gst::ElementFactory::make("mpegtsmux").name("mux").build() else {
            gst::error!(CAT, imp = self, "mpegtsmux is not available");
            return;
        };
        let collector = SegmentCollector::new("collector");
        let linked = obj
            .add_many([&mux, collector.upcast_ref()])
            .map_err(|e| e.to_string())
            .and_then(|_| mux.link(&collector).map_err(|e| e.to_string()))
            .and_then(|_| {
                mux.request_pad_simple("sink_%d")
                    .ok_or_else(|| "mpegtsmux gave no sink pad".to_string())
            })
            .and_then(|mux_sink| {
                self.sinkpad
                    .set_target(Some(&mux_sink))
                    .map_err(|e| e.to_string())
            })
            .and_then(|_| {
                let src = collector
                    .static_pad("src")
                    .ok_or("collector has no src pad")?;
                self.srcpad
                    .set_target(Some(&src))
                    .map_err(|e| e.to_string())
            });
        if let Err(err) = linked {
            gst::error!(CAT, imp = self, "could not build the bin: {err}");
        }
    }
}

impl GstObjectImpl for SegmentPackager {}

impl ElementImpl for SegmentPackager {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Segment packager",
                "Codec/Muxer/Video",
                "Cuts H.264/H.265 into segments that start at a keyframe and pushes each as one \
                 self-contained MPEG-TS buffer, every segment carrying its parameter sets; \
                 asks upstream for the keyframes it needs and adds one segment duration of \
                 latency (docs/segment.md). Example: gst-launch-1.0 videotestsrc num-buffers=30 ! \
                 video/x-raw,framerate=30/1 ! x264enc tune=zerolatency ! \
                 segmentpackager frames-per-segment=10 ! fakesink",
                "Streamkit developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink_caps(),
                )
                .expect("valid template"),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &super::collector::segment_caps(),
                )
                .expect("valid template"),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        let missing_mux = self.obj().by_name("mux").is_none() || self.sinkpad.target().is_none();
        if transition == gst::StateChange::NullToReady && missing_mux {
            gst::element_imp_error!(
                self,
                gst::CoreError::MissingPlugin,
                ("mpegtsmux is missing or could not be linked"),
                ["Install gstreamer1.0-plugins-bad (it provides mpegtsmux)"]
            );
            return Err(gst::StateChangeError);
        }
        if transition == gst::StateChange::ReadyToPaused {
            *self.state() = State::default();
        }
        let result = self.parent_change_state(transition)?;
        // Only once the pads are deactivated has the streaming thread left
        // sink_chain: a reset before that let an in-flight buffer meet a
        // state without caps (an error in READY/PAUSED churn).
        if transition == gst::StateChange::PausedToReady {
            *self.state() = State::default();
        }
        Ok(result)
    }
}

impl BinImpl for SegmentPackager {}
