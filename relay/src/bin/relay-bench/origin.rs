// SPDX-License-Identifier: MPL-2.0
//! The two GStreamer ends of the bench: the origin (compare's screen scene,
//! stamped, deltaenc, rtpdeltapay, rtpbin with RTCP, as
//! pipelines/rtp-delta-send.sh) and full viewers (rtspsrc with no jitter
//! buffer latency, the real depayloader and decoder, framemeter; or any
//! other source of the stream before the decoder, such as moqsrc).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use benchkit::pipeline::{check_bus, parse};
use benchkit::scene::Scene;
use gst::prelude::*;
use serde::Serialize;

use crate::bytebins::ByteBins;
use crate::rtpheader::RtpHeader;

/// What the origin's payloader sent.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    /// RTP bytes by time.
    pub bytes: ByteBins,
    /// Frames (packets with the marker bit).
    pub frames: u64,
    last_frame: Option<Instant>,
    /// Longest time between two frames, and when it ended: a stall here
    /// is the origin's (or this machine's), not the relay's.
    pub longest_gap: Duration,
    pub longest_gap_end: Option<Instant>,
}

impl Sent {
    fn packet(&mut self, packet: &[u8], now: Instant, epoch: Instant) {
        let marker = RtpHeader::parse(packet).is_some_and(|(h, _)| h.marker);
        self.add(packet.len(), marker, now, epoch);
    }

    /// Counts `bytes` sent at `now`; `frame_ends`: they end a frame.
    pub fn add(&mut self, bytes: usize, frame_ends: bool, now: Instant, epoch: Instant) {
        self.bytes.add(
            now.saturating_duration_since(epoch).as_millis() as u64,
            bytes as u64,
        );
        if !frame_ends {
            return;
        }
        self.frames += 1;
        if let Some(last) = self.last_frame {
            let gap = now.saturating_duration_since(last);
            if gap > self.longest_gap {
                self.longest_gap = gap;
                self.longest_gap_end = Some(now);
            }
        }
        self.last_frame = Some(now);
    }
}

/// `scene` at `width`x`height`, `fps`, stamped and encoded by a `deltaenc`
/// called `enc` with its defaults: a launch fragment that ends in the
/// changes-only stream.
pub fn encoded_scene(scene: &Scene, (width, height, fps): (u32, u32, u32)) -> String {
    format!(
        "{} ! framestamp name=stamp ! queue name=encq max-size-buffers=3 ! deltaenc name=enc",
        scene.launch(width, height, fps)
    )
}

/// The sender.
pub struct Origin {
    pipeline: gst::Pipeline,
    sent: Arc<Mutex<Sent>>,
}

impl Origin {
    /// Sends `scene` at `width`x`height`, `fps`, as RTP to 127.0.0.1:`port`
    /// (RTCP to port+1, from port+5) and the same packets to `tap_port`,
    /// where the bench notes when each left; bytes counted from `epoch`.
    pub fn start(
        scene: &Scene,
        (width, height, fps): (u32, u32, u32),
        (port, tap_port): (u16, u16),
        epoch: Instant,
    ) -> Result<Self> {
        let description = format!(
            "rtpbin name=rb rtp-profile=avpf \
             {scene} ! rtpdeltapay name=pay ! rb.send_rtp_sink_0 \
             rb.send_rtp_src_0 ! multiudpsink clients=127.0.0.1:{port},127.0.0.1:{tap_port} \
               sync=false async=false \
             rb.send_rtcp_src_0 ! udpsink host=127.0.0.1 port={rtcp} sync=false async=false \
             udpsrc address=127.0.0.1 port={back} ! rb.recv_rtcp_sink_0",
            scene = encoded_scene(scene, (width, height, fps)),
            rtcp = port + 1,
            back = port + 5,
        );
        let pipeline = parse(&description)?;
        scene.configure(&pipeline, height);
        let sent: Arc<Mutex<Sent>> = Arc::default();
        let pad = pipeline
            .by_name("pay")
            .and_then(|p| p.static_pad("src"))
            .context("origin has no payloader")?;
        let tally = sent.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let now = Instant::now();
                let Ok(mut sent) = tally.lock() else {
                    return gst::PadProbeReturn::Ok;
                };
                let mut one = |b: &gst::BufferRef| {
                    if let Ok(map) = b.map_readable() {
                        sent.packet(&map, now, epoch);
                    }
                };
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => one(b),
                    Some(gst::PadProbeData::BufferList(l)) => l.iter().for_each(one),
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
        pipeline
            .set_state(gst::State::Playing)
            .context("the origin does not start")?;
        Ok(Origin { pipeline, sent })
    }

    /// Keyframes deltaenc made, and how many of them a request forced.
    pub fn keyframes(&self) -> (u64, u64) {
        encoder_keyframes(&self.pipeline)
    }

    /// What it sent so far.
    pub fn sent(&self) -> Sent {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn check(&self) -> Result<()> {
        check_bus(&self.pipeline, "origin").map(drop)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Keyframes the `deltaenc` called `enc` of `pipeline` made, and how many
/// of them a request forced.
pub fn encoder_keyframes(pipeline: &gst::Pipeline) -> (u64, u64) {
    let Some(stats) = pipeline
        .by_name("enc")
        .map(|e| e.property::<gst::Structure>("stats"))
    else {
        return (0, 0);
    };
    (
        stats.get::<u64>("keyframes").unwrap_or(0),
        stats.get::<u64>("forced-keyframes").unwrap_or(0),
    )
}

/// What a full viewer measured, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct FullViewerResult {
    /// From starting the pipeline (DESCRIBE, SETUP, PLAY) to the first
    /// decoded picture.
    pub first_picture_ms: Option<f64>,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_max_ms: f64,
    pub frames: u64,
    pub frames_missing: u64,
    pub frames_unreadable: u64,
    /// Longest time between two new pictures.
    pub longest_stall_ms: f64,
}

/// `rtspsrc latency=0 ! rtpdeltadepay ! deltadec ! framemeter`, or any
/// other source of the changes-only stream before the decoder.
pub struct FullViewer {
    pipeline: gst::Pipeline,
    started: Instant,
    first: Arc<Mutex<Option<Instant>>>,
}

impl FullViewer {
    /// Watches the relay's RTSP `url`.
    pub fn join(url: &str) -> Result<Self> {
        Self::start(&format!(
            "rtspsrc location={url} latency=0 protocols=udp ! rtpdeltadepay"
        ))
    }

    /// `source ! deltadec ! framemeter`: `source` is a launch fragment that
    /// gives the changes-only stream.
    pub fn start(source: &str) -> Result<Self> {
        let pipeline = parse(&format!(
            "{source} ! deltadec ! framemeter name=meter ! fakesink sync=false"
        ))?;
        let first: Arc<Mutex<Option<Instant>>> = Arc::default();
        let seen = first.clone();
        pipeline
            .by_name("meter")
            .and_then(|m| m.static_pad("src"))
            .context("full viewer has no framemeter")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if let Ok(mut f) = seen.lock() {
                    f.get_or_insert_with(Instant::now);
                }
                gst::PadProbeReturn::Remove
            });
        let started = Instant::now();
        pipeline
            .set_state(gst::State::Playing)
            .context("a full viewer does not start")?;
        Ok(FullViewer {
            pipeline,
            started,
            first,
        })
    }

    pub fn check(&self) -> Result<()> {
        check_bus(&self.pipeline, "full viewer").map(drop)
    }

    /// Stops every one of `viewers`; what they measured, their errors
    /// added to `failures`.
    pub fn finish_all(
        viewers: Vec<FullViewer>,
        failures: &mut Vec<String>,
    ) -> Vec<FullViewerResult> {
        let mut results = Vec::new();
        for v in viewers {
            match v.finish() {
                Ok(r) => results.push(r),
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
        results
    }

    /// Stops it and reads its meter.
    pub fn finish(self) -> Result<FullViewerResult> {
        self.check()?;
        let _ = self.pipeline.set_state(gst::State::Null);
        let stats = self
            .pipeline
            .by_name("meter")
            .map(|m| m.property::<gst::Structure>("stats"))
            .context("full viewer has no framemeter")?;
        let ms = |field: &str| stats.get::<u64>(field).unwrap_or(0) as f64 / 1e6;
        let count = |field: &str| stats.get::<u64>(field).unwrap_or(0);
        let first = self.first.lock().ok().and_then(|f| *f);
        Ok(FullViewerResult {
            first_picture_ms: first
                .map(|f| f.saturating_duration_since(self.started).as_secs_f64() * 1e3),
            latency_p50_ms: ms("latency-p50"),
            latency_p95_ms: ms("latency-p95"),
            latency_max_ms: ms("latency-max"),
            frames: count("frames-new"),
            frames_missing: count("frames-missing"),
            frames_unreadable: count("frames-unreadable"),
            longest_stall_ms: ms("longest-stall"),
        })
    }
}

impl Drop for FullViewer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
