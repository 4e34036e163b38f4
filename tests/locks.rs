// SPDX-License-Identifier: MPL-2.0
//! No element may hold its own lock while it calls out: an application's
//! synchronous bus handler runs on the streaming thread, inside the post, and
//! commonly reads the poster's `stats` or properties there.

mod common;

use common::init;
use common::pipeline::parse;
use common::scratch::ScratchDir;
use gst::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Plays `pipeline` to EOS or error on another thread, with `on_sync`
/// called inside every post; fails if it has not ended within `limit` (a
/// deadlocked streaming thread never posts EOS). Returns the messages seen.
fn run_with_sync_handler(
    pipeline: gst::Pipeline,
    limit: Duration,
    on_sync: impl Fn(&gst::Message) + Send + Sync + 'static,
) -> Vec<gst::Message> {
    let bus = pipeline.bus().expect("bus");
    let (tx, rx) = mpsc::channel();
    bus.set_sync_handler(move |_, msg| {
        on_sync(msg);
        let _ = tx.send(msg.clone());
        gst::BusSyncReply::Drop
    });
    pipeline.set_state(gst::State::Playing).expect("to PLAYING");
    let mut seen = Vec::new();
    let end = std::time::Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(msg) => {
                let done = matches!(
                    msg.view(),
                    gst::MessageView::Eos(_) | gst::MessageView::Error(_)
                );
                seen.push(msg);
                if done {
                    break;
                }
            }
            Err(_) => panic!(
                "no EOS or error within {limit:?}: the streaming thread is stuck \
                 (a lock held across a post?) after {} messages",
                seen.len()
            ),
        }
    }
    pipeline.set_state(gst::State::Null).expect("to NULL");
    seen
}

#[test]
fn framemeter_stats_readable_from_a_sync_bus_handler() {
    init();
    let pipeline = parse(
        "videotestsrc num-buffers=40 ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! framestamp ! framemeter name=meter interval=1 post-frames=true ! fakesink",
    );
    let meter = pipeline.by_name("meter").expect("meter");
    let reads = Arc::new(AtomicU64::new(0));
    let counted = reads.clone();
    let seen = run_with_sync_handler(pipeline, Duration::from_secs(20), move |msg| {
        // Every message, from any element, on whatever thread posts it (no
        // assert here: a panic cannot unwind out of the C callback).
        let stats = meter.property::<gst::Structure>("stats");
        if msg.src().is_some_and(|s| s.name() == "meter") && stats.has_field("frames-received") {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    assert!(
        matches!(
            seen.last().map(|m| m.view()),
            Some(gst::MessageView::Eos(_))
        ),
        "ended without EOS: {seen:?}"
    );
    // 40 per-frame messages plus interval and EOS summaries came from the
    // meter, each read its stats inside the post
    assert!(
        reads.load(Ordering::SeqCst) >= 41,
        "only {} messages from framemeter",
        reads.load(Ordering::SeqCst)
    );
}

#[test]
fn hlssegmentsink_write_error_posted_without_its_lock() {
    init();
    let dir = ScratchDir::new("locks-hls");
    let missing = dir.join("no-such-dir/seg%05d.ts");
    let playlist = dir.join("live.m3u8");
    let pipeline = parse(&format!(
        "videotestsrc num-buffers=30 ! video/x-raw,framerate=30/1,width=160,height=120 \
         ! x264enc tune=zerolatency speed-preset=ultrafast ! video/x-h264,profile=main \
         ! segmentpackager frames-per-segment=10 \
         ! hlssegmentsink name=hls location={missing} playlist-location={playlist}"
    ));
    let hls = pipeline.by_name("hls").expect("hls");
    let seen = run_with_sync_handler(pipeline, Duration::from_secs(20), move |_| {
        // Reading properties inside the post must not wait for the element.
        let _ = hls.property::<String>("location");
        let _ = hls.property::<u32>("playlist-length");
    });
    let error = seen.iter().find_map(|m| match m.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    });
    let error = error.expect("an error for the missing directory");
    assert!(error.contains("no-such-dir"), "{error}");
}
