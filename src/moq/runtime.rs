// SPDX-License-Identifier: MPL-2.0
//! The one tokio runtime every MoQ element of the process shares, as
//! gst-plugins-rs' network elements keep theirs: QUIC needs timers and
//! sockets driven whatever the pipelines' threads are doing, and a runtime
//! per element would cost threads per element. Streaming threads never
//! wait on it: they write objects into moq-net's model (memory only) or
//! take what its tasks queued.

use once_cell::sync::Lazy;

/// Worker threads of the runtime: QUIC's packet work for every session of
/// the process.
const WORKERS: usize = 2;

static RUNTIME: Lazy<tokio::runtime::Runtime> = Lazy::new(|| {
    // The TLS stack's process-wide crypto provider, once; a second install
    // (an application that did it first) is not an error.
    let _ = moq_tokio::crypto::install_default();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .thread_name("streamkit-moq")
        .enable_all()
        .build()
        .expect("a tokio runtime (threads, an epoll instance) can be made")
});

/// The shared runtime, made at first use.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    &RUNTIME
}
