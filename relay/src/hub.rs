// SPDX-License-Identifier: MPL-2.0
//! The relay core shared between the ingest thread and the RTSP server's
//! media: viewers are GStreamer `appsrc`s here, frames are buffers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;
use gststreamkit::delta::DecoderLimits;
use gststreamkit::gstcommon::caps::cache_tiles_from_caps;
use gststreamkit::relay::gate::{JoinPolicy, KeyframeGate};
use gststreamkit::relay::{Relay, ViewerId};
use gststreamkit::rtp::{KeyframeRequestPacer, DEFAULT_MIN_KEYFRAME_INTERVAL};

/// The stream the relay carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    /// The changes-only stream: joiners get a picture from the relay.
    Delta,
    /// H.264 (for comparison): joiners wait for, or force, a keyframe.
    H264,
    /// MJPEG (for comparison): every frame is a picture.
    Jpeg,
}

impl Codec {
    /// The per-viewer payloader (named `pay0` for gst-rtsp-server).
    pub fn payloader(self) -> &'static str {
        match self {
            Codec::Delta => "rtpdeltapay",
            Codec::H264 => "rtph264pay",
            Codec::Jpeg => "rtpjpegpay",
        }
    }

    /// RTP caps of the origin's stream, and the chain from RTP to frames.
    pub fn ingest(self) -> (&'static str, &'static str) {
        match self {
            Codec::Delta => (
                "application/x-rtp,media=video,clock-rate=90000,encoding-name=X-STREAMKIT-DELTA,payload=96,rtcp-fb-nack-pli=(boolean)true",
                "rtpdeltadepay",
            ),
            // Parameter sets before every IDR, so a viewer starting at any
            // keyframe can decode it.
            Codec::H264 => (
                "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96,rtcp-fb-nack-pli=(boolean)true",
                "rtph264depay ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au",
            ),
            Codec::Jpeg => (
                "application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26",
                "rtpjpegdepay",
            ),
        }
    }
}

/// A frame shared by every viewer it goes to, without a copy.
struct SharedFrame(Arc<[u8]>);

impl AsRef<[u8]> for SharedFrame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The relay's counters, whatever it carries (0 where a field does not
/// apply: no snapshots for H.264).
#[derive(Debug, Clone, Copy, Default)]
pub struct HubStats {
    pub viewers: usize,
    pub joins: u64,
    pub leaves: u64,
    pub frames_in: u64,
    pub frames_damaged: u64,
    pub frames_refused: u64,
    /// Pictures made from the relay's state.
    pub snapshots: u64,
    /// Pictures that were the origin's own keyframes.
    pub keyframes_reused: u64,
    /// Viewers started (or restarted) with a picture: pictures handed to a
    /// viewer's running stream.
    pub pictures_served: u64,
    /// Pictures made for a viewer whose stream was not playing yet (between
    /// its PLAY and its media running): not sent, and not counted above;
    /// the viewer gets another once it runs.
    pub pictures_before_play: u64,
    /// Keyframe requests from viewers.
    pub viewer_requests: u64,
    /// Times a viewer's queue was over the bound: its frames were skipped
    /// until it could start again from a picture.
    pub slow_viewer_resyncs: u64,
    /// Keyframe requests the relay sent toward the origin.
    pub upstream_keyframe_requests: u64,
    /// Buffers pushed to viewers.
    pub buffers_out: u64,
}

/// The core for the stream the relay carries.
enum Core {
    Delta(Box<Relay>),
    Gated(KeyframeGate),
}

/// Who a buffer goes to: the viewer, its source, and whether it is skipping
/// frames because it fell behind.
type Recipient = (ViewerId, gst_app::AppSrc, bool);

impl Core {
    /// The viewer starts again from a picture (false: not a viewer).
    fn restart(&mut self, id: ViewerId) -> bool {
        match self {
            Core::Delta(relay) => relay.restart(id),
            Core::Gated(gate) => gate.restart(id),
        }
    }

    fn leave(&mut self, id: ViewerId) -> bool {
        match self {
            Core::Delta(relay) => relay.leave(id),
            Core::Gated(gate) => gate.leave(id),
        }
    }
}

/// A viewer's source, and which of the stream's caps it was given.
struct Sink {
    src: gst_app::AppSrc,
    caps_serial: u64,
    /// Fell behind: its frames are skipped until its queue has drained to
    /// half the bound; then it asks for a picture, once.
    skipping: bool,
}

struct Inner {
    core: Core,
    caps: Option<gst::Caps>,
    /// Bumped whenever `caps` changes (a new geometry).
    caps_serial: u64,
    sinks: BTreeMap<ViewerId, Sink>,
    pacer: KeyframeRequestPacer,
    slow_viewer_resyncs: u64,
    pictures_before_play: u64,
    buffers_out: u64,
}

/// The relay and its viewers' sources.
pub struct Hub {
    inner: Mutex<Inner>,
    /// Every frame of the stream is a picture (MJPEG), whatever its flags.
    all_intra: bool,
    /// A viewer with more queued than this is slow.
    max_queue_bytes: u64,
    epoch: Instant,
    /// Where keyframe requests to the origin go: the ingest's last pad.
    upstream: Mutex<Option<gst::Pad>>,
}

impl Hub {
    pub fn new(codec: Codec, policy: JoinPolicy, max_queue_bytes: u64) -> Arc<Self> {
        let core = match codec {
            Codec::Delta => Core::Delta(Box::new(Relay::new(DecoderLimits::default()))),
            Codec::H264 | Codec::Jpeg => Core::Gated(KeyframeGate::new(policy)),
        };
        Arc::new(Hub {
            all_intra: codec == Codec::Jpeg,
            inner: Mutex::new(Inner {
                core,
                caps: None,
                caps_serial: 0,
                sinks: BTreeMap::new(),
                pacer: KeyframeRequestPacer::default(),
                slow_viewer_resyncs: 0,
                pictures_before_play: 0,
                buffers_out: 0,
            }),
            max_queue_bytes,
            epoch: Instant::now(),
            upstream: Mutex::new(None),
        })
    }

    /// Keyframe requests to the origin leave from `pad` (upstream).
    pub fn set_upstream(&self, pad: gst::Pad) {
        *self.upstream.lock().unwrap() = Some(pad);
    }

    /// Asks the origin for a keyframe, at most once per 500 ms.
    fn ask_origin(&self) {
        let now = self.epoch.elapsed();
        let go = self
            .inner
            .lock()
            .unwrap()
            .pacer
            .try_request(now, DEFAULT_MIN_KEYFRAME_INTERVAL);
        let pad = self.upstream.lock().unwrap().clone();
        if let (true, Some(pad)) = (go, pad) {
            let event = gst_video::UpstreamForceKeyUnitEvent::builder()
                .all_headers(true)
                .build();
            pad.push_event(event);
        }
    }

    /// A new viewer fed through `src`; its first buffer is a whole picture.
    /// `src` is given the stream's caps with its first buffer (a viewer may
    /// come before the stream: its DESCRIBE is answered once frames flow).
    pub fn add_viewer(&self, src: gst_app::AppSrc) -> ViewerId {
        let (id, ask) = {
            let mut inner = self.inner.lock().unwrap();
            let (id, ask) = match &mut inner.core {
                Core::Delta(relay) => (relay.join(), false),
                Core::Gated(gate) => gate.join(),
            };
            inner.sinks.insert(
                id,
                Sink {
                    src,
                    caps_serial: 0,
                    skipping: false,
                },
            );
            (id, ask)
        };
        if ask {
            self.ask_origin();
        }
        id
    }

    /// The viewer is gone (its media was unprepared: TEARDOWN, time-out or
    /// a closed connection).
    pub fn remove_viewer(&self, id: ViewerId) {
        let mut inner = self.inner.lock().unwrap();
        inner.core.leave(id);
        inner.sinks.remove(&id);
    }

    /// The viewer asked for a keyframe (RTCP PLI/FIR through its own
    /// session): for the changes-only stream it alone gets a picture;
    /// otherwise the origin must be asked, and everybody gets a keyframe.
    pub fn request_picture(&self, id: ViewerId) {
        let forward = {
            let mut inner = self.inner.lock().unwrap();
            match &mut inner.core {
                Core::Delta(relay) => {
                    relay.request_picture(id);
                    false
                }
                Core::Gated(gate) => {
                    gate.note_viewer_request();
                    true
                }
            }
        };
        if forward {
            self.ask_origin();
        }
    }

    pub fn stats(&self) -> HubStats {
        let inner = self.inner.lock().unwrap();
        let mut s = HubStats {
            slow_viewer_resyncs: inner.slow_viewer_resyncs,
            pictures_before_play: inner.pictures_before_play,
            upstream_keyframe_requests: inner.pacer.requests(),
            buffers_out: inner.buffers_out,
            ..HubStats::default()
        };
        match &inner.core {
            Core::Delta(relay) => {
                let c = relay.stats();
                s.viewers = relay.viewer_count();
                s.joins = c.joins;
                s.leaves = c.leaves;
                s.frames_in = c.frames_in;
                s.frames_damaged = c.frames_damaged;
                s.frames_refused = c.frames_refused;
                s.snapshots = c.snapshots;
                s.keyframes_reused = c.keyframes_reused;
                s.pictures_served = c.pictures_served.saturating_sub(inner.pictures_before_play);
                s.viewer_requests = c.viewer_requests;
            }
            Core::Gated(gate) => {
                let c = gate.stats();
                s.viewers = gate.viewer_count();
                s.joins = c.joins;
                s.leaves = c.leaves;
                s.frames_in = c.frames_in;
                let served = c.pictures_served.saturating_sub(inner.pictures_before_play);
                s.keyframes_reused = served;
                s.pictures_served = served;
                s.viewer_requests = c.viewer_requests;
            }
        }
        s
    }

    /// Takes one frame from the ingest (`caps` its caps) and hands it, or a
    /// picture, to every viewer; asks the origin for a keyframe when the
    /// relay cannot serve a joiner from its own state.
    pub fn ingest(&self, caps: Option<&gst::CapsRef>, buffer: &gst::BufferRef) {
        let flags = buffer.flags();
        let damaged = flags.intersects(gst::BufferFlags::DISCONT | gst::BufferFlags::CORRUPTED);
        let now = self.epoch.elapsed();
        // Each buffer, whether it is a picture, and to whom.
        let mut sends: Vec<(gst::Buffer, bool, Vec<Recipient>)> = Vec::new();
        let mut new_caps: Vec<(gst_app::AppSrc, gst::Caps)> = Vec::new();
        let mut needs_keyframe = false;
        {
            let mut inner = self.inner.lock().unwrap();
            if let Some(caps) = caps {
                if inner.caps.as_deref() != Some(caps) {
                    inner.caps = Some(caps.to_owned());
                    inner.caps_serial += 1;
                    if let (Core::Delta(relay), Some(s)) = (&mut inner.core, caps.structure(0)) {
                        relay.set_cache_tiles(cache_tiles_from_caps(s));
                    }
                }
            }
            let deliveries: Vec<(gst::Buffer, bool, Vec<ViewerId>)> = match &mut inner.core {
                Core::Delta(relay) => {
                    let Ok(map) = buffer.map_readable() else {
                        return;
                    };
                    let outcome = relay.ingest(&map, damaged, now);
                    needs_keyframe = outcome.needs_keyframe;
                    outcome
                        .deliveries
                        .into_iter()
                        .map(|d| {
                            let buf = gst::Buffer::from_slice(SharedFrame(d.frame));
                            (buf, d.picture, d.viewers)
                        })
                        .collect()
                }
                Core::Gated(gate) => {
                    // A JPEG is a whole picture, whatever its flags say.
                    let keyframe = self.all_intra || !flags.contains(gst::BufferFlags::DELTA_UNIT);
                    let to = gate.ingest(keyframe);
                    // The same memory for every viewer. The ingest's times
                    // belong to another pipeline: cleared, so that each
                    // viewer's appsrc stamps its own (do-timestamp), as it
                    // does the changes-only stream's frames.
                    let mut buf = buffer.to_owned();
                    {
                        let b = buf.make_mut();
                        b.unset_flags(gst::BufferFlags::DISCONT);
                        b.set_pts(gst::ClockTime::NONE);
                        b.set_dts(gst::ClockTime::NONE);
                        b.set_duration(gst::ClockTime::NONE);
                    }
                    // The viewers it starts and the others apart: a
                    // picture made for a viewer that is not playing yet
                    // is not served (`pictures_before_play`).
                    let (first, rest): (Vec<_>, Vec<_>) = to.into_iter().partition(|(_, f)| *f);
                    let ids = |v: Vec<(ViewerId, bool)>| v.into_iter().map(|(id, _)| id).collect();
                    vec![(buf.clone(), true, ids(first)), (buf, false, ids(rest))]
                }
            };
            let (serial, caps) = (inner.caps_serial, inner.caps.clone());
            for (buf, picture, viewers) in deliveries {
                let mut to = Vec::with_capacity(viewers.len());
                for id in &viewers {
                    let Some(sink) = inner.sinks.get_mut(id) else {
                        continue;
                    };
                    if sink.caps_serial != serial {
                        if let Some(caps) = &caps {
                            new_caps.push((sink.src.clone(), caps.clone()));
                        }
                        sink.caps_serial = serial;
                    }
                    to.push((*id, sink.src.clone(), sink.skipping));
                }
                sends.push((buf, picture, to));
            }
        }
        // Pushing happens outside the lock (docs/architecture.md, "Locks").
        for (src, caps) in new_caps {
            src.set_caps(Some(&caps));
        }
        let mut fell_behind = Vec::new();
        let mut caught_up = Vec::new();
        // Viewers that start again from a picture: those not running yet
        // and those that caught up.
        let mut restart = Vec::new();
        let mut pushed = 0u64;
        let mut pictures_before_play = 0;
        for (buf, picture, to) in sends {
            for (id, src, skipping) in to {
                // Only into a running stream: between a viewer's DESCRIBE
                // and its PLAY the media is paused, and while its pipeline
                // changes state its clock and base time may not agree yet,
                // so a frame stamped then (do-timestamp) could be held far
                // in the future. It gets a picture once it runs.
                if src.current_state() != gst::State::Playing {
                    pictures_before_play += picture as u64;
                    restart.push(id);
                    continue;
                }
                let level = src.current_level_bytes();
                if skipping {
                    if level <= self.max_queue_bytes / 2 {
                        caught_up.push(id);
                        restart.push(id);
                    }
                    continue;
                }
                if level > self.max_queue_bytes {
                    fell_behind.push(id);
                    continue;
                }
                // A viewer whose media is shutting down refuses buffers;
                // its removal follows from the media's unprepared signal.
                if src.push_buffer(buf.copy()).is_ok() {
                    pushed += 1;
                }
            }
        }
        {
            let mut inner = self.inner.lock().unwrap();
            inner.buffers_out += pushed;
            inner.pictures_before_play += pictures_before_play;
            // A viewer that fell behind skips frames until it has caught
            // up, then starts again from a picture (one, made when it can
            // take it): nobody else is affected.
            for id in fell_behind {
                if let Some(sink) = inner.sinks.get_mut(&id) {
                    sink.skipping = true;
                    inner.slow_viewer_resyncs += 1;
                }
            }
            for id in caught_up {
                if let Some(sink) = inner.sinks.get_mut(&id) {
                    sink.skipping = false;
                }
            }
            for id in restart {
                inner.core.restart(id);
            }
        }
        if needs_keyframe {
            // Only the relay's own gaps reach the origin.
            self.ask_origin();
        }
    }
}
