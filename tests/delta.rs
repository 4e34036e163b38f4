// SPDX-License-Identifier: MPL-2.0
//! deltaenc / deltadec as elements: harness and whole-pipeline tests.

mod common;

use common::init;
use common::media::raw_caps;
use gst::prelude::*;
use gst_check::Harness;
use gst_video::prelude::*;
use gststreamkit::delta::PixelFormat;
use gststreamkit::measure::quality::psnr;

/// Every raw format deltaenc takes and deltadec gives, by caps name.
fn all_formats() -> impl Iterator<Item = &'static str> {
    PixelFormat::ALL.into_iter().map(PixelFormat::caps_name)
}

/// A frame of `info` at time `t` (33 ms a step) whose every byte is
/// `value(plane, byte x within the row, row y, stride)`.
fn draw_frame(
    info: &gst_video::VideoInfo,
    t: usize,
    value: impl Fn(usize, usize, usize, usize) -> u8,
) -> gst::Buffer {
    let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
    {
        let buf = buffer.get_mut().unwrap();
        buf.set_pts(gst::ClockTime::from_mseconds(33 * t as u64));
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, info).unwrap();
        for p in 0..frame.n_planes() {
            let stride = frame.plane_stride()[p as usize] as usize;
            let data = frame.plane_data_mut(p).unwrap();
            for (i, v) in data.iter_mut().enumerate() {
                *v = value(p as usize, i % stride, i / stride, stride);
            }
        }
    }
    buffer
}

/// A frame of `info` with a moving square over a gradient, drawn per plane.
fn make_frame(info: &gst_video::VideoInfo, t: usize) -> gst::Buffer {
    draw_frame(info, t, |p, x, y, stride| {
        let inside = (x + 7 * t) % stride < stride / 5 && (y + 3 * t) % 64 < 24;
        if inside {
            230
        } else {
            ((x / 3 + y + p * 60) % 200) as u8
        }
    })
}

/// Visible bytes of every plane (strides and padding excluded).
fn visible_planes(info: &gst_video::VideoInfo, buffer: &gst::BufferRef) -> Vec<Vec<u8>> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info).unwrap();
    (0..frame.n_planes())
        .map(|p| {
            let stride = frame.plane_stride()[p as usize] as usize;
            let (w, h) = (frame.comp_width(p) as usize, frame.comp_height(p) as usize);
            let bpp = frame.comp_pstride(p) as usize;
            let data = frame.plane_data(p).unwrap();
            (0..h)
                .flat_map(|y| data[y * stride..y * stride + w * bpp].to_vec())
                .collect()
        })
        .collect()
}

fn stats(element: &gst::Element) -> gst::Structure {
    element.property::<gst::Structure>("stats")
}

fn element_in(h: &Harness, factory: &str) -> gst::Element {
    let bin = h.element().unwrap().downcast::<gst::Bin>().unwrap();
    bin.iterate_recurse()
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.factory().map(|f| f.name() == factory).unwrap_or(false))
        .unwrap()
}

#[test]
fn lossless_round_trip_is_bit_exact_moving_and_static() {
    init();
    // make_frame writes every byte, alpha and padding included
    for format in all_formats() {
        for moving in [true, false] {
            let caps = raw_caps(format, 200, 120);
            let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
            let mut h = Harness::new_parse("deltaenc tile-size=32 ! deltadec");
            h.set_src_caps(caps);
            for t in 0..12 {
                let input = make_frame(&info, if moving { t } else { 0 });
                let expected = visible_planes(&info, &input);
                let out = h.push_and_pull(input).unwrap();
                assert_eq!(
                    visible_planes(&info, &out),
                    expected,
                    "{format} moving={moving} frame {t}"
                );
            }
            let enc = stats(&element_in(&h, "deltaenc"));
            if !moving {
                // after the keyframe, nothing but intra refresh is sent
                let sent = enc.get::<u64>("tiles-sent").unwrap();
                let total = enc.get::<u64>("tiles-total").unwrap();
                assert!(
                    sent < total / 4,
                    "static content sent {sent} of {total} tiles"
                );
            }
        }
    }
}

/// A frame of a page scrolled up by `4 * t` rows: distinct rows, so the
/// encoder finds the scroll.
fn scrolled_frame(info: &gst_video::VideoInfo, t: usize) -> gst::Buffer {
    let i420 = info.format() == gst_video::VideoFormat::I420;
    draw_frame(info, t, |p, x, y, _| {
        let sub = (p > 0 && i420) as usize;
        let doc_y = (y << sub) + 4 * t;
        ((doc_y * 7 + (doc_y / 9) * 29 + x * 3 + p * 50) % 251) as u8
    })
}

#[test]
fn a_scrolled_picture_is_sent_as_moves_through_the_elements() {
    init();
    for format in ["I420", "BGRx"] {
        let caps = raw_caps(format, 256, 192);
        let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
        let mut h = Harness::new_parse("deltaenc tile-size=32 ! deltadec");
        h.set_src_caps(caps);
        for t in 0..10 {
            let input = scrolled_frame(&info, t);
            let expected = visible_planes(&info, &input);
            let out = h.push_and_pull(input).unwrap();
            assert_eq!(visible_planes(&info, &out), expected, "{format} frame {t}");
        }
        let enc = stats(&element_in(&h, "deltaenc"));
        let moved = enc.get::<u64>("tiles-moved").unwrap();
        let predicted = enc.get::<u64>("tiles-move-residual").unwrap();
        let changed = enc.get::<u64>("tiles-changed").unwrap();
        // After the keyframe (48 tiles) every tile changes every frame and
        // is a copy of the picture before: a move, or a move residual for
        // the bottom row, which scrolls in new rows. Refresh takes a few.
        let after_key = changed - 48;
        assert!(moved > after_key / 2, "{format}: {enc}");
        assert!((moved + predicted) * 10 > after_key * 9, "{format}: {enc}");
    }
}

#[test]
fn whole_pipeline_round_trip_matches_source() {
    init();
    // Each format straight from the source into deltaenc and out of
    // deltadec, with no videoconvert anywhere: bit-exact, same format; at
    // an odd size too (partial tiles, chroma rounded up, padded strides).
    for (format, (width, height)) in all_formats().flat_map(|f| [(f, (320, 240)), (f, (317, 251))])
    {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc pattern=ball num-buffers=40 ! video/x-raw,format={format},width={width},height={height} \
             ! tee name=t t. ! queue ! appsink name=orig sync=false \
             t. ! queue ! deltaenc tile-size=64 ! deltadec ! appsink name=dec sync=false"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let orig = common::pipeline::appsink(&pipeline, "orig");
        let dec = common::pipeline::appsink(&pipeline, "dec");
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut frames = 0;
        while let Ok(a) = orig.pull_sample() {
            let b = dec.pull_sample().expect("decoder output for every frame");
            let info = gst_video::VideoInfo::from_caps(a.caps().unwrap()).unwrap();
            let info_b = gst_video::VideoInfo::from_caps(b.caps().unwrap()).unwrap();
            assert_eq!(
                info_b.format().to_str(),
                format,
                "deltadec gives the stream's format"
            );
            assert_eq!(
                (info_b.width(), info_b.height()),
                (info.width(), info.height())
            );
            assert_eq!(
                visible_planes(&info, a.buffer().unwrap()),
                visible_planes(&info_b, b.buffer().unwrap()),
                "{format} {width}x{height} frame {frames}"
            );
            frames += 1;
        }
        assert_eq!(frames, 40);
        let bus = pipeline.bus().unwrap();
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(10),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .unwrap();
        assert_eq!(msg.type_(), gst::MessageType::Eos);
        pipeline.set_state(gst::State::Null).unwrap();
    }
}

#[test]
fn lossy_round_trip_keeps_its_psnr_floor() {
    init();
    for format in all_formats() {
        let order = PixelFormat::from_caps_name(format).unwrap().packed_order();
        let alpha = PixelFormat::from_caps_name(format).unwrap().has_alpha();
        let caps = raw_caps(format, 256, 160);
        let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
        let mut h = Harness::new_parse("deltaenc mode=lossy quality=75 ! deltadec");
        h.set_src_caps(caps);
        for t in 0..8 {
            let input = make_frame(&info, t);
            let expected = visible_planes(&info, &input);
            let out = h.push_and_pull(input).unwrap();
            let got = visible_planes(&info, &out);
            // The fourth byte of a packed format: alpha is exact; padding is
            // not picture (lossy tiles set it to 255, fill tiles carry it).
            if let Some([_, _, _, fourth]) = order {
                for (g, e) in got[0].chunks_exact(4).zip(expected[0].chunks_exact(4)) {
                    if alpha {
                        assert_eq!(g[fourth], e[fourth], "{format} frame {t}: alpha");
                    } else {
                        assert!(g[fourth] == 255 || g[fourth] == e[fourth], "{format}");
                    }
                }
            }
            let colour = |planes: Vec<Vec<u8>>| -> Vec<u8> {
                let all = planes.concat();
                match order {
                    Some([b, g, r, _]) => all
                        .chunks_exact(4)
                        .flat_map(|px| [px[b], px[g], px[r]])
                        .collect(),
                    None => all,
                }
            };
            // The packed formats' test pattern changes colour from pixel
            // to pixel, which 4:2:0 chroma (lossy tiles of packed formats,
            // as JPEG and H.264) cannot follow: 31.3-31.6 dB at worst there.
            let p = psnr(&colour(expected), &colour(got)).expect("frames of one size");
            let floor = if order.is_some() { 30.0 } else { 32.0 };
            assert!(p > floor, "{format} frame {t}: PSNR {p:.2} dB");
        }
    }
}

#[test]
fn unchanged_frame_costs_only_a_frame_header() {
    init();
    for mode in ["lossless", "lossy"] {
        let caps = raw_caps("BGRx", 320, 240);
        let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
        let mut h = Harness::new_parse(&format!("deltaenc mode={mode} intra-refresh=0"));
        h.set_src_caps(caps);
        let first = h.push_and_pull(make_frame(&info, 3)).unwrap();
        assert!(!first.flags().contains(gst::BufferFlags::DELTA_UNIT));
        let second = h.push_and_pull(make_frame(&info, 3)).unwrap();
        assert!(second.flags().contains(gst::BufferFlags::DELTA_UNIT));
        assert_eq!(
            second.size(),
            14,
            "{mode}: unchanged frame is the 14-byte header"
        );
    }
}

#[test]
fn force_key_unit_gives_a_keyframe_from_either_direction() {
    init();
    let caps = raw_caps("I420", 128, 96);
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let mut h = Harness::new("deltaenc");
    h.set_src_caps(caps);
    let is_key = |b: &gst::Buffer| !b.flags().contains(gst::BufferFlags::DELTA_UNIT);
    assert!(is_key(&h.push_and_pull(make_frame(&info, 0)).unwrap()));
    assert!(!is_key(&h.push_and_pull(make_frame(&info, 1)).unwrap()));
    // downstream asks (as rtpbin does on RTCP PLI)
    assert!(h.push_upstream_event(
        gst_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build()
    ));
    assert!(is_key(&h.push_and_pull(make_frame(&info, 2)).unwrap()));
    assert!(!is_key(&h.push_and_pull(make_frame(&info, 3)).unwrap()));
    // upstream asks
    assert!(h.push_event(
        gst_video::DownstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build()
    ));
    assert!(is_key(&h.push_and_pull(make_frame(&info, 4)).unwrap()));
    let s = stats(&h.element().unwrap());
    assert_eq!(s.get::<u64>("forced-keyframes").unwrap(), 2);
    assert_eq!(s.get::<u64>("keyframes").unwrap(), 3);
}

#[test]
fn decoder_started_mid_stream_converges_within_intra_refresh_period() {
    init();
    let period = 10;
    let caps = raw_caps("BGRx", 320, 192);
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let mut enc = Harness::new("deltaenc");
    enc.element()
        .unwrap()
        .set_property("intra-refresh", period as u32);
    enc.set_src_caps(caps);
    let mut encoded = Vec::new();
    let mut sources = Vec::new();
    for t in 0..40 {
        let frame = make_frame(&info, t);
        sources.push(visible_planes(&info, &frame));
        encoded.push(enc.push_and_pull(frame).unwrap());
    }
    let enc_caps = enc.sinkpad().unwrap().current_caps().unwrap();
    let mut dec = Harness::new("deltadec");
    dec.set_src_caps(enc_caps);
    let join = 13;
    let mut first_output = None;
    for (t, buf) in encoded.iter().enumerate().skip(join) {
        dec.push(buf.clone()).unwrap();
        if let Some(out) = dec.try_pull() {
            first_output.get_or_insert(t);
            assert_eq!(visible_planes(&info, &out), sources[t], "frame {t}");
        }
    }
    let first = first_output.expect("decoder never output a frame");
    assert!(
        first < join + period,
        "first output at frame {first}, joined at {join}, period {period}"
    );
    let s = stats(&dec.element().unwrap());
    assert_eq!(
        s.get::<u64>("frames-withheld").unwrap(),
        (first - join) as u64
    );
    // while withheld, the decoder asked upstream for a keyframe
    let mut requests = 0;
    while let Some(ev) = dec.try_pull_upstream_event() {
        requests += gst_video::UpstreamForceKeyUnitEvent::parse(&ev).is_ok() as u32;
    }
    // withheld frames span less than 500 ms: one request, not one per frame
    assert_eq!(requests, 1, "keyframe requests while incomplete");
}

#[test]
fn output_incomplete_outputs_at_once() {
    init();
    let caps = raw_caps("I420", 128, 64);
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let mut enc = Harness::new("deltaenc");
    enc.set_src_caps(caps);
    let _key = enc.push_and_pull(make_frame(&info, 0)).unwrap();
    let delta = enc.push_and_pull(make_frame(&info, 1)).unwrap();
    let mut dec = Harness::new("deltadec");
    dec.element()
        .unwrap()
        .set_property("output-incomplete", true);
    dec.set_src_caps(enc.sinkpad().unwrap().current_caps().unwrap());
    assert!(dec.push_and_pull(delta).is_ok());
}

fn header(w: u16, h: u16, format: u8, tile16: u8) -> Vec<u8> {
    let mut v = b"SK".to_vec();
    v.extend_from_slice(&[gststreamkit::delta::bitstream::VERSION, 0]);
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[format, tile16, 0, 0, 0, 1]);
    v
}

#[test]
fn malformed_input_is_dropped_and_counted_never_fatal() {
    init();
    let mut dec = Harness::new("deltadec");
    dec.set_src_caps_str("video/x-streamkit-delta");
    let mut bad_version = header(64, 64, 0, 2);
    bad_version[2] = 9;
    // a version 1 stream (bitstream v1 is not read any more)
    let mut old_version = header(64, 64, 0, 2);
    old_version[2] = 1;
    let mut bad_magic = header(64, 64, 0, 2);
    bad_magic[0] = b'X';
    let mut tile_outside = header(64, 64, 0, 2);
    tile_outside.extend_from_slice(&[0, 0, 4, 2, 0, 0, 0, 3, 1, 2, 3]);
    let mut truncated = header(64, 64, 0, 2);
    truncated.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0x10, 0, 1, 2]);
    let mut garbage_zstd = header(64, 64, 0, 2);
    garbage_zstd.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("too short", b"SK\x01".to_vec()),
        ("bad magic", bad_magic),
        ("unknown version", bad_version),
        ("version 1", old_version),
        ("absurd dimensions", header(60000, 60000, 0, 2)),
        ("zero width", header(0, 10, 0, 2)),
        ("unknown format", header(64, 64, 200, 2)),
        ("tile outside the frame", tile_outside),
        ("truncated record", truncated),
        ("corrupt lossless payload", garbage_zstd),
    ];
    for (name, bytes) in &cases {
        let flow = dec.push(gst::Buffer::from_slice(bytes.clone()));
        assert!(flow.is_ok(), "{name}: {flow:?}");
        assert!(dec.try_pull().is_none(), "{name}: produced output");
    }
    let s = stats(&dec.element().unwrap());
    let rejected = s.get::<u64>("frames-rejected").unwrap();
    let dropped = s.get::<u64>("records-dropped").unwrap();
    assert_eq!(rejected, 8, "{s}");
    assert_eq!(dropped, 3, "{s}");

    // and the decoder still works afterwards
    let caps = raw_caps("I420", 64, 64);
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let mut enc = Harness::new("deltaenc");
    enc.set_src_caps(caps);
    let frame = make_frame(&info, 0);
    let expected = visible_planes(&info, &frame);
    let key = enc.push_and_pull(frame).unwrap();
    let out = dec.push_and_pull(key).unwrap();
    assert_eq!(visible_planes(&info, &out), expected);
}

fn live_latency(middle: &str) -> gst::ClockTime {
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=64,height=64,framerate=30/1 \
         ! {middle} ! fakesink sync=true"
    ))
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(5),
        &[gst::MessageType::AsyncDone],
    )
    .expect("pipeline prerolled");
    let mut q = gst::query::Latency::new();
    assert!(pipeline.query(&mut q));
    let (live, min, _max) = q.result();
    assert!(live);
    pipeline.set_state(gst::State::Null).unwrap();
    min
}

#[test]
fn latency_query_reports_no_added_latency() {
    init();
    let baseline = live_latency("identity");
    let codec = live_latency("deltaenc ! deltadec");
    assert_eq!(codec, baseline, "deltaenc/deltadec must add no latency");
}

/// Runs `f` on its own thread; fails the test if it has not finished within
/// `secs` (a deadlock would otherwise hang the whole suite).
fn within(secs: u64, what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: not finished after {secs} s (deadlock?)")
        }
        Err(e) => panic!("{what}: the pipeline thread panicked ({e})"),
    }
}

#[test]
fn stats_can_be_read_from_a_sync_bus_handler_and_a_downstream_query() {
    init();
    within(60, "pipeline with stats readers", || {
        let pipeline = gst::parse::launch(
            "videotestsrc num-buffers=20 ! video/x-raw,format=I420,width=64,height=64 \
             ! deltaenc ! deltadec name=dec ! identity name=down ! fakesink sync=false",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let dec = pipeline.by_name("dec").unwrap();
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        {
            let dec = dec.downgrade();
            let reads = reads.clone();
            pipeline.bus().unwrap().set_sync_handler(move |_, _| {
                if let Some(dec) = dec.upgrade() {
                    let _ = dec.property::<gst::Structure>("stats");
                    let _ = dec.property::<u32>("max-width");
                    reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                gst::BusSyncReply::Pass
            });
        }
        {
            // A downstream element whose caps and allocation queries look
            // at the decoder, on the streaming thread, during negotiation.
            let dec = dec.downgrade();
            let reads = reads.clone();
            let down = pipeline.by_name("down").unwrap();
            down.static_pad("sink").unwrap().add_probe(
                gst::PadProbeType::QUERY_DOWNSTREAM | gst::PadProbeType::EVENT_DOWNSTREAM,
                move |_, _| {
                    if let Some(dec) = dec.upgrade() {
                        let _ = dec.property::<gst::Structure>("stats");
                        reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    gst::PadProbeReturn::Ok
                },
            );
        }
        pipeline.set_state(gst::State::Playing).unwrap();
        let msg = pipeline
            .bus()
            .unwrap()
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(30),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .expect("EOS or error");
        assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
        pipeline.set_state(gst::State::Null).unwrap();
        let s = dec.property::<gst::Structure>("stats");
        assert_eq!(s.get::<u64>("frames-output").unwrap(), 20, "{s}");
        assert!(reads.load(std::sync::atomic::Ordering::Relaxed) > 10);
    });
}

#[test]
fn frames_over_the_size_limits_are_dropped_and_counted() {
    init();
    let stat = |h: &Harness, name: &str| stats(&h.element().unwrap()).get::<u64>(name).unwrap();
    let keyframe = |w: u16, h: u16, format: u8| {
        let mut v = header(w, h, format, 16);
        v[3] = 1;
        gst::Buffer::from_slice(v)
    };
    // One 14-byte header announcing 8192x8192 BGRx (a 256 MiB canvas).
    let mut dec = Harness::new("deltadec");
    dec.set_src_caps_str("video/x-streamkit-delta");
    let started = std::time::Instant::now();
    dec.push(keyframe(8192, 8192, 1)).unwrap();
    eprintln!("8192x8192 BGRx header: {:?}", started.elapsed());
    assert!(dec.try_pull().is_none());
    assert_eq!(stat(&dec, "frames-oversized"), 1);
    assert_eq!(stat(&dec, "frames-rejected"), 1);

    // The properties lower the limit.
    let element = dec.element().unwrap();
    assert_eq!(element.property::<u32>("max-width"), 4096);
    assert_eq!(element.property::<u32>("max-height"), 2304);
    element.set_property("max-width", 320u32);
    dec.push(keyframe(640, 64, 0)).unwrap();
    assert_eq!(stat(&dec, "frames-oversized"), 2);
    element.set_property("max-height", 32u32);
    dec.push(keyframe(64, 64, 0)).unwrap();
    assert_eq!(stat(&dec, "frames-oversized"), 3);

    // Caps that fix the size lower it further.
    let mut dec = Harness::new("deltadec");
    dec.set_src_caps_str("video/x-streamkit-delta,width=64,height=48");
    dec.push(keyframe(128, 48, 0)).unwrap();
    dec.push(keyframe(64, 96, 0)).unwrap();
    assert_eq!(stat(&dec, "frames-oversized"), 2);
    dec.push(keyframe(64, 48, 0)).unwrap();
    assert_eq!(stat(&dec, "frames-oversized"), 2);
    assert_eq!(stat(&dec, "frames"), 1);
}

#[test]
fn alternating_sizes_change_the_picture_at_most_once_a_second() {
    init();
    let mut dec = Harness::new("deltadec");
    dec.set_src_caps_str("video/x-streamkit-delta");
    for i in 0..50u16 {
        let mut v = header(if i % 2 == 0 { 1024 } else { 1040 }, 1024, 1, 16);
        v[3] = 1;
        dec.push(gst::Buffer::from_slice(v)).unwrap();
    }
    let s = stats(&dec.element().unwrap());
    assert!(s.get::<u64>("geometry-changes").unwrap() <= 1, "{s}");
    // every other frame announces the size just replaced
    assert_eq!(
        s.get::<u64>("geometry-changes-throttled").unwrap(),
        24,
        "{s}"
    );
}

#[test]
fn cache_tiles_travel_in_caps_from_deltaenc_through_rtp_to_deltadec() {
    init();
    let pipeline = common::pipeline::parse(
        "videotestsrc pattern=smpte num-buffers=10 ! video/x-raw,format=BGRx,width=256,height=128 \
         ! deltaenc name=enc cache-tiles=100 ! rtpdeltapay name=pay mtu=1200 \
         ! rtpdeltadepay name=depay ! deltadec name=dec ! fakesink",
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap();
    assert_eq!(msg.type_(), gst::MessageType::Eos, "{msg:?}");
    let caps = |element: &str, pad: &str| {
        let e = pipeline.by_name(element).unwrap();
        let caps = e.static_pad(pad).unwrap().current_caps().unwrap();
        caps.structure(0).unwrap().to_owned()
    };
    assert_eq!(caps("enc", "src").get::<i32>("cache-tiles"), Ok(100));
    // SDP a=fmtp parameters are strings in RTP caps
    assert_eq!(caps("pay", "src").get::<&str>("cache-tiles"), Ok("100"));
    assert_eq!(caps("depay", "src").get::<i32>("cache-tiles"), Ok(100));
    assert_eq!(caps("dec", "sink").get::<i32>("cache-tiles"), Ok(100));
    let dec = stats(&pipeline.by_name("dec").unwrap());
    assert_eq!(dec.get::<u64>("recall-misses"), Ok(0));
    let enc = stats(&pipeline.by_name("enc").unwrap());
    assert!(enc.get::<u64>("tiles-recalled").is_ok());
    pipeline.set_state(gst::State::Null).unwrap();

    // lossy streams send no recalls and say so
    let enc = gst::ElementFactory::make("deltaenc")
        .property_from_str("mode", "lossy")
        .build()
        .unwrap();
    let mut h = Harness::with_element(&enc, Some("sink"), Some("src"));
    h.set_src_caps_str("video/x-raw,format=I420,width=64,height=64,framerate=30/1");
    let info =
        gst_video::VideoInfo::from_caps(&h.srcpad().unwrap().current_caps().unwrap()).unwrap();
    h.push(make_frame(&info, 0)).unwrap();
    let out = h.sinkpad().unwrap().current_caps().unwrap();
    assert_eq!(out.structure(0).unwrap().get::<i32>("cache-tiles"), Ok(0));
}
