// SPDX-License-Identifier: MPL-2.0
//! Building pipelines from descriptions and running them to the end.

use gst::prelude::*;
use std::time::{Duration, Instant};

/// What ended a pipeline run.
#[derive(Debug)]
pub enum Outcome {
    Eos,
    Error {
        src: String,
        message: String,
        debug: String,
    },
    Timeout,
}

/// Plays `pipeline` until EOS, an error, or `timeout`; then sets it to NULL.
/// `on_message` sees every other message.
pub fn run(
    pipeline: &gst::Pipeline,
    timeout: Duration,
    mut on_message: impl FnMut(&gst::Message),
) -> Outcome {
    let bus = pipeline.bus().expect("pipeline bus");
    // A failed state change still posts its error on the bus, read below.
    let _ = pipeline.set_state(gst::State::Playing);
    let deadline = Instant::now() + timeout;
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Outcome::Timeout;
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(left.as_millis() as u64))
        else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Outcome::Eos,
            gst::MessageView::Error(e) => {
                break Outcome::Error {
                    src: msg.src().map(|s| s.name().to_string()).unwrap_or_default(),
                    message: e.error().to_string(),
                    debug: e.debug().map(|d| d.to_string()).unwrap_or_default(),
                }
            }
            _ => on_message(&msg),
        }
    };
    pipeline.set_state(gst::State::Null).expect("to NULL");
    outcome
}

/// The pipeline `description` describes; panics naming it if it does not
/// parse.
pub fn parse(description: &str) -> gst::Pipeline {
    gst::parse::launch(description)
        .unwrap_or_else(|e| panic!("bad pipeline {description}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline")
}

/// Panics with the first error waiting on `pipeline`'s bus, naming `what`;
/// drops every other message waiting there.
pub fn check_bus(pipeline: &gst::Element, what: &str) {
    let bus = pipeline.bus().unwrap();
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("{what}: {} ({:?})", e.error(), e.debug());
        }
    }
}

/// The `appsrc` named `name` in `bin`.
pub fn appsrc(bin: &impl IsA<gst::Bin>, name: &str) -> gst_app::AppSrc {
    bin.as_ref()
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
        .downcast::<gst_app::AppSrc>()
        .unwrap_or_else(|_| panic!("{name} is not an appsrc"))
}

/// The `appsink` named `name` in `bin`.
pub fn appsink(bin: &impl IsA<gst::Bin>, name: &str) -> gst_app::AppSink {
    bin.as_ref()
        .by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
        .downcast::<gst_app::AppSink>()
        .unwrap_or_else(|_| panic!("{name} is not an appsink"))
}
