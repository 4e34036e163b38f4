// SPDX-License-Identifier: MPL-2.0
//! The process's resident memory, for the leak and growth tests.
//!
//! It is the whole process's, so tests that measure it in one binary take
//! turns (each such file holds a mutex for that).

/// Resident memory of this process, in bytes.
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("resident pages in statm");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page
}

/// Makes every thread allocate from glibc's one main arena from now on.
///
/// glibc gives a thread that finds the arenas busy an arena of its own, and
/// keeps it. How many a run ends up with depends on how threads happen to
/// contend: on a loaded machine the segment chain's churn created new ones
/// after its warm-up (resident +3.5 and +5.4 MB from cycle 300 to 700, where
/// an idle machine gave +0.1 MB), and the growth tests would call that a
/// leak. With one arena the same runs under load grew 0 to 0.1 MB. Call it
/// before the threads that the measurement covers start.
pub fn one_malloc_arena() {
    // SAFETY: mallopt only sets a tunable of the allocator; M_ARENA_MAX
    // limits the arenas made later and leaves the existing ones in use.
    let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    assert_eq!(ok, 1, "mallopt(M_ARENA_MAX, 1) refused");
}
