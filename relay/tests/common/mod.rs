// SPDX-License-Identifier: MPL-2.0
//! What the relay's test files share: GStreamer set-up, collecting frames,
//! and the `streamkit-relay` program run as a child process.
#![allow(dead_code)]

#[path = "../../../tests/common/net.rs"]
#[allow(dead_code)]
pub mod net;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use gst::prelude::*;

pub fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gst::init().expect("gst init");
        gststreamkit::plugin_register_static().expect("register streamkit");
    });
}

pub type Frames = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

/// Collects every buffer reaching the appsink `name` of `pipeline`.
pub fn collect(pipeline: &gst::Pipeline, name: &str) -> Frames {
    collect_with(pipeline, name, |b| b.map_readable().unwrap().to_vec())
}

/// Collects, with its arrival time, what `what` makes of every buffer
/// reaching the appsink `name` of `pipeline`.
pub fn collect_with<T: Send + 'static>(
    pipeline: &gst::Pipeline,
    name: &str,
    what: impl Fn(&gst::BufferRef) -> T + Send + Sync + 'static,
) -> Arc<Mutex<Vec<(Instant, T)>>> {
    let seen: Arc<Mutex<Vec<(Instant, T)>>> = Arc::default();
    let sink = pipeline
        .by_name(name)
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let out = seen.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let item = what(sample.buffer().unwrap());
                out.lock().unwrap().push((Instant::now(), item));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    seen
}

/// An origin as the relay expects one (pipelines/rtp-delta-send.sh): `chain`
/// (raw video source through to the encoder) into a tee, one branch through
/// `payloader` into rtpbin sending RTP to `port` and RTCP to `port + 1`,
/// reading RTCP on `port + 5`; the other into the appsink `origin`, so the
/// encoded frames can be compared with what viewers get.
pub fn origin_description(port: u16, chain: &str, payloader: &str) -> String {
    format!(
        "rtpbin name=rb rtp-profile=avpf \
         {chain} ! tee name=t \
         t. ! queue ! {payloader} ! rb.send_rtp_sink_0 \
         rb.send_rtp_src_0 ! udpsink host=127.0.0.1 port={port} \
         rb.send_rtcp_src_0 ! udpsink host=127.0.0.1 port={} sync=false async=false \
         udpsrc address=127.0.0.1 port={} ! rb.recv_rtcp_sink_0 \
         t. ! queue ! appsink name=origin sync=false",
        port + 1,
        port + 5
    )
}

/// The pipeline `description` describes.
pub fn launch(description: &str) -> gst::Pipeline {
    gst::parse::launch(description)
        .unwrap_or_else(|e| panic!("bad pipeline {description}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap()
}

pub fn fail_on_error(pipeline: &gst::Pipeline, what: &str) {
    let bus = pipeline.bus().unwrap();
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("{what}: {} ({:?})", e.error(), e.debug());
        }
    }
}

/// The `streamkit-relay` program.
pub struct RelayProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    pub url: String,
}

impl RelayProcess {
    pub fn start(input: &str, extra: &[&str]) -> Self {
        // The RTSP port is a TCP port found free and released, so another
        // test's connection may take it before the relay binds it: then the
        // relay says it cannot listen, and it is started again elsewhere.
        for _ in 0..5 {
            if let Some(relay) = Self::start_on(net::free_tcp_port(), input, extra) {
                return relay;
            }
        }
        panic!("the relay could not listen on any of 5 free TCP ports");
    }

    /// The relay serving on `port`, or None when that port was taken.
    fn start_on(port: u16, input: &str, extra: &[&str]) -> Option<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_streamkit-relay"))
            .args(["--input", input, "--port", &port.to_string()])
            .args(["--stats-interval", "1"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("streamkit-relay starts");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("streamkit-relay: {line}");
                sink.lock().unwrap().push(format!("stderr: {line}"));
            }
        });
        let relay = RelayProcess {
            child,
            lines,
            url: format!("rtsp://127.0.0.1:{port}/delta"),
        };
        // Listening (its ingest is playing) once it says where it serves.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = relay.lines.lock().unwrap().clone();
            if lines
                .iter()
                .any(|l| l.starts_with("streamkit-relay: serving"))
            {
                return Some(relay);
            }
            if lines.iter().any(|l| l.contains("cannot listen on")) {
                return None;
            }
            assert!(Instant::now() < deadline, "the relay did not start");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the relay has received frames from its input.
    pub fn wait_for_frames(&self) {
        self.wait_for(|s| s.get("frames_in").is_some_and(|n| *n > 0));
    }

    /// Panics if the relay complained: a GStreamer warning or critical, a
    /// panic, an error.
    pub fn assert_quiet(&self) {
        let lines = self.lines.lock().unwrap();
        let complaints: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("stderr:"))
            .filter(|l| {
                ["CRITICAL", "WARNING", "panicked", "error"]
                    .iter()
                    .any(|w| l.contains(w))
            })
            .collect();
        assert!(
            complaints.is_empty(),
            "the relay complained: {complaints:?}"
        );
    }

    /// The relay's last counters line.
    pub fn stats(&self) -> HashMap<String, u64> {
        let lines = self.lines.lock().unwrap();
        let Some(last) = lines.iter().rev().find(|l| l.starts_with("stats:")) else {
            return HashMap::new();
        };
        last.split_whitespace()
            .skip(1)
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect()
    }

    /// Waits (at most 10 s) for counters that satisfy `ok`.
    pub fn wait_for(&self, ok: impl Fn(&HashMap<String, u64>) -> bool) -> HashMap<String, u64> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stats = self.stats();
            if ok(&stats) {
                return stats;
            }
            assert!(
                Instant::now() < deadline,
                "relay counters never got there: {stats:?}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
