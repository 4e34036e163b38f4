// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-deltaenc
 *
 * `deltaenc` is the encoder of the "changes only" strategy: it cuts each frame
 * into square tiles and sends a tile only when it differs from what the
 * decoder currently holds. The encoder keeps the decoder's reconstructed
 * picture, so lossy coding never drifts, and every tile record is
 * self-contained, so a receiver can apply any subset of a frame
 * (`docs/bitstream.md`).
 *
 * Tiles are coded bit-exactly (`mode=lossless`, for screen content) or with a
 * DCT at `quality` (`mode=lossy`, for camera content); uniform tiles always
 * cost a few bytes. `intra-refresh=N` re-sends every tile at least once every
 * N frames, spread evenly, so any decoder (one that lost packets or joined
 * late) converges within N frames without a keyframe. Keyframes come on the
 * first frame, every `key-int-max` frames, and on GstForceKeyUnit requests
 * from upstream or downstream (e.g. RTCP PLI through rtpbin).
 *
 * The encoder has no lookahead: each frame is output as soon as it has been
 * encoded, and it reports zero latency of its own.
 *
 * Sink caps: raw video in `I420`, `NV12`, `BGRx`, `BGRA`, `RGBA`, `RGBx`,
 * `xRGB` or `xBGR`, any size up to 8192 x 8192 pixels. Every format is
 * coded as it comes, with no conversion: screen capture (`ximagesrc` gives
 * BGRx, `pipewiresrc` BGRA, BGRx or RGBx) needs no `videoconvert`, and the
 * decoder outputs the same format. Alpha (`BGRA`, `RGBA`) is carried exactly
 * in both modes; the padding byte of the x formats is carried as it is by
 * lossless tiles and comes out as 255 from lossy ones.
 * Source caps: `video/x-streamkit-delta` with `width`, `height`, `format`,
 * `tile-size` and `cache-tiles` (and the input's framerate and pixel aspect
 * ratio); one buffer is one frame, keyframes are not delta units.
 *
 * Properties: `tile-size` (pixels, a multiple of 16, read when caps arrive)
 * and `mode` fix the bitstream; `quality` (1-100,
 * lossy only), `threshold` (how different a tile must be, in 8-bit sample
 * levels), `intra-refresh` and `key-int-max` (both in frames, 0 = off) and
 * `threads` may change while playing. `cache-tiles` (read when caps arrive)
 * sizes the cache of tile contents the decoder held before, which a
 * repeat (a blinking cursor, a window closed) recalls for 16 bytes; the
 * caps tell the decoder its size. The read-only `stats` structure counts
 * frames, keyframes, forced keyframes, tiles and bytes since start.
 *
 * ## Example launch lines
 * Screen-like content, lossless, decoded again at once:
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=100 ! video/x-raw,format=BGRx,width=1280,height=720 ! deltaenc tile-size=64 intra-refresh=30 ! deltadec ! videoconvert ! fakesink
 * ]|
 * A capture format with alpha, as `pipewiresrc` gives it, no `videoconvert`:
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=60 ! video/x-raw,format=BGRA,width=640,height=360 ! deltaenc ! deltadec ! video/x-raw,format=BGRA ! fakesink
 * ]|
 * Camera-like content, lossy, sent as RTP (receive it with `rtpdeltadepay`):
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=300 pattern=ball is-live=true ! video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! deltaenc mode=lossy quality=60 threshold=2 ! rtpdeltapay ! udpsink host=127.0.0.1 port=5000
 * ]|
 * Put `autovideosink` in place of `fakesink` to watch the result.
 */
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use once_cell::sync::Lazy;
use std::sync::Mutex;

use super::DeltaEncMode;
use crate::delta::bitstream::MAX_CACHE_TILES;
use crate::delta::cache::DEFAULT_CACHE_TILES;
use crate::delta::{
    DeltaEncoder, EncoderConfig, EncoderStats, FrameView, Geometry, PixelFormat, TileMode,
};

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "deltaenc",
        gst::DebugColorFlags::empty(),
        Some("Streamkit changes-only video encoder"),
    )
});

const DEFAULT_TILE_SIZE: u32 = 64;
const DEFAULT_MODE: DeltaEncMode = DeltaEncMode::Lossless;
const DEFAULT_QUALITY: u32 = 75;
const DEFAULT_THRESHOLD: u32 = 0;
const DEFAULT_INTRA_REFRESH: u32 = 30;
const DEFAULT_KEY_INT_MAX: u32 = 0;
const DEFAULT_THREADS: u32 = 1;

#[derive(Debug, Clone, Copy)]
struct Settings {
    tile_size: u32,
    mode: DeltaEncMode,
    quality: u32,
    threshold: u32,
    intra_refresh: u32,
    key_int_max: u32,
    threads: u32,
    cache_tiles: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tile_size: DEFAULT_TILE_SIZE,
            mode: DEFAULT_MODE,
            quality: DEFAULT_QUALITY,
            threshold: DEFAULT_THRESHOLD,
            intra_refresh: DEFAULT_INTRA_REFRESH,
            key_int_max: DEFAULT_KEY_INT_MAX,
            threads: DEFAULT_THREADS,
            cache_tiles: DEFAULT_CACHE_TILES,
        }
    }
}

impl Settings {
    fn config(&self) -> EncoderConfig {
        EncoderConfig {
            mode: match self.mode {
                DeltaEncMode::Lossless => TileMode::Lossless,
                DeltaEncMode::Lossy => TileMode::Lossy {
                    quality: self.quality as u8,
                },
            },
            threshold: self.threshold,
            intra_refresh: self.intra_refresh,
            key_int_max: self.key_int_max,
            parallel: match self.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()) > 1,
                n => n > 1,
            },
            cache_tiles: self.cache_tiles,
        }
    }
}

struct State {
    info: gst_video::VideoInfo,
    encoder: DeltaEncoder,
}

/// Counters readable through the `stats` property.
#[derive(Default, Clone, Copy)]
struct Counters {
    codec: EncoderStats,
    forced_keyframes: u64,
}

#[derive(Default)]
pub struct DeltaEnc {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    counters: Mutex<Counters>,
}

#[glib::object_subclass]
impl ObjectSubclass for DeltaEnc {
    const NAME: &'static str = "GstDeltaEnc";
    type Type = super::DeltaEnc;
    type ParentType = gst_video::VideoEncoder;
}

impl ObjectImpl for DeltaEnc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            vec![
                glib::ParamSpecUInt::builder("tile-size")
                    .nick("Tile size")
                    .blurb(
                        "Edge of the square tiles, in pixels; a multiple of 16 (other values \
                         are rounded down). Read when caps arrive",
                    )
                    .minimum(16)
                    .maximum(256)
                    .default_value(DEFAULT_TILE_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mode", DEFAULT_MODE)
                    .nick("Mode")
                    .blurb(
                        "Tile coding: lossless (bit-exact, screen content) or lossy (DCT at \
                         'quality', camera content)",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("quality")
                    .nick("Quality")
                    .blurb(
                        "Quality of lossy tiles, 1 (smallest) to 100 (best); unused with \
                         mode=lossless",
                    )
                    .minimum(1)
                    .maximum(100)
                    .default_value(DEFAULT_QUALITY)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("threshold")
                    .nick("Change threshold")
                    .blurb(
                        "A tile counts as unchanged while the mean absolute difference of every \
                         8x8 block from the decoder's reconstructed tile is at most this many \
                         8-bit sample levels (0 = any change is sent; raise for noisy sources)",
                    )
                    .minimum(0)
                    .maximum(255)
                    .default_value(DEFAULT_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("intra-refresh")
                    .nick("Intra refresh period")
                    .blurb(
                        "Re-send every tile at least once every this many frames, spread \
                         evenly over the frames, so any decoder converges without a keyframe \
                         (0 = off)",
                    )
                    .minimum(0)
                    .maximum(100_000)
                    .default_value(DEFAULT_INTRA_REFRESH)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("key-int-max")
                    .nick("Maximum keyframe interval")
                    .blurb(
                        "Send a keyframe (every tile) at least every this many frames \
                         (0 = only the first frame and requested keyframes; 1 = every frame)",
                    )
                    .minimum(0)
                    .maximum(u32::MAX)
                    .default_value(DEFAULT_KEY_INT_MAX)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb(
                        "Threads that compare and code each frame: 1 = the streaming thread \
                         only, 2 = split each frame in two halves, 0 = 2 when the machine has \
                         more than one core",
                    )
                    .minimum(0)
                    .maximum(2)
                    .default_value(DEFAULT_THREADS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("cache-tiles")
                    .nick("Cache tiles")
                    .blurb(
                        "Tile contents the decoder keeps after they were overwritten, so that \
                         a repeat (blinking cursor, a window closed) costs a 16-byte recall \
                         instead of the tile; the decoder learns the size from the caps and \
                         keeps at most 64 MiB of samples. Memory: this many tiles on each \
                         side, allocated as they are used (0 = off, the default until it pays on \
                         the recordings; lossless only). Read when \
                         caps arrive",
                    )
                    .minimum(0)
                    .maximum(MAX_CACHE_TILES)
                    .default_value(DEFAULT_CACHE_TILES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(
                        "Counters since start: frames, keyframes, forced-keyframes (on \
                         request), tiles-sent, tiles-changed (sent because they changed), \
                         tiles-refreshed (sent by intra refresh), tiles-moved (changed tiles \
                         sent as a copy of the previous picture at an offset), \
                         tiles-move-residual (sent as such a copy plus the difference), \
                         tiles-recalled (changed tiles sent as a recall of content the \
                         decoder held before), \
                         tiles-total (tiles seen), bytes (output), changed-tile-ratio \
                         (tiles-changed / tiles-total)",
                    )
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "tile-size" => {
                // The bitstream carries tile size / 16.
                let v = value.get::<u32>().expect("type checked upstream");
                settings.tile_size = (v / 16).max(1) * 16;
                if settings.tile_size != v {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "tile-size {v} is not a multiple of 16: using {}",
                        settings.tile_size
                    );
                }
            }
            "mode" => settings.mode = value.get().expect("type checked upstream"),
            "quality" => settings.quality = value.get().expect("type checked upstream"),
            "threshold" => settings.threshold = value.get().expect("type checked upstream"),
            "intra-refresh" => settings.intra_refresh = value.get().expect("type checked upstream"),
            "key-int-max" => settings.key_int_max = value.get().expect("type checked upstream"),
            "threads" => settings.threads = value.get().expect("type checked upstream"),
            "cache-tiles" => settings.cache_tiles = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
        gst::debug!(CAT, imp = self, "set {} = {:?}", pspec.name(), value);
        let config = settings.config();
        drop(settings);
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.encoder.reconfigure(config);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "tile-size" => settings.tile_size.to_value(),
            "mode" => settings.mode.to_value(),
            "quality" => settings.quality.to_value(),
            "threshold" => settings.threshold.to_value(),
            "intra-refresh" => settings.intra_refresh.to_value(),
            "key-int-max" => settings.key_int_max.to_value(),
            "threads" => settings.threads.to_value(),
            "cache-tiles" => settings.cache_tiles.to_value(),
            "stats" => self.stats().to_value(),
            _ => unimplemented!(),
        }
    }
}

impl DeltaEnc {
    fn stats(&self) -> gst::Structure {
        let c = *self.counters.lock().unwrap();
        let s = c.codec;
        let ratio = if s.tiles_total > 0 {
            s.tiles_changed as f64 / s.tiles_total as f64
        } else {
            0.0
        };
        gst::Structure::builder("application/x-deltaenc-stats")
            .field("frames", s.frames)
            .field("keyframes", s.keyframes)
            .field("forced-keyframes", c.forced_keyframes)
            .field("tiles-sent", s.tiles_sent)
            .field("tiles-changed", s.tiles_changed)
            .field("tiles-refreshed", s.tiles_refreshed)
            .field("tiles-moved", s.tiles_moved)
            .field("tiles-move-residual", s.tiles_move_residual)
            .field("tiles-recalled", s.tiles_recalled)
            .field("tiles-total", s.tiles_total)
            .field("bytes", s.bytes)
            .field("changed-tile-ratio", ratio)
            .build()
    }
}

impl GstObjectImpl for DeltaEnc {}

impl ElementImpl for DeltaEnc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Streamkit delta encoder",
                "Codec/Encoder/Video",
                "Sends only the tiles of each frame that differ from what the decoder holds, \
                 lossless or lossy, converging by intra refresh without keyframes; takes \
                 I420, NV12, BGRx, BGRA, RGBA, RGBx, xRGB and xBGR as they are, alpha \
                 included (docs/bitstream.md). Example: gst-launch-1.0 videotestsrc num-buffers=30 ! \
                 video/x-raw,format=I420,width=320,height=240 ! deltaenc ! deltadec ! fakesink",
                "Streamkit developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let sink_caps = crate::gstcommon::caps::raw_template();
            let src_caps = crate::gstcommon::caps::template();
            crate::gstcommon::padtemplates::sink_and_src(&sink_caps, &src_caps)
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl VideoEncoderImpl for DeltaEnc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.counters.lock().unwrap() = Counters::default();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn flush(&self) -> bool {
        // After a flush the decoder may hold anything: start over with a keyframe.
        let mut state = self.state.lock().unwrap();
        if let Some(state) = state.as_mut() {
            let settings = *self.settings.lock().unwrap();
            state.encoder = DeltaEncoder::new(*state.encoder.geometry(), settings.config());
        }
        true
    }

    fn set_format(
        &self,
        input_state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        let info = input_state.info().clone();
        let format = PixelFormat::from_caps_name(info.format().to_str()).ok_or_else(|| {
            gst::loggable_error!(CAT, "unsupported format {}", info.format().to_str())
        })?;
        let settings = *self.settings.lock().unwrap();
        let geometry = Geometry::new(format, info.width(), info.height(), settings.tile_size)
            .map_err(|e| gst::loggable_error!(CAT, "cannot encode this stream: {e}"))?;
        gst::info!(
            CAT,
            imp = self,
            "encoding {}x{} {} in {}x{} tiles of {} px, {:?}",
            info.width(),
            info.height(),
            format.caps_name(),
            geometry.tiles_x,
            geometry.tiles_y,
            geometry.tile_size,
            settings.config()
        );

        let encoder = DeltaEncoder::new(geometry, settings.config());
        let mut caps = crate::gstcommon::caps::for_stream(&geometry, encoder.cache_tiles());
        {
            let caps = caps.make_mut();
            let s = caps.structure_mut(0).expect("caps have one structure");
            if info.fps().denom() > 0 {
                s.set("framerate", info.fps());
            }
            s.set("pixel-aspect-ratio", info.par());
        }
        let obj = self.obj();
        let output_state = obj
            .set_output_state(caps, Some(input_state))
            .map_err(|_| gst::loggable_error!(CAT, "failed to set output state"))?;
        obj.negotiate(output_state)
            .map_err(|_| gst::loggable_error!(CAT, "downstream refused video/x-streamkit-delta"))?;
        // No lookahead: a frame leaves as soon as it is encoded.
        obj.set_latency(gst::ClockTime::ZERO, Some(gst::ClockTime::ZERO));

        *self.state.lock().unwrap() = Some(State { info, encoder });
        Ok(())
    }

    fn handle_frame(
        &self,
        mut frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard.as_mut().ok_or_else(|| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["no caps before the first frame"]
            );
            gst::FlowError::NotNegotiated
        })?;
        let force = frame
            .flags()
            .contains(gst_video::VideoCodecFrameFlags::FORCE_KEYFRAME);
        let input = frame.input_buffer().ok_or(gst::FlowError::Error)?;
        let vframe = gst_video::VideoFrameRef::from_buffer_ref_readable(input, &state.info)
            .map_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    [
                        "input buffer does not hold a {}x{} frame",
                        state.info.width(),
                        state.info.height()
                    ]
                );
                gst::FlowError::Error
            })?;
        let geometry = *state.encoder.geometry();
        let strides = vframe.plane_stride();
        let planes = (0..vframe.n_planes())
            .map(|p| {
                let data = vframe.plane_data(p).unwrap_or(&[]);
                (data, strides[p as usize].max(0) as usize)
            })
            .collect();
        let view = FrameView::new(&geometry, planes).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Format, ["bad input frame: {e}"]);
            gst::FlowError::Error
        })?;
        let encoded = state.encoder.encode(&view, force);
        drop(vframe);
        {
            let mut counters = self.counters.lock().unwrap();
            counters.codec = state.encoder.stats();
            counters.forced_keyframes += force as u64;
        }
        drop(state_guard);

        gst::log!(
            CAT,
            imp = self,
            "frame {}: {} bytes, {} tiles sent, {} changed{}{}",
            frame.system_frame_number(),
            encoded.data.len(),
            encoded.tiles_sent,
            encoded.tiles_changed,
            if encoded.keyframe { ", keyframe" } else { "" },
            if force { " (forced)" } else { "" }
        );
        if encoded.keyframe {
            frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
        }
        frame.set_output_buffer(gst::Buffer::from_mut_slice(encoded.data));
        self.obj().finish_frame(frame)
    }
}
