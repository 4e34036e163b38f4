// SPDX-License-Identifier: MPL-2.0
//! The `rtp_assembler` target: see `streamkit_fuzz::targets::rtp_assembler`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamkit_fuzz::targets::rtp_assembler(data));
