// SPDX-License-Identifier: MPL-2.0
//! `relay-bench` run small: every figure it reports must be there and
//! sane, so that a change that breaks the bench (or the relay under it)
//! shows here rather than in the next long run.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("relay-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir.join(name)
}

/// Runs the bench with `args` and returns its JSON.
fn bench(args: &[&str], name: &str) -> Value {
    let json = scratch(&format!("{name}.json"));
    let html = scratch(&format!("{name}.html"));
    let out = Command::new(env!("CARGO_BIN_EXE_relay-bench"))
        .args(["--width", "640", "--height", "360"])
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .output()
        .expect("relay-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "relay-bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let join_row = if args.contains(&"moq") {
        "join: pipeline start to first picture"
    } else {
        "join: PLAY to whole picture"
    };
    assert!(stdout.contains(join_row), "{stdout}");
    let page = std::fs::read_to_string(&html).expect("an HTML report");
    assert!(page.contains("<svg") && page.contains("</html>"));
    serde_json::from_str(&std::fs::read_to_string(&json).expect("a JSON report"))
        .expect("the JSON parses")
}

fn num(v: &Value, path: &str) -> f64 {
    path.split('.')
        .fold(v, |v, k| &v[k])
        .as_f64()
        .unwrap_or_else(|| panic!("{path} missing in {v:#}"))
}

#[test]
fn a_small_timed_run_reports_every_figure() {
    let r = bench(
        &[
            "--viewers",
            "5",
            "--full",
            "1",
            "--duration",
            "4",
            "--churn",
            "2",
            "--join-spread",
            "1",
        ],
        "timed",
    );
    assert_eq!(r["join_failures"], Value::Array(vec![]), "{r:#}");
    // Five first joins and two rejoins, every one with a whole picture.
    assert_eq!(num(&r, "light_joins"), 7.0);
    assert_eq!(num(&r, "join_ms.count"), 7.0);
    assert_eq!(num(&r, "never_whole"), 0.0);
    let p95 = num(&r, "join_ms.p95");
    assert!(p95 > 0.0 && p95 < 1000.0, "join p95 {p95} ms");
    assert!(num(&r, "first_picture_kib.p50") > 1.0);
    // Joins cost the origin nothing.
    assert_eq!(num(&r, "origin_keyframes"), 0.0);
    assert_eq!(num(&r, "relay_upstream_keyframe_requests"), 0.0);
    let full = &r["full"][0];
    assert!(num(full, "frames") > 30.0, "{full:#}");
    let latency = num(full, "latency_p50_ms");
    assert!(latency > 0.0 && latency < 1000.0, "{latency} ms");
    assert!(num(&r, "origin_kbps") > 10.0);
    assert!(num(&r, "relay_cpu_cores") > 0.0);
    assert!(num(&r, "relay_rss_end_mib") > 1.0);
    assert!(num(&r, "others_after_join_ratio.count") > 0.0);
    assert_eq!(r["relay_alive"], Value::Bool(true));
}

#[test]
fn a_short_run_of_joins_samples_the_relays_memory() {
    let r = bench(&["--joins", "12", "--viewers", "2", "--full", "0"], "joins");
    assert_eq!(r["join_failures"], Value::Array(vec![]), "{r:#}");
    assert_eq!(num(&r, "light_joins"), 14.0);
    assert_eq!(num(&r, "never_whole"), 0.0);
    assert_eq!(num(&r, "origin_keyframes"), 0.0);
    assert_eq!(r["relay_rss_curve"].as_array().map(Vec::len), Some(2));
    assert!(num(&r, "relay_rss_after_all_joins_mib") > 1.0);
    assert_eq!(r["relay_alive"], Value::Bool(true));
}

#[test]
fn a_small_moq_run_holds_the_snapshots_and_asks_the_origin_for_no_keyframe() {
    let r = bench(
        &[
            "--transport",
            "moq",
            "--viewers",
            "3",
            "--full",
            "1",
            "--duration",
            "3",
            "--churn",
            "1",
            "--join-spread",
            "1",
        ],
        "moq",
    );
    assert_eq!(r["join_failures"], Value::Array(vec![]), "{r:#}");
    // Three first joins and one rejoin, every one with a picture.
    assert_eq!(num(&r, "light_joins"), 4.0);
    assert_eq!(num(&r, "never_whole"), 0.0);
    assert_eq!(num(&r, "origin_keyframes"), 0.0);
    let full = &r["full"][0];
    assert!(num(full, "frames") > 30.0, "{full:#}");
    // The origin's standing subscription read back the snapshots it made
    // (give or take one at a span's edge): the relay held the track, so
    // joins did not reach the origin. Its handshake must get through the
    // bench's forwarder, which once sent it to the wrong socket.
    let windows = r["moq"]["windows"].as_array().expect("the origin's spans");
    let made: f64 = windows.iter().map(|w| num(w, "sink.snapshots")).sum();
    let held: f64 = windows.iter().map(|w| num(w, "sink.snapshots_held")).sum();
    assert!(made >= 3.0, "{windows:#?}");
    assert!(
        held + 1.0 >= made,
        "{held} of {made} snapshots held: {windows:#?}"
    );
    assert_eq!(r["relay_alive"], Value::Bool(true));
}
