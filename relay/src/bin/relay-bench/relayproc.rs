// SPDX-License-Identifier: MPL-2.0
//! The `streamkit-relay` program as a child process: started from the
//! directory the bench itself runs from, its `stats:` lines read, its CPU
//! and memory sampled from /proc.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// The counters of a `stats: key=value ...` line.
pub fn parse_stats_line(line: &str) -> Option<HashMap<String, u64>> {
    let rest = line.strip_prefix("stats:")?;
    Some(
        rest.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect(),
    )
}

/// The relay, running.
pub struct RelayProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// Where viewers play it.
    pub url: String,
}

impl RelayProcess {
    /// Starts `streamkit-relay` reading RTP on 127.0.0.1:`input_port`,
    /// serving RTSP on `rtsp_port`, with `extra` arguments; returns once it
    /// says it is serving.
    pub fn start(input_port: u16, rtsp_port: u16, extra: &[String]) -> Result<Self> {
        let program = relay_program()?;
        let mut child = Command::new(&program)
            .args(["--input", &format!("udp://127.0.0.1:{input_port}")])
            .args(["--port", &rtsp_port.to_string()])
            .args(["--stats-interval", "1"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let stdout = child.stdout.take().context("relay has no stdout")?;
        let stderr = child.stderr.take().context("relay has no stderr")?;
        for (stream, prefix) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, ""),
            (Box::new(stderr), "stderr: "),
        ] {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut l) = sink.lock() {
                        l.push(format!("{prefix}{line}"));
                    }
                }
            });
        }
        let relay = RelayProcess {
            child,
            lines,
            url: format!("rtsp://127.0.0.1:{rtsp_port}/delta"),
        };
        relay.wait_for_line(Duration::from_secs(10), |l| {
            l.starts_with("streamkit-relay: serving")
        })?;
        Ok(relay)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its last counters.
    pub fn stats(&self) -> HashMap<String, u64> {
        let Ok(lines) = self.lines.lock() else {
            return HashMap::new();
        };
        lines
            .iter()
            .rev()
            .find_map(|l| parse_stats_line(l))
            .unwrap_or_default()
    }

    /// Lines it wrote to stderr.
    pub fn complaints(&self) -> Vec<String> {
        self.lines
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|l| l.starts_with("stderr: "))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits for counters that satisfy `ok`, at most `limit`.
    pub fn wait_for_stats(
        &self,
        limit: Duration,
        ok: impl Fn(&HashMap<String, u64>) -> bool,
    ) -> Result<HashMap<String, u64>> {
        let deadline = Instant::now() + limit;
        loop {
            let stats = self.stats();
            if ok(&stats) {
                return Ok(stats);
            }
            if Instant::now() > deadline {
                bail!("the relay's counters never got there: {stats:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for_line(&self, limit: Duration, ok: impl Fn(&str) -> bool) -> Result<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self
                .lines
                .lock()
                .map(|l| l.iter().any(|l| ok(l)))
                .unwrap_or(false)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(anyhow!(
            "the relay did not start: {:?}",
            self.lines.lock().map(|l| l.clone()).unwrap_or_default()
        ))
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `streamkit-relay` next to this program (cargo builds both into one
/// directory).
fn relay_program() -> Result<PathBuf> {
    let me = std::env::current_exe().context("where am I")?;
    let dir = me.parent().context("this program has no directory")?;
    // Test binaries run from target/*/deps; the programs are one up.
    for candidate in [dir.join("streamkit-relay"), dir.join("../streamkit-relay")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(anyhow!(
        "no streamkit-relay next to {} (cargo build --workspace --bins)",
        me.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stats_line_gives_its_numbers() {
        let s = parse_stats_line("stats: viewers=3 joins=10 upstream_keyframe_requests=0 odd=x")
            .unwrap();
        assert_eq!(s["viewers"], 3);
        assert_eq!(s["joins"], 10);
        assert_eq!(s["upstream_keyframe_requests"], 0);
        assert!(!s.contains_key("odd"));
        assert!(parse_stats_line("streamkit-relay: serving").is_none());
    }
}
