// SPDX-License-Identifier: MPL-2.0
//! One broadcast published to a relay: its catalog, frames and snapshot
//! tracks (docs/moq.md). Every write goes into moq-net's model, in memory,
//! and returns at once; the session's tasks on the shared runtime send it,
//! newest groups first, and reset a group that has grown too old. A
//! streaming thread that writes never waits on the network.

use std::time::Duration;

use moq_net::{broadcast, group, track, Timescale, Timestamp};

use super::catalog::{Catalog, Codec};
use super::client::{ClientError, RelayAddress};
use super::runtime::runtime;
use super::{CATALOG_TRACK, FRAMES_TRACK, SNAPSHOT_TRACK};

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the broadcast's codec cannot change from {0:?} to {1:?}")]
    CodecChanged(Codec, Codec),
    #[error("no catalog written yet")]
    NoCatalog,
    #[error("moq-net refused the write: {0}")]
    Model(String),
    #[error(transparent)]
    Catalog(#[from] super::catalog::CatalogError),
}

fn model(e: moq_net::Error) -> PublishError {
    PublishError::Model(e.to_string())
}

struct Tracks {
    codec: Codec,
    frames: track::Producer,
    snapshot: Option<track::Producer>,
    /// H.264: the open group (a keyframe and what depends on it).
    gop: Option<group::Producer>,
}

/// A broadcast at a relay.
pub struct Publication {
    /// The session publishes what this origin holds; kept for as long.
    _origin: moq_net::origin::Producer,
    broadcast: broadcast::Producer,
    catalog: track::Producer,
    tracks: Option<Tracks>,
    connection: Option<moq_tokio::Connection>,
    /// How long the relay keeps a frames group (changes only: a snapshot
    /// interval and more, so a joiner finds every frame since the latest
    /// snapshot).
    frames_max_age: Duration,
    announced: bool,
}

impl Publication {
    /// Dials `address` and creates broadcast `name` on it; returns at once
    /// (the handshakes go on in the runtime: watch [`Self::take_connection`]).
    /// The socket is bound in the calling thread's network namespace.
    pub fn start(
        address: &RelayAddress,
        name: &str,
        frames_max_age: Duration,
    ) -> Result<Self, ClientError> {
        let _guard = runtime().enter();
        let client = address.client()?;
        let origin = moq_tokio::origin::spawn();
        let broadcast = origin
            .create_broadcast(name)
            .map_err(|e| ClientError::Broadcast {
                broadcast: name.into(),
                reason: e.to_string(),
            })?;
        let catalog =
            broadcast
                .create_track(CATALOG_TRACK, None)
                .map_err(|e| ClientError::Broadcast {
                    broadcast: name.into(),
                    reason: e.to_string(),
                })?;
        let connection = client.with_publisher(&origin).connect(address.url.clone());
        Ok(Self {
            _origin: origin,
            broadcast,
            catalog,
            tracks: None,
            connection: Some(connection),
            frames_max_age,
            announced: false,
        })
    }

    /// The session, to watch from a task: take it once.
    pub fn take_connection(&mut self) -> Option<moq_tokio::Connection> {
        self.connection.take()
    }

    /// Writes `catalog` (a new catalog group: the first, or a change of
    /// geometry), making the tracks it names at the first, and announces the
    /// broadcast once they exist, so a subscriber that acts on the
    /// announcement finds them.
    pub fn write_catalog(&mut self, catalog: &Catalog) -> Result<(), PublishError> {
        let object = catalog.to_object()?;
        match &self.tracks {
            Some(t) if t.codec != catalog.codec => {
                return Err(PublishError::CodecChanged(t.codec, catalog.codec))
            }
            Some(_) => {}
            None => {
                let info = track::Info::default()
                    .with_timescale(Timescale::MICRO)
                    .with_max_age(self.frames_max_age);
                let frames = self
                    .broadcast
                    .create_track(FRAMES_TRACK, info.clone())
                    .map_err(model)?;
                let snapshot = match catalog.codec {
                    Codec::Delta => Some(
                        self.broadcast
                            .create_track(SNAPSHOT_TRACK, info)
                            .map_err(model)?,
                    ),
                    Codec::H264 => None,
                };
                self.tracks = Some(Tracks {
                    codec: catalog.codec,
                    frames,
                    snapshot,
                    gop: None,
                });
            }
        }
        let mut group = self.catalog.append_group().map_err(model)?;
        group.write_frame(Timestamp::now(), object).map_err(model)?;
        group.finish().map_err(model)?;
        if !self.announced {
            self.broadcast.announce(Default::default()).map_err(model)?;
            self.announced = true;
        }
        Ok(())
    }

    fn tracks(&mut self) -> Result<&mut Tracks, PublishError> {
        self.tracks.as_mut().ok_or(PublishError::NoCatalog)
    }

    /// Changes only: frame `sequence` as a group of its own.
    pub fn write_frame(
        &mut self,
        sequence: u64,
        object: Vec<u8>,
        pts: Option<Duration>,
    ) -> Result<(), PublishError> {
        let tracks = self.tracks()?;
        write_group(&tracks.frames, sequence, object, pts)
    }

    /// Changes only: the snapshot standing for frame `sequence`.
    pub fn write_snapshot(
        &mut self,
        sequence: u64,
        object: Vec<u8>,
        pts: Option<Duration>,
    ) -> Result<(), PublishError> {
        let tracks = self.tracks()?;
        let snapshot = tracks.snapshot.as_ref().ok_or(PublishError::NoCatalog)?;
        write_group(snapshot, sequence, object, pts)
    }

    /// H.264: an access unit; a keyframe (`sync`) opens a new group and
    /// closes the one before.
    pub fn write_access_unit(
        &mut self,
        object: Vec<u8>,
        sync: bool,
        pts: Option<Duration>,
    ) -> Result<(), PublishError> {
        let tracks = self.tracks()?;
        if sync || tracks.gop.is_none() {
            if let Some(old) = tracks.gop.take() {
                let _ = old.finish();
            }
            tracks.gop = Some(tracks.frames.append_group().map_err(model)?);
        }
        let gop = tracks.gop.as_mut().expect("opened above");
        gop.write_frame(timestamp(pts), object).map_err(model)
    }

    /// Ends the broadcast: subscribers see it finish.
    pub fn finish(&mut self) {
        if let Some(t) = self.tracks.as_mut() {
            if let Some(gop) = t.gop.take() {
                let _ = gop.finish();
            }
            let _ = t.frames.finish();
            if let Some(snapshot) = &t.snapshot {
                let _ = snapshot.finish();
            }
        }
        let _ = self.catalog.finish();
        self.broadcast.close();
    }
}

fn timestamp(pts: Option<Duration>) -> Timestamp {
    pts.and_then(|d| Timestamp::from_micros(u64::try_from(d.as_micros()).ok()?).ok())
        .unwrap_or_else(Timestamp::now)
}

fn write_group(
    track: &track::Producer,
    sequence: u64,
    object: Vec<u8>,
    pts: Option<Duration>,
) -> Result<(), PublishError> {
    let mut group = track
        .create_group(group::Info { sequence })
        .map_err(model)?;
    group.write_frame(timestamp(pts), object).map_err(model)?;
    group.finish().map_err(model)
}
