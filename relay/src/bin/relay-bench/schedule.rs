// SPDX-License-Identifier: MPL-2.0
//! When light viewers join and leave, whichever the transport: the timed
//! schedule (first joins spread, then churn) and the joins mode (one join
//! after another, each waiting for its first whole picture), with the
//! relay's memory sampled every 100 joins.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Result;
use benchkit::procstat;

use crate::args::Args;
use crate::result::{mib, RssCurve};

/// How long a joiner may take to hold a whole picture in the joins mode.
const PICTURE_TIMEOUT: Duration = Duration::from_secs(3);

/// The light viewers still there, in joining order, and the counts both
/// transports keep.
pub struct Roster<V> {
    pub live: VecDeque<(u64, V)>,
    next_key: u64,
    pub failures: Vec<String>,
    pub joins: usize,
    pub leaves: usize,
}

impl<V> Default for Roster<V> {
    fn default() -> Self {
        Roster {
            live: VecDeque::new(),
            next_key: 0,
            failures: Vec::new(),
            joins: 0,
            leaves: 0,
        }
    }
}

/// The light viewers of one transport, as the schedule drives them.
pub trait Audience {
    /// One light viewer while it is there.
    type Viewer;
    fn roster(&mut self) -> &mut Roster<Self::Viewer>;
    /// Starts viewer `key`.
    fn start(&mut self, key: u64) -> Result<Self::Viewer>;
    /// Ends viewer `key`, keeping what it measured.
    fn stop(&mut self, key: u64, viewer: Self::Viewer);
    /// What the viewers need now and then while the schedule waits (RTSP
    /// keep-alives).
    fn tick(&mut self);
    /// Each viewer's key when it first holds a whole picture.
    fn pictures(&self) -> &Receiver<u64>;

    /// A new light viewer; its key, or `None` (the failure noted).
    fn join(&mut self) -> Option<u64> {
        let key = self.roster().next_key;
        self.roster().next_key += 1;
        match self.start(key) {
            Ok(viewer) => {
                let roster = self.roster();
                roster.live.push_back((key, viewer));
                roster.joins += 1;
                Some(key)
            }
            Err(e) => {
                self.fail(format!("join {key}: {e}"));
                None
            }
        }
    }

    /// The viewer that joined first of those still there leaves.
    fn leave_oldest(&mut self) {
        if let Some((key, viewer)) = self.roster().live.pop_front() {
            self.stop(key, viewer);
            self.roster().leaves += 1;
        }
    }

    fn leave_key(&mut self, key: u64) {
        let live = &mut self.roster().live;
        if let Some((key, viewer)) = live
            .iter()
            .position(|(k, _)| *k == key)
            .and_then(|i| live.remove(i))
        {
            self.stop(key, viewer);
            self.roster().leaves += 1;
        }
    }

    fn leave_all(&mut self) {
        while !self.roster().live.is_empty() {
            self.leave_oldest();
        }
    }

    /// Notes a failure for the report.
    fn fail(&mut self, failure: String) {
        self.roster().failures.push(failure);
    }

    /// Keeps the viewers going until `t`.
    fn wait_until(&mut self, t: Instant) {
        loop {
            self.tick();
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
                .pictures()
                .recv_timeout(left.min(Duration::from_millis(500)))
            {
                Ok(k) if k == key => return true,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => self.tick(),
                Err(_) => return false,
            }
        }
    }
}

/// The joins mode's steady viewers, joined over two seconds before the
/// measured span: they watch the joins go by.
pub fn join_steady(audience: &mut impl Audience, args: &Args) {
    if args.joins == 0 {
        return;
    }
    let spread = Duration::from_secs(2) / args.viewers.max(1) as u32;
    for _ in 0..args.viewers {
        audience.join();
        audience.wait_until(Instant::now() + spread);
    }
}

/// Runs the schedule `args` asks for from `start` (timed, or `--joins`),
/// sampling relay `pid`'s memory in the joins mode and stopping there when
/// `alive` says the relay died.
pub fn run_schedule(
    audience: &mut impl Audience,
    args: &Args,
    start: Instant,
    (pid, rss_start): (u32, f64),
    mut alive: impl FnMut() -> bool,
) -> RssCurve {
    let mut rss = RssCurve {
        curve: vec![(0, rss_start)],
        after_100: None,
    };
    if args.joins > 0 {
        for i in 1..=args.joins {
            if let Some(key) = audience.join() {
                if !audience.wait_for_picture(key, PICTURE_TIMEOUT) {
                    audience.fail(format!(
                        "join {key}: no whole picture in {PICTURE_TIMEOUT:?}"
                    ));
                }
                audience.leave_key(key);
            }
            if i % 100 == 0 || i == args.joins {
                let now = mib(procstat::rss_kib(pid));
                rss.curve.push((i, now));
                if i == 100 {
                    rss.after_100 = Some(now);
                }
            }
            audience.tick();
            if !alive() {
                audience.fail(format!("the relay died after {i} joins"));
                break;
            }
        }
    } else {
        let mut schedule: Vec<(Duration, bool)> = Vec::new();
        let spread = first_joins_spread(args);
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
            audience.wait_until(start + at);
            if churn {
                audience.leave_oldest();
            }
            audience.join();
        }
        audience.wait_until(start + Duration::from_secs_f64(args.duration));
    }
    rss
}

/// Seconds over which the timed schedule spreads the first joins.
pub fn first_joins_spread(args: &Args) -> f64 {
    args.join_spread.min(args.duration / 2.0).max(0.0)
}
