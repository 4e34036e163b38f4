// SPDX-License-Identifier: MPL-2.0
//! hlssegmentsink end to end: files and playlist on disk, ffmpeg reading the
//! live playlist over HTTP, hls.js in headless Chromium, and write failures.

mod common;

use common::init;
use common::net::HttpServer;
use common::pipeline::{parse, run, Outcome};
use common::scratch::ScratchDir;
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hls_pipeline(frames: u32, live: bool, sink_props: &str) -> gst::Pipeline {
    init();
    parse(&format!(
        "videotestsrc num-buffers={frames} is-live={live} pattern=ball ! \
         video/x-raw,framerate=30/1,width=320,height=240 ! \
         x264enc tune=zerolatency speed-preset=ultrafast ! video/x-h264,profile=main ! \
         segmentpackager frames-per-segment=10 ! hlssegmentsink name=hls {sink_props}"
    ))
}

fn read_playlist(path: &str) -> m3u8_rs::MediaPlaylist {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    m3u8_rs::parse_media_playlist_res(&text).unwrap_or_else(|e| {
        panic!(
            "invalid playlist: {e:?}\n{}",
            String::from_utf8_lossy(&text)
        )
    })
}

fn ts_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ts") || n.ends_with(".tmp"))
        .collect();
    names.sort();
    names
}

#[test]
fn sliding_window_deletes_old_files_and_ends_the_list() {
    let dir = ScratchDir::new("hlsfiles");
    let p = hls_pipeline(
        100,
        false,
        &format!(
            "sync=false location={} playlist-location={} playlist-length=3 max-files=4",
            dir.join("seg%03d.ts"),
            dir.join("live.m3u8")
        ),
    );
    let mut added = 0;
    let outcome = run(&p, Duration::from_secs(30), |m| {
        if let gst::MessageView::Element(e) = m.view() {
            if e.structure()
                .is_some_and(|s| s.name() == "hls-segment-added")
            {
                added += 1;
            }
        }
    });
    assert!(matches!(outcome, Outcome::Eos), "{outcome:?}");
    assert_eq!(added, 10, "one message per segment");

    let pl = read_playlist(&dir.join("live.m3u8"));
    assert!(pl.end_list, "EOS must add EXT-X-ENDLIST");
    assert_eq!(pl.media_sequence, 7);
    assert_eq!(pl.target_duration, 1, "0.333 s segments round up to 1 s");
    let uris: Vec<&str> = pl.segments.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(uris, ["seg007.ts", "seg008.ts", "seg009.ts"]);
    for s in &pl.segments {
        assert!((s.duration - 0.333).abs() < 0.001, "EXTINF {}", s.duration);
        assert!(s.program_date_time.is_some(), "EXT-X-PROGRAM-DATE-TIME");
    }
    let pdts: Vec<_> = pl
        .segments
        .iter()
        .filter_map(|s| s.program_date_time)
        .collect();
    assert!(pdts.windows(2).all(|w| w[0] <= w[1]), "dates go forward");
    assert_eq!(
        ts_files(dir.path()),
        ["seg006.ts", "seg007.ts", "seg008.ts", "seg009.ts"],
        "max-files=4 keeps the newest four and no temporary files"
    );
    for f in ["seg006.ts", "seg009.ts"] {
        assert_eq!(common::ffmpeg::ffprobe_frame_count(&dir.path().join(f)), 10);
    }
}

#[test]
fn unwritable_directory_is_an_error_naming_the_path() {
    let dir = ScratchDir::new("hlsbad");
    let missing = dir.path().join("does-not-exist");
    let playlist = missing.join("live.m3u8").to_string_lossy().into_owned();
    let p = hls_pipeline(
        30,
        false,
        &format!(
            "sync=false location={} playlist-location={playlist}",
            missing.join("s%d.ts").display()
        ),
    );
    match run(&p, Duration::from_secs(10), |_| ()) {
        Outcome::Error { src, message, .. } => {
            assert_eq!(src, "hls");
            assert!(
                message.contains(&playlist),
                "error must name the path: {message}"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(!missing.exists());

    // The playlist can be written but segments cannot: a file stands where
    // their directory should be (this fails for root too, unlike chmod).
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"").expect("write blocker");
    let segment_pattern = blocker.join("s%d.ts").to_string_lossy().into_owned();
    let p = hls_pipeline(
        30,
        false,
        &format!(
            "sync=false location={segment_pattern} playlist-location={}",
            dir.join("live.m3u8")
        ),
    );
    match run(&p, Duration::from_secs(10), |_| ()) {
        Outcome::Error { src, message, .. } => {
            assert_eq!(src, "hls");
            assert!(
                message.contains(&blocker.join("s0.ts").to_string_lossy().into_owned()),
                "error must name the segment path: {message}"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
    let playlist_text = std::fs::read_to_string(dir.join("live.m3u8")).unwrap_or_default();
    assert!(
        !playlist_text.contains(".ts"),
        "no segment may be listed: {playlist_text}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn refuses_buffers_that_are_not_whole_segments() {
    init();
    let dir = ScratchDir::new("hlsnotseg");
    // mpegtsmux alone pushes the stream in small pieces, most of them delta
    // units: turning each into a playlist entry would be wrong.
    let p = parse(&format!(
        "videotestsrc num-buffers=30 ! video/x-raw,framerate=30/1,width=320,height=240 ! \
         x264enc tune=zerolatency speed-preset=ultrafast ! mpegtsmux ! \
         hlssegmentsink name=hls sync=false location={} playlist-location={}",
        dir.join("s%d.ts"),
        dir.join("live.m3u8")
    ));
    match run(&p, Duration::from_secs(10), |_| ()) {
        Outcome::Error { src, message, .. } => {
            assert_eq!(src, "hls");
            assert!(
                message.contains("one whole MPEG-TS segment per buffer"),
                "{message}"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn full_disk_is_an_error_naming_the_segment() {
    let dir = ScratchDir::new("hlsfull");
    // The segment's temporary file is a link to /dev/full: every write to it
    // fails with ENOSPC, exactly as on a full disk.
    std::os::unix::fs::symlink("/dev/full", dir.path().join("s0.ts.tmp")).expect("symlink");
    let p = hls_pipeline(
        30,
        false,
        &format!(
            "sync=false location={} playlist-location={}",
            dir.join("s%d.ts"),
            dir.join("live.m3u8")
        ),
    );
    match run(&p, Duration::from_secs(10), |_| ()) {
        Outcome::Error { src, message, .. } => {
            assert_eq!(src, "hls");
            assert!(
                message.contains(&dir.join("s0.ts")),
                "names the path: {message}"
            );
            assert!(message.contains("No space left"), "says why: {message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // The playlist is first written with the first segment, so nothing at all.
    assert!(
        left.is_empty(),
        "no segment, playlist or temporary file left: {left:?}"
    );
}

/// Runs a live HLS pipeline in the background until EOS.
fn start_live(
    dir: &ScratchDir,
    frames: u32,
    sink_props: &str,
) -> (gst::Pipeline, std::thread::JoinHandle<Outcome>) {
    let p = hls_pipeline(
        frames,
        true,
        &format!(
            "location={} playlist-location={} {sink_props}",
            dir.join("seg%05d.ts"),
            dir.join("playlist.m3u8")
        ),
    );
    let handle = p.clone();
    (
        handle,
        std::thread::spawn(move || run(&p, Duration::from_secs(60), |_| ())),
    )
}

fn wait_for(path: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !Path::new(path).exists() {
        assert!(Instant::now() < deadline, "{path} never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ffmpeg_decodes_every_segment_of_the_live_playlist_over_http() {
    let dir = ScratchDir::new("hlsffmpeg");
    // 4 s live at 30 fps: 12 segments, all kept listed so ffmpeg can start
    // at the first one and decode every frame.
    let (_, pipeline) = start_live(&dir, 120, "playlist-length=0 max-files=0");
    let server = HttpServer::start(vec![("/hls".into(), dir.path().to_path_buf())]);
    wait_for(&dir.join("playlist.m3u8"), Duration::from_secs(10));

    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-live_start_index", "0", "-i"])
        .arg(server.url("/hls/playlist.m3u8"))
        .args(["-f", "framemd5", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("run ffmpeg");
    let outcome = pipeline.join().expect("pipeline thread");
    assert!(matches!(outcome, Outcome::Eos), "{outcome:?}");

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffmpeg reported errors: {stderr}");
    let frames = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    assert_eq!(frames, 120, "every frame of every segment decoded");

    let requests = server.requests();
    let playlist_loads = requests
        .iter()
        .filter(|r| r.ends_with("playlist.m3u8"))
        .count();
    let segment_loads = requests.iter().filter(|r| r.ends_with(".ts")).count();
    assert!(
        playlist_loads >= 2,
        "ffmpeg must have reloaded the live playlist: {requests:?}"
    );
    assert_eq!(segment_loads, 12, "each segment fetched once: {requests:?}");
    eprintln!("ffmpeg: {frames} frames, {playlist_loads} playlist loads, {segment_loads} segments");
}

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("web")
}

#[test]
fn hlsjs_in_headless_chromium_plays_the_live_playlist() {
    let web = web_dir();
    let hlsjs = web.join("node_modules/hls.js/dist/hls.min.js");
    assert!(
        hlsjs.exists(),
        "hls.js missing: run `npm ci` in tests/web (scripts/test.sh does)"
    );
    let dir = ScratchDir::new("hlsjs");
    let profile = ScratchDir::new("chromium-profile");
    // 12 s live: enough for hls.js to start and play several seconds.
    let (live, pipeline) = start_live(&dir, 360, "playlist-length=6 max-files=12");
    let server = HttpServer::start(vec![
        ("/hls".into(), dir.path().to_path_buf()),
        ("/web".into(), web.clone()),
    ]);
    wait_for(&dir.join("playlist.m3u8"), Duration::from_secs(10));

    let mut browser = common::browser::open(
        &server.url("/web/index.html"),
        profile.path(),
        &[
            "--headless",
            "--disable-quic",
            "--autoplay-policy=no-user-gesture-required",
            "--mute-audio",
        ],
    );

    let reports = || -> Vec<(f64, String)> {
        server
            .requests()
            .iter()
            .filter_map(|r| r.strip_prefix("/report?"))
            .map(|q| {
                let mut t = 0.0;
                let mut err = String::new();
                for kv in q.split('&') {
                    match kv.split_once('=') {
                        Some(("t", v)) => t = v.parse().unwrap_or(0.0),
                        Some(("err", v)) => err = v.to_owned(),
                        _ => (),
                    }
                }
                (t, err)
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut played = 0.0f64;
    while Instant::now() < deadline {
        let r = reports();
        played = r.iter().map(|(t, _)| *t).fold(0.0, f64::max);
        if played >= 3.0 || r.iter().any(|(_, e)| !e.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    common::browser::stop(&mut browser);
    live.send_event(gst::event::Eos::new());
    let outcome = pipeline.join().expect("pipeline thread");
    assert!(matches!(outcome, Outcome::Eos), "{outcome:?}");

    let r = reports();
    let errors: Vec<&String> = r.iter().map(|(_, e)| e).filter(|e| !e.is_empty()).collect();
    assert!(errors.is_empty(), "hls.js reported: {errors:?}");
    assert!(!r.is_empty(), "the page never reported (did it load?)");
    assert!(
        played >= 3.0,
        "video.currentTime reached only {played:.3} s; reports: {r:?}"
    );
    let times: Vec<f64> = r.iter().map(|(t, _)| *t).collect();
    assert!(
        times.windows(2).filter(|w| w[1] > w[0]).count() >= 4,
        "currentTime must keep advancing: {times:?}"
    );
    eprintln!(
        "hls.js: currentTime reached {played:.3} s over {} reports",
        r.len()
    );
}
