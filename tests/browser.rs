// SPDX-License-Identifier: MPL-2.0
//! The browser viewer (docs/browser.md) in headless Chromium: a sender
//! publishes the screen scene to a real `moq-relay` as the changes-only
//! stream and as H.264; the page (web/dist, built by scripts/web.sh)
//! subscribes over WebTransport, decodes in the WebAssembly module and
//! reports the checksum of every picture it painted, which must equal
//! what `deltadec` decoded of the same frame at the sender; and WebCodecs
//! must play the H.264 broadcast.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use benchkit::moqrelay::MoqRelay;
use benchkit::scene::Scene;
use common::net::HttpServer;
use common::pipeline::{appsink, check_bus, parse};
use common::scratch::ScratchDir;
use gst::prelude::*;
use gststreamkit::gstcommon::stampframe::{default_layout, read_frame_stamp};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;

fn dist() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/dist");
    for file in [
        "index.html",
        "viewer.bundle.js",
        "streamkit.wasm",
        "streamkit.js",
    ] {
        assert!(
            dir.join(file).exists(),
            "web/dist/{file} missing: run scripts/web.sh (scripts/test.sh does)"
        );
    }
    dir
}

/// The sender's monotonic clock (the stamps' clock) minus the Unix time,
/// in nanoseconds: what the page adds to turn a stamp into its own time.
fn clock_offset_ns() -> i128 {
    let mono = gststreamkit::gstcommon::stampframe::host_clock_time() as i128;
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as i128;
    mono - unix
}

/// Frame number -> XXH3 of the picture `deltadec` made at the sender.
type Local = Arc<Mutex<HashMap<u32, u64>>>;

fn sender(relay: &MoqRelay) -> (gst::Pipeline, Local) {
    let scene = Scene::Screen;
    let sink = |name: &str| {
        format!(
            "moqsink url={} fingerprint={} broadcast={name}",
            relay.url(),
            relay.fingerprint
        )
    };
    let pipeline = parse(&format!(
        "{scene} ! videoconvert ! video/x-raw,format=BGRx ! framestamp ! tee name=raw \
         raw. ! queue ! deltaenc ! tee name=t \
           t. ! queue ! {delta} \
           t. ! queue ! deltadec ! appsink name=local sync=false \
         raw. ! queue ! videoconvert ! video/x-raw,format=I420 \
           ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! h264parse \
           ! video/x-h264,stream-format=byte-stream,alignment=au ! {h264}",
        scene = scene.launch(WIDTH, HEIGHT, 30),
        delta = sink("screen"),
        h264 = sink("screen-h264"),
    ));
    scene.configure(&pipeline, HEIGHT);
    let local: Local = Arc::default();
    let out = local.clone();
    appsink(&pipeline, "local").set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let info = gst_video::VideoInfo::from_caps(sample.caps().expect("caps"))
                    .expect("raw video caps");
                let buffer = sample.buffer().expect("a buffer");
                let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
                    .expect("a readable frame");
                if let Ok(stamp) = read_frame_stamp(&frame, &default_layout()) {
                    // tight rows: 1280 BGRx pixels are 5120 bytes, no padding
                    let sum = xxhash_rust::xxh3::xxh3_64(frame.plane_data(0).expect("plane"));
                    out.lock().unwrap().insert(stamp.frame, sum);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    (pipeline, local)
}

/// One report the page sent: its query's fields.
fn reports(server: &HttpServer) -> Vec<HashMap<String, String>> {
    server
        .requests()
        .iter()
        .filter_map(|r| r.strip_prefix("/report?"))
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), decode(v)))
                .collect()
        })
        .collect()
}

/// Percent-decoding of a query value (URLSearchParams encodes `,` `:` `|`
/// and spaces as `+`).
fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(c) => {
                        out.push(c);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list<'a>(reports: &'a [HashMap<String, String>], key: &str) -> Vec<&'a str> {
    reports
        .iter()
        .filter_map(|r| r.get(key))
        .flat_map(|v| v.split(','))
        .filter(|s| !s.is_empty())
        .collect()
}

type Reports = Vec<HashMap<String, String>>;

/// Runs the sender, a relay and one page whose URL gets `extra` settings
/// (the first of a repeated setting wins),
/// until `enough` says the reports suffice (or 45 s pass, or the page
/// reports an error); returns the page's reports and what `deltadec`
/// decoded at the sender.
fn watch(extra: &str, enough: impl Fn(&Reports) -> bool) -> (Reports, HashMap<u32, u64>) {
    let dist = dist();
    let relay = MoqRelay::start().expect("moq-relay starts");
    let (pipeline, local) = sender(&relay);
    pipeline
        .set_state(gst::State::Playing)
        .expect("sender plays");
    let server = HttpServer::start(vec![("/".into(), dist)]);
    let profile = ScratchDir::new("chromium-viewer");
    let url = format!(
        "{}?relay={}&fp={}&name=screen&offset={}&report=/report{extra}",
        server.url("/index.html"),
        relay.url(),
        relay.fingerprint,
        clock_offset_ns(),
    );
    let mut browser = common::browser::open(
        &url,
        profile.path(),
        &["--headless=new", "--enable-precise-memory-info"],
    );

    let deadline = Instant::now() + Duration::from_secs(45);
    while Instant::now() < deadline {
        let r = reports(&server);
        if enough(&r) {
            break;
        }
        if r.iter()
            .any(|m| m.get("err").is_some_and(|e| !e.is_empty()))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    common::browser::stop(&mut browser);
    check_bus(pipeline.upcast_ref(), "sender");
    pipeline.set_state(gst::State::Null).expect("sender stops");

    let r = reports(&server);
    assert!(!r.is_empty(), "the page never reported (did it load?)");
    let errors: Vec<&str> = list(&r, "err");
    assert!(errors.is_empty(), "the page reported: {errors:?}");
    let local = local.lock().unwrap().clone();
    (r, local)
}

/// Checks every picture the page painted against `deltadec`'s picture of
/// the same frame; returns how many were compared.
fn compare_painted(r: &Reports, local: &HashMap<u32, u64>) -> usize {
    let painted = list(r, "delta");
    let mut compared = 0;
    for entry in &painted {
        let (frame, sum) = entry.split_once(':').expect("frame:checksum");
        let frame: u32 = frame.parse().expect("a frame number");
        let sum = u64::from_str_radix(sum, 16).expect("a hex checksum");
        let Some(&want) = local.get(&frame) else {
            continue;
        };
        assert_eq!(
            sum, want,
            "frame {frame}: the page painted another picture than deltadec decoded"
        );
        compared += 1;
    }
    compared
}

#[test]
fn chromium_paints_exactly_what_deltadec_decodes_and_plays_the_h264_broadcast() {
    common::init();
    let (r, local) = watch("&h264=screen-h264", |r| {
        list(r, "delta").len() >= 90 && list(r, "h264stamps").len() >= 30
    });
    let compared = compare_painted(&r, &local);
    assert!(
        compared >= 90,
        "only {compared} painted pictures compared ({} reported)",
        list(&r, "delta").len()
    );
    let h264 = list(&r, "h264stamps");
    assert!(
        h264.len() >= 30,
        "WebCodecs painted {} stamped frames",
        h264.len()
    );
    let last = r.last().expect("a report");
    let join = last.get("join").cloned().unwrap_or_default();
    assert!(!join.is_empty(), "no whole picture: {last:?}");
    let lat = |key: &str| {
        let mut v: Vec<f64> = list(&r, key)
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)));
        (q(0.5).copied(), q(0.95).copied(), v.len())
    };
    eprintln!(
        "browser: {compared} pictures exact; join {join} ms; changes-only latency \
         p50/p95 {:?}; H.264 {:?}; decode p50 {} ms, p95 {} ms",
        lat("lat"),
        lat("h264lat"),
        last.get("decode").map_or("?", |s| s.as_str()),
        last.get("decode95").map_or("?", |s| s.as_str()),
    );
}

/// A page allowed to fall only 1 ms behind the pace of capture finds
/// itself behind at nearly every frame (delivery jitter alone is more),
/// so it drops what is queued and joins again from the relay's latest
/// snapshot over and over: every picture it paints in between (each
/// snapshot, each caught-up newest frame, the live frames) must still be
/// `deltadec`'s, in a fresh decoder each time.
#[test]
fn a_page_that_falls_behind_joins_again_from_the_latest_snapshot_exactly() {
    common::init();
    let rejoins = |r: &Reports| {
        r.last()
            .and_then(|m| m.get("rejoins"))
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    };
    // A join is reported once it has finished; the count goes up when it
    // starts: wait for four finished ones.
    let finished = |r: &Reports| {
        list(r, "joins")
            .iter()
            .filter(|j| j.contains("behind"))
            .count()
    };
    let (r, local) = watch("&behind=1", |r| {
        finished(r) >= 4 && list(r, "delta").len() >= 30
    });
    let compared = compare_painted(&r, &local);
    let n = rejoins(&r);
    let joins: Vec<&str> = list(&r, "joins");
    assert!(n >= 4, "joined again {n} times: {:?}", r.last());
    assert!(finished(&r) >= 4, "the joins reported: {joins:?}");
    assert!(
        compared >= 30,
        "only {compared} painted pictures compared ({} reported)",
        list(&r, "delta").len()
    );
    eprintln!("browser: joined again {n} times, {compared} pictures exact; joins {joins:?}");
}
