//! rtpdeltapay / rtpdeltadepay: round trips, loss and healing, reordering,
//! malformed packets, and a real rtpbin loop over loopback UDP.

use gst::prelude::*;
use gst_check::Harness;
use gst_video::prelude::*;
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, Once};

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gststreamkit::plugin_register_static().expect("register streamkit");
    });
}

const W: u32 = 320;
const H: u32 = 240;
const FRAME_MS: u64 = 33;
const SCENE_FRAMES: u64 = 45;

fn raw_caps() -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", W as i32)
        .field("height", H as i32)
        .field("framerate", gst::Fraction::new(30, 1))
        .build()
}

/// Small deterministic generator, so every run sees the same content/loss.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() as f64) < p * (1u64 << 31) as f64
    }
}

/// Frame `t` of a moving scene: a gradient, a square sliding across it and a
/// patch of noise (incompressible, so its tile records outgrow small MTUs).
/// The gradient changes every `SCENE_FRAMES` frames ("next slide") and is
/// static in between, so a lost update of a background tile stays visible
/// until refresh or a keyframe repairs it: the loss tests can fail.
fn make_frame(t: u64) -> gst::Buffer {
    let info = gst_video::VideoInfo::from_caps(&raw_caps()).unwrap();
    let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
    {
        let buf = buffer.get_mut().unwrap();
        buf.set_pts(gst::ClockTime::from_mseconds(FRAME_MS * t));
        buf.set_duration(gst::ClockTime::from_mseconds(FRAME_MS));
        let mut rng = Lcg(t + 1);
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, &info).unwrap();
        for p in 0..frame.n_planes() {
            let stride = frame.plane_stride()[p as usize] as usize;
            let scale = if p == 0 { 1 } else { 2 };
            let data = frame.plane_data_mut(p).unwrap();
            for (i, v) in data.iter_mut().enumerate() {
                let (x, y) = ((i % stride) * scale, (i / stride) * scale);
                let sx = (t as usize * 5) % W as usize;
                let scene = (t / SCENE_FRAMES) as usize;
                *v = if x >= sx && x < sx + 48 && (60..120).contains(&y) {
                    220
                } else if x < 40 && y < 40 {
                    rng.next() as u8
                } else {
                    ((x / 2 + y + p as usize * 70 + scene * 37) % 200) as u8
                };
            }
        }
    }
    buffer
}

fn bytes(buffer: &gst::BufferRef) -> Vec<u8> {
    buffer.map_readable().unwrap().to_vec()
}

/// Encodes `n` frames with deltaenc; returns the encoded buffers and caps.
fn encode(n: u64, props: &str) -> (Vec<gst::Buffer>, gst::Caps) {
    let mut h = Harness::new_parse(&format!("deltaenc {props}"));
    h.set_src_caps(raw_caps());
    let mut out = Vec::new();
    for t in 0..n {
        h.push(make_frame(t)).unwrap();
        while let Some(b) = h.try_pull() {
            out.push(b);
        }
    }
    h.push_event(gst::event::Eos::new());
    while let Some(b) = h.try_pull() {
        out.push(b);
    }
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    (out, caps)
}

/// Payloads `frames` at `mtu`; returns the RTP packets and their caps.
fn payload(frames: &[gst::Buffer], caps: &gst::Caps, mtu: u32) -> (Vec<gst::Buffer>, gst::Caps) {
    payload_with(frames, caps, |pay| pay.set_property("mtu", mtu))
}

/// Payloads `frames` with a payloader set up by `configure`.
fn payload_with(
    frames: &[gst::Buffer],
    caps: &gst::Caps,
    configure: impl FnOnce(&gst::Element),
) -> (Vec<gst::Buffer>, gst::Caps) {
    let mut h = Harness::new("rtpdeltapay");
    configure(&h.element().unwrap());
    h.set_src_caps(caps.clone());
    let mut out = Vec::new();
    for f in frames {
        h.push(f.clone()).unwrap();
        while let Some(b) = h.try_pull() {
            out.push(b);
        }
    }
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    (out, caps)
}

/// Depayloads `packets`; returns the output frames and the element.
fn depayload(packets: &[gst::Buffer], caps: &gst::Caps) -> (Vec<gst::Buffer>, gst::Element) {
    let mut h = Harness::new("rtpdeltadepay");
    h.set_src_caps(caps.clone());
    let mut out = Vec::new();
    for p in packets {
        h.push(p.clone()).unwrap();
        while let Some(b) = h.try_pull() {
            out.push(b);
        }
    }
    h.push_event(gst::event::Eos::new());
    while let Some(b) = h.try_pull() {
        out.push(b);
    }
    (out, h.element().unwrap())
}

fn stat(element: &gst::Element, name: &str) -> u64 {
    element
        .property::<gst::Structure>("delta-stats")
        .get::<u64>(name)
        .unwrap()
}

#[test]
fn round_trip_is_bit_exact_at_several_mtus() {
    init();
    let (frames, caps) = encode(20, "tile-size=32 intra-refresh=5");
    assert_eq!(frames.len(), 20);
    let largest_record = frames.iter().map(|f| f.size()).max().unwrap();
    // 120 bytes is smaller than the noise tiles' records: they are fragmented.
    for mtu in [120u32, 400, 1400, 9000] {
        let (packets, rtp_caps) = payload(&frames, &caps, mtu);
        let s = rtp_caps.structure(0).unwrap();
        assert_eq!(s.get::<&str>("encoding-name").unwrap(), "X-STREAMKIT-DELTA");
        assert_eq!(s.get::<&str>("width").unwrap(), "320");
        assert_eq!(s.get::<&str>("tile-size").unwrap(), "32");
        for p in &packets {
            assert!(
                p.size() <= mtu as usize,
                "packet of {} > mtu {mtu}",
                p.size()
            );
        }
        // Exactly one marker per frame, on its last packet.
        let markers = packets
            .iter()
            .filter(|p| {
                gst_rtp::RTPBuffer::from_buffer_readable(p)
                    .unwrap()
                    .is_marker()
            })
            .count();
        assert_eq!(markers, frames.len());
        let (out, depay) = depayload(&packets, &rtp_caps);
        assert_eq!(out.len(), frames.len(), "mtu {mtu}");
        for (o, f) in out.iter().zip(&frames) {
            assert_eq!(bytes(o), bytes(f), "mtu {mtu}");
            assert_eq!(o.pts(), f.pts());
            assert!(!o.flags().contains(gst::BufferFlags::CORRUPTED));
        }
        assert_eq!(stat(&depay, "frames-with-loss"), 0);
        assert_eq!(stat(&depay, "packets"), packets.len() as u64);
        if mtu == 120 {
            assert!(packets.len() > 20 * largest_record / 120);
        }
    }
}

#[test]
fn reordered_and_duplicated_packets_without_jitterbuffer() {
    init();
    let (frames, caps) = encode(30, "tile-size=32 intra-refresh=5");
    let (packets, rtp_caps) = payload(&frames, &caps, 300);
    let mixed = reorder_and_duplicate(&packets, 11);
    let (out, depay) = depayload(&mixed, &rtp_caps);
    assert_eq!(out.len(), frames.len());
    for (o, f) in out.iter().zip(&frames) {
        assert_eq!(bytes(o), bytes(f));
        // Nothing was lost: no damage flag, although the base class saw
        // sequence gaps (it would have flagged DISCONT).
        assert!(!o.flags().contains(gst::BufferFlags::CORRUPTED));
        assert!(!o.flags().contains(gst::BufferFlags::DISCONT));
    }
    assert!(stat(&depay, "duplicates") + stat(&depay, "late") > 0);
    assert_eq!(stat(&depay, "frames-with-loss"), 0);
}

#[test]
fn malformed_packets_are_dropped_and_counted() {
    init();
    let (frames, caps) = encode(2, "tile-size=32");
    let (packets, rtp_caps) = payload(&frames, &caps, 1400);
    let good = bytes(&packets[0]);
    let header_len = 12;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push(("too short", good[..header_len + 6].to_vec()));
    let mut bad = good.clone();
    bad[header_len] = 77;
    cases.push(("wrong payload version", bad));
    let mut bad = good.clone();
    bad[header_len + 4] = b'Q';
    cases.push(("wrong frame magic", bad));
    let mut bad = good.clone();
    // First record's tile index: 80 tiles in 320x240 at 32 px.
    bad[header_len + 18..header_len + 21].copy_from_slice(&[0, 1, 0]);
    cases.push(("tile outside the frame", bad));
    let mut bad = good[..header_len + 18].to_vec();
    bad[header_len + 1] = 1; // fragment kind
    bad.extend_from_slice(&3u32.to_be_bytes()); // tile
    bad.extend_from_slice(&100u32.to_be_bytes()); // record length
    bad.extend_from_slice(&90u32.to_be_bytes()); // offset
    bad.extend_from_slice(&[0u8; 20]); // runs past the record
    cases.push(("fragment out of range", bad));

    let mut h = Harness::new("rtpdeltadepay");
    // A harness element has no bus of its own: give it one to see warnings.
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps(rtp_caps);
    for (i, (what, data)) in cases.iter().enumerate() {
        let mut b = gst::Buffer::from_mut_slice(data.clone());
        {
            // Distinct timestamps and seqnums so each case stands alone.
            let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(b.get_mut().unwrap()).unwrap();
            rtp.set_timestamp(1_000 + 3_000 * i as u32);
            rtp.set_seq(500 + i as u16);
            rtp.set_marker(true);
        }
        h.push(b).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert!(h.try_pull().is_none(), "{what}: no frame out of it");
    }
    let depay = h.element().unwrap();
    assert_eq!(stat(&depay, "malformed"), cases.len() as u64);
    // One bus warning for the burst (rate-limited), naming the problem.
    let warnings: Vec<_> = std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(format!("{} {:?}", w.error(), w.debug())),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("malformed"), "{warnings:?}");
    assert_eq!(stat(&depay, "frames"), 0);
    // A good stream still goes through afterwards.
    for p in &packets {
        let mut p = p.copy();
        {
            let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(p.get_mut().unwrap()).unwrap();
            let ts = rtp.timestamp();
            rtp.set_timestamp(ts.wrapping_add(100_000));
        }
        h.push(p).unwrap();
    }
    h.push_event(gst::event::Eos::new());
    let mut n = 0;
    while let Some(o) = h.try_pull() {
        assert_eq!(bytes(&o), bytes(&frames[n]));
        n += 1;
    }
    assert_eq!(n, 2);
}

/// Output of a lossy run through deltaenc ! pay ! (loss) ! depay ! deltadec.
struct LossRun {
    /// PTS of frames at least one packet of which reached the depayloader.
    delivered: BTreeSet<u64>,
    /// (frame index, bit-exact with its source) for every decoded frame.
    outputs: Vec<(u64, bool)>,
    depay: gst::Element,
    enc: gst::Element,
}

/// Runs `frames` frames; `drop_packet(frame, rng)` decides each packet's fate
/// at the payloader's output while `frame < loss_frames`. With `netsim`, a
/// netsim at `drop` probability sits in the path instead and is switched
/// off after `loss_frames`.
fn loss_run(
    frames: u64,
    loss_frames: u64,
    enc_props: &str,
    depay_props: &str,
    loss: Loss,
) -> LossRun {
    let netsim = match loss {
        Loss::Netsim(p) => format!("netsim name=net drop-probability={p} ! "),
        Loss::Probe(_) => String::new(),
    };
    // output-incomplete: a frame 0 that lost packets is shown too (with
    // placeholder tiles) instead of withheld, so "every frame that had a
    // packet arrive is output" holds from the first frame on.
    let mut h = Harness::new_parse(&format!(
        "deltaenc name=enc tile-size=32 {enc_props} ! rtpdeltapay name=pay mtu=600 ! \
         {netsim}identity name=tap ! rtpdeltadepay name=depay {depay_props} ! deltadec output-incomplete=true"
    ));
    let bin = h.element().unwrap().downcast::<gst::Bin>().unwrap();
    let pay = bin.by_name("pay").unwrap();
    let tap = bin.by_name("tap").unwrap();
    let depay = bin.by_name("depay").unwrap();
    let enc = bin.by_name("enc").unwrap();

    let frame_of = |b: &gst::BufferRef| b.pts().unwrap().mseconds() / FRAME_MS;
    if let Loss::Probe(p) = loss {
        let rng = Mutex::new(Lcg(1234));
        pay.static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER_LIST, move |_, info| {
                if let Some(gst::PadProbeData::BufferList(list)) = &mut info.data {
                    let mut rng = rng.lock().unwrap();
                    list.make_mut().foreach_mut(|b, _| {
                        let lose = frame_of(&b) < loss_frames && rng.chance(p);
                        ControlFlow::Continue(if lose { None } else { Some(b) })
                    });
                }
                gst::PadProbeReturn::Ok
            });
    }
    let delivered = Arc::new(Mutex::new(BTreeSet::new()));
    {
        let delivered = delivered.clone();
        tap.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let mut d = delivered.lock().unwrap();
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => {
                        d.insert(b.pts().unwrap().nseconds());
                    }
                    Some(gst::PadProbeData::BufferList(l)) => {
                        for b in l.iter() {
                            d.insert(b.pts().unwrap().nseconds());
                        }
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    }

    h.set_src_caps(raw_caps());
    let mut outputs = Vec::new();
    let collect = |h: &mut Harness, outputs: &mut Vec<(u64, bool)>| {
        while let Some(o) = h.try_pull() {
            let t = frame_of(&o);
            outputs.push((t, bytes(&o) == bytes(&make_frame(t))));
        }
    };
    for t in 0..frames {
        if t == loss_frames {
            if let Some(net) = bin.by_name("net") {
                net.set_property("drop-probability", 0f32);
            }
        }
        h.push(make_frame(t)).unwrap();
        collect(&mut h, &mut outputs);
    }
    h.push_event(gst::event::Eos::new());
    collect(&mut h, &mut outputs);
    let delivered = delivered.lock().unwrap().clone();
    LossRun {
        delivered,
        outputs,
        depay,
        enc,
    }
}

#[derive(Clone, Copy)]
enum Loss {
    /// Seeded drop at this probability at the payloader's output.
    Probe(f64),
    /// netsim drop-probability.
    Netsim(f32),
}

impl LossRun {
    /// Every frame that had a packet arrive was output (the receiver never
    /// stalls nor withholds).
    fn assert_no_stall(&self) {
        let out: BTreeSet<u64> = self
            .outputs
            .iter()
            .map(|(t, _)| gst::ClockTime::from_mseconds(FRAME_MS * t).nseconds())
            .collect();
        let missing: Vec<_> = self.delivered.difference(&out).collect();
        assert!(
            missing.is_empty(),
            "frames delivered but not output: {missing:?}"
        );
    }

    /// Every output frame from `first` on is bit-exact.
    fn assert_exact_from(&self, first: u64) {
        let bad: Vec<u64> = self
            .outputs
            .iter()
            .filter(|(t, exact)| *t >= first && !exact)
            .map(|(t, _)| *t)
            .collect();
        assert!(
            bad.is_empty(),
            "frames not bit-exact after healing: {bad:?}"
        );
        assert!(self.outputs.iter().any(|(t, _)| *t >= first));
    }

    fn damaged_outputs(&self) -> usize {
        self.outputs.iter().filter(|(_, exact)| !exact).count()
    }

    fn enc_stat(&self, name: &str) -> u64 {
        self.enc
            .property::<gst::Structure>("stats")
            .get::<u64>(name)
            .unwrap()
    }
}

#[test]
fn loss_heals_within_the_intra_refresh_period() {
    init();
    let refresh = 15;
    let loss_frames = 200;
    let run = loss_run(
        300,
        loss_frames,
        &format!("intra-refresh={refresh}"),
        "request-keyframe=false",
        Loss::Probe(0.05),
    );
    let lost_frames = 300 - run.delivered.len();
    eprintln!(
        "probe 5%: {} frames delivered, {} output, {} not bit-exact, depay {:?}",
        run.delivered.len(),
        run.outputs.len(),
        run.damaged_outputs(),
        run.depay.property::<gst::Structure>("delta-stats")
    );
    assert!(
        stat(&run.depay, "frames-with-loss") > 10,
        "the loss did bite"
    );
    assert!(run.damaged_outputs() > 0, "loss showed in the picture");
    assert!(lost_frames < 30);
    run.assert_no_stall();
    // The last lossy frame can be output one frame late (lost marker), then
    // every tile is re-sent within one refresh period.
    run.assert_exact_from(loss_frames + refresh + 1);
    assert_eq!(run.enc_stat("forced-keyframes"), 0);
}

#[test]
fn loss_heals_after_a_keyframe_request_without_intra_refresh() {
    init();
    let loss_frames = 150;
    let run = loss_run(
        200,
        loss_frames,
        "intra-refresh=0",
        "min-keyframe-interval=0",
        Loss::Probe(0.05),
    );
    eprintln!(
        "keyframe requests: {} sent, {} forced keyframes",
        stat(&run.depay, "keyframe-requests"),
        run.enc_stat("forced-keyframes")
    );
    assert!(stat(&run.depay, "keyframe-requests") > 0);
    assert!(run.enc_stat("forced-keyframes") > 0);
    run.assert_no_stall();
    // Loss seen at frame N (or N+1 when its marker was lost) forces a
    // keyframe on the next encoded frame.
    run.assert_exact_from(loss_frames + 2);
}

#[test]
fn netsim_loss_never_stalls_and_heals() {
    init();
    let refresh = 10;
    let loss_frames = 300;
    let run = loss_run(
        330,
        loss_frames,
        &format!("intra-refresh={refresh}"),
        "request-keyframe=false",
        Loss::Netsim(0.05),
    );
    eprintln!(
        "netsim 5%: {} of 330 frames delivered, {} output, {} not bit-exact, depay {:?}",
        run.delivered.len(),
        run.outputs.len(),
        run.damaged_outputs(),
        run.depay.property::<gst::Structure>("delta-stats")
    );
    assert!(stat(&run.depay, "frames-with-loss") > 0);
    run.assert_no_stall();
    run.assert_exact_from(loss_frames + refresh + 1);
}

#[test]
fn keyframe_only_stream_over_the_same_payloader() {
    init();
    // The full-frame strategy with our codec: every frame a keyframe, so a
    // loss costs only the frame it hit.
    let run = loss_run(
        60,
        30,
        "intra-refresh=0 key-int-max=1",
        "request-keyframe=false",
        Loss::Probe(0.05),
    );
    run.assert_no_stall();
    run.assert_exact_from(31);
    assert_eq!(run.enc_stat("keyframes"), 60);
}

/// Free UDP ports on 127.0.0.1 (bound and released; another process could
/// take one meanwhile, which only this machine's tests would do).
fn free_ports(n: usize) -> Vec<u16> {
    let sockets: Vec<_> = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

fn check_bus(pipeline: &gst::Element, what: &str) {
    let bus = pipeline.bus().unwrap();
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("{what}: {} ({:?})", e.error(), e.debug());
        }
    }
}

#[test]
fn rtpbin_loop_carries_keyframe_requests_to_the_encoder() {
    init();
    let p = free_ports(3);
    let (rtp, rtcp_to_receiver, rtcp_to_sender) = (p[0], p[1], p[2]);
    // Sender: no intra refresh and no periodic keyframes, so every keyframe
    // after the first is a forced one.
    let sender = gst::parse::launch(&format!(
        "rtpbin name=rb rtp-profile=avpf \
         videotestsrc is-live=true pattern=ball ! \
         video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! \
         deltaenc name=enc tile-size=32 intra-refresh=0 ! rtpdeltapay mtu=1200 ! rb.send_rtp_sink_0 \
         rb.send_rtp_src_0 ! udpsink host=127.0.0.1 port={rtp} sync=false async=false \
         rb.send_rtcp_src_0 ! udpsink host=127.0.0.1 port={rtcp_to_receiver} sync=false async=false \
         udpsrc address=127.0.0.1 port={rtcp_to_sender} ! rb.recv_rtcp_sink_0"
    ))
    .unwrap();
    let receiver = gst::parse::launch(&format!(
        "rtpbin name=rb rtp-profile=avpf latency=50 do-lost=true \
         udpsrc name=rtpsrc address=127.0.0.1 port={rtp} \
           caps=\"application/x-rtp,media=video,clock-rate=90000,encoding-name=X-STREAMKIT-DELTA,payload=96,rtcp-fb-nack-pli=(boolean)true\" ! \
           rb.recv_rtp_sink_0 \
         udpsrc address=127.0.0.1 port={rtcp_to_receiver} ! rb.recv_rtcp_sink_0 \
         rb.send_rtcp_src_0 ! udpsink host=127.0.0.1 port={rtcp_to_sender} sync=false async=false \
         rb. ! rtpdeltadepay name=depay min-keyframe-interval=200000000 ! deltadec ! fakesink async=false"
    ))
    .unwrap();
    let recv_bin = receiver.clone().downcast::<gst::Bin>().unwrap();
    let depay = recv_bin.by_name("depay").unwrap();
    let enc = sender
        .clone()
        .downcast::<gst::Bin>()
        .unwrap()
        .by_name("enc")
        .unwrap();

    // Lose every 5th packet for a while once the stream is flowing.
    let count = Arc::new(Mutex::new(0u64));
    let first_drop = Arc::new(Mutex::new(None::<std::time::Instant>));
    {
        let count = count.clone();
        let first_drop = first_drop.clone();
        recv_bin
            .by_name("rtpsrc")
            .unwrap()
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let mut n = count.lock().unwrap();
                *n += 1;
                if (30..90).contains(&*n) && (*n).is_multiple_of(5) {
                    first_drop
                        .lock()
                        .unwrap()
                        .get_or_insert_with(std::time::Instant::now);
                    gst::PadProbeReturn::Drop
                } else {
                    gst::PadProbeReturn::Ok
                }
            });
    }

    receiver.set_state(gst::State::Playing).unwrap();
    sender.set_state(gst::State::Playing).unwrap();
    let forced = |enc: &gst::Element| {
        enc.property::<gst::Structure>("stats")
            .get::<u64>("forced-keyframes")
            .unwrap()
    };
    let start = std::time::Instant::now();
    let mut keyframe_after = None;
    while start.elapsed() < std::time::Duration::from_secs(8) {
        check_bus(&sender, "sender");
        check_bus(&receiver, "receiver");
        if keyframe_after.is_none() && forced(&enc) > 0 {
            keyframe_after = first_drop.lock().unwrap().map(|t| t.elapsed());
        }
        if forced(&enc) > 0
            && stat(&depay, "frames-with-loss") > 0
            && stat(&depay, "lost-events") > 0
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    eprintln!("forced keyframe seen {keyframe_after:?} after the first lost packet");
    let depay_stats = depay.property::<gst::Structure>("delta-stats");
    let enc_stats = enc.property::<gst::Structure>("stats");
    eprintln!(
        "after {:?}: {} packets seen; depay {depay_stats:?}; enc {enc_stats:?}",
        start.elapsed(),
        count.lock().unwrap()
    );
    sender.set_state(gst::State::Null).unwrap();
    receiver.set_state(gst::State::Null).unwrap();
    assert!(
        stat(&depay, "frames-with-loss") > 0,
        "the loss reached the depayloader"
    );
    assert!(stat(&depay, "keyframe-requests") > 0);
    assert!(
        forced(&enc) > 0,
        "a keyframe request reached deltaenc through RTCP"
    );
}

/// `packets` with neighbours swapped (across frame boundaries too) and some
/// repeated, from a seeded generator.
fn reorder_and_duplicate(packets: &[gst::Buffer], seed: u64) -> Vec<gst::Buffer> {
    let mut rng = Lcg(seed);
    let mut mixed = Vec::new();
    let mut i = 0;
    while i < packets.len() {
        if i + 1 < packets.len() && rng.chance(0.3) {
            mixed.push(packets[i + 1].clone());
            mixed.push(packets[i].clone());
            i += 2;
        } else {
            mixed.push(packets[i].clone());
            i += 1;
        }
        if rng.chance(0.1) {
            mixed.push(mixed[mixed.len() - 1].clone());
        }
    }
    mixed
}

#[test]
fn reordered_and_duplicated_packets_through_rtpjitterbuffer() {
    init();
    let (frames, caps) = encode(30, "tile-size=32 intra-refresh=5");
    let (packets, rtp_caps) = payload(&frames, &caps, 300);
    let mixed = reorder_and_duplicate(&packets, 5);
    let pipeline = gst::parse::launch(
        "appsrc name=src format=time is-live=true do-timestamp=true ! \
         rtpjitterbuffer latency=100 ! rtpdeltadepay name=depay ! appsink name=sink sync=false",
    )
    .unwrap()
    .downcast::<gst::Bin>()
    .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(&rtp_caps));
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    for (i, p) in mixed.iter().enumerate() {
        // Strip the sender's timestamps: arrival time is what a receiver has.
        let mut p = p.copy();
        {
            let p = p.get_mut().unwrap();
            p.set_pts(gst::ClockTime::NONE);
            p.set_dts(gst::ClockTime::NONE);
        }
        src.push_buffer(p).unwrap();
        if i % 8 == 7 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    src.end_of_stream().unwrap();
    let mut out = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        out.push(sample.buffer_owned().unwrap());
    }
    check_bus(pipeline.upcast_ref(), "jitterbuffer pipeline");
    let depay = pipeline.by_name("depay").unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(out.len(), frames.len());
    for (o, f) in out.iter().zip(&frames) {
        assert_eq!(bytes(o), bytes(f));
        assert!(!o.flags().contains(gst::BufferFlags::CORRUPTED));
    }
    assert_eq!(stat(&depay, "frames-with-loss"), 0);
}

/// Two consecutive free UDP ports, the first even (RTP and RTCP, as ffmpeg
/// expects).
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p.is_multiple_of(2)
            && p < u16::MAX
            && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
    panic!("no free pair of UDP ports on 127.0.0.1");
}

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
fn caps_follow_the_frame_header_when_rtp_caps_carry_no_geometry() {
    init();
    let (frames, caps) = encode(3, "tile-size=32");
    let (packets, _) = payload(&frames, &caps, 1400);
    let bare = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("clock-rate", 90_000i32)
        .field("encoding-name", "X-STREAMKIT-DELTA")
        .field("payload", 96i32)
        .build();
    let mut h = Harness::new("rtpdeltadepay");
    h.set_src_caps(bare);
    for p in &packets {
        h.push(p.clone()).unwrap();
    }
    h.push_event(gst::event::Eos::new());
    let mut n = 0;
    while let Some(o) = h.try_pull() {
        assert_eq!(bytes(&o), bytes(&frames[n]));
        n += 1;
    }
    assert_eq!(n, 3);
    let out = h.sinkpad().unwrap().current_caps().unwrap();
    let s = out.structure(0).unwrap();
    assert_eq!(s.name(), "video/x-streamkit-delta");
    assert_eq!(s.get::<i32>("width").unwrap(), 320);
    assert_eq!(s.get::<i32>("height").unwrap(), 240);
    assert_eq!(s.get::<&str>("format").unwrap(), "I420");
    assert_eq!(s.get::<i32>("tile-size").unwrap(), 32);
}

#[test]
fn a_new_ssrc_starts_over() {
    init();
    let (frames, caps) = encode(10, "tile-size=32 intra-refresh=5");
    let stream = |ssrc: u32, ts_offset: u32| {
        payload_with(&frames, &caps, |pay| {
            pay.set_property("ssrc", ssrc);
            pay.set_property("timestamp-offset", ts_offset);
            pay.set_property("seqnum-offset", 1000i32);
        })
    };
    // The restarted sender's timestamps are half a second behind the old
    // ones: without the SSRC check its frames would all look late.
    let (first, rtp_caps) = stream(1111, 1_000_000);
    let (second, _) = stream(2222, 1_000_000 - 45_000);
    let all: Vec<_> = first.into_iter().chain(second).collect();
    let (out, depay) = depayload(&all, &rtp_caps);
    assert_eq!(out.len(), 2 * frames.len());
    for (o, f) in out.iter().zip(frames.iter().chain(&frames)) {
        assert_eq!(bytes(o), bytes(f));
    }
    assert_eq!(stat(&depay, "restarts"), 1);
    assert_eq!(stat(&depay, "late"), 0);
    // The first frame of the new stream follows a "loss" (the switch).
    assert!(out[frames.len()]
        .flags()
        .contains(gst::BufferFlags::DISCONT));
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

#[test]
fn mutated_packets_never_panic_the_depayloader() {
    init();
    let (frames, caps) = encode(6, "tile-size=32 intra-refresh=3");
    let (packets, rtp_caps) = payload(&frames, &caps, 200);
    let mut h = Harness::new("rtpdeltadepay");
    h.set_src_caps(rtp_caps);
    let mut rng = Lcg(99);
    let mut outputs = 0;
    for i in 0..5000u32 {
        let mut data = bytes(&packets[rng.next() as usize % packets.len()]);
        // Only the payload (after the 12-byte RTP header) is mutated, so the
        // packets reach the depayloader rather than the base class's checks.
        match rng.next() % 3 {
            0 => {
                let at = 12 + rng.next() as usize % (data.len() - 12);
                data[at] ^= 1 << (rng.next() % 8);
            }
            1 => {
                let keep = 12 + rng.next() as usize % (data.len() - 12);
                data.truncate(keep);
            }
            _ => {
                let at = 12 + rng.next() as usize % (data.len() - 12);
                data[at] = rng.next() as u8;
            }
        }
        let mut b = gst::Buffer::from_mut_slice(data);
        {
            let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(b.get_mut().unwrap()).unwrap();
            rtp.set_seq(i as u16);
            rtp.set_timestamp((i / 10) * 3000);
        }
        h.push(b).unwrap();
        while let Some(o) = h.try_pull() {
            // Whatever came in, what comes out is a well-formed frame.
            let data = bytes(&o);
            let (_, records) = gststreamkit::delta::bitstream::parse_frame(&data).unwrap();
            for r in records {
                r.unwrap();
            }
            outputs += 1;
        }
    }
    let depay = h.element().unwrap();
    assert!(stat(&depay, "malformed") > 1000);
    assert!(outputs > 0);
}

#[test]
fn a_flush_forgets_the_frame_in_progress() {
    init();
    let (frames, caps) = encode(2, "tile-size=32");
    let (packets, rtp_caps) = payload(&frames, &caps, 200);
    let first_frame_packets = packets
        .iter()
        .position(|p| {
            gst_rtp::RTPBuffer::from_buffer_readable(p)
                .unwrap()
                .is_marker()
        })
        .unwrap()
        + 1;
    assert!(first_frame_packets > 2);
    let mut h = Harness::new("rtpdeltadepay");
    h.set_src_caps(rtp_caps);
    // Half of frame 0, then a flush (a seek, say), then frame 1 whole.
    for p in &packets[..first_frame_packets / 2] {
        h.push(p.clone()).unwrap();
    }
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    for p in &packets[first_frame_packets..] {
        h.push(p.clone()).unwrap();
    }
    h.push_event(gst::event::Eos::new());
    let mut out = Vec::new();
    while let Some(o) = h.try_pull() {
        out.push(o);
    }
    assert_eq!(
        out.len(),
        1,
        "only frame 1: the partial frame 0 was flushed"
    );
    assert_eq!(bytes(&out[0]), bytes(&frames[1]));
}
