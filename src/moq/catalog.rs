// SPDX-License-Identifier: MPL-2.0
//! The catalog track's one object: what a Streamkit broadcast holds, as
//! JSON (docs/moq.md, "The catalog"). A subscriber reads it before any
//! frame: it names the codec, the caps of the frames, their geometry and,
//! for the changes-only stream, the snapshot track and how often a
//! snapshot is published.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The catalog's version this build writes and reads.
pub const CATALOG_VERSION: u32 = 1;
/// A catalog longer than this is refused before it is parsed.
pub const MAX_CATALOG_BYTES: usize = 16 * 1024;

/// What a broadcast's frames are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Streamkit's changes-only stream (`video/x-streamkit-delta`): a
    /// group per frame, and a snapshot track.
    Delta,
    /// H.264, Annex B, one access unit an object: a group per keyframe
    /// and the frames that depend on it.
    H264,
}

/// The catalog: every field a subscriber needs to set up its decoder.
/// Fields this version does not know are ignored (a later minor addition);
/// a change a reader must understand raises [`CATALOG_VERSION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// [`CATALOG_VERSION`].
    pub version: u32,
    pub codec: Codec,
    /// The GStreamer caps of the frames, as text (`video/x-streamkit-delta,
    /// format=BGRx, width=...`): what the subscribing element sets.
    pub caps: String,
    /// Picture width and height in pixels.
    pub width: u32,
    pub height: u32,
    /// The track of the frames.
    pub frames_track: String,
    /// Changes only: the track of the snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_track: Option<String>,
    /// Changes only: milliseconds between snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_interval_ms: Option<u64>,
    /// Changes only: the tile edge in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile_size: Option<u32>,
    /// Changes only: the tile contents a decoder keeps for recall records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_tiles: Option<u32>,
}

/// Why a catalog was refused.
#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("catalog of {0} bytes is over the limit of {MAX_CATALOG_BYTES}")]
    TooLarge(usize),
    #[error("catalog is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("catalog version {0}, this build reads version {CATALOG_VERSION}")]
    Version(u32),
    #[error("catalog of a changes-only stream names no snapshot track")]
    NoSnapshotTrack,
    #[error("catalog names an empty track")]
    EmptyTrackName,
}

impl Catalog {
    /// The catalog as the bytes of its object.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings and numbers always serialises.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// The catalog as its object, for a publisher: refused if a reader
    /// would refuse it for its size (caps text of kilobytes).
    pub fn to_object(&self) -> Result<Vec<u8>, CatalogError> {
        let bytes = self.to_bytes();
        if bytes.len() > MAX_CATALOG_BYTES {
            return Err(CatalogError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Reads and checks a catalog object.
    pub fn parse(data: &[u8]) -> Result<Self, CatalogError> {
        if data.len() > MAX_CATALOG_BYTES {
            return Err(CatalogError::TooLarge(data.len()));
        }
        let catalog: Catalog = serde_json::from_slice(data)?;
        if catalog.version != CATALOG_VERSION {
            return Err(CatalogError::Version(catalog.version));
        }
        if catalog.frames_track.is_empty() {
            return Err(CatalogError::EmptyTrackName);
        }
        match (&catalog.codec, &catalog.snapshot_track) {
            (Codec::Delta, None) => return Err(CatalogError::NoSnapshotTrack),
            (_, Some(name)) if name.is_empty() => return Err(CatalogError::EmptyTrackName),
            _ => {}
        }
        Ok(catalog)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta() -> Catalog {
        Catalog {
            version: CATALOG_VERSION,
            codec: Codec::Delta,
            caps: "video/x-streamkit-delta, width=(int)64".into(),
            width: 64,
            height: 48,
            frames_track: "frames".into(),
            snapshot_track: Some("snapshot".into()),
            snapshot_interval_ms: Some(1000),
            tile_size: Some(16),
            cache_tiles: Some(0),
        }
    }

    #[test]
    fn round_trips() {
        let c = delta();
        assert_eq!(Catalog::parse(&c.to_bytes()).unwrap(), c);
        let h = Catalog {
            codec: Codec::H264,
            snapshot_track: None,
            snapshot_interval_ms: None,
            tile_size: None,
            cache_tiles: None,
            ..delta()
        };
        let text = String::from_utf8(h.to_bytes()).unwrap();
        assert!(text.contains("\"codec\": \"h264\""), "{text}");
        assert!(!text.contains("snapshot"), "{text}");
        assert_eq!(Catalog::parse(text.as_bytes()).unwrap(), h);
    }

    #[test]
    fn refuses_bad_catalogs() {
        assert!(matches!(
            Catalog::parse(&vec![b' '; MAX_CATALOG_BYTES + 1]),
            Err(CatalogError::TooLarge(_))
        ));
        assert!(matches!(Catalog::parse(b"{"), Err(CatalogError::Json(_))));
        let mut v = delta();
        v.version = 2;
        assert!(matches!(
            Catalog::parse(&v.to_bytes()),
            Err(CatalogError::Version(2))
        ));
        let mut s = delta();
        s.snapshot_track = None;
        assert!(matches!(
            Catalog::parse(&s.to_bytes()),
            Err(CatalogError::NoSnapshotTrack)
        ));
        let mut e = delta();
        e.frames_track.clear();
        assert!(matches!(
            Catalog::parse(&e.to_bytes()),
            Err(CatalogError::EmptyTrackName)
        ));
        assert!(matches!(
            Catalog::parse(br#"{"version": 1}"#),
            Err(CatalogError::Json(_))
        ));
        // An added field is no reason to refuse.
        let extended =
            String::from_utf8(delta().to_bytes())
                .unwrap()
                .replacen('{', "{\"extra\": 1,", 1);
        assert_eq!(Catalog::parse(extended.as_bytes()).unwrap(), delta());
    }

    #[test]
    fn a_publisher_writes_no_catalog_a_reader_refuses() {
        let c = delta();
        assert_eq!(c.to_object().unwrap(), c.to_bytes());
        // Caps text long enough to take the catalog over the limit.
        let long = Catalog {
            caps: format!(
                "video/x-streamkit-delta, note=(string){}",
                "x".repeat(MAX_CATALOG_BYTES)
            ),
            ..delta()
        };
        assert!(
            matches!(long.to_object(), Err(CatalogError::TooLarge(n)) if n > MAX_CATALOG_BYTES)
        );
        assert!(matches!(
            Catalog::parse(&long.to_bytes()),
            Err(CatalogError::TooLarge(_))
        ));
    }
}
