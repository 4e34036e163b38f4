// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-deltadec
 *
 * `deltadec` decodes the "changes only" bitstream of `deltaenc`. It keeps a
 * canvas and applies each tile record it receives; records are
 * self-contained, so a frame that lost some records (marked `CORRUPTED` or
 * `DISCONT` by the depayloader) still applies the rest and the missing tiles
 * keep their last value until they are sent again.
 *
 * A decoder that starts mid-stream outputs nothing until every tile has
 * arrived at least once (by a keyframe or the encoder's intra refresh) and
 * asks upstream for a keyframe meanwhile, at most every
 * `min-force-key-unit-interval` (500 ms by default here); set
 * `output-incomplete=true` to output at once, with mid-grey placeholder tiles. Malformed frames and
 * records are dropped, logged and counted in `stats`, never fatal.
 *
 * Output geometry follows the stream: it is taken from the frame headers, so
 * caps need not carry width and height. A frame larger than `max-width` x
 * `max-height` (4096 x 2304 by default; lowered to the input caps' width and
 * height when they give them) is dropped before anything is allocated for
 * it. The picture changes size at most once per second; a new size is taken
 * from a keyframe, or from the third consecutive frame announcing it when
 * its keyframe was lost (the new picture then fills by intra refresh while
 * keyframes are requested), as docs/bitstream.md describes. Refused frames
 * are counted in `stats` (`frames-oversized`, `geometry-changes-throttled`).
 *
 * Sink caps: `video/x-streamkit-delta` (from `deltaenc` or `rtpdeltadepay`);
 * width and height in the caps are optional. `cache-tiles` in the caps sizes
 * the cache of tile contents that recall records read (at most 1024 tiles
 * and 64 MiB, allocated as it fills); without it recalls miss, are counted
 * (`recall-misses`) and their tiles heal by the sender's intra refresh. Source caps: raw video in the
 * format the stream was encoded from (`I420`, `NV12`, `BGRx`, `BGRA`,
 * `RGBA`, `RGBx`, `xRGB` or `xBGR`, named by the frame headers and the
 * caps), at the size the frame headers give; the picture is kept in that
 * format's own layout and copied out as it is. Alpha is exact; before a
 * tile has arrived it is opaque mid-grey.
 *
 * Properties: `output-incomplete` (see above), `max-width` and `max-height`
 * (pixels), and the read-only `stats` structure. `min-force-key-unit-interval`
 * belongs to the GstVideoDecoder base class, whose property says 0; deltadec
 * sets it to 500000000 nanoseconds (500 ms) on every new instance, which is
 * what gst-inspect reads and shows as its default. Set it to 0 to ask on
 * every withheld frame.
 *
 * ## Example launch lines
 * Encode and decode again at once:
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=100 ! video/x-raw,format=I420,width=640,height=480 ! deltaenc ! deltadec ! videoconvert ! fakesink
 * ]|
 * Receive what the `rtpdeltapay` example of deltaenc's documentation sends
 * (start this first; it runs until interrupted):
 * |[
 * gst-launch-1.0 udpsrc port=5000 caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=X-STREAMKIT-DELTA,payload=96" ! rtpdeltadepay ! deltadec ! videoconvert ! fakesink
 * ]|
 * Put `autovideosink` in place of `fakesink` to watch the picture.
 */
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use once_cell::sync::Lazy;
use std::sync::Mutex;

use crate::delta::decoder::{DEFAULT_MAX_HEIGHT, DEFAULT_MAX_WIDTH};
use crate::delta::geometry::MAX_DIMENSION;
use crate::delta::{DecoderLimits, DecoderStats, DeltaDecoder, FrameViewMut, Geometry};

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "deltadec",
        gst::DebugColorFlags::empty(),
        Some("Streamkit changes-only video decoder"),
    )
});

const DEFAULT_OUTPUT_INCOMPLETE: bool = false;
const DEFAULT_MIN_KEYFRAME_REQUEST_INTERVAL: gst::ClockTime = gst::ClockTime::from_mseconds(500);

#[derive(Debug, Clone, Copy)]
struct Settings {
    output_incomplete: bool,
    max_width: u32,
    max_height: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            output_incomplete: DEFAULT_OUTPUT_INCOMPLETE,
            max_width: DEFAULT_MAX_WIDTH,
            max_height: DEFAULT_MAX_HEIGHT,
        }
    }
}

struct State {
    decoder: DeltaDecoder,
    /// The decoder's time base for its geometry-change rate limit: a
    /// monotonic clock, because stream timestamps are the sender's to choose
    /// and the pipeline clock need not run (a test clock, a paused pipeline).
    started: std::time::Instant,
    /// Width and height fixed by the input caps, when they give them.
    caps_size: Option<(u32, u32)>,
    /// Geometry of the negotiated output, once negotiated.
    output: Option<(Geometry, gst_video::VideoInfo)>,
    frames_seen: u64,
    /// Upstream's state, whose framerate and aspect ratio the output keeps.
    input_state:
        Option<gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>>,
}

impl Default for State {
    fn default() -> Self {
        State {
            decoder: DeltaDecoder::default(),
            started: std::time::Instant::now(),
            caps_size: None,
            output: None,
            frames_seen: 0,
            input_state: None,
        }
    }
}

/// Counters readable through the `stats` property.
#[derive(Default, Clone, Copy)]
struct Counters {
    codec: DecoderStats,
    frames_output: u64,
    frames_withheld: u64,
    frames_damaged: u64,
    missing_tiles: u32,
    stale_tiles: u32,
}

#[derive(Default)]
pub struct DeltaDec {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    counters: Mutex<Counters>,
}

#[glib::object_subclass]
impl ObjectSubclass for DeltaDec {
    const NAME: &'static str = "GstDeltaDec";
    type Type = super::DeltaDec;
    type ParentType = gst_video::VideoDecoder;
}

impl ObjectImpl for DeltaDec {
    fn constructed(&self) {
        self.parent_constructed();
        // Every input buffer is one whole frame (or a subset of its records).
        self.obj().set_packetized(true);
        // An incomplete picture asks upstream for a keyframe on every frame it
        // withholds; through rtpbin each request is an RTCP PLI. Half a second
        // between requests keeps a lossy start from becoming a keyframe storm.
        self.obj().set_property(
            "min-force-key-unit-interval",
            DEFAULT_MIN_KEYFRAME_REQUEST_INTERVAL.nseconds(),
        );
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            vec![
                glib::ParamSpecBoolean::builder("output-incomplete")
                    .nick("Output incomplete pictures")
                    .blurb(
                        "Output frames before every tile has arrived, with mid-grey \
                         placeholder tiles; false withholds frames (and asks for a keyframe) \
                         until the picture is complete",
                    )
                    .default_value(DEFAULT_OUTPUT_INCOMPLETE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-width")
                    .nick("Maximum width")
                    .blurb(
                        "Largest picture width in pixels; wider frames are dropped before \
                         anything is allocated (lowered further by the input caps' width)",
                    )
                    .minimum(crate::delta::decoder::MIN_SIZE_LIMIT)
                    .maximum(MAX_DIMENSION)
                    .default_value(DEFAULT_MAX_WIDTH)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-height")
                    .nick("Maximum height")
                    .blurb(
                        "Largest picture height in pixels; taller frames are dropped before \
                         anything is allocated (lowered further by the input caps' height)",
                    )
                    .minimum(crate::delta::decoder::MIN_SIZE_LIMIT)
                    .maximum(MAX_DIMENSION)
                    .default_value(DEFAULT_MAX_HEIGHT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(
                        "Counters since start (frame counts, bytes of input): frames, \
                         keyframes, frames-output, \
                         frames-withheld, frames-damaged, frames-rejected (of which \
                         frames-oversized: over max-width/max-height, and \
                         geometry-changes-throttled: a second size change within one second), \
                         geometry-changes, tiles-applied, records-dropped (corrupt or repeated \
                         tiles), tiles-recalled (written from the tile cache), recall-misses \
                         (recalls of content the cache did not hold: the tile is marked \
                         stale), missing-tiles (never received), stale-tiles (possibly \
                         outdated after a loss), bytes",
                    )
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "output-incomplete" => {
                self.settings.lock().unwrap().output_incomplete =
                    value.get().expect("type checked upstream")
            }
            "max-width" => {
                self.settings.lock().unwrap().max_width =
                    value.get().expect("type checked upstream")
            }
            "max-height" => {
                self.settings.lock().unwrap().max_height =
                    value.get().expect("type checked upstream")
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "output-incomplete" => self.settings.lock().unwrap().output_incomplete.to_value(),
            "max-width" => self.settings.lock().unwrap().max_width.to_value(),
            "max-height" => self.settings.lock().unwrap().max_height.to_value(),
            "stats" => self.stats().to_value(),
            _ => unimplemented!(),
        }
    }
}

impl DeltaDec {
    fn stats(&self) -> gst::Structure {
        let c = *self.counters.lock().unwrap();
        gst::Structure::builder("application/x-deltadec-stats")
            .field("frames", c.codec.frames)
            .field("keyframes", c.codec.keyframes)
            .field("frames-output", c.frames_output)
            .field("frames-withheld", c.frames_withheld)
            .field("frames-damaged", c.frames_damaged)
            .field("frames-rejected", c.codec.frames_rejected)
            .field("frames-oversized", c.codec.frames_oversized)
            .field("geometry-changes", c.codec.geometry_changes)
            .field(
                "geometry-changes-throttled",
                c.codec.geometry_changes_throttled,
            )
            .field("tiles-applied", c.codec.tiles_applied)
            .field("records-dropped", c.codec.records_dropped)
            .field("tiles-recalled", c.codec.tiles_recalled)
            .field("recall-misses", c.codec.recall_misses)
            .field("missing-tiles", c.missing_tiles)
            .field("stale-tiles", c.stale_tiles)
            .field("bytes", c.codec.bytes)
            .build()
    }

    /// Negotiates raw output for `geometry`. Called without any lock held:
    /// negotiation queries and informs downstream, and a downstream element
    /// or a synchronous bus handler may call straight back into this element.
    fn negotiate_output(
        &self,
        geometry: Geometry,
        input_state: Option<&InputState>,
    ) -> Result<gst_video::VideoInfo, gst::FlowError> {
        let format = crate::gstcommon::caps::video_format(geometry.format);
        let obj = self.obj();
        let output_state = obj
            .set_output_state(format, geometry.width, geometry.height, input_state)
            .map_err(|_| gst::FlowError::NotNegotiated)?;
        obj.negotiate(output_state).map_err(|_| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                [
                    "downstream refused {}x{} {}",
                    geometry.width,
                    geometry.height,
                    format.to_str()
                ]
            );
            gst::FlowError::NotNegotiated
        })?;
        let info = obj
            .output_state()
            .map(|s| s.info().clone())
            .ok_or(gst::FlowError::NotNegotiated)?;
        gst::info!(
            CAT,
            imp = self,
            "output {}x{} {}",
            geometry.width,
            geometry.height,
            format.to_str()
        );
        Ok(info)
    }

    /// The limits for the next frame: the properties, tightened by the
    /// input caps' width and height when they fix them.
    fn limits(settings: &Settings, caps_size: Option<(u32, u32)>) -> DecoderLimits {
        let (caps_w, caps_h) = caps_size.unwrap_or((u32::MAX, u32::MAX));
        DecoderLimits {
            max_width: settings.max_width.min(caps_w),
            max_height: settings.max_height.min(caps_h),
            ..DecoderLimits::default()
        }
    }
}

type InputState = gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>;

/// What `handle_frame` decided under the state lock, to act on after it.
enum Outcome {
    /// Not a frame, or refused whole: nothing changed on the canvas.
    Nothing,
    /// The picture is incomplete: drop the frame and ask for a keyframe.
    Withhold,
    /// Output the canvas, negotiating this first if it is set.
    Output(Option<(Geometry, Option<InputState>)>),
}

impl GstObjectImpl for DeltaDec {}

impl ElementImpl for DeltaDec {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Streamkit delta decoder",
                "Codec/Decoder/Video",
                "Keeps a picture and applies the tile updates of the changes-only bitstream, \
                 also from frames that lost some; until the picture is complete it withholds \
                 output and requests keyframes at most every min-force-key-unit-interval, \
                 which deltadec sets to 500000000 ns (the base class's own default is 0) \
                 (docs/bitstream.md). Example: gst-launch-1.0 videotestsrc num-buffers=30 ! \
                 video/x-raw,format=I420,width=320,height=240 ! deltaenc ! deltadec ! fakesink",
                "Streamkit developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let sink_caps = gst::Caps::new_empty_simple(crate::gstcommon::caps::MEDIA_TYPE);
            let src_caps = crate::gstcommon::caps::raw_template();
            crate::gstcommon::padtemplates::sink_and_src(&sink_caps, &src_caps)
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl VideoDecoderImpl for DeltaDec {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = Some(State::default());
        *self.counters.lock().unwrap() = Counters::default();
        // No reordering or lookahead: each frame is output when it arrives.
        self.obj()
            .set_latency(gst::ClockTime::ZERO, Some(gst::ClockTime::ZERO));
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn flush(&self) -> bool {
        // The canvas stays: tiles replace tiles, so what is held is still the
        // best picture; staleness is noted on the next damaged frame.
        true
    }

    fn set_format(&self, input_state: &InputState) -> Result<(), gst::LoggableError> {
        gst::debug!(CAT, imp = self, "input caps {:?}", input_state.caps());
        let caps_size = input_state
            .caps()
            .and_then(|caps| crate::gstcommon::caps::size_from_caps(caps.structure(0)?));
        let cache_tiles = input_state
            .caps()
            .and_then(|caps| caps.structure(0))
            .map_or(0, crate::gstcommon::caps::cache_tiles_from_caps);
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.input_state = Some(input_state.clone());
            state.caps_size = caps_size;
            state.decoder.set_cache_tiles(cache_tiles);
            // Renegotiate on the next frame so new framerate etc. apply.
            state.output = None;
        }
        Ok(())
    }

    fn handle_frame(
        &self,
        mut frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = *self.settings.lock().unwrap();
        // Decide under the lock, act after it: dropping, requesting a
        // keyframe, negotiating and allocating all call out of the element.
        let outcome = {
            let mut state_guard = self.state.lock().unwrap();
            let state = state_guard.as_mut().ok_or(gst::FlowError::Flushing)?;
            let input = frame.input_buffer().ok_or(gst::FlowError::Error)?;
            let damaged = input.flags().contains(gst::BufferFlags::CORRUPTED)
                || (state.frames_seen > 0 && input.flags().contains(gst::BufferFlags::DISCONT));
            state.frames_seen += 1;
            let map = input.map_readable().map_err(|_| gst::FlowError::Error)?;
            if damaged {
                state.decoder.note_loss();
            }
            state
                .decoder
                .set_limits(Self::limits(&settings, state.caps_size));
            let report = state.decoder.decode(&map, state.started.elapsed());
            drop(map);
            if let Some(e) = &report.error {
                gst::warning!(
                    CAT,
                    imp = self,
                    "frame {}: {} record(s) dropped: {e}",
                    frame.system_frame_number(),
                    report.records_dropped
                );
            }
            let withhold = report.header.is_some()
                && !state.decoder.is_complete()
                && !settings.output_incomplete;
            {
                let mut c = self.counters.lock().unwrap();
                c.codec = state.decoder.stats();
                c.frames_damaged += damaged as u64;
                c.missing_tiles = state.decoder.missing_tiles();
                c.stale_tiles = state.decoder.stale_tiles();
                c.frames_withheld += withhold as u64;
            }
            match report.header {
                None => Outcome::Nothing,
                Some(header) => {
                    if header.keyframe {
                        frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
                    }
                    if withhold {
                        gst::debug!(
                            CAT,
                            imp = self,
                            "withholding frame: {} of {} tiles never received",
                            state.decoder.missing_tiles(),
                            header.geometry.tile_count()
                        );
                        Outcome::Withhold
                    } else if state.output.as_ref().map(|(g, _)| *g) == Some(header.geometry) {
                        Outcome::Output(None)
                    } else {
                        Outcome::Output(Some((header.geometry, state.input_state.clone())))
                    }
                }
            }
        };

        let obj = self.obj();
        match outcome {
            Outcome::Nothing => {
                obj.drop_frame(frame)?;
                return Ok(gst::FlowSuccess::Ok);
            }
            Outcome::Withhold => {
                obj.request_sync_point(
                    &frame,
                    gst_video::VideoDecoderRequestSyncPointFlags::empty(),
                );
                obj.drop_frame(frame)?;
                return Ok(gst::FlowSuccess::Ok);
            }
            Outcome::Output(None) => {}
            Outcome::Output(Some((geometry, input_state))) => {
                let info = self.negotiate_output(geometry, input_state.as_ref())?;
                let mut state_guard = self.state.lock().unwrap();
                let state = state_guard.as_mut().ok_or(gst::FlowError::Flushing)?;
                state.output = Some((geometry, info));
            }
        }
        obj.allocate_output_frame(&mut frame, None)?;

        let state_guard = self.state.lock().unwrap();
        let state = state_guard.as_ref().ok_or(gst::FlowError::Flushing)?;
        let (geometry, info) = state.output.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
        let canvas = state.decoder.canvas().ok_or(gst::FlowError::Error)?;
        if canvas.geometry() != geometry {
            // Only this thread changes the canvas, so this cannot happen;
            // refuse rather than copy a picture of another size.
            return Err(gst::FlowError::NotNegotiated);
        }
        let copied = {
            let out = frame.output_buffer_mut().ok_or(gst::FlowError::Error)?;
            let mut vframe = gst_video::VideoFrameRef::from_buffer_ref_writable(out, info)
                .map_err(|_| gst::FlowError::Error)?;
            let strides: Vec<usize> = vframe
                .plane_stride()
                .iter()
                .map(|s| (*s).max(0) as usize)
                .collect();
            let n = vframe.n_planes() as usize;
            let planes = vframe
                .planes_data_mut()
                .into_iter()
                .take(n)
                .zip(strides)
                .collect();
            FrameViewMut::new(geometry, planes).map(|mut view| canvas.copy_to(&mut view))
        };
        drop(state_guard);
        if let Err(e) = copied {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ["output buffer too small: {e}"]
            );
            return Err(gst::FlowError::Error);
        }
        self.counters.lock().unwrap().frames_output += 1;
        obj.finish_frame(frame)
    }
}
