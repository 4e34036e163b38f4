// SPDX-License-Identifier: MPL-2.0
//! The SDP files under pipelines/ against real receivers: ffprobe reads the
//! MJPEG stream, sdpdemux receives the changes-only stream.

mod common;

use common::init;
use common::net::free_port_pair;
use common::pipeline::check_bus;
use common::rtp::stat;
use gst::prelude::*;

#[test]
fn ffprobe_reads_the_mjpeg_stream_with_the_repo_sdp() {
    init();
    let port = free_port_pair();
    let sdp = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/mjpeg.sdp"))
        .unwrap();
    assert!(
        sdp.contains("m=video 5010 "),
        "the SDP matches rtp-mjpeg-send.sh's port"
    );
    let sdp_path = std::env::temp_dir().join(format!("streamkit-mjpeg-{}.sdp", std::process::id()));
    std::fs::write(
        &sdp_path,
        sdp.replace("m=video 5010 ", &format!("m=video {port} ")),
    )
    .unwrap();

    // The sender of pipelines/rtp-mjpeg-send.sh, minus rtpbin.
    let sender = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball num-buffers=150 ! \
         video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! \
         jpegenc ! rtpjpegpay pt=26 mtu=1200 ! udpsink host=127.0.0.1 port={port}"
    ))
    .unwrap();
    let mut probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-protocol_whitelist", "file,udp,rtp"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "compact",
            "-i",
        ])
        .arg(&sdp_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ffprobe runs (scripts/deps.sh installs ffmpeg)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    sender.set_state(gst::State::Playing).unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = probe.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            let _ = probe.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    sender.set_state(gst::State::Null).unwrap();
    let output = probe.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&sdp_path);
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!(
        "ffprobe: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(status.is_some_and(|s| s.success()), "ffprobe finished");
    assert!(stdout.contains("codec_name=mjpeg|width=320|height=240"));
}

#[test]
fn sdpdemux_receives_the_delta_stream_with_the_repo_sdp() {
    init();
    let port = free_port_pair();
    let sdp = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/delta.sdp"))
        .unwrap();
    assert!(
        sdp.contains("m=video 5000 "),
        "the SDP matches rtp-delta-send.sh's port"
    );
    let sdp_path = std::env::temp_dir().join(format!("streamkit-delta-{}.sdp", std::process::id()));
    std::fs::write(
        &sdp_path,
        sdp.replace("m=video 5000 ", &format!("m=video {port} ")),
    )
    .unwrap();

    let receiver = gst::parse::launch(&format!(
        "filesrc location={} ! sdpdemux latency=50 ! rtpdeltadepay name=depay ! \
         deltadec ! fakesink name=sink async=false",
        sdp_path.display()
    ))
    .unwrap()
    .downcast::<gst::Bin>()
    .unwrap();
    let sender = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball num-buffers=60 ! \
         video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! \
         deltaenc tile-size=32 ! rtpdeltapay ! udpsink host=127.0.0.1 port={port}"
    ))
    .unwrap();
    receiver.set_state(gst::State::Playing).unwrap();
    sender.set_state(gst::State::Playing).unwrap();
    let depay = receiver.by_name("depay").unwrap();
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(5) && stat(&depay, "frames") < 20 {
        check_bus(&sender, "sender");
        check_bus(receiver.upcast_ref(), "receiver");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let caps = receiver
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .current_caps();
    sender.set_state(gst::State::Null).unwrap();
    receiver.set_state(gst::State::Null).unwrap();
    let _ = std::fs::remove_file(&sdp_path);
    assert!(
        stat(&depay, "frames") >= 20,
        "frames arrived through sdpdemux"
    );
    let caps = caps.expect("decoder negotiated");
    let s = caps.structure(0).unwrap();
    assert_eq!(s.get::<i32>("width").unwrap(), 640);
    assert_eq!(s.get::<i32>("height").unwrap(), 480);
}
