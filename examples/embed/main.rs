// SPDX-License-Identifier: MPL-2.0
//! Embedding the streamkit elements in an application: the app draws its own
//! pictures and sends them as a changes-only RTP stream to itself over
//! loopback, receives them and checks every picture against what it drew,
//! raises a property of the encoder while playing, reads the elements'
//! `stats` and handles the bus. `examples/embed.py` is the same app in
//! Python. `cargo run --example embed -- --help` says how to run it.

mod elements;
mod options;
mod picture;
mod receiver;
mod report;
mod sender;

use anyhow::{Context, Result};
use gst::prelude::*;
use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use options::{parse_options, Options, HELP};
use picture::{DrawnPictures, Picture, StampArea};
use receiver::Receiver;
use sender::Sender;

/// Where `framestamp` draws and `framemeter` reads the stamp code. Set on
/// both elements by the app (their defaults would do too), so that the app
/// knows which pixels are not its own.
const STAMP: StampArea = StampArea {
    x: 16,
    y: 32,
    block: 8,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_options(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("embed: {e:#} (--help lists the options)");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = gst::init() {
        eprintln!("embed: GStreamer does not initialise: {e}");
        return ExitCode::from(1);
    }
    // The elements are compiled into this program: no GST_PLUGIN_PATH needed.
    if let Err(e) = gststreamkit::plugin_register_static() {
        eprintln!("embed: cannot register the streamkit elements: {e}");
        return ExitCode::from(1);
    }
    match run(&options) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("embed: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// How the run is going, shared by the main loop's callbacks (all on the
/// main thread).
struct Run {
    options: Options,
    sender: Sender,
    receiver: Receiver,
    main_loop: glib::MainLoop,
    /// Pictures pushed so far.
    pushed: Cell<u32>,
    /// deltaenc's keyframes just before the property change.
    keyframes_before_change: Cell<Option<u64>>,
    /// Set when the receiver has reached end of stream.
    receiver_eos: Cell<bool>,
    /// The exit status, once decided.
    exit: Cell<Option<u8>>,
    started: Instant,
}

impl Run {
    fn finish(&self, code: u8) {
        if self.exit.get().is_none() {
            self.exit.set(Some(code));
        }
        self.main_loop.quit();
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

fn run(options: &Options) -> Result<u8> {
    let drawn = DrawnPictures::default();
    let receiver = Receiver::build(options.port, STAMP, drawn.clone())?;
    let sender = Sender::build(options, STAMP, drawn)?;
    println!(
        "embed: {} pictures of {}x{} at {} fps to 127.0.0.1:{}; key-int-max 0 -> {} after picture {}",
        options.frames,
        options.width,
        options.height,
        options.fps,
        options.port,
        options.key_int_max,
        options.change_at
    );

    let run = Rc::new(Run {
        options: options.clone(),
        sender,
        receiver,
        main_loop: glib::MainLoop::new(None, false),
        pushed: Cell::new(0),
        keyframes_before_change: Cell::new(None),
        receiver_eos: Cell::new(false),
        exit: Cell::new(None),
        started: Instant::now(),
    });

    // The watches live as long as their guards: until the loop ends.
    let _sender_watch = watch_bus(&run, run.sender.pipeline.clone(), "sender")?;
    let _receiver_watch = watch_bus(&run, run.receiver.pipeline.clone(), "receiver")?;

    // The receiver first, so that its socket is bound before the first
    // packet (the keyframe) is sent: udpsrc binds it on the way to READY,
    // inside this call.
    for (side, pipeline) in [
        ("receiver", &run.receiver.pipeline),
        ("sender", &run.sender.pipeline),
    ] {
        if pipeline.set_state(gst::State::Playing).is_err() {
            println!("{side}: does not start: {}", start_error(pipeline));
            // Elements are disposed of in NULL only.
            let _ = run.sender.pipeline.set_state(gst::State::Null);
            let _ = run.receiver.pipeline.set_state(gst::State::Null);
            return Ok(1);
        }
    }

    // The app's frame clock: one picture per tick, as a drawing app would
    // hand over what it has just rendered.
    let frame_interval = Duration::from_secs_f64(1.0 / f64::from(options.fps));
    let weak = Rc::downgrade(&run);
    glib::timeout_add_local(frame_interval, move || match weak.upgrade() {
        Some(run) if push_next_picture(&run) => glib::ControlFlow::Continue,
        _ => glib::ControlFlow::Break,
    });

    // Sources left on the main context when the loop ends are never
    // dispatched again: the process ends first.
    let weak = Rc::downgrade(&run);
    glib::timeout_add_local_once(options.timeout, move || {
        if let Some(run) = weak.upgrade() {
            let received = run.receiver.tally().received;
            println!(
                "embed: timed out after {:.1} s: {} pictures pushed, {received} received",
                run.elapsed(),
                run.pushed.get(),
            );
            run.finish(1);
        }
    });

    run.main_loop.run();
    let _ = run.sender.pipeline.set_state(gst::State::Null);
    let _ = run.receiver.pipeline.set_state(gst::State::Null);
    let code = run.exit.get().unwrap_or(1);
    Ok(if code == 0 { verdict(&run) } else { code })
}

/// Why `pipeline` failed to start: the error its element posted (the main
/// loop that would print it is not running yet).
fn start_error(pipeline: &gst::Pipeline) -> String {
    pipeline
        .bus()
        .and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]))
        .map_or_else(|| "no element said why".to_string(), |msg| error_text(&msg))
}

/// An error or warning message as "error from <element path>: <text> (<details>)".
fn error_text(msg: &gst::Message) -> String {
    let from = msg
        .src()
        .map(|s| s.path_string().to_string())
        .unwrap_or_default();
    let (kind, error, debug) = match msg.view() {
        gst::MessageView::Error(e) => ("error", e.error(), e.debug()),
        gst::MessageView::Warning(w) => ("warning", w.error(), w.debug()),
        _ => return format!("{:?} from {from}", msg.type_()),
    };
    format!(
        "{kind} from {from}: {error} ({})",
        debug.as_deref().unwrap_or("no details")
    )
}

/// Draws and pushes the next picture; false once all are pushed.
fn push_next_picture(run: &Run) -> bool {
    let n = run.pushed.get();
    let o = &run.options;
    if n == o.change_at {
        change_property(run);
    }
    if n == o.frames {
        println!(
            "sender:   all {n} pictures pushed after {:.1} s; end of stream",
            run.elapsed()
        );
        let _ = run.sender.appsrc.end_of_stream();
        return false;
    }
    let picture = Picture::draw(n, o.width, o.height);
    if let Err(e) = run.sender.push(n, picture) {
        println!("sender:   picture {n} refused: {e}");
        run.finish(1);
        return false;
    }
    run.pushed.set(n + 1);
    if (n + 1).is_multiple_of(o.fps) {
        println!(
            "sender:   {} pictures pushed; deltaenc: {}",
            n + 1,
            report::encoder_line(&run.sender.encoder_stats())
        );
    }
    true
}

/// The property change while playing: from now on a keyframe every
/// `key-int-max` frames. deltaenc applies it from its next frame.
fn change_property(run: &Run) {
    let encoder = &run.sender.encoder;
    let stats = run.sender.encoder_stats();
    let keyframes = stats.get::<u64>("keyframes").unwrap_or(0);
    run.keyframes_before_change.set(Some(keyframes));
    let old: u32 = encoder.property("key-int-max");
    encoder.set_property("key-int-max", run.options.key_int_max);
    let new: u32 = encoder.property("key-int-max");
    println!(
        "app:      after picture {}: deltaenc key-int-max {old} -> {new} while playing \
         (keyframes so far: {keyframes})",
        run.pushed.get()
    );
}

/// Handles the messages of `pipeline`'s bus on the main loop.
fn watch_bus(
    run: &Rc<Run>,
    pipeline: gst::Pipeline,
    side: &'static str,
) -> Result<gst::bus::BusWatchGuard> {
    let bus = pipeline.bus().context("a pipeline without a bus")?;
    let weak = Rc::downgrade(run);
    bus.add_watch_local(move |_, msg| {
        let Some(run) = weak.upgrade() else {
            return glib::ControlFlow::Break;
        };
        match msg.view() {
            gst::MessageView::Error(_) => {
                println!("{side}: {}", error_text(msg));
                run.finish(1);
            }
            gst::MessageView::Warning(_) => println!("{side}: {}", error_text(msg)),
            // A live pipeline's latency is known once every element has
            // said its own: the app tells the pipeline to add it up again.
            gst::MessageView::Latency(_) => {
                let _ = pipeline.recalculate_latency();
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "framemeter") {
                    println!("receiver: framemeter: {}", report::meter_line(s));
                }
            }
            gst::MessageView::Eos(_) if side == "sender" => {
                println!(
                    "sender:   end of stream: every packet is out ({:.1} s)",
                    run.elapsed()
                );
                drain_receiver(&run);
            }
            gst::MessageView::Eos(_) => {
                println!("receiver: end of stream ({:.1} s)", run.elapsed());
                run.receiver_eos.set(true);
                final_report(&run);
                run.finish(0);
            }
            _ => (),
        }
        glib::ControlFlow::Continue
    })
    .with_context(|| format!("cannot watch the {side}'s bus"))
}

/// UDP carries no end of stream: once the last picture is in (or nothing
/// came for two seconds), the app ends the receiver's stream itself, and
/// framemeter posts its last message on the way.
fn drain_receiver(run: &Rc<Run>) {
    let weak = Rc::downgrade(run);
    let last = run.pushed.get().checked_sub(1);
    glib::timeout_add_local(Duration::from_millis(50), move || {
        let Some(run) = weak.upgrade() else {
            return glib::ControlFlow::Break;
        };
        let tally = run.receiver.tally();
        let quiet = tally
            .last_arrival
            .is_none_or(|t| t.elapsed() > Duration::from_secs(2));
        if tally.last_matched == last || quiet {
            if quiet {
                println!("receiver: nothing new for 2 s: ending the stream");
            }
            run.receiver.pipeline.send_event(gst::event::Eos::new());
            return glib::ControlFlow::Break;
        }
        glib::ControlFlow::Continue
    });
}

fn final_report(run: &Run) {
    println!("stats at the end:");
    for (title, stats) in [
        ("deltaenc", run.sender.encoder_stats()),
        ("rtpdeltapay", run.sender.payloader.property("stats")),
        (
            "rtpdeltadepay",
            run.receiver.depayloader.property("delta-stats"),
        ),
        ("deltadec", run.receiver.decoder_stats()),
        ("framemeter", run.receiver.meter.property("stats")),
    ] {
        print!("{}", report::stats_block(title, &stats));
    }
    if let Some(caps) = run
        .sender
        .payloader
        .static_pad("src")
        .and_then(|p| p.current_caps())
    {
        println!("the RTP caps the payloader sent (an SDP would carry them): {caps}");
    }
}

/// The app's own checks, printed, and the exit status they give.
fn verdict(run: &Run) -> u8 {
    let tally = run.receiver.tally();
    let encoder = run.sender.encoder_stats();
    let decoder = run.receiver.decoder_stats();
    let keyframes_end = encoder.get::<u64>("keyframes").unwrap_or(0);
    let keyframes_before = run.keyframes_before_change.get();
    let decoder_keyframes = decoder.get::<u64>("keyframes").unwrap_or(0);
    println!(
        "app:      sent {} pictures, received {}: {} exactly as drawn, {} not; last one \
         received was picture {}",
        run.pushed.get(),
        tally.received,
        tally.exact,
        tally.other,
        tally
            .last_matched
            .map_or_else(|| "-".to_string(), |n| n.to_string()),
    );
    println!(
        "app:      keyframes: {} before the change, {keyframes_end} at the end (the decoder \
         saw {decoder_keyframes})",
        keyframes_before.map_or_else(|| "-".to_string(), |n| n.to_string()),
    );
    let mut failed = Vec::new();
    if tally.received == 0 {
        failed.push("no picture arrived");
    }
    if tally.other > 0 {
        failed.push("some pictures arrived unlike any the app drew");
    }
    // With key-int-max N, a keyframe is due within N pictures of the change.
    let o = &run.options;
    let keyframe_due =
        o.key_int_max > 0 && run.pushed.get().saturating_sub(o.change_at) >= o.key_int_max;
    if keyframe_due && keyframes_before.is_none_or(|before| keyframes_end <= before) {
        failed.push("the key-int-max change did not show in deltaenc's keyframes");
    }
    if !keyframe_due {
        println!("app:      too few pictures after the change to expect a keyframe: not checked");
    }
    for f in &failed {
        println!("app:      check failed: {f}");
    }
    println!(
        "result: sent={} received={} exact={} other={} last-picture={} \
         keyframes-before-change={} keyframes-at-end={} decoder-keyframes={} eos={}",
        run.pushed.get(),
        tally.received,
        tally.exact,
        tally.other,
        tally.last_matched.map_or(-1, i64::from),
        keyframes_before.map_or(-1, |n| n as i64),
        keyframes_end,
        decoder_keyframes,
        run.receiver_eos.get(),
    );
    if failed.is_empty() {
        0
    } else {
        3
    }
}
