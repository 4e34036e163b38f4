// SPDX-License-Identifier: MPL-2.0
//! What a run measured, whichever the transport: the figures
//! ([`BenchResult`]), the relay's CPU from two samples of /proc, and the
//! light viewers' records summed up. The RTSP run (`run`) and the MoQ run
//! (`moqrun`) both end here.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use benchkit::procstat;
use gststreamkit::measure::frametally::nearest_rank;
use serde::Serialize;

use crate::args::Args;
use crate::bytebins::{ratios_after_joins, ByteBins, LiveSpan};
use crate::light::SessionRecord;
use crate::origin::{FullViewerResult, Sent};

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
    pub fn of_ms(values: &[Duration]) -> Self {
        let ms: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        Self::of(&ms)
    }

    /// Of numbers (nearest rank, as framemeter's latency percentiles).
    pub fn of(values: &[f64]) -> Self {
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
    /// MoQ mode only (absent in the RTSP mode's JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moq: Option<MoqFigures>,
}

/// moqsink's counters over a span.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SinkCounts {
    pub seconds: f64,
    pub frames: u64,
    /// Objects written (headers included), snapshots not.
    pub bytes: u64,
    pub keyframes: u64,
    pub snapshots: u64,
    pub snapshot_bytes: u64,
    /// Bytes the origin's QUIC session declared lost (and so sent again).
    pub wire_bytes_lost: u64,
    /// Snapshots the origin's own standing subscription read back
    /// (`hold-snapshots`).
    pub snapshots_held: u64,
}

impl SinkCounts {
    /// kbit/s of `bytes` over the span.
    pub fn kbps(&self, bytes: u64) -> f64 {
        bytes as f64 * 8.0 / 1e3 / self.seconds.max(1e-9)
    }
}

/// CPU and memory of a process over the measured span: the origin's relay
/// when the viewers are at a second one, the MoQ viewers' process.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessLoad {
    pub cpu_cores: f64,
    pub system_cores: f64,
    pub rss_start_mib: f64,
    pub rss_end_mib: f64,
    pub threads: Vec<ThreadKind>,
}

/// What the MoQ origin sent over one span of the run.
#[derive(Debug, Clone, Serialize)]
pub struct OriginWindow {
    /// "before the joins", "first joins", "after", "joins".
    pub name: String,
    /// s from the bench's start.
    pub from_s: f64,
    pub to_s: f64,
    /// The frames handed to moqsink, kbit/s.
    pub published_kbps: f64,
    /// The origin's UDP datagrams to its relay (QUIC, as sent), through the
    /// bench's counting forwarder, kbit/s.
    pub wire_up_kbps: f64,
    /// The relay's datagrams back to the origin, kbit/s.
    pub wire_down_kbps: f64,
    /// moqsink's counters over the span (read every 100 ms).
    pub sink: SinkCounts,
    /// Light viewers that joined in the span.
    pub joins: usize,
    /// The bytes on the wire beyond what the span's published frames cost
    /// at the first span's ratio of wire to published bytes, KiB (what
    /// joins, and repairs after losses, cost the origin).
    pub extra_kib: Option<f64>,
}

/// What only the MoQ mode measures.
#[derive(Debug, Clone, Serialize)]
pub struct MoqFigures {
    /// Viewers at a second `moq-relay` clustered with the origin's.
    pub cluster: bool,
    /// moqsink's snapshot interval, ms.
    pub snapshot_interval_ms: u64,
    /// Before the light viewers' first join (the full viewers watching),
    /// then the measured span: the first joins and after (timed), or the
    /// joins (joins mode).
    pub windows: Vec<OriginWindow>,
    /// The origin's datagrams to the relay per half second from the start,
    /// kbit/s.
    pub wire_series_kbps: Vec<f64>,
    /// moqsrc's stats summed over the light viewers.
    pub light_src: BTreeMap<String, u64>,
    /// Full viewers: starting the pipeline to the first decoded picture, ms.
    pub full_join_ms: Spread,
    /// The origin's relay, in the clustered variant.
    pub root_relay: Option<ProcessLoad>,
    /// The light viewers' process.
    pub viewers_process: ProcessLoad,
    /// moqsrc's own times (`connect-time`, `join-time`,
    /// `first-picture-time`, as far as the element has them) over the
    /// light viewers, ms.
    pub light_src_times_ms: BTreeMap<String, Spread>,
    /// The relay serving the viewers: RSS at the end of the measured span,
    /// every viewer still there, MiB.
    pub relay_rss_with_viewers_mib: f64,
    /// This process's busiest kinds of thread over the measured span (the
    /// origin, the forwarder, the full viewers).
    pub bench_threads: Vec<ThreadKind>,
    /// UDP datagrams the kernel dropped for a full receive buffer, on the
    /// whole machine, over the measured span (/proc/net/snmp).
    pub udp_receive_buffer_drops: Option<u64>,
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn mib(kib: Option<u64>) -> f64 {
    kib.unwrap_or(0) as f64 / 1024.0
}

/// One process's CPU at one moment: in all, in the kernel, per thread, and
/// each thread's wait for a core.
pub struct ProcSample {
    ticks: u64,
    system: u64,
    threads: BTreeMap<u32, (String, u64)>,
    waits: BTreeMap<u32, (String, u64)>,
}

impl ProcSample {
    fn take(pid: u32) -> Self {
        ProcSample {
            ticks: procstat::cpu_ticks(pid).unwrap_or(0),
            system: procstat::system_ticks(pid).unwrap_or(0),
            threads: procstat::thread_ticks(pid),
            waits: procstat::thread_run_delay_ns(pid),
        }
    }
}

/// The relay's and this process's CPU at one moment.
pub struct CpuSample {
    pub at: Instant,
    relay: ProcSample,
    bench: ProcSample,
}

impl CpuSample {
    pub fn take(relay: u32) -> Self {
        CpuSample {
            at: Instant::now(),
            relay: ProcSample::take(relay),
            bench: ProcSample::take(std::process::id()),
        }
    }
}

/// A process's CPU between two samples.
pub struct ProcUsage {
    /// In cores.
    pub cores: f64,
    /// Of which in the kernel.
    pub system_cores: f64,
    /// Its busiest kinds of thread.
    pub threads: Vec<ThreadKind>,
}

impl ProcUsage {
    fn between(start: &ProcSample, end: &ProcSample, wall: f64) -> Self {
        let ticks = procstat::ticks_per_second() as f64;
        let cores = |t: u64| t as f64 / ticks / wall.max(1e-9);
        let waits: HashMap<String, u64> = procstat::by_thread_kind(&start.waits, &end.waits)
            .into_iter()
            .map(|(name, ns, _)| (name, ns))
            .collect();
        let threads = procstat::by_thread_kind(&start.threads, &end.threads)
            .into_iter()
            .take(12)
            .map(|(name, t, threads)| ThreadKind {
                waited_ms_per_s: waits.get(&name).map_or(0.0, |ns| *ns as f64 / 1e6 / wall),
                name,
                threads,
                cores: cores(t),
            })
            .collect();
        ProcUsage {
            cores: cores(end.ticks.saturating_sub(start.ticks)),
            system_cores: cores(end.system.saturating_sub(start.system)),
            threads,
        }
    }
}

/// The relay's and this process's CPU between two samples.
pub struct RelayUsage {
    /// Seconds between the samples.
    pub wall: f64,
    pub relay: ProcUsage,
    pub bench: ProcUsage,
}

impl CpuSample {
    /// What was used from `start` to this sample.
    pub fn since(&self, start: &CpuSample) -> RelayUsage {
        let wall = self.at.saturating_duration_since(start.at).as_secs_f64();
        RelayUsage {
            wall,
            relay: ProcUsage::between(&start.relay, &self.relay, wall),
            bench: ProcUsage::between(&start.bench, &self.bench, wall),
        }
    }
}

/// The relay's RSS over the joins mode: (joins so far, MiB) every 100 joins
/// and after the last, and the value after the first 100.
pub struct RssCurve {
    pub curve: Vec<(usize, f64)>,
    pub after_100: Option<f64>,
}

/// What a run of either transport hands over at its end.
pub struct RunEnd<'a> {
    pub args: &'a Args,
    pub command: String,
    /// The origin's encoder and sender settings.
    pub encoder: &'static str,
    pub epoch: Instant,
    pub load_start: String,
    /// The relay serving the viewers, and this process, sampled at the
    /// start and the end of the measured span.
    pub start: &'a CpuSample,
    pub end: &'a CpuSample,
    pub sent: &'a Sent,
    pub light_joins: usize,
    pub light_leaves: usize,
    pub failures: Vec<String>,
    pub full: Vec<FullViewerResult>,
    /// deltaenc's keyframes and forced keyframes over the span.
    pub keyframes: (u64, u64),
    pub rss_start: f64,
    pub rss: RssCurve,
    pub rss_end: f64,
    /// The relay's threads at the start, the end, and every viewer gone.
    pub threads: (u64, u64, u64),
    pub relay_alive: bool,
    pub complaints: Vec<String>,
}

impl BenchResult {
    /// The figures both transports measure; the light viewers' from
    /// `records`, their frames' transit from `left_origin` (frame number
    /// to when the origin sent it).
    pub fn new(
        end: RunEnd<'_>,
        records: &[SessionRecord],
        left_origin: &HashMap<u32, Instant>,
    ) -> Self {
        let RunEnd {
            args, epoch, sent, ..
        } = end;
        let usage = end.end.since(end.start);
        let start_ms = control_ms(epoch, end.start.at);
        let end_ms = control_ms(epoch, end.end.at);
        let joins_mode = args.joins > 0;
        let mut result = BenchResult {
            command: end.command,
            mode: if joins_mode { "joins" } else { "timed" }.into(),
            scene: args.scene.name(),
            width: args.width,
            height: args.height,
            fps: args.fps,
            encoder: end.encoder.into(),
            origin_kbps: sent.bytes.kbps(start_ms, end_ms),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_start: end.load_start,
            load_end: loadavg(),
            measured_s: usage.wall,
            measured_from_s: end.start.at.saturating_duration_since(epoch).as_secs_f64(),
            light_viewers: args.viewers,
            full_viewers: args.full,
            light_joins: end.light_joins,
            light_leaves: end.light_leaves,
            join_failures: end.failures,
            join_ms: Spread::default(),
            join_from_describe_ms: Spread::default(),
            never_whole: 0,
            never_a_packet: Vec::new(),
            first_picture_kib: Spread::default(),
            full: end.full,
            origin_keyframes: end.keyframes.0,
            origin_forced_keyframes: end.keyframes.1,
            relay_upstream_keyframe_requests: 0,
            relay_cpu_cores: usage.relay.cores,
            relay_system_cores: usage.relay.system_cores,
            relay_threads: usage.relay.threads,
            bench_cpu_cores: usage.bench.cores,
            relay_rss_start_mib: end.rss_start,
            relay_rss_after_100_mib: end.rss.after_100,
            relay_rss_after_all_joins_mib: end
                .rss
                .curve
                .last()
                .filter(|(n, _)| joins_mode && *n > 0)
                .map(|(_, m)| *m),
            relay_rss_end_mib: end.rss_end,
            relay_rss_curve: end.rss.curve,
            relay_threads_count: end.threads,
            relay_alive: end.relay_alive,
            relay_complaints: end.complaints,
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
            relay_stats: HashMap::new(),
            origin_series_kbps: sent.bytes.kbps_series(500, end_ms),
            sessions: Vec::new(),
            moq: None,
        };
        summarise_sessions(&mut result, records, (sent, left_origin), epoch, end_ms);
        result
    }
}

pub fn control_ms(epoch: Instant, t: Instant) -> u64 {
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
