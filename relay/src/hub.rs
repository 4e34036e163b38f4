//! The relay core shared between the ingest thread and the RTSP server's
//! media: viewers are GStreamer `appsrc`s here, frames are buffers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gststreamkit::delta::DecoderLimits;
use gststreamkit::relay::{Relay, RelayStats, ViewerId};
use gststreamkit::rtp::{KeyframeRequestPacer, DEFAULT_MIN_KEYFRAME_INTERVAL};

/// A frame shared by every viewer it goes to, without a copy.
struct SharedFrame(Arc<[u8]>);

impl AsRef<[u8]> for SharedFrame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Counters of the front end, besides the core's.
#[derive(Debug, Clone, Copy, Default)]
pub struct HubStats {
    pub core: RelayStats,
    /// Viewers now.
    pub viewers: usize,
    /// Times a viewer's queue was over the bound: its frames were skipped
    /// and it was given a picture of its own once it caught up.
    pub slow_viewer_resyncs: u64,
    /// Keyframe requests the relay sent toward the origin.
    pub upstream_keyframe_requests: u64,
    /// Buffers pushed to viewers.
    pub buffers_out: u64,
}

/// A viewer's source, and which of the stream's caps it was given.
struct Sink {
    src: gst_app::AppSrc,
    caps_serial: u64,
}

struct Inner {
    relay: Relay,
    caps: Option<gst::Caps>,
    /// Bumped whenever `caps` changes (a new geometry).
    caps_serial: u64,
    sinks: BTreeMap<ViewerId, Sink>,
    pacer: KeyframeRequestPacer,
    slow_viewer_resyncs: u64,
    buffers_out: u64,
}

/// The relay and its viewers' sources.
pub struct Hub {
    inner: Mutex<Inner>,
    /// A viewer with more queued than this is slow.
    max_queue_bytes: u64,
    epoch: Instant,
}

impl Hub {
    pub fn new(max_queue_bytes: u64) -> Arc<Self> {
        Arc::new(Hub {
            inner: Mutex::new(Inner {
                relay: Relay::new(DecoderLimits::default()),
                caps: None,
                caps_serial: 0,
                sinks: BTreeMap::new(),
                pacer: KeyframeRequestPacer::default(),
                slow_viewer_resyncs: 0,
                buffers_out: 0,
            }),
            max_queue_bytes,
            epoch: Instant::now(),
        })
    }

    /// A new viewer fed through `src`; its first buffer is a whole picture.
    /// `src` is given the stream's caps with its first buffer (a viewer may
    /// come before the stream: its DESCRIBE is answered once frames flow).
    pub fn add_viewer(&self, src: gst_app::AppSrc) -> ViewerId {
        let mut inner = self.inner.lock().unwrap();
        let id = inner.relay.join();
        inner.sinks.insert(
            id,
            Sink {
                src,
                caps_serial: 0,
            },
        );
        id
    }

    /// The viewer is gone (its media was unprepared: TEARDOWN, time-out or
    /// a closed connection).
    pub fn remove_viewer(&self, id: ViewerId) {
        let mut inner = self.inner.lock().unwrap();
        inner.relay.leave(id);
        inner.sinks.remove(&id);
    }

    /// The viewer asked for a keyframe (RTCP PLI/FIR through its own
    /// session): it alone gets a picture.
    pub fn request_picture(&self, id: ViewerId) {
        self.inner.lock().unwrap().relay.request_picture(id);
    }

    pub fn stats(&self) -> HubStats {
        let inner = self.inner.lock().unwrap();
        HubStats {
            core: inner.relay.stats(),
            viewers: inner.relay.viewer_count(),
            slow_viewer_resyncs: inner.slow_viewer_resyncs,
            upstream_keyframe_requests: inner.pacer.requests(),
            buffers_out: inner.buffers_out,
        }
    }

    /// Takes one frame from the ingest (`caps` its caps) and hands it, or a
    /// picture, to every viewer. Returns true when the relay should ask the
    /// origin for a keyframe now (paced: at most one per 500 ms).
    pub fn ingest(&self, caps: Option<&gst::CapsRef>, buffer: &gst::BufferRef) -> bool {
        let Ok(map) = buffer.map_readable() else {
            return false;
        };
        let damaged = buffer
            .flags()
            .intersects(gst::BufferFlags::DISCONT | gst::BufferFlags::CORRUPTED);
        let now = self.epoch.elapsed();
        let mut sends: Vec<(gst::Buffer, Vec<(ViewerId, gst_app::AppSrc)>)> = Vec::new();
        let mut new_caps: Vec<(gst_app::AppSrc, gst::Caps)> = Vec::new();
        let ask_origin;
        {
            let mut inner = self.inner.lock().unwrap();
            if let Some(caps) = caps {
                if inner.caps.as_deref() != Some(caps) {
                    inner.caps = Some(caps.to_owned());
                    inner.caps_serial += 1;
                }
            }
            let outcome = inner.relay.ingest(&map, damaged, now);
            let (serial, caps) = (inner.caps_serial, inner.caps.clone());
            for delivery in outcome.deliveries {
                let buf = gst::Buffer::from_slice(SharedFrame(delivery.frame));
                let mut to = Vec::with_capacity(delivery.viewers.len());
                for id in &delivery.viewers {
                    let Some(sink) = inner.sinks.get_mut(id) else {
                        continue;
                    };
                    if sink.caps_serial != serial {
                        if let Some(caps) = &caps {
                            new_caps.push((sink.src.clone(), caps.clone()));
                        }
                        sink.caps_serial = serial;
                    }
                    to.push((*id, sink.src.clone()));
                }
                sends.push((buf, to));
            }
            ask_origin = outcome.needs_keyframe
                && inner.pacer.try_request(
                    u64::try_from(now.as_nanos()).unwrap_or(u64::MAX),
                    DEFAULT_MIN_KEYFRAME_INTERVAL,
                );
        }
        drop(map);
        // Pushing happens outside the lock (docs/architecture.md, "Locks").
        for (src, caps) in new_caps {
            src.set_caps(Some(&caps));
        }
        let mut slow = Vec::new();
        let mut pushed = 0u64;
        for (buf, to) in sends {
            for (id, src) in to {
                if src.current_level_bytes() > self.max_queue_bytes {
                    slow.push(id);
                    continue;
                }
                // A viewer whose media is shutting down refuses buffers;
                // its removal follows from the media's unprepared signal.
                if src.push_buffer(buf.clone()).is_ok() {
                    pushed += 1;
                }
            }
        }
        let mut inner = self.inner.lock().unwrap();
        inner.buffers_out += pushed;
        for id in slow {
            // It skips frames until it has caught up, then gets a picture
            // that makes it exact again: nobody else is affected.
            if inner.relay.request_picture(id) {
                inner.slow_viewer_resyncs += 1;
            }
        }
        ask_origin
    }
}
