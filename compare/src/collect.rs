// SPDX-License-Identifier: MPL-2.0
//! What is measured on a run, and the result made of it. Probes on the
//! pipelines count the bytes the sender puts on the network and the packets
//! the receiver gets. The original of every stamped frame is kept
//! (half-resolution luma, a bounded number of frames) and each received
//! frame is compared with the original bearing the same frame number, on a
//! separate analysis thread so the receiver's CPU time is not inflated by
//! the measurement.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};
use benchkit::pipeline::by_name;
use gst::prelude::*;
use gst_video::prelude::*;
use gststreamkit::gstcommon::stampframe::{default_layout, host_clock_time, read_frame_stamp};

use crate::config::RunConfig;
use crate::quality::{psnr, ssim, Luma};
use crate::result::{FrameRecord, LatencyMs, StrategyResult};
use crate::strategy::{Strategy, Transport};

/// How many originals are kept: frames delayed longer than this many frames
/// cannot be compared (counted in `frames_unmatched`).
const ORIGINALS_KEPT: usize = 240;

struct Arrival {
    frame: u32,
    capture_ns: u64,
    arrival_ns: u64,
    luma: Option<Luma>,
}

#[derive(Default)]
struct ByteCount {
    bytes: u64,
    packets: u64,
    per_second: Vec<u64>,
}

/// The probes and the analysis thread measuring one run.
pub struct Measurement {
    start_ns: Arc<AtomicU64>,
    counted: Arc<Mutex<ByteCount>>,
    received_packets: Arc<AtomicU64>,
    keyframe_requests: Arc<AtomicU64>,
    // Taken out after the pipelines stop, which ends the analysis thread
    // whatever still holds the appsink.
    arrivals: Arc<Mutex<Option<mpsc::Sender<Arrival>>>>,
    last_arrival: Arc<AtomicU64>,
    analysis: JoinHandle<(Vec<FrameRecord>, u64)>,
}

impl Measurement {
    /// Attaches the probes to `strategy`'s `sender` and `receiver`, whose
    /// element names start with `tx` and `rx`, and starts the analysis
    /// thread.
    pub fn attach(
        strategy: &Strategy,
        sender: &gst::Pipeline,
        receiver: &gst::Pipeline,
        tx: &str,
        rx: &str,
    ) -> Result<Self> {
        let start_ns = Arc::new(AtomicU64::new(host_clock_time()));

        // Originals, by frame number.
        let originals: Arc<Mutex<BTreeMap<u32, Arc<Luma>>>> = Arc::default();
        {
            let originals = originals.clone();
            let pad = by_name(sender, &format!("{tx}stamp"))?
                .static_pad("src")
                .context("framestamp has no src pad")?;
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let (Some(buffer), Some(caps)) = (info.buffer(), pad.current_caps()) else {
                    return gst::PadProbeReturn::Ok;
                };
                let Ok(vinfo) = gst_video::VideoInfo::from_caps(&caps) else {
                    return gst::PadProbeReturn::Ok;
                };
                if let Some((luma, Some(frame))) = half_luma(buffer, &vinfo) {
                    let mut map = originals.lock().unwrap_or_else(|e| e.into_inner());
                    map.insert(frame, Arc::new(luma));
                    while map.len() > ORIGINALS_KEPT {
                        map.pop_first();
                    }
                }
                gst::PadProbeReturn::Ok
            });
        }

        // Bytes on the wire: what the sender hands to the network.
        let counted: Arc<Mutex<ByteCount>> = Arc::default();
        {
            let counted = counted.clone();
            let start_ns = start_ns.clone();
            let count_at = match strategy.transport {
                Transport::Udp | Transport::RtpSession => format!("{tx}net"),
                Transport::Tcp | Transport::Hls | Transport::Moq => format!("{tx}out"),
            };
            // Counted on the src pad feeding it: a sink pad without a list
            // function sees a buffer list once as a list and again buffer by
            // buffer.
            let pad = by_name(sender, &count_at)?
                .static_pad("sink")
                .and_then(|p| p.peer())
                .context("network element has no upstream peer")?;
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, info| {
                    let sizes: Vec<u64> = match &info.data {
                        Some(gst::PadProbeData::Buffer(b)) => vec![b.size() as u64],
                        Some(gst::PadProbeData::BufferList(l)) => {
                            l.iter().map(|b| b.size() as u64).collect()
                        }
                        _ => Vec::new(),
                    };
                    let second = (host_clock_time()
                        .saturating_sub(start_ns.load(Ordering::Relaxed))
                        / 1_000_000_000) as usize;
                    let mut c = counted.lock().unwrap_or_else(|e| e.into_inner());
                    if c.per_second.len() <= second {
                        c.per_second.resize(second + 1, 0);
                    }
                    for s in sizes {
                        c.bytes += s;
                        c.packets += 1;
                        c.per_second[second] += s;
                    }
                    gst::PadProbeReturn::Ok
                },
            );
        }

        // Keyframe requests that reach the encoder (the first element after
        // the queue in front of it), from wherever they come.
        let keyframe_requests = Arc::new(AtomicU64::new(0));
        {
            let keyframe_requests = keyframe_requests.clone();
            let pad = by_name(sender, &format!("{tx}enc"))?
                .static_pad("src")
                .and_then(|p| p.peer())
                .and_then(|p| p.parent_element())
                .and_then(|encoder| encoder.static_pad("src"))
                .context("the sender's chain has no encoder src pad")?;
            pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
                if let Some(gst::PadProbeData::Event(e)) = &info.data {
                    if gst_video::UpstreamForceKeyUnitEvent::parse(e).is_ok() {
                        keyframe_requests.fetch_add(1, Ordering::Relaxed);
                    }
                }
                gst::PadProbeReturn::Ok
            });
        }

        // What arrives from the network at the receiver.
        let received_packets = Arc::new(AtomicU64::new(0));
        {
            let received_packets = received_packets.clone();
            let pad = by_name(receiver, &format!("{rx}src"))?
                .static_pad("src")
                .context("network source has no src pad")?;
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, info| {
                    let n = match &info.data {
                        Some(gst::PadProbeData::Buffer(_)) => 1,
                        Some(gst::PadProbeData::BufferList(l)) => l.len() as u64,
                        _ => 0,
                    };
                    received_packets.fetch_add(n, Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                },
            );
        }

        // Receiver: hand each frame to the analysis thread.
        let (arrivals, arrived) = mpsc::channel::<Arrival>();
        let arrivals = Arc::new(Mutex::new(Some(arrivals)));
        let last_arrival = Arc::new(AtomicU64::new(0));
        {
            let arrivals = arrivals.clone();
            let sink = by_name(receiver, &format!("{rx}sink"))?
                .downcast::<gst_app::AppSink>()
                .map_err(|_| anyhow!("rxsink is not an appsink"))?;
            let last_arrival = last_arrival.clone();
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        let arrival_ns = host_clock_time();
                        last_arrival.store(arrival_ns, Ordering::Relaxed);
                        let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        let Ok(frame) =
                            gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
                        else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        if let Ok(stamp) = read_frame_stamp(&frame, &default_layout()) {
                            let luma = half_luma(buffer, &info).map(|(l, _)| l);
                            if let Some(a) =
                                arrivals.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
                            {
                                let _ = a.send(Arrival {
                                    frame: stamp.frame,
                                    capture_ns: stamp.capture_time_ns,
                                    arrival_ns,
                                    luma,
                                });
                            }
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        }
        let analysis = {
            let originals = originals.clone();
            let start_ns = start_ns.clone();
            std::thread::Builder::new()
                .name("analysis".into())
                .spawn(move || {
                    let mut seen = HashSet::new();
                    let mut records = Vec::new();
                    let mut unmatched = 0u64;
                    for a in arrived {
                        if !seen.insert(a.frame) {
                            continue;
                        }
                        let original = originals
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get(&a.frame)
                            .cloned();
                        let (p, s) = match (&original, &a.luma) {
                            (Some(o), Some(l)) => (psnr(o, l), ssim(o, l)),
                            _ => {
                                unmatched += 1;
                                (None, None)
                            }
                        };
                        let start = start_ns.load(Ordering::Relaxed);
                        records.push(FrameRecord {
                            t: a.capture_ns.saturating_sub(start) as f64 / 1e9,
                            frame: a.frame,
                            latency_ms: a.arrival_ns.saturating_sub(a.capture_ns) as f64 / 1e6,
                            psnr: p,
                            ssim: s,
                        });
                    }
                    (records, unmatched)
                })
                .context("cannot start analysis thread")?
        };
        Ok(Self {
            start_ns,
            counted,
            received_packets,
            keyframe_requests,
            arrivals,
            last_arrival,
            analysis,
        })
    }

    /// Counts capture times and the bitrate's seconds from now.
    pub fn start_clock(&self) {
        self.start_ns.store(host_clock_time(), Ordering::Relaxed);
    }

    /// When the receiver last got a frame, host clock nanoseconds.
    pub fn last_arrival_ns(&self) -> u64 {
        self.last_arrival.load(Ordering::Relaxed)
    }

    /// Ends the analysis once the pipelines have stopped and sums up the
    /// run: `frames_sent` is framestamp's count, `stats` framemeter's, and
    /// the CPU times are nanoseconds billed to the sender's and the
    /// receiver's threads.
    pub fn finish(
        self,
        strategy: &Strategy,
        cfg: &RunConfig,
        frames_sent: u64,
        stats: gst::Structure,
        cpu_sender: u64,
        cpu_receiver: u64,
    ) -> Result<StrategyResult> {
        let Self {
            counted,
            received_packets,
            keyframe_requests,
            arrivals,
            analysis,
            ..
        } = self;
        let net = &cfg.net;
        arrivals.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (records, unmatched) = analysis
            .join()
            .map_err(|_| anyhow!("analysis thread panicked"))?;

        let counted = counted.lock().unwrap_or_else(|e| e.into_inner());
        let content_s = frames_sent as f64 / f64::from(cfg.fps.max(1));
        let frames_received = records.len() as u64;
        let ms = |f: &str| stat_u64(&stats, f) as f64 / 1e6;
        let last_second_from = records.iter().map(|r| r.t).fold(0.0, f64::max) - 1.0;
        let result = StrategyResult {
            id: strategy.id.to_string(),
            label: strategy.label.to_string(),
            frames_sent,
            frames_received,
            frames_lost: frames_sent.saturating_sub(frames_received),
            frames_frozen: stat_u64(&stats, "frames-repeated"),
            frames_unreadable: stat_u64(&stats, "frames-unreadable"),
            frames_unmatched: unmatched,
            meter_missing: stat_u64(&stats, "frames-missing"),
            latency_ms: LatencyMs {
                p50: ms("latency-p50"),
                p95: ms("latency-p95"),
                p99: ms("latency-p99"),
                max: ms("latency-max"),
            },
            longest_stall_ms: ms("longest-stall"),
            bytes: counted.bytes,
            packets: counted.packets,
            packets_received: received_packets.load(Ordering::Relaxed),
            bitrate_kbps: if content_s > 0.0 {
                counted.bytes as f64 * 8.0 / content_s / 1000.0
            } else {
                0.0
            },
            psnr_mean: mean(records.iter().filter_map(|r| r.psnr)),
            psnr_min: records.iter().filter_map(|r| r.psnr).reduce(f64::min),
            ssim_mean: mean(records.iter().filter_map(|r| r.ssim)),
            psnr_last_second: mean(
                records
                    .iter()
                    .filter(|r| r.t >= last_second_from)
                    .filter_map(|r| r.psnr),
            ),
            expected_lost_share: (strategy.frame_needs_all_packets && frames_sent > 0).then(|| {
                let per_frame = counted.packets as f64 / frames_sent as f64;
                let lossy_share = net.loss_until.map_or(1.0, |until| {
                    (until * f64::from(cfg.fps) / frames_sent as f64).min(1.0)
                });
                (1.0 - (1.0 - net.loss).powf(per_frame)) * lossy_share
            }),
            cpu_sender_ms_per_frame: cpu_sender as f64 / 1e6 / frames_sent.max(1) as f64,
            cpu_receiver_ms_per_frame: cpu_receiver as f64
                / 1e6
                / stat_u64(&stats, "frames-received").max(1) as f64,
            keyframe_requests: keyframe_requests.load(Ordering::Relaxed),
            // set by the caller, who holds the transport
            repair: None,
            moq: None,
            link: None,
            frames: records,
            // whole seconds only: the last one is cut short by the end of the run
            bitrate_series: counted
                .per_second
                .iter()
                .take(cfg.duration.as_secs() as usize)
                .map(|&b| b as f64 * 8.0 / 1000.0)
                .collect(),
        };
        Ok(result)
    }
}

fn half_luma(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> Option<(Luma, Option<u32>)> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).ok()?;
    let stamp = read_frame_stamp(&frame, &default_layout())
        .ok()
        .map(|s| s.frame);
    let plane = frame.plane_data(0).ok()?;
    let stride = usize::try_from(frame.plane_stride()[0]).ok()?;
    let luma = Luma::half_of(
        plane,
        stride,
        frame.width() as usize,
        frame.height() as usize,
    )?;
    Some((luma, stamp))
}

fn stat_u64(s: &gst::Structure, f: &str) -> u64 {
    s.get::<u64>(f).unwrap_or(0)
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}
