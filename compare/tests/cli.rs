// SPDX-License-Identifier: MPL-2.0
//! streamkit-compare end to end on short runs: its JSON must agree with
//! itself and with what the pipelines did.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("streamkit-compare-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs the program with `args` plus small, fast settings; returns its JSON.
fn compare(name: &str, args: &[&str]) -> Value {
    let dir = out_dir(name);
    let json = dir.join("out.json");
    let html = dir.join("report.html");
    let csv = dir.join("out.csv");
    let output = Command::new(env!("CARGO_BIN_EXE_streamkit-compare"))
        .args(["--width", "320", "--height", "240", "--fps", "30"])
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--report")
        .arg(&html)
        .arg("--csv")
        .arg(&csv)
        .output()
        .expect("streamkit-compare runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("strategy"), "no table printed:\n{stdout}");
    let page = std::fs::read_to_string(&html).expect("report written");
    assert!(page.matches("<svg").count() >= 3, "report lacks plots");
    let csv_text = std::fs::read_to_string(&csv).expect("csv written");
    let value: Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json written"))
        .expect("valid JSON");
    let results = value["results"].as_array().expect("results");
    assert_eq!(csv_text.lines().count(), results.len() + 1, "{csv_text}");
    std::fs::remove_dir_all(&dir).ok();
    value
}

/// Runs the program with `args`, which it must refuse; returns what it
/// said on stderr.
fn refused(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_streamkit-compare"))
        .args(args)
        .output()
        .expect("streamkit-compare runs");
    assert!(!output.status.success(), "{args:?} accepted");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn u(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing in {v}"))
}

fn check_accounting(r: &Value, seconds: f64) {
    let (sent, received, lost) = (
        u(r, "frames_sent"),
        u(r, "frames_received"),
        u(r, "frames_lost"),
    );
    assert_eq!(sent, received + lost, "{}", r["id"]);
    // frames_sent is framestamp's count: the live source ran for the duration
    let expected = seconds * 30.0;
    assert!(
        (sent as f64) > expected * 0.8 && (sent as f64) < expected * 1.3,
        "{}: {sent} frames sent in {seconds} s at 30 fps",
        r["id"]
    );
    // framemeter's independent count of gaps cannot exceed what was lost
    assert!(u(r, "meter_missing") <= lost, "{r}");
    // one record per distinct frame received
    assert_eq!(
        r["frames"].as_array().map(Vec::len),
        Some(received as usize)
    );
    assert!(u(r, "bytes") > 0 && u(r, "packets_received") > 0, "{r}");
}

#[test]
fn clean_network_delivers_every_frame() {
    // every strategy: deps.sh installs all they need, so none may be skipped
    let v = compare("clean", &["--duration", "2"]);
    let results = v["results"].as_array().expect("results");
    let ids: Vec<_> = results.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "mjpeg",
            "delta-intra",
            "segments",
            "hls",
            "delta",
            "delta-rtx",
            "delta-moq",
            "delta-moq-eager",
            "h264-moq",
            "h264-rtp"
        ],
        "{v}"
    );
    assert_eq!(v["network"], "link", "the link is the default");
    for r in results {
        check_accounting(r, 2.0);
        // A MoQ viewer subscribes once the broadcast is announced: the
        // frames published before its subscription reached the relay are
        // folded into its first picture (the relay's snapshot and the
        // frames since), never shown on their own.
        // the MoQ strategies, and only they, report the MoQ elements' counters
        let moq = r["moq"].is_object();
        assert_eq!(
            moq,
            r["id"].as_str().is_some_and(|id| id.contains("-moq")),
            "{r}"
        );
        if moq {
            assert_eq!(lost_after_first_picture(r), 0, "{r}");
            assert!(first_picture(r) < 30, "{r}");
        } else {
            assert_eq!(u(r, "frames_lost"), 0, "{r}");
        }
        assert_eq!(link_counts(r, "to_receiver").1, 0, "{r}");
        // only an RTP session has a return path to count repairs on
        let session = r["id"] == "h264-rtp" || r["id"] == "delta-rtx";
        assert_eq!(r["repair"].is_object(), session, "{r}");
        assert_eq!(u(r, "frames_unreadable"), 0, "{r}");
        let psnr = r["psnr_mean"].as_f64().expect("psnr");
        assert!(psnr > 30.0, "{}: PSNR {psnr}", r["id"]);
        let p50 = r["latency_ms"]["p50"].as_f64().expect("latency");
        assert!(p50 > 0.0 && p50 < 1000.0, "{}: latency {p50}", r["id"]);
    }
}

#[test]
fn loss_costs_mjpeg_the_expected_share_of_frames() {
    let v = compare(
        "loss",
        &[
            "--duration",
            "2",
            "--strategies",
            "mjpeg",
            "--loss",
            "5",
            "--scene",
            "camera",
        ],
    );
    let r = &v["results"][0];
    check_accounting(r, 2.0);
    let share = u(r, "frames_lost") as f64 / u(r, "frames_sent") as f64;
    let expected = r["expected_lost_share"].as_f64().expect("expected share");
    // ~60 frames: a binomial spread of a few frames; allow 20 points
    assert!(
        (share - expected).abs() < 0.2,
        "lost {share:.2} of frames, expected {expected:.2} from packets per frame"
    );
    assert!(
        share > 0.05,
        "5% packet loss lost only {share:.2} of frames"
    );
}

#[test]
fn changes_only_heals_after_the_loss_stops() {
    // lossless deltaenc on the screen scene: once loss stops, intra-refresh
    // (30 frames) must bring every frame back to bit-exact. The scene costs
    // about 50 packets in the lossy 1.5 s (moves and palettes made it
    // small): at 20% some are lost in all but about 1 run in 100 000.
    let v = compare(
        "heal",
        &[
            "--duration",
            "4",
            "--strategies",
            "delta",
            "--loss",
            "20",
            "--loss-until",
            "1.5",
        ],
    );
    let r = &v["results"][0];
    check_accounting(r, 4.0);
    let end = r["psnr_last_second"]
        .as_f64()
        .expect("frames in the last second");
    assert_eq!(
        end, 100.0,
        "PSNR in the last second {end}: damage left after the loss"
    );
    // and the loss did do damage while it lasted
    let damaged = r["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .filter(|f| f["psnr"].as_f64().is_some_and(|p| p < 100.0))
        .count() as u64;
    assert!(
        damaged + u(r, "frames_lost") > 0,
        "20% loss for 1.5 s left no trace: {r}"
    );
}

#[test]
fn h264_over_rtp_repairs_loss_by_retransmission() {
    // 10% loss on RTP and RTCP alike, on a loopback round trip: the
    // receiver's jitterbuffer asks for what is missing (NACK), the sender
    // sends it again on its RTX stream, and some of it arrives in time.
    // At 320x240 a frame is about one packet, so without repair about a
    // tenth of the frames would be lost, and each loss would cost frames
    // until the next keyframe.
    let v = compare(
        "h264-rtx",
        &[
            "--duration",
            "3",
            "--strategies",
            "h264-rtp",
            "--loss",
            "10",
        ],
    );
    let r = &v["results"][0];
    check_accounting(r, 3.0);
    let repair = &r["repair"];
    let requested = u(repair, "retransmissions_requested");
    let sent = u(repair, "retransmissions_sent");
    let recovered = u(repair, "retransmissions_recovered");
    assert!(requested > 0, "no NACK under 10% loss: {repair}");
    assert!(sent > 0 && sent <= requested, "RTX sent: {repair}");
    assert!(
        recovered > 0 && recovered <= sent,
        "nothing repaired: {repair}"
    );
    let received = u(r, "frames_received") as f64 / u(r, "frames_sent") as f64;
    assert!(
        received > 0.6,
        "only {received:.2} of the frames shown: {r}"
    );
}

#[test]
fn h264_over_rtp_asks_the_encoder_for_keyframes_when_repair_fails() {
    // 30 ms each way: a retransmission comes back 60 ms after the loss,
    // later than the jitterbuffer's 50 ms wait, so every lost packet is
    // lost for good; the depayloader then asks for a keyframe, which
    // travels back as RTCP PLI and reaches x264enc as GstForceKeyUnit.
    let v = compare(
        "h264-pli",
        &[
            "--duration",
            "3",
            "--strategies",
            "h264-rtp",
            "--loss",
            "10",
            "--delay",
            "30",
        ],
    );
    let r = &v["results"][0];
    check_accounting(r, 3.0);
    let repair = &r["repair"];
    assert!(
        u(repair, "packets_lost") > 0,
        "no packet lost for good: {repair}"
    );
    // rtph264depay also asks once when the stream starts (it takes the
    // first packet's DISCONT flag for a loss), so more than one
    let requests = u(r, "keyframe_requests");
    assert!(
        requests > 1,
        "{requests} keyframe requests reached the encoder: {r}"
    );
    assert!(u(r, "frames_received") > 0, "{r}");
}

/// The frame number of the first picture the receiver showed.
fn first_picture(r: &Value) -> u64 {
    r["frames"][0]["frame"]
        .as_u64()
        .unwrap_or_else(|| panic!("no picture arrived: {r}"))
}

/// Frames lost after the first picture the receiver showed.
fn lost_after_first_picture(r: &Value) -> u64 {
    (u(r, "frames_sent") - first_picture(r)).saturating_sub(u(r, "frames_received"))
}

/// The link's counters of one direction.
fn link_counts(r: &Value, direction: &str) -> (u64, u64) {
    let d = &r["link"][direction];
    (u(d, "offered"), u(d, "lost"))
}

#[test]
fn every_strategy_crosses_a_lossy_link_with_real_packets() {
    // 2% loss both ways and a 40 ms round trip, on real UDP and TCP
    // between two network namespaces.
    let v = compare("link", &["--duration", "3", "--loss", "2", "--rtt", "40"]);
    assert_eq!(v["network"], "link");
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), 10, "{v}");
    for r in results {
        let id = r["id"].as_str().unwrap();
        check_accounting(r, 3.0);
        assert!(u(r, "frames_received") > 0, "{id}: nothing arrived");
        let (offered, lost) = link_counts(r, "to_receiver");
        assert!(lost > 0, "{id}: the link lost nothing of {offered} packets");
        // every frame crossed the link's delay: 20 ms one way
        let p50 = r["latency_ms"]["p50"].as_f64().unwrap();
        assert!(
            p50 >= 20.0,
            "{id}: latency p50 {p50} ms below the one-way delay"
        );
        match id {
            // one datagram per RTP packet counted at the sender
            "mjpeg" | "delta-intra" | "delta" => {
                assert_eq!(offered, u(r, "packets"), "{id}");
                let (back, _) = link_counts(r, "to_sender");
                assert_eq!(back, 0, "{id} has no return path");
            }
            // TCP: nothing is lost to the application, however many
            // segments the link lost; acknowledgements come back
            "segments" => {
                assert_eq!(u(r, "frames_lost"), 0, "{r}");
                let (acks, _) = link_counts(r, "to_sender");
                assert!(acks > 0, "no acknowledgements crossed back");
            }
            // HTTP: the client starts at the newest segment listed, so at
            // most the frames of the segments before it are never shown
            "hls" => {
                assert!(u(r, "frames_lost") <= 10, "{r}");
                let (requests, _) = link_counts(r, "to_sender");
                assert!(requests > 0, "no requests or acknowledgements crossed back");
                // a segment waits for its playlist reload: later than TCP's
                assert!(p50 >= 300.0, "hls latency p50 {p50} ms");
            }
            // RTCP crosses back, and lost packets are sent again
            "delta-rtx" | "h264-rtp" => {
                let (back, _) = link_counts(r, "to_sender");
                assert!(back > 0, "no RTCP crossed back");
                assert!(u(&r["repair"], "retransmissions_sent") > 0, "{r}");
            }
            // QUIC: acknowledgements cross back; the stream repairs itself
            // (retransmission, and for changes only the relay's cache), so
            // at 2% loss and a 40 ms round trip the viewer misses almost
            // nothing
            "delta-moq" | "h264-moq" => {
                let (acks, _) = link_counts(r, "to_sender");
                assert!(acks > 0, "no QUIC acknowledgements crossed back");
                // joined within a second (handshakes over a 40 ms round
                // trip, with loss), then at most a few frames given up
                assert!(first_picture(r) < 30, "{r}");
                assert!(lost_after_first_picture(r) <= 5, "{r}");
            }
            // Not waiting: a frame whose packet was lost is given up at
            // once (5 ms) and the picture repaired from the viewer's own
            // state when it arrives, never from the relay's snapshot
            "delta-moq-eager" => {
                let (acks, _) = link_counts(r, "to_sender");
                assert!(acks > 0, "no QUIC acknowledgements crossed back");
                assert!(first_picture(r) < 30, "{r}");
                let m = &r["moq"];
                assert!(
                    u(m, "frames_given_up") == 0 || u(m, "own_repairs") >= 1,
                    "frames given up and no repair from the viewer's own state: {r}"
                );
                // the join is the one picture from the relay's snapshot
                // (unless an own repair failed, which is counted)
                assert!(
                    u(m, "composites") <= u(m, "own_repairs") + 1 + u(m, "composite_failures"),
                    "{r}"
                );
            }
            other => panic!("unexpected strategy {other}"),
        }
    }
}

#[test]
fn tcp_congestion_control_is_chosen_and_recorded() {
    let v = compare(
        "reno",
        &[
            "--duration",
            "1",
            "--strategies",
            "segments",
            "--tcp-cc",
            "reno",
        ],
    );
    let r = &v["results"][0];
    assert_eq!(r["link"]["tcp_congestion_control"], "reno", "{r}");
    let stderr = refused(&[
        "--duration",
        "1",
        "--strategies",
        "segments",
        "--tcp-cc",
        "no-such",
    ]);
    assert!(
        stderr.contains("cannot use TCP congestion control 'no-such'"),
        "{stderr}"
    );
}

#[test]
fn the_model_runs_over_loopback_without_the_link() {
    let v = compare(
        "model",
        &[
            "--network",
            "model",
            "--duration",
            "2",
            "--strategies",
            "mjpeg,segments,hls",
            "--loss",
            "5",
            "--delay",
            "10",
        ],
    );
    assert_eq!(v["network"], "model");
    let skipped = v["skipped"].to_string();
    assert!(skipped.contains("hls"), "hls needs the link: {skipped}");
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    for r in v["results"].as_array().unwrap() {
        check_accounting(r, 2.0);
        assert!(r["link"].is_null(), "{r}");
    }
}

#[test]
fn outages_need_the_link() {
    let stderr = refused(&["--network", "model", "--outage-ms", "50", "--loss", "5"]);
    assert!(
        stderr.contains("--outage-ms needs --network link"),
        "{stderr}"
    );
}
