// SPDX-License-Identifier: MPL-2.0
//! The `moq_object` target: see `streamkit_fuzz::targets::moq_object`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamkit_fuzz::targets::moq_object(data));
