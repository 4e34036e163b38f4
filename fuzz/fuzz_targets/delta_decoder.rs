// SPDX-License-Identifier: MPL-2.0
//! The `delta_decoder` target: see `streamkit_fuzz::targets::delta_decoder`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamkit_fuzz::targets::delta_decoder(data));
