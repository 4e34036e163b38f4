// SPDX-License-Identifier: MPL-2.0
//! The MoQ light viewers in a process of their own: this program again,
//! with `--viewer-process`, driven over its stdin and stdout one line at a
//! time. Every MoQ element of a process shares one tokio runtime, so a
//! hundred subscribers in the bench's own process would starve the
//! origin's session, which runs on that runtime too; apart, the origin,
//! the relay and the viewers are three processes, as on three machines.
//!
//! Lines to the viewers' process: a JSON [`Hello`] first, then `join K`
//! and `leave K`; closing its stdin ends it. Lines back: `joined K`,
//! `failed K <why>`, `left K <JSON of what it measured>`, and `picture K`
//! when viewer K holds its first picture. Times cross as CLOCK_MONOTONIC
//! nanoseconds, the clock `Instant` reads on Linux, the same in both
//! processes.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::bytebins::ByteBins;
use crate::light::SessionRecord;
use crate::moqends::{Broadcast, LightEnd, MoqLight};

/// How long a join or a leave may take to be answered.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the viewers' process may take to end once told.
const END_TIMEOUT: Duration = Duration::from_secs(20);

/// An `Instant` and CLOCK_MONOTONIC read together, once per process.
fn base() -> (Instant, u64) {
    static BASE: OnceLock<(Instant, u64)> = OnceLock::new();
    *BASE.get_or_init(|| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let now = Instant::now();
        // SAFETY: `ts` is a valid timespec for the call.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        (now, ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    })
}

/// `t` as CLOCK_MONOTONIC nanoseconds.
fn to_ns(t: Instant) -> u64 {
    let (at, ns) = base();
    if t >= at {
        ns + (t - at).as_nanos() as u64
    } else {
        ns.saturating_sub((at - t).as_nanos() as u64)
    }
}

/// CLOCK_MONOTONIC nanoseconds as an `Instant` of this process.
fn from_ns(n: u64) -> Instant {
    let (at, ns) = base();
    if n >= ns {
        at + Duration::from_nanos(n - ns)
    } else {
        at.checked_sub(Duration::from_nanos(ns - n)).unwrap_or(at)
    }
}

/// What the viewers' process is told first.
#[derive(Debug, Serialize, Deserialize)]
struct Hello {
    broadcast: Broadcast,
    /// The bench's epoch: byte bins count from it.
    epoch_ns: u64,
}

/// A light viewer's [`SessionRecord`] and counters, across processes.
#[derive(Debug, Serialize, Deserialize)]
struct Left {
    key: u64,
    requested_ns: u64,
    play_sent_ns: Option<u64>,
    first_packet_ns: Option<u64>,
    first_picture_ns: Option<u64>,
    picture_bytes: u64,
    bins: ByteBins,
    packets: u64,
    frames: u64,
    frames_lost: u64,
    longest_gap_ns: u64,
    longest_gap_end_ns: Option<u64>,
    arrivals: Vec<(u32, u64)>,
    left_ns: Option<u64>,
    src_stats: BTreeMap<String, u64>,
    error: Option<String>,
}

impl Left {
    fn from_end(end: LightEnd) -> Self {
        let r = end.record;
        Left {
            key: r.key,
            requested_ns: to_ns(r.requested),
            play_sent_ns: r.play_sent.map(to_ns),
            first_packet_ns: r.first_packet.map(to_ns),
            first_picture_ns: r.first_picture.map(to_ns),
            picture_bytes: r.picture_bytes,
            bins: r.bins,
            packets: r.packets,
            frames: r.frames,
            frames_lost: r.frames_lost,
            longest_gap_ns: r.longest_gap.as_nanos() as u64,
            longest_gap_end_ns: r.longest_gap_end.map(to_ns),
            arrivals: r.arrivals.iter().map(|(n, t)| (*n, to_ns(*t))).collect(),
            left_ns: r.left.map(to_ns),
            src_stats: end.src_stats,
            error: end.error,
        }
    }

    fn into_end(self) -> LightEnd {
        let mut r = SessionRecord::new(self.key, from_ns(self.requested_ns));
        r.play_sent = self.play_sent_ns.map(from_ns);
        r.first_packet = self.first_packet_ns.map(from_ns);
        r.first_picture = self.first_picture_ns.map(from_ns);
        r.picture_bytes = self.picture_bytes;
        r.bins = self.bins;
        r.packets = self.packets;
        r.frames = self.frames;
        r.frames_lost = self.frames_lost;
        r.longest_gap = Duration::from_nanos(self.longest_gap_ns);
        r.longest_gap_end = self.longest_gap_end_ns.map(from_ns);
        r.arrivals = self
            .arrivals
            .into_iter()
            .map(|(n, t)| (n, from_ns(t)))
            .collect();
        r.left = self.left_ns.map(from_ns);
        LightEnd {
            record: r,
            src_stats: self.src_stats,
            error: self.error,
        }
    }
}

/// The viewers' process, seen from the bench.
pub struct ViewerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<String>,
    pictures: Receiver<u64>,
}

impl ViewerProcess {
    /// Starts this program as the viewers' process for `broadcast`; byte
    /// bins count from `epoch`.
    pub fn start(broadcast: &Broadcast, epoch: Instant) -> Result<Self> {
        let me = std::env::current_exe().context("where am I")?;
        let mut child = Command::new(&me)
            .arg("--viewer-process")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {} --viewer-process", me.display()))?;
        let mut stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (reply_tx, replies) = mpsc::channel();
        let (picture_tx, pictures) = mpsc::channel();
        std::thread::Builder::new()
            .name("viewers-out".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let picture = line
                        .strip_prefix("picture ")
                        .and_then(|k| k.parse::<u64>().ok());
                    let sent = match picture {
                        Some(key) => picture_tx.send(key).is_ok(),
                        None => reply_tx.send(line).is_ok(),
                    };
                    if !sent {
                        break;
                    }
                }
            })
            .context("a thread for the viewers' process")?;
        let hello = Hello {
            broadcast: broadcast.clone(),
            epoch_ns: to_ns(epoch),
        };
        writeln!(stdin, "{}", serde_json::to_string(&hello)?)
            .context("cannot talk to the viewers' process")?;
        Ok(ViewerProcess {
            child,
            stdin: Some(stdin),
            replies,
            pictures,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Each viewer's key at its first picture.
    pub fn pictures(&self) -> &Receiver<u64> {
        &self.pictures
    }

    /// Sends `command` and returns the answer's rest after `expect`.
    fn ask(&mut self, command: &str, expect: &[&str]) -> Result<(String, String)> {
        let stdin = self
            .stdin
            .as_mut()
            .context("the viewers' process is ended")?;
        writeln!(stdin, "{command}").context("the viewers' process is gone")?;
        stdin.flush()?;
        let line = match self.replies.recv_timeout(ANSWER_TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                bail!("the viewers' process did not answer `{command}` in {ANSWER_TIMEOUT:?}")
            }
            Err(RecvTimeoutError::Disconnected) => bail!("the viewers' process ended"),
        };
        expect
            .iter()
            .find_map(|e| {
                let rest = line.strip_prefix(e)?;
                Some((e.to_string(), rest.to_string()))
            })
            .ok_or_else(|| anyhow!("the viewers' process answered `{command}` with `{line}`"))
    }

    /// Starts viewer `key` there.
    pub fn join(&mut self, key: u64) -> Result<()> {
        let joined = format!("joined {key}");
        let failed = format!("failed {key} ");
        match self.ask(&format!("join {key}"), &[&joined, &failed])? {
            (word, _) if word == joined => Ok(()),
            (_, why) => Err(anyhow!(why)),
        }
    }

    /// Ends viewer `key`; what it measured.
    pub fn leave(&mut self, key: u64) -> Result<LightEnd> {
        let (_, json) = self.ask(&format!("leave {key}"), &[&format!("left {key} ")])?;
        let left: Left = serde_json::from_str(&json).context("the viewers' process's record")?;
        Ok(left.into_end())
    }
}

impl Drop for ViewerProcess {
    fn drop(&mut self) {
        // Its stdin closed, it stops every viewer and ends.
        drop(self.stdin.take());
        let deadline = Instant::now() + END_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One whole line to the bench.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The viewers' process: reads commands from stdin until it closes.
pub fn serve() -> Result<()> {
    gst::init()?;
    gststreamkit::plugin_register_static()?;
    let mut lines = std::io::stdin().lock().lines();
    let hello: Hello = serde_json::from_str(
        &lines
            .next()
            .context("no hello from the bench")?
            .context("cannot read stdin")?,
    )
    .context("a bad hello from the bench")?;
    let epoch = from_ns(hello.epoch_ns);
    let (picture_tx, pictures) = mpsc::channel::<u64>();
    std::thread::Builder::new()
        .name("pictures".into())
        .spawn(move || {
            for key in pictures {
                say(&format!("picture {key}"));
            }
        })
        .context("a thread for the pictures")?;
    let mut viewers: HashMap<u64, MoqLight> = HashMap::new();
    for line in lines {
        let line = line.context("cannot read stdin")?;
        let (command, key) = line
            .split_once(' ')
            .and_then(|(c, k)| Some((c, k.parse::<u64>().ok()?)))
            .with_context(|| format!("a bad command: {line}"))?;
        match command {
            "join" => match MoqLight::join(&hello.broadcast, key, epoch, picture_tx.clone()) {
                Ok(viewer) => {
                    viewers.insert(key, viewer);
                    say(&format!("joined {key}"));
                }
                Err(e) => say(&format!(
                    "failed {key} {}",
                    format!("{e:#}").replace('\n', " ")
                )),
            },
            "leave" => {
                let viewer = viewers
                    .remove(&key)
                    .with_context(|| format!("no viewer {key}"))?;
                let left = Left::from_end(viewer.leave());
                say(&format!("left {key} {}", serde_json::to_string(&left)?));
            }
            other => bail!("an unknown command: {other}"),
        }
    }
    for (_, viewer) in viewers {
        viewer.leave();
    }
    Ok(())
}
