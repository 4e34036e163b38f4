// SPDX-License-Identifier: MPL-2.0
//! One broadcast subscribed from a relay (docs/moq.md): the catalog, then
//! the frames live, in order within the latency bound; for the changes-only
//! stream, a joiner's first picture and every repair built from the relay's
//! latest snapshot and the frames since, never asked of the origin.
//!
//! Runs on the shared runtime; what it delivers goes through a callback
//! that must not block (the element queues it for its streaming thread).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moq_net::bytes::Bytes;
use moq_net::track::Subscription;
use moq_net::{broadcast, group, track};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::catalog::{Catalog, Codec};
use super::client::{session_end, ClientError, RelayAddress};
use super::object::{parse_object, ObjectHeader};
use super::sequencer::{Released, Sequencer};
use super::snapshot::{composite_and_state, Follower};
use super::{CATALOG_TRACK, FRAMES_TRACK, SNAPSHOT_TRACK};
use crate::delta::geometry::MAX_DIMENSION;
use crate::delta::DecoderLimits;

/// What the subscription hands on.
#[derive(Debug)]
pub enum Delivery {
    /// A frame's payload (or a composite snapshot), in order: a view
    /// into the received object, not a copy.
    Object {
        header: ObjectHeader,
        payload: Bytes,
    },
}

/// The callback said its queue is full: the object was dropped.
#[derive(Debug)]
pub struct QueueFull;

/// Counters since the subscription began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriberStats {
    /// Objects received on the frames track (live and fetched).
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Objects refused: truncated, bad header, over the size limit.
    pub refused: u64,
    /// Frames given up: not there within the latency bound.
    pub lost: u64,
    /// Frames dropped on arrival: after they were given up, already in a
    /// composite (every join and repair counts the live frames its
    /// composite already holds), or duplicated.
    pub late: u64,
    /// Frames dropped because more were held behind a missing one than the
    /// holding limit allows.
    pub overflow: u64,
    /// Frames dropped because the element's queue was full.
    pub dropped: u64,
    /// Pictures built from the relay's snapshot and frames: the join, then
    /// each repair.
    pub composites: u64,
    /// Attempts to build one that failed (and were tried again).
    pub composite_failures: u64,
    /// Of the composites, the repairs built from the subscriber's own
    /// state, with no snapshot from the relay.
    pub own_repairs: u64,
    /// Frames a composite wanted that the relay no longer had (or sent as
    /// an object that was refused).
    pub fetch_misses: u64,
    /// From the start (the element's) to the session's handshakes done.
    pub connect_time: Option<Duration>,
    /// From asking for the broadcast's tracks (the catalog, the frames and
    /// the snapshot, at once) to the first picture handed on: the join.
    pub join_time: Option<Duration>,
    /// From the start to the first picture handed on.
    pub first_picture_time: Option<Duration>,
}

/// Why a subscription ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("track `{track}`: {reason}")]
    Track { track: String, reason: String },
    #[error("bad catalog: {0}")]
    Catalog(String),
    #[error("the relay ended track `{0}`")]
    Ended(String),
}

fn track_error(track: &str, e: impl std::fmt::Display) -> SubscribeError {
    SubscribeError::Track {
        track: track.into(),
        reason: e.to_string(),
    }
}

/// How to subscribe.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// How long a frame may wait behind a missing one.
    pub latency: Duration,
    /// Frames held behind a missing one, at most.
    pub max_held: usize,
    /// Largest payload of an object.
    pub max_object_bytes: usize,
    /// Bounds for the composite's decoder.
    pub limits: DecoderLimits,
    /// A failed composite is tried again after this.
    pub retry: Duration,
    /// Keep a decoder of its own that follows the frames handed on, so a
    /// repair starts from the subscriber's own state (the frames since the
    /// loss, fetched where missing) instead of the relay's snapshot: it
    /// costs the decoding of every frame once more.
    pub follow: bool,
}

/// The tracks a join asked for at once ([`BroadcastSubscription::join`]).
pub struct Joining {
    started: Instant,
    catalog: Option<Result<JoinHandle<Result<Catalog, SubscribeError>>, SubscribeError>>,
    live: Option<JoinHandle<Result<track::Subscriber, SubscribeError>>>,
    snapshot: Option<JoinHandle<Result<SnapshotGroup, String>>>,
}

impl Joining {
    /// The broadcast's catalog (the latest).
    pub async fn catalog(&mut self) -> Result<Catalog, SubscribeError> {
        match self.catalog.take() {
            Some(Ok(handle)) => handle.await.map_err(|e| track_error(CATALOG_TRACK, e))?,
            Some(Err(e)) => Err(e),
            None => Err(SubscribeError::Catalog("read twice".into())),
        }
    }

    /// The live subscription of the frames track `name`: the one asked for
    /// at the join if the catalog kept the mapping's name, else a new one.
    async fn live(
        &mut self,
        frames: &track::Consumer,
        name: &str,
        latency: Duration,
    ) -> Result<track::Subscriber, SubscribeError> {
        match self.live.take() {
            Some(handle) if name == FRAMES_TRACK => {
                handle.await.map_err(|e| track_error(name, e))?
            }
            _ => live(frames, name, latency).await,
        }
    }

    /// The latest snapshot being fetched: the one asked for at the join if
    /// the catalog kept the mapping's name, else asked for now.
    fn snapshot(
        &mut self,
        name: &str,
        snapshots: &track::Consumer,
    ) -> JoinHandle<Result<SnapshotGroup, String>> {
        match self.snapshot.take() {
            Some(handle) if name == SNAPSHOT_TRACK => handle,
            other => {
                if let Some(unwanted) = other {
                    unwanted.abort();
                }
                tokio::spawn(latest_snapshot(snapshots.clone()))
            }
        }
    }
}

impl Drop for Joining {
    fn drop(&mut self) {
        // What was asked for and not taken is not wanted.
        for handle in [
            self.live.take().map(|h| h.abort_handle()),
            self.snapshot.take().map(|h| h.abort_handle()),
            self.catalog
                .take()
                .and_then(|c| c.ok())
                .map(|h| h.abort_handle()),
        ]
        .into_iter()
        .flatten()
        {
            handle.abort();
        }
    }
}

/// Subscribes to track `name` as it stands (no floor, no age limit: the
/// relay starts with its latest group) and waits for that group to open.
/// The subscription is returned with it: the group is the subscription's.
async fn latest_group(
    track: &track::Consumer,
    name: &str,
) -> Result<(track::Subscriber, group::Consumer), SubscribeError> {
    let mut subscription = track
        .subscribe(None)
        .await
        .map_err(|e| track_error(name, e))?;
    let group = subscription
        .recv_group()
        .await
        .map_err(|e| track_error(name, e))?
        .ok_or_else(|| SubscribeError::Ended(name.into()))?;
    Ok((subscription, group))
}

/// Reads the catalog track's latest group.
async fn read_catalog(track: track::Consumer) -> Result<Catalog, SubscribeError> {
    let (_subscription, mut group) = latest_group(&track, CATALOG_TRACK).await?;
    let frame = group
        .read_frame()
        .await
        .map_err(|e| track_error(CATALOG_TRACK, e))?
        .ok_or_else(|| SubscribeError::Catalog("an empty catalog group".into()))?;
    Catalog::parse(&frame.payload).map_err(|e| SubscribeError::Catalog(e.to_string()))
}

/// A broadcast found at a relay.
pub struct BroadcastSubscription {
    _origin: moq_net::origin::Producer,
    connection: moq_tokio::Connection,
    broadcast: broadcast::Consumer,
}

impl BroadcastSubscription {
    /// Dials `address` with `client` (see [`RelayAddress::client`]) and
    /// waits up to `wait` for broadcast `name` to be announced there. Call
    /// within the runtime.
    pub async fn connect(
        client: moq_tokio::Client,
        address: &RelayAddress,
        name: &str,
        wait: Duration,
    ) -> Result<Self, ClientError> {
        let origin = moq_tokio::origin::spawn();
        let connection = client
            .with_subscriber(origin.clone())
            .connect(address.url.clone());
        let connection = address.established(connection).await?;
        let broadcast =
            match tokio::time::timeout(wait, origin.consume().routed_broadcast(name)).await {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => {
                    return Err(ClientError::Broadcast {
                        broadcast: name.into(),
                        reason: e.to_string(),
                    })
                }
                Err(_) => return Err(ClientError::NoBroadcast(name.into(), wait)),
            };
        Ok(Self {
            _origin: origin,
            connection,
            broadcast,
        })
    }

    /// Resolves when the session ends.
    pub async fn closed(&self) -> String {
        session_end(&self.connection).await
    }

    /// Resolves when the publisher ends the broadcast.
    pub async fn ended(&self) {
        self.broadcast.closed().await;
    }

    fn track(&self, name: &str) -> Result<track::Consumer, SubscribeError> {
        self.broadcast.track(name).map_err(|e| track_error(name, e))
    }

    /// Starts the join: asks for the catalog, the frames (live) and the
    /// latest snapshot all at once, under the track names docs/moq.md
    /// gives them, so the first picture is one round trip away rather than
    /// three. [`Self::run`] uses what was asked for if the catalog names the
    /// same tracks (it always does for a Streamkit origin), else asks again.
    pub fn join(&self, latency: Duration) -> Joining {
        let track = |name: &str| self.track(name);
        let catalog = track(CATALOG_TRACK).map(|t| tokio::spawn(read_catalog(t)));
        let live_sub = track(FRAMES_TRACK)
            .map(|t| tokio::spawn(async move { live(&t, FRAMES_TRACK, latency).await }));
        let snapshot = self
            .track(SNAPSHOT_TRACK)
            .ok()
            .map(|t| tokio::spawn(latest_snapshot(t)));
        Joining {
            started: Instant::now(),
            catalog: Some(catalog),
            live: live_sub.ok(),
            snapshot,
        }
    }

    /// Keeps a subscription to track `name` open until it ends, reading
    /// and dropping what arrives (`received` is told each object's size),
    /// so the relay keeps subscribing to it upstream and holds its latest
    /// group for every joiner: an origin's standing subscriber to its own
    /// snapshot track (docs/moq.md, "Who pays for a join").
    pub async fn hold(
        &self,
        name: &str,
        mut received: impl FnMut(usize),
    ) -> Result<(), SubscribeError> {
        let mut sub = self
            .track(name)?
            .subscribe(None)
            .await
            .map_err(|e| track_error(name, e))?;
        while let Some(mut group) = sub.recv_group().await.map_err(|e| track_error(name, e))? {
            while let Ok(Some(frame)) = group.read_frame().await {
                received(frame.payload.len());
            }
        }
        Ok(())
    }

    /// Receives `catalog`'s frames until the track ends, handing each on
    /// through `deliver`; `joining` is what [`Self::join`] asked for.
    pub async fn run(
        &self,
        catalog: &Catalog,
        joining: Joining,
        options: &SubscribeOptions,
        stats: &Arc<Mutex<SubscriberStats>>,
        deliver: impl FnMut(Delivery) -> Result<(), QueueFull>,
    ) -> Result<(), SubscribeError> {
        let subscribed = joining.started;
        let mut deliver = deliver;
        let mut first = true;
        let timed = |d: Delivery| {
            if std::mem::take(&mut first) {
                stats.lock().unwrap().join_time = Some(subscribed.elapsed());
            }
            deliver(d)
        };
        match catalog.codec {
            Codec::Delta => {
                self.run_delta(catalog, joining, options, stats, timed)
                    .await
            }
            Codec::H264 => self.run_h264(catalog, joining, options, stats, timed).await,
        }
    }

    async fn run_delta(
        &self,
        catalog: &Catalog,
        mut joining: Joining,
        options: &SubscribeOptions,
        stats: &Arc<Mutex<SubscriberStats>>,
        mut deliver: impl FnMut(Delivery) -> Result<(), QueueFull>,
    ) -> Result<(), SubscribeError> {
        let frames_name = catalog.frames_track.as_str();
        let snapshot_name = catalog
            .snapshot_track
            .clone()
            .unwrap_or_else(|| SNAPSHOT_TRACK.into());
        let frames = self.track(frames_name)?;
        let snapshots = self.track(&snapshot_name)?;
        let mut live = joining.live(&frames, frames_name, options.latency).await?;
        // The join's snapshot, asked for at the join (one round trip saved).
        let mut asked_snapshot = Some(joining.snapshot(&snapshot_name, &snapshots));
        let start = Instant::now();
        let now = || start.elapsed();
        let mut sequencer: Sequencer<(ObjectHeader, Bytes)> =
            Sequencer::new(options.latency, options.max_held);
        let mut reading: JoinSet<Option<(u64, Bytes)>> = JoinSet::new();
        let mut building: Option<tokio::task::JoinHandle<Result<Built, String>>> = None;
        // A picture is needed: at the join, and after any loss.
        let mut need_picture = true;
        let mut retry_at: Option<Instant> = None;
        let mut last_released: Option<u64> = None;
        let cache_tiles = catalog.cache_tiles.unwrap_or(0);
        // A composite is as large as the catalog says the stream is, and no
        // larger than the codec allows: a snapshot claiming more is refused
        // before anything is allocated for it.
        let mut options = options.clone();
        options.limits.max_width = catalog.width.min(MAX_DIMENSION);
        options.limits.max_height = catalog.height.min(MAX_DIMENSION);
        let options = &options;
        let mut live_ended = false;
        // The frames handed on lately (sequence: pts and payload), newest
        // last, for repairs.
        let mut recent = Frames::default();
        let mut recent_bytes = 0usize;
        // Something before the next delivery was dropped or skipped.
        let mut pending_discont = false;
        // The state after the last frame handed on in order from the last
        // composite (`options.follow`): where the next repair starts.
        let mut follower: Option<Follower> = None;
        // A repair from the viewer's own state, done and brought up to the
        // last frame handed on: the next frame in order is handed on as its
        // picture.
        let mut ready: Option<Follower> = None;

        loop {
            // The track ended and what was in flight has landed: hand on
            // what is held, gaps given up, and end.
            if live_ended && reading.is_empty() && building.is_none() {
                let rest = sequencer.poll(now() + options.latency + options.latency);
                for Released {
                    item: (mut header, payload),
                    after_gap,
                    ..
                } in rest
                {
                    header.discont |= after_gap;
                    if deliver(Delivery::Object { header, payload }).is_err() {
                        stats.lock().unwrap().dropped += 1;
                    }
                }
                return Ok(());
            }
            // Start building a picture when one is needed and a frame to
            // build it up to has arrived.
            if need_picture
                && building.is_none()
                && ready.is_none()
                && retry_at.is_none_or(|t| Instant::now() >= t)
            {
                let newest = sequencer.newest_held().max(last_released);
                if let Some(target) = newest {
                    // From the relay's snapshot, the frames wait for the
                    // picture; from the viewer's own state they go on
                    // meanwhile (marked discontinuous), and the picture
                    // takes the place of the next one.
                    if follower.is_none() {
                        sequencer.pause();
                    }
                    retry_at = None;
                    // The frames already here (held, or handed on since the
                    // snapshot) are used as they are; only the others are
                    // fetched.
                    let mut held = recent.clone();
                    held.extend(
                        sequencer
                            .held_up_to(target)
                            .into_iter()
                            .map(|(sequence, (header, payload))| (sequence, (header.pts, payload))),
                    );
                    let wanted = Wanted { target, held };
                    building = Some(match follower.take() {
                        Some(own) => {
                            tokio::spawn(repair_from(own, frames.clone(), wanted, options.clone()))
                        }
                        None => tokio::spawn(build_picture(
                            asked_snapshot.take(),
                            snapshots.clone(),
                            frames.clone(),
                            wanted,
                            cache_tiles,
                            options.clone(),
                        )),
                    });
                }
            }
            let deadline = sequencer.deadline();
            let mut released = Vec::new();
            tokio::select! {
                group = live.recv_group(), if !live_ended => match group {
                    Ok(Some(group)) => {
                        reading.spawn(read_group(group));
                    }
                    Ok(None) => live_ended = true,
                    Err(e) => return Err(track_error(frames_name, e)),
                },
                Some(read) = reading.join_next(), if !reading.is_empty() => {
                    if let Ok(Some((sequence, data))) = read {
                        if let Some((header, payload)) = accept(stats, &data, options) {
                            // Given up already: not handed on, but kept
                            // for the repair that wants it.
                            if last_released.is_some_and(|l| sequence <= l)
                                && !recent.contains_key(&sequence)
                            {
                                recent_bytes += payload.len();
                                recent.insert(sequence, (header.pts, payload.clone()));
                            }
                            released = sequencer.push(sequence, (header, payload), now());
                        }
                    }
                }
                _ = sleep_until_opt(deadline.map(|d| start + d)) => {
                    released = sequencer.poll(now());
                }
                _ = sleep_until_opt(retry_at), if building.is_none() => {}
                built = join_opt(&mut building) => {
                    building = None;
                    if let Ok(Ok(built)) = &built {
                        let mut s = stats.lock().unwrap();
                        s.fetch_misses += built.misses;
                        s.objects += built.objects;
                        s.bytes += built.bytes;
                        s.refused += built.refused;
                    }
                    match built {
                        // From the viewer's own state, exact up to the
                        // frame it was asked for; the frames handed on
                        // since then bring it up to date.
                        Ok(Ok(mut built)) if built.own && built.misses == 0 => {
                            let own = built.follower.take();
                            match own.map(|own| catch_up(own, last_released, &recent)) {
                                Some(Ok(own)) if Some(own.at()) >= last_released => {
                                    ready = Some(own);
                                    need_picture = false;
                                }
                                // Another loss meanwhile: again from here.
                                Some(Ok(own)) => follower = Some(own),
                                _ => {
                                    stats.lock().unwrap().composite_failures += 1;
                                    retry_at = Some(Instant::now() + options.retry);
                                }
                            }
                        }
                        // Every frame since the snapshot was there: the
                        // picture is exact.
                        Ok(Ok(mut built)) if built.misses == 0 => {
                            {
                                let mut s = stats.lock().unwrap();
                                s.composites += 1;
                                s.own_repairs += u64::from(built.own);
                            }
                            follower = built.follower.take().filter(|_| options.follow);
                            need_picture = false;
                            let header = ObjectHeader {
                                sync: true,
                                discont: std::mem::take(&mut pending_discont),
                                ..built.header
                            };
                            if deliver(Delivery::Object { header, payload: built.picture.into() }).is_err() {
                                stats.lock().unwrap().dropped += 1;
                                need_picture = true;
                                pending_discont = true;
                            }
                            last_released = Some(built.sequence);
                            released = sequencer.start_at(built.sequence + 1, now());
                        }
                        // A frame since the snapshot could not be had (the
                        // relay no longer holds it):
                        // the picture would not be exact. Or the snapshot
                        // could not be read. Try again with a newer one.
                        Ok(Ok(_)) | Ok(Err(_)) | Err(_) => {
                            stats.lock().unwrap().composite_failures += 1;
                            retry_at = Some(Instant::now() + options.retry);
                            // Go on live meanwhile, marked discontinuous,
                            // if the stream had been started.
                            if let Some(last) = last_released {
                                released = sequencer.start_at(last + 1, now());
                                pending_discont = true;
                            }
                        }
                    }
                }
            }
            let s = sequencer.stats();
            {
                let mut st = stats.lock().unwrap();
                st.lost = s.lost;
                st.late = s.late;
                st.overflow = s.overflow;
            }
            for Released {
                sequence,
                item: (mut header, payload),
                after_gap,
            } in released
            {
                last_released = Some(sequence);
                // Kept for the next repair, which then fetches from the
                // relay only what never arrived.
                if let Some((_, old)) = recent.insert(sequence, (header.pts, payload.clone())) {
                    recent_bytes -= old.len();
                }
                recent_bytes += payload.len();
                while recent.len() > RECENT_FRAMES || recent_bytes > RECENT_BYTES {
                    match recent.pop_first() {
                        Some((_, (_, old))) => recent_bytes -= old.len(),
                        None => break,
                    }
                }
                if let Some(own) = &mut follower {
                    // In order from its state, or not at all (after a
                    // gap it waits, exact, for the repair).
                    if own.follow(sequence, &payload).is_err() {
                        follower = None;
                    }
                }
                // The frame as sent stays in `recent`; a finished repair
                // hands on its picture in its place.
                let mut payload = payload;
                if let Some(mut own) = ready.take() {
                    match own.follow(sequence, &payload) {
                        Ok(true) => match own.picture() {
                            Some(picture) => {
                                payload = picture.into();
                                header.sync = true;
                                follower = Some(own);
                                let mut s = stats.lock().unwrap();
                                s.composites += 1;
                                s.own_repairs += 1;
                            }
                            None => stats.lock().unwrap().composite_failures += 1,
                        },
                        // After another gap: a repair from it again.
                        Ok(false) => follower = Some(own),
                        Err(_) => stats.lock().unwrap().composite_failures += 1,
                    }
                }
                if after_gap {
                    header.discont = true;
                    need_picture = true;
                }
                header.discont |= std::mem::take(&mut pending_discont);
                if deliver(Delivery::Object { header, payload }).is_err() {
                    stats.lock().unwrap().dropped += 1;
                    need_picture = true;
                    pending_discont = true;
                }
            }
        }
    }

    async fn run_h264(
        &self,
        catalog: &Catalog,
        mut joining: Joining,
        options: &SubscribeOptions,
        stats: &Arc<Mutex<SubscriberStats>>,
        mut deliver: impl FnMut(Delivery) -> Result<(), QueueFull>,
    ) -> Result<(), SubscribeError> {
        let name = catalog.frames_track.as_str();
        let frames = self.track(name)?;
        let mut live = joining.live(&frames, name, options.latency).await?;
        // An H.264 broadcast has no snapshot track: stop asking.
        drop(joining);
        // The group being read, and a newer one waiting for it to end: the
        // newer one takes over when the current one is complete, or when it
        // has waited the latency bound (what is left of the old group then
        // depends on a keyframe the decoder has moved past).
        let mut current: Option<group::Consumer> = None;
        let mut waiting: Option<(group::Consumer, Instant)> = None;
        let mut live_ended = false;
        let mut discont = false;
        loop {
            if current.is_none() {
                current = waiting.take().map(|(g, _)| g);
            }
            if live_ended && current.is_none() {
                return Ok(());
            }
            let give_up_at = waiting.as_ref().map(|(_, since)| *since + options.latency);
            tokio::select! {
                group = live.recv_group(), if !live_ended => match group {
                    Ok(Some(group)) => {
                        let newest = waiting
                            .as_ref()
                            .map(|(g, _)| g.sequence)
                            .or(current.as_ref().map(|c| c.sequence));
                        if newest.is_some_and(|n| n >= group.sequence) {
                            stats.lock().unwrap().late += 1;
                        } else if current.is_none() {
                            current = Some(group);
                        } else {
                            // A still newer group supersedes the waiting one.
                            if waiting.is_some() {
                                stats.lock().unwrap().lost += 1;
                            }
                            waiting = Some((group, Instant::now()));
                        }
                    }
                    Ok(None) => live_ended = true,
                    Err(e) => return Err(track_error(name, e)),
                },
                _ = sleep_until_opt(give_up_at) => {
                    // The current group stalled behind the bound: move on.
                    current = None;
                    stats.lock().unwrap().lost += 1;
                    discont = true;
                }
                frame = next_frame(&mut current) => match frame {
                    Ok(Some(data)) => {
                        if let Some((mut header, payload)) = accept(stats, &data, options) {
                            header.discont |= std::mem::take(&mut discont);
                            if deliver(Delivery::Object { header, payload }).is_err() {
                                stats.lock().unwrap().dropped += 1;
                                discont = true;
                            }
                        }
                    }
                    // The group is complete: the waiting one, or the next.
                    Ok(None) => current = None,
                    Err(_) => {
                        stats.lock().unwrap().lost += 1;
                        current = None;
                        discont = true;
                    }
                },
            }
        }
    }
}

/// The frames a subscriber keeps after handing them on, for its repairs
/// (a snapshot interval's worth at 30 frames a second and more): at most
/// this many, and this many bytes.
const RECENT_FRAMES: usize = 256;
const RECENT_BYTES: usize = 32 << 20;

/// The shortest age limit asked of the relay, whatever the latency bound:
/// a frame given up at once is still wanted when it arrives late (its
/// repair uses it), and a relay skipping groups a few milliseconds old would
/// skip them whenever the path queues.
const MIN_RELAY_AGE: Duration = Duration::from_millis(100);

/// The live subscription of frames track `name`: groups no older than
/// `latency` (at least [`MIN_RELAY_AGE`]) behind the newest.
async fn live(
    frames: &track::Consumer,
    name: &str,
    latency: Duration,
) -> Result<track::Subscriber, SubscribeError> {
    frames
        .subscribe(Subscription::default().with_max_age(latency.max(MIN_RELAY_AGE)))
        .await
        .map_err(|e| track_error(name, e))
}

/// Counts an object received on the frames track and reads it; `None`
/// (counted as refused) when it cannot be read.
fn accept(
    stats: &Mutex<SubscriberStats>,
    data: &Bytes,
    options: &SubscribeOptions,
) -> Option<(ObjectHeader, Bytes)> {
    let mut s = stats.lock().unwrap();
    s.objects += 1;
    s.bytes += data.len() as u64;
    match read_object(data, options) {
        Ok(object) => Some(object),
        Err(_) => {
            s.refused += 1;
            None
        }
    }
}

/// What a picture is built up to: frame `target`, with the frames already
/// here (sequence: pts and payload) used rather than fetched.
struct Wanted {
    target: u64,
    held: Frames,
}

/// Reads an object's header; its payload is a view into `data`.
fn read_object(
    data: &Bytes,
    options: &SubscribeOptions,
) -> Result<(ObjectHeader, Bytes), super::object::ObjectError> {
    let (header, payload) = parse_object(data, options.max_object_bytes)?;
    Ok((header, data.slice_ref(payload)))
}

/// Frames by sequence: their pts and payload (views into the objects as
/// received, so that keeping and copying them copies no frame).
type Frames = std::collections::BTreeMap<u64, (Option<Duration>, Bytes)>;

/// A composite and what it stands for.
struct Built {
    sequence: u64,
    header: ObjectHeader,
    picture: Vec<u8>,
    /// The state the picture was taken of, to follow on from.
    follower: Option<Follower>,
    /// Built from the subscriber's own state.
    own: bool,
    misses: u64,
    /// Objects fetched (the snapshot and frames) and their bytes.
    objects: u64,
    bytes: u64,
    /// Fetched objects that were refused.
    refused: u64,
}

/// The relay's latest snapshot group, its object still arriving: the
/// group's sequence is the frame the snapshot was taken at.
struct SnapshotGroup {
    base: u64,
    group: group::Consumer,
    /// Kept until the object is read: the group belongs to it.
    _subscription: track::Subscriber,
}

/// Asks the relay for the snapshot track's latest group; resolves when the
/// group opens (its sequence known), before its object has arrived.
async fn latest_snapshot(snapshots: track::Consumer) -> Result<SnapshotGroup, String> {
    let (subscription, group) = latest_group(&snapshots, SNAPSHOT_TRACK)
        .await
        .map_err(|e| e.to_string())?;
    Ok(SnapshotGroup {
        base: group.sequence,
        group,
        _subscription: subscription,
    })
}

/// A picture from a snapshot (`asked`: one already asked for, at the join;
/// else the relay's latest now) and the frames after it up to `target`
/// (or up to the snapshot, if it is newer). The frames are fetched as soon
/// as the snapshot's group opens, while its object is still arriving.
async fn build_picture(
    asked: Option<JoinHandle<Result<SnapshotGroup, String>>>,
    snapshots: track::Consumer,
    frames: track::Consumer,
    wanted: Wanted,
    cache_tiles: u32,
    options: SubscribeOptions,
) -> Result<Built, String> {
    let Wanted { target, mut held } = wanted;
    let SnapshotGroup {
        base,
        mut group,
        _subscription,
    } = match asked {
        Some(handle) => handle.await.map_err(|e| e.to_string())??,
        None => latest_snapshot(snapshots).await?,
    };
    let target = target.max(base);
    // Every frame since the snapshot not already here, fetched meanwhile.
    let fetches = fetch_missing(&frames, base + 1..=target, &held);
    let payload = group
        .read_frame()
        .await
        .map_err(|e| format!("snapshot {base}: {e}"))?
        .ok_or("an empty snapshot group")?
        .payload;
    drop(_subscription);
    let (snap_header, snapshot) =
        parse_object(&payload, options.max_object_bytes).map_err(|e| e.to_string())?;
    let fetched = fetched(fetches, &options).await;
    // The frames after the snapshot, in order: those already here and the
    // fetched ones.
    let mut frames_since = held.split_off(&(base + 1));
    frames_since.extend(fetched.frames);
    let mut header = snap_header;
    if let Some((pts, _)) = frames_since.values().next_back() {
        header.pts = *pts;
    }
    let misses = (target - base) - frames_since.len() as u64;
    let payloads: Vec<&[u8]> = frames_since.values().map(|(_, p)| p.as_ref()).collect();
    let (picture, state) = composite_and_state(snapshot, payloads, cache_tiles, options.limits)
        .map_err(|e| e.to_string())?;
    Ok(Built {
        sequence: target,
        header,
        picture,
        follower: (misses == 0).then(|| Follower::new(state, target)),
        own: false,
        misses,
        objects: 1 + fetched.objects,
        bytes: payload.len() as u64 + fetched.bytes,
        refused: fetched.refused,
    })
}

/// The frames of `range` that `held` lacks, each fetched from the relay
/// (one fetch per group), all at once.
fn fetch_missing(
    frames: &track::Consumer,
    range: std::ops::RangeInclusive<u64>,
    held: &Frames,
) -> JoinSet<Option<(u64, Bytes)>> {
    let mut fetches = JoinSet::new();
    for sequence in range.filter(|s| !held.contains_key(s)) {
        let frames = frames.clone();
        fetches.spawn(async move {
            let group = frames.fetch_group(sequence, None).await.ok()?;
            read_group(group).await
        });
    }
    fetches
}

/// What [`fetch_missing`]'s fetches brought.
struct Fetched {
    /// The frames read.
    frames: Frames,
    /// Objects received, their bytes, and those refused.
    objects: u64,
    bytes: u64,
    refused: u64,
}

/// Waits for every fetch and reads what came.
async fn fetched(
    mut fetches: JoinSet<Option<(u64, Bytes)>>,
    options: &SubscribeOptions,
) -> Fetched {
    let mut out = Fetched {
        frames: Frames::new(),
        objects: 0,
        bytes: 0,
        refused: 0,
    };
    while let Some(result) = fetches.join_next().await {
        if let Ok(Some((sequence, data))) = result {
            out.objects += 1;
            out.bytes += data.len() as u64;
            match read_object(&data, options) {
                Ok((h, p)) => {
                    out.frames.insert(sequence, (h.pts, p));
                }
                Err(_) => out.refused += 1,
            }
        }
    }
    out
}

/// Brings `own` up to `last` (the last frame handed on) with the frames
/// handed on since it was taken, as far as they go in order.
fn catch_up(
    mut own: Follower,
    last: Option<u64>,
    recent: &Frames,
) -> Result<Follower, super::snapshot::FollowError> {
    while last.is_some_and(|last| own.at() < last) {
        let next = own.at() + 1;
        match recent.get(&next) {
            Some((_, frame)) => {
                own.follow(next, frame)?;
            }
            None => break,
        }
    }
    Ok(own)
}

/// A repair from the subscriber's own state (`own`, exact at some frame
/// before the loss): the frames since it up to `wanted.target`, those not
/// here fetched from the relay, applied in order; no snapshot. A frame that
/// cannot be had leaves no state to follow on from (the next try asks the
/// relay for its snapshot).
async fn repair_from(
    mut own: Follower,
    frames: track::Consumer,
    wanted: Wanted,
    options: SubscribeOptions,
) -> Result<Built, String> {
    let Wanted { target, held } = wanted;
    let target = target.max(own.at());
    let fetched = fetched(
        fetch_missing(&frames, own.at() + 1..=target, &held),
        &options,
    )
    .await;
    let frame = |s: u64| held.get(&s).or_else(|| fetched.frames.get(&s));
    let misses = (own.at() + 1..=target)
        .filter(|&s| frame(s).is_none())
        .count() as u64;
    let pts = frame(target).and_then(|(pts, _)| *pts);
    // The state only: its picture is taken when it replaces a frame.
    let follower = if misses == 0 {
        own.advance_to(target, |s| frame(s).map(|(_, p)| p.as_ref()))
            .map_err(|e| e.to_string())?;
        Some(own)
    } else {
        None
    };
    Ok(Built {
        sequence: target,
        header: ObjectHeader {
            pts,
            sync: true,
            discont: false,
        },
        picture: Vec::new(),
        follower,
        own: true,
        misses,
        objects: fetched.objects,
        bytes: fetched.bytes,
        refused: fetched.refused,
    })
}

/// A group's first object (a changes-only frame or snapshot is one object
/// a group), with the group's sequence; `None` if the group failed.
async fn read_group(mut group: group::Consumer) -> Option<(u64, Bytes)> {
    let sequence = group.sequence;
    let frame = group.read_frame().await.ok()??;
    Some((sequence, frame.payload))
}

async fn next_frame(
    current: &mut Option<group::Consumer>,
) -> Result<Option<Bytes>, moq_net::Error> {
    match current {
        Some(group) => Ok(group.read_frame().await?.map(|f| f.payload)),
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn join_opt<T>(
    handle: &mut Option<tokio::task::JoinHandle<T>>,
) -> Result<T, tokio::task::JoinError> {
    match handle {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}
