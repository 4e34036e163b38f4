// SPDX-License-Identifier: MPL-2.0
//! A light viewer's view of its packets: the RTP fixed header (RFC 3550
//! section 5.1), and continuity tallies of sequence numbers and of the
//! encoder's frame numbers. No I/O here.

use gststreamkit::delta::bitstream::FRAME_HEADER_LEN;
use gststreamkit::delta::FrameHeader;
use gststreamkit::rtp::PAYLOAD_HEADER_LEN;

/// The RTP fields a light viewer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub seqnum: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl RtpHeader {
    /// The header of `packet` and its payload (CSRCs, extension and padding
    /// skipped), or `None` when it is not an RTP version 2 packet.
    pub fn parse(packet: &[u8]) -> Option<(RtpHeader, &[u8])> {
        if packet.len() < 12 || packet[0] >> 6 != 2 {
            return None;
        }
        let padding = packet[0] & 0x20 != 0;
        let extension = packet[0] & 0x10 != 0;
        let csrcs = usize::from(packet[0] & 0x0f);
        let header = RtpHeader {
            marker: packet[1] & 0x80 != 0,
            payload_type: packet[1] & 0x7f,
            seqnum: u16::from_be_bytes([packet[2], packet[3]]),
            timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
            ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
        };
        let mut start = 12 + 4 * csrcs;
        if extension {
            let words = packet.get(start + 2..start + 4)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
        }
        let mut end = packet.len();
        if padding {
            end = end.checked_sub(usize::from(*packet.last()?))?;
        }
        (start <= end).then(|| (header, &packet[start..end]))
    }
}

/// The encoder's frame number in the frame header every payload of the
/// delta format repeats (docs/rtp-payload.md), if the payload has one.
pub fn frame_number(payload: &[u8]) -> Option<u32> {
    let header = payload.get(PAYLOAD_HEADER_LEN..PAYLOAD_HEADER_LEN + FRAME_HEADER_LEN)?;
    FrameHeader::parse(header).ok().map(|h| h.frame_number)
}

/// Counts packets missing from a stream of sequence numbers. A packet far
/// behind the newest (reordered or duplicated) is not counted again; a gap
/// filled late is forgiven.
#[derive(Debug, Clone, Default)]
pub struct SequenceTally {
    newest: Option<u16>,
    /// Packets received.
    pub received: u64,
    /// Packets never seen between the first and the newest.
    pub lost: u64,
}

impl SequenceTally {
    pub fn observe(&mut self, seq: u16) {
        self.received += 1;
        let Some(newest) = self.newest else {
            self.newest = Some(seq);
            return;
        };
        let ahead = seq.wrapping_sub(newest);
        if ahead == 0 {
            return;
        }
        if ahead < 0x8000 {
            self.lost += u64::from(ahead - 1);
            self.newest = Some(seq);
        } else {
            // Late: it was counted lost when the newer one arrived.
            self.lost = self.lost.saturating_sub(1);
        }
    }
}

/// Counts frames skipped in the encoder's frame numbering (the frame header
/// of every packet carries it), and when each new frame arrived.
#[derive(Debug, Clone, Default)]
pub struct FrameNumberTally {
    newest: Option<u32>,
    /// Frames with a number not seen before.
    pub frames: u64,
    /// Numbers skipped between the first frame and the newest.
    pub lost: u64,
}

impl FrameNumberTally {
    /// Notes a packet of frame `number`: true when it starts a new frame.
    pub fn observe(&mut self, number: u32) -> bool {
        let Some(newest) = self.newest else {
            self.newest = Some(number);
            self.frames = 1;
            return true;
        };
        let ahead = number.wrapping_sub(newest);
        if ahead == 0 || ahead >= 0x8000_0000 {
            return false;
        }
        self.frames += 1;
        self.lost += u64::from(ahead - 1);
        self.newest = Some(number);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(first: u8, marker: bool, seq: u16, tail: &[u8]) -> Vec<u8> {
        let mut p = vec![first, (u8::from(marker) << 7) | 96];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&9000u32.to_be_bytes());
        p.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        p.extend_from_slice(tail);
        p
    }

    #[test]
    fn the_fixed_header_and_payload_are_read() {
        let p = packet(0x80, true, 65535, b"payload");
        let (h, payload) = RtpHeader::parse(&p).unwrap();
        assert!(h.marker);
        assert_eq!(
            (h.payload_type, h.seqnum, h.timestamp, h.ssrc),
            (96, 65535, 9000, 0xdead_beef)
        );
        assert_eq!(payload, b"payload");
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        // One CSRC, a one-word extension, two bytes of padding.
        let mut tail = vec![0, 0, 0, 1]; // CSRC
        tail.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // extension
        tail.extend_from_slice(b"xy");
        tail.extend_from_slice(&[0, 2]); // padding, its count last
        let p = packet(0x80 | 0x20 | 0x10 | 1, false, 1, &tail);
        let (h, payload) = RtpHeader::parse(&p).unwrap();
        assert!(!h.marker);
        assert_eq!(payload, b"xy");
    }

    #[test]
    fn what_is_not_rtp_is_refused() {
        assert!(RtpHeader::parse(&[0x80; 11]).is_none());
        assert!(RtpHeader::parse(&packet(0x40, false, 1, b"x")).is_none());
        // Padding longer than the packet.
        assert!(RtpHeader::parse(&packet(0xa0, false, 1, &[200])).is_none());
        // Extension running off the end.
        assert!(RtpHeader::parse(&packet(0x90, false, 1, &[0, 0])).is_none());
    }

    #[test]
    fn sequence_gaps_count_as_lost_until_filled() {
        let mut t = SequenceTally::default();
        for s in [65534u16, 65535, 0, 3, 2, 4] {
            t.observe(s);
        }
        // 1 never came; 2 came late.
        assert_eq!((t.received, t.lost), (6, 1));
        t.observe(4);
        assert_eq!(t.lost, 1, "a duplicate changes nothing");
    }

    #[test]
    fn frame_numbers_count_new_frames_and_skips() {
        let mut t = FrameNumberTally::default();
        let news: Vec<bool> = [10u32, 10, 11, 14, 13, 15]
            .iter()
            .map(|n| t.observe(*n))
            .collect();
        assert_eq!(news, [true, false, true, true, false, true]);
        assert_eq!((t.frames, t.lost), (4, 2));
    }
}
