// SPDX-License-Identifier: MPL-2.0
//! One RTSP bench run: start the relay and the origin, let viewers join
//! and leave on a schedule, sample the relay, and gather every figure into
//! a [`BenchResult`].

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use benchkit::ports::{free_tcp_port, free_udp_port_with};
use benchkit::procstat;

use crate::args::Args;
use crate::light::{self, Command, LightViewer, RtspSession, SessionRecord};
use crate::origin::{FullViewer, Origin};
use crate::relayproc::RelayProcess;
use crate::result::{loadavg, mib, BenchResult, CpuSample, RunEnd};
use crate::schedule::{join_steady, run_schedule, Audience, Roster};

/// Seconds between a light viewer's GET_PARAMETERs (the relay closes a
/// silent session after 10 s by default).
const KEEP_ALIVE: Duration = Duration::from_secs(3);
/// The key of the socket that receives the origin's own packets.
const ORIGIN_TAP: u64 = u64::MAX;

/// The light viewers' sessions and schedule.
struct Control {
    url: String,
    commands: Sender<Command>,
    pictures: Receiver<u64>,
    /// Each session, and when its next keep-alive is due.
    roster: Roster<(RtspSession, Instant)>,
}

impl Audience for Control {
    type Viewer = (RtspSession, Instant);

    fn roster(&mut self) -> &mut Roster<Self::Viewer> {
        &mut self.roster
    }

    /// A new light viewer: DESCRIBE, SETUP, PLAY.
    fn start(&mut self, key: u64) -> Result<Self::Viewer> {
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
        Ok((session, play + KEEP_ALIVE))
    }

    fn stop(&mut self, key: u64, (session, _): Self::Viewer) {
        let at = Instant::now();
        if let Err(e) = session.teardown() {
            self.fail(format!("leave {key}: {e}"));
        }
        let _ = self.commands.send(Command::Remove(key, at));
    }

    /// GET_PARAMETER for every session that is due.
    fn tick(&mut self) {
        let now = Instant::now();
        let mut failed = Vec::new();
        for (key, (session, due)) in self.roster.live.iter_mut() {
            if *due <= now {
                if let Err(e) = session.keep_alive() {
                    failed.push(format!("keep-alive {key}: {e}"));
                }
                *due = now + KEEP_ALIVE;
            }
        }
        self.roster.failures.extend(failed);
    }

    fn pictures(&self) -> &Receiver<u64> {
        &self.pictures
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
        commands,
        pictures,
        roster: Roster::default(),
    };
    join_steady(&mut control, args);
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
    let rss = run_schedule(&mut control, args, start.at, (pid, rss_start), || {
        relay.alive()
    });
    // Settle: the last joiner's picture, the last stats line.
    control.wait_until(Instant::now() + Duration::from_millis(1200));
    let end = CpuSample::take(pid);
    let threads_end = procstat::thread_count(pid).unwrap_or(0);
    let end_stats = relay.stats();
    let (kf_end, forced_end) = origin.keyframes();
    let sent = origin.sent();
    control.leave_all();
    let Control {
        commands,
        roster:
            Roster {
                failures: mut join_failures,
                joins: light_joins,
                leaves: light_leaves,
                ..
            },
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
    let full_results = FullViewer::finish_all(full, &mut join_failures);
    origin.check()?;
    std::thread::sleep(Duration::from_millis(1200));
    let rss_end = mib(procstat::rss_kib(pid));
    let threads_left = procstat::thread_count(pid).unwrap_or(0);
    let relay_alive = relay.alive();
    let final_stats = relay.stats();
    let counter = |s: &HashMap<String, u64>, k: &str| s.get(k).copied().unwrap_or(0);
    let left_origin: HashMap<u32, Instant> = tap
        .map(|t| t.arrivals.into_iter().collect())
        .unwrap_or_default();
    let mut result = BenchResult::new(
        RunEnd {
            args,
            command,
            encoder: "deltaenc defaults (lossless, 64 px tiles, intra-refresh 30 frames), \
                      rtpdeltapay defaults",
            epoch,
            load_start,
            start: &start,
            end: &end,
            sent: &sent,
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
            complaints: relay.complaints(),
        },
        &records,
        &left_origin,
    );
    result.relay_upstream_keyframe_requests = counter(&end_stats, "upstream_keyframe_requests")
        .saturating_sub(counter(&start_stats, "upstream_keyframe_requests"));
    result.relay_stats = final_stats;
    Ok(result)
}
