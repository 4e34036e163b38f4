// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-framestamp
 * @see_also: framemeter
 *
 * Draws a machine-readable code of large black and white blocks into each
 * raw video frame: the frame number (counting from 0 when the element
 * starts) and the capture time in nanoseconds on the host's monotonic clock
 * (GStreamer's system clock, `CLOCK_MONOTONIC`). The code survives JPEG,
 * H.264, chroma subsampling and colour conversion; `framemeter` reads it at
 * the far end to measure glass-to-glass latency, lost and frozen frames.
 *
 * The capture time is, by default, the moment the frame's timestamp was on
 * the pipeline clock (exact for live sources), carried over to the system
 * clock so that a receiver in another pipeline or process on the same host
 * reads the same clock. With `time-source=now` it is the moment framestamp
 * handles the frame.
 *
 * The code is 16 x 8 blocks of `block-size` pixels at (`x`, `y`): 256 x 128
 * pixels with the default 16-pixel blocks. `framemeter` must be given the same
 * position and block size, and see the picture at the same size.
 *
 * Caps: raw video in planar and packed YUV (I420, YV12, NV12, NV21, Y42B,
 * Y444, YUY2, UYVY), GRAY8 and 24- or 32-bit RGB, any size; the stamp is
 * drawn in place.
 *
 * Properties: `x`, `y` and `block-size` in pixels; `time-source`; the
 * read-only `frames-stamped` count.
 *
 * ## Example launch line
 * Stamp, code as JPEG and measure at once; `-m` prints framemeter's
 * summaries:
 * |[
 * gst-launch-1.0 -m videotestsrc num-buffers=90 is-live=true ! video/x-raw,width=640,height=360,framerate=30/1 ! \
 *     framestamp ! jpegenc quality=50 ! jpegdec ! framemeter interval=1000000000 ! \
 *     fakesink
 * ]|
 * Put `autovideosink` in place of `fakesink` to see the code in the corner.
 */
use once_cell::sync::Lazy;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use super::FrameStampTimeSource;
use crate::gstcommon::stampframe::{
    DEFAULT_BLOCK_SIZE, DEFAULT_X, DEFAULT_Y, MAX_BLOCK_SIZE, MAX_POSITION, MIN_BLOCK_SIZE,
};
use crate::measure::stampcode::{Stamp, StampLayout};

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "framestamp",
        gst::DebugColorFlags::empty(),
        Some("Stamps frame number and capture time into video"),
    )
});

const DEFAULT_TIME_SOURCE: FrameStampTimeSource = FrameStampTimeSource::Buffer;

#[derive(Debug, Clone, Copy)]
struct Settings {
    x: u32,
    y: u32,
    block_size: u32,
    time_source: FrameStampTimeSource,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            x: DEFAULT_X,
            y: DEFAULT_Y,
            block_size: DEFAULT_BLOCK_SIZE,
            time_source: DEFAULT_TIME_SOURCE,
        }
    }
}

impl Settings {
    fn layout(&self) -> StampLayout {
        StampLayout {
            x: self.x,
            y: self.y,
            block: self.block_size.max(1),
        }
    }
}

#[derive(Default)]
pub struct FrameStamp {
    settings: Mutex<Settings>,
    /// Number the next frame gets; reset on start.
    next_frame: AtomicU64,
}

impl FrameStamp {
    /// The capture time of `buffer` on the host clock (see [`crate::gstcommon::stampframe::host_clock_time`]).
    fn capture_time(&self, buffer: &gst::BufferRef, source: FrameStampTimeSource) -> u64 {
        let now = crate::gstcommon::stampframe::host_clock_time();
        if source == FrameStampTimeSource::Now {
            return now;
        }
        let obj = self.obj();
        let (Some(clock), Some(base_time), Some(pts)) =
            (obj.clock(), obj.base_time(), buffer.pts())
        else {
            return now;
        };
        let segment = obj.segment();
        let Some(running_time) = segment
            .downcast_ref::<gst::ClockTime>()
            .and_then(|s| s.to_running_time(pts))
        else {
            return now;
        };
        let clock_now = clock.time();
        // How long ago the frame's timestamp was on the pipeline clock; a
        // frame ahead of the clock (non-live source) counts as captured now.
        let age = clock_now
            .nseconds()
            .saturating_sub(base_time.nseconds().saturating_add(running_time.nseconds()));
        now.saturating_sub(age)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FrameStamp {
    const NAME: &'static str = "GstFrameStamp";
    type Type = super::FrameStamp;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for FrameStamp {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            vec![
                glib::ParamSpecUInt::builder("x")
                    .nick("X")
                    .blurb("Left edge of the code, in pixels")
                    .maximum(MAX_POSITION)
                    .default_value(DEFAULT_X)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("y")
                    .nick("Y")
                    .blurb("Top edge of the code, in pixels")
                    .maximum(MAX_POSITION)
                    .default_value(DEFAULT_Y)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("block-size")
                    .nick("Block size")
                    .blurb(
                        "Side of one block of the code, in pixels; the code is 16 x 8 blocks. \
                         Multiples of 16 align with H.264 macroblocks and survive best",
                    )
                    .minimum(MIN_BLOCK_SIZE)
                    .maximum(MAX_BLOCK_SIZE)
                    .default_value(DEFAULT_BLOCK_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("time-source", DEFAULT_TIME_SOURCE)
                    .nick("Time source")
                    .blurb(
                        "Which moment the stamped capture time records, in nanoseconds on the \
                         system clock (CLOCK_MONOTONIC)",
                    )
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-stamped")
                    .nick("Frames stamped")
                    .blurb("Number of frames stamped since the element started")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "x" => settings.x = value.get().expect("type checked upstream"),
            "y" => settings.y = value.get().expect("type checked upstream"),
            "block-size" => settings.block_size = value.get().expect("type checked upstream"),
            "time-source" => settings.time_source = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
        gst::debug!(CAT, imp = self, "{} set: {:?}", pspec.name(), *settings);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "x" => settings.x.to_value(),
            "y" => settings.y.to_value(),
            "block-size" => settings.block_size.to_value(),
            "time-source" => settings.time_source.to_value(),
            "frames-stamped" => self.next_frame.load(Ordering::Relaxed).to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for FrameStamp {}

impl ElementImpl for FrameStamp {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Frame stamp",
                "Filter/Effect/Video",
                "Draws frame number and capture time into frames as a block code that \
                 survives lossy coding, for framemeter to read (docs/measure.md). Example: \
                 gst-launch-1.0 videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240 \
                 ! framestamp ! jpegenc ! jpegdec ! framemeter ! fakesink",
                "Streamkit developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let caps = crate::gstcommon::stampframe::raw_caps();
            crate::gstcommon::padtemplates::sink_and_src(&caps, &caps)
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FrameStamp {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.next_frame.store(0, Ordering::Relaxed);
        gst::debug!(CAT, imp = self, "started, frame numbers from 0");
        Ok(())
    }
}

impl VideoFilterImpl for FrameStamp {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let layout = self.settings.lock().unwrap().layout();
        if let Err(err) = layout.check_fits(in_info.width(), in_info.height()) {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ("The stamp code does not fit: {err}; lower x, y or block-size, or stamp a larger picture"),
                ["{err}"]
            );
            return Err(gst::loggable_error!(CAT, "stamp does not fit: {err}"));
        }
        gst::debug!(
            CAT,
            imp = self,
            "stamping {:?} at {:?}",
            in_info.format(),
            layout
        );
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }

    fn transform_frame_ip(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = *self.settings.lock().unwrap();
        let capture_time_ns = self.capture_time(frame.buffer(), settings.time_source);
        let number = self.next_frame.fetch_add(1, Ordering::Relaxed);
        // 32 bits in the code; wrapping is years away at any frame rate
        let stamp = Stamp {
            frame: number as u32,
            capture_time_ns,
        };
        if let Err(err) =
            crate::gstcommon::stampframe::draw_frame_stamp(frame, &settings.layout(), &stamp)
        {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ("The stamp code does not fit: {err}; lower x, y or block-size, or stamp a larger picture"),
                ["{err}"]
            );
            return Err(gst::FlowError::Error);
        }
        gst::trace!(CAT, imp = self, "stamped {stamp:?}");
        Ok(gst::FlowSuccess::Ok)
    }
}
