// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-rtpdeltapay
 *
 * `rtpdeltapay` puts the changes-only stream of `deltaenc` into RTP packets
 * (encoding name `X-STREAMKIT-DELTA`, 90 kHz clock, dynamic payload type,
 * default 96; see `docs/rtp-payload.md`). Packets are cut only at tile-record
 * boundaries and every packet repeats the 14-byte frame header, so each
 * packet is decodable on its own: a lost packet costs only the tiles it
 * carried. A record larger than the `mtu` is split into fragments that the
 * receiver reassembles, or drops whole if one is missing. The marker bit is
 * set on the last packet of a frame.
 *
 * Width, height, format and tile size travel in the caps as strings (SDP
 * `a=fmtp` parameters). Upstream GstForceKeyUnit events, which `rtpbin`
 * makes from RTCP PLI/FIR, pass through to the encoder.
 *
 * Sink caps: `video/x-streamkit-delta` from `deltaenc`. Source caps:
 * `application/x-rtp`, `media=video`, `clock-rate=90000`,
 * `encoding-name=X-STREAMKIT-DELTA`, payload type 96-127.
 *
 * The element adds no properties of its own; those of GstRTPBasePayload
 * apply: `mtu` (bytes per packet including the 12-byte RTP header, default
 * 1400), `pt` (payload type, default 96), `ssrc`, `seqnum-offset`,
 * `timestamp-offset` and the read-only `stats`.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=300 is-live=true ! video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! deltaenc intra-refresh=30 ! rtpdeltapay mtu=1200 ! udpsink host=127.0.0.1 port=5000
 * ]|
 * `deltadec`'s documentation has the receiving pipeline.
 */
use gst::glib;
use gst::subclass::prelude::*;
use gst_rtp::prelude::*;
use gst_rtp::rtp_buffer::RTPBufferExt;
use gst_rtp::subclass::prelude::*;

use once_cell::sync::Lazy;

use crate::rtp::{packetize, CLOCK_RATE, ENCODING_NAME};

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "rtpdeltapay",
        gst::DebugColorFlags::empty(),
        Some("RTP payloader for the Streamkit delta stream"),
    )
});

#[derive(Default)]
pub struct RtpDeltaPay {}

#[glib::object_subclass]
impl ObjectSubclass for RtpDeltaPay {
    const NAME: &'static str = "GstRtpDeltaPay";
    type Type = super::RtpDeltaPay;
    type ParentType = gst_rtp::RTPBasePayload;
}

impl ObjectImpl for RtpDeltaPay {}

impl GstObjectImpl for RtpDeltaPay {}

impl ElementImpl for RtpDeltaPay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP Streamkit delta payloader",
                "Codec/Payloader/Network/RTP",
                "Payloads the changes-only delta stream into RTP packets (X-STREAMKIT-DELTA, \
                 90 kHz) cut at tile-record boundaries, each decodable on its own; records \
                 larger than the mtu are fragmented (docs/rtp-payload.md). Example: \
                 gst-launch-1.0 videotestsrc num-buffers=30 ! \
                 video/x-raw,format=I420,width=320,height=240 ! deltaenc ! rtpdeltapay ! \
                 udpsink host=127.0.0.1 port=5000",
                "Streamkit developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let sink_caps = crate::gstcommon::caps::template();
            let src_caps = gst::Caps::builder("application/x-rtp")
                .field("media", "video")
                .field("payload", gst::IntRange::new(96, 127))
                .field("clock-rate", CLOCK_RATE as i32)
                .field("encoding-name", ENCODING_NAME)
                .build();
            crate::gstcommon::padtemplates::sink_and_src(&sink_caps, &src_caps)
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl RTPBasePayloadImpl for RtpDeltaPay {
    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "empty caps"))?;
        let geometry = crate::gstcommon::caps::geometry_from_caps(s)
            .map_err(|e| gst::loggable_error!(CAT, "cannot payload {caps}: {e}"))?;
        gst::debug!(CAT, imp = self, "payloading {geometry:?}");

        let obj = self.obj();
        obj.set_options("video", true, ENCODING_NAME, CLOCK_RATE);
        // RTP caps carry format parameters as strings, so that they map
        // one-to-one onto SDP a=fmtp parameters.
        let mut out = gst::Structure::builder("application/x-rtp")
            .field("width", geometry.width.to_string())
            .field("height", geometry.height.to_string())
            .field("format", geometry.format.caps_name())
            .field("tile-size", geometry.tile_size.to_string())
            .field(
                "cache-tiles",
                crate::gstcommon::caps::cache_tiles_from_caps(s).to_string(),
            )
            // The depayloader asks for keyframes on loss: advertise that PLI
            // is understood (SDP a=rtcp-fb:<pt> nack pli), which is what
            // rtpbin needs on the receiving side to send one.
            .field("rtcp-fb-nack-pli", true)
            .build();
        if let Ok(fps) = s.get::<gst::Fraction>("framerate") {
            if fps.numer() > 0 && fps.denom() > 0 {
                let rate = fps.numer() as f64 / fps.denom() as f64;
                out.set(
                    "a-framerate",
                    format!("{rate:.3}")
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_string(),
                );
            }
        }
        obj.set_outcaps(Some(&out))
            .map_err(|_| gst::loggable_error!(CAT, "downstream refused the RTP caps"))
    }

    fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let obj = self.obj();
        let budget = gst_rtp::calc_payload_len(obj.mtu(), 0, 0) as usize;
        let map = buffer.map_readable().map_err(|_| {
            gst::element_imp_error!(self, gst::ResourceError::Read, ["cannot map input buffer"]);
            gst::FlowError::Error
        })?;
        let payloads = match packetize(&map, budget) {
            Ok(p) => p,
            Err(e) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("Cannot payload frame: {e}"),
                    ["mtu {}, frame of {} bytes", obj.mtu(), map.len()]
                );
                return Err(gst::FlowError::Error);
            }
        };
        gst::log!(
            CAT,
            imp = self,
            "frame of {} bytes in {} packets",
            map.len(),
            payloads.len()
        );

        let n = payloads.len();
        let mut list = gst::BufferList::new_sized(n);
        {
            let list = list.get_mut().expect("new list is writable");
            for (i, payload) in payloads.iter().enumerate() {
                let mut out = gst::Buffer::new_rtp_with_sizes(payload.len() as u32, 0, 0)
                    .map_err(|_| gst::FlowError::Error)?;
                {
                    let out = out.get_mut().expect("new buffer is writable");
                    out.set_pts(buffer.pts());
                    out.set_dts(buffer.dts());
                    let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(out)
                        .map_err(|_| gst::FlowError::Error)?;
                    rtp.set_marker(i + 1 == n);
                    rtp.payload_mut()
                        .map_err(|_| gst::FlowError::Error)?
                        .copy_from_slice(payload);
                }
                list.add(out);
            }
        }
        drop(map);
        obj.push_list(list)
    }
}
