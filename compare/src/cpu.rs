// SPDX-License-Identifier: MPL-2.0
//! CPU time per thread, from Linux's `/proc/self/task/<tid>/schedstat`
//! (nanoseconds on CPU) and `comm` (thread name).
//!
//! GStreamer names each streaming thread after the pad whose task runs it
//! (`<element>:<pad>`), and threads an element starts itself (x264's, libav's)
//! inherit the name of the thread that created them. The compare program
//! names sender elements `tx*`, receiver elements `rx*` and content
//! elements `scene*`, so summing the threads by name prefix bills each side.

use std::collections::HashMap;
use std::fs;

/// CPU nanoseconds of every live thread of this process, by thread id, with
/// the thread's name.
#[derive(Debug, Clone, Default)]
pub struct ThreadTimes(HashMap<u32, (String, u64)>);

impl ThreadTimes {
    /// Reads all threads now. Threads that vanish while reading are skipped.
    pub fn sample() -> Self {
        let mut map = HashMap::new();
        let Ok(dir) = fs::read_dir("/proc/self/task") else {
            return Self(map);
        };
        for entry in dir.flatten() {
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let (Ok(comm), Ok(sched)) = (
                fs::read_to_string(path.join("comm")),
                fs::read_to_string(path.join("schedstat")),
            ) else {
                continue;
            };
            let Some(ns) = sched.split_whitespace().next().and_then(|v| v.parse().ok()) else {
                continue;
            };
            map.insert(tid, (comm.trim().to_string(), ns));
        }
        Self(map)
    }

    /// CPU nanoseconds used since `earlier` by threads (named now) whose
    /// name starts with `prefix`. A thread that did not exist then counts
    /// from zero; one that ended meanwhile is lost (sample before stopping).
    pub fn since(&self, earlier: &ThreadTimes, prefix: &str) -> u64 {
        self.0
            .iter()
            .filter(|(_, (name, _))| name.starts_with(prefix))
            .map(|(tid, (_, ns))| ns.saturating_sub(earlier.0.get(tid).map_or(0, |(_, e)| *e)))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_named_thread_is_billed_to_its_prefix() {
        let before = ThreadTimes::sample();
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("txbusy".into())
            .spawn(move || {
                // spin until this thread has had 40 ms of CPU by its own
                // account, however busy the machine is
                let own = || {
                    std::fs::read_to_string("/proc/thread-self/schedstat")
                        .ok()
                        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                let (start, began) = (own(), std::time::Instant::now());
                let mut x = 0u64;
                while own() - start < 40_000_000 && began.elapsed().as_secs() < 10 {
                    for _ in 0..10_000 {
                        x = x.wrapping_mul(31).wrapping_add(7);
                    }
                }
                tx.send(x).ok();
                // stay alive until sampled
                std::thread::sleep(std::time::Duration::from_millis(200));
            })
            .expect("thread starts");
        rx.recv().expect("thread ran");
        let after = ThreadTimes::sample();
        handle.join().expect("thread ends");
        let busy = after.since(&before, "txbusy");
        assert!(busy >= 40_000_000, "busy thread billed {busy} ns");
        assert!(after.since(&before, "nosuchprefix") == 0);
    }
}
