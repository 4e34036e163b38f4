// SPDX-License-Identifier: MPL-2.0
//! The receiving pipeline, built element by element from their factories:
//! `udpsrc ! rtpdeltadepay ! deltadec ! framemeter ! appsink`, and what
//! the app makes of the pictures that reach it.

use anyhow::{anyhow, Result};
use gst::prelude::*;
use gst_video::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::elements::{built, chain};
use crate::picture::{checksum, DrawnPictures, StampArea};

/// What the app has received so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Pictures that reached the appsink.
    pub received: u64,
    /// Of those, pictures identical (outside the stamp) to one the app drew.
    pub exact: u64,
    /// Pictures unlike any the app drew (damaged by loss, for instance).
    pub other: u64,
    /// The number of the last picture recognised.
    pub last_matched: Option<u32>,
    /// When the last picture arrived.
    pub last_arrival: Option<Instant>,
}

/// The receiving pipeline and the elements the app reads.
pub struct Receiver {
    /// The whole pipeline.
    pub pipeline: gst::Pipeline,
    /// The depayloader, whose `delta-stats` the app reads.
    pub depayloader: gst::Element,
    /// The decoder, whose `stats` the app reads.
    pub decoder: gst::Element,
    /// The meter, whose messages and `stats` the app reads.
    pub meter: gst::Element,
    tally: Arc<Mutex<Tally>>,
}

impl Receiver {
    /// The pipeline receiving on 127.0.0.1:`port`, in NULL; `stamp` is where
    /// framestamp drew, `drawn` what the sender pushed.
    pub fn build(port: u16, stamp: StampArea, drawn: DrawnPictures) -> Result<Self> {
        // What rtpdeltapay puts in its caps that a receiver must know
        // before the first packet (the picture's size and format travel in
        // every packet's frame header).
        let rtp_caps = gst::Caps::builder("application/x-rtp")
            .field("media", "video")
            .field("clock-rate", gststreamkit::rtp::CLOCK_RATE as i32)
            .field("encoding-name", gststreamkit::rtp::ENCODING_NAME)
            .field("payload", 96i32)
            .build();
        let udpsrc = built(
            "udpsrc",
            gst::ElementFactory::make("udpsrc")
                .property("address", "127.0.0.1")
                .property("port", i32::from(port))
                .property("caps", &rtp_caps),
        )?;
        let depayloader = built("rtpdeltadepay", gst::ElementFactory::make("rtpdeltadepay"))?;
        let decoder = built("deltadec", gst::ElementFactory::make("deltadec"))?;
        // A 'framemeter' message every second of arrivals, and one at the end.
        let meter = built(
            "framemeter",
            gst::ElementFactory::make("framemeter")
                .property("x", stamp.x)
                .property("y", stamp.y)
                .property("block-size", stamp.block)
                .property("interval", gst::ClockTime::SECOND.nseconds()),
        )?;
        let appsink = built(
            "appsink",
            gst::ElementFactory::make("appsink")
                .name("app-pictures")
                .property("sync", false),
        )?;

        let pipeline = chain(
            "receiver",
            &[&udpsrc, &depayloader, &decoder, &meter, &appsink],
        )?;

        let tally = Arc::new(Mutex::new(Tally::default()));
        let appsink = appsink
            .downcast::<gst_app::AppSink>()
            .map_err(|_| anyhow!("appsink is not a GstAppSink"))?;
        let sink_tally = tally.clone();
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let seen = look_at(&sample, &stamp, &drawn);
                    let mut tally = sink_tally.lock().unwrap();
                    if tally.received == 0 {
                        println!(
                            "receiver: first picture: {}",
                            seen.map_or("unlike any drawn".to_string(), |n| format!(
                                "picture {n}, exactly as drawn"
                            ))
                        );
                    }
                    tally.received += 1;
                    tally.last_arrival = Some(Instant::now());
                    match seen {
                        Some(n) => {
                            tally.exact += 1;
                            tally.last_matched = Some(n);
                        }
                        None => {
                            tally.other += 1;
                            if tally.other <= 3 {
                                println!(
                                    "receiver: picture {} is unlike any the app drew",
                                    tally.received
                                );
                            }
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        Ok(Receiver {
            pipeline,
            depayloader,
            decoder,
            meter,
            tally,
        })
    }

    /// What has been received so far.
    pub fn tally(&self) -> Tally {
        *self.tally.lock().unwrap()
    }

    /// deltadec's `stats`: frames, keyframes, tiles applied, damage.
    pub fn decoder_stats(&self) -> gst::Structure {
        self.decoder.property("stats")
    }
}

/// Which drawn picture `sample` is, if any: its checksum outside the stamp
/// looked up among the drawn ones.
fn look_at(sample: &gst::SampleRef, stamp: &StampArea, drawn: &DrawnPictures) -> Option<u32> {
    let info = sample
        .caps()
        .and_then(|caps| gst_video::VideoInfo::from_caps(caps).ok())?;
    if info.format() != gst_video::VideoFormat::Bgrx {
        return None;
    }
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer()?, &info).ok()?;
    let bytes = frame.plane_data(0).ok()?;
    let stride = frame.plane_stride()[0] as usize;
    drawn.find(checksum(bytes, stride, info.width(), info.height(), stamp))
}
