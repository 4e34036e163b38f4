// SPDX-License-Identifier: MPL-2.0
//! H.264 and MJPEG through the same relay, as the comparison needs them: a
//! late H.264 joiner starts at the origin's next keyframe, or forces one
//! that every viewer then receives; an MJPEG joiner starts at once.

mod common;

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{collect_with, fail_on_error, init, launch, net, origin_description, RelayProcess};
use gst::prelude::*;

/// Arrival time and keyframe-ness of every buffer at the appsink `name`.
type Arrivals = Arc<Mutex<Vec<(Instant, bool)>>>;

fn arrivals(pipeline: &gst::Pipeline, name: &str) -> Arrivals {
    collect_with(pipeline, name, |b| {
        !b.flags().contains(gst::BufferFlags::DELTA_UNIT)
    })
}

/// A sender of `encoder ! payloader` with rtpbin and RTCP both ways; its
/// encoded frames are also counted at the appsink `origin`.
fn origin(port: u16, encoder: &str, payloader: &str) -> (gst::Pipeline, Arrivals) {
    let pipeline = launch(&origin_description(
        port,
        &format!(
            "videotestsrc is-live=true pattern=ball \
             ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! {encoder}"
        ),
        payloader,
    ));
    let seen = arrivals(&pipeline, "origin");
    pipeline.set_state(gst::State::Playing).unwrap();
    (pipeline, seen)
}

/// A viewer: rtspsrc without jitter-buffer delay, then `chain`.
fn viewer(url: &str, chain: &str) -> (gst::Pipeline, Arrivals, Instant) {
    let pipeline = launch(&format!(
        "rtspsrc location={url} latency=0 ! {chain} ! appsink name=frames sync=false"
    ));
    let seen = arrivals(&pipeline, "frames");
    let joined = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    (pipeline, seen, joined)
}

const H264: &str = "x264enc tune=zerolatency speed-preset=ultrafast bframes=0 key-int-max=60";
const H264_PAY: &str = "rtph264pay config-interval=-1 pt=96";
const H264_VIEW: &str = "rtph264depay ! h264parse";

/// Runs an H.264 origin (a keyframe every 2 s), the relay with `join`, and
/// three viewers joining 700 ms apart. Returns the origin's keyframes, each
/// viewer's (time from join to first frame, first frame a keyframe), and the
/// keyframe requests the relay sent the origin.
fn h264_joins(join: &str) -> (usize, Vec<(Duration, bool)>, u64) {
    let port = net::free_port_pair();
    let relay = RelayProcess::start(
        &format!("udp://127.0.0.1:{port}"),
        &["--codec", "h264", "--join", join],
    );
    let (sender, sent) = origin(port, H264, H264_PAY);
    relay.wait_for_frames();
    let url = relay.url.replace("/delta", "/h264");
    let mut viewers = Vec::new();
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(700));
        viewers.push(viewer(&url, H264_VIEW));
    }
    thread::sleep(Duration::from_millis(2500));
    let mut firsts = Vec::new();
    let stats = relay.stats();
    for (i, (pipeline, seen, joined)) in viewers.iter().enumerate() {
        fail_on_error(pipeline, "H.264 viewer");
        pipeline.set_state(gst::State::Null).unwrap();
        let seen = seen.lock().unwrap();
        let (at, key) = *seen
            .first()
            .unwrap_or_else(|| panic!("--join {join}: viewer {i} got no frame; relay: {stats:?}"));
        firsts.push((at - *joined, key));
    }
    fail_on_error(&sender, "H.264 origin");
    sender.set_state(gst::State::Null).unwrap();
    relay.assert_quiet();
    let keyframes = sent.lock().unwrap().iter().filter(|(_, k)| *k).count();
    (
        keyframes,
        firsts,
        relay.stats()["upstream_keyframe_requests"],
    )
}

#[test]
fn an_h264_joiner_waits_for_a_keyframe_or_makes_everyone_pay_for_one() {
    init();
    let (waited_keys, waited, waited_asks) = h264_joins("wait");
    let (forced_keys, forced, forced_asks) = h264_joins("force");
    eprintln!(
        "H.264 joins, first frame after: waiting {waited:?} ({waited_keys} keyframes), \
         forcing {forced:?} ({forced_keys} keyframes)"
    );
    for (first, key) in waited.iter().chain(&forced) {
        assert!(key, "a viewer starts at a keyframe ({first:?})");
    }
    assert_eq!(waited_asks, 0, "waiting joiners ask the origin for nothing");
    // Joins 700 ms apart, requests paced to one per 500 ms: one each.
    assert_eq!(forced_asks, 3, "each forcing join asked the origin");
    let slowest = |v: &[(Duration, bool)]| v.iter().map(|(d, _)| *d).max().unwrap();
    assert!(
        slowest(&forced) < Duration::from_millis(500) && slowest(&forced) < slowest(&waited),
        "forcing starts joiners sooner: {forced:?} against {waited:?}"
    );
}

#[test]
fn an_mjpeg_joiner_starts_at_once() {
    init();
    let port = net::free_port_pair();
    let relay = RelayProcess::start(&format!("udp://127.0.0.1:{port}"), &["--codec", "jpeg"]);
    let (sender, _) = origin(port, "jpegenc", "rtpjpegpay");
    relay.wait_for_frames();
    let url = relay.url.replace("/delta", "/jpeg");
    let (pipeline, seen, joined) = viewer(&url, "rtpjpegdepay ! jpegdec");
    thread::sleep(Duration::from_millis(3000));
    fail_on_error(&pipeline, "MJPEG viewer");
    pipeline.set_state(gst::State::Null).unwrap();
    sender.set_state(gst::State::Null).unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.len() > 10, "{} frames", seen.len());
    eprintln!("MJPEG: first frame {:?} after joining", seen[0].0 - joined);
    assert!(seen[0].0 - joined < Duration::from_secs(1));
    relay.assert_quiet();
}
