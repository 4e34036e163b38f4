// SPDX-License-Identifier: MPL-2.0
//! The embedding examples run as a person runs them: `examples/embed` (Rust,
//! elements compiled in) and `examples/embed.py` (Python, plugin found on
//! GST_PLUGIN_PATH), each sending its own pictures to itself over loopback.
//! Each must exit 0 and its last line must say that pictures arrived exactly
//! as drawn, that the property raised while playing shows in the encoder's
//! and the decoder's stats, and that the receiver reached end of stream;
//! on an error (a port already taken) each must say which element failed and
//! exit 1.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Pictures each run sends (the property changes after half of them).
const FRAMES: u32 = 60;
/// Longer than any run takes even on a busy machine; the apps give up by
/// themselves before it (`--timeout`).
const KILL_AFTER: Duration = Duration::from_secs(240);

/// Where this test's cargo put its build: `target/<profile>/` (the test runs
/// from `target/<profile>/deps/`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary sits in target/<profile>/deps")
        .to_path_buf()
}

/// Builds the Rust example and the plugin library in this test's target
/// directory and profile, once: `cargo test --test embed` builds neither.
/// Quick when they are up to date (as after a plain `cargo test`).
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = profile_dir();
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(name) => name.to_string(),
            None => panic!("no profile in {}", dir.display()),
        };
        let target_dir = dir.parent().expect("target dir");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--quiet", "-p", "gst-plugin-streamkit", "--lib"])
            .args(["--example", "embed", "--profile", &profile])
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir)
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo build --example embed failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// Runs `command` to its end (killing it after [`KILL_AFTER`]), with GLib
/// warnings fatal as in the suite; its exit code and what it printed.
fn run(mut command: Command) -> (Option<i32>, String) {
    let mut child = command
        .env("G_DEBUG", "fatal_warnings")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    // Read both pipes on threads, so that a chatty app never blocks.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).ok();
        s
    });
    let deadline = Instant::now() + KILL_AFTER;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    (status.and_then(|s| s.code()), text)
}

/// The `key=value` pairs of the app's `result:` line.
fn result_line(output: &str) -> HashMap<String, String> {
    let line = output
        .lines()
        .rfind(|l| l.starts_with("result: "))
        .unwrap_or_else(|| panic!("no result line in:\n{output}"));
    line["result: ".len()..]
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What every run of either app must show.
fn check_run(app: &str, (code, output): (Option<i32>, String)) {
    assert_eq!(code, Some(0), "{app} failed:\n{output}");
    let r = result_line(&output);
    let n = |key: &str| -> i64 {
        r.get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{app}: no number {key} in the result line:\n{output}"))
    };
    let context = format!("{app}'s output:\n{output}");
    assert_eq!(n("sent"), i64::from(FRAMES), "{context}");
    // Loopback may still drop a packet on a machine under load: most
    // pictures must arrive, and every one that does exactly as drawn.
    assert!(n("received") >= n("sent") * 9 / 10, "{context}");
    assert_eq!(n("exact"), n("received"), "{context}");
    assert_eq!(n("other"), 0, "{context}");
    // Every picture differs from the others: the last one recognised is
    // as far along as the count received says (a checksum that told
    // pictures apart badly would name an early one).
    assert!(n("last-picture") < n("sent"), "{context}");
    assert!(n("last-picture") >= n("received") - 1, "{context}");
    // key-int-max went from 0 to 10 with 30 pictures to go: the first
    // keyframe before (if the encoder had got to it), three more after; at
    // 0 it would have stayed 1. On both sides of the link.
    assert!(n("keyframes-before-change") <= 1, "{context}");
    assert!(n("keyframes-at-end") >= 3, "{context}");
    assert!(n("decoder-keyframes") >= 3, "{context}");
    assert_eq!(r.get("eos").map(String::as_str), Some("true"), "{context}");
    // What a person reads: framemeter's messages and every element's stats.
    for expected in [
        "receiver: framemeter:",
        "deltaenc key-int-max 0 -> 10 while playing",
        "application/x-deltaenc-stats",
        "application/x-rtpdeltadepay-stats",
        "application/x-deltadec-stats",
        "application/x-framemeter-stats",
    ] {
        assert!(
            output.contains(expected),
            "{app}: no {expected:?} in:\n{output}"
        );
    }
}

fn app_args(port: u16) -> Vec<String> {
    [
        "--frames",
        &FRAMES.to_string(),
        "--key-int-max",
        "10",
        "--port",
        &port.to_string(),
        "--timeout",
        "120",
    ]
    .map(String::from)
    .to_vec()
}

fn rust_app() -> Command {
    let exe = built().join("examples").join("embed");
    let mut command = Command::new(exe);
    // The example registers the elements itself: no plugin path needed.
    command.env_remove("GST_PLUGIN_PATH");
    command
}

/// Debian's python3, for which python3-gi is installed (a python3 earlier
/// on the PATH, pyenv's for instance, may not have PyGObject).
fn python_app() -> Command {
    let mut command = Command::new("/usr/bin/python3");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/embed.py"))
        .env("GST_PLUGIN_PATH", built());
    command
}

#[test]
fn rust_app_receives_what_it_drew_and_sees_the_property_change() {
    let mut app = rust_app();
    app.args(app_args(common::net::free_port()));
    check_run("examples/embed", run(app));
}

#[test]
fn python_app_receives_what_it_drew_and_sees_the_property_change() {
    assert!(
        built().join("libgststreamkit.so").is_file(),
        "no libgststreamkit.so in {}",
        built().display()
    );
    let mut app = python_app();
    app.args(app_args(common::net::free_port()));
    check_run("examples/embed.py", run(app));
}

#[test]
fn both_apps_explain_themselves_and_refuse_bad_options() {
    for (name, make) in [
        ("examples/embed", rust_app as fn() -> Command),
        ("examples/embed.py", python_app),
    ] {
        let mut help = make();
        help.arg("--help");
        let (code, output) = run(help);
        assert_eq!(code, Some(0), "{name} --help:\n{output}");
        for word in ["--frames", "--port", "appsrc", "appsink", "Exit status"] {
            assert!(
                output.contains(word),
                "{name} --help lacks {word}:\n{output}"
            );
        }
        let mut bad = make();
        bad.args(["--frames", "many"]);
        let (code, output) = run(bad);
        assert_eq!(code, Some(2), "{name} --frames many:\n{output}");
    }
}

#[test]
fn both_apps_exit_1_with_the_element_error_when_the_port_is_taken() {
    // Bound without SO_REUSEADDR, so udpsrc's bind fails.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    let port = taken.local_addr().expect("local address").port();
    for (name, mut app) in [
        ("examples/embed", rust_app()),
        ("examples/embed.py", python_app()),
    ] {
        app.args(app_args(port));
        let (code, output) = run(app);
        assert_eq!(code, Some(1), "{name} on a taken port:\n{output}");
        assert!(
            output.contains("receiver: does not start: error from") && output.contains("udpsrc"),
            "{name} does not say what failed:\n{output}"
        );
    }
}
