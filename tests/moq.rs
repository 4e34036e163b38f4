// SPDX-License-Identifier: MPL-2.0
//! moqsink and moqsrc through a real `moq-relay` on loopback (docs/moq.md):
//! the changes-only stream arrives exact, a late joiner's first picture is
//! built from the relay's cache with no keyframe from the origin, a second
//! relay clustered with the first serves joiners too, H.264 decodes, and
//! bad input is an error or a counted drop.

mod common;

use common::init;
use common::pipeline::{appsink, parse};

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benchkit::moqrelay::MoqRelay;
use gst::prelude::*;
use gststreamkit::gstcommon::stampframe::{default_layout, read_frame_stamp};
use linkem::{GilbertElliott, Impairments, Link, LinkConfig, ADDR_A};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;

/// A picture a sink received: its stamp's frame number (0 and `stamped`
/// false if the stamp could not be read), a hash of its bytes, and when it
/// arrived.
#[derive(Debug, Clone, Copy)]
struct Picture {
    frame: u32,
    stamped: bool,
    hash: u64,
    at: Instant,
}

type Pictures = Arc<Mutex<Vec<Picture>>>;

/// Collects the pictures reaching appsink `name` of `pipeline`.
fn collect(pipeline: &gst::Pipeline, name: &str) -> Pictures {
    let pictures: Pictures = Arc::default();
    let out = pictures.clone();
    appsink(pipeline, name).set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let info = gst_video::VideoInfo::from_caps(sample.caps().expect("caps"))
                    .expect("raw video caps");
                let buffer = sample.buffer().expect("a buffer");
                let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
                    .expect("a readable frame");
                let stamp = read_frame_stamp(&frame, &default_layout());
                let mut h = DefaultHasher::new();
                frame.plane_data(0).expect("plane 0").hash(&mut h);
                out.lock().unwrap().push(Picture {
                    frame: stamp.as_ref().map_or(0, |s| s.frame),
                    stamped: stamp.is_ok(),
                    hash: h.finish(),
                    at: Instant::now(),
                });
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pictures
}

fn play(pipeline: &gst::Pipeline) {
    pipeline
        .set_state(gst::State::Playing)
        .expect("pipeline plays");
}

/// Fails on the first error message of `pipeline`.
fn check(pipeline: &gst::Pipeline, what: &str) {
    common::pipeline::check_bus(pipeline.upcast_ref(), what);
}

fn stop(pipeline: &gst::Pipeline) {
    let _ = pipeline.set_state(gst::State::Null);
}

fn stat(element: &gst::Element, field: &str) -> u64 {
    element
        .property::<gst::Structure>("stats")
        .get::<u64>(field)
        .unwrap_or_else(|_| panic!("stats lack {field}"))
}

/// The origin: the ball scene, stamped, changes only, published as
/// `broadcast`; the pictures a local decoder makes of exactly what is
/// published go to appsink `local`.
fn origin(relay: &MoqRelay, broadcast: &str, snapshot_ms: u64) -> gst::Pipeline {
    parse(&format!(
        "videotestsrc is-live=true pattern=ball \
           ! video/x-raw,format=BGRx,width={WIDTH},height={HEIGHT},framerate=30/1 \
           ! framestamp ! deltaenc ! tee name=t \
         t. ! queue ! {publish} \
         t. ! queue ! deltadec ! appsink name=local sync=false",
        publish = publisher(relay, broadcast, snapshot_ms, true),
    ))
}

/// The origin's `moqsink`, named `pub`, as a launch fragment.
fn publisher(relay: &MoqRelay, broadcast: &str, snapshot_ms: u64, hold: bool) -> String {
    format!(
        "moqsink name=pub url={url} broadcast={broadcast} fingerprint={fp} \
           snapshot-interval={snap} hold-snapshots={hold}",
        url = relay.url(),
        fp = relay.fingerprint,
        snap = snapshot_ms * 1_000_000,
    )
}

fn viewer(relay: &MoqRelay, broadcast: &str) -> gst::Pipeline {
    parse(&format!(
        "moqsrc name=src url={url} broadcast={broadcast} fingerprint={fp} \
           ! deltadec ! appsink name=view sync=false",
        url = relay.url(),
        fp = relay.fingerprint,
    ))
}

/// Every picture a viewer decoded equals the origin's picture of the same
/// frame; returns how many were compared.
fn assert_exact(origin: &[Picture], viewer: &[Picture], who: &str) -> usize {
    let by_frame: HashMap<u32, u64> = origin.iter().map(|p| (p.frame, p.hash)).collect();
    let mut compared = 0;
    for p in viewer {
        assert!(p.stamped, "{who}: a picture whose stamp cannot be read");
        if let Some(expected) = by_frame.get(&p.frame) {
            assert_eq!(
                *expected, p.hash,
                "{who}: frame {} differs from the origin's",
                p.frame
            );
            compared += 1;
        }
    }
    compared
}

/// Waits until `pictures` holds at least `n`, or `timeout`; returns how
/// many it holds.
fn wait_for(
    pictures: &Pictures,
    n: usize,
    timeout: Duration,
    pipelines: &[(&gst::Pipeline, &str)],
) -> usize {
    let started = Instant::now();
    loop {
        for (p, what) in pipelines {
            check(p, what);
        }
        let have = pictures.lock().unwrap().len();
        if have >= n || started.elapsed() > timeout {
            return have;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn changes_only_arrive_exact_and_a_late_joiner_needs_no_keyframe() {
    init();
    let relay = MoqRelay::start().expect("moq-relay starts");
    let origin = origin(&relay, "exact", 500);
    let local = collect(&origin, "local");
    play(&origin);

    let first = viewer(&relay, "exact");
    let first_pictures = collect(&first, "view");
    play(&first);
    let n = wait_for(
        &first_pictures,
        30,
        Duration::from_secs(20),
        &[(&origin, "origin"), (&first, "first viewer")],
    );
    assert!(n >= 30, "the first viewer decoded {n} pictures in 20 s");

    // A viewer joining a second and more after the origin's only keyframe.
    std::thread::sleep(Duration::from_millis(1200));
    let late = viewer(&relay, "exact");
    let late_pictures = collect(&late, "view");
    let joined = Instant::now();
    play(&late);
    let n = wait_for(
        &late_pictures,
        30,
        Duration::from_secs(20),
        &[(&origin, "origin"), (&late, "late viewer")],
    );
    assert!(n >= 30, "the late viewer decoded {n} pictures in 20 s");
    let first_picture = late_pictures.lock().unwrap()[0];
    eprintln!(
        "late joiner: first picture (frame {}) {:?} after PLAYING",
        first_picture.frame,
        first_picture.at - joined
    );

    let sink = origin.by_name("pub").unwrap();
    let src_first = first.by_name("src").unwrap();
    let src_late = late.by_name("src").unwrap();
    stop(&late);
    stop(&first);
    stop(&origin);

    let local = local.lock().unwrap().clone();
    let compared_first = assert_exact(&local, &first_pictures.lock().unwrap(), "first viewer");
    let late_seen = late_pictures.lock().unwrap().clone();
    let compared_late = assert_exact(&local, &late_seen, "late viewer");
    assert!(
        compared_first >= 30 && compared_late >= 30,
        "{compared_first}, {compared_late} compared"
    );
    // The joiner's first picture is the state at a frame it joined at, not
    // the old keyframe: the origin made exactly one keyframe.
    assert!(
        late_seen[0].frame > 30,
        "the late joiner started at frame {}",
        late_seen[0].frame
    );
    assert_eq!(
        stat(&sink, "keyframes"),
        1,
        "the origin was asked for no keyframe"
    );
    assert!(stat(&sink, "snapshots") >= 3);
    // The late joiner's first picture: the relay's snapshot and the frames
    // since, fetched and folded together within moqsrc.
    let join = stat(&src_late, "join-time");
    assert!(join > 0 && join <= stat(&src_late, "first-picture-time"));
    eprintln!("late joiner: join-time {:.1} ms", join as f64 / 1e6);
    for src in [&src_first, &src_late] {
        assert!(stat(src, "composites") >= 1);
        assert_eq!(stat(src, "refused"), 0);
        assert_eq!(stat(src, "composite-failures"), 0);
    }
}

/// An origin's counters at one moment: the QUIC connection's bytes sent,
/// and the bytes of the frames it wrote.
#[derive(Debug, Clone, Copy)]
struct Uplink {
    wire: u64,
    written: u64,
}

fn uplink(sink: &gst::Element) -> Uplink {
    Uplink {
        wire: stat(sink, "wire-bytes-sent"),
        written: stat(sink, "bytes"),
    }
}

/// What an origin sent beyond its frames between `from` and `to`, in
/// bytes, counting the frames at the wire-to-written ratio of `base` (a
/// stretch before, with neither joins nor snapshots).
fn beyond_frames(base: (Uplink, Uplink), from: Uplink, to: Uplink) -> f64 {
    let ratio = (base.1.wire - base.0.wire) as f64 / (base.1.written - base.0.written) as f64;
    (to.wire - from.wire) as f64 - ratio * (to.written - from.written) as f64
}

/// An origin whose snapshot is large (a detailed still background, a
/// small moving picture on it), with moqsink's `hold-snapshots` as given.
fn detailed_origin(
    relay: &MoqRelay,
    broadcast: &str,
    snapshot_ms: u64,
    hold: bool,
) -> gst::Pipeline {
    parse(&format!(
        "compositor name=mix ! video/x-raw,format=BGRx,width={WIDTH},height={HEIGHT},framerate=30/1 \
           ! framestamp ! deltaenc ! {publish} \
         videotestsrc is-live=true pattern=zone-plate kx2=40 ky2=30 \
           ! video/x-raw,format=BGRx,width={WIDTH},height={HEIGHT},framerate=30/1 ! mix. \
         videotestsrc is-live=true pattern=ball \
           ! video/x-raw,format=BGRx,width=16,height=16,framerate=30/1 ! mix.",
        publish = publisher(relay, broadcast, snapshot_ms, hold),
    ))
}

#[test]
fn with_hold_snapshots_joins_cost_the_origin_no_snapshot() {
    init();
    let relay = MoqRelay::start().expect("moq-relay starts");
    // Snapshots 20 s apart: the first at the start, none during what is
    // measured, so what an origin sends beyond its frames is what the
    // joins cost it.
    let holding = detailed_origin(&relay, "holding", 20_000, true);
    let paying = detailed_origin(&relay, "paying", 20_000, false);
    play(&holding);
    play(&paying);
    let sinks = [
        holding.by_name("pub").unwrap(),
        paying.by_name("pub").unwrap(),
    ];
    // A viewer stays on each broadcast, as a relay with an audience has:
    // the frames reach the relay whoever joins (a join at a relay with no
    // viewer at all also asks the origin for the frames since the
    // snapshot).
    let standing = ["holding", "paying"].map(|b| {
        let v = viewer(&relay, b);
        play(&v);
        v
    });
    std::thread::sleep(Duration::from_millis(1000));
    let base0 = sinks.clone().map(|s| uplink(&s));
    std::thread::sleep(Duration::from_millis(1000));
    let base1 = sinks.clone().map(|s| uplink(&s));
    // Joins, one at a time, alternating between the two broadcasts; what
    // each cost its origin is measured over its own window.
    let joins = 6;
    let mut per_join: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for i in 0..joins * 2 {
        let k = i % 2;
        let broadcast = if k == 0 { "holding" } else { "paying" };
        let from = uplink(&sinks[k]);
        let v = viewer(&relay, broadcast);
        let pictures = collect(&v, "view");
        play(&v);
        let n = wait_for(
            &pictures,
            3,
            Duration::from_secs(20),
            &[
                (&holding, "holding origin"),
                (&paying, "paying origin"),
                (&standing[0], "standing viewer"),
                (&standing[1], "standing viewer"),
                (&v, "viewer"),
            ],
        );
        stop(&v);
        assert!(n >= 3, "{broadcast}: join {i} had {n} pictures in 20 s");
        // What is still on its way to the relay.
        std::thread::sleep(Duration::from_millis(300));
        per_join[k].push(beyond_frames((base0[k], base1[k]), from, uplink(&sinks[k])));
    }
    for v in &standing {
        stop(v);
    }
    stop(&holding);
    stop(&paying);
    let snapshot = |s: &gst::Element| {
        // The first only: none was made while it was measured.
        assert_eq!(stat(s, "snapshots"), 1, "a snapshot in the measured time");
        stat(s, "snapshot-bytes") as f64
    };
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let cost = [median(&mut per_join[0]), median(&mut per_join[1])];
    let snapshot_size = [snapshot(&sinks[0]), snapshot(&sinks[1])];
    eprintln!(
        "per join, beyond the frames (median of {joins}): holding origin {:.0} B, paying \
         origin {:.0} B (a snapshot is {:.0} B); all: {per_join:.0?}",
        cost[0], cost[1], snapshot_size[1]
    );
    // Over a window this short the QUIC connection's byte count strays
    // from the frames' by kilobytes either way under load (how packets are
    // filled and acknowledged changes while the joiners use the CPU), and
    // now and then by tens of kilobytes (seen once in the suite under two
    // busy loops, with the other MoQ tests of this file running beside
    // it): so each origin's cost is the median of its joins, and the two
    // are compared with each other. Without the hold, the relay had to ask
    // the origin for the snapshot at each join; with it, not (relay-bench
    // counts the absolute bytes: docs/quic.md).
    assert!(stat(&sinks[0], "snapshots-held") >= 1);
    assert!(
        cost[1] - cost[0] > 0.5 * snapshot_size[1],
        "a join cost the paying origin only {:.0} B more than the holding one",
        cost[1] - cost[0]
    );
    assert_eq!(stat(&sinks[1], "snapshots-held"), 0);
    for sink in &sinks {
        assert_eq!(stat(sink, "keyframes"), 1);
    }
}

#[test]
fn a_viewer_behind_a_lossy_link_repairs_from_the_relay_cache() {
    init();
    // The relay and the origin on side A, the viewer on side B, 8% of the
    // packets lost each way and a 20 ms round trip; the viewer gives a
    // frame up after 15 ms, so a frame whose packet is lost usually
    // misses its turn and the viewer repairs from the relay's cache.
    let link = Link::new(LinkConfig::symmetric(
        Impairments {
            loss: GilbertElliott::random(0.08),
            delay: Duration::from_millis(10),
            ..Default::default()
        },
        7,
    ))
    .expect("the link emulator starts (root, /dev/net/tun)");
    let host = std::net::IpAddr::V4(ADDR_A);
    let relay = link
        .a()
        .run(|| MoqRelay::start_on(host, |c| c.spawn()))
        .expect("side A")
        .expect("moq-relay starts on side A");
    // No intra refresh: what a lost frame leaves stale stays so until
    // the repair.
    let origin = parse(&format!(
        "videotestsrc is-live=true pattern=ball \
           ! video/x-raw,format=BGRx,width={WIDTH},height={HEIGHT},framerate=30/1 \
           ! framestamp ! deltaenc intra-refresh=0 ! tee name=t \
         t. ! queue ! {publish} \
         t. ! queue ! deltadec ! appsink name=local sync=false",
        publish = publisher(&relay, "lossy", 500, true),
    ));
    let local = collect(&origin, "local");
    link.a().run(|| play(&origin)).expect("side A");
    let view = parse(&format!(
        "moqsrc name=src url={url} broadcast=lossy fingerprint={fp} latency=15000000 \
           ! deltadec ! appsink name=view sync=false",
        url = relay.url(),
        fp = relay.fingerprint,
    ));
    let pictures = collect(&view, "view");
    link.b().run(|| play(&view)).expect("side B");
    // Six seconds of frames; the pictures shown are counted after.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        check(&origin, "origin");
        check(&view, "viewer");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sink = origin.by_name("pub").unwrap();
    let src = view.by_name("src").unwrap();
    stop(&view);
    stop(&origin);
    let [a_to_b, _] = link.stats();
    let shown = pictures.lock().unwrap().clone();
    // Between a frame given up and its repair the picture may be stale
    // where the missing frame changed it (deltadec shows it, docs/moq.md
    // "Order and loss"); the repair makes it exact again.
    let by_frame: HashMap<u32, u64> = local
        .lock()
        .unwrap()
        .iter()
        .map(|p| (p.frame, p.hash))
        .collect();
    let exact = |p: &Picture| p.stamped && by_frame.get(&p.frame) == Some(&p.hash);
    let exact_count = shown.iter().filter(|p| exact(p)).count();
    eprintln!(
        "lossy link: {} of {} packets lost A to B; {} pictures shown, {} exact; \
         moqsrc lost {}, composites {} ({} from its own state), fetch-misses {}",
        a_to_b.lost,
        a_to_b.offered,
        shown.len(),
        exact_count,
        stat(&src, "lost"),
        stat(&src, "composites"),
        stat(&src, "own-repairs"),
        stat(&src, "fetch-misses"),
    );
    assert!(a_to_b.lost > 0, "the link lost nothing");
    // Most frames shown and nearly all exact: without the repairs, what
    // each lost frame left stale would stay so (no intra refresh).
    assert!(exact_count >= 100, "{exact_count} exact pictures in 6 s");
    assert!(
        exact_count * 4 >= shown.len() * 3,
        "{exact_count} of {} exact",
        shown.len()
    );
    // Frames were given up and the picture was rebuilt: at the join from
    // the relay's snapshot and cached frames, after a loss from the
    // viewer's own state and the missing frame (follow-state, the
    // default)...
    assert!(stat(&src, "lost") > 0, "no frame was given up");
    assert!(stat(&src, "composites") >= 2, "no repair after the join");
    assert!(
        stat(&src, "own-repairs") >= 1,
        "no repair from the viewer's own state"
    );
    // ...never by asking the origin for a keyframe.
    assert_eq!(stat(&sink, "keyframes"), 1);
}

#[test]
fn a_second_clustered_relay_serves_exact_joiners() {
    init();
    let root = MoqRelay::start().expect("the first relay starts");
    let leaf = MoqRelay::start_with(Some(&root), &[]).expect("the second relay starts");
    let origin = origin(&root, "cluster", 500);
    let local = collect(&origin, "local");
    play(&origin);
    std::thread::sleep(Duration::from_millis(1500));
    let far = viewer(&leaf, "cluster");
    let far_pictures = collect(&far, "view");
    play(&far);
    let n = wait_for(
        &far_pictures,
        30,
        Duration::from_secs(20),
        &[(&origin, "origin"), (&far, "viewer at the second relay")],
    );
    let sink = origin.by_name("pub").unwrap();
    stop(&far);
    stop(&origin);
    assert!(
        n >= 30,
        "the viewer at the second relay decoded {n} pictures:\n{}",
        leaf.log()
    );
    let compared = assert_exact(
        &local.lock().unwrap(),
        &far_pictures.lock().unwrap(),
        "far viewer",
    );
    assert!(compared >= 30);
    assert!(far_pictures.lock().unwrap()[0].frame > 30);
    assert_eq!(stat(&sink, "keyframes"), 1);
}

#[test]
fn h264_through_a_relay_decodes() {
    init();
    let relay = MoqRelay::start().expect("moq-relay starts");
    let origin = parse(&format!(
        "videotestsrc is-live=true pattern=ball \
           ! video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate=30/1 \
           ! framestamp ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 \
           ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au \
           ! moqsink name=pub url={url} broadcast=h264 fingerprint={fp}",
        url = relay.url(),
        fp = relay.fingerprint,
    ));
    play(&origin);
    let view = parse(&format!(
        "moqsrc name=src url={url} broadcast=h264 fingerprint={fp} \
           ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 \
           ! appsink name=view sync=false",
        url = relay.url(),
        fp = relay.fingerprint,
    ));
    let pictures = collect(&view, "view");
    play(&view);
    let n = wait_for(
        &pictures,
        40,
        Duration::from_secs(20),
        &[(&origin, "origin"), (&view, "viewer")],
    );
    let sink = origin.by_name("pub").unwrap();
    let src = view.by_name("src").unwrap();
    stop(&view);
    stop(&origin);
    assert!(n >= 40, "decoded {n} H.264 pictures");
    // Frames in order, from a keyframe on (the group the viewer joined).
    let frames: Vec<u32> = pictures.lock().unwrap().iter().map(|p| p.frame).collect();
    assert!(frames.windows(2).all(|w| w[0] < w[1]), "{frames:?}");
    assert!(stat(&sink, "keyframes") >= 1);
    assert_eq!(stat(&src, "refused"), 0);
}

/// Runs `pipeline` until its first error, and returns it.
fn first_error(pipeline: &gst::Pipeline, within: Duration) -> String {
    let bus = pipeline.bus().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::try_from(within).unwrap(),
            &[gst::MessageType::Error],
        )
        .expect("an error within the time");
    stop(pipeline);
    match msg.view() {
        gst::MessageView::Error(e) => format!("{} {:?}", e.error(), e.debug()),
        _ => unreachable!(),
    }
}

#[test]
fn what_cannot_work_is_a_clear_error() {
    init();
    let relay = MoqRelay::start().expect("moq-relay starts");
    // A broadcast nobody publishes.
    let missing = parse(&format!(
        "moqsrc url={} broadcast=nobody fingerprint={} timeout=1000000000 ! fakesink",
        relay.url(),
        relay.fingerprint
    ));
    let e = first_error(&missing, Duration::from_secs(15));
    assert!(e.contains("not published"), "{e}");
    // No relay at all on that port.
    let port = benchkit::ports::free_udp_port().unwrap();
    let nothing = parse(&format!(
        "moqsrc url=https://127.0.0.1:{port}/ broadcast=x timeout=1000000000 ! fakesink"
    ));
    let e = first_error(&nothing, Duration::from_secs(15));
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    // The wrong certificate.
    let wrong = parse(&format!(
        "moqsrc url={} broadcast=x fingerprint={} timeout=2000000000 ! fakesink",
        relay.url(),
        "00".repeat(32)
    ));
    let e = first_error(&wrong, Duration::from_secs(15));
    assert!(e.contains("Cannot watch"), "{e}");
    // Not a relay URL: refused when the element starts.
    let bad = parse("videotestsrc num-buffers=1 ! video/x-raw,format=BGRx ! deltaenc ! moqsink url=http://localhost/");
    let e = first_error(&bad, Duration::from_secs(5));
    assert!(e.contains("scheme"), "{e}");
}

#[test]
fn garbage_objects_are_counted_and_dropped() {
    use gststreamkit::moq::catalog::{Catalog, Codec, CATALOG_VERSION};
    use gststreamkit::moq::client::RelayAddress;
    use gststreamkit::moq::object::{write_object, ObjectHeader};
    use gststreamkit::moq::publisher::Publication;

    init();
    let relay = MoqRelay::start().expect("moq-relay starts");
    let address =
        RelayAddress::parse(&relay.url(), &relay.fingerprint, Duration::from_secs(5)).unwrap();
    let mut publication =
        Publication::start(&address, "garbage", Duration::from_secs(3)).expect("publishes");
    publication
        .write_catalog(&Catalog {
            version: CATALOG_VERSION,
            codec: Codec::H264,
            caps: "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au, width=(int)64, height=(int)64".into(),
            width: 64,
            height: 64,
            frames_track: "frames".into(),
            snapshot_track: None,
            snapshot_interval_ms: None,
            tile_size: None,
            cache_tiles: None,
        })
        .unwrap();
    let view = parse(&format!(
        "moqsrc name=src url={} broadcast=garbage fingerprint={} ! fakesink name=out",
        relay.url(),
        relay.fingerprint
    ));
    play(&view);
    let src = view.by_name("src").unwrap();
    let out = view.by_name("out").unwrap();
    // Keep writing until the viewer has seen some of each kind.
    let started = Instant::now();
    let mut i = 0u32;
    while (stat(&src, "refused") < 20 || stat(&src, "objects") < 40)
        && started.elapsed() < Duration::from_secs(20)
    {
        check(&view, "viewer");
        let object = match i % 4 {
            0 => vec![9u8; 3],                                // shorter than a header
            1 => vec![2u8; 40],                               // another version
            2 => write_object(&ObjectHeader::default(), &[]), // no payload
            _ => write_object(
                &ObjectHeader {
                    sync: i % 8 == 3,
                    ..Default::default()
                },
                &[0, 0, 0, 1, 9, 16],
            ),
        };
        publication
            .write_access_unit(object, i.is_multiple_of(8), None)
            .expect("the model takes any bytes");
        i += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let refused = stat(&src, "refused");
    let pushed = out.property::<Option<gst::Sample>>("last-sample").is_some();
    check(&view, "viewer");
    stop(&view);
    publication.finish();
    assert!(refused >= 20, "refused {refused}");
    assert!(pushed, "the good objects between the bad ones went on");
}
