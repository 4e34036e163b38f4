// SPDX-License-Identifier: MPL-2.0
//! Runs one strategy: its sender and receiver pipelines (built in
//! `pipeline`), started, watched and stopped, and everything measured on
//! the way.
//! The original of every stamped frame is kept (half-resolution luma, a
//! bounded number of frames) and each received frame is compared with the
//! original bearing the same frame number, on a separate analysis thread so
//! the receiver's CPU time is not inflated by the measurement.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_video::prelude::*;
use gststreamkit::framestamp::{default_layout, host_clock_time, read_frame_stamp};

use crate::cpu::ThreadTimes;
use crate::pipeline::{self, by_name, check_bus, parse, RunPipelines};
use crate::quality::{psnr, ssim, Luma};
use crate::result::{FrameRecord, LatencyMs, StrategyResult};
use crate::scene::Scene;
use crate::strategy::{CodecOptions, Strategy, Transport};
use crate::tcplink::TcpLink;

/// How many originals are kept: frames delayed longer than this many frames
/// cannot be compared (counted in `frames_unmatched`).
const ORIGINALS_KEPT: usize = 240;

/// What the simulated network does.
#[derive(Debug, Clone, Default)]
pub struct NetOptions {
    /// Probability (0..1) that a packet is lost.
    pub loss: f64,
    /// Seconds after the start at which loss stops (None: never).
    pub loss_until: Option<f64>,
    /// One-way delay in milliseconds.
    pub delay_ms: u32,
    /// Delay varies uniformly by +- this many milliseconds.
    pub jitter_ms: u32,
    /// Bandwidth cap in kbit/s.
    pub kbps: Option<u32>,
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Content.
    pub scene: Scene,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// How long the sender sends.
    pub duration: Duration,
    /// Network simulation.
    pub net: NetOptions,
    /// Encoder settings.
    pub codec: CodecOptions,
    /// Seed of the TCP loss model.
    pub seed: u64,
}

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

/// Runs `strategy` with `cfg`; `progress` gets the fraction done (0..1).
/// `index` tells runs apart when several run at once: it is part of every
/// element name, hence of every streaming thread's name, which is how CPU
/// time is billed.
pub fn run_strategy(
    strategy: &Strategy,
    cfg: &RunConfig,
    index: usize,
    progress: &dyn Fn(f64),
) -> Result<StrategyResult, String> {
    let net = &cfg.net;
    let RunPipelines {
        sender,
        receiver,
        tx,
        rx,
    } = pipeline::build(strategy, cfg, index)?;

    let start_ns = Arc::new(AtomicU64::new(host_clock_time()));

    // Originals, by frame number.
    let originals: Arc<Mutex<BTreeMap<u32, Arc<Luma>>>> = Arc::default();
    {
        let originals = originals.clone();
        let pad = by_name(&sender, &format!("{tx}stamp"))?
            .static_pad("src")
            .ok_or("framestamp has no src pad")?;
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
            Transport::Udp => format!("{tx}net"),
            Transport::Tcp => format!("{tx}out"),
        };
        // Counted on the src pad feeding it: a sink pad without a list
        // function sees a buffer list once as a list and again buffer by
        // buffer.
        let pad = by_name(&sender, &count_at)?
            .static_pad("sink")
            .and_then(|p| p.peer())
            .ok_or("network element has no upstream peer")?;
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
                let second = (host_clock_time().saturating_sub(start_ns.load(Ordering::Relaxed))
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

    // netsim passes EOS on at once, ahead of the packets it is still
    // delaying, and udpsink refuses what comes after EOS: hold EOS back
    // until those packets are out, or the last frames of every delayed run
    // would count as lost.
    if strategy.transport == Transport::Udp && net.delay_ms + net.jitter_ms > 0 {
        let hold = Duration::from_millis(50 + u64::from(net.delay_ms + net.jitter_ms));
        by_name(&sender, &format!("{tx}net"))?
            .static_pad("sink")
            .ok_or("netsim has no sink pad")?
            .add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some(gst::PadProbeData::Event(e)) = &info.data {
                    if e.type_() == gst::EventType::Eos {
                        std::thread::sleep(hold);
                    }
                }
                gst::PadProbeReturn::Ok
            });
    }

    // What arrives from the network at the receiver.
    let received_packets = Arc::new(AtomicU64::new(0));
    {
        let received_packets = received_packets.clone();
        let pad = by_name(&receiver, &format!("{rx}src"))?
            .static_pad("src")
            .ok_or("network source has no src pad")?;
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

    let tcp_loss_on = Arc::new(std::sync::atomic::AtomicBool::new(net.loss > 0.0));
    // The TCP link: a delay line on the queue before tcpserversink. The
    // queue's input records when each buffer entered; its output thread
    // holds each buffer until it would have been delivered, while the queue
    // keeps filling, so delays overlap as on a real path.
    if strategy.transport == Transport::Tcp {
        let link = Arc::new(Mutex::new(TcpLink::new(net, cfg.seed)));
        let queue = by_name(&sender, &format!("{tx}tcp"))?;
        let entered = link.clone();
        queue
            .static_pad("sink")
            .ok_or("queue has no sink pad")?
            .add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, _| {
                    let mut l = entered.lock().unwrap_or_else(|e| e.into_inner());
                    l.entered.push_back(host_clock_time());
                    gst::PadProbeReturn::Ok
                },
            );
        let on = tcp_loss_on.clone();
        queue
            .static_pad("src")
            .ok_or("queue has no src pad")?
            .add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, info| {
                    let size = match &info.data {
                        Some(gst::PadProbeData::Buffer(b)) => b.size() as u64,
                        Some(gst::PadProbeData::BufferList(l)) => l.calculate_size() as u64,
                        _ => 0,
                    };
                    let deliver_at = link.lock().unwrap_or_else(|e| e.into_inner()).deliver(
                        size,
                        host_clock_time(),
                        on.load(Ordering::Relaxed),
                    );
                    let wait = deliver_at.saturating_sub(host_clock_time());
                    if wait > 0 {
                        std::thread::sleep(Duration::from_nanos(wait));
                    }
                    gst::PadProbeReturn::Ok
                },
            );
    }

    // Receiver: hand each frame to the analysis thread.
    let (arrivals, arrived) = mpsc::channel::<Arrival>();
    // Taken out after the pipelines stop, which ends the analysis thread
    // whatever still holds the appsink.
    let arrivals = Arc::new(Mutex::new(Some(arrivals)));
    let last_arrival = Arc::new(AtomicU64::new(0));
    {
        let arrivals = arrivals.clone();
        let sink = by_name(&receiver, &format!("{rx}sink"))?
            .downcast::<gst_app::AppSink>()
            .map_err(|_| "rxsink is not an appsink")?;
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
                        if let Some(a) = arrivals.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
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
            .map_err(|e| format!("cannot start analysis thread: {e}"))?
    };

    let cpu_before = ThreadTimes::sample();
    start_ns.store(host_clock_time(), Ordering::Relaxed);
    let stop_all = |why: String| {
        let _ = sender.set_state(gst::State::Null);
        let _ = receiver.set_state(gst::State::Null);
        why
    };
    let start = |p: &gst::Pipeline, state: gst::State| {
        p.set_state(state).map(|_| ()).map_err(|e| {
            // the bus says why (a missing file, no display, ...)
            match check_bus(p, "start") {
                Err(why) => format!("cannot start {}: {why}", strategy.id),
                Ok(_) => format!("cannot start {}: {e}", strategy.id),
            }
        })
    };
    match strategy.transport {
        // UDP: listen before anything is sent.
        Transport::Udp => {
            start(&receiver, gst::State::Playing).map_err(stop_all)?;
            start(&sender, gst::State::Playing).map_err(stop_all)?;
        }
        // TCP: tcpserversink drops what it gets before a client is
        // connected, so listen (paused: live sources send nothing yet),
        // connect, and only then start sending.
        Transport::Tcp => {
            start(&sender, gst::State::Paused).map_err(stop_all)?;
            let _ = sender.state(gst::ClockTime::from_seconds(5));
            start(&receiver, gst::State::Playing).map_err(stop_all)?;
            let server = by_name(&sender, &format!("{tx}out"))?;
            let deadline = Instant::now() + Duration::from_secs(5);
            while server.property::<u32>("num-handles") < 1 {
                if Instant::now() > deadline {
                    return Err(stop_all("the receiver did not connect within 5 s".into()));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            start(&sender, gst::State::Playing).map_err(stop_all)?;
        }
    }
    let started = Instant::now();

    let mut loss_stopped = false;
    let mut sender_eos = false;
    while started.elapsed() < cfg.duration && !sender_eos {
        std::thread::sleep(Duration::from_millis(50));
        sender_eos = check_bus(&sender, "sender").map_err(stop_all)?;
        check_bus(&receiver, "receiver").map_err(stop_all)?;
        let elapsed = started.elapsed().as_secs_f64();
        if let (Some(until), false) = (net.loss_until, loss_stopped) {
            if elapsed >= until {
                if let Some(netsim) = sender.by_name(&format!("{tx}net")) {
                    netsim.set_property("drop-probability", 0.0f32);
                }
                tcp_loss_on.store(false, Ordering::Relaxed);
                loss_stopped = true;
            }
        }
        progress(elapsed / cfg.duration.as_secs_f64());
    }

    // Stop the content and let the sender drain...
    if !sender_eos {
        sender.send_event(gst::event::Eos::new());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sender_eos && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            sender_eos = check_bus(&sender, "sender").map_err(stop_all)?;
        }
    }
    // The sender's work is done: bill its threads now.
    let cpu_sender = ThreadTimes::sample().since(&cpu_before, &tx);
    if strategy.transport == Transport::Tcp {
        // Closing the connection is how the receiver learns the stream
        // ended: tsdemux only lets the last frame out at end of stream.
        let _ = sender.set_state(gst::State::Null);
    }
    // Wait until the receiver has reached end of stream or been quiet for
    // a while: frames still in flight are not lost.
    let quiet = Duration::from_millis(500 + 2 * u64::from(net.delay_ms + net.jitter_ms));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if check_bus(&receiver, "receiver").map_err(stop_all)? {
            break;
        }
        let since = host_clock_time().saturating_sub(last_arrival.load(Ordering::Relaxed));
        if since > quiet.as_nanos() as u64 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    progress(1.0);
    let cpu_receiver = ThreadTimes::sample().since(&cpu_before, &rx);

    let frames_sent = by_name(&sender, &format!("{tx}stamp"))?.property::<u64>("frames-stamped");
    let stats = by_name(&receiver, &format!("{rx}meter"))?.property::<gst::Structure>("stats");
    let _ = sender.set_state(gst::State::Null);
    let _ = receiver.set_state(gst::State::Null);
    arrivals.lock().unwrap_or_else(|e| e.into_inner()).take();
    let (records, unmatched) = analysis
        .join()
        .map_err(|_| "analysis thread panicked".to_string())?;

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

/// Writes one stamped frame of `scene` as a PNG file.
pub fn snapshot(
    scene: &Scene,
    width: u32,
    height: u32,
    fps: u32,
    path: &std::path::Path,
) -> Result<(), String> {
    let p = parse(&format!(
        "{} ! framestamp ! videoconvert ! pngenc snapshot=true ! filesink name=out",
        scene.launch(width, height, fps)
    ))?;
    scene.configure(&p, height);
    p.by_name("out")
        .ok_or("no filesink")?
        .set_property("location", path.display().to_string());
    p.set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start the snapshot: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut result = Err("no frame within 10 s".to_string());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        match check_bus(&p, "snapshot") {
            Ok(true) => {
                result = Ok(());
                break;
            }
            Ok(false) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let _ = p.set_state(gst::State::Null);
    result
}
