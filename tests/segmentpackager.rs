// SPDX-License-Identifier: MPL-2.0
//! segmentpackager end to end: exact segment lengths, segments that decode on
//! their own, a TCP receiver joining mid-stream, and bad input.

mod common;

use common::ffmpeg::{ffmpeg_decode_errors, ffprobe_frame_count};
use common::init;
use common::pipeline::{parse, run, Outcome};
use common::scratch::ScratchDir;
use gst::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FRAME_NS: u64 = 1_000_000_000 / 30;

/// Running time of frame `n` at 30 fps, as videotestsrc stamps it.
fn frame_time(n: u64) -> u64 {
    n * 1_000_000_000 / 30
}

fn collect(sink: &gst_app::AppSink) -> Arc<Mutex<Vec<gst::Buffer>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(buffer) = sample.buffer_owned() {
                    g.lock().unwrap().push(buffer);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    got
}

const X264: &str = "x264enc tune=zerolatency speed-preset=ultrafast";

/// Encodes `frames` frames at 30 fps with x264 and returns the segment buffers.
fn segments(frames: u32, packager_props: &str) -> Vec<gst::Buffer> {
    encoded_segments(frames, X264, packager_props)
}

fn encoded_segments(frames: u32, encoder: &str, packager_props: &str) -> Vec<gst::Buffer> {
    init();
    let p = parse(&format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,framerate=30/1,width=320,height=240 ! \
         {encoder} ! segmentpackager name=pack {packager_props} ! appsink name=sink sync=false"
    ));
    let got = collect(&common::pipeline::appsink(&p, "sink"));
    match run(&p, Duration::from_secs(30), |_| ()) {
        Outcome::Eos => (),
        other => panic!("pipeline did not finish: {other:?}"),
    }
    let v = got.lock().unwrap().clone();
    v
}

/// PID of the transport-stream packet at `offset`.
fn pid_at(data: &[u8], offset: usize) -> u16 {
    assert_eq!(data[offset], 0x47, "no TS sync byte at {offset}");
    (u16::from(data[offset + 1] & 0x1f) << 8) | u16::from(data[offset + 2])
}

fn check_self_contained(dir: &ScratchDir, n: usize, buffer: &gst::Buffer) -> std::path::PathBuf {
    let map = buffer.map_readable().expect("readable");
    assert_eq!(map.len() % 188, 0, "segment {n} is not whole TS packets");
    assert_eq!(
        pid_at(&map, 0),
        0,
        "segment {n} does not start with the PAT"
    );
    assert!(
        !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
        "segment {n} is flagged as a delta unit"
    );
    let file = dir.path().join(format!("seg{n}.ts"));
    std::fs::write(&file, &map[..]).expect("write segment");
    let errors = ffmpeg_decode_errors(&file);
    assert!(
        errors.is_empty(),
        "segment {n} does not decode alone: {errors}"
    );
    file
}

#[test]
fn ten_frame_segments_each_decode_alone() {
    let segs = segments(60, "frames-per-segment=10");
    let dir = ScratchDir::new("tenframes");
    // x264enc's own keyframe interval is 250 frames: every boundary here
    // comes from the packager's keyframe requests.
    assert_eq!(segs.len(), 6, "60 frames in 10-frame segments");
    for (n, buffer) in segs.iter().enumerate() {
        let file = check_self_contained(&dir, n, buffer);
        assert_eq!(ffprobe_frame_count(&file), 10, "segment {n} frame count");
        assert_eq!(buffer.offset(), n as u64, "segment index in offset");
        let pts = buffer.pts().expect("pts").nseconds();
        let duration = buffer.duration().expect("duration").nseconds();
        let n = n as u64;
        assert_eq!(pts, frame_time(n * 10), "segment {n} start");
        assert_eq!(
            duration,
            frame_time(n * 10 + 10) - frame_time(n * 10),
            "segment {n} duration"
        );
    }
    assert!(segs[0].flags().contains(gst::BufferFlags::DISCONT));
    assert!(!segs[1].flags().contains(gst::BufferFlags::DISCONT));
}

#[test]
fn h265_segments_decode_alone_although_x265_sends_headers_once() {
    // x265enc writes VPS/SPS/PPS only before its first frame; the packager
    // must repeat them in front of every segment's keyframe.
    let segs = encoded_segments(
        40,
        "x265enc tune=zerolatency speed-preset=ultrafast",
        "frames-per-segment=10",
    );
    let dir = ScratchDir::new("h265");
    assert_eq!(segs.len(), 4);
    for (n, buffer) in segs.iter().enumerate() {
        let file = check_self_contained(&dir, n, buffer);
        assert_eq!(ffprobe_frame_count(&file), 10, "segment {n} frame count");
    }
}

#[test]
fn starts_over_cleanly_after_a_stop() {
    init();
    let p = parse(&format!(
        "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,framerate=30/1,width=320,height=240 ! \
         {X264} ! segmentpackager frames-per-segment=10 ! appsink name=sink sync=false"
    ));
    let got = collect(&common::pipeline::appsink(&p, "sink"));
    for round in 0..2 {
        // run() ends in NULL; the second round reuses every element.
        let outcome = run(&p, Duration::from_secs(30), |_| ());
        assert!(
            matches!(outcome, Outcome::Eos),
            "round {round}: {outcome:?}"
        );
    }
    let segs = got.lock().unwrap().clone();
    assert_eq!(segs.len(), 6, "three segments per round");
    let dir = ScratchDir::new("restart");
    for (n, buffer) in segs.iter().enumerate() {
        check_self_contained(&dir, n, buffer);
        assert_eq!(buffer.offset(), n as u64 % 3, "numbering restarts");
        assert_eq!(
            buffer.flags().contains(gst::BufferFlags::DISCONT),
            n % 3 == 0,
            "segment {n}: DISCONT only where a run starts"
        );
    }
}

#[test]
fn flushing_seek_starts_a_fresh_self_contained_segment() {
    init();
    // appsink syncs, so the stream plays at real time and the seek lands
    // mid-stream.
    let p = parse(&format!(
        "videotestsrc num-buffers=300 pattern=ball ! video/x-raw,framerate=30/1,width=320,height=240 ! \
         {X264} ! segmentpackager frames-per-segment=10 ! appsink name=sink sync=true"
    ));
    let got = collect(&common::pipeline::appsink(&p, "sink"));
    p.set_state(gst::State::Playing).expect("play");
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no segments before the seek");
        std::thread::sleep(Duration::from_millis(10));
    }
    let before_seek = got.lock().unwrap().len();
    // play 9 s..10 s of the source: 30 frames
    p.seek(
        1.0,
        gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
        gst::SeekType::Set,
        gst::ClockTime::from_seconds(9),
        gst::SeekType::Set,
        gst::ClockTime::from_seconds(10),
    )
    .expect("seek");
    // run() finds the pipeline already playing and waits for EOS.
    let outcome = run(&p, Duration::from_secs(15), |_| ());
    assert!(matches!(outcome, Outcome::Eos), "{outcome:?}");

    let segs = got.lock().unwrap().clone();
    let restart = segs
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, b)| b.flags().contains(gst::BufferFlags::DISCONT))
        .map(|(n, _)| n)
        .expect("a DISCONT segment after the flush");
    assert!(
        restart >= before_seek,
        "flush marked at {restart}, seek after {before_seek}"
    );
    let after: Vec<&gst::Buffer> = segs[restart..].iter().collect();
    assert_eq!(after.len(), 3, "1 s played after the seek: three segments");
    let dir = ScratchDir::new("flush");
    for (n, buffer) in after.iter().enumerate() {
        let file = check_self_contained(&dir, n, buffer);
        assert_eq!(ffprobe_frame_count(&file), 10, "post-seek segment {n}");
    }
    // numbering goes on across the flush (a segment cut short by the flush
    // keeps its number, so there may be a gap)
    let numbers: Vec<u64> = segs.iter().map(|b| b.offset()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
}

#[test]
fn encoders_that_hold_frames_get_exact_segments_after_the_first() {
    // Default x264enc holds ~47 frames (look-ahead) and says so in its
    // latency; x265enc holds ~28 but reports 6, which the packager learns
    // from the first segments. Requests go out that far ahead.
    for (encoder, settled_from) in [("x264enc", 1), ("x265enc", 3)] {
        let segs = encoded_segments(150, encoder, "frames-per-segment=10");
        let dir = ScratchDir::new("delaying");
        let lengths: Vec<u64> = segs
            .iter()
            .map(|b| b.duration().expect("duration").nseconds())
            .collect();
        let ten = frame_time(10);
        for (n, len) in lengths
            .iter()
            .enumerate()
            .take(lengths.len() - 1)
            .skip(settled_from)
        {
            assert!(
                len.abs_diff(ten) <= 1,
                "{encoder}: segment {n} of {lengths:?}"
            );
        }
        for (n, buffer) in segs.iter().enumerate() {
            check_self_contained(&dir, n, buffer);
        }
    }
}

#[test]
fn segment_duration_cuts_on_stream_time() {
    let segs = segments(45, "frames-per-segment=0 segment-duration=500000000");
    let dir = ScratchDir::new("duration");
    assert_eq!(segs.len(), 3, "45 frames at 30 fps in 0.5 s segments");
    for (n, buffer) in segs.iter().enumerate() {
        let file = check_self_contained(&dir, n, buffer);
        assert_eq!(ffprobe_frame_count(&file), 15, "segment {n} frame count");
        let duration = buffer.duration().expect("duration").nseconds();
        assert_eq!(duration, 500_000_000, "segment {n} duration");
    }
}

#[test]
fn reports_one_segment_of_latency() {
    init();
    let p = parse(
        "videotestsrc is-live=true ! video/x-raw,framerate=30/1,width=160,height=120 ! \
         x264enc tune=zerolatency speed-preset=ultrafast ! segmentpackager name=pack frames-per-segment=15 ! \
         fakesink name=sink",
    );
    p.set_state(gst::State::Playing).expect("play");
    // Wait for caps to reach the packager (it learns the frame rate there).
    let _ = p.state(gst::ClockTime::from_seconds(5));
    std::thread::sleep(Duration::from_millis(300));
    let mut q = gst::query::Latency::new();
    let sink = p.by_name("sink").expect("sink");
    assert!(
        sink.static_pad("sink")
            .expect("sink pad")
            .peer_query(&mut q),
        "latency query"
    );
    let (live, min, _max) = q.result();
    p.set_state(gst::State::Null).expect("stop");
    assert!(live);
    assert!(
        min >= gst::ClockTime::from_mseconds(500),
        "15 frames at 30 fps must add 0.5 s of latency, got {min}"
    );
}

#[test]
fn refuses_caps_that_are_not_h264_or_h265_byte_stream() {
    init();
    let err = gst::parse::launch("videotestsrc ! segmentpackager ! fakesink")
        .expect_err("raw video must not link");
    assert!(err.to_string().contains("could not link"), "{err}");

    // mpegtsmux alone would take AAC and AVC-format H.264; the packager must not.
    for caps in [
        "audio/mpeg,mpegversion=4,stream-format=adts,rate=48000,channels=2",
        "video/x-h264,stream-format=avc,alignment=au",
        "video/x-h264,stream-format=byte-stream,alignment=nal",
    ] {
        let p = parse(&format!(
            "appsrc name=src caps=\"{caps}\" format=time ! segmentpackager ! fakesink"
        ));
        let src = common::pipeline::appsrc(&p, "src");
        let mut buf = gst::Buffer::from_slice(vec![0u8; 64]);
        buf.get_mut()
            .expect("writable")
            .set_pts(gst::ClockTime::ZERO);
        src.push_buffer(buf).expect("queued");
        let _ = src.end_of_stream();
        match run(&p, Duration::from_secs(10), |_| ()) {
            Outcome::Error { debug, .. } => {
                assert!(debug.contains("not-negotiated"), "{caps}: {debug}")
            }
            other => panic!("{caps} was accepted: {other:?}"),
        }
    }
}

#[test]
fn errors_when_no_keyframe_ever_comes() {
    init();
    let p = parse(
        "appsrc name=src format=time caps=\"video/x-h264,stream-format=byte-stream,alignment=au,framerate=30/1\" ! \
         segmentpackager name=pack max-keyframe-wait=2000000000 ! fakesink",
    );
    let src = common::pipeline::appsrc(&p, "src");
    let requests = Arc::new(Mutex::new(0u32));
    {
        let requests = requests.clone();
        src.static_pad("src").expect("src pad").add_probe(
            gst::PadProbeType::EVENT_UPSTREAM,
            move |_, info| {
                if let Some(ev) = info.event() {
                    if gst_video::UpstreamForceKeyUnitEvent::parse(ev).is_ok() {
                        *requests.lock().unwrap() += 1;
                    }
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
    // 10 s of delta frames; the packager must give up after about 2 s.
    for i in 0..300u64 {
        let mut buf = gst::Buffer::from_slice(vec![0u8, 0, 0, 1, 0x41, 0x9a, 0, 0]);
        let b = buf.get_mut().expect("writable");
        b.set_pts(gst::ClockTime::from_nseconds(i * FRAME_NS));
        b.set_duration(gst::ClockTime::from_nseconds(FRAME_NS));
        b.set_flags(gst::BufferFlags::DELTA_UNIT);
        src.push_buffer(buf).expect("queued");
    }
    let _ = src.end_of_stream();
    let started = Instant::now();
    match run(&p, Duration::from_secs(10), |_| ()) {
        Outcome::Error {
            src,
            message,
            debug,
        } => {
            assert_eq!(src, "pack");
            assert!(
                message.contains("no keyframe arrived within 2.0"),
                "{message}"
            );
            assert!(debug.contains("GstForceKeyUnit") || message.contains("GstForceKeyUnit"));
        }
        other => panic!("expected a no-keyframe error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        *requests.lock().unwrap(),
        2,
        "asked at once and again a second later"
    );
}

/// Index of the sender segment `received` starts with, and how many whole
/// consecutive segments it holds from there.
fn match_segments(received: &[u8], sent: &[Vec<u8>]) -> Option<(usize, usize)> {
    let first = sent.iter().position(|s| received.starts_with(s))?;
    let mut offset = 0;
    let mut whole = 0;
    for s in &sent[first..] {
        if received.len() >= offset + s.len() && received[offset..offset + s.len()] == s[..] {
            offset += s.len();
            whole += 1;
        } else {
            break;
        }
    }
    Some((first, whole))
}

#[test]
fn tcp_receiver_joining_mid_stream_starts_at_a_segment() {
    init();
    let sender = parse(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,framerate=30/1,width=320,height=240 ! \
         x264enc tune=zerolatency speed-preset=ultrafast ! segmentpackager frames-per-segment=10 ! tee name=t \
         t. ! queue ! tcpserversink name=tcp host=127.0.0.1 port=0 sync-method=latest-keyframe sync=false \
         t. ! queue ! appsink name=sent sync=false",
    );
    let sent = collect(&common::pipeline::appsink(&sender, "sent"));
    sender.set_state(gst::State::Playing).expect("sender plays");
    let bus = sender.bus().expect("bus");
    // Let three segments go by with nobody connected.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sent.lock().unwrap().len() < 3 {
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            panic!("sender failed: {msg:?}");
        }
        assert!(Instant::now() < deadline, "sender produced no segments");
        std::thread::sleep(Duration::from_millis(20));
    }
    let port: i32 = sender.by_name("tcp").expect("tcp").property("current-port");
    let produced_before_join = sent.lock().unwrap().len();

    let receiver = parse(&format!(
        "tcpclientsrc host=127.0.0.1 port={port} ! tee name=r \
         r. ! queue ! tsdemux ! h264parse ! avdec_h264 ! appsink name=frames sync=false \
         r. ! queue ! appsink name=raw sync=false"
    ));
    let frames = collect(&common::pipeline::appsink(&receiver, "frames"));
    let raw = collect(&common::pipeline::appsink(&receiver, "raw"));
    let joined = Instant::now();
    let rbus = receiver.bus().expect("bus");
    receiver
        .set_state(gst::State::Playing)
        .expect("receiver plays");
    let mut first_byte_after = None;
    let deadline = Instant::now() + Duration::from_secs(15);
    while frames.lock().unwrap().len() < 30 && Instant::now() < deadline {
        if first_byte_after.is_none() && !raw.lock().unwrap().is_empty() {
            first_byte_after = Some(joined.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut problems = Vec::new();
    while let Some(msg) = rbus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Warning]) {
        problems.push(format!("{msg:?}"));
    }
    receiver.set_state(gst::State::Null).expect("stop receiver");
    sender.set_state(gst::State::Null).expect("stop sender");

    assert!(problems.is_empty(), "receiver reported: {problems:?}");
    let decoded = frames.lock().unwrap().len();
    assert!(decoded >= 30, "only {decoded} frames decoded");

    let received: Vec<u8> = raw
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| b.map_readable().expect("readable").to_vec())
        .collect();
    let sent_buffers = sent.lock().unwrap().clone();
    let sent: Vec<Vec<u8>> = sent_buffers
        .iter()
        .map(|b| b.map_readable().expect("readable").to_vec())
        .collect();
    // Live capture, and still every segment is exactly ten frames long.
    for (n, b) in sent_buffers.iter().enumerate() {
        let d = b.duration().expect("duration").nseconds();
        assert!(
            d.abs_diff(10 * FRAME_NS) < 1_000_000,
            "sent segment {n} lasts {d} ns"
        );
    }
    let (first, whole) = match_segments(&received, &sent)
        .expect("the receiver's first bytes are not the start of any segment");
    assert!(whole >= 3, "only {whole} whole segments received in order");
    // tcpserversink places a new client when the next buffer arrives; as
    // every buffer is a whole, non-delta segment, that is the newest segment
    // then: never an older one, never the middle of one.
    assert!(
        first + 1 >= produced_before_join,
        "joined after {produced_before_join} segments but was served old segment {first} first"
    );
    eprintln!(
        "tcp join: served segment {first} (of {produced_before_join} made before joining), \
         first byte after {first_byte_after:?}, {whole} whole segments, {decoded} frames decoded"
    );
}
