// SPDX-License-Identifier: MPL-2.0
//! Keeps every segment decodable on its own when the encoder sends its
//! parameter sets (H.264 SPS/PPS, H.265 VPS/SPS/PPS) only once, as x265enc
//! does by default: the last ones seen are remembered and put in front of the
//! first slice of a segment's keyframe that lacks them. Works on Annex B
//! byte-stream access units, free of GStreamer types.
//!
//! One set of each kind is remembered (the latest), which is what x264,
//! x265 and OpenH264 produce; streams that switch between several SPS or PPS
//! ids at once are passed through unchanged when they already carry them.

/// The codec of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
}

impl Codec {
    /// The codec of caps named `media_type` (`video/x-h264`,
    /// `video/x-h265`), if it is one of these.
    pub fn from_media_type(media_type: &str) -> Option<Codec> {
        match media_type {
            "video/x-h264" => Some(Codec::H264),
            "video/x-h265" => Some(Codec::H265),
            _ => None,
        }
    }

    fn nal_type(self, header: u8) -> u8 {
        match self {
            Codec::H264 => header & 0x1f,
            Codec::H265 => (header >> 1) & 0x3f,
        }
    }

    /// Parameter-set NAL types, in the order they must appear.
    fn parameter_set_types(self) -> &'static [u8] {
        match self {
            Codec::H264 => &[7, 8],
            Codec::H265 => &[32, 33, 34],
        }
    }

    fn access_unit_delimiter(self) -> u8 {
        match self {
            Codec::H264 => 9,
            Codec::H265 => 35,
        }
    }
}

/// Byte ranges of the NAL units in an Annex B buffer (start codes excluded,
/// trailing zero bytes trimmed).
pub fn nal_units(data: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (n, &start) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(data.len(), |next| next - 3);
        while end > start && data[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            units.push(start..end);
        }
    }
    units
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// The latest parameter sets of a stream.
#[derive(Debug)]
pub struct ParameterSetCache {
    codec: Codec,
    /// Latest NAL unit of each parameter-set type, in `parameter_set_types` order.
    sets: Vec<Option<Vec<u8>>>,
}

impl ParameterSetCache {
    /// An empty cache for `codec`.
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            sets: vec![None; codec.parameter_set_types().len()],
        }
    }

    /// The codec this cache is for.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Remembers the parameter sets carried by an access unit.
    pub fn observe(&mut self, access_unit: &[u8]) {
        let types = self.codec.parameter_set_types();
        for range in nal_units(access_unit) {
            let nal = &access_unit[range];
            let kind = self.codec.nal_type(nal[0]);
            if let Some(slot) = types.iter().position(|&t| t == kind) {
                self.sets[slot] = Some(nal.to_vec());
            }
        }
    }

    /// For an access unit that opens a segment: a copy with the remembered
    /// parameter sets it lacks inserted after its delimiter (if any), ahead
    /// of everything else. `None` when nothing is missing or nothing is known.
    pub fn complete(&self, access_unit: &[u8]) -> Option<Vec<u8>> {
        let types = self.codec.parameter_set_types();
        let units = nal_units(access_unit);
        let present: Vec<u8> = units
            .iter()
            .map(|r| self.codec.nal_type(access_unit[r.start]))
            .collect();
        let missing: Vec<&Vec<u8>> = types
            .iter()
            .zip(&self.sets)
            .filter(|(t, _)| !present.contains(t))
            .filter_map(|(_, set)| set.as_ref())
            .collect();
        if missing.is_empty() {
            return None;
        }

        let extra: usize = missing.iter().map(|s| s.len() + START_CODE.len()).sum();
        let mut out = Vec::with_capacity(access_unit.len() + extra);
        let mut rest = units.as_slice();
        if let Some(first) = units.first() {
            if self.codec.nal_type(access_unit[first.start]) == self.codec.access_unit_delimiter() {
                out.extend_from_slice(&START_CODE);
                out.extend_from_slice(&access_unit[first.clone()]);
                rest = &units[1..];
            }
        }
        for set in missing {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(set);
        }
        for range in rest {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(&access_unit[range.clone()]);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn au(nals: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, nal) in nals.iter().enumerate() {
            // mix 4- and 3-byte start codes as encoders do
            if n == 0 {
                out.extend_from_slice(&[0, 0, 0, 1]);
            } else {
                out.extend_from_slice(&[0, 0, 1]);
            }
            out.extend_from_slice(nal);
        }
        out
    }

    const AUD: &[u8] = &[0x09, 0xf0];
    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1e, 0x95];
    const SPS2: &[u8] = &[0x67, 0x4d, 0x40, 0x28, 0x96];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];
    const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00, 0x33];
    const SLICE: &[u8] = &[0x41, 0x9a, 0x02];

    fn nals(data: &[u8]) -> Vec<Vec<u8>> {
        nal_units(data)
            .into_iter()
            .map(|r| data[r].to_vec())
            .collect()
    }

    #[test]
    fn splits_on_three_and_four_byte_start_codes() {
        let data = au(&[AUD, SPS, PPS, IDR]);
        assert_eq!(nals(&data), [AUD, SPS, PPS, IDR]);
        // trailing zeros before a 4-byte start code belong to the start code
        let mut data = au(&[SPS]);
        data.extend_from_slice(&[0, 0, 0, 0, 1]);
        data.extend_from_slice(PPS);
        assert_eq!(nals(&data), [SPS, PPS]);
    }

    #[test]
    fn h264_keyframe_without_headers_gets_the_remembered_ones() {
        let mut cache = ParameterSetCache::new(Codec::H264);
        cache.observe(&au(&[AUD, SPS, PPS, IDR]));
        cache.observe(&au(&[AUD, SLICE]));
        let fixed = cache.complete(&au(&[AUD, IDR])).expect("headers missing");
        assert_eq!(
            nals(&fixed),
            [AUD, SPS, PPS, IDR],
            "after the delimiter, before the slice"
        );
        let fixed = cache.complete(&au(&[IDR])).expect("headers missing");
        assert_eq!(nals(&fixed), [SPS, PPS, IDR]);
    }

    #[test]
    fn keyframe_that_has_its_headers_is_left_alone() {
        let mut cache = ParameterSetCache::new(Codec::H264);
        let first = au(&[SPS, PPS, IDR]);
        cache.observe(&first);
        assert_eq!(cache.complete(&first), None);
    }

    #[test]
    fn only_the_missing_kind_is_added_and_the_latest_wins() {
        let mut cache = ParameterSetCache::new(Codec::H264);
        cache.observe(&au(&[SPS, PPS, IDR]));
        cache.observe(&au(&[SPS2, SLICE]));
        let fixed = cache.complete(&au(&[PPS, IDR])).expect("sps missing");
        assert_eq!(nals(&fixed), [SPS2, PPS, IDR]);
    }

    #[test]
    fn nothing_known_means_nothing_added() {
        let cache = ParameterSetCache::new(Codec::H264);
        assert_eq!(cache.complete(&au(&[IDR])), None);
    }

    #[test]
    fn h265_vps_sps_pps_in_order() {
        const AUD5: &[u8] = &[0x46, 0x01, 0x10];
        const VPS: &[u8] = &[0x40, 0x01, 0x0c];
        const SPS5: &[u8] = &[0x42, 0x01, 0x01];
        const PPS5: &[u8] = &[0x44, 0x01, 0xc1];
        const IDR5: &[u8] = &[0x26, 0x01, 0xaf];
        const TRAIL: &[u8] = &[0x02, 0x01, 0xd0];
        let mut cache = ParameterSetCache::new(Codec::H265);
        cache.observe(&au(&[AUD5, VPS, SPS5, PPS5, IDR5]));
        cache.observe(&au(&[AUD5, TRAIL]));
        let fixed = cache.complete(&au(&[AUD5, IDR5])).expect("headers missing");
        assert_eq!(nals(&fixed), [AUD5, VPS, SPS5, PPS5, IDR5]);
    }

    #[test]
    fn the_codec_follows_the_media_type() {
        assert_eq!(Codec::from_media_type("video/x-h264"), Some(Codec::H264));
        assert_eq!(Codec::from_media_type("video/x-h265"), Some(Codec::H265));
        assert_eq!(Codec::from_media_type("video/x-vp8"), None);
    }
}
