// SPDX-License-Identifier: MPL-2.0
//! The RTSP media factory: one media per viewer (not shared), each an
//! `appsrc` fed by the hub and the viewer's own `rtpdeltapay`, so that every
//! viewer has its own SSRC and sequence numbers and a picture made for it
//! alone fits its stream; its RTCP keyframe requests reach its own payloader
//! and so say who asked.

use std::sync::Arc;

use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use gst_rtsp_server::subclass::prelude::*;

use crate::hub::{Codec, Hub};

mod imp {
    use super::*;
    use std::sync::OnceLock;

    #[derive(Default)]
    pub struct RelayFactory {
        pub(super) hub: OnceLock<(Arc<Hub>, Codec)>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RelayFactory {
        const NAME: &'static str = "StreamkitRelayFactory";
        type Type = super::RelayFactory;
        type ParentType = gst_rtsp_server::RTSPMediaFactory;
    }

    impl ObjectImpl for RelayFactory {}

    impl RTSPMediaFactoryImpl for RelayFactory {
        fn create_element(&self, _url: &gst_rtsp::RTSPUrl) -> Option<gst::Element> {
            let (hub, codec) = self.hub.get()?;
            // Without caps yet: the hub sets them with the first buffer,
            // and the DESCRIBE is answered when it has gone through.
            let src = gst_app::AppSrc::builder()
                .is_live(true)
                .format(gst::Format::Time)
                .do_timestamp(true)
                .build();
            let mut pay = gst::ElementFactory::make(codec.payloader()).name("pay0");
            pay = match codec {
                Codec::Delta => pay.property("pt", 96u32),
                // Parameter sets with every IDR, a packet as soon as a
                // frame is in.
                Codec::H264 => pay
                    .property("pt", 96u32)
                    .property("config-interval", -1i32)
                    .property_from_str("aggregate-mode", "zero-latency"),
                Codec::Jpeg => pay.property("pt", 26u32),
            };
            let pay = pay.build().ok()?;
            let id = hub.add_viewer(src.clone());
            let bin = gst::Bin::with_name(&format!("viewer-{id}"));
            bin.add_many([src.upcast_ref::<gst::Element>(), &pay])
                .ok()?;
            src.link(&pay).ok()?;
            // The viewer's keyframe requests (its RTCP PLI/FIR, turned into
            // GstForceKeyUnit by its session) are answered from the relay's
            // state, for it alone: they never travel further.
            let weak = Arc::downgrade(hub);
            src.static_pad("src")?
                .add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
                    let Some(event) = info.event() else {
                        return gst::PadProbeReturn::Ok;
                    };
                    if gst_video::UpstreamForceKeyUnitEvent::parse(event).is_ok() {
                        if let Some(hub) = weak.upgrade() {
                            hub.request_picture(id);
                        }
                        return gst::PadProbeReturn::Handled;
                    }
                    gst::PadProbeReturn::Ok
                });
            Some(bin.upcast())
        }

        fn configure(&self, media: &gst_rtsp_server::RTSPMedia) {
            self.parent_configure(media);
            let Some((hub, _)) = self.hub.get() else {
                return;
            };
            let Some(id) = media
                .element()
                .name()
                .strip_prefix("viewer-")
                .and_then(|n| n.parse().ok())
            else {
                return;
            };
            let weak = Arc::downgrade(hub);
            media.connect_unprepared(move |_| {
                if let Some(hub) = weak.upgrade() {
                    hub.remove_viewer(id);
                }
            });
        }
    }
}

glib::wrapper! {
    pub struct RelayFactory(ObjectSubclass<imp::RelayFactory>)
        @extends gst_rtsp_server::RTSPMediaFactory;
}

impl RelayFactory {
    /// A factory serving `hub`'s stream of `codec`, one media per viewer.
    pub fn new(hub: Arc<Hub>, codec: Codec) -> Self {
        let factory: Self = glib::Object::new();
        let _ = factory.imp().hub.set((hub, codec));
        factory.set_shared(false);
        factory
    }
}
