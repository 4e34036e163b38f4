// SPDX-License-Identifier: MPL-2.0
//! The `stamp_reader` target: see `streamkit_fuzz::targets::stamp_reader`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamkit_fuzz::targets::stamp_reader(data));
