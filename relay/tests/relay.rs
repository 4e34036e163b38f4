// SPDX-License-Identifier: MPL-2.0
//! The relay as users run it: a real sender over RTP/UDP with RTCP, the
//! `streamkit-relay` program, and viewers that connect with `rtspsrc` (UDP
//! and TCP-interleaved) or with a bare RTSP client that vanishes, all on
//! 127.0.0.1. Every viewer's pictures are checked bit for bit against the
//! origin's own frames.

mod common;

use common::{collect, fail_on_error, init, launch, net, origin_description, Frames, RelayProcess};

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gststreamkit::delta::{DeltaDecoder, FrameHeader};
/// A ball bouncing over black.
const BALL: &str = "videotestsrc is-live=true pattern=ball \
    ! video/x-raw,format=I420,width=320,height=240,framerate=30/1";

/// A ball bouncing over a still zone plate: the tiles it leaves return to
/// what they held before it came, which a tile cache recalls.
const BALL_OVER_PLATE: &str = "videotestsrc is-live=true pattern=zone-plate kx2=20 ky2=20 kt=0 \
    ! video/x-raw,format=AYUV,width=320,height=240,framerate=30/1 ! mix. \
    videotestsrc is-live=true pattern=ball background-color=0x00000000 \
    ! video/x-raw,format=AYUV,width=320,height=240,framerate=30/1 ! mix. \
    compositor name=mix ! videoconvert ! video/x-raw,format=I420,width=320,height=240,framerate=30/1";

/// The sender: a live test picture, deltaenc, rtpdeltapay and rtpbin with
/// RTCP, as pipelines/rtp-delta-send.sh; its frames are also kept here.
struct Origin {
    pipeline: gst::Pipeline,
    frames: Frames,
}

impl Origin {
    fn start(port: u16) -> Self {
        Self::start_with(port, BALL, "")
    }

    /// An origin of `source` (raw video, 320x240 I420 at 30 fps) whose
    /// deltaenc also gets `options` (e.g. a tile cache).
    fn start_with(port: u16, source: &str, options: &str) -> Self {
        let pipeline = launch(&origin_description(
            port,
            &format!("{source} ! deltaenc name=enc tile-size=32 intra-refresh=0 {options}"),
            "rtpdeltapay",
        ));
        let frames = collect(&pipeline, "origin");
        pipeline.set_state(gst::State::Playing).unwrap();
        Origin { pipeline, frames }
    }

    /// Keyframes deltaenc has made: the first, plus any a request forced.
    fn keyframes(&self) -> u64 {
        self.stat("keyframes")
    }

    /// One of deltaenc's counters.
    fn stat(&self, name: &str) -> u64 {
        let enc = self.pipeline.by_name("enc").unwrap();
        let stats = enc.property::<gst::Structure>("stats");
        stats.get::<u64>(name).unwrap()
    }

    /// The origin's picture after each frame, by frame number.
    fn pictures(&self) -> HashMap<u32, Vec<u8>> {
        self.pictures_with_cache(0)
    }

    /// As [`Origin::pictures`], decoding with a tile cache of `tiles`.
    fn pictures_with_cache(&self, tiles: u32) -> HashMap<u32, Vec<u8>> {
        let mut decoder = DeltaDecoder::new();
        decoder.set_cache_tiles(tiles);
        let mut out = HashMap::new();
        for (_, frame) in self.frames.lock().unwrap().iter() {
            let report = decoder.decode(frame, Duration::ZERO);
            let header = report.header.expect("the origin's frames decode");
            out.insert(header.frame_number, picture(&decoder));
        }
        out
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn picture(decoder: &DeltaDecoder) -> Vec<u8> {
    let canvas = decoder.canvas().unwrap();
    (0..canvas.geometry().format.plane_count())
        .flat_map(|p| canvas.plane(p).to_vec())
        .collect()
}

/// A full GStreamer viewer: rtspsrc (no jitter-buffer latency), the
/// depayloader, and the frames it gives.
struct Viewer {
    pipeline: gst::Pipeline,
    frames: Frames,
    started: Instant,
}

impl Viewer {
    fn join(url: &str, protocols: &str) -> Self {
        let description = format!(
            "rtspsrc location={url} latency=0 protocols={protocols} \
             ! rtpdeltadepay ! appsink name=frames sync=false"
        );
        let pipeline = launch(&description);
        let frames = collect(&pipeline, "frames");
        let started = Instant::now();
        pipeline.set_state(gst::State::Playing).unwrap();
        Viewer {
            pipeline,
            frames,
            started,
        }
    }

    /// Asks for a keyframe as a player does after a loss: upstream from
    /// the depayloader, which rtspsrc's session sends as RTCP PLI.
    fn request_keyframe(&self) {
        let sink = self.pipeline.by_name("frames").unwrap();
        let event = gst_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build();
        assert!(sink.static_pad("sink").unwrap().push_event(event));
    }

    /// Stops receiving (so that every frame it got was also recorded at the
    /// origin, whose own copy goes through a queue of its own).
    fn stop(&self) {
        self.pipeline.set_state(gst::State::Null).unwrap();
    }

    /// Decodes everything received and checks each picture against the
    /// origin's of the same frame. Returns (frames, keyframes, time from
    /// joining to the first whole picture).
    fn check(&self, origin: &HashMap<u32, Vec<u8>>, what: &str) -> (usize, usize, Duration) {
        self.check_with_cache(origin, what, 0)
    }

    /// As [`Viewer::check`], decoding with a tile cache of `tiles`.
    fn check_with_cache(
        &self,
        origin: &HashMap<u32, Vec<u8>>,
        what: &str,
        tiles: u32,
    ) -> (usize, usize, Duration) {
        fail_on_error(&self.pipeline, what);
        let frames = self.frames.lock().unwrap();
        assert!(!frames.is_empty(), "{what}: no frame arrived");
        let mut decoder = DeltaDecoder::new();
        decoder.set_cache_tiles(tiles);
        let mut keyframes = 0;
        for (i, (_, frame)) in frames.iter().enumerate() {
            let header = FrameHeader::parse(frame).expect("a frame header");
            if i == 0 {
                assert!(
                    header.keyframe,
                    "{what}: the first frame is a whole picture"
                );
            }
            keyframes += header.keyframe as usize;
            let report = decoder.decode(frame, Duration::ZERO);
            assert!(report.error.is_none(), "{what}: {:?}", report.error);
            assert!(
                decoder.is_complete(),
                "{what}: frame {i} leaves tiles missing"
            );
            assert_eq!(decoder.stale_tiles(), 0, "{what}: stale tiles at frame {i}");
            let want = origin
                .get(&header.frame_number)
                .unwrap_or_else(|| panic!("{what}: frame {} not sent", header.frame_number));
            assert!(
                picture(&decoder) == *want,
                "{what}: frame {} differs from the origin's",
                header.frame_number
            );
        }
        (
            frames.len(),
            keyframes,
            frames[0].0.saturating_duration_since(self.started),
        )
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// A relay with `relay_args`, listening before the origin (of `source`,
/// deltaenc with `options`) starts, so that it has every frame; returns
/// once frames have reached it.
fn relay_and_origin(relay_args: &[&str], source: &str, options: &str) -> (RelayProcess, Origin) {
    let port = net::free_port_pair();
    let relay = RelayProcess::start(&format!("udp://127.0.0.1:{port}"), relay_args);
    let origin = Origin::start_with(port, source, options);
    relay.wait_for_frames();
    (relay, origin)
}

/// The longest time between two frames a viewer received.
fn longest_gap(frames: &[(Instant, Vec<u8>)]) -> Duration {
    frames
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default()
}

#[test]
fn late_joiners_get_an_exact_picture_at_once_and_the_origin_never_hears_of_them() {
    init();
    let (relay, origin) = relay_and_origin(&[], BALL, "");
    thread::sleep(Duration::from_millis(500));
    let a = Viewer::join(&relay.url, "udp");
    thread::sleep(Duration::from_millis(700));
    let b = Viewer::join(&relay.url, "udp");
    let c = Viewer::join(&relay.url, "tcp");
    thread::sleep(Duration::from_millis(1500));
    let stats = relay.wait_for(|s| s.get("pictures_served").is_some_and(|n| *n >= 3));
    for v in [&a, &b, &c] {
        v.stop();
    }
    let pictures = origin.pictures();
    for (viewer, what) in [
        (&a, "viewer A (UDP)"),
        (&b, "viewer B (UDP)"),
        (&c, "viewer C (TCP)"),
    ] {
        let (frames, keyframes, first) = viewer.check(&pictures, what);
        eprintln!("{what}: first whole picture {first:?} after joining");
        assert!(frames > 10, "{what}: only {frames} frames");
        assert_eq!(keyframes, 1, "{what}: one whole picture, at the start");
        assert!(
            first < Duration::from_secs(2),
            "{what}: first picture after {first:?}"
        );
    }
    // The origin made one keyframe, its first; joins cost it nothing.
    assert_eq!(origin.keyframes(), 1);
    assert_eq!(stats["upstream_keyframe_requests"], 0, "{stats:?}");
    assert!(stats["snapshots"] >= 2, "{stats:?}");
    relay.assert_quiet();
}

#[test]
fn a_viewers_keyframe_request_is_answered_by_the_relay_for_it_alone() {
    init();
    let (relay, origin) = relay_and_origin(&[], BALL, "");
    let a = Viewer::join(&relay.url, "udp");
    let b = Viewer::join(&relay.url, "udp");
    relay.wait_for(|s| s.get("pictures_served").is_some_and(|n| *n >= 2));
    thread::sleep(Duration::from_millis(500));
    a.request_keyframe();
    let stats = relay.wait_for(|s| s.get("viewer_requests").is_some_and(|n| *n >= 1));
    thread::sleep(Duration::from_millis(500));
    a.stop();
    b.stop();
    let pictures = origin.pictures();
    let (_, keyframes_a, _) = a.check(&pictures, "viewer A");
    let (_, keyframes_b, _) = b.check(&pictures, "viewer B");
    assert_eq!(keyframes_a, 2, "A got a second whole picture");
    assert_eq!(keyframes_b, 1, "B saw nothing of A's request");
    assert_eq!(origin.keyframes(), 1, "the origin never heard of it");
    assert_eq!(stats["upstream_keyframe_requests"], 0, "{stats:?}");
    relay.assert_quiet();
}

/// A viewer that plays and then vanishes: DESCRIBE, SETUP (UDP ports
/// nobody reads), PLAY, and then nothing: no TEARDOWN, no keep-alive, no
/// RTCP. Its connection is returned, open, as a vanished host's would stay
/// until TCP gave up on it.
fn vanishing_viewer(url: &str) -> TcpStream {
    let rtp = net::free_port_pair();
    let transport = format!("RTP/AVP;unicast;client_port={rtp}-{}", rtp + 1);
    bare_viewer(url, &transport).0
}

/// A bare RTSP client: DESCRIBE, SETUP with `transport`, PLAY. Returns the
/// connection and its reader (which may already hold interleaved data).
fn bare_viewer(url: &str, transport: &str) -> (TcpStream, BufReader<TcpStream>) {
    let rest = url.strip_prefix("rtsp://").unwrap();
    let (hostport, _) = rest.split_once('/').unwrap();
    let mut stream = TcpStream::connect(hostport).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = |lines: String| -> (Vec<String>, Vec<u8>) {
        stream.write_all(lines.as_bytes()).unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end().to_string();
            if line.is_empty() {
                break;
            }
            headers.push(line);
        }
        let len = headers
            .iter()
            .find_map(|h| h.strip_prefix("Content-Length: "))
            .map_or(0, |n| n.parse().unwrap());
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        assert!(headers[0].contains("200"), "{headers:?}");
        (headers, body)
    };
    let (_, sdp) = request(format!(
        "DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n"
    ));
    let sdp = String::from_utf8(sdp).unwrap();
    assert!(sdp.contains("X-STREAMKIT-DELTA"), "{sdp}");
    let control = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=control:"))
        .filter(|c| *c != "*")
        .unwrap_or("stream=0");
    let track = if control.starts_with("rtsp://") {
        control.to_string()
    } else {
        format!("{url}/{control}")
    };
    let (headers, _) = request(format!(
        "SETUP {track} RTSP/1.0\r\nCSeq: 2\r\nTransport: {transport}\r\n\r\n"
    ));
    let session = headers
        .iter()
        .find_map(|h| h.strip_prefix("Session: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    request(format!(
        "PLAY {url} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\n\r\n"
    ));
    (stream, reader)
}

/// Reads RTP packets interleaved in an RTSP connection for `how_long`;
/// returns for each RTP packet (channel 0) whether the frame it belongs
/// to is a keyframe (docs/rtp-payload.md: every packet carries the frame
/// header after its 4-byte payload header; flags bit 0).
fn read_interleaved(reader: &mut BufReader<TcpStream>, how_long: Duration) -> Vec<bool> {
    let deadline = Instant::now() + how_long;
    let mut keyframe = Vec::new();
    while Instant::now() < deadline {
        let mut head = [0u8; 4];
        if reader.read_exact(&mut head).is_err() {
            break;
        }
        assert_eq!(head[0], b'$', "interleaved data");
        let mut packet = vec![0u8; u16::from_be_bytes([head[2], head[3]]) as usize];
        reader.read_exact(&mut packet).unwrap();
        if head[1] != 0 || packet.len() < 12 {
            continue; // RTCP
        }
        let payload = &packet[12 + 4 * (packet[0] & 0x0f) as usize..];
        if payload.len() >= 4 + 14 {
            keyframe.push(payload[4 + 3] & 1 != 0);
        }
    }
    keyframe
}

#[test]
fn a_viewer_that_vanishes_times_out_without_disturbing_the_others() {
    init();
    let (relay, origin) = relay_and_origin(&["--session-timeout", "3"], BALL, "");
    let steady = Viewer::join(&relay.url, "udp");
    relay.wait_for(|s| s.get("joins").is_some_and(|n| *n >= 1));
    let gone = vanishing_viewer(&relay.url);
    relay.wait_for(|s| s.get("joins").is_some_and(|n| *n >= 2));
    let stats = relay.wait_for(|s| s.get("leaves").is_some_and(|n| *n >= 1));
    assert_eq!(stats["viewers"], 1, "the steady viewer stays: {stats:?}");
    fail_on_error(&origin.pipeline, "origin");
    drop(gone);
    // The steady viewer never stopped receiving meanwhile.
    steady.stop();
    let pictures = origin.pictures();
    steady.check(&pictures, "steady viewer");
    let frames = steady.frames.lock().unwrap();
    let longest_gap = longest_gap(&frames);
    assert!(
        longest_gap < Duration::from_millis(500),
        "the steady viewer stalled {longest_gap:?}"
    );
    relay.assert_quiet();
}

#[test]
fn a_relay_can_read_from_another_relay() {
    init();
    let (first, origin) = relay_and_origin(&[], BALL, "");
    let second = RelayProcess::start(&first.url, &[]);
    second.wait_for_frames();
    thread::sleep(Duration::from_millis(300));
    let viewer = Viewer::join(&second.url, "udp");
    second.wait_for(|s| s.get("pictures_served").is_some_and(|n| *n >= 1));
    thread::sleep(Duration::from_millis(1000));
    viewer.stop();
    let pictures = origin.pictures();
    let (frames, keyframes, _) = viewer.check(&pictures, "viewer of the second relay");
    assert!(frames > 10);
    assert_eq!(keyframes, 1);
    let upstream = first.stats();
    assert_eq!(
        upstream["viewers"], 1,
        "the second relay is the first's one viewer"
    );
    assert_eq!(origin.keyframes(), 1);
    first.assert_quiet();
    second.assert_quiet();
}

#[test]
fn the_relay_follows_an_origin_that_restarts() {
    init();
    let port = net::free_port_pair();
    let relay = RelayProcess::start(&format!("udp://127.0.0.1:{port}"), &[]);
    let first = Origin::start(port);
    relay.wait_for_frames();
    let viewer = Viewer::join(&relay.url, "udp");
    relay.wait_for(|s| s.get("pictures_served").is_some_and(|n| *n >= 1));
    thread::sleep(Duration::from_millis(500));
    // The sender stops and a new one starts on the same port: a new SSRC,
    // new sequence numbers, frame numbers from 0 again, a keyframe first.
    drop(first);
    thread::sleep(Duration::from_millis(300));
    let restarted = Instant::now();
    let second = Origin::start(port);
    thread::sleep(Duration::from_millis(1500));
    viewer.stop();
    fail_on_error(&second.pipeline, "second origin");
    let frames = viewer.frames.lock().unwrap();
    let after = frames.iter().filter(|(at, _)| *at > restarted).count();
    assert!(after > 20, "only {after} frames after the restart");
    let mut decoder = DeltaDecoder::new();
    let mut last = None;
    for (_, frame) in frames.iter() {
        let report = decoder.decode(frame, Duration::ZERO);
        last = report.header.map(|h| h.frame_number);
    }
    let pictures = second.pictures();
    let last = last.expect("the viewer got frames");
    assert!(
        pictures.get(&last) == Some(&picture(&decoder)),
        "after the restart the viewer shows the new sender's frame {last}"
    );
    assert!(decoder.is_complete() && decoder.stale_tiles() == 0);
    assert_eq!(relay.stats()["viewers"], 1);
    relay.assert_quiet();
}

#[test]
fn late_joiners_are_exact_with_the_tile_cache() {
    init();
    // The ball uncovers tiles the cache still holds: recalls in the stream.
    let (relay, origin) =
        relay_and_origin(&["--cache-tiles", "64"], BALL_OVER_PLATE, "cache-tiles=64");
    thread::sleep(Duration::from_millis(1500));
    let a = Viewer::join(&relay.url, "udp");
    thread::sleep(Duration::from_millis(1500));
    let b = Viewer::join(&relay.url, "tcp");
    thread::sleep(Duration::from_millis(1500));
    a.stop();
    b.stop();
    assert!(origin.stat("tiles-recalled") > 0, "the stream has recalls");
    let pictures = origin.pictures_with_cache(64);
    for (viewer, what) in [(&a, "viewer A"), (&b, "viewer B")] {
        let (frames, keyframes, _) = viewer.check_with_cache(&pictures, what, 64);
        assert!(
            frames > 10 && keyframes == 1,
            "{what}: {frames} frames, {keyframes} pictures; relay: {:?}",
            relay.stats()
        );
    }
    assert_eq!(origin.keyframes(), 1);
    let stats = relay.stats();
    assert_eq!(stats["upstream_keyframe_requests"], 0, "{stats:?}");
    assert!(stats["snapshots"] >= 1, "{stats:?}");
    relay.assert_quiet();
}

#[test]
fn a_slow_tcp_viewer_loses_frames_alone_and_comes_back_with_its_own_picture() {
    init();
    // Noise: every frame ~115 KB, so a reader that stops fills the TCP
    // buffers and the relay's queue for it within a second or two.
    let noise = "videotestsrc is-live=true pattern=snow \
        ! video/x-raw,format=I420,width=320,height=240,framerate=30/1";
    let (relay, origin) = relay_and_origin(&["--max-viewer-queue", "1000000"], noise, "");
    let steady = Viewer::join(&relay.url, "udp");
    let (_conn, mut slow) = bare_viewer(&relay.url, "RTP/AVP/TCP;unicast;interleaved=0-1");
    // Read at once: at ~3.4 MB/s of noise, a reader that waits for the
    // relay's next counters line may already have been skipped once.
    let before = read_interleaved(&mut slow, Duration::from_millis(300));
    assert!(
        before.first() == Some(&true),
        "the slow viewer starts with a picture"
    );
    let stats = relay.wait_for(|s| s.get("pictures_served").is_some_and(|n| *n >= 2));
    let resyncs = stats.get("slow_viewer_resyncs").copied().unwrap_or(0);
    // It stops reading for 4 s: the relay skips it (once more, if it
    // already had to while the counters were awaited).
    thread::sleep(Duration::from_secs(4));
    let stats = relay.wait_for(|s| s.get("slow_viewer_resyncs").is_some_and(|n| *n > resyncs));
    // It reads again: after what was queued, a picture of its own.
    let after = read_interleaved(&mut slow, Duration::from_secs(3));
    assert!(
        after.contains(&true),
        "a picture brought the slow viewer back"
    );
    steady.stop();
    fail_on_error(&origin.pipeline, "origin");
    let pictures = origin.pictures();
    let (_, keyframes, _) = steady.check(&pictures, "the UDP viewer");
    assert_eq!(keyframes, 1, "the other viewer got no extra picture");
    let frames = steady.frames.lock().unwrap();
    let longest_gap = longest_gap(&frames);
    assert!(
        longest_gap < Duration::from_millis(500),
        "the UDP viewer stalled {longest_gap:?}"
    );
    assert_eq!(
        origin.keyframes(),
        1,
        "the origin never heard of it: {stats:?}"
    );
    relay.assert_quiet();
}
