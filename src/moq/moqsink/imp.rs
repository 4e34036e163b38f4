// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-moqsink
 * @see_also: moqsrc, deltaenc
 *
 * Publishes a broadcast to a Media over QUIC relay (`moq-relay`; moq-lite
 * over QUIC or WebTransport), as docs/moq.md maps it:
 *
 * - the changes-only stream (`video/x-streamkit-delta`): every frame a
 *   group (a QUIC stream) of its own, numbered in order, so a frame whose
 *   packet was lost holds up no later frame; and every
 *   `snapshot-interval` a snapshot on a track of its own: the whole
 *   picture, lossless, as a decoder holds it after that frame, made by a
 *   decoder inside the element that follows what it publishes. A late
 *   joiner (or a viewer repairing a loss) takes the relay's latest
 *   snapshot and the frames since from the relay's cache: no keyframe is
 *   asked of the encoder, and live viewers never receive snapshots. With
 *   `hold-snapshots` (the default) the element keeps a subscription of its
 *   own to its snapshot track through a second session, so the relay
 *   always holds the latest snapshot: the origin's upload carries one
 *   snapshot per interval however many viewers join, instead of one per
 *   join (`stats` has the connection's own byte counts).
 * - H.264 (`video/x-h264, stream-format=byte-stream, alignment=au`): a
 *   group per keyframe and the frames that depend on it.
 *
 * A catalog track says what the broadcast holds (codec, caps, geometry,
 * snapshot interval); it is written at the first caps and at every change.
 *
 * The base class's `sync` is off by default: a live source already paces
 * the frames, and syncing would hold each one for the pipeline's latency
 * before it leaves (about 90 ms more glass to glass through a local relay,
 * measured with pipelines/moq-demo.sh).
 *
 * Writing a buffer never waits on the network: objects go into moq-net's
 * model in memory, and the QUIC session (on a tokio runtime the process's
 * MoQ elements share) sends them, newest first. The connection is made
 * when the element starts; a relay that cannot be reached within `timeout`
 * or a session that ends is an element error. The relay's certificate is
 * verified against the system's roots, or pinned with `fingerprint` (its
 * SHA-256, hex, as `moq-relay` prints it for a generated certificate).
 *
 * ## Example launch line
 * Ten seconds of a test pattern, changes only, to the relay that
 * pipelines/moq-relay.sh runs on this machine (it prints the certificate's
 * fingerprint and writes it to /tmp/streamkit-moq/fingerprint):
 * |[
 * FP=$(cat /tmp/streamkit-moq/fingerprint)
 * gst-launch-1.0 videotestsrc is-live=true num-buffers=300 pattern=ball ! video/x-raw,format=BGRx,width=640,height=360,framerate=30/1 ! \
 *     deltaenc ! moqsink url=https://127.0.0.1:4443/ broadcast=screen fingerprint=$FP
 * ]|
 */
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use once_cell::sync::Lazy;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

use crate::delta::DecoderLimits;
use crate::gstcommon::caps::{cache_tiles_from_caps, geometry_from_caps, moq_template, MEDIA_TYPE};
use crate::gstcommon::clock::nanos;
use crate::gstcommon::moqprops::{relay_properties, RelaySettings, EXAMPLE};
use crate::moq::catalog::{Catalog, Codec, CATALOG_VERSION};
use crate::moq::client::{session_end, RelayAddress};
use crate::moq::object::{write_object, ObjectHeader};
use crate::moq::publisher::Publication;
use crate::moq::runtime::runtime;
use crate::moq::snapshot::SnapshotMaker;
use crate::moq::subscriber::BroadcastSubscription;
use crate::moq::{FRAMES_TRACK, SNAPSHOT_TRACK};

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "moqsink",
        gst::DebugColorFlags::empty(),
        Some("Streamkit MoQ sink: publishes to a Media over QUIC relay"),
    )
});

const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);
const MAX_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(60);
/// How long the relay keeps frames beyond a snapshot interval: a joiner
/// that takes the latest snapshot finds every frame since it.
const FRAMES_KEPT_BEYOND_SNAPSHOT: Duration = Duration::from_secs(2);
/// How long stopping waits for the relay to take what was written.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
struct Settings {
    relay: RelaySettings,
    snapshot_interval: Duration,
    hold_snapshots: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            relay: RelaySettings::default(),
            snapshot_interval: DEFAULT_SNAPSHOT_INTERVAL,
            hold_snapshots: true,
        }
    }
}

/// What the QUIC connection to the relay carried (its own counters:
/// every packet, headers, encryption and retransmissions included).
#[derive(Debug, Clone, Copy, Default)]
struct Wire {
    bytes_sent: u64,
    bytes_received: u64,
    bytes_lost: u64,
    rtt: Option<Duration>,
}

/// Counted on the runtime, apart from what `render` counts.
#[derive(Debug, Default)]
struct SessionCounts {
    /// Snapshots the element's own standing subscription received back.
    snapshots_held: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    frames: u64,
    bytes: u64,
    keyframes: u64,
    snapshots: u64,
    snapshot_bytes: u64,
    catalogs: u64,
    /// H.264 access units before the first keyframe, not published.
    skipped: u64,
}

struct State {
    settings: Settings,
    publication: Publication,
    /// Changes only: the snapshot maker, made at the caps.
    snapshots: Option<SnapshotMaker>,
    codec: Option<Codec>,
    next_sequence: u64,
    started: Instant,
    stats: Stats,
    /// Closes the session (see `watch`).
    close: oneshot::Sender<()>,
    session: tokio::task::JoinHandle<()>,
    /// The relay, for the standing subscription.
    address: RelayAddress,
    /// Its client (`hold-snapshots`), bound at start in the caller's
    /// network namespace; taken when the snapshot track is made.
    holder: Option<moq_tokio::Client>,
    /// The standing subscription, once it runs.
    holding: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
pub struct MoqSink {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// Kept apart from the state so `stats` reads never wait on a render.
    stats: Mutex<Stats>,
    counts: Mutex<Arc<SessionCounts>>,
    /// A watch on the session, for its counters, and the counters last
    /// read.
    monitor: Mutex<Option<moq_tokio::connection::Monitor>>,
    wire: Mutex<Wire>,
}

impl MoqSink {
    fn state(&self) -> MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap()
    }

    fn catalog(&self, caps: &gst::CapsRef, settings: &Settings) -> Result<Catalog, String> {
        let s = caps.structure(0).ok_or("empty caps")?;
        let dimension = |name: &str| {
            s.get::<i32>(name)
                .ok()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| format!("caps lack `{name}`"))
        };
        if s.name() == MEDIA_TYPE {
            let g = geometry_from_caps(s)?;
            Ok(Catalog {
                version: CATALOG_VERSION,
                codec: Codec::Delta,
                caps: caps.to_string(),
                width: g.width,
                height: g.height,
                frames_track: FRAMES_TRACK.into(),
                snapshot_track: Some(SNAPSHOT_TRACK.into()),
                snapshot_interval_ms: Some(settings.snapshot_interval.as_millis() as u64),
                tile_size: Some(g.tile_size),
                cache_tiles: Some(cache_tiles_from_caps(s)),
            })
        } else {
            Ok(Catalog {
                version: CATALOG_VERSION,
                codec: Codec::H264,
                caps: caps.to_string(),
                width: dimension("width")?,
                height: dimension("height")?,
                frames_track: FRAMES_TRACK.into(),
                snapshot_track: None,
                snapshot_interval_ms: None,
                tile_size: None,
                cache_tiles: None,
            })
        }
    }

    /// Watches the session from the runtime: a relay that cannot be
    /// reached, or a session that ends while the element runs, is an
    /// element error. Sending on the returned channel closes the session,
    /// after the relay has taken what was written.
    fn watch(
        &self,
        address: RelayAddress,
        connection: moq_tokio::Connection,
    ) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let weak = self.obj().downgrade();
        let (stop, stopped) = oneshot::channel();
        let task = runtime().spawn(async move {
            let reason = match address.established(connection).await {
                Ok(connection) => {
                    if let Some(obj) = weak.upgrade() {
                        gst::info!(CAT, obj = obj, "connected to {}", address.url);
                    }
                    tokio::select! {
                        reason = session_end(&connection) => reason,
                        _ = stopped => {
                            let _ = connection.close().await;
                            return;
                        }
                    }
                }
                Err(e) => e.to_string(),
            };
            if let Some(obj) = weak.upgrade() {
                if obj.imp().state().is_some() {
                    gst::element_error!(
                        obj,
                        gst::ResourceError::Write,
                        ("Cannot publish to the MoQ relay {}: {}", address.url, reason),
                        ["Check that moq-relay runs there and that `fingerprint` is its certificate's"]
                    );
                }
            }
        });
        (stop, task)
    }

    /// The QUIC connection's counters, read now if it is up.
    fn wire(&self) -> Wire {
        let mut wire = self.wire.lock().unwrap();
        if let Some(stats) = self
            .monitor
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|m| m.stats())
        {
            *wire = Wire {
                bytes_sent: stats.bytes_sent.unwrap_or(wire.bytes_sent),
                bytes_received: stats.bytes_received.unwrap_or(wire.bytes_received),
                bytes_lost: stats.bytes_lost.unwrap_or(wire.bytes_lost),
                rtt: stats.rtt.or(wire.rtt),
            };
        }
        *wire
    }

    /// The `stats` property's structure.
    fn stats_structure(&self) -> gst::Structure {
        let s = *self.stats.lock().unwrap();
        let counts = self.counts.lock().unwrap().clone();
        let wire = self.wire();
        gst::Structure::builder("application/x-moqsink-stats")
            .field("frames", s.frames)
            .field("bytes", s.bytes)
            .field("keyframes", s.keyframes)
            .field("snapshots", s.snapshots)
            .field("snapshot-bytes", s.snapshot_bytes)
            .field("catalogs", s.catalogs)
            .field("skipped", s.skipped)
            .field(
                "snapshots-held",
                counts.snapshots_held.load(Ordering::Relaxed),
            )
            .field("wire-bytes-sent", wire.bytes_sent)
            .field("wire-bytes-received", wire.bytes_received)
            .field("wire-bytes-lost", wire.bytes_lost)
            .field("rtt", wire.rtt.map_or(0, nanos))
            .build()
    }

    /// Changes only, once the snapshot track exists, with `hold-snapshots`:
    /// keeps the element's own subscription to it open (a second session),
    /// so the relay holds every snapshot and a join costs the origin nothing.
    fn hold_snapshots(&self, state: &mut State) {
        let counts = self.counts.lock().unwrap().clone();
        let Some(client) = state.holder.take() else {
            return;
        };
        let address = state.address.clone();
        let broadcast = state.settings.relay.broadcast.clone();
        let weak = self.obj().downgrade();
        state.holding = Some(runtime().spawn(async move {
            let held = async {
                let sub =
                    BroadcastSubscription::connect(client, &address, &broadcast, address.timeout)
                        .await?;
                sub.hold(SNAPSHOT_TRACK, |_| {
                    counts.snapshots_held.fetch_add(1, Ordering::Relaxed);
                })
                .await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            };
            if let Err(e) = held.await {
                if let Some(obj) = weak.upgrade() {
                    gst::warning!(
                        CAT,
                        obj = obj,
                        "the standing subscription to the snapshot track ended ({e}): \
                         a join now costs this origin a snapshot each"
                    );
                }
            }
        }));
    }
}

#[glib::object_subclass]
impl ObjectSubclass for MoqSink {
    const NAME: &'static str = "GstMoqSink";
    type Type = super::MoqSink;
    type ParentType = gst_base::BaseSink;
}

impl ObjectImpl for MoqSink {
    fn constructed(&self) {
        self.parent_constructed();
        // A live source already paces the frames; syncing would hold each
        // one for the pipeline's latency before it leaves.
        self.obj().set_sync(false);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            let mut props = relay_properties(
                "Nanoseconds the QUIC and MoQ handshakes with the relay may take before the \
                 element fails",
            );
            props.push(
                glib::ParamSpecUInt64::builder("snapshot-interval")
                    .nick("Snapshot interval")
                    .blurb(
                        "Changes only: nanoseconds between snapshots on the snapshot track \
                         (a joiner's first picture is the latest snapshot and the frames \
                         since; the relay keeps frames this long and 2 s more)",
                    )
                    .minimum(nanos(Duration::from_millis(100)))
                    .maximum(nanos(MAX_SNAPSHOT_INTERVAL))
                    .default_value(nanos(DEFAULT_SNAPSHOT_INTERVAL))
                    .mutable_ready()
                    .build(),
            );
            props.push(
                glib::ParamSpecBoolean::builder("hold-snapshots")
                    .nick("Hold snapshots")
                    .blurb(
                        "Changes only: keep a subscription of the element's own to its \
                         snapshot track (a second session to the relay), so the relay always \
                         holds the latest snapshot and the origin sends one per interval \
                         however many viewers join; off, the relay asks the origin for the \
                         snapshot at each join that finds no one else subscribed to it",
                    )
                    .default_value(true)
                    .mutable_ready()
                    .build(),
            );
            props.push(
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(
                        "Totals since the element started (application/x-moqsink-stats): \
                         frames, bytes (objects, headers included), keyframes, snapshots, \
                         snapshot-bytes, catalogs, skipped (H.264 access units before the first \
                         keyframe, not published), snapshots-held (snapshots the \
                         element's own subscription received back); the QUIC connection's own \
                         counters, every packet with its headers, encryption and \
                         retransmissions: wire-bytes-sent, wire-bytes-received, \
                         wire-bytes-lost, rtt (smoothed round trip, ns; 0 before the first)",
                    )
                    .read_only()
                    .build(),
            );
            props
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        if settings.relay.set(pspec.name(), value) {
            gst::debug!(CAT, imp = self, "{} = {:?}", pspec.name(), value);
            return;
        }
        match pspec.name() {
            "snapshot-interval" => {
                settings.snapshot_interval =
                    Duration::from_nanos(value.get().expect("type checked upstream"))
            }
            "hold-snapshots" => {
                settings.hold_snapshots = value.get().expect("type checked upstream")
            }
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "{} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap().clone();
        if let Some(value) = settings.relay.get(pspec.name()) {
            return value;
        }
        match pspec.name() {
            "snapshot-interval" => nanos(settings.snapshot_interval).to_value(),
            "hold-snapshots" => settings.hold_snapshots.to_value(),
            "stats" => self.stats_structure().to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for MoqSink {}

impl ElementImpl for MoqSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "MoQ sink",
                "Sink/Network",
                &format!(
                    "Publishes the changes-only stream (a QUIC stream per frame, and snapshots \
                 for late joiners on a track of their own) or H.264 (a group per keyframe) \
                 as a broadcast at a Media over QUIC relay (docs/moq.md). Example: {EXAMPLE}"
                ),
                "Streamkit developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            vec![gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &moq_template(),
            )
            .expect("valid template")]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseSinkImpl for MoqSink {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let address = settings.relay.address()?;
        let mut publication = Publication::start(
            &address,
            &settings.relay.broadcast,
            settings.snapshot_interval + FRAMES_KEPT_BEYOND_SNAPSHOT,
        )
        .map_err(|e| gst::error_msg!(gst::ResourceError::OpenWrite, ["{}", e]))?;
        let connection = publication
            .take_connection()
            .expect("a new publication has its session");
        gst::info!(
            CAT,
            imp = self,
            "publishing {} to {}",
            settings.relay.broadcast,
            settings.relay.url
        );
        // The standing subscription's socket, bound here (the caller's
        // network namespace), used once the caps say changes only.
        let holder = if settings.hold_snapshots {
            Some(
                address
                    .client()
                    .map_err(|e| gst::error_msg!(gst::ResourceError::OpenWrite, ["{}", e]))?,
            )
        } else {
            None
        };
        *self.stats.lock().unwrap() = Stats::default();
        *self.counts.lock().unwrap() = Arc::default();
        *self.wire.lock().unwrap() = Wire::default();
        *self.monitor.lock().unwrap() = Some(connection.monitor());
        let (close, session) = self.watch(address.clone(), connection);
        *self.state() = Some(State {
            settings,
            publication,
            snapshots: None,
            codec: None,
            next_sequence: 0,
            started: Instant::now(),
            stats: Stats::default(),
            close,
            session,
            address,
            holder,
            holding: None,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let state = self.state().take();
        if let Some(mut state) = state {
            // moq-net's handles close their tasks when dropped: in the runtime.
            let _runtime = runtime().enter();
            if let Some(task) = &state.holding {
                task.abort();
            }
            state.publication.finish();
            gst::info!(CAT, imp = self, "stopping: {}", self.stats_structure());
            // Its counters are kept (read above).
            self.monitor.lock().unwrap().take();
            // The last groups reach the relay before the session closes;
            // a relay that does not answer costs at most CLOSE_WAIT.
            let _ = state.close.send(());
            let session = state.session;
            let closed =
                runtime().block_on(async { tokio::time::timeout(CLOSE_WAIT, session).await });
            if closed.is_err() {
                gst::warning!(
                    CAT,
                    imp = self,
                    "the relay did not acknowledge the close within {CLOSE_WAIT:?}"
                );
            }
        }
        Ok(())
    }

    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let mut guard = self.state();
        let state = guard
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps before start"))?;
        let catalog = self
            .catalog(caps, &state.settings)
            .map_err(|e| gst::loggable_error!(CAT, "cannot publish caps {caps}: {e}"))?;
        state
            .publication
            .write_catalog(&catalog)
            .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
        if catalog.codec == Codec::Delta && state.snapshots.is_none() {
            self.hold_snapshots(state);
            // The decoder's bounds are the stream's own (the caps'
            // geometry), so a stream larger than a default decoder's limits
            // still gets snapshots.
            state.snapshots = Some(SnapshotMaker::new(
                state.settings.snapshot_interval,
                catalog.cache_tiles.unwrap_or(0),
                DecoderLimits {
                    max_width: catalog.width,
                    max_height: catalog.height,
                    ..DecoderLimits::default()
                },
            ));
        }
        state.codec = Some(catalog.codec);
        state.stats.catalogs += 1;
        *self.stats.lock().unwrap() = state.stats;
        gst::debug!(CAT, imp = self, "catalog: {}", catalog.caps);
        Ok(())
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let map = buffer.map_readable().map_err(|_| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("Could not map a buffer"));
            gst::FlowError::Error
        })?;
        let mut guard = self.state();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let header = ObjectHeader {
            pts: buffer.pts().map(Duration::from),
            sync: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
            discont: buffer.flags().contains(gst::BufferFlags::DISCONT),
        };
        let object = write_object(&header, &map);
        // One clock for the relay's retention and the snapshots: the
        // presentation time, or for a buffer without one, the time since
        // the element started.
        let time = header.pts.unwrap_or_else(|| state.started.elapsed());
        let size = object.len() as u64;
        let result = match state.codec {
            Some(Codec::Delta) => {
                let sequence = state.next_sequence;
                state.next_sequence += 1;
                let written = state.publication.write_frame(sequence, object, Some(time));
                let damaged = buffer.flags().contains(gst::BufferFlags::CORRUPTED)
                    || (sequence > 0 && header.discont);
                let snapshot = state
                    .snapshots
                    .as_mut()
                    .and_then(|maker| maker.follow(&map, time, damaged));
                match (written, snapshot) {
                    (Ok(()), Some(snapshot)) => {
                        let snap = write_object(
                            &ObjectHeader {
                                sync: true,
                                discont: false,
                                pts: header.pts,
                            },
                            &snapshot,
                        );
                        state.stats.snapshots += 1;
                        state.stats.snapshot_bytes += snap.len() as u64;
                        state.publication.write_snapshot(sequence, snap, Some(time))
                    }
                    (result, _) => result,
                }
            }
            // A group starts with a keyframe: what comes before the first is
            // of no use to any viewer.
            Some(Codec::H264) if !header.sync && state.stats.keyframes == 0 => {
                state.stats.skipped += 1;
                *self.stats.lock().unwrap() = state.stats;
                return Ok(gst::FlowSuccess::Ok);
            }
            Some(Codec::H264) => {
                state
                    .publication
                    .write_access_unit(object, header.sync, Some(time))
            }
            None => {
                drop(guard);
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ("A buffer came before caps")
                );
                return Err(gst::FlowError::NotNegotiated);
            }
        };
        if let Err(e) = result {
            drop(guard);
            gst::element_imp_error!(self, gst::ResourceError::Write, ("Cannot publish: {}", e));
            return Err(gst::FlowError::Error);
        }
        state.stats.frames += 1;
        state.stats.bytes += size;
        if header.sync {
            state.stats.keyframes += 1;
        }
        *self.stats.lock().unwrap() = state.stats;
        Ok(gst::FlowSuccess::Ok)
    }

    fn event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            if let Some(state) = self.state().as_mut() {
                // Subscribers see the broadcast end.
                state.publication.finish();
            }
        }
        self.parent_event(event)
    }
}
