// SPDX-License-Identifier: MPL-2.0
//! Test media: the bytes of a buffer.

/// The bytes of `buffer`, copied out.
pub fn bytes(buffer: &gst::BufferRef) -> Vec<u8> {
    buffer.map_readable().unwrap().to_vec()
}
