// SPDX-License-Identifier: MPL-2.0
//! The `segment_cutter` target: see `streamkit_fuzz::targets::segment_cutter`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamkit_fuzz::targets::segment_cutter(data));
