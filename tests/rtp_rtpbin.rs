// SPDX-License-Identifier: MPL-2.0
//! A real rtpbin loop over loopback UDP: loss on the receiver side becomes
//! an RTCP keyframe request that reaches deltaenc.

mod common;

use common::init;
use common::net::free_ports;
use common::pipeline::check_bus;
use common::rtp::stat;
use gst::prelude::*;
use std::sync::{Arc, Mutex};

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
