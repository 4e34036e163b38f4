// SPDX-License-Identifier: MPL-2.0
//! State changes, over and over: every element goes NULL→PLAYING→NULL a
//! thousand times, and whole pipelines churn READY↔PAUSED↔PLAYING with data
//! flowing, with no GLib warning (the suite runs with
//! `G_DEBUG=fatal_warnings`) and no memory growth once warmed up.
//!
//! Resident memory is the process's, so the tests of this file take turns,
//! and all allocate from one malloc arena (`common::memory::one_malloc_arena`).

mod common;

use common::init;
use common::memory::{one_malloc_arena, resident_bytes};
use common::pipeline::parse;
use common::scratch::ScratchDir;
use gst::prelude::*;
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const CYCLES: usize = 1000;
const WARM_UP: usize = 100;
/// Warm-up for pipelines with data flowing: x264enc's threads and the
/// allocator's arenas settle within about 300 cycles (measured: +1.6 MB from
/// cycle 100 to 400, then flat to 800).
const DATA_WARM_UP: usize = 300;
/// Growth allowed after the warm-up, in bytes.
const MAX_GROWTH: u64 = 2 * 1024 * 1024;

/// Runs `cycle` `cycles` times; fails when resident memory after the last
/// one is more than [`MAX_GROWTH`] above what it was after `warm_up` cycles.
fn assert_no_growth(what: &str, cycles: usize, warm_up: usize, mut cycle: impl FnMut(usize)) {
    let mut after_warm_up = 0;
    for i in 0..cycles {
        cycle(i);
        if i + 1 == warm_up {
            after_warm_up = resident_bytes();
        }
    }
    let end = resident_bytes();
    let growth = end.saturating_sub(after_warm_up);
    eprintln!(
        "{what}: {cycles} cycles, resident {} KiB after {warm_up}, {} KiB at the end",
        after_warm_up / 1024,
        end / 1024
    );
    assert!(
        growth <= MAX_GROWTH,
        "{what}: resident memory grew by {} KiB from cycle {warm_up} to {cycles}",
        growth / 1024
    );
}

fn set(element: &impl IsA<gst::Element>, state: gst::State) {
    let element = element.as_ref();
    element
        .set_state(state)
        .unwrap_or_else(|e| panic!("{} to {state:?}: {e}", element.name()));
    // Sinks finish going to PAUSED asynchronously; wait for it.
    let (result, _, _) = element.state(gst::ClockTime::from_seconds(5));
    result.unwrap_or_else(|e| panic!("{} to {state:?}: {e}", element.name()));
}

#[test]
fn every_element_goes_null_playing_null_a_thousand_times() {
    one_malloc_arena();
    init();
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = ScratchDir::new("lifecycle");
    for factory in [
        "deltaenc",
        "deltadec",
        "rtpdeltapay",
        "rtpdeltadepay",
        "segmentpackager",
        "hlssegmentsink",
        "framestamp",
        "framemeter",
    ] {
        let element = gst::ElementFactory::make(factory)
            .build()
            .unwrap_or_else(|e| panic!("make {factory}: {e}"));
        if factory == "hlssegmentsink" {
            element.set_property("location", dir.join("seg%05d.ts"));
            element.set_property("playlist-location", dir.join("live.m3u8"));
            // Alone it never prerolls; in a pipeline of its own it can go
            // to PLAYING without data.
            element.set_property("async", false);
        }
        assert_no_growth(factory, CYCLES, WARM_UP, |_| {
            set(&element, gst::State::Playing);
            set(&element, gst::State::Null);
        });
    }
}

/// Pipelines that carry data between the state changes: each cycle goes to
/// PLAYING, lets `frames_per_cycle` buffers reach the sink named `out`, then
/// steps down through PAUSED and READY (and to NULL every tenth cycle).
fn churn_with_data(what: &str, description: &str, cycles: usize, frames_per_cycle: u64) {
    one_malloc_arena();
    init();
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pipeline = parse(description);
    let sink = pipeline.by_name("out").expect("a sink named out");
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = frames.clone();
    sink.static_pad("sink").expect("sink pad").add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, _| {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        },
    );
    let bus = pipeline.bus().expect("bus");
    assert_no_growth(what, cycles, DATA_WARM_UP, |i| {
        let before = frames.load(std::sync::atomic::Ordering::Relaxed);
        set(&pipeline, gst::State::Playing);
        // Data flows before the next state change.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while frames.load(std::sync::atomic::Ordering::Relaxed) < before + frames_per_cycle {
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: no frame reached the sink in cycle {i}"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        set(&pipeline, gst::State::Paused);
        set(&pipeline, gst::State::Ready);
        if i % 10 == 9 {
            set(&pipeline, gst::State::Null);
        }
        while let Some(msg) = bus.pop() {
            if let gst::MessageView::Error(e) = msg.view() {
                panic!(
                    "{what}: error in cycle {i}: {} ({:?})",
                    e.error(),
                    e.debug()
                );
            }
        }
    });
    set(&pipeline, gst::State::Null);
}

#[test]
fn changes_only_chain_churns_ready_paused_playing_with_data() {
    churn_with_data(
        "framestamp ! deltaenc ! rtpdeltapay ! rtpdeltadepay ! deltadec ! framemeter",
        "videotestsrc pattern=ball \
         ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
         ! framestamp ! deltaenc intra-refresh=10 ! rtpdeltapay mtu=1200 \
         ! rtpdeltadepay ! deltadec output-incomplete=true ! framemeter \
         ! fakesink name=out sync=false",
        1000,
        10,
    );
}

#[test]
fn segment_chain_churns_ready_paused_playing_with_data() {
    // No tee or queues here: their threads come and go with each cycle and
    // the allocator's per-thread arenas then grow in steps of megabytes
    // (seen with x264enc ! mpegtsmux ! tee ! queue ! fakesink, none of ours).
    let dir = ScratchDir::new("lifecycle-hls");
    churn_with_data(
        "segmentpackager ! hlssegmentsink",
        &format!(
            "videotestsrc pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=5 \
             ! video/x-h264,profile=main ! segmentpackager frames-per-segment=5 \
             ! hlssegmentsink name=out location={} playlist-location={} max-files=3",
            dir.join("seg%05d.ts"),
            dir.join("live.m3u8")
        ),
        700,
        1,
    );
}
