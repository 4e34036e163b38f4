// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-moqsrc
 * @see_also: moqsink, deltadec
 *
 * Subscribes to a broadcast at a Media over QUIC relay (`moq-relay`) and
 * pushes its frames, as docs/moq.md maps them: it asks for the catalog,
 * the frames and the latest snapshot at once, sets its caps from the
 * catalog (`video/x-streamkit-delta` or `video/x-h264`), then receives the
 * frames live.
 *
 * Changes only: every frame is a QUIC stream of its own, so frames can
 * arrive out of order; the element pushes them in order, holding a frame
 * behind a missing one for at most `latency`, after which the missing one
 * is given up (the next buffer is DISCONT: deltadec shows the frames after
 * it, with the tiles the lost one changed stale). The first picture is
 * built from the relay's cache: its latest snapshot and every frame since,
 * decoded inside the element into one keyframe pushed as the next buffer.
 * A repair after a loss starts, with `follow-state` (the default), from
 * the element's own copy of the decoder state, exact at the frame before
 * the lost one: once the lost frame is there (arrived late, or fetched
 * from the relay) and the frames pushed since are applied, the next frame
 * is pushed as a keyframe of the whole picture, exact again, while the
 * frames in between were not held. Without `follow-state`, or if that
 * fails, the repair is built like the first picture and the frames wait
 * for it. Nothing is asked of the origin and no other viewer sees it.
 *
 * `latency` chooses between the two ways to meet a lost packet: the
 * default, 100 ms, waits for QUIC's retransmission, so every picture is
 * exact and a frame behind a loss is late by about a round trip; a few
 * milliseconds shows the frames behind a loss at once, as RTP does, and the
 * picture is exact again about a round trip later (docs/quic.md, "Not
 * waiting").
 *
 * H.264: a group per keyframe; the element pushes the access units of the
 * newest group, and a newer group replaces an unfinished one (DISCONT).
 *
 * A live source: buffers are stamped with the pipeline's running time when
 * they are pushed; the latency it reports is `latency`. A relay that cannot
 * be reached, a broadcast that does not appear within `timeout`, or a
 * catalog that is not a Streamkit catalog is an element error; an object
 * that cannot be read (truncated, a bad header, over `max-object-bytes`)
 * is dropped and counted in `stats`. When the broadcast ends the element
 * sends EOS.
 *
 * ## Example launch line
 * Watch the broadcast pipelines/moq-publish.sh publishes at the relay
 * pipelines/moq-relay.sh runs (which writes its certificate's fingerprint
 * to /tmp/streamkit-moq/fingerprint):
 * |[
 * FP=$(cat /tmp/streamkit-moq/fingerprint)
 * gst-launch-1.0 moqsrc url=https://127.0.0.1:4443/ broadcast=screen fingerprint=$FP ! \
 *     deltadec ! videoconvert ! autovideosink
 * ]|
 */
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_src::CreateSuccess;
use gst_base::subclass::prelude::*;
use once_cell::sync::Lazy;
use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::delta::DecoderLimits;
use crate::gstcommon::caps::moq_template;
use crate::gstcommon::clock::{clock_time, nanos};
use crate::gstcommon::moqprops::{relay_properties, RelaySettings, EXAMPLE};
use crate::moq::client::RelayAddress;
use crate::moq::object::DEFAULT_MAX_OBJECT_BYTES;
use crate::moq::runtime::runtime;
use crate::moq::subscriber::{
    BroadcastSubscription, Delivery, QueueFull, SubscribeOptions, SubscriberStats,
};
use crate::rtp::MAX_FRAME_BYTES;

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "moqsrc",
        gst::DebugColorFlags::empty(),
        Some("Streamkit MoQ source: subscribes at a Media over QUIC relay"),
    )
});

const DEFAULT_LATENCY: Duration = Duration::from_millis(100);
const MAX_LATENCY: Duration = Duration::from_secs(10);
/// Objects queued for the streaming thread; a full queue drops (a loss,
/// repaired like one).
const QUEUE_LIMIT: usize = 64;
/// Frames held behind a missing one, at most.
const MAX_HELD: usize = 512;
/// How long frames in flight may take to arrive once the broadcast ended.
const END_GRACE: Duration = Duration::from_secs(1);
/// A composite that failed is tried again after this.
const RETRY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
struct Settings {
    relay: RelaySettings,
    latency: Duration,
    max_object_bytes: u32,
    follow_state: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            relay: RelaySettings::default(),
            latency: DEFAULT_LATENCY,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            follow_state: true,
        }
    }
}

/// What the subscription's task hands the streaming thread.
enum Item {
    Caps(gst::Caps),
    Object(Delivery),
    Eos,
    Error(String),
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    flushing: bool,
}

type Shared = Arc<(Mutex<Queue>, Condvar)>;

struct State {
    queue: Shared,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
pub struct MoqSrc {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// The subscription's counters: new at each start, kept after stop.
    stats: Mutex<Arc<Mutex<SubscriberStats>>>,
}

fn push(queue: &Shared, item: Item) -> Result<(), QueueFull> {
    let (lock, cvar) = &**queue;
    let mut q = lock.lock().unwrap();
    if matches!(item, Item::Object(_)) && q.items.len() >= QUEUE_LIMIT {
        return Err(QueueFull);
    }
    q.items.push_back(item);
    cvar.notify_one();
    Ok(())
}

/// The subscription, from connecting to the end of the broadcast.
async fn subscribe(
    client: moq_tokio::Client,
    address: RelayAddress,
    broadcast: String,
    options: SubscribeOptions,
    queue: Shared,
    stats: Arc<Mutex<SubscriberStats>>,
) {
    let started = std::time::Instant::now();
    let result = async {
        let sub = BroadcastSubscription::connect(client, &address, &broadcast, address.timeout)
            .await
            .map_err(|e| e.to_string())?;
        stats.lock().unwrap().connect_time = Some(started.elapsed());
        let mut joining = sub.join(options.latency);
        let catalog = joining.catalog().await.map_err(|e| e.to_string())?;
        let caps = gst::Caps::from_str(&catalog.caps)
            .ok()
            .filter(|caps| caps.is_fixed() && caps.can_intersect(&moq_template()))
            .ok_or_else(|| {
                format!(
                    "the catalog's caps `{}` are not a stream this element carries",
                    catalog.caps
                )
            })?;
        let _ = push(&queue, Item::Caps(caps));
        let mut first = true;
        let run = sub.run(&catalog, joining, &options, &stats, |d| {
            if std::mem::take(&mut first) {
                stats.lock().unwrap().first_picture_time = Some(started.elapsed());
            }
            push(&queue, Item::Object(d))
        });
        tokio::pin!(run);
        tokio::select! {
            run = &mut run => run.map_err(|e| e.to_string()),
            reason = sub.closed() => Err(reason),
            // The publisher finishes its tracks before it ends the
            // broadcast: let what is in flight arrive.
            () = sub.ended() => match tokio::time::timeout(END_GRACE, &mut run).await {
                Ok(run) => run.map_err(|e| e.to_string()),
                Err(_) => Ok(()),
            },
        }
    }
    .await;
    let _ = push(
        &queue,
        match result {
            Ok(()) => Item::Eos,
            Err(e) => Item::Error(e),
        },
    );
}

#[glib::object_subclass]
impl ObjectSubclass for MoqSrc {
    const NAME: &'static str = "GstMoqSrc";
    type Type = super::MoqSrc;
    type ParentType = gst_base::PushSrc;
}

impl ObjectImpl for MoqSrc {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_live(true);
        obj.set_format(gst::Format::Time);
        obj.set_do_timestamp(true);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            let mut props = relay_properties(
                "Nanoseconds the handshakes with the relay, and then the broadcast's \
                 announcement, may each take before the element fails",
            );
            props.push(
                glib::ParamSpecUInt64::builder("latency")
                    .nick("Latency")
                    .blurb(
                        "Nanoseconds a frame may wait behind a missing one before the missing \
                         one is given up (changes only): the default waits for QUIC's \
                         retransmission, a few ms shows the frames behind a loss at once and \
                         repairs the picture about a round trip later (see follow-state); also \
                         the age after which the relay may skip a group for this viewer (at \
                         least 100 ms); reported as the source's latency",
                    )
                    .minimum(0)
                    .maximum(nanos(MAX_LATENCY))
                    .default_value(nanos(DEFAULT_LATENCY))
                    .mutable_ready()
                    .build(),
            );
            props.push(
                glib::ParamSpecUInt::builder("max-object-bytes")
                    .nick("Maximum object size")
                    .blurb("Bytes of one object's payload beyond which it is refused and counted")
                    .minimum(1)
                    .maximum(MAX_FRAME_BYTES as u32)
                    .default_value(DEFAULT_MAX_OBJECT_BYTES)
                    .mutable_ready()
                    .build(),
            );
            props.push(
                glib::ParamSpecBoolean::builder("follow-state")
                    .nick("Follow the state")
                    .blurb(
                        "Changes only: keep a decoder that follows the frames pushed, so that a \
                         repair after a loss starts from this viewer's own state and costs the \
                         frames since the loss (fetched from the relay where missing) rather \
                         than the relay's snapshot; costs decoding every frame once more",
                    )
                    .default_value(true)
                    .mutable_ready()
                    .build(),
            );
            props.push(
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(
                        "Totals since the element started (application/x-moqsrc-stats): \
                         objects and bytes (live and fetched), refused (unreadable \
                         objects), lost (given up after the latency bound), late (dropped on \
                         arrival: given up before, or already in a composite), overflow (over \
                         the holding limit), dropped (queue full), composites (pictures built \
                         from the relay's cache: the join and each repair), own-repairs (of \
                         them, repairs from this viewer's own state, see follow-state), \
                         composite-failures, fetch-misses (frames the relay no longer had); \
                         connect-time (start to the handshakes done), join-time (asking for \
                         the catalog, frames and snapshot to the first picture), first-picture-time (start to \
                         the first picture), in nanoseconds, 0 until they happen",
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
            "latency" => {
                settings.latency = Duration::from_nanos(value.get().expect("type checked upstream"))
            }
            "max-object-bytes" => {
                settings.max_object_bytes = value.get().expect("type checked upstream")
            }
            "follow-state" => settings.follow_state = value.get().expect("type checked upstream"),
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
            "latency" => nanos(settings.latency).to_value(),
            "max-object-bytes" => settings.max_object_bytes.to_value(),
            "follow-state" => settings.follow_state.to_value(),
            "stats" => {
                let s = *self.stats.lock().unwrap().lock().unwrap();
                gst::Structure::builder("application/x-moqsrc-stats")
                    .field("objects", s.objects)
                    .field("bytes", s.bytes)
                    .field("refused", s.refused)
                    .field("lost", s.lost)
                    .field("late", s.late)
                    .field("overflow", s.overflow)
                    .field("dropped", s.dropped)
                    .field("composites", s.composites)
                    .field("composite-failures", s.composite_failures)
                    .field("own-repairs", s.own_repairs)
                    .field("fetch-misses", s.fetch_misses)
                    .field("connect-time", s.connect_time.map_or(0, nanos))
                    .field("join-time", s.join_time.map_or(0, nanos))
                    .field("first-picture-time", s.first_picture_time.map_or(0, nanos))
                    .build()
                    .to_value()
            }
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for MoqSrc {}

impl ElementImpl for MoqSrc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "MoQ source",
                "Source/Network",
                &format!(
                "Subscribes to a broadcast at a Media over QUIC relay: the changes-only stream \
                 in order within a latency bound, its first picture and every repair built \
                 from the relay's snapshot and cached frames; or H.264 (docs/moq.md). Example: {EXAMPLE}"),
                "Streamkit developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            vec![gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &moq_template(),
            )
            .expect("valid template")]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseSrcImpl for MoqSrc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let address = settings.relay.address()?;
        let options = SubscribeOptions {
            latency: settings.latency,
            max_held: MAX_HELD,
            max_object_bytes: settings.max_object_bytes as usize,
            limits: DecoderLimits::default(),
            retry: RETRY,
            follow: settings.follow_state,
        };
        // The socket is bound here, in this thread's network namespace.
        let client = address
            .client()
            .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ["{}", e]))?;
        let queue: Shared = Arc::default();
        let stats = Arc::new(Mutex::new(SubscriberStats::default()));
        let task = runtime().spawn(subscribe(
            client,
            address,
            settings.relay.broadcast.clone(),
            options,
            queue.clone(),
            stats.clone(),
        ));
        gst::info!(
            CAT,
            imp = self,
            "subscribing to {} at {}",
            settings.relay.broadcast,
            settings.relay.url
        );
        *self.stats.lock().unwrap() = stats;
        *self.state.lock().unwrap() = Some(State { queue, task });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = self.state.lock().unwrap().take() {
            // Dropping the subscription's task closes its session.
            state.task.abort();
        }
        Ok(())
    }

    fn negotiate(&self) -> Result<(), gst::LoggableError> {
        // The caps come from the broadcast's catalog, set before the first
        // buffer (see `create`).
        Ok(())
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn query(&self, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let latency = self.settings.lock().unwrap().latency;
            q.set(true, clock_time(latency), gst::ClockTime::NONE);
            return true;
        }
        BaseSrcImplExt::parent_query(self, query)
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = self.state.lock().unwrap().as_ref() {
            let (lock, cvar) = &*state.queue;
            lock.lock().unwrap().flushing = true;
            cvar.notify_all();
        }
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = self.state.lock().unwrap().as_ref() {
            state.queue.0.lock().unwrap().flushing = false;
        }
        Ok(())
    }
}

impl PushSrcImpl for MoqSrc {
    fn create(
        &self,
        _buffer: Option<&mut gst::BufferRef>,
    ) -> Result<CreateSuccess, gst::FlowError> {
        let queue = self
            .state
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.queue.clone())
            .ok_or(gst::FlowError::Flushing)?;
        loop {
            let item = {
                let (lock, cvar) = &*queue;
                let mut q = lock.lock().unwrap();
                loop {
                    if q.flushing {
                        return Err(gst::FlowError::Flushing);
                    }
                    if let Some(item) = q.items.pop_front() {
                        break item;
                    }
                    q = cvar.wait(q).unwrap();
                }
            };
            match item {
                Item::Caps(caps) => {
                    gst::info!(CAT, imp = self, "caps from the catalog: {caps}");
                    if self.obj().set_caps(&caps).is_err() {
                        gst::element_imp_error!(
                            self,
                            gst::CoreError::Negotiation,
                            ("Downstream does not accept the broadcast's caps {}", caps)
                        );
                        return Err(gst::FlowError::NotNegotiated);
                    }
                }
                Item::Object(Delivery::Object { header, payload }) => {
                    let mut buffer = gst::Buffer::from_slice(payload);
                    {
                        let b = buffer.get_mut().expect("a new buffer is writable");
                        if !header.sync {
                            b.set_flags(gst::BufferFlags::DELTA_UNIT);
                        }
                        if header.discont {
                            b.set_flags(gst::BufferFlags::DISCONT);
                        }
                    }
                    return Ok(CreateSuccess::NewBuffer(buffer));
                }
                Item::Eos => {
                    gst::info!(CAT, imp = self, "the broadcast ended");
                    return Err(gst::FlowError::Eos);
                }
                Item::Error(reason) => {
                    let url = self.settings.lock().unwrap().relay.url.clone();
                    gst::element_imp_error!(
                        self,
                        gst::ResourceError::Read,
                        ("Cannot watch the MoQ broadcast at {}: {}", url, reason),
                        ["Check that moq-relay runs there, the broadcast is published, and `fingerprint` is the relay certificate's"]
                    );
                    return Err(gst::FlowError::Error);
                }
            }
        }
    }
}
