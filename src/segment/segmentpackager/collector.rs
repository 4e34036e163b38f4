// SPDX-License-Identifier: MPL-2.0
//! The element inside `segmentpackager` after `mpegtsmux`: it gathers the
//! muxer's transport-stream packets until the segment-end marker the packager
//! sends through the muxer, then pushes them as one buffer. The marker is a
//! serialized event, so it reaches this element after every packet of the
//! segment and before any packet of the next one.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::{Mutex, MutexGuard};

/// Name of the custom downstream event that closes a segment.
pub const SEGMENT_END: &str = "streamkit-segment-end";

/// Caps of the segments: a plain 188-byte-packet transport stream.
pub fn segment_caps() -> gst::Caps {
    gst::Caps::builder("video/mpegts")
        .field("systemstream", true)
        .field("packetsize", 188i32)
        .build()
}

/// The segment-end marker for one segment.
pub fn segment_end_event(
    index: u64,
    start: gst::ClockTime,
    duration: gst::ClockTime,
    frames: u32,
) -> gst::Event {
    let s = gst::Structure::builder(SEGMENT_END)
        .field("index", index)
        .field("start", start)
        .field("duration", duration)
        .field("frames", frames)
        .build();
    gst::event::CustomDownstream::new(s)
}

glib::wrapper! {
    /// Gathers transport-stream packets into one buffer per segment.
    pub struct SegmentCollector(ObjectSubclass<imp::SegmentCollector>) @extends gst::Element, gst::Object;
}

impl SegmentCollector {
    /// A new collector with the given element name.
    pub fn new(name: &str) -> Self {
        glib::Object::builder().property("name", name).build()
    }
}

mod imp {
    use super::*;

    use once_cell::sync::Lazy;

    /// Debug category of the collector (`GST_DEBUG=segmentcollector:6`):
    /// what it pushes and what it refuses, apart from the bin's own
    /// decisions in `segmentpackager`.
    static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
        gst::DebugCategory::new(
            "segmentcollector",
            gst::DebugColorFlags::empty(),
            Some(
                "Streamkit segment collector: transport-stream packets into one buffer per segment",
            ),
        )
    });

    #[derive(Default)]
    struct State {
        /// The open segment's bytes so far: one copy per packet, instead
        /// of buffer appends that re-merge memory every 16 packets.
        data: Vec<u8>,
        /// Size of the last segment, to size the next one's storage.
        last_size: usize,
        need_segment: bool,
        discont: bool,
        /// A push failure seen while handling an event, returned to the muxer
        /// on its next buffer.
        flow: Option<gst::FlowError>,
    }

    pub struct SegmentCollector {
        sinkpad: gst::Pad,
        srcpad: gst::Pad,
        state: Mutex<State>,
    }

    impl SegmentCollector {
        fn state(&self) -> MutexGuard<'_, State> {
            self.state.lock().unwrap()
        }

        fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
            let mut state = self.state();
            if let Some(err) = state.flow {
                return Err(err);
            }
            let map = buffer.map_readable().map_err(|_| {
                gst::error!(CAT, imp = self, "could not map a muxer buffer");
                gst::FlowError::Error
            })?;
            if state.data.is_empty() {
                let size = state.last_size;
                state.data.reserve(size);
            }
            state.data.extend_from_slice(&map);
            Ok(gst::FlowSuccess::Ok)
        }

        fn push_segment(&self, s: &gst::StructureRef) -> Result<gst::FlowSuccess, gst::FlowError> {
            let index = s.get::<u64>("index").ok();
            let start = s.get::<gst::ClockTime>("start").ok();
            let duration = s.get::<gst::ClockTime>("duration").ok();
            let frames = s.get::<u32>("frames").unwrap_or(0);

            let (data, need_segment, discont) = {
                let mut state = self.state();
                let data = std::mem::take(&mut state.data);
                state.last_size = data.len();
                let need_segment = std::mem::take(&mut state.need_segment);
                let discont = !data.is_empty() && std::mem::take(&mut state.discont);
                (data, need_segment, discont)
            };
            if data.is_empty() {
                gst::warning!(
                    CAT,
                    imp = self,
                    "segment {index:?} closed with no muxed data"
                );
                return Ok(gst::FlowSuccess::Ok);
            }

            let mut segment = gst::Buffer::from_mut_slice(data);
            {
                let buf = segment.make_mut();
                buf.set_pts(start);
                buf.set_dts(start);
                buf.set_duration(duration);
                if let Some(index) = index {
                    buf.set_offset(index);
                }
                // Every segment starts with PAT, PMT and a keyframe: a
                // receiver can start at any of them, so none is a delta unit.
                buf.unset_flags(gst::BufferFlags::DELTA_UNIT | gst::BufferFlags::HEADER);
                if discont {
                    buf.set_flags(gst::BufferFlags::DISCONT);
                } else {
                    buf.unset_flags(gst::BufferFlags::DISCONT);
                }
            }
            gst::debug!(
                CAT,
                imp = self,
                "segment {index:?}: {frames} frames, {} bytes, start {start:?}, duration {duration:?}",
                segment.size()
            );
            if need_segment {
                self.srcpad
                    .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                        gst::ClockTime,
                    >::new()));
            }
            self.srcpad.push(segment)
        }

        fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
            use gst::EventView;
            match event.view() {
                EventView::CustomDownstream(ev) => {
                    let Some(s) = ev.structure() else {
                        return gst::Pad::event_default(pad, Some(&*self.obj()), event);
                    };
                    if s.name() == SEGMENT_END {
                        let res = self.push_segment(s);
                        if let Err(err) = res {
                            self.state().flow = Some(err);
                            gst::debug!(CAT, imp = self, "pushing segment failed: {err:?}");
                        }
                        return res.is_ok();
                    }
                    if gst_video::ForceKeyUnitEvent::is(&event) {
                        // Only there to make mpegtsmux repeat PAT and PMT.
                        return true;
                    }
                    gst::Pad::event_default(pad, Some(&*self.obj()), event)
                }
                EventView::Caps(_) => self
                    .srcpad
                    .push_event(gst::event::Caps::new(&segment_caps())),
                EventView::Segment(_) => {
                    // Segments are stamped with running time; the muxer's own
                    // segment does not describe them.
                    self.state().need_segment = true;
                    true
                }
                EventView::FlushStop(_) => {
                    let mut state = self.state();
                    state.data.clear();
                    state.flow = None;
                    state.discont = true;
                    state.need_segment = true;
                    drop(state);
                    self.srcpad.push_event(event)
                }
                EventView::Eos(_) => {
                    let left = std::mem::take(&mut self.state().data);
                    if !left.is_empty() {
                        gst::debug!(
                            CAT,
                            imp = self,
                            "dropping {} bytes after the last segment",
                            left.len()
                        );
                    }
                    if std::mem::take(&mut self.state().need_segment) {
                        self.srcpad
                            .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                                gst::ClockTime,
                            >::new(
                            )));
                    }
                    self.srcpad.push_event(event)
                }
                _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
            }
        }

        fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
            if gst_video::ForceKeyUnitEvent::is(&event) {
                // Segment boundaries come from the packager's properties.
                gst::debug!(CAT, imp = self, "ignoring keyframe request from downstream");
                return true;
            }
            gst::Pad::event_default(pad, Some(&*self.obj()), event)
        }

        fn fixed_caps_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
            match query.view_mut() {
                gst::QueryViewMut::Caps(q) => {
                    let caps = segment_caps();
                    let caps = match q.filter() {
                        Some(filter) => {
                            filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First)
                        }
                        None => caps,
                    };
                    q.set_result(&caps);
                    true
                }
                gst::QueryViewMut::AcceptCaps(q) => {
                    let ok = q.caps().is_subset(&segment_caps());
                    q.set_result(ok);
                    true
                }
                _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SegmentCollector {
        const NAME: &'static str = "GstSegmentCollector";
        type Type = super::SegmentCollector;
        type ParentType = gst::Element;

        fn new() -> Self {
            let sinkpad = gst::Pad::builder(gst::PadDirection::Sink)
                .name("sink")
                .chain_function(|_pad, parent, buffer| {
                    SegmentCollector::catch_panic_pad_function(
                        parent,
                        || Err(gst::FlowError::Error),
                        |this| this.sink_chain(buffer),
                    )
                })
                .event_function(|pad, parent, event| {
                    SegmentCollector::catch_panic_pad_function(
                        parent,
                        || false,
                        |this| this.sink_event(pad, event),
                    )
                })
                .query_function(|pad, parent, query| {
                    SegmentCollector::catch_panic_pad_function(
                        parent,
                        || false,
                        |this| this.fixed_caps_query(pad, query),
                    )
                })
                .build();
            let srcpad = gst::Pad::builder(gst::PadDirection::Src)
                .name("src")
                .event_function(|pad, parent, event| {
                    SegmentCollector::catch_panic_pad_function(
                        parent,
                        || false,
                        |this| this.src_event(pad, event),
                    )
                })
                .query_function(|pad, parent, query| {
                    SegmentCollector::catch_panic_pad_function(
                        parent,
                        || false,
                        |this| this.fixed_caps_query(pad, query),
                    )
                })
                .build();
            Self {
                sinkpad,
                srcpad,
                state: Mutex::new(State {
                    need_segment: true,
                    discont: true,
                    ..Default::default()
                }),
            }
        }
    }

    impl ObjectImpl for SegmentCollector {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.add_pad(&self.sinkpad).expect("fresh pad");
            obj.add_pad(&self.srcpad).expect("fresh pad");
        }
    }

    impl GstObjectImpl for SegmentCollector {}

    impl ElementImpl for SegmentCollector {
        fn change_state(
            &self,
            transition: gst::StateChange,
        ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
            if transition == gst::StateChange::ReadyToPaused {
                *self.state() = State {
                    need_segment: true,
                    discont: true,
                    ..Default::default()
                };
            }
            self.parent_change_state(transition)
        }
    }
}
