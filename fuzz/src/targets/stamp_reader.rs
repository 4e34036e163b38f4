// SPDX-License-Identifier: MPL-2.0
//! The `stamp_reader` fuzz target (its libFuzzer wrapper: fuzz_targets/stamp_reader.rs).

use super::super::{StampInput, STAMP_RAW_SAMPLES};
use gststreamkit::gstcommon::stampframe::{MAX_BLOCK_SIZE, MAX_POSITION, MIN_BLOCK_SIZE};
use gststreamkit::measure::stampcode::{Plane, PlaneMut, Stamp, StampLayout, MIN_CONTRAST};

/// Largest plane the target builds; reading costs the same at any size.
const MAX_WIDTH: u32 = 640;
const MAX_HEIGHT: u32 = 360;

/// The stamp code reader on an arbitrary small plane: a header
/// (`streamkit_fuzz::StampInput`: plane size, pixel and row strides, layout
/// within framestamp's property ranges) then the samples, repeated to fill
/// the plane or, with a flag, used as they are even when too short. The
/// reader must not panic on the plane as given; then a stamp is drawn on it
/// with enough contrast and must read back exactly.
pub fn stamp_reader(data: &[u8]) {
    let Some((input, samples)) = StampInput::parse(data) else {
        return;
    };
    let width = 1 + u32::from(input.width) % MAX_WIDTH;
    let height = 1 + u32::from(input.height) % MAX_HEIGHT;
    let pixel_stride = 1 + usize::from(input.flags & 0x03);
    let stride = width as usize * pixel_stride + usize::from(input.row_padding);
    let full_len = stride * (height as usize - 1) + (width as usize - 1) * pixel_stride + 1;
    let raw = input.flags & STAMP_RAW_SAMPLES != 0;
    let mut plane: Vec<u8> = if raw {
        samples.to_vec()
    } else if samples.is_empty() {
        vec![0; full_len]
    } else {
        samples.iter().copied().cycle().take(full_len).collect()
    };
    let layout = StampLayout::new(
        u32::from(input.x).min(MAX_POSITION),
        u32::from(input.y).min(MAX_POSITION),
        (MIN_BLOCK_SIZE + u32::from(input.block_step)).min(MAX_BLOCK_SIZE),
    )
    .expect("block is at least MIN_BLOCK_SIZE");

    let read_back = |data: &[u8]| {
        Plane {
            data,
            stride,
            pixel_stride,
            width,
            height,
        }
        .read_stamp(&layout)
    };
    let read = read_back(&plane);
    let fits = layout.check_fits(width, height).is_ok();
    if !fits {
        assert!(read.is_err());
        return;
    }

    let stamp = Stamp {
        frame: input.frame,
        capture_time_ns: input.capture_time_ns,
    };
    PlaneMut {
        data: &mut plane,
        stride,
        pixel_stride,
        components: &[0],
        width,
        height,
    }
    .draw_stamp(&layout, &stamp, input.white, input.black)
    .expect("the layout fits");
    if plane.len() < full_len || f32::from(input.white) - f32::from(input.black) < MIN_CONTRAST {
        return;
    }
    let back = read_back(&plane);
    assert_eq!(back, Ok(stamp), "a drawn stamp reads back");
}
