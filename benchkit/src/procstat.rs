// SPDX-License-Identifier: MPL-2.0
//! CPU time and memory of a process and of each of its threads, from
//! Linux's /proc: `stat` (utime + stime, in clock ticks), `schedstat`
//! (nanoseconds on CPU and waiting for one), `comm` (thread names) and
//! `status` (VmRSS, Threads). The parsers are pure; the readers return
//! `None` (or nothing) once the process or thread is gone.
//!
//! [`ThreadTimes`] bills this process's own threads by name: GStreamer
//! names each streaming thread after the pad whose task runs it
//! (`<element>:<pad>`), and threads an element starts itself (x264's,
//! libav's) inherit the name of the thread that created them, so a program
//! that names its elements by side (`tx*`, `rx*`) sums each side's CPU.

use std::collections::BTreeMap;
use std::fs;

/// Clock ticks per second of /proc's times.
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a constant of the running system.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// utime and stime (user and kernel time), in clock ticks, from the text
/// of a `stat` file. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
pub fn parse_user_system_ticks(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime, stime))
}

/// utime + stime, in clock ticks, from the text of a `stat` file.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    parse_user_system_ticks(stat).map(|(u, s)| u + s)
}

/// The number of field `name` (`VmRSS`, in KiB; `Threads`) of the text
/// of a `status` file.
pub fn parse_status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU ticks used so far by process `pid` (all its threads, living and
/// ended).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    parse_cpu_ticks(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Kernel ticks used so far by process `pid`: on loopback, sending a
/// datagram includes delivering it, so this is mostly the viewers' copies.
pub fn system_ticks(pid: u32) -> Option<u64> {
    parse_user_system_ticks(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?).map(|(_, s)| s)
}

/// Resident memory of process `pid`, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    parse_status_field(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "VmRSS",
    )
}

/// Threads of process `pid`.
pub fn thread_count(pid: u32) -> Option<u64> {
    parse_status_field(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "Threads",
    )
}

/// CPU ticks of each living thread of `pid`, by thread id, with its name.
pub fn thread_ticks(pid: u32) -> BTreeMap<u32, (String, u64)> {
    per_thread(pid, |dir| {
        parse_cpu_ticks(&fs::read_to_string(dir.join("stat")).ok()?)
    })
}

/// Nanoseconds each living thread of `pid` has spent runnable but waiting
/// for a CPU (`schedstat`'s second field): what a busy machine takes from
/// it, as opposed to what it uses.
pub fn thread_run_delay_ns(pid: u32) -> BTreeMap<u32, (String, u64)> {
    per_thread(pid, |dir| {
        parse_run_delay_ns(&fs::read_to_string(dir.join("schedstat")).ok()?)
    })
}

/// The run-queue wait of a `schedstat` file: on CPU, waiting, time slices.
pub fn parse_run_delay_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().nth(1)?.parse().ok()
}

/// The time on CPU of a `schedstat` file, nanoseconds: finer than `stat`'s
/// clock ticks, for short runs.
pub fn parse_cpu_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// Nanoseconds on CPU of each living thread of `pid`, by thread id, with
/// its name.
pub fn thread_cpu_ns(pid: u32) -> BTreeMap<u32, (String, u64)> {
    per_thread(pid, |dir| {
        parse_cpu_ns(&fs::read_to_string(dir.join("schedstat")).ok()?)
    })
}

/// CPU nanoseconds of every live thread of this process, by thread id,
/// with the thread's name.
#[derive(Debug, Clone, Default)]
pub struct ThreadTimes(BTreeMap<u32, (String, u64)>);

impl ThreadTimes {
    /// Reads all threads now. Threads that vanish while reading are skipped.
    pub fn sample() -> Self {
        Self(thread_cpu_ns(std::process::id()))
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

/// `read` of each living thread's /proc directory, by thread id, with the
/// thread's name.
fn per_thread(
    pid: u32,
    read: impl Fn(&std::path::Path) -> Option<u64>,
) -> BTreeMap<u32, (String, u64)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let path = entry.path();
        let name = fs::read_to_string(path.join("comm")).unwrap_or_default();
        if let Some(value) = read(&path) {
            out.insert(tid, (name.trim().to_string(), value));
        }
    }
    out
}

/// What grew between two per-thread samples ([`thread_ticks`],
/// [`thread_run_delay_ns`]), summed by thread name with the digits taken
/// out (GStreamer names threads after pads, `appsrc12:src`, so the hundred
/// viewers' threads of one kind add up), largest first, with how many
/// threads each holds.
pub fn by_thread_kind(
    before: &BTreeMap<u32, (String, u64)>,
    after: &BTreeMap<u32, (String, u64)>,
) -> Vec<(String, u64, usize)> {
    let mut kinds: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    for (tid, (name, ticks)) in after {
        let earlier = before.get(tid).map_or(0, |(_, t)| *t);
        let kind: String = name.chars().filter(|c| !c.is_ascii_digit()).collect();
        let e = kinds.entry(kind).or_default();
        e.0 += ticks.saturating_sub(earlier);
        e.1 += 1;
    }
    let mut out: Vec<(String, u64, usize)> =
        kinds.into_iter().map(|(k, (t, n))| (k, t, n)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        let stat = "4242 (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 12 0 1000 123456 789 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_user_system_ticks(stat), Some((250, 75)));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1 2"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn rss_and_threads_are_read_from_status() {
        let status =
            "Name:\tstreamkit-relay\nVmPeak:\t  900 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n";
        assert_eq!(parse_status_field(status, "VmRSS"), Some(51234));
        assert_eq!(parse_status_field(status, "Threads"), Some(9));
        assert_eq!(parse_status_field(status, "VmRS"), None);
        assert_eq!(parse_status_field("Name: x\n", "VmRSS"), None);
    }

    #[test]
    fn run_queue_wait_is_the_second_field_and_cpu_time_the_first() {
        assert_eq!(parse_run_delay_ns("123456 7890 42\n"), Some(7890));
        assert_eq!(parse_run_delay_ns("123456"), None);
        assert_eq!(parse_cpu_ns("123456 7890 42\n"), Some(123456));
        assert_eq!(parse_cpu_ns(""), None);
    }

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
                        .and_then(|s| parse_cpu_ns(&s))
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

    #[test]
    fn our_own_process_is_readable() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_some());
        assert!(rss_kib(me).unwrap() > 0);
        assert!(!thread_ticks(me).is_empty());
        assert!(!thread_run_delay_ns(me).is_empty());
    }

    #[test]
    fn threads_add_up_by_kind() {
        let t = |v: &[(u32, &str, u64)]| -> BTreeMap<u32, (String, u64)> {
            v.iter()
                .map(|(id, n, t)| (*id, (n.to_string(), *t)))
                .collect()
        };
        let before = t(&[
            (1, "appsrc1:src", 10),
            (2, "appsrc2:src", 5),
            (3, "main", 7),
        ]);
        let after = t(&[
            (1, "appsrc1:src", 30),
            (2, "appsrc2:src", 15),
            (3, "main", 8),
            (4, "udpsrc0:src", 4),
        ]);
        assert_eq!(
            by_thread_kind(&before, &after),
            vec![
                ("appsrc:src".to_string(), 30, 2),
                ("udpsrc:src".to_string(), 4, 1),
                ("main".to_string(), 1, 1),
            ]
        );
    }
}
