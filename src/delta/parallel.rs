// SPDX-License-Identifier: MPL-2.0
//! The codec's two worker threads, for splitting one frame's work in two.
//!
//! A persistent pool, not threads spawned per frame: with `rayon::join` the
//! thread that runs the first half also runs the second when the other
//! worker has not picked it up, so a busy machine costs no waiting.

use once_cell::sync::Lazy;

static POOL: Lazy<Option<rayon::ThreadPool>> = Lazy::new(|| {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .thread_name(|i| format!("deltacodec-{i}"))
        .build()
        .ok()
});

/// Runs `a` and `b`, in parallel when the pool could be made.
pub(crate) fn join<A, B>(a: A, b: B)
where
    A: FnOnce() + Send,
    B: FnOnce() + Send,
{
    match &*POOL {
        Some(pool) => {
            pool.install(|| rayon::join(a, b));
        }
        None => {
            a();
            b();
        }
    }
}
