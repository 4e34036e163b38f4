// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-rtpdeltadepay
 *
 * `rtpdeltadepay` collects the RTP packets of one timestamp (see
 * `rtpdeltapay` and `docs/rtp-payload.md`) back into a delta frame for
 * `deltadec`. It passes on whatever arrived: a frame with a hole is still
 * output, flagged `CORRUPTED` (and `DISCONT` when whole packets or frames
 * were lost before it), so the decoder applies the tiles that arrived and
 * counts the damage. Fragments of a record are reassembled, or the record is
 * dropped whole if one is missing.
 *
 * Reordered and duplicated packets are handled with or without an
 * `rtpjitterbuffer` in front: packets reordered by up to 16 sequence
 * numbers, or by up to one frame, are absorbed, and the base class's
 * dropping of out-of-order packets is disabled (`max-reorder=0`) so they
 * reach the assembler. A frame with a hole is output, its missing packets
 * taken as lost (`frames-given-up`), 10 ms after its marker packet, or as
 * soon as a packet more than 16 sequence numbers past its end arrives, or
 * when the next frame completes; so one whose marker packet is lost waits
 * for the next frame at most.
 *
 * On a loss it asks upstream for a keyframe with a GstForceKeyUnit event, at
 * most once per `min-keyframe-interval` (nanoseconds, default 500 ms; 0 asks
 * on every loss), unless `request-keyframe` is off; `rtpbin` turns that into an RTCP
 * PLI toward the sender, whose `rtpbin` turns it back into a GstForceKeyUnit
 * event for `deltaenc`. With `deltaenc intra-refresh` on, the picture heals
 * within the refresh period even without a return path.
 *
 * `DISCONT` is set only where packets were really lost (not merely
 * reordered), so `deltadec` counts only real damage. A new SSRC (sender
 * restart) outputs the frames in progress and starts over.
 *
 * Malformed packets (too short, wrong header, fragment out of range, tile
 * outside the frame, ...) are dropped with a warning and counted in
 * `delta-stats` (the base class already owns the name `stats`).
 *
 * The receive path is bounded: a frame header announcing more than
 * `max-width` x `max-height` pixels (default 4096x2304), or a geometry other
 * than the RTP caps' when they carry one, is dropped before anything is
 * allocated for it (`geometry-rejected`); a frame holds at most 4x its raw
 * size + 1 MiB, never over 256 MiB (`over-frame-bytes`), and 16,384 pieces
 * of incomplete fragmented records (`over-fragment-pieces`); at most two
 * frames are in progress (`frames-evicted` counts the ones pushed out), and
 * one still incomplete 200 ms after its first packet is output with its holes
 * (`frames-expired`), checked on every packet, every reported loss, and by a
 * timer on the system clock, so a stream that stops dead without EOS still
 * gets its last frame out.
 * Bus warnings and keyframe requests are never sent while the element holds
 * its own lock, so a synchronous bus handler may read `delta-stats`.
 *
 * ## Example launch lines
 * Receiver:
 * |[
 * gst-launch-1.0 udpsrc port=5000 caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=X-STREAMKIT-DELTA,payload=96" ! rtpjitterbuffer latency=50 ! rtpdeltadepay ! deltadec ! videoconvert ! autovideosink
 * ]|
 * A sender for it:
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=300 is-live=true ! video/x-raw,width=640,height=360,framerate=30/1 ! deltaenc ! rtpdeltapay ! udpsink host=127.0.0.1 port=5000
 * ]|
 * `pipelines/rtp-delta-send.sh` and `pipelines/rtp-delta-recv.sh` add
 * `rtpbin` with RTCP both ways, so that keyframe requests reach the sender.
 */
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtp::prelude::*;
use gst_rtp::subclass::prelude::*;

use once_cell::sync::Lazy;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::dropped::Dropped;
use super::settings::Settings;
use super::timer::ExpiryTimer;
use crate::delta::Geometry;
use crate::rtp::{
    AssembledFrame, AssemblerLimits, DepacketizeError, FrameAssembler, KeyframeRequestPacer,
    PacketMeta, CLOCK_RATE, ENCODING_NAME, RESTART_AFTER_TICKS,
};

pub(super) static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "rtpdeltadepay",
        gst::DebugColorFlags::empty(),
        Some("RTP depayloader for the Streamkit delta stream"),
    )
});

pub(super) struct State {
    pub(super) assembler: FrameAssembler<Option<gst::ClockTime>>,
    /// Geometry of the caps last pushed downstream.
    out_geometry: Option<Geometry>,
    /// The decoder's cache size from the RTP caps (SDP `cache-tiles`),
    /// passed on in the output caps.
    cache_tiles: u32,
    pub(super) last_warning: Option<Instant>,
    keyframe_pacer: KeyframeRequestPacer,
    /// The assembler's DISCONT verdict on the buffer being pushed right
    /// now, for the src-pad probe (see `constructed`). Set just before every
    /// push of ours and taken by the probe; pushes are serialized by the
    /// sink pad's stream lock, so one slot is enough.
    discont_verdict: Option<bool>,
    /// The assembler's clock, and the one its time-outs are scheduled on:
    /// the same clock for both, so a wake-up at a deadline finds that
    /// frame due. Not the pipeline clock, which may be absent, paused or
    /// slaved, while the time-out is meant in real time.
    pub(super) clock: gst::Clock,
    /// The wake-up scheduled for the assembler's earliest deadline, if any;
    /// a callback whose id is not this one was cancelled or replaced.
    pub(super) expiry_timer: Option<ExpiryTimer>,
    /// Whether wake-ups may be scheduled: from start until stop begins, so
    /// that the streaming thread cannot schedule one while stopping.
    pub(super) timers_allowed: bool,
}

impl State {
    /// A fresh state for a start, whose assembler works within `settings`'
    /// bounds.
    fn new(settings: &Settings) -> Self {
        let mut state = State {
            timers_allowed: true,
            ..State::default()
        };
        state.assembler.set_limits(AssemblerLimits {
            max_width: settings.max_width,
            max_height: settings.max_height,
            ..AssemblerLimits::default()
        });
        state
    }

    /// The assembler's clock.
    pub(super) fn now(&self) -> Duration {
        self.clock.time().into()
    }
}

impl Default for State {
    fn default() -> Self {
        State {
            assembler: FrameAssembler::new(RESTART_AFTER_TICKS),
            out_geometry: None,
            cache_tiles: 0,
            last_warning: None,
            keyframe_pacer: KeyframeRequestPacer::default(),
            discont_verdict: None,
            clock: gst::SystemClock::obtain(),
            expiry_timer: None,
            timers_allowed: false,
        }
    }
}

#[derive(Default)]
pub struct RtpDeltaDepay {
    settings: Mutex<Settings>,
    pub(super) state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpDeltaDepay {
    const NAME: &'static str = "GstRtpDeltaDepay";
    type Type = super::RtpDeltaDepay;
    type ParentType = gst_rtp::RTPBaseDepayload;
}

impl ObjectImpl for RtpDeltaDepay {
    fn constructed(&self) {
        self.parent_constructed();
        // The base class drops any packet older than the last one; the
        // assembler reorders and de-duplicates itself, so let them through.
        self.obj().set_property("max-reorder", 0i32);
        // The base class flags DISCONT on the next buffer it pushes after
        // any sequence gap, reordering included, and offers no way to stop
        // it: its flag is private and applied inside its push, after the
        // buffer has left us. The assembler knows better (it saw whether
        // anything was really lost), so a probe puts its verdict back on
        // each buffer as it leaves.
        let weak = self.obj().downgrade();
        self.obj()
            .src_pad()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let Some(obj) = weak.upgrade() else {
                    return gst::PadProbeReturn::Ok;
                };
                let verdict = obj.imp().state.lock().unwrap().discont_verdict.take();
                if let (Some(discont), Some(buffer)) = (verdict, info.buffer_mut()) {
                    if buffer.flags().contains(gst::BufferFlags::DISCONT) != discont {
                        let buffer = buffer.make_mut();
                        if discont {
                            buffer.set_flags(gst::BufferFlags::DISCONT);
                        } else {
                            buffer.unset_flags(gst::BufferFlags::DISCONT);
                        }
                    }
                }
                gst::PadProbeReturn::Ok
            });
    }

    fn dispose(&self) {
        // Normally cancelled at stop already; an element dropped while
        // running would otherwise leave its wake-up in the clock's queue
        // until the deadline.
        if let Ok(mut state) = self.state.lock() {
            let timer = state.stop_timer();
            drop(state);
            self.apply_timer(timer);
        }
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(super::settings::param_specs);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let (max_width, max_height) = {
            let mut settings = self.settings.lock().unwrap();
            match pspec.name() {
                "request-keyframe" => {
                    settings.request_keyframe = value.get().expect("type checked upstream")
                }
                "min-keyframe-interval" => {
                    settings.min_keyframe_interval = value.get().expect("type checked upstream")
                }
                "max-width" => settings.max_width = value.get().expect("type checked upstream"),
                "max-height" => settings.max_height = value.get().expect("type checked upstream"),
                other => unreachable!("unknown property {other}"),
            }
            (settings.max_width, settings.max_height)
        };
        // Takes effect from the next packet, also while playing.
        let mut state = self.state.lock().unwrap();
        let limits = AssemblerLimits {
            max_width,
            max_height,
            ..state.assembler.limits()
        };
        state.assembler.set_limits(limits);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "request-keyframe" => self.settings.lock().unwrap().request_keyframe.to_value(),
            "min-keyframe-interval" => self
                .settings
                .lock()
                .unwrap()
                .min_keyframe_interval
                .to_value(),
            "max-width" => self.settings.lock().unwrap().max_width.to_value(),
            "max-height" => self.settings.lock().unwrap().max_height.to_value(),
            "delta-stats" => self.stats().to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl RtpDeltaDepay {
    fn stats(&self) -> gst::Structure {
        let state = self.state.lock().unwrap();
        let s = state.assembler.stats();
        gst::Structure::builder("application/x-rtpdeltadepay-stats")
            .field("packets", s.packets)
            .field("duplicates", s.duplicates)
            .field("late", s.late)
            .field("malformed", s.malformed)
            .field("frames", s.frames)
            .field("frames-with-loss", s.frames_with_loss)
            .field("fragments-dropped", s.fragments_dropped)
            .field("restarts", s.restarts)
            .field("geometry-rejected", s.geometry_rejected)
            .field("over-frame-bytes", s.over_frame_bytes)
            .field("over-fragment-pieces", s.over_fragment_pieces)
            .field("frames-evicted", s.frames_evicted)
            .field("frames-given-up", s.frames_given_up)
            .field("frames-expired", s.frames_expired)
            .field("lost-events", s.lost_events)
            .field("keyframe-requests", state.keyframe_pacer.requests())
            .build()
    }

    /// Whether a keyframe request may go out now (and records that it does).
    fn keyframe_request_due(&self, state: &mut State) -> bool {
        let settings = *self.settings.lock().unwrap();
        if !settings.request_keyframe {
            return false;
        }
        let now = state.now();
        state
            .keyframe_pacer
            .try_request(now, Duration::from_nanos(settings.min_keyframe_interval))
    }

    fn request_keyframe(&self) {
        gst::debug!(CAT, imp = self, "loss: asking upstream for a keyframe");
        let event = gst_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build();
        if !self.obj().sink_pad().push_event(event) {
            gst::debug!(
                CAT,
                imp = self,
                "nobody upstream handled the keyframe request"
            );
        }
    }

    /// Pushes finished frames downstream, with new caps when the geometry
    /// changes, except the last, which is returned for the base class to push
    /// so that its flow return reaches upstream. Must be called without the
    /// state lock.
    pub(super) fn push_frames(
        &self,
        frames: Vec<AssembledFrame<Option<gst::ClockTime>>>,
    ) -> Result<Option<gst::Buffer>, gst::FlowError> {
        let obj = self.obj();
        let mut request = false;
        let mut last = None;
        for frame in frames {
            if let Some((buffer, discont)) = last.take() {
                self.state.lock().unwrap().discont_verdict = Some(discont);
                obj.push(buffer)?;
            }
            let header = frame.header;
            let new_caps = {
                let mut state = self.state.lock().unwrap();
                if frame.damaged() && self.keyframe_request_due(&mut state) {
                    request = true;
                }
                if state.out_geometry != Some(header.geometry) {
                    state.out_geometry = Some(header.geometry);
                    Some(crate::gstcommon::caps::for_stream(
                        &header.geometry,
                        state.cache_tiles,
                    ))
                } else {
                    None
                }
            };
            if let Some(caps) = new_caps {
                gst::info!(CAT, imp = self, "output caps {caps}");
                if !obj.src_pad().push_event(gst::event::Caps::new(&caps)) {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Negotiation,
                        ["downstream refused {caps}"]
                    );
                    return Err(gst::FlowError::NotNegotiated);
                }
            }
            gst::log!(
                CAT,
                imp = self,
                "frame {} ts {}: {} bytes, complete {}, loss before {}",
                header.frame_number,
                frame.timestamp,
                frame.data.len(),
                frame.complete,
                frame.loss_before
            );
            let mut buffer = gst::Buffer::from_mut_slice(frame.data);
            {
                let b = buffer.get_mut().expect("new buffer is writable");
                b.set_pts(frame.tag);
                if !frame.complete {
                    b.set_flags(gst::BufferFlags::CORRUPTED);
                }
                if frame.loss_before {
                    b.set_flags(gst::BufferFlags::DISCONT);
                }
                if !header.keyframe {
                    b.set_flags(gst::BufferFlags::DELTA_UNIT);
                }
            }
            last = Some((buffer, frame.loss_before));
        }
        if request {
            self.request_keyframe();
        }
        // The base class pushes it as soon as this returns.
        Ok(last.map(|(buffer, discont)| {
            self.state.lock().unwrap().discont_verdict = Some(discont);
            buffer
        }))
    }
}

impl GstObjectImpl for RtpDeltaDepay {}

impl ElementImpl for RtpDeltaDepay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP Streamkit delta depayloader",
                "Codec/Depayloader/Network/RTP",
                "Rebuilds changes-only delta frames from RTP packets, passing on whatever \
                 arrived (a frame with a hole is flagged CORRUPTED, and released 200 ms after \
                 its first packet at the latest) and asking for a keyframe on loss; frames over \
                 max-width x max-height are dropped and counted (docs/rtp.md). Example: \
                 gst-launch-1.0 videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240 ! \
                 deltaenc ! rtpdeltapay ! rtpdeltadepay ! deltadec ! fakesink",
                "Streamkit developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let sink_caps = gst::Caps::builder("application/x-rtp")
                .field("media", "video")
                .field("clock-rate", CLOCK_RATE as i32)
                .field("encoding-name", ENCODING_NAME)
                .build();
            let src_caps = crate::gstcommon::caps::template();
            crate::gstcommon::padtemplates::sink_and_src(&sink_caps, &src_caps)
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::ReadyToPaused => {
                let settings = *self.settings.lock().unwrap();
                *self.state.lock().unwrap() = State::new(&settings);
            }
            gst::StateChange::PausedToReady => {
                gst::info!(CAT, imp = self, "stopping: {}", self.stats());
                // Before the pads are deactivated, so that from here on
                // neither the streaming thread nor a callback can schedule a
                // wake-up, and a callback that has already fired (perhaps
                // waiting for the stream lock) finds it was cancelled and
                // pushes nothing. A callback pushing right now holds the
                // stream lock, which deactivation takes next, so its push
                // ends before the pads are down. Cancelling holds no lock
                // (the state lock is released first, and unscheduling does
                // not wait for a running callback), so it cannot deadlock
                // against a callback holding the stream lock.
                let timer = self.state.lock().unwrap().stop_timer();
                self.apply_timer(timer);
            }
            _ => {}
        }
        self.parent_change_state(transition)
    }
}

impl RTPBaseDepayloadImpl for RtpDeltaDepay {
    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "empty caps"))?;
        // Every packet carries the frame header, so caps without the fmtp
        // parameters are fine: output caps then follow the first frame.
        let geometry = crate::gstcommon::caps::geometry_from_caps(s).ok();
        let cache_tiles = crate::gstcommon::caps::cache_tiles_from_caps(s);
        let refused = {
            let mut state = self.state.lock().unwrap();
            state.cache_tiles = cache_tiles;
            let limits = AssemblerLimits {
                expected_geometry: geometry,
                ..state.assembler.limits()
            };
            state.assembler.set_limits(limits);
            let refused = geometry.and_then(|g| {
                limits
                    .check_geometry(&g)
                    .err()
                    .map(|e| (e, limits.max_width, limits.max_height))
            });
            if refused.is_none() && geometry.is_some() {
                state.out_geometry = geometry;
            }
            refused
        };
        if let Some((e, max_width, max_height)) = refused {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                (
                    "The stream is larger than this receiver accepts ({}x{}): raise max-width/max-height",
                    max_width,
                    max_height
                ),
                ["{e}"]
            );
            return Err(gst::loggable_error!(CAT, "{e}"));
        }
        let Some(geometry) = geometry else {
            gst::debug!(CAT, imp = self, "caps carry no geometry: {caps}");
            return Ok(());
        };
        let out = crate::gstcommon::caps::for_stream(&geometry, cache_tiles);
        if self.obj().src_pad().push_event(gst::event::Caps::new(&out)) {
            Ok(())
        } else {
            Err(gst::loggable_error!(CAT, "downstream refused {out}"))
        }
    }

    fn handle_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => {
                let timer = {
                    let mut state = self.state.lock().unwrap();
                    state.assembler.reset();
                    // Nothing is pending any more: cancels the wake-up.
                    state.update_timer()
                };
                self.apply_timer(timer);
            }
            gst::EventView::Eos(_) => {
                let mut frames = Vec::new();
                let timer = {
                    let mut state = self.state.lock().unwrap();
                    state.assembler.drain(&mut frames);
                    state.update_timer()
                };
                self.apply_timer(timer);
                match self.push_frames(frames) {
                    Ok(Some(last)) => {
                        let _ = self.obj().push(last);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        gst::debug!(CAT, imp = self, "pushing the last frames at EOS: {e:?}")
                    }
                }
            }
            _ => {}
        }
        self.parent_handle_event(event)
    }

    fn packet_lost(&self, event: &gst::EventRef) -> bool {
        gst::debug!(CAT, imp = self, "jitterbuffer reports loss: {event:?}");
        let mut frames = Vec::new();
        let (request, timer) = {
            let mut state = self.state.lock().unwrap();
            state.assembler.note_loss();
            let now = state.now();
            state.assembler.expire(now, &mut frames);
            (self.keyframe_request_due(&mut state), state.update_timer())
        };
        self.apply_timer(timer);
        if request {
            self.request_keyframe();
        }
        // A jitterbuffer reports losses by its own timer, so a stream that
        // stalls still gets its last frame out here.
        match self.push_frames(frames) {
            Ok(Some(last)) => {
                if let Err(e) = self.obj().push(last) {
                    gst::debug!(CAT, imp = self, "pushing an expired frame: {e:?}");
                }
            }
            Ok(None) => {}
            Err(e) => gst::debug!(CAT, imp = self, "pushing expired frames: {e:?}"),
        }
        // No GAP event: the decoder keeps showing its canvas, and the next
        // frame that arrives carries the loss flag.
        true
    }

    fn process_rtp_packet(
        &self,
        rtp: &gst_rtp::RTPBuffer<gst_rtp::rtp_buffer::Readable>,
    ) -> Option<gst::Buffer> {
        let meta = PacketMeta {
            timestamp: rtp.timestamp(),
            seqnum: rtp.seq(),
            marker: rtp.is_marker(),
        };
        let pts = rtp.buffer().pts();
        // Not `rtp.payload()`: the binding hands us a by-value copy of the
        // base class's GstRTPBuffer, and for a buffer of several memories
        // (udpsrc splits every datagram larger than its mtu) the payload is
        // mapped into that copy's map[2], which nobody ever unmaps: a merged
        // copy of the payload leaked per packet. A sub-buffer mapped here is
        // unmapped when `payload_map` goes out of scope.
        let empty = rtp.payload_size() == 0;
        let payload_map = (!empty)
            .then(|| {
                rtp.payload_buffer()
                    .ok()?
                    .into_mapped_buffer_readable()
                    .ok()
            })
            .flatten();
        let payload = match &payload_map {
            Some(map) => Ok(map.as_slice()),
            None if empty => Ok(&[][..]),
            None => Err(DepacketizeError::TooShort(0)),
        };
        let mut frames = Vec::new();
        let (warning, timer) = {
            let mut state = self.state.lock().unwrap();
            let ssrc = rtp.ssrc();
            if state.assembler.set_source(ssrc, &mut frames) {
                gst::info!(CAT, imp = self, "new SSRC {ssrc:#010x}: starting over");
            }
            // Before the packet: a frame past its time-out goes out ahead
            // of anything this packet completes.
            let now = state.now();
            state.assembler.expire(now, &mut frames);
            let result = match payload {
                Ok(payload) => state.assembler.push(meta, payload, pts, &mut frames),
                Err(e) => Err(e),
            };
            let warning = match result {
                Ok(outcome) => {
                    gst::trace!(
                        CAT,
                        imp = self,
                        "seq {} ts {}: {outcome:?}",
                        meta.seqnum,
                        meta.timestamp
                    );
                    None
                }
                Err(e) => {
                    let dropped = Dropped {
                        what: format!("seq {} ts {}: {e}", meta.seqnum, meta.timestamp),
                        beyond_limits: e.exceeds_limits(),
                    };
                    self.note_dropped(&mut state, dropped)
                }
            };
            (warning, state.update_timer())
        };
        self.apply_timer(timer);
        if let Some(dropped) = warning {
            self.post_dropped_warning(&dropped);
        }
        match self.push_frames(frames) {
            Ok(last) => last,
            Err(e) => {
                gst::debug!(CAT, imp = self, "push failed: {e:?}");
                None
            }
        }
    }
}
