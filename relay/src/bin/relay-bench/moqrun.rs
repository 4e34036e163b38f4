// SPDX-License-Identifier: MPL-2.0
//! One MoQ bench run (`--transport moq`): a `moq-relay` on loopback (two,
//! clustered, with `--cluster`: the origin at the first, the viewers at the
//! second), the origin publishing through the bench's counting forwarder,
//! light viewers (`moqsrc ! fakesink`) joining and leaving on the RTSP
//! mode's schedule, full viewers (`moqsrc ! deltadec ! framemeter`), and
//! the same figures as the RTSP mode, with what only MoQ has: what the
//! origin sent on the wire before and after the joins, and moqsink's and
//! moqsrc's counters.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use benchkit::moqrelay::MoqRelay;
use benchkit::procstat;

use crate::args::Args;
use crate::forwarder::{Counted, Forwarder};
use crate::light::SessionRecord;
use crate::moqends::{Broadcast, MoqOrigin, Published, SinkSample};
use crate::origin::FullViewer;
use crate::result::{
    control_ms, loadavg, mib, BenchResult, CpuSample, MoqFigures, OriginWindow, ProcessLoad,
    RunEnd, SinkCounts, Spread,
};
use crate::schedule::{first_joins_spread, join_steady, run_schedule, Audience, Roster};
use crate::viewerproc::ViewerProcess;

/// The broadcast's name at the relay.
const BROADCAST: &str = "relay-bench";
/// The span before the light viewers' first join (the full viewers
/// watching) over which the origin's bytes are the "before".
const BEFORE: Duration = Duration::from_secs(2);
/// How long the origin may take to publish its first frames.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(15);

/// The light viewers, in their own process.
struct Viewers {
    process: ViewerProcess,
    roster: Roster<()>,
    records: Vec<SessionRecord>,
    /// moqsrc's counters summed over the viewers that left.
    src_stats: BTreeMap<String, u64>,
    /// moqsrc's times (its `*-time` counters), ms, one a viewer.
    src_times: BTreeMap<String, Vec<f64>>,
}

impl Audience for Viewers {
    type Viewer = ();

    fn roster(&mut self) -> &mut Roster<()> {
        &mut self.roster
    }

    fn start(&mut self, key: u64) -> Result<()> {
        self.process.join(key)
    }

    fn stop(&mut self, key: u64, (): ()) {
        let end = match self.process.leave(key) {
            Ok(end) => end,
            Err(e) => return self.fail(format!("leave {key}: {e:#}")),
        };
        if let Some(e) = end.error {
            self.fail(format!("viewer {key}: {e}"));
        }
        for (field, v) in end.src_stats {
            if field.ends_with("-time") {
                if v > 0 {
                    let ms = v as f64 / 1e6;
                    self.src_times.entry(field).or_default().push(ms);
                }
            } else {
                *self.src_stats.entry(field).or_default() += v;
            }
        }
        self.records.push(end.record);
    }

    /// Nothing: a MoQ session keeps itself alive.
    fn tick(&mut self) {}

    fn pictures(&self) -> &Receiver<u64> {
        self.process.pictures()
    }
}

/// A process whose CPU and memory the measured span covers.
struct Watched {
    pid: u32,
    cpu: CpuSample,
    rss_mib: f64,
}

impl Watched {
    fn start(pid: u32) -> Self {
        Watched {
            pid,
            cpu: CpuSample::take(pid),
            rss_mib: mib(procstat::rss_kib(pid)),
        }
    }

    /// What it used since the start.
    fn end(self) -> ProcessLoad {
        let usage = CpuSample::take(self.pid).since(&self.cpu).relay;
        ProcessLoad {
            cpu_cores: usage.cores,
            system_cores: usage.system_cores,
            rss_start_mib: self.rss_mib,
            rss_end_mib: mib(procstat::rss_kib(self.pid)),
            threads: usage.threads,
        }
    }
}

/// Whether process `pid` runs (exists and is no zombie: a relay that died
/// stays one until the bench reaps it).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(')')?.1.trim_start().starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

/// What a relay logged (warnings and errors), each message once with how
/// many times it came, colours and time stamps taken out.
fn complaints(relay: &MoqRelay, who: &str) -> Vec<String> {
    let mut counted: Vec<(String, usize)> = Vec::new();
    for line in relay.log().lines() {
        let plain = without_colours(line);
        let message = match plain.split_once(' ') {
            Some((stamp, rest)) if stamp.starts_with(|c: char| c.is_ascii_digit()) => rest,
            _ => plain.as_str(),
        }
        .trim();
        if message.is_empty() {
            continue;
        }
        match counted.iter_mut().find(|(m, _)| m == message) {
            Some((_, n)) => *n += 1,
            None => counted.push((message.to_string(), 1)),
        }
    }
    counted
        .into_iter()
        .map(|(m, n)| format!("{who}: {m} (x{n})"))
        .collect()
}

/// `line` without its terminal colour sequences (ESC [ ... m).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Up to and including the sequence's final letter.
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// moqsink's counters from `a` to `b`.
fn sink_counts(a: &SinkSample, b: &SinkSample) -> SinkCounts {
    SinkCounts {
        seconds: b.at.saturating_duration_since(a.at).as_secs_f64(),
        frames: b.frames - a.frames,
        bytes: b.bytes - a.bytes,
        keyframes: b.keyframes - a.keyframes,
        snapshots: b.snapshots - a.snapshots,
        snapshot_bytes: b.snapshot_bytes - a.snapshot_bytes,
        wire_bytes_lost: b.wire_bytes_lost.saturating_sub(a.wire_bytes_lost),
        snapshots_held: b.snapshots_held.saturating_sub(a.snapshots_held),
    }
}

/// What the origin sent from `from` to `to`.
fn window(
    name: &str,
    (from, to): (Instant, Instant),
    epoch: Instant,
    (origin, published, wire): (&MoqOrigin, &Published, &Counted),
) -> OriginWindow {
    let (a, b) = (control_ms(epoch, from), control_ms(epoch, to));
    let sink = match (origin.sink_at(from), origin.sink_at(to)) {
        (Some(x), Some(y)) => sink_counts(&x, &y),
        _ => SinkCounts::default(),
    };
    OriginWindow {
        name: name.into(),
        from_s: a as f64 / 1e3,
        to_s: b as f64 / 1e3,
        published_kbps: published.sent.bytes.kbps(a, b),
        wire_up_kbps: wire.up.kbps(a, b),
        wire_down_kbps: wire.down.kbps(a, b),
        sink,
        joins: 0,
        extra_kib: None,
    }
}

/// Counts each span's joins, and what they cost the origin on the wire
/// beyond the first span's ratio of wire to published bytes.
fn joins_and_their_cost(windows: &mut [OriginWindow], records: &[SessionRecord], epoch: Instant) {
    let ratio = windows
        .first()
        .map(|w| w.wire_up_kbps / w.published_kbps.max(1e-9));
    for (i, w) in windows.iter_mut().enumerate() {
        let s = |t: Instant| t.saturating_duration_since(epoch).as_secs_f64();
        w.joins = records
            .iter()
            .filter_map(|r| r.play_sent.map(s))
            .filter(|t| (w.from_s..w.to_s).contains(t))
            .count();
        if let (Some(ratio), true) = (ratio, i > 0) {
            let extra_kbps = w.wire_up_kbps - ratio * w.published_kbps;
            w.extra_kib = Some(extra_kbps * 1e3 / 8.0 * (w.to_s - w.from_s) / 1024.0);
        }
    }
}

/// The machine's count of UDP datagrams dropped for a full receive buffer
/// (`RcvbufErrors` in /proc/net/snmp).
fn udp_receive_buffer_drops() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next()?, udp.next()?);
    let i = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// Waits until the origin has published a few frames.
fn wait_publishing(origin: &MoqOrigin) -> Result<()> {
    let deadline = Instant::now() + PUBLISH_TIMEOUT;
    while origin.sink().frames < 3 {
        origin.check()?;
        if Instant::now() > deadline {
            bail!("the origin published no frame within {PUBLISH_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

pub fn run(args: &Args, command: String) -> Result<BenchResult> {
    gst::init()?;
    gststreamkit::plugin_register_static()?;
    let load_start = loadavg();
    let epoch = Instant::now();
    let extra: Vec<&str> = args.relay_arg.iter().map(String::as_str).collect();
    let root = MoqRelay::start_with(None, &extra).context("cannot start moq-relay")?;
    let leaf = if args.cluster {
        Some(
            MoqRelay::start_with(Some(&root), &extra)
                .context("cannot start the second, clustered moq-relay")?,
        )
    } else {
        None
    };
    let serving = leaf.as_ref().unwrap_or(&root);
    let forwarder = Forwarder::start(SocketAddr::from((root.host, root.port)), epoch)?;
    let origin = MoqOrigin::start(
        &args.scene,
        (args.width, args.height, args.fps),
        &Broadcast {
            url: format!("https://127.0.0.1:{}/", forwarder.port()),
            fingerprint: root.fingerprint.clone(),
            name: BROADCAST.into(),
        },
        epoch,
    )?;
    wait_publishing(&origin)?;
    let broadcast = Broadcast {
        url: serving.url(),
        fingerprint: serving.fingerprint.clone(),
        name: BROADCAST.into(),
    };
    let mut viewers = Viewers {
        process: ViewerProcess::start(&broadcast, epoch)?,
        roster: Roster::default(),
        records: Vec::new(),
        src_stats: BTreeMap::new(),
        src_times: BTreeMap::new(),
    };
    join_steady(&mut viewers, args);
    let full: Vec<FullViewer> = (0..args.full)
        .map(|_| FullViewer::start(&broadcast.element("moqsrc", "src")))
        .collect::<Result<_, _>>()?;
    viewers.wait_until(Instant::now() + Duration::from_secs(1));
    let before = Instant::now();
    viewers.wait_until(before + BEFORE);
    let pid = serving.pid();
    let start = CpuSample::take(pid);
    let drops_start = udp_receive_buffer_drops();
    let root_start = leaf.is_some().then(|| Watched::start(root.pid()));
    let viewers_start = Watched::start(viewers.process.pid());
    let (kf_start, forced_start) = origin.keyframes();
    let rss_start = mib(procstat::rss_kib(pid));
    let threads_start = procstat::thread_count(pid).unwrap_or(0);
    let rss = run_schedule(&mut viewers, args, start.at, (pid, rss_start), || {
        alive(pid)
    });
    // Settle: the last joiner's picture.
    viewers.wait_until(Instant::now() + Duration::from_millis(1200));
    let end = CpuSample::take(pid);
    let root_relay = root_start.map(Watched::end);
    let viewers_process = viewers_start.end();
    let rss_with_viewers = mib(procstat::rss_kib(pid));
    let drops_end = udp_receive_buffer_drops();
    let threads_end = procstat::thread_count(pid).unwrap_or(0);
    let (kf_end, forced_end) = origin.keyframes();
    let published = origin.published();
    let wire = forwarder.counted();
    viewers.leave_all();
    let Viewers {
        mut records,
        roster:
            Roster {
                failures: mut join_failures,
                joins: light_joins,
                leaves: light_leaves,
                ..
            },
        src_stats,
        src_times,
        process,
    } = viewers;
    drop(process);
    records.sort_by_key(|r| r.key);
    let full_results = FullViewer::finish_all(full, &mut join_failures);
    origin.check()?;
    std::thread::sleep(Duration::from_millis(1200));
    let rss_end = mib(procstat::rss_kib(pid));
    let threads_left = procstat::thread_count(pid).unwrap_or(0);
    let relay_alive = alive(pid) && alive(root.pid());
    let mut relay_complaints = complaints(&root, "moq-relay");
    if let Some(leaf) = &leaf {
        for c in &mut relay_complaints {
            c.insert_str(0, "origin's ");
        }
        relay_complaints.extend(complaints(leaf, "viewers' moq-relay"));
    }
    let full_join_ms = Spread::of(
        &full_results
            .iter()
            .filter_map(|f| f.first_picture_ms)
            .collect::<Vec<_>>(),
    );
    let mut result = BenchResult::new(
        RunEnd {
            args,
            command,
            encoder: "deltaenc defaults (lossless, 64 px tiles, intra-refresh 30 frames), \
                      moqsink defaults (a snapshot every second)",
            epoch,
            load_start,
            start: &start,
            end: &end,
            sent: &published.sent,
            light_joins,
            light_leaves,
            failures: join_failures,
            full: full_results,
            keyframes: (kf_end - kf_start, forced_end - forced_start),
            rss_start,
            rss,
            rss_end,
            threads: (threads_start, threads_end, threads_left),
            relay_alive,
            complaints: relay_complaints,
        },
        &records,
        &published.left,
    );
    let mut spans = vec![("before the joins", (before, start.at))];
    if args.joins > 0 {
        spans.push(("joins", (start.at, end.at)));
    } else {
        let first_joins = Duration::from_secs_f64(first_joins_spread(args) + 1.0);
        let split = (start.at + first_joins).min(end.at);
        spans.push(("first joins", (start.at, split)));
        spans.push(("after", (split, end.at)));
    }
    let sources = (&origin, &published, &wire);
    let mut windows: Vec<OriginWindow> = spans
        .into_iter()
        .map(|(name, span)| window(name, span, epoch, sources))
        .collect();
    joins_and_their_cost(&mut windows, &records, epoch);
    result.moq = Some(MoqFigures {
        cluster: args.cluster,
        snapshot_interval_ms: origin.snapshot_interval().as_millis() as u64,
        windows,
        wire_series_kbps: wire.up.kbps_series(500, control_ms(epoch, end.at)),
        light_src: src_stats,
        full_join_ms,
        root_relay,
        relay_rss_with_viewers_mib: rss_with_viewers,
        bench_threads: end.since(&start).bench.threads,
        viewers_process,
        light_src_times_ms: src_times
            .into_iter()
            .map(|(field, ms)| (field, Spread::of(&ms)))
            .collect(),
        udp_receive_buffer_drops: drops_start.zip(drops_end).map(|(a, b)| b.saturating_sub(a)),
    });
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_come_out_of_a_log_line() {
        let line = "\u{1b}[2m2026-12-04T12:47:01Z\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m moq: closed";
        assert_eq!(
            without_colours(line),
            "2026-12-04T12:47:01Z  WARN moq: closed"
        );
    }
}
