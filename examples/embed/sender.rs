// SPDX-License-Identifier: MPL-2.0
//! The sending pipeline, built element by element from their factories:
//! `appsrc ! framestamp ! deltaenc ! rtpdeltapay ! udpsink`.

use anyhow::{anyhow, Context, Result};
use gst::prelude::*;

use crate::elements::{built, chain};
use crate::options::Options;
use crate::picture::{DrawnPictures, Picture, StampArea};

/// The sending pipeline and the elements the app talks to while it plays.
pub struct Sender {
    /// The whole pipeline.
    pub pipeline: gst::Pipeline,
    /// Where the app's pictures go in.
    pub appsrc: gst_app::AppSrc,
    /// The encoder, whose properties the app changes and reads.
    pub encoder: gst::Element,
    /// The payloader, whose negotiated caps and stats the app reads.
    pub payloader: gst::Element,
    drawn: DrawnPictures,
    stamp: StampArea,
}

impl Sender {
    /// The pipeline for `options`, in NULL; `stamp` is where framestamp
    /// draws, `drawn` where the pushed pictures' checksums go.
    pub fn build(options: &Options, stamp: StampArea, drawn: DrawnPictures) -> Result<Self> {
        let caps = gst_video::VideoInfo::builder(
            gst_video::VideoFormat::Bgrx,
            options.width,
            options.height,
        )
        .fps(gst::Fraction::new(options.fps as i32, 1))
        .build()
        .and_then(|info| info.to_caps())
        .with_context(|| format!("no caps for {}x{}", options.width, options.height))?;
        // A live source stamped with the clock as each picture is pushed:
        // the picture is "captured" when the app hands it over.
        let appsrc = built(
            "appsrc",
            gst::ElementFactory::make("appsrc")
                .name("app-pictures")
                .property("caps", &caps)
                .property("format", gst::Format::Time)
                .property("is-live", true)
                .property("do-timestamp", true),
        )?;
        let framestamp = built(
            "framestamp",
            gst::ElementFactory::make("framestamp")
                .property("x", stamp.x)
                .property("y", stamp.y)
                .property("block-size", stamp.block),
        )?;
        // Changes only: no keyframe after the first (key-int-max=0) until the
        // app asks for them while playing; intra refresh re-sends every tile
        // within 30 frames, so a receiver that missed a packet converges.
        let encoder = built(
            "deltaenc",
            gst::ElementFactory::make("deltaenc")
                .property("tile-size", 32u32)
                .property("intra-refresh", 30u32)
                .property("key-int-max", 0u32),
        )?;
        let payloader = built(
            "rtpdeltapay",
            gst::ElementFactory::make("rtpdeltapay")
                .property("mtu", 1200u32)
                .property("pt", 96u32),
        )?;
        // The live source paces the packets; syncing on the clock would only
        // hold each one back by the pipeline's latency.
        let udpsink = built(
            "udpsink",
            gst::ElementFactory::make("udpsink")
                .property("host", "127.0.0.1")
                .property("port", i32::from(options.port))
                .property("sync", false),
        )?;

        let pipeline = chain(
            "sender",
            &[&appsrc, &framestamp, &encoder, &payloader, &udpsink],
        )?;
        let appsrc = appsrc
            .downcast::<gst_app::AppSrc>()
            .map_err(|_| anyhow!("appsrc is not a GstAppSrc"))?;
        Ok(Sender {
            pipeline,
            appsrc,
            encoder,
            payloader,
            drawn,
            stamp,
        })
    }

    /// Hands picture `n` to the pipeline, after noting its checksum for the
    /// receiving side.
    pub fn push(&self, n: u32, picture: Picture) -> Result<()> {
        self.drawn.note(picture.checksum(&self.stamp), n);
        let buffer = gst::Buffer::from_mut_slice(picture.into_bytes());
        self.appsrc
            .push_buffer(buffer)
            .map(|_| ())
            .map_err(|e| anyhow!("{e:?}"))
    }

    /// deltaenc's `stats`: frames, keyframes, tiles and bytes since start.
    pub fn encoder_stats(&self) -> gst::Structure {
        self.encoder.property("stats")
    }
}
