// SPDX-License-Identifier: MPL-2.0
//! `streamkit-relay`: receives one changes-only stream and serves it to any
//! number of RTSP viewers (docs/relay.md).
//!
//! A viewer plays it with
//! `gst-launch-1.0 rtspsrc location=rtsp://127.0.0.1:8554/delta latency=0 ! rtpdeltadepay ! deltadec ! videoconvert ! autovideosink`.
//! A late joiner's first frame is a whole picture made from the relay's own
//! state, sent to it alone: the origin never hears of a join.

mod factory;
mod hub;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

use crate::hub::{Codec, Hub};
use gststreamkit::relay::gate::JoinPolicy;

/// What a join does for a stream the relay cannot make pictures of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Join {
    /// Wait for the origin's next keyframe.
    Wait,
    /// Ask the origin for a keyframe (everybody receives it).
    Force,
}

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Where the stream comes from: `udp://HOST:PORT` (RTP from a sender
    /// such as pipelines/rtp-delta-send.sh, with RTCP in on PORT+1 and out
    /// to the sender on PORT+5), or `rtsp://...` (another relay: a cascade).
    #[arg(long)]
    input: String,
    /// The stream carried: the changes-only stream, or H.264 or MJPEG over
    /// RTP for comparison (those are only passed on: a joiner waits for a
    /// keyframe).
    #[arg(long, value_enum, default_value_t = Codec::Delta)]
    codec: Codec,
    /// The sender's `cache-tiles` (its SDP's a=fmtp parameter; 0 when it
    /// has none), for `udp://` input, where no SDP arrives: the relay's
    /// decoder must keep the same tile cache as the sender to hold the
    /// stream's state, and passes it on to its viewers. An `rtsp://` input
    /// brings it in its SDP.
    #[arg(long, default_value_t = 0)]
    cache_tiles: u32,
    /// H.264: what a join does (the changes-only stream needs neither, its
    /// joiners get a picture from the relay; MJPEG frames are all pictures).
    #[arg(long, value_enum, default_value_t = Join::Wait)]
    join: Join,
    /// Address the RTSP server listens on.
    #[arg(long, default_value = "127.0.0.1")]
    address: String,
    /// RTSP port.
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Path of the stream on the server (default: /delta, /h264 or /jpeg).
    #[arg(long)]
    mount: Option<String>,
    /// Jitter buffer of the ingest, ms (reordering it can repair; every ms
    /// is latency for every viewer).
    #[arg(long, default_value_t = 20)]
    ingest_latency: u32,
    /// A viewer with more than this many bytes waiting to be sent is slow:
    /// it skips frames until it has caught up, then gets a picture of its
    /// own.
    #[arg(long, default_value_t = 4 << 20)]
    max_viewer_queue: u64,
    /// Seconds without a sign of life (RTSP keep-alive or RTCP) after which
    /// a viewer's session is closed.
    #[arg(long, default_value_t = 10)]
    session_timeout: u32,
    /// Threads that serve RTSP requests. A DESCRIBE waits until the
    /// viewer's first frame has gone through its media (the next frame from
    /// the origin, or for H.264 the next keyframe), and a thread serving it
    /// serves nothing else meanwhile; so joiners are served in parallel up
    /// to this many.
    #[arg(long, default_value_t = 16)]
    client_threads: i32,
    /// Print the relay's counters every this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    stats_interval: u32,
}

/// The ingest: the origin's RTP into whole frames for the hub.
fn ingest_pipeline(args: &Args) -> Result<gst::Pipeline> {
    let (rtp_caps, depay) = args.codec.ingest();
    let description = if args.input.starts_with("rtsp://") {
        format!(
            "rtspsrc location={} latency={} ! {depay} ! appsink name=frames",
            args.input, args.ingest_latency
        )
    } else if let Some(hostport) = args.input.strip_prefix("udp://") {
        let (host, port) = hostport
            .rsplit_once(':')
            .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h, p)))
            .with_context(|| format!("--input {}: expected udp://HOST:PORT", args.input))?;
        let (rtcp_in, rtcp_out) = (port.saturating_add(1), port.saturating_add(5));
        let rtp_caps = match args.codec {
            Codec::Delta => format!("{rtp_caps},cache-tiles=(string){}", args.cache_tiles),
            _ => rtp_caps.to_string(),
        };
        format!(
            "rtpbin name=rb rtp-profile=avpf latency={lat} \
             udpsrc address={host} port={port} caps=\"{rtp_caps}\" ! rb.recv_rtp_sink_0 \
             udpsrc address={host} port={rtcp_in} ! rb.recv_rtcp_sink_0 \
             rb.send_rtcp_src_0 ! udpsink host={host} port={rtcp_out} sync=false async=false \
             funnel name=ssrcs ! {depay} ! appsink name=frames",
            lat = args.ingest_latency
        )
    } else {
        bail!(
            "--input {}: expected udp://HOST:PORT or rtsp://...",
            args.input
        );
    };
    let pipeline = gst::parse::launch(&description)
        .context("ingest pipeline")?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("ingest pipeline is not a pipeline"))?;
    if let (Some(rtpbin), Some(funnel)) = (pipeline.by_name("rb"), pipeline.by_name("ssrcs")) {
        // Every source the session sees goes to the depayloader: a sender
        // that restarts comes back with a new SSRC, and the relay follows
        // it (its first frames count as a loss) instead of stopping on an
        // unlinked pad.
        let funnel = funnel.downgrade();
        rtpbin.connect_pad_added(move |_, pad| {
            if !pad.name().starts_with("recv_rtp_src_") {
                return;
            }
            let Some(funnel) = funnel.upgrade() else {
                return;
            };
            if let Some(sink) = funnel.request_pad_simple("sink_%u") {
                if let Err(e) = pad.link(&sink) {
                    eprintln!("streamkit-relay: cannot take a new RTP source: {e}");
                }
            }
        });
    }
    Ok(pipeline)
}

fn run(args: Args) -> Result<()> {
    gst::init()?;
    gststreamkit::plugin_register_static()?;
    let policy = match args.join {
        Join::Wait => JoinPolicy::WaitForKeyframe,
        Join::Force => JoinPolicy::ForceKeyframe,
    };
    let hub = Hub::new(args.codec, policy, args.max_viewer_queue);

    let ingest = ingest_pipeline(&args)?;
    let sink = ingest
        .by_name("frames")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .context("ingest pipeline has no appsink")?;
    sink.set_sync(false);
    hub.set_upstream(sink.static_pad("sink").context("appsink has no sink pad")?);
    {
        let hub = hub.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(buffer) = sample.buffer() {
                        hub.ingest(sample.caps(), buffer);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }

    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address(&args.address);
    server.set_service(&args.port.to_string());
    let mount = args.mount.clone().unwrap_or_else(|| {
        match args.codec {
            Codec::Delta => "/delta",
            Codec::H264 => "/h264",
            Codec::Jpeg => "/jpeg",
        }
        .to_string()
    });
    let mounts = server
        .mount_points()
        .context("RTSP server has no mount points")?;
    mounts.add_factory(&mount, factory::RelayFactory::new(hub.clone(), args.codec));
    if let Some(pool) = server.thread_pool() {
        pool.set_max_threads(args.client_threads.max(1));
    }
    let timeout = args.session_timeout;
    server.connect_client_connected(move |_, client| {
        client.connect_new_session(move |_, session| session.set_timeout(timeout));
    });
    let pool = server
        .session_pool()
        .context("RTSP server has no session pool")?;
    glib::timeout_add_seconds(1, move || {
        pool.cleanup();
        glib::ControlFlow::Continue
    });
    let _source = server
        .attach(None)
        .with_context(|| format!("cannot listen on {}:{}", args.address, args.port))?;

    let main_loop = glib::MainLoop::new(None, false);
    if let Some(bus) = ingest.bus() {
        let main_loop = main_loop.clone();
        let _ = bus
            .add_watch(move |_, msg| {
                match msg.view() {
                    gst::MessageView::Error(e) => {
                        eprintln!("streamkit-relay: ingest: {} ({:?})", e.error(), e.debug());
                        main_loop.quit();
                    }
                    gst::MessageView::Eos(_) => {
                        eprintln!("streamkit-relay: the origin's stream ended");
                        main_loop.quit();
                    }
                    _ => {}
                }
                glib::ControlFlow::Continue
            })
            .map(std::mem::ManuallyDrop::new);
    }
    if args.stats_interval > 0 {
        let hub = hub.clone();
        glib::timeout_add_seconds(args.stats_interval, move || {
            print_stats(&hub);
            glib::ControlFlow::Continue
        });
    }
    ingest
        .set_state(gst::State::Playing)
        .context("ingest does not start")?;
    println!(
        "streamkit-relay: serving rtsp://{}:{}{} from {}",
        args.address, args.port, mount, args.input
    );
    main_loop.run();
    let _ = ingest.set_state(gst::State::Null);
    print_stats(&hub);
    Ok(())
}

fn print_stats(hub: &Arc<Hub>) {
    let s = hub.stats();
    println!(
        "stats: viewers={} joins={} leaves={} frames_in={} frames_damaged={} frames_refused={} \
         snapshots={} keyframes_reused={} pictures_served={} pictures_before_play={} \
         viewer_requests={} \
         slow_viewer_resyncs={} upstream_keyframe_requests={} buffers_out={}",
        s.viewers,
        s.joins,
        s.leaves,
        s.frames_in,
        s.frames_damaged,
        s.frames_refused,
        s.snapshots,
        s.keyframes_reused,
        s.pictures_served,
        s.pictures_before_play,
        s.viewer_requests,
        s.slow_viewer_resyncs,
        s.upstream_keyframe_requests,
        s.buffers_out
    );
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("streamkit-relay: {e:#}");
        std::process::exit(1);
    }
    // Let a final stats line reach a pipe before exiting.
    std::thread::sleep(Duration::from_millis(10));
}
