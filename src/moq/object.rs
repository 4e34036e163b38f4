// SPDX-License-Identifier: MPL-2.0
//! One MoQ object of a Streamkit broadcast: a ten-byte header and the
//! payload (docs/moq.md, "Objects").
//!
//! ```text
//! byte 0      version (1)
//! byte 1      flags: bit 0 sync point (a keyframe or a snapshot: decodable alone),
//!                    bit 1 discontinuity (the publisher lost or dropped input before it);
//!                    the other bits are 0
//! bytes 2..10 presentation time, nanoseconds, big-endian; all ones: none
//! bytes 10..  payload (a changes-only frame or snapshot, or one H.264 access unit)
//! ```
//!
//! A reader refuses an object that is shorter than its header, of another
//! version, with unknown flags, empty, or larger than its limit, the way the
//! RTP depayloader refuses a bad packet: the object is dropped and counted,
//! nothing else is disturbed.

use std::time::Duration;

use thiserror::Error;

/// The object header's version byte.
pub const OBJECT_VERSION: u8 = 1;
/// Bytes before the payload.
pub const OBJECT_HEADER_LEN: usize = 10;
/// Flag: the payload decodes alone (a keyframe, or a snapshot).
pub const FLAG_SYNC: u8 = 0x01;
/// Flag: input was lost or dropped before this object.
pub const FLAG_DISCONT: u8 = 0x02;
const KNOWN_FLAGS: u8 = FLAG_SYNC | FLAG_DISCONT;
/// A reader's default limit on one object's payload (`moqsrc`'s
/// `max-object-bytes`, the browser viewer's): 64 MiB.
pub const DEFAULT_MAX_OBJECT_BYTES: u32 = 64 << 20;
/// The presentation time field's value for "none".
const NO_PTS: u64 = u64::MAX;

/// What the header says of the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ObjectHeader {
    /// Presentation time, if the publisher had one.
    pub pts: Option<Duration>,
    /// The payload decodes alone.
    pub sync: bool,
    /// Input was lost or dropped before this object.
    pub discont: bool,
}

/// Why an object was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ObjectError {
    #[error("object of {0} bytes is shorter than its {OBJECT_HEADER_LEN}-byte header")]
    Truncated(usize),
    #[error("object version {0}, this build reads version {OBJECT_VERSION}")]
    Version(u8),
    #[error("object flags {0:#04x} name bits this version does not define")]
    Flags(u8),
    #[error("object has no payload")]
    Empty,
    #[error("object payload of {size} bytes is over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
}

/// Writes `header` and `payload` as one object.
pub fn write_object(header: &ObjectHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(OBJECT_HEADER_LEN + payload.len());
    out.push(OBJECT_VERSION);
    let mut flags = 0;
    if header.sync {
        flags |= FLAG_SYNC;
    }
    if header.discont {
        flags |= FLAG_DISCONT;
    }
    out.push(flags);
    // 584 years of nanoseconds; beyond that is "none" rather than a wrap.
    let pts = header
        .pts
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
        .filter(|&n| n != NO_PTS)
        .unwrap_or(NO_PTS);
    out.extend_from_slice(&pts.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads an object, refusing a payload over `max_payload` bytes. Returns
/// the header and the payload, a slice of `data`.
pub fn parse_object(data: &[u8], max_payload: usize) -> Result<(ObjectHeader, &[u8]), ObjectError> {
    if data.len() < OBJECT_HEADER_LEN {
        return Err(ObjectError::Truncated(data.len()));
    }
    if data[0] != OBJECT_VERSION {
        return Err(ObjectError::Version(data[0]));
    }
    let flags = data[1];
    if flags & !KNOWN_FLAGS != 0 {
        return Err(ObjectError::Flags(flags));
    }
    let mut pts = [0u8; 8];
    pts.copy_from_slice(&data[2..OBJECT_HEADER_LEN]);
    let pts = u64::from_be_bytes(pts);
    let payload = &data[OBJECT_HEADER_LEN..];
    if payload.is_empty() {
        return Err(ObjectError::Empty);
    }
    if payload.len() > max_payload {
        return Err(ObjectError::TooLarge {
            size: payload.len(),
            limit: max_payload,
        });
    }
    Ok((
        ObjectHeader {
            pts: (pts != NO_PTS).then(|| Duration::from_nanos(pts)),
            sync: flags & FLAG_SYNC != 0,
            discont: flags & FLAG_DISCONT != 0,
        },
        payload,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_flag_and_time() {
        for (sync, discont) in [(false, false), (true, false), (false, true), (true, true)] {
            for pts in [None, Some(Duration::ZERO), Some(Duration::new(12, 345))] {
                let header = ObjectHeader { pts, sync, discont };
                let data = write_object(&header, b"payload");
                assert_eq!(data.len(), OBJECT_HEADER_LEN + 7);
                let (read, payload) = parse_object(&data, 1 << 20).unwrap();
                assert_eq!(read, header);
                assert_eq!(payload, b"payload");
            }
        }
    }

    #[test]
    fn a_time_past_64_bits_is_none_not_a_wrap() {
        let header = ObjectHeader {
            pts: Some(Duration::from_secs(u64::MAX)),
            ..Default::default()
        };
        let (read, _) = parse_object(&write_object(&header, b"x"), 16).unwrap();
        assert_eq!(read.pts, None);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let good = write_object(&ObjectHeader::default(), b"abc");
        assert_eq!(parse_object(&good[..9], 16), Err(ObjectError::Truncated(9)));
        assert_eq!(
            parse_object(&good[..OBJECT_HEADER_LEN], 16),
            Err(ObjectError::Empty)
        );
        let mut other = good.clone();
        other[0] = 2;
        assert_eq!(parse_object(&other, 16), Err(ObjectError::Version(2)));
        let mut flags = good.clone();
        flags[1] = 0x80;
        assert_eq!(parse_object(&flags, 16), Err(ObjectError::Flags(0x80)));
        assert_eq!(
            parse_object(&good, 2),
            Err(ObjectError::TooLarge { size: 3, limit: 2 })
        );
    }
}
