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
 * `target-duration` of stream time. Ahead of each boundary the element sends a
 * GstForceKeyUnit event upstream so the encoder puts a keyframe exactly there.
 * An encoder that holds frames (look-ahead) is asked that far ahead — its
 * reported latency, corrected when segments still come out long — so only
 * the first segment is longer; x264enc tune=zerolatency is exact from the
 * first segment on. Frames before
 * the first keyframe are dropped. If a keyframe that was asked for does not
 * arrive within `max-keyframe-wait` of stream time, the element posts an error.
 * A segment's keyframe that comes without parameter sets (x265enc sends them
 * only once) gets the latest ones inserted, so every segment decodes alone.
 *
 * No segment buffer is a delta unit, so `tcpserversink sync-method=latest-keyframe`
 * starts a client that connects mid-stream at the newest whole segment.
 * The element adds one segment duration of latency.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,framerate=30/1 ! \
 *     x264enc tune=zerolatency ! segmentpackager frames-per-segment=10 ! \
 *     tcpserversink host=127.0.0.1 port=5000 sync-method=latest-keyframe
 * ]|
 * |[
 * gst-launch-1.0 tcpclientsrc host=127.0.0.1 port=5000 ! tsdemux ! h264parse ! avdec_h264 ! autovideosink
 * ]|
 */
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use once_cell::sync::Lazy;
use std::sync::{Mutex, MutexGuard};

use super::collector::{segment_end_event, SegmentAssembler};
use crate::segment::cutter::{
    CutterConfig, Decision, Frame, FrameAction, KeyframeRequest, SegmentCutter, SegmentLength,
    SegmentSummary,
};
use crate::segment::paramsets::{Codec, ParameterSetCache};

/// Debug category of the bin and of the collector element inside it.
pub(super) static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "segmentpackager",
        gst::DebugColorFlags::empty(),
        Some("Streamkit segment packager: cuts H.264/H.265 into MPEG-TS segments"),
    )
});

const DEFAULT_FRAMES_PER_SEGMENT: u32 = 10;
const MAX_FRAMES_PER_SEGMENT: u32 = 100_000;
const DEFAULT_TARGET_DURATION: gst::ClockTime = gst::ClockTime::from_seconds(2);
const MAX_TARGET_DURATION: gst::ClockTime = gst::ClockTime::from_seconds(3600);
const DEFAULT_MAX_KEYFRAME_WAIT: gst::ClockTime = gst::ClockTime::from_seconds(5);

#[derive(Debug, Clone, Copy)]
struct Settings {
    frames_per_segment: u32,
    target_duration: gst::ClockTime,
    max_keyframe_wait: gst::ClockTime,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            frames_per_segment: DEFAULT_FRAMES_PER_SEGMENT,
            target_duration: DEFAULT_TARGET_DURATION,
            max_keyframe_wait: DEFAULT_MAX_KEYFRAME_WAIT,
        }
    }
}

impl Settings {
    fn cutter_config(&self, frame_duration: Option<u64>) -> CutterConfig {
        let length = if self.frames_per_segment > 0 {
            SegmentLength::Frames(self.frames_per_segment)
        } else {
            SegmentLength::Duration(self.target_duration.nseconds().max(1))
        };
        CutterConfig {
            length,
            frame_duration,
            max_keyframe_wait: self.max_keyframe_wait.nseconds(),
            // learnt from a latency query once frames flow
            encoder_delay: 0,
        }
    }
}

#[derive(Default)]
struct State {
    /// Created when caps arrive (the frame rate is needed).
    cutter: Option<SegmentCutter>,
    /// Parameter sets for keyframes that arrive without them.
    parameter_sets: Option<ParameterSetCache>,
    /// The encoder's delay is to be asked for before the next frame.
    query_encoder_delay: bool,
    segment: gst::FormattedSegment<gst::ClockTime>,
}

pub struct SegmentPackager {
    sinkpad: gst::GhostPad,
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
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn settings(&self) -> Settings {
        *self.settings.lock().unwrap()
    }

    /// Where events meant for the muxer are pushed, in order with the frames.
    fn mux_input(&self) -> Option<gst::ProxyPad> {
        self.sinkpad.internal()
    }

    fn push_segment_end(&self, summary: SegmentSummary) {
        gst::debug!(
            CAT,
            imp = self,
            "segment {} complete: {} frames from {} for {}",
            summary.index,
            summary.frames,
            gst::ClockTime::from_nseconds(summary.start),
            gst::ClockTime::from_nseconds(summary.duration)
        );
        let event = segment_end_event(
            summary.index,
            gst::ClockTime::from_nseconds(summary.start),
            gst::ClockTime::from_nseconds(summary.duration),
            summary.frames,
        );
        if let Some(pad) = self.mux_input() {
            if !pad.push_event(event) {
                gst::warning!(
                    CAT,
                    imp = self,
                    "muxer refused the end of segment {}",
                    summary.index
                );
            }
        }
    }

    fn request_keyframe(&self, request: KeyframeRequest) {
        let running_time = match request {
            KeyframeRequest::At(t) => Some(gst::ClockTime::from_nseconds(t)),
            KeyframeRequest::Now => None,
        };
        gst::debug!(
            CAT,
            imp = self,
            "asking upstream for a keyframe at {running_time:?}"
        );
        let event = gst_video::UpstreamForceKeyUnitEvent::builder()
            .running_time(running_time)
            .all_headers(true)
            .build();
        if !self.sinkpad.push_event(event) {
            gst::debug!(
                CAT,
                imp = self,
                "nobody upstream handled the keyframe request"
            );
        }
    }

    /// How far upstream's output lags its input: the minimum latency it
    /// reports (mostly the encoder's frame delay: look-ahead, B-frames).
    fn learn_encoder_delay(&self) {
        let mut query = gst::query::Latency::new();
        let delay = if self.sinkpad.peer_query(&mut query) {
            query.result().1
        } else {
            gst::ClockTime::ZERO
        };
        gst::debug!(
            CAT,
            imp = self,
            "upstream reports {delay} of latency; asking that far ahead"
        );
        if let Some(cutter) = self.state().cutter.as_mut() {
            let mut config = *cutter.config();
            config.encoder_delay = delay.nseconds();
            cutter.set_config(config);
        }
    }

    fn sink_chain(
        &self,
        pad: &gst::GhostPad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if std::mem::take(&mut self.state().query_encoder_delay) {
            self.learn_encoder_delay();
        }
        let mut guard = self.state();
        let State {
            cutter,
            parameter_sets,
            segment,
            ..
        } = &mut *guard;
        let Some(cutter) = cutter.as_mut() else {
            drop(guard);
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("Received a frame before caps; segmentpackager needs H.264 or H.265 caps first")
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        let time = buffer.pts().or(buffer.dts());
        let running_time = time.and_then(|t| segment.to_running_time(t));
        let frame = Frame {
            time: running_time.map(gst::ClockTime::nseconds),
            duration: buffer.duration().map(gst::ClockTime::nseconds),
            keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
        };
        let decision = cutter.push(frame);
        let opens_segment = matches!(
            decision,
            Ok(Decision {
                action: FrameAction::StartSegment { .. },
                ..
            })
        );
        let mut completed = None;
        if let (Some(cache), Ok(map)) = (parameter_sets.as_mut(), buffer.map_readable()) {
            cache.observe(&map);
            if opens_segment {
                completed = cache.complete(&map);
            }
        }
        drop(guard);
        let buffer = match completed {
            Some(data) => self.with_parameter_sets(buffer, data)?,
            None => buffer,
        };
        let decision = match decision {
            Ok(d) => d,
            Err(err) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("Cannot cut the next segment: {}", err),
                    [
                        "Make the encoder obey GstForceKeyUnit, or give it a key-int-max no larger than \
                         frames-per-segment, or raise max-keyframe-wait"
                    ]
                );
                return Err(gst::FlowError::Error);
            }
        };

        if let Some(finished) = decision.finished {
            self.push_segment_end(finished);
        }
        for request in decision.requests {
            self.request_keyframe(request);
        }

        match decision.action {
            FrameAction::Drop => {
                gst::debug!(
                    CAT,
                    imp = self,
                    "dropping {buffer:?}: waiting for a keyframe"
                );
                Ok(gst::FlowSuccess::Ok)
            }
            FrameAction::Append => gst::ProxyPad::chain_default(pad, Some(&*self.obj()), buffer),
            FrameAction::StartSegment { index } => {
                // Makes mpegtsmux write PAT and PMT right before this keyframe,
                // so the segment is self-contained.
                let event = gst_video::DownstreamForceKeyUnitEvent::builder()
                    .timestamp(buffer.pts())
                    .running_time(running_time)
                    .all_headers(true)
                    .count(u32::try_from(index).unwrap_or(u32::MAX))
                    .build();
                if let Some(mux) = self.mux_input() {
                    mux.push_event(event);
                }
                gst::ProxyPad::chain_default(pad, Some(&*self.obj()), buffer)
            }
        }
    }

    /// `buffer`'s timing and flags on `data`, the keyframe with parameter sets added.
    fn with_parameter_sets(
        &self,
        buffer: gst::Buffer,
        data: Vec<u8>,
    ) -> Result<gst::Buffer, gst::FlowError> {
        gst::debug!(
            CAT,
            imp = self,
            "keyframe at {:?} lacked parameter sets: added {} bytes of them",
            buffer.pts(),
            data.len().saturating_sub(buffer.size())
        );
        let mut fixed = gst::Buffer::from_mut_slice(data);
        let flags = gst::BufferCopyFlags::FLAGS
            | gst::BufferCopyFlags::TIMESTAMPS
            | gst::BufferCopyFlags::META;
        let copied = fixed
            .get_mut()
            .map(|dest| buffer.copy_into(dest, flags, ..).is_ok())
            .unwrap_or(false);
        if !copied {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ("Could not copy frame metadata")
            );
            return Err(gst::FlowError::Error);
        }
        Ok(fixed)
    }

    fn set_caps(&self, caps: &gst::CapsRef) -> bool {
        let Some(s) = caps.structure(0) else {
            return false;
        };
        let codec_ok = s.name() == "video/x-h264" || s.name() == "video/x-h265";
        let format_ok = s.get::<&str>("stream-format").ok() == Some("byte-stream")
            && s.get::<&str>("alignment").ok() == Some("au");
        if !codec_ok || !format_ok {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                (
                    "segmentpackager takes H.264 or H.265 with stream-format=byte-stream, alignment=au; got {}",
                    caps
                ),
                ["Put an encoder (x264enc, x265enc) or h264parse/h265parse in front of it"]
            );
            return false;
        }
        let frame_duration = s
            .get::<gst::Fraction>("framerate")
            .ok()
            .filter(|f| f.numer() > 0 && f.denom() > 0)
            .and_then(|f| gst::ClockTime::SECOND.mul_div_floor(f.denom() as u64, f.numer() as u64))
            .map(gst::ClockTime::nseconds);
        let codec = if s.name() == "video/x-h265" {
            Codec::H265
        } else {
            Codec::H264
        };
        let config = self.settings().cutter_config(frame_duration);
        let mut state = self.state();
        if state.parameter_sets.as_ref().map(ParameterSetCache::codec) != Some(codec) {
            state.parameter_sets = Some(ParameterSetCache::new(codec));
        }
        let changed = match state.cutter.as_mut() {
            None => {
                state.cutter = Some(SegmentCutter::new(config));
                true
            }
            Some(cutter) if *cutter.config() != config => {
                gst::info!(CAT, imp = self, "new caps change segment timing");
                cutter.set_config(config);
                true
            }
            Some(_) => false,
        };
        if changed {
            state.query_encoder_delay = true;
        }
        drop(state);
        if changed {
            // The latency depends on the frame rate, known only now.
            let obj = self.obj();
            let _ = obj.post_message(gst::message::Latency::builder().src(&*obj).build());
        }
        true
    }

    fn sink_event(&self, pad: &gst::GhostPad, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::Caps(ev) => return self.set_caps(ev.caps()) && self.forward(pad, event),
            EventView::Segment(ev) => match ev.segment().clone().downcast::<gst::ClockTime>() {
                Ok(segment) => self.state().segment = segment,
                Err(_) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("segmentpackager needs a TIME segment")
                    );
                    return false;
                }
            },
            EventView::Eos(_) => {
                let last = self.state().cutter.as_mut().and_then(SegmentCutter::finish);
                if let Some(last) = last {
                    self.push_segment_end(last);
                }
            }
            EventView::FlushStop(_) => {
                if let Some(cutter) = self.state().cutter.as_mut() {
                    cutter.reset();
                }
            }
            EventView::CustomDownstream(_) if gst_video::ForceKeyUnitEvent::is(&event) => {
                // The encoder's own announcement; this element sends its own
                // at each segment start.
                return true;
            }
            _ => (),
        }
        self.forward(pad, event)
    }

    fn forward(&self, pad: &gst::GhostPad, event: gst::Event) -> bool {
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    fn sink_query(&self, pad: &gst::GhostPad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let ours = pad.pad_template_caps();
                let caps = match q.filter() {
                    Some(filter) => {
                        filter.intersect_with_mode(&ours, gst::CapsIntersectMode::First)
                    }
                    None => ours,
                };
                q.set_result(&caps);
                true
            }
            gst::QueryViewMut::AcceptCaps(q) => {
                let ok = q.caps().is_subset(&pad.pad_template_caps());
                if !ok {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "refusing {}: only H.264/H.265 byte-stream with alignment=au",
                        q.caps()
                    );
                }
                q.set_result(ok);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// Latency this element adds: a frame waits until its segment is complete.
    fn segment_latency(&self) -> gst::ClockTime {
        let from_cutter = self
            .state()
            .cutter
            .as_ref()
            .and_then(SegmentCutter::segment_duration);
        match from_cutter {
            Some(ns) => gst::ClockTime::from_nseconds(ns),
            None => {
                let settings = self.settings();
                if settings.frames_per_segment == 0 {
                    settings.target_duration
                } else {
                    gst::ClockTime::ZERO
                }
            }
        }
    }

    fn src_query(&self, pad: &gst::GhostPad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Latency(_) = query.view_mut() {
            if !gst::Pad::query_default(pad, Some(&*self.obj()), query) {
                return false;
            }
            if let gst::QueryViewMut::Latency(q) = query.view_mut() {
                let (live, min, max) = q.result();
                let ours = self.segment_latency();
                gst::debug!(CAT, imp = self, "adding {ours} of latency to {min}");
                q.set(live, min + ours, max.map(|m| m + ours));
            }
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
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
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            vec![
                glib::ParamSpecUInt::builder("frames-per-segment")
                    .nick("Frames per segment")
                    .blurb(
                        "Frames in each segment; a keyframe is requested for the first frame of the \
                         next one. 0 cuts by target-duration instead. Read when caps arrive.",
                    )
                    .minimum(0)
                    .maximum(MAX_FRAMES_PER_SEGMENT)
                    .default_value(DEFAULT_FRAMES_PER_SEGMENT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("target-duration")
                    .nick("Target duration")
                    .blurb(
                        "Stream time in each segment (ns) when frames-per-segment is 0; the segment \
                         ends at the first keyframe at or after it. Read when caps arrive.",
                    )
                    .minimum(1)
                    .maximum(MAX_TARGET_DURATION.nseconds())
                    .default_value(DEFAULT_TARGET_DURATION.nseconds())
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("max-keyframe-wait")
                    .nick("Maximum keyframe wait")
                    .blurb(
                        "Stream time (ns) to wait for a requested keyframe before posting an error; \
                         0 waits for ever",
                    )
                    .minimum(0)
                    .maximum(MAX_TARGET_DURATION.nseconds())
                    .default_value(DEFAULT_MAX_KEYFRAME_WAIT.nseconds())
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "frames-per-segment" => {
                settings.frames_per_segment = value.get().expect("type checked upstream");
            }
            "target-duration" => {
                settings.target_duration =
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
            "target-duration" => settings.target_duration.nseconds().to_value(),
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
        let assembler = SegmentAssembler::new("assembler");
        let linked = obj
            .add_many([&mux, assembler.upcast_ref()])
            .map_err(|e| e.to_string())
            .and_then(|_| mux.link(&assembler).map_err(|e| e.to_string()))
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
                let src = assembler
                    .static_pad("src")
                    .ok_or("assembler has no src pad")?;
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
                 self-contained MPEG-TS buffer",
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
