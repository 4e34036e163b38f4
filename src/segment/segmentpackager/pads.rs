// SPDX-License-Identifier: MPL-2.0
//! The bin's own pad handling: frames on the sink pad go through the cutter
//! into the muxer, caps and events are checked and forwarded, queries are
//! answered (caps, accept-caps, and the latency a segment adds).

use gst::prelude::*;
use gst::subclass::prelude::*;
use std::time::Duration;

use super::collector::segment_end_event;
use super::imp::{SegmentPackager, State, CAT};
use crate::gstcommon::clock::clock_time;
use crate::segment::cutter::{
    frame_duration, Decision, Frame, FrameAction, SegmentCutter, SegmentSummary,
};
use crate::segment::paramsets::{Codec, ParameterSetCache};

impl SegmentPackager {
    /// Where events meant for the muxer are pushed, in order with the frames.
    pub(super) fn mux_input(&self) -> Option<gst::ProxyPad> {
        self.sinkpad.internal()
    }

    pub(super) fn push_segment_end(&self, summary: SegmentSummary) {
        gst::debug!(
            CAT,
            imp = self,
            "segment {} complete: {} frames from {} for {}",
            summary.index,
            summary.frames,
            clock_time(summary.start),
            clock_time(summary.duration)
        );
        let event = segment_end_event(
            summary.index,
            clock_time(summary.start),
            clock_time(summary.duration),
            summary.frames,
        );
        if let Some(pad) = self.mux_input() {
            if !pad.push_event(event) {
                gst::warning!(
                    CAT,
                    imp = self,
                    "muxer refused the end of segment {}",
                    summary.index
                );
            }
        }
    }

    pub(super) fn sink_chain(
        &self,
        pad: &gst::GhostPad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if std::mem::take(&mut self.state().query_encoder_delay) {
            self.learn_encoder_delay();
        }
        let mut guard = self.state();
        let State {
            cutter,
            parameter_sets,
            segment,
            ..
        } = &mut *guard;
        let Some(cutter) = cutter.as_mut() else {
            drop(guard);
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("Received a frame before caps; segmentpackager needs H.264 or H.265 caps first")
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        let time = buffer.pts().or(buffer.dts());
        let running_time = time.and_then(|t| segment.to_running_time(t));
        let frame = Frame {
            time: running_time.map(Duration::from),
            duration: buffer.duration().map(Duration::from),
            keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
        };
        let decision = cutter.push(frame);
        let opens_segment = matches!(
            decision,
            Ok(Decision {
                action: FrameAction::StartSegment { .. },
                ..
            })
        );
        let mut completed = None;
        if let (Some(cache), Ok(map)) = (parameter_sets.as_mut(), buffer.map_readable()) {
            cache.observe(&map);
            if opens_segment {
                completed = cache.complete(&map);
            }
        }
        drop(guard);
        let buffer = match completed {
            Some(data) => self.with_parameter_sets(buffer, data)?,
            None => buffer,
        };
        let decision = match decision {
            Ok(d) => d,
            Err(err) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("Cannot cut the next segment: {}", err),
                    [
                        "Make the encoder obey GstForceKeyUnit, or give it a key-int-max no larger than \
                         frames-per-segment, or raise max-keyframe-wait"
                    ]
                );
                return Err(gst::FlowError::Error);
            }
        };

        if let Some(finished) = decision.finished {
            self.push_segment_end(finished);
        }
        for request in decision.requests {
            self.request_keyframe(request);
        }

        match decision.action {
            FrameAction::Drop => {
                gst::debug!(
                    CAT,
                    imp = self,
                    "dropping {buffer:?}: waiting for a keyframe"
                );
                Ok(gst::FlowSuccess::Ok)
            }
            FrameAction::Append => gst::ProxyPad::chain_default(pad, Some(&*self.obj()), buffer),
            FrameAction::StartSegment { index } => {
                // Makes mpegtsmux write PAT and PMT right before this keyframe,
                // so the segment is self-contained.
                let event = gst_video::DownstreamForceKeyUnitEvent::builder()
                    .timestamp(buffer.pts())
                    .running_time(running_time)
                    .all_headers(true)
                    .count(u32::try_from(index).unwrap_or(u32::MAX))
                    .build();
                if let Some(mux) = self.mux_input() {
                    mux.push_event(event);
                }
                gst::ProxyPad::chain_default(pad, Some(&*self.obj()), buffer)
            }
        }
    }

    /// `buffer`'s timing and flags on `data`, the keyframe with parameter sets added.
    pub(super) fn with_parameter_sets(
        &self,
        buffer: gst::Buffer,
        data: Vec<u8>,
    ) -> Result<gst::Buffer, gst::FlowError> {
        gst::debug!(
            CAT,
            imp = self,
            "keyframe at {:?} lacked parameter sets: added {} bytes of them",
            buffer.pts(),
            data.len().saturating_sub(buffer.size())
        );
        let mut fixed = gst::Buffer::from_mut_slice(data);
        let flags = gst::BufferCopyFlags::FLAGS
            | gst::BufferCopyFlags::TIMESTAMPS
            | gst::BufferCopyFlags::META;
        let copied = fixed
            .get_mut()
            .map(|dest| buffer.copy_into(dest, flags, ..).is_ok())
            .unwrap_or(false);
        if !copied {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ("Could not copy frame metadata")
            );
            return Err(gst::FlowError::Error);
        }
        Ok(fixed)
    }

    pub(super) fn set_caps(&self, caps: &gst::CapsRef) -> bool {
        let Some(s) = caps.structure(0) else {
            return false;
        };
        let codec = Codec::from_media_type(s.name());
        let format_ok = s.get::<&str>("stream-format").ok() == Some("byte-stream")
            && s.get::<&str>("alignment").ok() == Some("au");
        let (Some(codec), true) = (codec, format_ok) else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                (
                    "segmentpackager takes H.264 or H.265 with stream-format=byte-stream, alignment=au; got {}",
                    caps
                ),
                ["Put an encoder (x264enc, x265enc) or h264parse/h265parse in front of it"]
            );
            return false;
        };
        let frame_duration = s
            .get::<gst::Fraction>("framerate")
            .ok()
            .and_then(|f| frame_duration(f.numer(), f.denom()));
        let config = self.settings().cutter_config(frame_duration);
        let mut state = self.state();
        if state.parameter_sets.as_ref().map(ParameterSetCache::codec) != Some(codec) {
            state.parameter_sets = Some(ParameterSetCache::new(codec));
        }
        let changed = match state.cutter.as_mut() {
            None => {
                state.cutter = Some(SegmentCutter::new(config));
                true
            }
            Some(cutter) if *cutter.config() != config => {
                gst::info!(CAT, imp = self, "new caps change segment timing");
                cutter.set_config(config);
                true
            }
            Some(_) => false,
        };
        if changed {
            state.query_encoder_delay = true;
        }
        drop(state);
        if changed {
            // The latency depends on the frame rate, known only now.
            let obj = self.obj();
            let _ = obj.post_message(gst::message::Latency::builder().src(&*obj).build());
        }
        true
    }

    pub(super) fn sink_event(&self, pad: &gst::GhostPad, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::Caps(ev) => return self.set_caps(ev.caps()) && self.forward(pad, event),
            EventView::Segment(ev) => match ev.segment().clone().downcast::<gst::ClockTime>() {
                Ok(segment) => self.state().segment = segment,
                Err(_) => {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("segmentpackager needs a TIME segment")
                    );
                    return false;
                }
            },
            EventView::Eos(_) => {
                let last = self.state().cutter.as_mut().and_then(SegmentCutter::finish);
                if let Some(last) = last {
                    self.push_segment_end(last);
                }
            }
            EventView::FlushStop(_) => {
                if let Some(cutter) = self.state().cutter.as_mut() {
                    cutter.reset();
                }
            }
            EventView::CustomDownstream(_) if gst_video::ForceKeyUnitEvent::is(&event) => {
                // The encoder's own announcement; this element sends its own
                // at each segment start.
                return true;
            }
            _ => (),
        }
        self.forward(pad, event)
    }

    pub(super) fn forward(&self, pad: &gst::GhostPad, event: gst::Event) -> bool {
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    pub(super) fn sink_query(&self, pad: &gst::GhostPad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let ours = pad.pad_template_caps();
                let caps = match q.filter() {
                    Some(filter) => {
                        filter.intersect_with_mode(&ours, gst::CapsIntersectMode::First)
                    }
                    None => ours,
                };
                q.set_result(&caps);
                true
            }
            gst::QueryViewMut::AcceptCaps(q) => {
                let ok = q.caps().is_subset(&pad.pad_template_caps());
                if !ok {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "refusing {}: only H.264/H.265 byte-stream with alignment=au",
                        q.caps()
                    );
                }
                q.set_result(ok);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// Latency this element adds: a frame waits until its segment is complete.
    pub(super) fn segment_latency(&self) -> gst::ClockTime {
        // Before caps, the settings say what the cutter will be told.
        let from_cutter = self.state().cutter.as_ref().map(|c| *c.config());
        let config = from_cutter.unwrap_or_else(|| self.settings().cutter_config(None));
        clock_time(config.segment_duration().unwrap_or_default())
    }

    pub(super) fn src_query(&self, pad: &gst::GhostPad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Latency(_) = query.view_mut() {
            if !gst::Pad::query_default(pad, Some(&*self.obj()), query) {
                return false;
            }
            if let gst::QueryViewMut::Latency(q) = query.view_mut() {
                let (live, min, max) = q.result();
                let ours = self.segment_latency();
                gst::debug!(CAT, imp = self, "adding {ours} of latency to {min}");
                q.set(live, min + ours, max.map(|m| m + ours));
            }
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }
}
