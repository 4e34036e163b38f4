// SPDX-License-Identifier: MPL-2.0
//! The `rtp_payload` target: see `streamkit_fuzz::targets::rtp_payload`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamkit_fuzz::targets::rtp_payload(data));
