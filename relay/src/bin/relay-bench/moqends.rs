// SPDX-License-Identifier: MPL-2.0
//! The Media over QUIC ends of the bench (docs/moq.md): the origin (the
//! RTSP mode's scene and encoder, then `moqsink`, as tests/moq.rs's origin)
//! and light viewers (`moqsrc ! fakesink`, a pipeline each). A probe on
//! each side's pad notes every frame's number and time, so the light
//! viewers fill the same records as the RTSP mode's.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use benchkit::pipeline::{check_bus, parse};
use benchkit::scene::Scene;
use gst::prelude::*;
use gststreamkit::delta::bitstream::FRAME_HEADER_LEN;
use gststreamkit::delta::FrameHeader;
use serde::{Deserialize, Serialize};

use crate::light::SessionRecord;
use crate::origin::{encoded_scene, encoder_keyframes, Sent};
use crate::rtpheader::FrameNumberTally;

/// Where a broadcast is: a relay's URL, its certificate's fingerprint, the
/// broadcast's name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Broadcast {
    pub url: String,
    pub fingerprint: String,
    pub name: String,
}

impl Broadcast {
    /// A launch fragment: element `factory` (moqsink, moqsrc) called `name`
    /// set to this broadcast.
    pub fn element(&self, factory: &str, name: &str) -> String {
        format!(
            "{factory} name={name} url={} broadcast={} fingerprint={}",
            self.url, self.name, self.fingerprint
        )
    }
}

/// The encoder's frame number in a changes-only frame (or composite).
fn frame_number(frame: &[u8]) -> Option<u32> {
    let header = frame.get(..FRAME_HEADER_LEN)?;
    FrameHeader::parse(header).ok().map(|h| h.frame_number)
}

/// What the origin handed moqsink.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// Bytes of the frames by time, frames, gaps between them.
    pub sent: Sent,
    /// When each frame (by number) reached moqsink.
    pub left: HashMap<u32, Instant>,
}

/// moqsink's counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct SinkSample {
    pub at: Instant,
    pub frames: u64,
    pub bytes: u64,
    pub keyframes: u64,
    pub snapshots: u64,
    pub snapshot_bytes: u64,
    pub wire_bytes_lost: u64,
    pub snapshots_held: u64,
}

impl SinkSample {
    /// Reads `sink`'s `stats` now.
    fn read(sink: &gst::Element) -> Self {
        let stats = sink.property::<gst::Structure>("stats");
        let get = |f: &str| stats.get::<u64>(f).unwrap_or(0);
        SinkSample {
            at: Instant::now(),
            frames: get("frames"),
            bytes: get("bytes"),
            keyframes: get("keyframes"),
            snapshots: get("snapshots"),
            snapshot_bytes: get("snapshot-bytes"),
            wire_bytes_lost: get("wire-bytes-lost"),
            snapshots_held: get("snapshots-held"),
        }
    }
}

/// How often moqsink's counters are read.
const SINK_SAMPLING: Duration = Duration::from_millis(100);

/// The publisher.
pub struct MoqOrigin {
    pipeline: gst::Pipeline,
    sink: gst::Element,
    published: Arc<Mutex<Published>>,
    samples: Arc<Mutex<Vec<SinkSample>>>,
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<()>>,
}

impl MoqOrigin {
    /// Publishes `scene` at `width`x`height`, `fps` as `broadcast`; bytes
    /// counted from `epoch`.
    pub fn start(
        scene: &Scene,
        (width, height, fps): (u32, u32, u32),
        broadcast: &Broadcast,
        epoch: Instant,
    ) -> Result<Self> {
        let pipeline = parse(&format!(
            "{} ! {}",
            encoded_scene(scene, (width, height, fps)),
            broadcast.element("moqsink", "pub")
        ))?;
        scene.configure(&pipeline, height);
        let published: Arc<Mutex<Published>> = Arc::default();
        let tally = published.clone();
        let sink = pipeline.by_name("pub").context("origin has no moqsink")?;
        sink.static_pad("sink")
            .context("moqsink has no sink pad")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let now = Instant::now();
                if let (Some(buffer), Ok(mut p)) = (info.buffer(), tally.lock()) {
                    p.sent.add(buffer.size(), true, now, epoch);
                    let number = buffer.map_readable().ok().and_then(|m| frame_number(&m));
                    if let Some(n) = number {
                        p.left.insert(n, now);
                    }
                }
                gst::PadProbeReturn::Ok
            });
        pipeline
            .set_state(gst::State::Playing)
            .context("the origin does not start")?;
        let samples: Arc<Mutex<Vec<SinkSample>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (sink, samples, stop) = (sink.clone(), samples.clone(), stop.clone());
            std::thread::Builder::new()
                .name("moqsink-stats".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let sample = SinkSample::read(&sink);
                        if let Ok(mut s) = samples.lock() {
                            s.push(sample);
                        }
                        std::thread::sleep(SINK_SAMPLING);
                    }
                })
                .context("a thread for moqsink's counters")?
        };
        Ok(MoqOrigin {
            pipeline,
            sink,
            published,
            samples,
            stop,
            sampler: Some(sampler),
        })
    }

    /// Keyframes deltaenc made, and how many of them a request forced.
    pub fn keyframes(&self) -> (u64, u64) {
        encoder_keyframes(&self.pipeline)
    }

    /// moqsink's `stats` now.
    pub fn sink(&self) -> SinkSample {
        SinkSample::read(&self.sink)
    }

    /// moqsink's `stats` as read last at or before `t` (the first reading
    /// if none was).
    pub fn sink_at(&self, t: Instant) -> Option<SinkSample> {
        let samples = self.samples.lock().ok()?;
        samples
            .iter()
            .rev()
            .find(|s| s.at <= t)
            .or(samples.first())
            .copied()
    }

    /// moqsink's snapshot interval.
    pub fn snapshot_interval(&self) -> Duration {
        Duration::from_nanos(self.sink.property::<u64>("snapshot-interval"))
    }

    /// What it published so far.
    pub fn published(&self) -> Published {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn check(&self) -> Result<()> {
        check_bus(&self.pipeline, "origin").map(drop)
    }
}

impl Drop for MoqOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.sampler.take() {
            let _ = t.join();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// A light viewer's record as its probe fills it.
struct Watch {
    record: SessionRecord,
    numbers: FrameNumberTally,
    last_new_frame: Option<Instant>,
    buffers: u64,
    /// Tells the schedule about the first picture.
    pictures: Sender<u64>,
}

impl Watch {
    /// A buffer of `size` bytes, frame `number`, pushed by moqsrc at `now`.
    fn buffer(&mut self, size: usize, number: Option<u32>, now: Instant, epoch: Instant) {
        let r = &mut self.record;
        r.bins.add(
            now.saturating_duration_since(epoch).as_millis() as u64,
            size as u64,
        );
        r.first_packet.get_or_insert(now);
        self.buffers += 1;
        if r.first_picture.is_none() {
            // moqsrc's first buffer is the picture it built from the
            // relay's snapshot and the frames since (docs/moq.md, Joining).
            r.first_picture = Some(now);
            r.picture_bytes = size as u64;
            let _ = self.pictures.send(r.key);
            if let Some(n) = number {
                self.numbers.observe(n);
            }
            self.last_new_frame = Some(now);
            return;
        }
        let Some(n) = number else {
            return;
        };
        r.arrivals.push((n, now));
        if self.numbers.observe(n) {
            if let Some(last) = self.last_new_frame {
                let gap = now.saturating_duration_since(last);
                if gap > r.longest_gap {
                    r.longest_gap = gap;
                    r.longest_gap_end = Some(now);
                }
            }
            self.last_new_frame = Some(now);
        }
    }
}

/// `moqsrc follow-state=false ! fakesink`: subscribes, counts, decodes
/// nothing (not even the state a repair from its own would start from:
/// nothing is lost on loopback, and a hundred of them would each decode
/// every frame).
pub struct MoqLight {
    pipeline: gst::Pipeline,
    watch: Arc<Mutex<Watch>>,
}

/// What a light viewer leaves behind.
pub struct LightEnd {
    pub record: SessionRecord,
    /// moqsrc's `stats`, every field.
    pub src_stats: BTreeMap<String, u64>,
    /// Its pipeline's first error, if any.
    pub error: Option<String>,
}

impl MoqLight {
    /// Starts viewer `key` of `broadcast`; `pictures` hears its key at its
    /// first picture. Times count from `epoch`.
    pub fn join(
        broadcast: &Broadcast,
        key: u64,
        epoch: Instant,
        pictures: Sender<u64>,
    ) -> Result<Self> {
        let pipeline = parse(&format!(
            "{} follow-state=false ! fakesink sync=false async=false",
            broadcast.element("moqsrc", "src")
        ))?;
        let started = Instant::now();
        let mut record = SessionRecord::new(key, started);
        record.play_sent = Some(started);
        let watch = Arc::new(Mutex::new(Watch {
            record,
            numbers: FrameNumberTally::default(),
            last_new_frame: None,
            buffers: 0,
            pictures,
        }));
        let probe = watch.clone();
        pipeline
            .by_name("src")
            .and_then(|s| s.static_pad("src"))
            .context("light viewer has no moqsrc")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let now = Instant::now();
                if let (Some(buffer), Ok(mut w)) = (info.buffer(), probe.lock()) {
                    let number = buffer.map_readable().ok().and_then(|m| frame_number(&m));
                    w.buffer(buffer.size(), number, now, epoch);
                }
                gst::PadProbeReturn::Ok
            });
        pipeline
            .set_state(gst::State::Playing)
            .context("a light viewer does not start")?;
        Ok(MoqLight { pipeline, watch })
    }

    /// Stops it; its record, moqsrc's counters and any error.
    pub fn leave(self) -> LightEnd {
        let left = Instant::now();
        let error = check_bus(&self.pipeline, "light viewer")
            .err()
            .map(|e| format!("{e:#}"));
        let _ = self.pipeline.set_state(gst::State::Null);
        let mut src_stats = BTreeMap::new();
        if let Some(stats) = self
            .pipeline
            .by_name("src")
            .map(|e| e.property::<gst::Structure>("stats"))
        {
            for (field, value) in stats.iter() {
                if let Ok(v) = value.get::<u64>() {
                    src_stats.insert(field.to_string(), v);
                }
            }
        }
        let mut w = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        let blank = SessionRecord::new(w.record.key, w.record.requested);
        let mut record = std::mem::replace(&mut w.record, blank);
        record.left = Some(left);
        record.packets = w.buffers;
        record.frames = w.numbers.frames;
        record.frames_lost = w.numbers.lost;
        LightEnd {
            record,
            src_stats,
            error,
        }
    }
}
