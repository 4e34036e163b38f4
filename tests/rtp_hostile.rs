// SPDX-License-Identifier: MPL-2.0
//! rtpdeltadepay against hostile or unusual input: datagrams larger than
//! udpsrc's mtu (two memories per buffer), bus handlers that call back into
//! the element, and frame headers announcing absurd geometries.

mod common;

use common::init;
use common::memory::resident_bytes;
use common::net::free_port;
use common::rtp::stat;
use gst::glib;
use gst::prelude::*;
use gst_check::Harness;
use gststreamkit::delta::bitstream::{FrameHeader, FrameWriter, TileCoding};
use gststreamkit::delta::{Geometry, PixelFormat};
use gststreamkit::rtp::packetize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Tests that measure the resident memory of the whole process run one at a
/// time, so that one's allocations do not show up in another's growth.
static MEMORY: Mutex<()> = Mutex::new(());

/// udpsrc's default mtu: a datagram larger than this arrives as a buffer of
/// two memories.
const UDPSRC_MTU: usize = 1492;
const SSRC: u32 = 0x5eed_0001;

fn geometry(width: u32, height: u32, tile_size: u32) -> Geometry {
    Geometry::new(PixelFormat::I420, width, height, tile_size).unwrap()
}

/// An encoded frame whose records are `(tile, payload length)`; the payload
/// bytes are arbitrary, since the depayloader never decodes them.
fn frame(geometry: Geometry, number: u32, records: &[(u32, usize)]) -> Vec<u8> {
    let header = FrameHeader {
        geometry,
        keyframe: false,
        frame_number: number,
    };
    let mut w = FrameWriter::new(&header, 1024);
    for &(tile, len) in records {
        let out = w.begin_record(tile, TileCoding::Lossless, 0);
        out.extend((0..len).map(|b| (b * 13 + tile as usize) as u8));
        w.finish_record().unwrap();
    }
    w.into_bytes()
}

/// RTP caps as an SDP would give them, with or without the geometry.
fn rtp_caps(geometry: Option<Geometry>) -> gst::Caps {
    let mut caps = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("clock-rate", 90_000i32)
        .field("encoding-name", "X-STREAMKIT-DELTA")
        .field("payload", 96i32);
    if let Some(g) = geometry {
        caps = caps
            .field("width", g.width.to_string())
            .field("height", g.height.to_string())
            .field("format", g.format.caps_name())
            .field("tile-size", g.tile_size.to_string());
    }
    caps.build()
}

/// The bytes of an RTP packet (version 2, payload type 96).
fn rtp_bytes(payload: &[u8], seq: u16, ts: u32, marker: bool) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An RTP buffer, cut into two memories at `split` the way udpsrc delivers
/// a datagram larger than its mtu.
fn rtp_buffer(
    payload: &[u8],
    seq: u16,
    ts: u32,
    marker: bool,
    split: Option<usize>,
) -> gst::Buffer {
    let mut data = rtp_bytes(payload, seq, ts, marker);
    let Some(split) = split.filter(|&s| s < data.len()) else {
        return gst::Buffer::from_mut_slice(data);
    };
    let tail = data.split_off(split);
    let mut buffer = gst::Buffer::new();
    {
        let b = buffer.get_mut().unwrap();
        b.append_memory(gst::Memory::from_mut_slice(data));
        b.append_memory(gst::Memory::from_mut_slice(tail));
    }
    buffer
}

/// A payload of about 58 KB: one valid frame of 14 records of 4000 bytes in
/// a 320x240 stream of 32-pixel tiles, or the same bytes with a payload
/// version no receiver reads.
fn big_payload(g: Geometry, number: u32, valid: bool) -> Vec<u8> {
    let records: Vec<_> = (0..14).map(|t| (t, 4000)).collect();
    let mut payloads = packetize(&frame(g, number, &records), 65_000).unwrap();
    assert_eq!(payloads.len(), 1);
    let mut p = payloads.remove(0);
    if !valid {
        p[0] = 0x7f;
    }
    p
}

const LEAK_PACKETS: u32 = 2000;
/// Growth allowed over `LEAK_PACKETS` packets of 58 KB (116 MB if every one
/// leaked): allocator slack, not a leak.
const LEAK_TOLERANCE: u64 = 12 << 20;

#[test]
fn buffers_of_two_memories_do_not_leak() {
    init();
    let _serial = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    let g = geometry(320, 240, 32);
    let mut h = Harness::new("rtpdeltadepay");
    h.set_src_caps(rtp_caps(Some(g)));
    let push = |h: &mut Harness, i: u32| {
        // Valid frames and malformed packets alternate.
        let p = big_payload(g, i, i.is_multiple_of(2));
        h.push(rtp_buffer(&p, i as u16, i * 3000, true, Some(UDPSRC_MTU)))
            .unwrap();
        while h.try_pull().is_some() {}
    };
    for i in 0..100 {
        push(&mut h, i);
    }
    let before = resident_bytes();
    let start = Instant::now();
    for i in 100..100 + LEAK_PACKETS {
        push(&mut h, i);
    }
    let growth = resident_bytes().saturating_sub(before);
    eprintln!(
        "{LEAK_PACKETS} two-memory packets in {:?}: resident memory +{} KB",
        start.elapsed(),
        growth >> 10
    );
    let depay = h.element().unwrap();
    assert!(stat(&depay, "frames") >= (LEAK_PACKETS / 2) as u64);
    assert!(stat(&depay, "malformed") >= (LEAK_PACKETS / 2) as u64);
    assert!(
        growth < LEAK_TOLERANCE,
        "resident memory grew by {} MB over {LEAK_PACKETS} packets",
        growth >> 20
    );
}

#[test]
fn udpsrc_datagrams_larger_than_its_mtu_do_not_leak() {
    init();
    let _serial = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    let g = geometry(320, 240, 32);
    let port = free_port();
    let caps = rtp_caps(Some(g)).to_string();
    let pipeline = gst::parse::launch(&format!(
        "udpsrc address=127.0.0.1 port={port} caps=\"{caps}\" ! \
         rtpdeltadepay name=depay ! fakesink async=false"
    ))
    .unwrap()
    .downcast::<gst::Bin>()
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let depay = pipeline.by_name("depay").unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let received = |depay: &gst::Element| stat(depay, "packets") + stat(depay, "malformed");
    let send = |i: u32| {
        let valid = i.is_multiple_of(2);
        let data = rtp_bytes(&big_payload(g, i, valid), i as u16, i * 3000, true);
        assert!(data.len() > UDPSRC_MTU);
        let before = received(&depay);
        sender.send_to(&data, ("127.0.0.1", port)).unwrap();
        // One datagram in flight at a time, so the socket buffer never
        // overflows; a datagram the kernel dropped anyway is just skipped.
        let sent = Instant::now();
        while received(&depay) == before && sent.elapsed() < Duration::from_millis(200) {
            std::thread::sleep(Duration::from_micros(200));
        }
    };
    for i in 0..100 {
        send(i);
    }
    let before = resident_bytes();
    let start = Instant::now();
    for i in 100..100 + LEAK_PACKETS {
        send(i);
    }
    let growth = resident_bytes().saturating_sub(before);
    let got = received(&depay);
    pipeline.set_state(gst::State::Null).unwrap();
    eprintln!(
        "{LEAK_PACKETS} datagrams through udpsrc in {:?} ({got} received): resident memory +{} KB",
        start.elapsed(),
        growth >> 10
    );
    assert!(got >= (LEAK_PACKETS as u64) * 9 / 10, "only {got} received");
    assert!(
        growth < LEAK_TOLERANCE,
        "resident memory grew by {} MB over {LEAK_PACKETS} datagrams",
        growth >> 20
    );
}

#[test]
fn a_sync_bus_handler_reading_stats_does_not_deadlock() {
    init();
    let g = geometry(320, 240, 32);
    let (done, finished) = mpsc::channel();
    // The pipeline runs on a thread of its own so that a deadlock fails the
    // test after the time-out instead of hanging it.
    std::thread::spawn(move || {
        let pipeline = gst::parse::launch(&format!(
            "appsrc name=src format=time caps=\"{}\" ! rtpdeltadepay name=depay ! \
             fakesink async=false",
            rtp_caps(Some(g))
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let depay = pipeline.by_name("depay").unwrap();
        let reads = Arc::new(AtomicU64::new(0));
        let weak = depay.downgrade();
        let counted = reads.clone();
        // What an application's sync handler may well do: look at the
        // element's counters on every message, from the posting thread.
        pipeline.bus().unwrap().set_sync_handler(move |_, _| {
            if let Some(depay) = weak.upgrade() {
                let _ = depay.property::<gst::Structure>("delta-stats");
                counted.fetch_add(1, Ordering::Relaxed);
            }
            gst::BusSyncReply::Pass
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        let src = common::pipeline::appsrc(&pipeline, "src");
        for i in 0..6u32 {
            // Malformed (a warning on the bus), then a valid frame that
            // follows a loss (a keyframe request upstream).
            let bad = [0x7fu8; 40];
            src.push_buffer(rtp_buffer(&bad, (2 * i) as u16, i * 6000, true, None))
                .unwrap();
            let good = &packetize(&frame(g, i, &[(i, 50)]), 1400).unwrap()[0];
            src.push_buffer(rtp_buffer(
                good,
                (2 * i + 5) as u16,
                i * 6000 + 3000,
                true,
                None,
            ))
            .unwrap();
        }
        src.end_of_stream().unwrap();
        let bus = pipeline.bus().unwrap();
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        let eos = matches!(
            msg.as_ref().map(|m| m.view()),
            Some(gst::MessageView::Eos(_))
        );
        let warnings = std::iter::from_fn(|| bus.pop())
            .filter(|m| matches!(m.view(), gst::MessageView::Warning(_)))
            .count();
        let result = (
            eos,
            stat(&depay, "malformed"),
            stat(&depay, "frames"),
            reads.load(Ordering::Relaxed),
        );
        pipeline.set_state(gst::State::Null).unwrap();
        let _ = done.send((result, warnings));
    });
    let ((eos, malformed, frames, reads), _) = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("the streaming thread deadlocked in a sync bus handler reading delta-stats");
    assert!(eos);
    assert_eq!(malformed, 6);
    assert_eq!(frames, 6);
    assert!(reads > 0);
}

/// Pushes one single-packet frame of `geometry`; returns whether a frame
/// came out.
fn push_frame(h: &mut Harness, geometry: Geometry, number: u32) -> bool {
    let p = &packetize(&frame(geometry, number, &[(0, 20)]), 1400).unwrap()[0];
    h.push(rtp_buffer(p, number as u16, number * 3000, true, None))
        .unwrap();
    let mut out = false;
    while h.try_pull().is_some() {
        out = true;
    }
    out
}

#[test]
fn max_width_and_max_height_are_documented_properties() {
    init();
    let depay = gst::ElementFactory::make("rtpdeltadepay").build().unwrap();
    for (name, default) in [("max-width", 4096u32), ("max-height", 2304)] {
        let pspec = depay.find_property(name).unwrap();
        let pspec = pspec.downcast_ref::<glib::ParamSpecUInt>().unwrap();
        assert_eq!(pspec.default_value(), default, "{name}");
        assert_eq!((pspec.minimum(), pspec.maximum()), (16, 8192), "{name}");
        assert!(pspec.blurb().unwrap().contains("pixels"), "{name}");
        assert_eq!(depay.property::<u32>(name), default);
    }
}

#[test]
fn frames_beyond_max_width_and_height_are_dropped_and_counted() {
    init();
    let mut h = Harness::new("rtpdeltadepay");
    // No geometry in the caps: only the properties bound the frames.
    h.set_src_caps(rtp_caps(None));
    let depay = h.element().unwrap();
    assert!(!push_frame(&mut h, geometry(8192, 8192, 16), 0));
    assert!(!push_frame(&mut h, geometry(4112, 2304, 16), 1));
    assert!(push_frame(&mut h, geometry(4096, 2304, 256), 2));
    depay.set_property("max-width", 320u32);
    depay.set_property("max-height", 240u32);
    assert!(!push_frame(&mut h, geometry(640, 480, 32), 3));
    assert!(push_frame(&mut h, geometry(320, 240, 32), 4));
    assert_eq!(stat(&depay, "geometry-rejected"), 3);
    assert_eq!(stat(&depay, "malformed"), 0);
    assert_eq!(stat(&depay, "frames"), 2);
}

#[test]
fn frames_other_than_the_caps_geometry_are_dropped_and_counted() {
    init();
    let mut h = Harness::new("rtpdeltadepay");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(rtp_caps(Some(geometry(320, 240, 32))));
    let depay = h.element().unwrap();
    assert!(!push_frame(&mut h, geometry(640, 480, 32), 0));
    assert!(!push_frame(&mut h, geometry(320, 240, 16), 1));
    assert!(push_frame(&mut h, geometry(320, 240, 32), 2));
    assert_eq!(stat(&depay, "geometry-rejected"), 2);
    let warning = std::iter::from_fn(|| bus.pop())
        .find_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(format!("{} {:?}", w.error(), w.debug())),
            _ => None,
        })
        .expect("a warning names the problem");
    assert!(warning.contains("640x480"), "{warning}");
}

#[test]
fn rtp_caps_beyond_max_width_and_height_are_refused() {
    init();
    let mut h = Harness::new("rtpdeltadepay");
    let depay = h.element().unwrap();
    depay.set_property("max-width", 640u32);
    h.set_src_caps(rtp_caps(Some(geometry(1280, 720, 32))));
    let p = &packetize(&frame(geometry(1280, 720, 32), 0, &[(0, 20)]), 1400).unwrap()[0];
    assert!(h.push(rtp_buffer(p, 0, 0, true, None)).is_err());
}

#[test]
fn a_frame_whose_marker_is_lost_is_released_after_the_time_out() {
    init();
    let g = geometry(320, 240, 32);
    let mut h = Harness::new("rtpdeltadepay");
    h.set_src_caps(rtp_caps(Some(g)));
    let depay = h.element().unwrap();
    let pk = packetize(&frame(g, 0, &[(0, 300), (1, 300)]), 400).unwrap();
    assert_eq!(pk.len(), 2);
    // Frame 0 without its marker packet, and then the stream goes quiet but
    // for a stray malformed packet.
    h.push(rtp_buffer(&pk[0], 0, 0, false, None)).unwrap();
    assert!(h.try_pull().is_none());
    std::thread::sleep(Duration::from_millis(250));
    h.push(rtp_buffer(&[0x7f; 30], 1, 0, false, None)).unwrap();
    let out = h.try_pull().expect("frame 0 released by its time-out");
    assert!(out.flags().contains(gst::BufferFlags::CORRUPTED));
    assert_eq!(stat(&depay, "frames-expired"), 1);
}

/// `appsrc ! rtpdeltadepay ! appsink`, playing; the depayloader's source pad
/// is returned too, for probes.
fn depay_pipeline(g: Geometry) -> (gst::Pipeline, gst_app::AppSrc, gst_app::AppSink, gst::Pad) {
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=\"{}\" ! rtpdeltadepay name=depay ! \
         appsink name=sink sync=false",
        rtp_caps(Some(g))
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = common::pipeline::appsrc(&pipeline, "src");
    let sink = common::pipeline::appsink(&pipeline, "sink");
    let depay_src = pipeline
        .by_name("depay")
        .unwrap()
        .static_pad("src")
        .unwrap();
    (pipeline, src, sink, depay_src)
}

/// The encoder frame number of an output frame.
fn frame_number(buffer: &gst::BufferRef) -> u32 {
    let map = buffer.map_readable().unwrap();
    FrameHeader::parse(&map).unwrap().frame_number
}

/// Frame 0 of two records, both of its packets (seqnums 0 and 1).
fn push_frame_zero(src: &gst_app::AppSrc, g: Geometry) {
    let pk = packetize(&frame(g, 0, &[(0, 300), (1, 300)]), 400).unwrap();
    assert_eq!(pk.len(), 2);
    src.push_buffer(rtp_buffer(&pk[0], 0, 0, false, None))
        .unwrap();
    src.push_buffer(rtp_buffer(&pk[1], 1, 0, true, None))
        .unwrap();
}

/// Frame `number` of two records that packetize into two packets; only the
/// first (no marker) is pushed, with timestamp and seqnum from `number`.
fn push_first_half(src: &gst_app::AppSrc, g: Geometry, number: u32, seq: u16) {
    let pk = packetize(&frame(g, number, &[(0, 300), (1, 300)]), 400).unwrap();
    assert_eq!(pk.len(), 2);
    src.push_buffer(rtp_buffer(&pk[0], seq, number * 3000, false, None))
        .unwrap();
}

#[test]
fn an_incomplete_frame_is_released_when_the_stream_stops_dead() {
    init();
    let g = geometry(320, 240, 32);
    let (pipeline, src, sink, _) = depay_pipeline(g);
    pipeline.set_state(gst::State::Playing).unwrap();
    // Frame 0 whole, then the first packet of frame 1, and then nothing:
    // no marker, no EOS, no jitterbuffer reporting a loss.
    push_frame_zero(&src, g);
    push_first_half(&src, g, 1, 2);
    let pushed = Instant::now();
    let first = sink
        .try_pull_sample(gst::ClockTime::from_seconds(1))
        .expect("frame 0 is complete");
    let first = first.buffer().unwrap();
    assert_eq!(frame_number(first), 0);
    assert!(!first.flags().contains(gst::BufferFlags::CORRUPTED));
    let deadline = gst::ClockTime::from_seconds(1)
        .saturating_sub(gst::ClockTime::try_from(pushed.elapsed()).unwrap());
    let second = sink
        .try_pull_sample(deadline)
        .expect("frame 1 released by its time-out with no packet after it");
    let second = second.buffer().unwrap();
    eprintln!("frame 1 out after {:?}", pushed.elapsed());
    assert_eq!(frame_number(second), 1);
    assert!(second.flags().contains(gst::BufferFlags::CORRUPTED));
    assert!(second.flags().contains(gst::BufferFlags::DELTA_UNIT));
    // Released by the time-out, not before it.
    assert!(pushed.elapsed() >= Duration::from_millis(190));
    let depay = pipeline.by_name("depay").unwrap();
    assert_eq!(stat(&depay, "frames-expired"), 1);
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn stopping_with_a_time_out_pending_neither_crashes_nor_pushes_after_stop() {
    init();
    let g = geometry(320, 240, 32);
    let (done, finished) = mpsc::channel();
    // On a thread of its own, so that a deadlock between the timer and the
    // pads' deactivation fails the test instead of hanging it.
    std::thread::spawn(move || {
        let (pipeline, src, _sink, depay_src) = depay_pipeline(g);
        // Rounds whose stop has returned; a frame of such a round reaching
        // the source pad was pushed after stop.
        let stopped = Arc::new(AtomicU64::new(0));
        let late = Arc::new(AtomicU64::new(0));
        let (s, l) = (stopped.clone(), late.clone());
        depay_src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer() {
                if u64::from(frame_number(buffer)) < s.load(Ordering::SeqCst) {
                    l.fetch_add(1, Ordering::SeqCst);
                }
            }
            gst::PadProbeReturn::Ok
        });
        for round in 0..100u32 {
            pipeline.set_state(gst::State::Playing).unwrap();
            push_first_half(&src, g, round, round as u16);
            // Most rounds stop at once; every tenth stops around the time
            // the time-out fires, to race the timer against the stop.
            if round % 10 == 9 {
                std::thread::sleep(Duration::from_millis(180 + u64::from(round / 10) * 4));
            }
            pipeline.set_state(gst::State::Null).unwrap();
            stopped.store(u64::from(round) + 1, Ordering::SeqCst);
        }
        // Long enough for any time-out left scheduled to fire.
        std::thread::sleep(Duration::from_millis(400));
        let _ = done.send(late.load(Ordering::SeqCst));
    });
    let late = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("stopping deadlocked against a pending time-out");
    assert_eq!(late, 0, "frames pushed after their round was stopped");
}

#[test]
fn a_flush_drops_the_pending_frame_and_its_time_out() {
    init();
    let g = geometry(320, 240, 32);
    let mut h = Harness::new("rtpdeltadepay");
    h.set_src_caps(rtp_caps(Some(g)));
    let depay = h.element().unwrap();
    let pk = packetize(&frame(g, 0, &[(0, 300), (1, 300)]), 400).unwrap();
    h.push(rtp_buffer(&pk[0], 0, 0, false, None)).unwrap();
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert!(
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
    std::thread::sleep(Duration::from_millis(400));
    assert!(h.try_pull().is_none(), "a flushed frame came out");
    // The time-out still works for what arrives after the flush.
    let pk = packetize(&frame(g, 1, &[(0, 300), (1, 300)]), 400).unwrap();
    h.push(rtp_buffer(&pk[0], 1, 3000, false, None)).unwrap();
    let pushed = Instant::now();
    let out = loop {
        if let Some(out) = h.try_pull() {
            break out;
        }
        assert!(
            pushed.elapsed() < Duration::from_secs(1),
            "frame 1 not released by its time-out"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(frame_number(&out), 1);
    assert!(out.flags().contains(gst::BufferFlags::CORRUPTED));
    assert_eq!(stat(&depay, "frames-expired"), 1);
}

#[test]
fn a_time_out_while_the_streaming_thread_is_busy_does_not_hold_up_the_clock() {
    init();
    let g = geometry(320, 240, 32);
    let (pipeline, src, sink, depay_src) = depay_pipeline(g);
    pipeline.set_state(gst::State::Playing).unwrap();
    push_frame_zero(&src, g);
    sink.try_pull_sample(gst::ClockTime::from_seconds(1))
        .expect("frame 0 is complete");

    // The streaming thread stops inside a serialized event on its way
    // downstream (as it would in a push to a sink that prerolls), holding
    // the stream lock, while frame 1 waits for its time-out.
    let (release, held) = mpsc::channel::<()>();
    let held = Mutex::new(held);
    depay_src.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::EventView::CustomDownstream(ev)) = info.event().map(|e| e.view()) {
            if ev.structure().is_some_and(|s| s.name() == "hold") {
                let _ = held.lock().unwrap().recv_timeout(Duration::from_secs(5));
            }
        }
        gst::PadProbeReturn::Ok
    });
    push_first_half(&src, g, 1, 2);
    let pushed = Instant::now();
    src.send_event(gst::event::CustomDownstream::new(
        gst::Structure::new_empty("hold"),
    ));

    // An unrelated async wait on the same (system) clock, due after frame
    // 1's time-out: the clock's one callback thread must still run it.
    let clock = gst::SystemClock::obtain();
    let (fired, fired_rx) = mpsc::channel();
    let id = clock.new_single_shot_id(clock.time() + gst::ClockTime::from_mseconds(300));
    id.wait_async(move |_, _, _| {
        let _ = fired.send(Instant::now());
    })
    .unwrap();
    let at = fired_rx
        .recv_timeout(Duration::from_secs(3))
        .expect("the clock's wait ran");
    let waited = at.duration_since(pushed);
    // Release the streaming thread only now: frame 1 still comes out.
    release.send(()).unwrap();
    assert!(
        waited < Duration::from_millis(700),
        "an async clock wait due at 300 ms ran after {waited:?}: the clock thread was held up"
    );
    let second = sink
        .try_pull_sample(gst::ClockTime::from_seconds(1))
        .expect("frame 1 released once the streaming thread is free");
    assert_eq!(frame_number(second.buffer().unwrap()), 1);
    pipeline.set_state(gst::State::Null).unwrap();
}
