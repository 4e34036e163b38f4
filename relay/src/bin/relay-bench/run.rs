// SPDX-License-Identifier: MPL-2.0
//! One bench run: start the relay and the origin, let viewers join and
//! leave on a schedule, sample the relay, and gather every figure into a
//! [`BenchResult`].

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use benchkit::ports::{free_tcp_port, free_udp_port_with};
use benchkit::procstat;
use gststreamkit::measure::frametally::nearest_rank;
use serde::Serialize;

use crate::args::Args;
use crate::bytebins::{ratios_after_joins, ByteBins, LiveSpan};
use crate::light::{self, Command, LightViewer, RtspSession, SessionRecord};
use crate::origin::{FullViewer, FullViewerResult, Origin, Sent};
use crate::relayproc::RelayProcess;

/// Seconds between a light viewer's GET_PARAMETERs (the relay closes a
/// silent session after 10 s by default).
const KEEP_ALIVE: Duration = Duration::from_secs(3);
/// How long a joiner may take to hold a whole picture in the joins mode.
const PICTURE_TIMEOUT: Duration = Duration::from_secs(3);
/// The key of the socket that receives the origin's own packets.
const ORIGIN_TAP: u64 = u64::MAX;
/// Window before and after a join over which bytes are compared.
const JOIN_WINDOW_MS: u64 = 1000;

/// Median, 95th percentile and maximum of some values.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spread {
    pub count: u64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

impl Spread {
    /// Of durations, in milliseconds.
    fn of_ms(values: &[Duration]) -> Self {
        let ms: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        Self::of(&ms)
    }

    /// Of numbers (nearest rank, as framemeter's latency percentiles).
    fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return Spread::default();
        }
        Spread {
            count: sorted.len() as u64,
            p50: nearest_rank(&sorted, 50.0),
            p95: nearest_rank(&sorted, 95.0),
            max: sorted[sorted.len() - 1],
        }
    }
}

/// CPU a group of the relay's threads used.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadKind {
    /// Thread name with digits taken out.
    pub name: String,
    pub threads: usize,
    /// Fraction of one core over the run.
    pub cores: f64,
    /// Time its threads were runnable but waited for a CPU, ms per second
    /// of the run (summed over them): the machine's share of any delay.
    pub waited_ms_per_s: f64,
}

/// One light viewer session, for the plots.
#[derive(Debug, Clone, Serialize)]
pub struct SessionSeries {
    /// PLAY sent, seconds from the run's start.
    pub joined_s: f64,
    /// TEARDOWN sent, seconds from the run's start (None: stayed).
    pub left_s: Option<f64>,
    /// To its first whole picture, ms (None: never).
    pub join_ms: Option<f64>,
    /// kbit/s in half-second steps from the run's start.
    pub kbps: Vec<f64>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub command: String,
    /// "timed" or "joins".
    pub mode: String,
    pub scene: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// deltaenc and rtpdeltapay settings of the origin.
    pub encoder: String,
    /// The origin's RTP bitrate over the measured span.
    pub origin_kbps: f64,
    pub cpus: usize,
    /// /proc/loadavg at the start and the end.
    pub load_start: String,
    pub load_end: String,
    /// Seconds measured (first join to the end), and when that began, s
    /// from the bench's start (the times below count from there too).
    pub measured_s: f64,
    pub measured_from_s: f64,
    pub light_viewers: usize,
    pub full_viewers: usize,
    /// Light sessions that joined (first joins, churn, joins mode).
    pub light_joins: usize,
    pub light_leaves: usize,
    pub join_failures: Vec<String>,
    /// PLAY sent to the first picture with every tile known good, ms.
    pub join_ms: Spread,
    /// DESCRIBE sent to that picture, ms.
    pub join_from_describe_ms: Spread,
    /// Sessions that never held a whole picture, and of them those that
    /// never received a single packet after a PLAY answered 200 (their
    /// keys, PLAY times in s, and RTP ports).
    pub never_whole: usize,
    pub never_a_packet: Vec<(u64, f64, u16)>,
    /// Bytes received up to the first whole picture, KiB.
    pub first_picture_kib: Spread,
    pub full: Vec<FullViewerResult>,
    /// deltaenc's keyframes over the measured span (joins must not cause
    /// any), and how many a request forced.
    pub origin_keyframes: u64,
    pub origin_forced_keyframes: u64,
    /// Keyframe requests the relay sent the origin over the measured span.
    pub relay_upstream_keyframe_requests: u64,
    /// The relay process's CPU over the measured span, in cores.
    pub relay_cpu_cores: f64,
    /// Of which in the kernel (sending to the viewers, on loopback
    /// delivering too).
    pub relay_system_cores: f64,
    /// Its busiest kinds of thread.
    pub relay_threads: Vec<ThreadKind>,
    /// This program's own CPU (origin, full viewers, light viewers), cores.
    pub bench_cpu_cores: f64,
    /// Relay VmRSS, MiB: at the start; after the first 100 joins and
    /// leaves and after the last (joins mode, steady viewers still there);
    /// at the end, every viewer gone.
    pub relay_rss_start_mib: f64,
    pub relay_rss_after_100_mib: Option<f64>,
    pub relay_rss_after_all_joins_mib: Option<f64>,
    pub relay_rss_end_mib: f64,
    /// (joins so far, MiB) every 100 joins and after the last, joins mode.
    pub relay_rss_curve: Vec<(usize, f64)>,
    /// Its threads at the start, at the end of the measured span, and once
    /// every viewer had left.
    pub relay_threads_count: (u64, u64, u64),
    pub relay_alive: bool,
    pub relay_complaints: Vec<String>,
    /// Other live viewers' bytes in the second after a join over the
    /// origin's bytes in that second.
    pub others_after_join_ratio: Spread,
    /// A joiner's kbit/s over its first second, and later.
    pub joiner_first_second_kbps: Spread,
    pub joiner_steady_kbps: Spread,
    pub packets_lost: u64,
    pub frames_lost: u64,
    pub frames_lost_max_per_viewer: u64,
    pub viewers_with_frame_loss: usize,
    /// Longest wait between two new frames of a light viewer holding a
    /// picture, ms (stalls; kernel receive times).
    pub light_longest_gap_ms: Spread,
    /// When the longest of those ended, s from the start.
    pub light_longest_gap_at_s: Option<f64>,
    /// From the origin's packet reaching a socket of the bench's to the
    /// relay's copy reaching a light viewer, per frame (its last packet,
    /// both kernel receive times), once the viewer held a picture: what the
    /// relay adds (its ingest jitter buffer, its work, one more loopback
    /// hop), ms.
    pub relay_transit_ms: Spread,
    /// When the slowest frame arrived, s from the start.
    pub relay_transit_max_at_s: Option<f64>,
    /// Frames (over all light viewers) that took longer than 100 ms.
    pub relay_transit_over_100ms: usize,
    /// The origin's own longest wait between two frames it sent, ms, and
    /// when it ended: a stall there is not the relay's.
    pub origin_longest_gap_ms: f64,
    pub origin_longest_gap_at_s: Option<f64>,
    /// The relay's last counters.
    pub relay_stats: HashMap<String, u64>,
    pub origin_series_kbps: Vec<f64>,
    pub sessions: Vec<SessionSeries>,
}

/// The light viewers' sessions and schedule.
struct Control {
    url: String,
    epoch: Instant,
    commands: Sender<Command>,
    pictures: Receiver<u64>,
    live: VecDeque<(u64, RtspSession, Instant)>,
    next_key: u64,
    failures: Vec<String>,
    joins: usize,
    leaves: usize,
}

impl Control {
    /// A new light viewer: DESCRIBE, SETUP, PLAY. Returns its key.
    fn join(&mut self) -> Option<u64> {
        let key = self.next_key;
        self.next_key += 1;
        match self.try_join(key) {
            Ok(()) => {
                self.joins += 1;
                Some(key)
            }
            Err(e) => {
                self.failures.push(format!("join {key}: {e}"));
                None
            }
        }
    }

    fn try_join(&mut self, key: u64) -> Result<()> {
        let (rtp, rtcp) = light::socket_pair()?;
        let port = rtp.local_addr()?.port();
        let requested = Instant::now();
        let mut session = RtspSession::setup(&self.url, port)?;
        let viewer = LightViewer::new(rtp, rtcp, SessionRecord::new(key, requested))?;
        let _ = self.commands.send(Command::Add(Box::new(viewer)));
        let play = Instant::now();
        if let Err(e) = session.play() {
            let _ = self.commands.send(Command::Remove(key, Instant::now()));
            return Err(e);
        }
        let _ = self.commands.send(Command::Played(key, play));
        self.live.push_back((key, session, play + KEEP_ALIVE));
        Ok(())
    }

    /// The viewer that joined first of those still there leaves.
    fn leave_oldest(&mut self) {
        if let Some((key, session, _)) = self.live.pop_front() {
            self.leave(key, session);
        }
    }

    fn leave_key(&mut self, key: u64) {
        if let Some(i) = self.live.iter().position(|(k, _, _)| *k == key) {
            if let Some((key, session, _)) = self.live.remove(i) {
                self.leave(key, session);
            }
        }
    }

    fn leave(&mut self, key: u64, session: RtspSession) {
        let at = Instant::now();
        if let Err(e) = session.teardown() {
            self.failures.push(format!("leave {key}: {e}"));
        }
        let _ = self.commands.send(Command::Remove(key, at));
        self.leaves += 1;
    }

    fn leave_all(&mut self) {
        while !self.live.is_empty() {
            self.leave_oldest();
        }
    }

    /// GET_PARAMETER for every session that is due.
    fn keep_alive(&mut self) {
        let now = Instant::now();
        let mut failed = Vec::new();
        for (key, session, due) in self.live.iter_mut() {
            if *due <= now {
                if let Err(e) = session.keep_alive() {
                    failed.push(format!("keep-alive {key}: {e}"));
                }
                *due = now + KEEP_ALIVE;
            }
        }
        self.failures.extend(failed);
    }

    /// Keeps sessions alive until `t`.
    fn wait_until(&mut self, t: Instant) {
        loop {
            self.keep_alive();
            let now = Instant::now();
            if now >= t {
                return;
            }
            std::thread::sleep((t - now).min(Duration::from_millis(20)));
        }
    }

    /// Waits for viewer `key`'s first whole picture; false on time-out.
    fn wait_for_picture(&mut self, key: u64, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .pictures
                .recv_timeout(left.min(Duration::from_millis(500)))
            {
                Ok(k) if k == key => return true,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => self.keep_alive(),
                Err(_) => return false,
            }
        }
    }

    fn ms(&self, t: Instant) -> u64 {
        control_ms(self.epoch, t)
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn mib(kib: Option<u64>) -> f64 {
    kib.unwrap_or(0) as f64 / 1024.0
}

/// The relay's and this process's CPU at one moment.
struct CpuSample {
    at: Instant,
    relay: u64,
    relay_system: u64,
    relay_threads: std::collections::BTreeMap<u32, (String, u64)>,
    relay_waits: std::collections::BTreeMap<u32, (String, u64)>,
    bench: u64,
}

impl CpuSample {
    fn take(relay: u32) -> Self {
        CpuSample {
            at: Instant::now(),
            relay: procstat::cpu_ticks(relay).unwrap_or(0),
            relay_system: procstat::system_ticks(relay).unwrap_or(0),
            relay_threads: procstat::thread_ticks(relay),
            relay_waits: procstat::thread_run_delay_ns(relay),
            bench: procstat::cpu_ticks(std::process::id()).unwrap_or(0),
        }
    }
}

pub fn run(args: &Args, command: String) -> Result<BenchResult> {
    gst::init()?;
    gststreamkit::plugin_register_static()?;
    let load_start = loadavg();
    let epoch = Instant::now();
    let input = free_udp_port_with(&[1, 5], false)?;
    let mut relay = RelayProcess::start(input, free_tcp_port()?, &args.relay_arg)?;
    let (picture_tx, pictures) = std::sync::mpsc::channel();
    let (commands, receiver) = light::spawn_receiver(epoch, picture_tx);
    // The origin's own packets, timed by the kernel as the viewers' are.
    let (tap, tap_rtcp) = light::socket_pair()?;
    let tap_port = tap.local_addr()?.port();
    let tap = LightViewer::new(tap, tap_rtcp, SessionRecord::new(ORIGIN_TAP, epoch))?;
    let _ = commands.send(Command::Add(Box::new(tap)));
    let origin = Origin::start(
        &args.scene,
        (args.width, args.height, args.fps),
        (input, tap_port),
        epoch,
    )?;
    relay.wait_for_stats(Duration::from_secs(15), |s| {
        s.get("frames_in").is_some_and(|n| *n > 2)
    })?;
    let mut control = Control {
        url: relay.url.clone(),
        epoch,
        commands,
        pictures,
        live: VecDeque::new(),
        next_key: 0,
        failures: Vec::new(),
        joins: 0,
        leaves: 0,
    };
    let joins_mode = args.joins > 0;
    if joins_mode {
        // Steady viewers first: they watch the joins go by.
        let spread = Duration::from_secs(2) / args.viewers.max(1) as u32;
        for _ in 0..args.viewers {
            control.join();
            control.wait_until(Instant::now() + spread);
        }
    }
    let full: Vec<FullViewer> = (0..args.full)
        .map(|_| FullViewer::join(&relay.url))
        .collect::<Result<_, _>>()?;
    control.wait_until(Instant::now() + Duration::from_secs(1));
    let pid = relay.pid();
    let start = CpuSample::take(pid);
    let start_stats = relay.stats();
    let (kf_start, forced_start) = origin.keyframes();
    let rss_start = mib(procstat::rss_kib(pid));
    let threads_start = procstat::thread_count(pid).unwrap_or(0);
    let mut rss_curve = vec![(0, rss_start)];
    let mut rss_after_100 = None;

    if joins_mode {
        for i in 1..=args.joins {
            if let Some(key) = control.join() {
                if !control.wait_for_picture(key, PICTURE_TIMEOUT) {
                    control.failures.push(format!(
                        "join {key}: no whole picture in {PICTURE_TIMEOUT:?}"
                    ));
                }
                control.leave_key(key);
            }
            if i % 100 == 0 || i == args.joins {
                let rss = mib(procstat::rss_kib(pid));
                rss_curve.push((i, rss));
                if i == 100 {
                    rss_after_100 = Some(rss);
                }
            }
            control.keep_alive();
            if !relay.alive() {
                control
                    .failures
                    .push(format!("the relay died after {i} joins"));
                break;
            }
        }
    } else {
        let mut schedule: Vec<(Duration, bool)> = Vec::new();
        let spread = args.join_spread.min(args.duration / 2.0).max(0.0);
        for i in 0..args.viewers {
            schedule.push((
                Duration::from_secs_f64(spread * i as f64 / args.viewers as f64),
                false,
            ));
        }
        // Churn between the end of the first joins and a second before the
        // end, evenly.
        let churn_span = (args.duration - spread - 1.0).max(0.0);
        for k in 0..args.churn {
            let at = spread + churn_span * (k + 1) as f64 / (args.churn + 1) as f64;
            schedule.push((Duration::from_secs_f64(at), true));
        }
        schedule.sort_by_key(|e| e.0);
        for (at, churn) in schedule {
            control.wait_until(start.at + at);
            if churn {
                control.leave_oldest();
            }
            control.join();
        }
        control.wait_until(start.at + Duration::from_secs_f64(args.duration));
    }
    // Settle: the last joiner's picture, the last stats line.
    control.wait_until(Instant::now() + Duration::from_millis(1200));
    let end = CpuSample::take(pid);
    let threads_end = procstat::thread_count(pid).unwrap_or(0);
    let end_stats = relay.stats();
    let (kf_end, forced_end) = origin.keyframes();
    let end_ms = control.ms(end.at);
    let sent = origin.sent();
    let origin_bytes = sent.bytes.clone();
    control.leave_all();
    let Control {
        commands,
        failures: mut join_failures,
        joins: light_joins,
        leaves: light_leaves,
        ..
    } = control;
    drop(commands);
    let mut records = receiver
        .join()
        .map_err(|_| anyhow!("the light viewers' thread panicked"))?;
    let tap = records
        .iter()
        .position(|r| r.key == ORIGIN_TAP)
        .map(|i| records.swap_remove(i));
    records.sort_by_key(|r| r.key);
    let mut full_results = Vec::new();
    for f in full {
        match f.finish() {
            Ok(r) => full_results.push(r),
            Err(e) => join_failures.push(format!("{e:#}")),
        }
    }
    origin.check()?;
    std::thread::sleep(Duration::from_millis(1200));
    let rss_end = mib(procstat::rss_kib(pid));
    let threads_left = procstat::thread_count(pid).unwrap_or(0);
    let relay_alive = relay.alive();
    let final_stats = relay.stats();

    let wall = end.at.saturating_duration_since(start.at).as_secs_f64();
    let ticks = procstat::ticks_per_second() as f64;
    let cores = |t: u64| t as f64 / ticks / wall.max(1e-9);
    let waits: HashMap<String, u64> =
        procstat::by_thread_kind(&start.relay_waits, &end.relay_waits)
            .into_iter()
            .map(|(name, ns, _)| (name, ns))
            .collect();
    let relay_threads = procstat::by_thread_kind(&start.relay_threads, &end.relay_threads)
        .into_iter()
        .take(12)
        .map(|(name, t, threads)| ThreadKind {
            waited_ms_per_s: waits.get(&name).map_or(0.0, |ns| *ns as f64 / 1e6 / wall),
            name,
            threads,
            cores: cores(t),
        })
        .collect();
    let start_ms = control_ms(epoch, start.at);
    let counter = |s: &HashMap<String, u64>, k: &str| s.get(k).copied().unwrap_or(0);

    let mut result = BenchResult {
        command,
        mode: if joins_mode { "joins" } else { "timed" }.into(),
        scene: args.scene.name(),
        width: args.width,
        height: args.height,
        fps: args.fps,
        encoder: "deltaenc defaults (lossless, 64 px tiles, intra-refresh 30 frames), \
                  rtpdeltapay defaults"
            .into(),
        origin_kbps: origin_bytes.kbps(start_ms, end_ms),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_start,
        load_end: loadavg(),
        measured_s: wall,
        measured_from_s: start.at.saturating_duration_since(epoch).as_secs_f64(),
        light_viewers: args.viewers,
        full_viewers: args.full,
        light_joins,
        light_leaves,
        join_failures,
        join_ms: Spread::default(),
        join_from_describe_ms: Spread::default(),
        never_whole: 0,
        never_a_packet: Vec::new(),
        first_picture_kib: Spread::default(),
        full: full_results,
        origin_keyframes: kf_end - kf_start,
        origin_forced_keyframes: forced_end - forced_start,
        relay_upstream_keyframe_requests: counter(&end_stats, "upstream_keyframe_requests")
            .saturating_sub(counter(&start_stats, "upstream_keyframe_requests")),
        relay_cpu_cores: cores(end.relay.saturating_sub(start.relay)),
        relay_system_cores: cores(end.relay_system.saturating_sub(start.relay_system)),
        relay_threads,
        bench_cpu_cores: cores(end.bench.saturating_sub(start.bench)),
        relay_rss_start_mib: rss_start,
        relay_rss_after_100_mib: rss_after_100,
        relay_rss_after_all_joins_mib: rss_curve
            .last()
            .filter(|(n, _)| joins_mode && *n > 0)
            .map(|(_, m)| *m),
        relay_rss_end_mib: rss_end,
        relay_rss_curve: rss_curve,
        relay_threads_count: (threads_start, threads_end, threads_left),
        relay_alive,
        relay_complaints: relay.complaints(),
        others_after_join_ratio: Spread::default(),
        joiner_first_second_kbps: Spread::default(),
        joiner_steady_kbps: Spread::default(),
        packets_lost: 0,
        frames_lost: 0,
        frames_lost_max_per_viewer: 0,
        viewers_with_frame_loss: 0,
        light_longest_gap_ms: Spread::default(),
        light_longest_gap_at_s: None,
        relay_transit_ms: Spread::default(),
        relay_transit_over_100ms: 0,
        relay_transit_max_at_s: None,
        origin_longest_gap_ms: sent.longest_gap.as_secs_f64() * 1e3,
        origin_longest_gap_at_s: sent
            .longest_gap_end
            .map(|t| t.saturating_duration_since(epoch).as_secs_f64()),
        relay_stats: final_stats,
        origin_series_kbps: origin_bytes.kbps_series(500, end_ms),
        sessions: Vec::new(),
    };
    let left_origin: HashMap<u32, Instant> = tap
        .map(|t| t.arrivals.into_iter().collect())
        .unwrap_or_default();
    summarise_sessions(&mut result, &records, (&sent, &left_origin), epoch, end_ms);
    Ok(result)
}

fn control_ms(epoch: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(epoch).as_millis() as u64
}

/// The light viewers' figures.
fn summarise_sessions(
    result: &mut BenchResult,
    records: &[SessionRecord],
    (sent, left_origin): (&Sent, &HashMap<u32, Instant>),
    epoch: Instant,
    end_ms: u64,
) {
    let origin = &sent.bytes;
    let transit_at: Vec<(Duration, Instant)> = records
        .iter()
        .flat_map(|r| r.arrivals.iter())
        .filter_map(|(n, at)| Some((at.saturating_duration_since(*left_origin.get(n)?), *at)))
        .collect();
    let transit: Vec<Duration> = transit_at.iter().map(|(d, _)| *d).collect();
    result.relay_transit_ms = Spread::of_ms(&transit);
    result.relay_transit_max_at_s = transit_at
        .iter()
        .max_by_key(|(d, _)| *d)
        .map(|(_, at)| at.saturating_duration_since(epoch).as_secs_f64());
    result.relay_transit_over_100ms = transit
        .iter()
        .filter(|d| **d > Duration::from_millis(100))
        .count();
    let ms = |t: Instant| control_ms(epoch, t);
    let joins: Vec<Duration> = records
        .iter()
        .filter_map(SessionRecord::join_time)
        .collect();
    let from_describe: Vec<Duration> = records
        .iter()
        .filter_map(|r| Some(r.first_picture?.saturating_duration_since(r.requested)))
        .collect();
    result.join_ms = Spread::of_ms(&joins);
    result.join_from_describe_ms = Spread::of_ms(&from_describe);
    result.never_whole = records.iter().filter(|r| r.first_picture.is_none()).count();
    result.never_a_packet = records
        .iter()
        .filter(|r| r.first_packet.is_none())
        .filter_map(|r| Some((r.key, ms(r.play_sent?) as f64 / 1e3, r.rtp_port)))
        .collect();
    let kib: Vec<f64> = records
        .iter()
        .filter(|r| r.first_picture.is_some())
        .map(|r| r.picture_bytes as f64 / 1024.0)
        .collect();
    result.first_picture_kib = Spread::of(&kib);

    let joins_ms: Vec<u64> = records.iter().filter_map(|r| r.play_sent.map(ms)).collect();
    let spans: Vec<(LiveSpan, &ByteBins)> = records
        .iter()
        .filter_map(|r| {
            let span = LiveSpan {
                live_from_ms: ms(r.first_picture?),
                until_ms: r.left.map_or(end_ms, ms).min(end_ms),
            };
            Some((span, &r.bins))
        })
        .collect();
    result.others_after_join_ratio = Spread::of(&ratios_after_joins(
        &joins_ms,
        &spans,
        origin,
        JOIN_WINDOW_MS,
    ));
    let mut first_second = Vec::new();
    let mut steady = Vec::new();
    for r in records {
        let Some(play) = r.play_sent.map(ms) else {
            continue;
        };
        let until = r.left.map_or(end_ms, ms).min(end_ms);
        if until >= play + 1000 {
            first_second.push(r.bins.kbps(play, play + 1000));
        }
        if until >= play + 3000 {
            steady.push(r.bins.kbps(play + 1000, until));
        }
    }
    result.joiner_first_second_kbps = Spread::of(&first_second);
    result.joiner_steady_kbps = Spread::of(&steady);
    result.packets_lost = records.iter().map(|r| r.packets_lost).sum();
    result.frames_lost = records.iter().map(|r| r.frames_lost).sum();
    result.frames_lost_max_per_viewer = records.iter().map(|r| r.frames_lost).max().unwrap_or(0);
    result.viewers_with_frame_loss = records.iter().filter(|r| r.frames_lost > 0).count();
    let gaps: Vec<Duration> = records
        .iter()
        .filter(|r| r.first_picture.is_some())
        .map(|r| r.longest_gap)
        .collect();
    result.light_longest_gap_ms = Spread::of_ms(&gaps);
    result.light_longest_gap_at_s = records
        .iter()
        .max_by_key(|r| r.longest_gap)
        .and_then(|r| r.longest_gap_end)
        .map(|t| t.saturating_duration_since(epoch).as_secs_f64());
    result.sessions = records
        .iter()
        .map(|r| SessionSeries {
            joined_s: r.play_sent.map_or(0.0, |p| ms(p) as f64 / 1e3),
            left_s: r.left.map(|t| ms(t) as f64 / 1e3),
            join_ms: r.join_time().map(|d| d.as_secs_f64() * 1e3),
            kbps: r.bins.kbps_series(500, end_ms),
        })
        .collect();
}
